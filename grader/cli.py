"""The ``grade`` command: parse arguments, build a GradeConfig, call the pipeline or the batch,
print with one Console, and turn GraderError into a one-line message and an exit code.

    grade NOTEBOOK.ipynb                 grade one notebook, Rich report
    grade NOTEBOOK.ipynb --json          the same result as JSON (schema in README.md)
    grade PATHS... --out DIR             grade a class (batch.py): parallel, resumable, gradebook
    grade --demo                         grade the bundled reference notebooks
    grade release [--check]              instructors: regenerate assignments/ and expected/
    grade report OUT [-o report.html]    TAs: the class report, one HTML page (classreport/)
    grade similarity PATHS... [-o F]     TAs: pairwise similarity of the students' code (similarity.py)
    grade gradescope -o autograder.zip   instructors: the Gradescope autograder bundle (gradescope.py)
    grade export OUT --canvas R.csv      TAs: grades for Canvas's or Moodle's import (export.py)
    grade regrade OUT STUDENT...         TAs: grade some students again after a fix (regrade.py)
    grade override OUT STUDENT ITEM PTS  TAs: override a score, kept across regrades (overrides.py)
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn, Sequence, cast

# The grader's own numpy work is on small arrays, where BLAS threads only cost CPU: starting them is
# about 0.07 s per process, and a batch's grading processes would compete with the sandboxed workers
# for the cores. Set before numpy is first imported (the command's own modules import it); a value
# the user set is kept. Workers get the same from zygote.launch_environment.
for _variable in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_variable, "1")

from . import config as defaults
from .config import GradeConfig
from .errors import GraderError, UsageError

if TYPE_CHECKING:
    from rich.console import Console

EXIT_OK, EXIT_LOW_SCORE, EXIT_ERROR = 0, 1, 2


class _LazyConsole:
    """Rich's Console, imported and built on first use: `grade nb.ipynb --json` never prints with it,
    and importing Rich is a good part of a fresh command's start."""

    def __init__(self, **options: Any) -> None:
        self._options: dict[str, Any] = options
        self._console: Console | None = None

    def _real(self) -> "Console":
        if self._console is None:
            from rich.console import Console

            self._console = Console(**self._options)
        return self._console

    def __getattr__(self, name: str) -> Any:
        return getattr(self._real(), name)

    def __enter__(self) -> "Console":  # Rich's Live and Progress use the console as a context manager
        return self._real().__enter__()

    def __exit__(self, *exc_info: Any) -> None:
        self._real().__exit__(*exc_info)


class _VersionAction(argparse.Action):
    """--version, looking the installed version up only when asked (importlib.metadata is slow to import)."""

    def __init__(self, option_strings: list[str], dest: str = argparse.SUPPRESS, **kwargs: Any) -> None:
        super().__init__(option_strings, dest, nargs=0, default=argparse.SUPPRESS, help="show the version and exit")

    def __call__(self, parser: argparse.ArgumentParser, *args: Any) -> None:
        from .resources import describe_materials, materials

        print(f"grade {_version()}\ngrading with {describe_materials(materials())}")  # stdout, as argparse's own
        parser.exit()


def number_type(kind: type, low: float, what: str, high: float | None = None, low_ok: bool = False) -> Any:
    """An argparse type: a number above ``low`` (or equal, with ``low_ok``) and at most ``high``. A
    negative --timeout would otherwise report every function TIMEOUT, --jobs 0 hang, and so on."""
    def parse(text: str) -> Any:
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not {what}") from None
        if value != value or value in (float("inf"), float("-inf")) or value < low or (value == low and not low_ok) \
                or (high is not None and value > high):
            bound = f"from {low:g}" if low_ok else f"above {low:g}"
            raise argparse.ArgumentTypeError(f"{text} is out of range: give {what} {bound}"
                                             + (f" to {high:g}" if high is not None else ""))
        return value
    parse.__name__ = what  # argparse names the type in some messages
    return parse


#: The option types of grade and its commands (regrade and export use them too).
SECONDS = number_type(float, 0, "a number of seconds")
PERCENT = number_type(float, 0, "a percentage", 100, low_ok=True)
MEGABYTES = number_type(int, 0, "a whole number of MB")
NOTEBOOK_MB = number_type(float, 0, "a number of MB")
COUNT = number_type(int, 0, "a whole number", low_ok=True)
JOBS = number_type(int, 1, "a whole number", low_ok=True)


class _OneLineParser(argparse.ArgumentParser):
    """A slip in the options is one line, as every other slip: the usage block buried the error."""

    def error(self, message: str) -> NoReturn:
        self.exit(EXIT_ERROR, f"{self.prog}: error: {message} (grade --help lists every option)\n")


def _parser() -> argparse.ArgumentParser:
    parser = _OneLineParser(
        prog="grade", description="Grade the numpy notebooks of sequence models, week 1 (RNN step by step, "
                                    "Dinosaur Island, BPTT by hand; grade --list-assignments shows them).",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="commands (each with its own --help):\n"
               "  grade release [--check]    instructors: regenerate assignments/ and expected/ from solutions/\n"
               "  grade gradescope -o ZIP    instructors: the Gradescope autograder bundle\n"
               "  grade report OUT           TAs: the class report, one HTML page\n"
               "  grade similarity PATHS     TAs: pairwise similarity of the students' code\n"
               "  grade export OUT           TAs: grades for Canvas's or Moodle's import\n"
               "  grade regrade OUT STUDENT  TAs: grade some students again after a fix\n"
               "  grade override OUT STUDENT ITEM POINTS --reason TEXT   TAs: override a score (kept across regrades)\n\n"
               "exit codes:\n  0 graded (whatever the score), or a batch that completed\n"
               "  1 below --fail-under (release --check: stale files)\n"
               "  2 could not grade (a one-line reason on stderr)\n  130 interrupted (Ctrl-C)")
    parser.add_argument("paths", nargs="*", help="notebooks, folders or globs; after -- a name starting with - "
                                                 "is a file, not an option (grade --out grades/ -- *.ipynb)")
    parser.add_argument("--assignment", metavar="NAME",
                        help="grade as this assignment (grade --list-assignments shows them) instead of detecting it; "
                             "a batch keeps it in OUT/assignment.json for later runs")
    parser.add_argument("--course-version", metavar="VERSION",
                        help="the published course version the class was given (e.g. v4): every notebook is graded "
                             "as it, whatever its file name or markdown says; a batch keeps it in OUT/assignment.json "
                             "for later runs (detect: each notebook's own, the default)")
    parser.add_argument("--only", action="append", default=[], metavar="FUNCTION", help="grade only this function (repeatable)")
    parser.add_argument("--json", action="store_true", help="print the result as JSON")
    parser.add_argument("--fail-under", type=PERCENT, metavar="PCT", help="exit 1 when the score is below PCT percent")
    parser.add_argument("--engine", choices=["worker", "kernel"], default="worker",
                        help="worker: fast sandboxed process (default); kernel: nbclient + ipykernel")
    parser.add_argument("--demo", action="store_true", help="grade the bundled reference notebooks")
    parser.add_argument("--cell-timeout", type=SECONDS, default=defaults.DEFAULT_CELL_TIMEOUT, metavar="S",
                        help="seconds one notebook cell may run while the notebook loads (default: %(default)g)")
    parser.add_argument("--call-timeout", type=SECONDS, default=defaults.DEFAULT_CALL_TIMEOUT, metavar="S",
                        help="seconds one call of a graded function may run (default: %(default)g)")
    parser.add_argument("--timeout", type=SECONDS, default=defaults.DEFAULT_NOTEBOOK_TIMEOUT, metavar="S",
                        help="overall time limit per notebook, cells and calls together (default: %(default)g)")
    parser.add_argument("--memory-mb", type=MEGABYTES, default=defaults.DEFAULT_MEMORY_MB, metavar="MB",
                        help="address-space limit of the process running the student's code (default: %(default)s)")
    parser.add_argument("--hidden-cases", type=COUNT, default=defaults.DEFAULT_HIDDEN_CASES, metavar="N",
                        help="randomized hidden cases per function, 0 for none (default: %(default)s)")
    parser.add_argument("--seed", type=int, help="seed for the hidden cases, for debugging (default: drawn from the grading secret and "
                             "each submission's content; see README, Security model)")
    parser.add_argument("--max-notebook-mb", type=NOTEBOOK_MB, default=defaults.DEFAULT_MAX_NOTEBOOK_MB, metavar="MB",
                        help="refuse larger notebook files, outputs included (default: %(default)g)")
    parser.add_argument("--out", type=Path, metavar="DIR",
                        help="batch: folder for the gradebook and results (made if missing; a rerun resumes there)")
    parser.add_argument("--roster", type=Path, metavar="CSV",
                        help="batch: the class list as the LMS exports it (a CSV with an id column: id, SIS User ID, "
                             "SIS Login ID, login, student...); ids come from it, unmatched notebooks and students "
                             "without a notebook are listed")
    parser.add_argument("--dry-run", action="store_true",
                        help="batch: list each notebook with the student id it gets, and the assignment chosen; "
                             "grade nothing")
    parser.add_argument("--jobs", type=JOBS, help="batch: parallel notebooks (default: number of cores + 1)")
    parser.add_argument("--force", action="store_true", help="batch: regrade notebooks already graded")
    parser.add_argument("--scheduler", metavar="ADDRESS",
                        help="batch: grade on a Dask cluster (tcp://HOST:8786), or local:N for N local Dask workers; "
                             "needs pip install 'rnn-grader[dask]'")
    parser.add_argument("--student", action="append", default=[], metavar="ID",
                        help="batch: regrade only this student (repeatable); every other result stays as it is")
    parser.add_argument("--no-color", action="store_true", help="plain text output, without colours")
    parser.add_argument("--version", action=_VersionAction)
    parser.add_argument("--list-assignments", action="store_true",
                        help="list the assignments this grader knows, with their graded items and points")
    return parser


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("rnn-grader")
    except PackageNotFoundError:
        return "0.1.0 (source checkout)"


def _config(args: argparse.Namespace) -> GradeConfig:
    if args.engine == "kernel":
        from importlib.util import find_spec

        missing = [name for name in ("ipykernel", "nbclient") if find_spec(name) is None]
        if missing:
            raise UsageError(f"--engine kernel needs {' and '.join(missing)}, which this install lacks: "
                             f"pip install 'rnn-grader[kernel]' (or use the default --engine worker)")
    if args.course_version is not None:
        check_course_version(args.course_version)
    return GradeConfig(
        assignment=args.assignment, course_version=args.course_version, only=tuple(args.only), engine=args.engine,
        cell_timeout=args.cell_timeout, call_timeout=args.call_timeout, notebook_timeout=args.timeout, memory_mb=args.memory_mb,
        hidden_cases=args.hidden_cases, hidden_seed=args.seed, max_notebook_mb=args.max_notebook_mb,
    )


def check_course_version(version: str) -> None:
    from .load import DETECT_VERSION, published_versions

    known = sorted(published_versions())
    if version not in known and version != DETECT_VERSION:
        raise UsageError(f"--course-version {version!r} is not a published course version: give one of "
                         f"{', '.join(known)}, or detect")


def release_main(argv: Sequence[str], console: Console) -> int:
    from .release import code_differences, find_root, release
    from .resources import repo_root

    parser = argparse.ArgumentParser(
        prog="grade release", description="Regenerate assignments/ and expected/ from solutions/.",
        epilog="Run it inside the grader's source checkout (the folder with pyproject.toml and solutions/, or "
               "any folder below it); then `pip install .` there so the installed grade uses the new files. "
               "Exit codes: 0 up to date or regenerated, 1 stale files (--check), 2 error.")
    parser.add_argument("--check", action="store_true",
                        help="only list stale files and why (exit 1 if any); a value is stale when it moved "
                             "beyond its case's tolerance, not when another numpy wrote it")
    parser.add_argument("--root", type=Path, help="the grader's source checkout (default: the checkout holding "
                                                  "the current folder, else the one holding this grader)")
    args = parser.parse_args(argv)
    root = args.root or find_root(Path.cwd()) or repo_root()
    if root is None:
        raise UsageError("grade release works in the grader's source checkout (the folder with pyproject.toml "
                         "and solutions/): cd there, or pass --root CHECKOUT")
    console.print(f"checkout: {root}", soft_wrap=True)  # paths stay whole, for people and scripts
    changed = code_differences(root)
    if changed:  # an installed grade computes with its own course code, not the checkout's edits
        shown = ", ".join(changed[:3]) + (f" and {len(changed) - 3} more" if len(changed) > 3 else "")
        console.print(f"note: this grade runs the grader installed in {Path(__file__).resolve().parent}, whose code "
                      f"differs from the checkout's ({shown}): run `pip install .` in {root} first, or "
                      f"`python -m grader release` there, to release with the checkout's code", soft_wrap=True)
    stale = release(root, check=args.check)
    for item in stale:
        console.print(f"{'stale' if args.check else 'updated'}: {item.path}: {item.reason}", soft_wrap=True)
    if args.check:
        yours = sum(item.needs_you for item in stale)
        if not stale:
            console.print("up to date")
        elif yours:  # `grade release` would refuse: say what comes first
            console.print(f"{len(stale)} stale file(s), {yours} of which `grade release` cannot fix: change the "
                          f"notebook or its recipe in grader/course/ as said above, then run `grade release`",
                          soft_wrap=True)
        else:
            console.print(f"{len(stale)} stale file(s): run `grade release`")
        return EXIT_LOW_SCORE if stale else EXIT_OK
    console.print(f"assignments/ and expected/ regenerated ({len(stale)} file(s) changed); run `pip install .` "
                  f"in {root} so that the installed grader uses them")
    return EXIT_OK


def _demo_paths() -> list[Path]:
    from .resources import assignments_dir, solutions_dir

    solutions = solutions_dir()
    folder = solutions if solutions is not None else assignments_dir()
    return sorted(folder.glob("*.ipynb"))


def run() -> NoReturn:
    """The ``grade`` command: ``main()``, then leave without tearing the interpreter down.

    Freeing every module (numpy's among them) one by one at exit costs ~50 ms, a tenth of what
    grading one notebook costs a student. Our exit handlers (workers, zygote) still run and the
    streams are flushed; only the teardown is skipped, and only when no other thread is left to
    wait for (a Dask client's threads: the orderly way)."""
    code = main()
    if threading.active_count() > 1:
        sys.exit(code)
    from .exiting import leave

    leave(code)


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] not in (["release"], ["gradescope"], ["export"], ["report"], ["similarity"], ["override"]) \
            and not {"--help", "-h", "--version", "--list-assignments"} & set(argv):
        if not _grades_elsewhere(argv):
            from .zygote import Zygote

            Zygote.get()  # boots (numpy import) while the grader imports the rest
        from .sandbox import install_signal_handlers

        install_signal_handlers()  # SIGTERM/SIGHUP: an orderly exit that removes workers and their folders
    # A stand-in with the Console's interface, built on first use (typed as the Console it forwards to).
    console = cast("Console", _LazyConsole(no_color="--no-color" in argv, highlight=False, soft_wrap=False))
    try:
        if argv[:1] == ["release"]:
            return release_main(argv[1:], console)
        if argv == ["--list-assignments"]:
            from .listing import list_assignments

            console.print(list_assignments())
            return EXIT_OK
        if argv[:1] in (["report"], ["similarity"]):
            from .classreport.command import report_main, similarity_main

            return (report_main if argv[0] == "report" else similarity_main)(argv[1:], console)
        if argv[:1] in (["gradescope"], ["export"], ["regrade"]):
            from importlib import import_module

            return import_module(f".{argv[0]}", __package__).main(argv[1:], console)  # a module per command
        if argv[:1] == ["override"]:
            from .overrides import main as override_main

            return override_main(argv[1:], console)
        _refuse_dash_names(argv)
        args = _parser().parse_args(argv)
        config = _config(args)
        paths = [str(path) for path in _demo_paths()] if args.demo else args.paths
        if args.demo and not args.json:
            from .resources import solutions_dir

            if solutions_dir() is None:  # a student build: README's "each scores 100/100" cannot hold
                console.print("note: no reference solutions here (a student build, or GRADER_SOLUTIONS=none), "
                              "so --demo grades the starter notebooks of assignments/: each scores 0")
        if args.list_assignments:  # with other options too (--no-color): list, grade nothing
            from .listing import list_assignments

            console.print(list_assignments())
            return EXIT_OK
        if not paths:
            raise UsageError("give a notebook to grade: grade my_notebook.ipynb (grade --demo grades the bundled "
                             "reference notebooks; grade --help lists every option and command)")
        if args.student and args.out is None:
            raise UsageError("--student regrades one student of a class: add --out DIR (the batch's output folder)")
        if args.out is not None and args.json:
            raise UsageError("--json prints one notebook's result; a batch writes every result as JSON to "
                             "OUT/results.json and OUT/results/: drop --json")
        if args.out is not None:
            _check_out_folder(Path(args.out))
        if args.dry_run:
            from .batch import dry_run

            return dry_run(paths, args.out, config, console, roster=args.roster)
        if args.out is not None:
            from .batch import batch_main

            return batch_main(paths, args.out, config, console, jobs=args.jobs, force=args.force,
                              students=tuple(args.student), scheduler=args.scheduler, roster=args.roster)
        if not args.demo:
            _check_notebook_paths(paths)
        if not args.demo and (len(paths) > 1 or any(Path(p).is_dir() or (any(c in p for c in "*?[")
                                                                          and not Path(p).exists()) for p in paths)):
            raise UsageError("grading several notebooks needs --out DIR for the gradebook and results")
        if any(p.lower().endswith(".zip") for p in paths):  # an LMS download: a class, not a notebook
            raise UsageError("a zip is graded as a class (an LMS download): add --out DIR for the gradebook and results")
        return _grade_each(paths, config, args, console)
    except GraderError as error:
        _fail_line(error.message)
        return error.exit_code
    except KeyboardInterrupt:  # asked for, not an error: a batch has said what it kept and how to go on
        print("grade: interrupted (Ctrl-C)", file=sys.stderr)
        return 130
    except BrokenPipeError:  # `grade nb.ipynb --json | head`: the reader left; no traceback for that
        _quiet_stdout()
        return EXIT_OK


def _check_out_folder(out: Path) -> None:
    """--out is a folder (made if missing): a file there, or a file where a folder above it should
    be, is said before anything is graded."""
    for place in (out, *out.parents):
        if place.exists() or place.is_symlink():
            if not place.is_dir():
                what = "is" if place == out else f"is inside {place}, which is"
                raise UsageError(f"--out {out}: {what} a file, not a folder: give a folder for the gradebook and "
                                 "results (it is made if missing), e.g. --out grades/")
            return


def _grades_elsewhere(argv: list[str]) -> bool:
    """A batch (``--out``, ``regrade``) grades in its own processes, each with its zygote; one here
    would only cost a numpy import. A guess before parsing (an abbreviated --out still starts one)."""
    return argv[:1] == ["regrade"] or any(arg == "--out" or arg.startswith("--out=") or arg == "--dry-run"
                                          for arg in argv)


def _import_report() -> None:
    from importlib import import_module

    try:
        import_module(".report", __package__)  # Rich's console and tables with it
    except Exception:  # noqa: BLE001  then the main thread's own import says what is wrong
        pass


def _quiet_stdout() -> None:
    """Point stdout at /dev/null, so that the interpreter's own flush at exit does not fail again."""
    import os

    try:
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
    except (OSError, ValueError):
        pass


def _check_notebook_paths(paths: list[str]) -> None:
    """Grading without --out: name the usual slips (a typo, an unquoted path with spaces, a .py file, a
    folder) with what to do, before anything starts, instead of a parse error or the batch hint."""
    from difflib import get_close_matches

    missing = [p for p in paths if not Path(p).exists() and not any(c in p for c in "*?[")]
    if len(missing) > 1 and len(missing) == len(paths):
        raise UsageError(f"no such files: {', '.join(missing)}; if they are one path with spaces, quote it: "
                         f"grade \"{' '.join(paths)}\"")
    for p in missing:
        folder = Path(p).parent
        near = get_close_matches(Path(p).name, [f.name for f in folder.glob("*.ipynb")], n=1, cutoff=0.6) \
            if folder.is_dir() else []
        hint = (f"; did you mean {folder / near[0]}?" if near else
                "; check the name (ls *.ipynb lists the notebooks here)" if folder.is_dir() else
                f"; the folder {folder} does not exist either")
        raise UsageError(f"{p}: no such file{hint}")
    for p in paths:
        if Path(p).is_dir() and len(paths) == 1:
            notebooks = sorted(f.name for f in Path(p).glob("*.ipynb"))
            one = f"e.g. grade {Path(p) / notebooks[0]}" if notebooks else "grade FOLDER/NOTEBOOK.ipynb"
            raise UsageError(f"{p} is a folder: to grade one notebook, name it ({one}); to grade a class, "
                             f"add --out DIR for the gradebook and results")
        if Path(p).suffix.lower() == ".py":
            raise UsageError(f"{p} is a Python file, not a notebook: grade the .ipynb (a helper module such "
                             f"as rnn_utils.py beside it is graded with it)")


def _refuse_dash_names(argv: list[str]) -> None:
    """A file named like an option (``-x.ipynb``, from ``grade *.ipynb``) would otherwise make the
    whole command fail on an unknown option, grading nobody: say how to pass it instead."""
    before = argv[:argv.index("--")] if "--" in argv else argv
    for token in before:
        if token.startswith("-") and (token.endswith(".ipynb") or Path(token).exists()):
            raise UsageError(f"{token!r} is a file whose name starts with '-', read as an option: put -- before "
                             f"the file names (grade --out grades/ -- *.ipynb), or give the folder "
                             f"(grade submissions/ --out grades/)")
    # The converse: an option after -- is a file name, so `... -- *.ipynb --dry-run` would grade for real.
    after = argv[argv.index("--") + 1:] if "--" in argv else []
    options = {name.split("=")[0] for action in _parser()._actions for name in action.option_strings}
    for token in after:
        if token.split("=")[0] in options and not Path(token).exists():
            raise UsageError(f"{token} comes after --, so it is read as a file name, not an option: put options "
                             f"before -- (grade --out grades/ {token} -- *.ipynb)")


def _fail_line(message: str) -> None:
    """One unwrapped line on stderr: scripts and people both read it."""
    from .textsafe import clean  # the message may hold a file name: no escape sequences reach the terminal

    print(f"grade: error: {' '.join(clean(message).split())}", file=sys.stderr)


def _grade_each(paths: list[str], config: GradeConfig, args: argparse.Namespace, console: Console) -> int:
    from .pipeline import grade_notebook
    from .zygote import Zygote

    # Rich and the report (not needed for --json) are imported while the first notebook is graded:
    # the thread runs while this one waits for the sandboxed worker (~35 ms less to wait). The
    # pipeline starts it once its own processes are forked (a fork copies one thread only).
    importing = None if args.json else threading.Thread(target=_import_report, name="grader-import-report", daemon=True)
    # One notebook alone leaves a core idle: its hidden cases' expectations are computed meanwhile.
    config = config.with_changes(expect_ahead=True)
    status = EXIT_OK
    results = []
    low: list[str] = []
    for path in paths:
        result = grade_notebook(path, config, meanwhile=importing.start if importing and not results else None)
        results.append(result)
        if len(results) == len(paths):
            Zygote.retire()  # no worker is needed any more: it leaves while the result is printed
        if importing is not None and importing.ident is None:
            importing.start()  # grading ended before the pipeline started it (an unreadable notebook)
        if not args.json and (result.graded or len(paths) > 1):
            if importing is not None:
                importing.join()  # gone before the command leaves (run() leaves quickly only with no thread left)
            from .report import notebook_report

            console.print(notebook_report(result))
        if not result.graded:
            status = EXIT_ERROR
        elif args.fail_under is not None and result.percent < args.fail_under:
            low.append(f"{result.notebook} scores {result.percent:g}%")
            if status == EXIT_OK:
                status = EXIT_LOW_SCORE
    if importing is not None:
        importing.join()
    if args.json:
        payload = results[0].to_json() if len(results) == 1 else [r.to_json() for r in results]
        print(json.dumps(payload, indent=2))
    if len(results) == 1 and not results[0].graded:
        _fail_line(results[0].error)
    if low:  # exit 1 says why, for a CI log or a script
        from .textsafe import clean

        print(f"grade: below --fail-under {args.fail_under:g}%: {'; '.join(clean(item) for item in low)}", file=sys.stderr)
    return status
