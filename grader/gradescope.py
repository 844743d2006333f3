"""Gradescope: the autograder bundle, and what runs inside it for each submission.

    grade gradescope -o autograder.zip      build the bundle for Gradescope's "Zip file upload"
    python -m grader.gradescope [--root R]  (run by the bundle's run_autograder) grade R/submission

The bundle holds ``setup.sh`` and an executable ``run_autograder`` at its root, the grader as a
wheel built from this checkout (with the expected values and reference solutions as package data),
``requirements.txt``, and ``secret.txt`` for the hidden cases. Gradescope unpacks it into
``/autograder/source``, runs ``setup.sh`` once, then ``run_autograder`` per submission, which must
leave ``/autograder/results/results.json``. ``GRADER_AUTOGRADER_ROOT`` moves ``/autograder``
(tests run the real scripts in a temporary tree).

A results.json is written whatever happens: no notebook, several, a broken one, a timeout, the
grader itself failing (Python catches it; if Python cannot even start, run_autograder writes one).
Field names and values follow Gradescope's autograder specification (results.json: ``score``,
``execution_time``, ``output``, ``visibility``, ``stdout_visibility``, ``tests`` with ``name``,
``number``, ``score``, ``max_score``, ``status``, ``output``, ``visibility``).
"""
from __future__ import annotations

import argparse
import json
import math
import os
import secrets
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import traceback
import zipfile
from pathlib import Path
from typing import Any, Sequence

from .config import DEFAULT_NOTEBOOK_TIMEOUT, GradeConfig
from .course import get_assignment
from .errors import GraderError, UsageError
from .results import FunctionResult, NotebookResult
from .textsafe import clean

ROOT_ENV = "GRADER_AUTOGRADER_ROOT"
DEFAULT_ROOT = "/autograder"
SECRET_NAME = "secret.txt"
#: Hidden cases are shown to the student only once the instructor publishes the grades.
HIDDEN_VISIBILITY = "after_published"
#: Seconds run_autograder allows beyond the notebook limit (interpreter start, imports, writing).
STARTUP_MARGIN = 120
_JUNK_PARTS = (".ipynb_checkpoints", "__MACOSX")


# --- results.json (pure) --------------------------------------------------------------------

def failure_json(message: str, seconds: float = 0.0) -> dict[str, Any]:
    """A result for a submission that could not be graded: score 0 and what to do."""
    return {"score": 0.0, "execution_time": math.ceil(seconds), "output": clean(message), "output_format": "text",
            "visibility": "visible", "stdout_visibility": "hidden", "tests": []}


#: Characters kept per test output and for the overall output (tracebacks and printed text can be long).
OUTPUT_CAP = 8_000


def _lines(*parts: Any, cap: int = OUTPUT_CAP) -> str:
    text = clean("\n".join(str(part) for part in parts if part))  # student text: no control characters
    return text if len(text) <= cap else text[:cap] + f"\n... ({len(text) - cap} more characters cut)"


def _split(function: FunctionResult) -> tuple[float, float, float, float]:
    """(published score, published max, hidden score, hidden max): every case is an equal share
    of the points, and the two parts always add up to the function's own score (so a hard-coded
    answer that scored 0 overall scores 0 in both)."""
    hidden = sum(case.hidden for case in function.cases)
    share = function.max_score / len(function.cases)
    hidden_max = share * hidden
    visible_max = function.max_score - hidden_max
    visible = min(function.score, share * sum(case.passed for case in function.cases if not case.hidden))
    hidden_score = min(hidden_max, function.score - visible)
    return round(function.score - hidden_score, 6), round(visible_max, 6), round(hidden_score, 6), round(hidden_max, 6)


def _test(name: str, number: str, score: float, max_score: float, passed: bool, output: str,
          visibility: str) -> dict[str, Any]:
    """One test; "passed" only with every case passed and the full points (a hard-coded answer that
    passes the published case but scores 0 shows as failed)."""
    full = score >= max_score - 1e-9
    return {"name": name, "name_format": "text", "number": number, "score": score, "max_score": max_score,
            "status": "passed" if passed and full else "failed", "output": output, "output_format": "text",
            "visibility": visibility}


def _function_tests(function: FunctionResult, index: int) -> list[dict[str, Any]]:
    required = function.section == "required"
    name = function.name if required else f"{function.name} (optional, not scored)"
    head = _lines(f"{function.status.value}", *function.messages, function.diagnosis and f"Likely mistake: {function.diagnosis}",
                  function.traceback)
    published = [case for case in function.cases if not case.hidden]
    hidden = [case for case in function.cases if case.hidden]
    shown = _lines(head, *(f"{case.name}: {case.message}" for case in published if not case.passed))
    if not required or not hidden:
        score, max_score = (function.score, function.max_score) if required else (0.0, 0.0)
        passed = function.status.value == "passed"
        return [_test(name, f"{index}.1", score, max_score, passed, shown, "visible")]
    visible_score, visible_max, hidden_score, hidden_max = _split(function)
    hidden_passed = sum(case.passed for case in hidden)
    hidden_text = _lines(f"{hidden_passed} of {len(hidden)} hidden cases passed",
                         *(f"{case.name}: {case.message}" for case in hidden if not case.passed))
    return [_test(name, f"{index}.1", visible_score, visible_max, all(c.passed for c in published), shown, "visible"),
            _test(f"{name}: hidden cases", f"{index}.2", hidden_score, hidden_max, hidden_passed == len(hidden),
                  hidden_text, HIDDEN_VISIBILITY)]


def results_json(result: NotebookResult) -> dict[str, Any]:
    """Gradescope's results.json for one graded (or ungradable) notebook."""
    if not result.graded:
        from .report import student_reason

        return failure_json(f"Your notebook could not be graded: {student_reason(result)}", result.duration)
    tests = [test for index, function in enumerate(result.functions, 1) for test in _function_tests(function, index)]
    issues = [f"{issue.where}: {issue.kind}: {issue.message}" for issue in result.cell_issues]  # the terminal's label
    summary = _lines(f"{result.assignment}: {result.score:g} / {result.max_score:g}"
                     + (f" (optional part {result.optional_score:g} / {result.optional_max_score:g}, not counted)"
                        if result.optional_max_score else ""),
                     *result.notes, *(["Cells that failed while loading:", *issues] if issues else []),
                     cap=2 * OUTPUT_CAP)
    return {"score": result.score, "execution_time": math.ceil(result.duration), "output": summary,
            "output_format": "text", "visibility": "visible", "stdout_visibility": "hidden", "tests": tests}


# --- inside Gradescope ----------------------------------------------------------------------

class SubmissionProblem(GraderError):
    """The submission folder does not hold exactly one notebook."""


def find_notebook(folder: Path) -> Path:
    """The one notebook a student submitted (checkpoint copies and macOS debris do not count)."""
    if not folder.is_dir():
        raise SubmissionProblem(f"no submission folder ({folder}): resubmit your notebook")
    notebooks = sorted(p for p in folder.rglob("*.ipynb")
                       if not set(p.relative_to(folder).parts) & set(_JUNK_PARTS) and not p.is_symlink())
    if len(notebooks) == 1:
        return notebooks[0]
    if not notebooks:
        others = sorted(str(p.relative_to(folder)) for p in folder.rglob("*") if p.is_file())
        seen = ", ".join(others[:10]) + (", ..." if len(others) > 10 else "") if others else "nothing"
        raise SubmissionProblem(f"No notebook (.ipynb) in your submission (found: {seen}). "
                                "Upload your .ipynb file and submit again.")
    names = ", ".join(str(p.relative_to(folder)) for p in notebooks[:10])
    raise SubmissionProblem(f"{len(notebooks)} notebooks in your submission ({names}): it is not clear which one to "
                            "grade. Submit only the notebook of this assignment.")


def grade_submission(root: Path, config: GradeConfig) -> dict[str, Any]:
    """Grade ``root/submission``; the worker never sees the bundle (secret) or the results folder."""
    started = time.monotonic()
    try:
        notebook = find_notebook(root / "submission")
    except SubmissionProblem as problem:
        return failure_json(problem.message, time.monotonic() - started)
    from .pipeline import grade_notebook

    hidden = (str(root / "source"), str(root / "results"))
    return results_json(grade_notebook(notebook, config.with_changes(hide_paths=config.hide_paths + hidden)))


def _write(path: Path, data: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    temporary.write_text(json.dumps(data, indent=1))
    os.replace(temporary, path)


def _terminated(signum: int, frame: object) -> None:
    raise TimeoutError(f"stopped by signal {signum}, most likely the time limit")


def run_main(argv: Sequence[str] | None = None) -> int:
    """What run_autograder calls: grade, and write results.json whatever happens."""
    started = time.monotonic()
    parser = argparse.ArgumentParser(prog="python -m grader.gradescope")
    parser.add_argument("--root", type=Path, default=Path(os.environ.get(ROOT_ENV, DEFAULT_ROOT)),
                        help=f"Gradescope's autograder folder (default: ${ROOT_ENV}, else {DEFAULT_ROOT})")
    parser.add_argument("--timeout", type=float, default=DEFAULT_NOTEBOOK_TIMEOUT,
                        help="time limit for the notebook, in seconds (default: %(default)g)")
    parser.add_argument("--assignment", help="the assignment graded; a notebook of another is not graded")
    parser.add_argument("--course-version", help="the course version the class was given (see grade --course-version)")
    args = parser.parse_args(argv)
    signal.signal(signal.SIGTERM, _terminated)
    try:
        data = grade_submission(args.root, GradeConfig(notebook_timeout=args.timeout, assignment=args.assignment,
                                                          course_version=args.course_version))
    except BaseException as error:  # the grader itself failed: still a result, never a missing file
        traceback.print_exc(file=sys.stdout)  # results/stdout: for the instructor's eyes
        data = failure_json(f"The autograder itself failed ({type(error).__name__}: {error}). This is not a "
                            "problem with your notebook: tell your instructor, then submit again.",
                            time.monotonic() - started)
    _write(args.root / "results" / "results.json", data)
    print(f"score {data['score']:g}; {len(data['tests'])} tests; {data['output'][:2000]}")
    return 0


# --- building the bundle --------------------------------------------------------------------

SETUP_SH = """#!/usr/bin/env bash
# Gradescope runs this once, as root, on its Ubuntu image: a virtual environment with the grader.
set -euo pipefail
ROOT="${GRADER_AUTOGRADER_ROOT:-/autograder}"
SOURCE="$ROOT/source"
PYTHON="${GRADER_PYTHON:-python3}"
if ! "$PYTHON" -c 'import sys, ensurepip, venv; sys.exit(sys.version_info < (3, 10))' 2>/dev/null; then
    apt-get update -q
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q python3 python3-venv python3-pip
    PYTHON=python3
fi
"$PYTHON" -m venv ${GRADER_VENV_OPTIONS:-} "$ROOT/venv"
"$ROOT/venv/bin/python" -m pip install -q ${GRADER_PIP_OPTIONS:-} -r "$SOURCE/requirements.txt"
"$ROOT/venv/bin/python" -m pip install -q ${GRADER_PIP_OPTIONS:-} --no-deps --force-reinstall "$SOURCE"/dist/*.whl
"$ROOT/venv/bin/python" -c "import grader.gradescope"  # fail here, not at the first submission
"""

RUN_AUTOGRADER = """#!/usr/bin/env bash
# Gradescope runs this for every submission; results/results.json is written whatever happens.
ROOT="${GRADER_AUTOGRADER_ROOT:-/autograder}"
RESULTS="$ROOT/results/results.json"
export GRADER_SECRET_FILE="$ROOT/source/__SECRET__"
mkdir -p "$ROOT/results"
rm -f "$RESULTS"
cd "$ROOT" || true
timeout --kill-after=15 __OUTER__ "$ROOT/venv/bin/python" -m grader.gradescope --root "$ROOT" --timeout __TIMEOUT__ __ASSIGNMENT__
status=$?
if [ ! -s "$RESULTS" ]; then
    printf '{"score": 0.0, "execution_time": 0, "output": "The autograder stopped (exit status %s) before writing a \
result: your notebook was not graded. Tell your instructor, then submit again.", "output_format": "text", \
"visibility": "visible", "stdout_visibility": "hidden", "tests": []}\\n' "$status" > "$RESULTS"
fi
exit 0
"""

_SOURCE_PARTS = ("pyproject.toml", "setup.py", "README.md", "grader", "assignments", "expected", "solutions")


def build_wheel(repo: Path, into: Path) -> Path:
    """A wheel of the grader in ``repo``, reference solutions included (never a student build).
    Built from a copy, so that the checkout's build/ folder is left alone."""
    with tempfile.TemporaryDirectory() as scratch:
        copy = Path(scratch) / "src"
        copy.mkdir()
        for name in _SOURCE_PARTS:
            source = repo / name
            if source.is_dir():
                shutil.copytree(source, copy / name, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
            elif source.is_file():
                shutil.copy2(source, copy / name)
        environment = {key: value for key, value in os.environ.items() if key != "GRADER_STUDENT_BUILD"}
        command = [sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "-w", str(into), str(copy)]
        # Offline first (setuptools and wheel already here); else let pip fetch the build tools.
        for extra in (["--no-build-isolation", "--no-index"], []):
            done = subprocess.run(command + extra, env=environment, capture_output=True, text=True)
            if done.returncode == 0:
                break
        else:
            raise UsageError(f"could not build the grader's wheel: {done.stderr.strip()[-500:]}")
    wheels = sorted(into.glob("*.whl"))
    if len(wheels) != 1:
        raise UsageError(f"expected one wheel in {into}, found {len(wheels)}")
    return wheels[0]


def _requirements(wheel: Path) -> str:
    """The wheel's own dependencies (its METADATA), one per line: setup.sh installs them first."""
    with zipfile.ZipFile(wheel) as archive:
        metadata = next(name for name in archive.namelist() if name.endswith(".dist-info/METADATA"))
        lines = archive.read(metadata).decode().splitlines()
    return "".join(f"{line.split(':', 1)[1].strip()}\n" for line in lines
                   if line.startswith("Requires-Dist:") and "extra ==" not in line)


def build_bundle(output: Path, repo: Path, *, secret: str | None = None,
                 timeout: float = DEFAULT_NOTEBOOK_TIMEOUT, assignment: str | None = None,
                 course_version: str | None = None) -> list[str]:
    """Write the Gradescope bundle to ``output``; returns the names it holds. With ``assignment``,
    a notebook of another assignment is not graded (it would otherwise score as what it is); with
    ``course_version``, every notebook is graded as that published version of it."""
    secret = secret if secret is not None else secrets.token_hex(32)
    chosen = f"--assignment {get_assignment(assignment).name}" if assignment else ""  # a known name: shell-safe
    if course_version is not None:
        versions = get_assignment(assignment).versions if assignment else ()
        if course_version not in versions:
            raise UsageError(f"--course-version {course_version!r} is not a version of {assignment} "
                             f"({', '.join(versions)})")
        chosen += f" --course-version {shlex.quote(course_version)}"  # a known version, quoted ("pre-v3 (learners)")
    run = (RUN_AUTOGRADER.replace("__SECRET__", SECRET_NAME).replace("__TIMEOUT__", f"{timeout:g}")
           .replace("__OUTER__", f"{math.ceil(timeout) + STARTUP_MARGIN}").replace("__ASSIGNMENT__", chosen))
    with tempfile.TemporaryDirectory() as scratch:
        wheel = build_wheel(repo, Path(scratch))
        members: list[tuple[str, bytes, int]] = [
            ("setup.sh", SETUP_SH.encode(), 0o755), ("run_autograder", run.encode(), 0o755),
            ("requirements.txt", _requirements(wheel).encode(), 0o644),
            (SECRET_NAME, f"{secret}\n".encode(), 0o600),
            (f"dist/{wheel.name}", wheel.read_bytes(), 0o644),
        ]
    output.parent.mkdir(parents=True, exist_ok=True)
    temporary = output.with_name(f".{output.name}.tmp")
    with zipfile.ZipFile(temporary, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data, mode in members:
            info = zipfile.ZipInfo(name, date_time=time.localtime()[:6])
            info.external_attr = (0o100000 | mode) << 16  # a regular file with its permissions
            info.compress_type = zipfile.ZIP_DEFLATED
            archive.writestr(info, data)
    os.replace(temporary, output)
    return [name for name, _, _ in members]


def main(argv: Sequence[str], console: Any) -> int:
    """``grade gradescope -o autograder.zip``."""
    from .release import find_root, release
    from .resources import repo_root

    parser = argparse.ArgumentParser(prog="grade gradescope",
                                     description="Build the autograder bundle for Gradescope's 'Zip file upload'.")
    parser.add_argument("-o", "--output", type=Path, default=Path("autograder.zip"),
                        help="the bundle to write, for Gradescope's Zip file upload (default: %(default)s)")
    parser.add_argument("--root", type=Path, help="the grader's source checkout (default: the one holding the "
                                                  "current folder, else the one this grader runs from)")
    parser.add_argument("--secret-file", type=Path,
                        help="the hidden-case secret to ship (default: a new random one, so every bundle differs)")
    parser.add_argument("--timeout", type=float, default=DEFAULT_NOTEBOOK_TIMEOUT, metavar="S",
                        help="time limit per notebook, in seconds (default: %(default)g); set Gradescope's "
                             "own limit a few minutes above")
    parser.add_argument("--assignment", required=True, metavar="NAME",
                        help="the assignment this Gradescope assignment grades (a notebook of another one is not "
                             "graded, never scored as what it is)")
    parser.add_argument("--course-version", metavar="VERSION",
                        help="the published course version the class was given (e.g. v4): every notebook is graded "
                             "as it, whatever its file name or markdown claims (default: detect each notebook's)")
    parser.add_argument("--no-color", action="store_true", help=argparse.SUPPRESS)  # read by cli.main
    args = parser.parse_args(argv)
    root = args.root or find_root(Path.cwd()) or repo_root()
    if root is None:
        raise UsageError("grade gradescope builds from the grader's source checkout (with solutions/): cd there, "
                         "or pass --root CHECKOUT")
    secret = None
    if args.secret_file is not None:
        try:
            secret = args.secret_file.read_text().strip()
        except OSError as error:
            raise UsageError(f"--secret-file: {error}") from None
        if not secret:
            raise UsageError(f"--secret-file {args.secret_file} is empty: give the file your grading secret is in")
    stale = release(root, check=True)  # a bundle with stale expected values would mis-grade every student
    if stale:
        raise UsageError(f"{len(stale)} stale file(s) in {root} ({', '.join(str(s) for s in stale[:3])}): run "
                         "`grade release` first, so that the bundle grades against the current solutions")
    names = build_bundle(args.output, root, secret=secret, timeout=args.timeout, assignment=args.assignment,
                         course_version=args.course_version)
    console.print(f"wrote {args.output}: {', '.join(names)}")
    console.print("Upload it on Gradescope: assignment > Configure Autograder > Zip file upload "
                  f"(Ubuntu base image with Python >= 3.10; autograder timeout above {args.timeout:g} s).")
    return 0


if __name__ == "__main__":
    sys.exit(run_main())
