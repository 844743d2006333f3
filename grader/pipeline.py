"""grade_notebook: the whole chain for one notebook, load -> execute -> run cases -> judge -> score.

A notebook that cannot be graded at all (not a notebook, unknown assignment, a worker that never
starts) becomes a NotebookResult with ``error`` set; nothing here raises for a bad submission.
"""
from __future__ import annotations

import dataclasses
import functools
import secrets
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterable, Mapping, Sequence

import numpy as np

from . import lms, resources
from . import secret as grading_secret
from .ahead import ExpectationsAhead, jobs_for
from .config import GradeConfig
from .consistency import verify_reference
from .course import AssignmentSpec
from .course.reference import load_reference
from .errors import GraderError
from .execute import Session
from .expected import load_stored
from .load import MAX_CELL_CHARS, FunctionSource, Submission, functions_in_source, load_submission
from .overdue import GRADER_GRACE, GraderOverdue, bounded, overdue_message
from .results import CellIssue, FunctionResult, NotebookResult
from .rootcause import failed_binders, names_bound, note_failed_cells
from .run_cases import grade_function
from .score import note_own_dependencies, note_reference_help


@dataclass(frozen=True)
class Helpers:
    """The files a worker's folder gets, and whose they are."""

    files: dict[str, Path]
    """Name in the worker's folder -> the file copied there."""
    own: dict[str, Path]
    """The student's own helper modules among them: graded, and part of what seeds the hidden cases."""
    notes: tuple[str, ...] = ()


def folder_is_own(notebook: Path) -> bool:
    """Whether the notebook is alone in its folder (one folder per student, nbgrader's layout): then
    a helper module there (rnn_utils.py) is the student's own and is graded with it. In a folder
    shared with other notebooks, loose .py files belong to nobody and the course's helpers are used,
    so that no student's file can change a classmate's grade."""
    return notebooks_in(notebook.parent) <= 1


def notebooks_in(folder: Path) -> int:
    try:
        return sum(1 for path in folder.iterdir() if path.suffix == ".ipynb")
    except OSError:
        return 2  # cannot tell: assume shared


def module_beside(notebook: Path, name: str, folder_is_own: bool) -> tuple[Path, bool]:
    """Where the student's own copy of helper module ``name`` would be, and whether a file there is
    theirs: beside the notebook when the folder is their own; in a shared folder, the file an LMS
    named with the same student's id (a flat download), else the loose file, which is no one's."""
    if not folder_is_own and name.endswith(".py"):
        uploaded = lms.companion(notebook, name)
        if uploaded is not None:
            return uploaded, True
    return notebook.parent / name, folder_is_own


def own_modules(notebook: Path, names: Iterable[str], folder_is_own: bool) -> dict[str, Path]:
    """The student's own helper modules among ``names`` (the rule of ``helper_files``): name -> file."""
    found = {}
    for name in names:
        path, theirs = module_beside(notebook, name, folder_is_own)
        if theirs and name.endswith(".py") and path.is_file() and not path.is_symlink():
            found[name] = path
    return found


def helper_files(assignment: AssignmentSpec, notebook: Path, folder_is_own: bool = True) -> Helpers:
    """The bundled helpers, or the student's own copy of a helper module when one sits next to the
    notebook (the Adam exercise lives in rnn_utils.py) and that folder is the student's own. In a
    folder shared with classmates (``folder_is_own`` False, said by the batch) a loose module there
    belongs to nobody: it is left out, and said so."""
    bundled = resources.assignments_dir(assignment)
    files, own, notes = {}, {}, []
    for name in assignment.helpers:
        beside, theirs = module_beside(notebook, name, folder_is_own)
        uploaded = beside if theirs and not folder_is_own else None
        if name.endswith(".py") and beside.is_file() and not beside.is_symlink():
            if theirs:
                own[name] = beside  # it is what the student handed in (the seed and the resume digest see it)
                problem = module_problem(beside)
                if problem:  # it would break the notebook's imports, and with them every graded function
                    notes.append(f"your {name} {problem}, so the course's copy was used to run your notebook: the "
                                 f"functions you wrote in it are graded from the starter copy and score 0. Fix "
                                 f"your {name}, then grade again.")
                    files[name] = bundled / name
                    continue
                files[name] = beside
                if beside.read_bytes() != (bundled / name).read_bytes():
                    notes.append(f"using your {name} from beside the notebook" if uploaded is None else
                                 f"using your {name} (uploaded as {beside.name})")
                continue
            notes.append(f"{name} beside the notebook was not used: that folder holds other students' notebooks "
                         f"too, so it belongs to no one, and the course's {name} was used. To have your own {name} "
                         "graded, hand it in in a folder of its own with your notebook.")
        files[name] = bundled / name
    for link, target in assignment.data_links.items():
        files[link] = files.get(target, bundled / target)
    return Helpers(files, own, tuple(notes))


def with_helper_functions(submission: Submission, files: dict[str, Path]) -> Submission:
    """Let static checks (untouched starter code) see graded functions that live in helper modules."""
    functions = dict(submission.functions)
    for name, path in files.items():
        if name.endswith(".py"):
            for function in module_functions(path.read_text(errors="replace")):
                functions.setdefault(function.name, function)
    return dataclasses.replace(submission, functions=functions)


#: A helper module bigger than this is not the course's module with an exercise filled in (those are
#: a few thousand bytes); it is parsed like a cell, whose bound this is.
MAX_HELPER_BYTES = MAX_CELL_CHARS


def module_bytes(path: Path) -> bytes:
    """What of a student's own module grading can use: at most MAX_HELPER_BYTES + 1 bytes (one over
    the bound is refused whole, ``module_problem``), so a module of gigabytes (a sparse file costs
    nothing on disk) is never read whole, for the seed, the resume digest or a Dask task alike."""
    with open(path, "rb") as handle:
        return handle.read(MAX_HELPER_BYTES + 1)


def module_problem(path: Path) -> str:
    """Why the student's own helper module cannot be imported as it is ("" when it can be compiled).
    Only compiled here, never run: running it is the worker's job."""
    try:
        if path.stat().st_size > MAX_HELPER_BYTES:
            return f"is larger than {MAX_HELPER_BYTES:,} bytes (the course's is a few thousand)"
        compile(path.read_bytes(), path.name, "exec", dont_inherit=True)
    except SyntaxError as error:
        return f"does not compile (line {error.lineno}: {error.msg})"
    except (ValueError, RecursionError, MemoryError) as error:
        return f"does not compile ({type(error).__name__})"
    except OSError as error:
        return f"cannot be read ({error.strerror})"
    return ""


@functools.lru_cache(maxsize=64)
def module_functions(text: str) -> tuple[FunctionSource, ...]:
    """The functions a helper module defines. Cached on its text: most notebooks of a class come
    with the course's own copy, parsed once per grading process instead of twice per notebook."""
    return tuple(functions_in_source(text, cell=0))


def bundled_homes(submission: Submission, helpers: Helpers) -> dict[str, str]:
    """Graded functions the notebook does not define and that come from a course helper module whose
    starter copy was used (the student did not hand in theirs, or theirs could not be used):
    function -> module file name."""
    homes: dict[str, str] = {}
    for name, path in helpers.files.items():
        if name.endswith(".py") and path != helpers.own.get(name):
            for function in module_functions(path.read_text(errors="replace")):
                if function.name in submission.assignment.function_names and function.name not in submission.functions:
                    homes.setdefault(function.name, name)
    return homes


def hidden_seed(path: Path, config: GradeConfig, own_helpers: Mapping[str, Path] | None = None) -> int:
    """The seed of the hidden cases: --seed when given, else HMAC(secret, what the student
    submitted: the notebook and their own helper modules). Grading the same submission again with
    the same secret gives the same cases; every submission gets its own (changing one to fit its
    cases changes them); and without the secret (secret.py) nobody can compute them in advance."""
    if config.hidden_seed is not None:
        return config.hidden_seed
    value = grading_secret.resolve(config)
    helpers = {name: module_bytes(Path(file)) for name, file in (own_helpers or {}).items()}
    return grading_secret.hidden_seed(value, grading_secret.submission_digest(path.read_bytes(), helpers))


def _hidden_rng(path: Path, config: GradeConfig, helpers: Helpers,
                notes: list[str]) -> tuple[np.random.Generator, list[str]]:
    """The generator of the hidden cases, and the folder of the secret file it used (for the
    worker's hidden paths). When no secret can be kept (an unwritable home), the cases are drawn
    with a one-off key: unpredictable still, only not reproducible, and said so."""
    kept = grading_secret.secret_path(config) if config.hidden_seed is None else None
    try:
        rng = np.random.default_rng(hidden_seed(path, config, helpers.own))
    except GraderError as error:
        notes.append(f"hidden cases drawn with a one-off key, so grading again draws others: {error.message}")
        return np.random.default_rng(secrets.randbits(64)), []
    return rng, [str(kept.parent)] if kept is not None else []


def _cell_bindings(submission: Submission, issues: Sequence[CellIssue]) -> tuple[dict[str, CellIssue], set[str]]:
    """What the cells that failed while loading would have defined, and what the other cells define."""
    sources = {cell.index: cell.source for cell in submission.cells}
    failed = {issue.cell for issue in issues}
    elsewhere = set().union(*(names_bound(source) for index, source in sources.items() if index not in failed))
    return failed_binders(issues, sources), elsewhere


def grade_notebook(path: str | Path, config: GradeConfig = GradeConfig(),
                   meanwhile: Callable[[], object] | None = None) -> NotebookResult:
    """``meanwhile``: the caller's own work to start once the grader's processes are started, before
    it waits for the worker (the CLI starts the report's import in a thread: fork copies one thread)."""
    path = Path(path)
    started = time.monotonic()
    try:
        with bounded(config.notebook_timeout + GRADER_GRACE):
            submission = load_submission(path, config.max_notebook_mb, config.assignment, config.course_version)
            return _grade(submission, config, started, meanwhile)
    except GraderError as error:
        return NotebookResult(str(path), None, None, error=error.message, duration=time.monotonic() - started)
    except GraderOverdue as overdue:  # the `with` blocks on the way closed the worker and the copy
        return NotebookResult(str(path), None, None, error=overdue_message(overdue.seconds),
                              duration=time.monotonic() - started)


def _grade(submission: Submission, config: GradeConfig, started: float,
           meanwhile: Callable[[], object] | None = None) -> NotebookResult:
    spec = submission.assignment
    solutions = resources.solutions_dir(spec) if config.use_solutions else None
    references = load_reference(spec, solutions) if solutions is not None else None
    wanted = [f for f in spec.functions if not config.only or f.name in config.only]
    unknown = sorted(set(config.only) - set(spec.function_names))
    if unknown:
        raise GraderError(f"--only: {', '.join(unknown)} is not a graded function of {spec.name} "
                          f"({', '.join(spec.function_names)})")
    helpers = helper_files(spec, submission.path, config.folder_is_own)
    files = helpers.files
    bundled = bundled_homes(submission, helpers)
    submission = with_helper_functions(submission, files)
    notes = [*submission.warnings, *helpers.notes]
    rng, secret_folder = None, []
    if references is not None and config.hidden_cases > 0:  # no hidden cases, no secret needed
        rng, secret_folder = _hidden_rng(submission.path, config, helpers, notes)
    if references is None:
        notes.append("stored cases only: no reference solutions in this install, so no randomized hidden cases "
                     "and graded functions are judged with your own helpers")
    deadline = started + config.notebook_timeout
    # The worker gets the cells over its pipe: the folder holding the notebook (and maybe others') stays hidden.
    config = config.with_changes(hide_paths=(*config.hide_paths, str(submission.path.resolve().parent),
                                             *secret_folder))
    results: list[FunctionResult] = []
    # Drawn up front, in the functions' order: a function graded or not draws the same cases.
    hidden = {f.name: list(f.hidden(config.hidden_cases, rng)) for f in wanted
              if references is not None and f.hidden is not None and rng is not None and config.hidden_cases > 0}
    jobs = jobs_for(wanted, hidden, submission) if config.expect_ahead else []  # no references: no hidden cases
    with ExpectationsAhead(jobs, references or {}, deadline) as ahead:
        if meanwhile is not None:
            meanwhile()
        # The stored values and the reference's check of them are first needed to judge a call: read
        # them while the worker runs the notebook's cells (one `grade nb.ipynb` waits ~20 ms less).
        with Session(submission, config, files, [f.name for f in wanted], deadline,
                     while_loading=functools.partial(_course_material, spec, references)) as session:
            stored, materials = session.prepare()
            results.extend(_grade_functions(wanted, session, submission, stored, references, hidden, ahead,
                                            bundled))
            notes.extend(f"sandbox: {note}" for note in session.report.sandbox_notes)
            issues = session.report.issues
    return NotebookResult(
        notebook=str(submission.path), assignment=spec.name, course_version=submission.course_version,
        functions=tuple(note_failed_cells(note_own_dependencies(note_reference_help(results), spec),
                                          *_cell_bindings(submission, issues))),
        cell_issues=tuple(issues), notes=tuple(notes),
        duration=time.monotonic() - started, stored_cases_only=references is None, materials=materials,
    )


def _course_material(spec: AssignmentSpec, references: dict | None) -> tuple[dict, dict]:
    """The stored cases of ``spec`` and the materials used, once the reference passes its own stored
    cases (CourseMaterialError otherwise: no one is graded against a reference that fails them)."""
    stored = load_stored(resources.expected_dir(spec) / f"{spec.name}.json")
    materials = resources.materials(use_solutions=references is not None, assignment=spec)
    if references is not None:
        verify_reference(spec, stored, references, materials)
    return stored, materials


def _grade_functions(wanted: list, session: Session, submission: Submission, stored: dict, references: dict | None,
                     hidden: dict[str, list[dict]], ahead: ExpectationsAhead, bundled: dict) -> list[FunctionResult]:
    results: list[FunctionResult] = []
    issues = session.report.issues
    for function in wanted:
        results.append(grade_function(function, session, submission, stored.get(function.name, []),
                                      references, hidden.get(function.name, []), issues,
                                      bundled.get(function.name, ""), expectations=ahead.expectations))
    return results
