"""grade_notebook: the whole chain for one notebook, load -> execute -> run cases -> judge -> score.

A notebook that cannot be graded at all (not a notebook, unknown assignment, a worker that never
starts) becomes a NotebookResult with ``error`` set; nothing here raises for a bad submission.
"""
from __future__ import annotations

import dataclasses
import hashlib
import time
from pathlib import Path

import numpy as np

from . import resources
from .config import GradeConfig
from .course import AssignmentSpec
from .course.reference import load_reference
from .errors import GraderError
from .execute import Session
from .expected import load_stored
from .load import Submission, functions_in_source, load_submission
from .results import FunctionResult, NotebookResult
from .run_cases import grade_function
from .score import note_reference_help


def helper_files(assignment: AssignmentSpec, notebook: Path) -> tuple[dict[str, Path], list[str]]:
    """The files the worker's folder gets: the bundled helpers, or the student's own copy of a
    helper module when one sits next to the notebook (the Adam exercise lives in rnn_utils.py)."""
    bundled = resources.assignments_dir()
    files, notes = {}, []
    for name in assignment.helpers:
        beside = notebook.parent / name
        if name.endswith(".py") and beside.is_file() and not beside.is_symlink():
            files[name] = beside
            if beside.read_bytes() != (bundled / name).read_bytes():
                notes.append(f"using your {name} from beside the notebook")
        else:
            files[name] = bundled / name
    for link, target in assignment.data_links.items():
        files[link] = files.get(target, bundled / target)
    return files, notes


def with_helper_functions(submission: Submission, files: dict[str, Path]) -> Submission:
    """Let static checks (untouched starter code) see graded functions that live in helper modules."""
    functions = dict(submission.functions)
    for name, path in files.items():
        if name.endswith(".py"):
            for function in functions_in_source(path.read_text(errors="replace"), cell=0):
                functions.setdefault(function.name, function)
    return dataclasses.replace(submission, functions=functions)


def hidden_seed(path: Path, config: GradeConfig) -> int:
    """The seed of the hidden cases: --seed when given, else one derived from the notebook's bytes,
    so that grading the same notebook again gives the same result, while every notebook gets its own
    cases (and changing a notebook to fit them changes them)."""
    if config.hidden_seed is not None:
        return config.hidden_seed
    return int.from_bytes(hashlib.sha256(path.read_bytes()).digest()[:8], "big")


def grade_notebook(path: str | Path, config: GradeConfig = GradeConfig()) -> NotebookResult:
    path = Path(path)
    started = time.monotonic()
    try:
        submission = load_submission(path, config.max_notebook_mb, config.assignment)
        return _grade(submission, config, started)
    except GraderError as error:
        return NotebookResult(str(path), None, None, error=error.message, duration=time.monotonic() - started)


def _grade(submission: Submission, config: GradeConfig, started: float) -> NotebookResult:
    spec = submission.assignment
    solutions = resources.solutions_dir() if config.use_solutions else None
    references = load_reference(spec, solutions) if solutions is not None else None
    stored = load_stored(resources.expected_dir() / f"{spec.name}.json")
    rng = np.random.default_rng(hidden_seed(submission.path, config))
    wanted = [f for f in spec.functions if not config.only or f.name in config.only]
    unknown = sorted(set(config.only) - set(spec.function_names))
    if unknown:
        raise GraderError(f"--only: {', '.join(unknown)} is not a graded function of {spec.name} "
                          f"({', '.join(spec.function_names)})")
    files, notes = helper_files(spec, submission.path)
    submission = with_helper_functions(submission, files)
    notes = [*submission.warnings, *notes]
    if references is None:
        notes.append("stored cases only: no reference solutions in this install, so no randomized hidden cases "
                     "and graded functions are judged with your own helpers")
    deadline = started + config.notebook_timeout
    # The worker gets the cells over its pipe: the folder holding the notebook (and maybe others') stays hidden.
    config = config.with_changes(hide_paths=(*config.hide_paths, str(submission.path.resolve().parent)))
    results: list[FunctionResult] = []
    with Session(submission, config, files, [f.name for f in wanted], deadline) as session:
        issues = session.report.issues
        for function in wanted:
            results.append(grade_function(function, session, submission, stored.get(function.name, []),
                                          references, rng, config.hidden_cases, issues))
        notes.extend(f"sandbox: {note}" for note in session.report.sandbox_notes)
        issues = session.report.issues
    return NotebookResult(
        notebook=str(submission.path), assignment=spec.name, course_version=submission.course_version,
        functions=tuple(note_reference_help(results)), cell_issues=tuple(issues), notes=tuple(notes),
        duration=time.monotonic() - started, stored_cases_only=references is None,
    )
