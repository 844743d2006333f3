"""Batch grading: a whole class in one command, in parallel, resumable, nothing lost.

    discover(paths)            -> Submission entries with student ids (three common layouts)
    grade_batch(entries, out)  -> grades what is not graded yet, writing each result atomically
    write_outputs(out)         -> gradebook.csv, results.json, gradescope/, feedback/, report.html from every result

Layouts understood: a flat folder of notebooks (student id = file name), nbgrader's
``submitted/<student>/<assignment>/*.ipynb``, and one folder per student. Two notebooks that map to
the same id are all graded, under ids marked ambiguous, and listed (students.py); ``grade --dry-run``
shows every notebook's id before grading (``dry_run``).

Each result lands in ``out/results/<id>.json`` (write to a temporary file, then rename) as soon as it
is done, together with the notebook's SHA-256: running the same command again skips notebooks
whose content and grading options are unchanged (``--force`` regrades all).
"""
from __future__ import annotations

import contextlib
import csv
import fcntl
import functools
import glob
import hashlib
import io
import json
import os
import resource
import signal
import statistics
import sys
from collections import Counter
import threading
import time
import multiprocessing
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, Any, Callable, Iterator, Sequence

from rich.console import Console, Group
from rich.progress import BarColumn, MofNCompleteColumn, Progress, ProgressColumn, TextColumn, TimeElapsedColumn
from rich.table import Table
from rich.text import Text

from . import lms, textsafe
from . import secret as grading_secret
from .config import GradeConfig
from .errors import UsageError
from .exiting import leave_at_process_exit
from .fingerprint import fingerprint
from .load import WRONG_ASSIGNMENT
from .load import DETECT_VERSION, published_versions
from .overdue import GRADER_GRACE, overdue_message
from .pipeline import folder_is_own  # noqa: F401  (where batch's callers found it)
from .pipeline import grade_notebook, helper_files, module_bytes, notebooks_in
from .report import markdown_feedback
from .records import as_result, checked_record, read_json, read_record
from .results import RESULT_SCHEMA_VERSION, NotebookResult
from .students import Roster, assign_ids, missing_from, read_roster
from .students import safe_id as _safe_id  # noqa: F401  (kept for callers of the old name)

if TYPE_CHECKING:
    from .course.spec import AssignmentSpec

GRADEBOOK_COLUMNS = ["student", "notebook", "assignment", "status", "score", "max_score", "percent",
                     "optional_score", "optional_max_score"]
#: After the graded items' columns: each TA override beside the computed score (overrides.py), then message.
TAIL_COLUMNS = ["overrides", "message"]


@dataclass(frozen=True)
class Entry:
    student: str
    path: Path
    note: str = ""
    candidates: tuple[Path, ...] = ()
    """The student's other notebooks (several in their own folder): ``settle_candidates`` keeps one,
    once the class's assignment is known. A student is one entry however many notebooks they hand in,
    so extra copies never outvote classmates (the assignment) or dilute what the class shares
    (similarity's common code)."""


def default_jobs() -> int:
    """Grading processes when --jobs is not given: one more than the cores this process may use.

    Each grading process and its sandboxed worker take turns (one computes while the other waits
    for it), so with one process per core a core idles at every turn; one more keeps them busy
    (bench/batch.py: 2 cores, --jobs 3 graded ~13% more notebooks a minute than --jobs 2, and
    --jobs 4 less again)."""
    try:
        cores = len(os.sched_getaffinity(0))  # a container or `taskset` may give us fewer than the machine has
    except (AttributeError, OSError):
        cores = os.cpu_count() or 1
    return max(1, cores) + 1


def discover(paths: list[str], roster: Roster | None = None) -> tuple[list[Entry], list[str]]:
    """Every notebook under ``paths`` with its student id, and the problems found while looking.
    Names are taken as the layout gives them; ``students.assign_ids`` makes them ids (and with a
    roster, the roster's ids), resolving collisions the same whatever order files sort in."""
    found: list[tuple[str, Path]] = []
    by_file: set[Path] = set()
    by_lms: dict[Path, lms.LmsName] = {}
    candidates: dict[Path, tuple[Path, ...]] = {}
    problems: list[str] = []
    for item in paths:
        # A file named with glob characters ("[x].ipynb") is that file, not a pattern.
        is_pattern = any(c in item for c in "*?[") and not os.path.lexists(item)
        matches = sorted(glob.glob(item)) if is_pattern else [item]
        if not matches:
            problems.append(f"nothing matches {item}")
        for match in matches:
            path = Path(match)
            if path.is_dir() and not path.is_symlink():
                named, its_files, its_lms, its_candidates, notes = _from_folder(path)
                found.extend(named)
                candidates.update(its_candidates)
                by_file.update(its_files)
                by_lms.update(its_lms)
                problems.extend(notes)
            elif path.suffix == ".ipynb" or path.exists() or path.is_symlink():
                parsed = lms.parse_name(path)  # a path the TA gave: its LMS name is the LMS's
                found.append((parsed.student if parsed else path.stem, path))
                if parsed:
                    by_lms[path] = parsed
                else:
                    by_file.add(path)
            else:
                problems.append(f"no such file or folder: {item}")
    found, left_out = lms.keep_latest(found, by_lms)  # an LMS download: one submission per student, the latest
    problems.extend(left_out)
    identified, id_problems = assign_ids(found, roster, frozenset(by_file))
    problems.extend(id_problems)
    return [Entry(item.student, item.path, item.note, candidates.get(item.path, ())) for item in identified], problems


def nothing_found(paths: Sequence[str], problems: Sequence[str]) -> UsageError:
    """The error for a batch that found no notebook. What discovery met on the way (a path that does
    not exist, a pattern matching nothing, a zip's entries left out) is most often the answer, so it is
    part of the message rather than left to notes the error stops before."""
    shown = "; ".join(problems[:3]) + (f"; and {len(problems) - 3} more" if len(problems) > 3 else "")
    where = ", ".join(paths)
    return UsageError(f"no notebooks found in {where}" + (f" ({shown})" if shown else " (no .ipynb file there)")
                      + ": give the class's folder, its LMS zip, or the notebooks themselves")


def _from_folder(root: Path) -> tuple[list[tuple[str, Path]], set[Path], dict[Path, lms.LmsName],
                                      dict[Path, tuple[Path, ...]], list[str]]:
    """(name, path) per student below ``root``, which of them are named by their own file name
    (``students.assign_ids`` gives a folder's or an LMS's name precedence) and which by an LMS, the
    other notebooks of a student who handed in several (``Entry.candidates``), and notes for the TA (an
    LMS download given from the folder above it), by the rules in README ("For TAs", Student ids):
    LMS names where an LMS writes them give the LMS id (``lms.names_at_top``); nbgrader's
    ``submitted/<student>/<assignment>/`` at the top gives the student folder's name; a notebook
    directly in ``root`` is named by its file; a notebook in a subfolder is that top-level subfolder's
    student's, whatever else it holds. The layout the TA gives decides, never what the folders hold:
    a rule that read a folder of several notebooks as a group of students (a section) let one student's
    extra notebook turn their classmates' folders into groups, and name itself after a classmate.
    Sections are given as folders of their own (``grade section1/ section2/``)."""
    notebooks = sorted(p for p in root.rglob("*.ipynb") if ".ipynb_checkpoints" not in p.parts)
    per_folder = Counter(p.relative_to(root).parts[0] for p in notebooks if len(p.relative_to(root).parts) >= 2)
    result, by_file, by_lms = [], set(), {}
    folders: dict[tuple[str, str], list[Path]] = {}
    named = lms.names_at_top([path.relative_to(root) for path in notebooks])
    for path in notebooks:
        parts = path.relative_to(root).parts
        parsed = named.get(path.relative_to(root))
        if parsed is not None:  # Canvas or Moodle bulk download
            result.append((parsed.student, path))
            by_lms[path] = parsed
        elif parts[0] == "submitted" and len(parts) >= 4:  # nbgrader's course folder
            # Only at the top: a "submitted" folder inside one student's folder is that student's
            # own, and must not name a classmate.
            folders.setdefault(("submitted", parts[1]), []).append(path)
        elif len(parts) >= 2:  # one folder per student
            folders.setdefault(("", parts[0]), []).append(path)
        else:  # directly in the folder given
            result.append((path.stem, path))
            by_file.add(path)
    candidates = {}
    for (_, student), paths in folders.items():
        result.append((student, paths[0]))
        if len(paths) > 1:
            candidates[paths[0]] = tuple(paths[1:])
    return result, by_file, by_lms, candidates, _downloads_below(root, notebooks, per_folder)


def _downloads_below(root: Path, notebooks: list[Path], per_folder: Counter) -> list[str]:
    """A subfolder that is an LMS download itself (most of its notebooks named as an LMS names them):
    its ids are read only when it is the folder given, so say so rather than grade under file names."""
    inside: dict[str, list[PurePosixPath]] = {}
    for path in notebooks:
        parts = path.relative_to(root).parts
        if len(parts) >= 2 and per_folder[parts[0]] >= 2:
            inside.setdefault(parts[0], []).append(PurePosixPath(*parts[1:]))
    notes = []
    for folder, relatives in sorted(inside.items()):
        if 2 * len(lms.names_at_top(relatives)) > len(relatives):
            notes.append(f"{root / folder}: its notebooks are named as an LMS download names them, but an LMS's ids "
                         f"are read only at the top of the folder given: give {root / folder} itself to grade them "
                         "under those ids")
    return notes


# --- one submission -------------------------------------------------------------------------

def _digest(path: Path) -> str:
    try:
        if path.is_symlink() or not path.is_file():
            return "not-a-file"
        return hashlib.sha256(path.read_bytes()).hexdigest()
    except OSError:
        return "unreadable"


def _submission_digest(entry: Entry, assignment: AssignmentSpec, own_folder: bool) -> str:
    """What a rerun compares to keep a result: the notebook's SHA-256, and when the student's own
    helper modules are graded with it (a notebook alone in its folder), a hash over those too, as the
    hidden cases' seed does. So a changed own rnn_utils.py regrades, and so does a classmate's notebook
    joining the folder (the module is then no one's, and the course's is used). ``own_folder``:
    ``folder_is_own(entry.path)``, as the batch read it."""
    notebook = _digest(entry.path)
    try:
        own = helper_files(assignment, entry.path, own_folder).own
        helpers = {name: module_bytes(path) for name, path in own.items()}
    except OSError:
        return notebook + "-helpers-unreadable"
    if not helpers:
        return notebook
    return hashlib.sha256(notebook.encode() + grading_secret.submission_digest(b"", helpers)).hexdigest()


def atomic_write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}.tmp")
    with open(temporary, "w", encoding="utf-8") as handle:
        handle.write(text)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(temporary, path)


def _record(entry: Entry, result: NotebookResult, digest: str, print_: str) -> dict:
    data = result.to_json()
    data["student"] = entry.student
    data["sha256"] = digest
    data["fingerprint"] = print_
    data["batch_note"] = entry.note
    return data


def _regrade_history(path: Path) -> list:
    """The ``regrades`` of the result at ``path`` (regrade.py), empty when there is none."""
    try:
        return read_record(path).get("regrades", [])
    except (OSError, ValueError):
        return []


def result_path(out: Path, student: str) -> Path:
    """Where a batch keeps one student's result."""
    return out / "results" / f"{student}.json"


def _already_done(out: Path, entry: Entry, digest: str, print_: str) -> bool:
    path = result_path(out, entry.student)
    try:
        data = read_record(path)
    except (OSError, ValueError):
        return False
    return data.get("sha256") == digest and data.get("fingerprint") == print_ and data.get("notebook") == str(entry.path)


# --- the batch ------------------------------------------------------------------------------

@dataclass
class BatchSummary:
    total: int = 0
    graded: int = 0
    failed: int = 0
    skipped: int = 0
    problems: list[str] = field(default_factory=list)
    durations: dict[str, float] = field(default_factory=dict)
    assignment: str = ""
    """The one assignment this batch grades, and why (``choose_assignment``)."""
    assignment_reason: str = ""
    missing: list[str] = field(default_factory=list)
    """Roster ids with no notebook."""
    kept: Kept = field(default_factory=lambda: Kept(), repr=False)
    """What this run already did towards the outputs (``write_outputs(out, kept)``)."""


@dataclass
class Kept:
    """Work towards the outputs done while the batch ran, so that its end need not redo it. Nothing
    here is trusted beyond this process: the end uses an item only when it is exactly what it would
    compute (same notebook bytes and code version, same record), else computes as always."""

    prints: dict[str, dict] = field(default_factory=dict)
    """``similarity.notebook_key`` -> the graded functions' fingerprints, made in the grading process."""
    exported: dict[str, tuple[str, str]] = field(default_factory=dict)
    """Student -> (``repr`` of the record as ``write_outputs`` reads it, overrides applied, that its
    feedback/ and gradescope/ files were written from when its result arrived; that record's JSON as
    results.json holds it). ``repr``, as ``==`` takes 0 for 0.0 and the files would not."""
    drawer: Any = None
    """A ``classreport.charts.Drawer`` started before grading (matplotlib imported by the end), or None."""
    ahead: _ChartsAhead | None = None
    """The charts being started as the last result arrived (``classreport.charts_ahead``), or None."""


#: The assignment a class was graded as, kept in --out: a rerun or a regrade of a few students grades
#: the same one (a subset's majority could otherwise be another assignment).
ASSIGNMENT_FILE = "assignment.json"


def keep_assignment(out: Path, assignment: str, force: bool) -> None:
    """Refuse to grade ``out`` as another assignment than it holds results of, unless ``force``: the
    new grading would overwrite every student's result with "wrong assignment" (nothing asked)."""
    saved = _saved_assignment(out)
    if saved is None or force or saved == assignment or not any((out / "results").glob("*.json")):
        return
    raise UsageError(f"{out} holds the results of {saved}; grading it as {assignment} would replace them: give "
                     f"another --out for {assignment}, or add --force to regrade everyone as {assignment}")


def choose_assignment(entries: list[Entry], config: GradeConfig, out: Path | None = None) -> tuple[str, str]:
    """The assignment a batch grades: --assignment, else the one chosen for this ``out`` before,
    else the one most notebooks are (by the graded functions they define; notebook metadata only
    breaks ties). Notebooks of another assignment are then "not graded: wrong assignment", never
    graded as what they claim to be."""
    from .course import ASSIGNMENTS, get_assignment
    from .load import scan_assignment

    if config.assignment:
        return get_assignment(config.assignment).name, "chosen with --assignment"
    if out is not None:
        saved = _saved_assignment(out)
        if saved in ASSIGNMENTS:
            return saved, f"as graded before in {out}; --assignment changes it"  # shown in parentheses
    # One vote per student for each assignment they handed in: extra notebooks add no weight.
    counts = Counter(name for e in entries
                     for name in {scan_assignment(path, config.max_notebook_mb) for path in (e.path, *e.candidates)}
                     if name)
    ranked = counts.most_common()
    if not ranked:
        raise UsageError(f"cannot tell which assignment these notebooks are (none defines a graded function): "
                         f"choose one with --assignment ({', '.join(ASSIGNMENTS)})")
    if len(ranked) > 1 and ranked[0][1] == ranked[1][1]:
        raise UsageError(f"the notebooks are split evenly between {ranked[0][0]} and {ranked[1][0]} "
                         f"({ranked[0][1]} each): choose the one to grade with --assignment")
    name, count = ranked[0]
    return name, f"most notebooks are: {count} of {len(entries)}"


def settle_candidates(entries: list[Entry], assignment: str | None, max_mb: float) -> tuple[list[Entry], list[str]]:
    """One notebook per student who handed in several (``Entry.candidates``): the newest of
    ``assignment`` (modification time, then path), else the newest of all (graded "wrong assignment",
    which says what it is). Which one, and what was left out, is the entry's note: in the gradebook's
    message and the class report, and in the returned notes for the summary."""
    from .load import scan_assignment

    settled, notes = [], []
    for entry in entries:
        if not entry.candidates:
            settled.append(entry)
            continue
        notebooks = (entry.path, *entry.candidates)
        of_it = [path for path in notebooks if assignment is None or scan_assignment(path, max_mb) == assignment]
        chosen = max(of_it or notebooks, key=_newest)
        kind = f" of {assignment}" if of_it and assignment else ""
        others = [str(path) for path in notebooks if path != chosen]
        left = ", ".join(others[:5]) + (f" and {len(others) - 5} more" if len(others) > 5 else "")
        note = f"{len(notebooks)} notebooks handed in; graded the newest{kind}, {chosen.name}; left out: {left}"
        settled.append(Entry(entry.student, chosen, "; ".join(filter(None, [entry.note, note]))))
        folder = os.path.commonpath([str(path.parent) for path in notebooks])
        notes.append(f"student {entry.student}: {note} (if {folder} holds several students' notebooks, such as a "
                     f"section, give that folder itself: its notebooks are then named by their files)")
    return settled, notes


def _newest(path: Path) -> tuple[float, str]:
    try:
        return path.lstat().st_mtime, str(path)
    except OSError:
        return 0.0, str(path)


def grade_batch(entries: list[Entry], out: Path, config: GradeConfig, *, jobs: int | None = None,
                force: bool = False, on_event: Callable[[str, Entry], None] | None = None,
                runner: Callable[..., list[str]] | None = None, kept: Kept | None = None) -> BatchSummary:
    """Grade every entry not graded yet; each result is on disk the moment it is done.

    ``runner`` grades elsewhere (a Dask cluster: dask_batch.DaskRunner); it is called with the
    pending (entry, digest) pairs, the config, the folders to hide, ``finished`` and ``on_event``,
    calls ``finished`` once per entry, and returns its problems. ``kept``: where to keep what the
    batch does towards its outputs (``summary.kept``; given, with a chart ``Drawer``, by ``batch_main``)."""
    out.mkdir(parents=True, exist_ok=True)
    (out / "results").mkdir(exist_ok=True)
    # Never more grading processes than notebooks: each costs a Python, the grader and a zygote
    # (~0.8 s of CPU), and regrading one student started the whole pool for it.
    jobs = max(1, min(jobs or default_jobs(), len(entries)))
    # The grading processes start (Python, the grader, a zygote each) while this one decides the
    # assignment and hashes every notebook: for 200 notebooks ~0.9 s they would otherwise wait for.
    # Not for a rerun that finds a result for every notebook: most likely nothing is left to grade
    # (the pool cost ~1 s of CPU for nothing); if some are stale after all, it starts when needed.
    early = _EarlyPool(_start_pool(jobs)) if runner is None and entries and not _all_kept(out, entries, force) \
        else None
    try:
        return _grade_entries(entries, out, config, jobs, force, on_event, runner, kept, early)
    finally:
        if early is not None and early.pool is not None:  # never used: nothing to grade, or stopped first
            _stop_processes(early.pool.executor)


def _all_kept(out: Path, entries: list[Entry], force: bool) -> bool:
    """Whether OUT/results holds a result named for every entry (kept or not is decided later)."""
    return not force and all(result_path(out, entry.student).is_file() for entry in entries)


@dataclass
class _EarlyPool:
    """The pool started before the batch knew what to grade, until ``_grade_entries`` takes it."""

    pool: _Pool | None

    def take(self) -> _Pool | None:
        pool, self.pool = self.pool, None
        return pool


def _grade_entries(entries: list[Entry], out: Path, config: GradeConfig, jobs: int, force: bool,
                   on_event: Callable[[str, Entry], None] | None, runner: Callable[..., list[str]] | None,
                   kept: Kept | None, early: _EarlyPool | None) -> BatchSummary:
    config = grading_secret.for_batch(config, out)  # hidden cases keyed with the class's own secret
    assignment, reason = choose_assignment(entries, config, out)
    keep_assignment(out, assignment, force)
    config = config.with_changes(assignment=assignment)  # one assignment per batch, decided before grading
    # Every folder a notebook was handed in from is hidden from every worker, left-out copies' too.
    folders = {str(path.resolve().parent) for entry in entries for path in (entry.path, *entry.candidates)}
    entries, settled = settle_candidates(entries, assignment, config.max_notebook_mb)
    version = class_version(out, config.course_version)
    config = config.with_changes(course_version=version)
    atomic_write(out / ASSIGNMENT_FILE, json.dumps({"assignment": assignment, "course_version": version}))
    print_ = fingerprint(config)
    others = sorted(folders | {str(out.resolve())})
    summary = BatchSummary(total=len(entries), assignment=assignment, assignment_reason=reason)
    if kept is not None:
        summary.kept = kept
    summary.problems.extend(settled + loose_modules(entries))
    pending = []
    from .course import get_assignment  # here: the course package imports modules that import this one

    spec = get_assignment(assignment)
    # Each folder listed once, and the same answer for the digest and the grading: listing a shared
    # folder per notebook made a flat class of n notebooks read n x n directory entries, three times.
    alone = {folder: notebooks_in(folder) <= 1 for folder in {entry.path.parent for entry in entries}}
    for entry in entries:
        digest = _submission_digest(entry, spec, alone[entry.path.parent])
        if not force and _already_done(out, entry, digest, print_):
            summary.skipped += 1
            if on_event:
                on_event("skipped", entry)
        else:
            pending.append((entry, digest))

    def finished(entry: Entry, digest: str, result: NotebookResult, prints: tuple[str, dict] | None = None) -> None:
        path = result_path(out, entry.student)
        record = _record(entry, result, digest, print_)
        history = _regrade_history(path)
        if history:  # `grade regrade`'s record of this student's regrades outlives a batch regrading it
            record["regrades"] = history
        text = json.dumps(record, indent=1)
        atomic_write(path, text)
        if prints is not None:
            summary.kept.prints[prints[0]] = prints[1]
            if len(summary.kept.prints) == 1:  # the report's discount of the course's code, read now
                from .similarity import course_fingerprints, default_course_folders

                try:
                    course_fingerprints(default_course_folders())
                except Exception:  # noqa: BLE001  the report reads them itself
                    pass
        _export_early(out, json.loads(text), summary.kept, text)  # while the others are graded, not at the end
        summary.durations[entry.student] = result.duration
        if len(summary.durations) == len(pending) and summary.kept.drawer is not None:
            summary.kept.ahead = _ChartsAhead(out, summary.kept.drawer)  # the last one: drawn while the grading
            summary.kept.ahead.start()  # processes leave (a thread: this one only waits for them meanwhile)
        if result.graded:
            summary.graded += 1
        else:
            summary.failed += 1
        if on_event:
            on_event("graded" if result.graded else "failed", entry)

    if runner is not None:
        summary.problems.extend(runner(pending, config, others, finished, on_event))
        return summary

    def config_of(entry: Entry) -> GradeConfig:
        return _config_for(config, others, alone[entry.path.parent])

    queue = list(pending)
    while queue:  # more than one round only if a grading process itself died
        queue = _run_pool(queue, jobs, config_of, finished, on_event, early.take() if early else None)
    return summary


@dataclass
class _Pool:
    """The grading processes, and the queue on which each says which notebook it starts, so that a
    notebook the grader itself cannot finish is stopped and named (``_run_pool``)."""

    executor: ProcessPoolExecutor
    starts: Any
    """The reading end of the pipe on which grading processes say (task number, pid) as they start one."""

    def __enter__(self) -> "_Pool":
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.executor.shutdown(wait=True)


def _start_pool(jobs: int) -> _Pool:
    """A pool of ``jobs`` grading processes, each already importing the grader and starting its zygote.

    A grading process leaves without the interpreter's teardown once the pool is done with it
    (exiting.py): together they took 0.2 s after the last notebook, every batch."""
    context = multiprocessing.get_context("spawn")
    # A pipe, not a queue: a queue's lock, held by a process killed mid-message, would stop every other.
    # Each message is one write of a few bytes (atomic on a pipe), whoever else writes.
    starts, said = context.Pipe(duplex=False)
    executor = ProcessPoolExecutor(max_workers=jobs, mp_context=context, initializer=_grading_process,
                                   initargs=(said, grading_memory_bytes(jobs)))
    for _ in range(jobs):  # one per process: each submit starts a process while none is idle
        executor.submit(_warm_up)
    return _Pool(executor, starts)


#: In a grading process: where it says which notebook it starts (``_Pool.starts``).
_STARTS: list[Any] = []


#: The least a grading process may allocate, whatever the machine: the reference solutions, the
#: answers it remembers (answer_memo) and a notebook's decoded values take a few hundred MB.
GRADING_MEMORY_FLOOR = 2 << 30


def grading_memory_bytes(jobs: int) -> int:
    """What one grading process may allocate (RLIMIT_DATA): its share of four fifths of the machine's
    memory, beside the batch itself, and at least GRADING_MEMORY_FLOOR. Every bound on what a notebook
    can make the grader hold is written against a known attack; this one is structural: a notebook
    that finds another way gets "not graded" with the reason, and the machine and the batch go on."""
    try:
        physical = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError):
        return GRADING_MEMORY_FLOOR * 2
    return max(GRADING_MEMORY_FLOOR, physical * 4 // 5 // (jobs + 1))


def _grading_process(said: Any, memory: int) -> None:
    leave_at_process_exit()
    _STARTS.append(said)
    _, hard = resource.getrlimit(resource.RLIMIT_DATA)
    # The soft limit only: a worker started from here sets its own (lower) limits.
    resource.setrlimit(resource.RLIMIT_DATA, (memory if hard == resource.RLIM_INFINITY else min(memory, hard), hard))


def _warm_up() -> None:
    """In a grading process, before its first notebook: what every notebook needs first."""
    from .zygote import Zygote

    Zygote.get()  # its numpy import runs beside this process's own imports
    from . import pipeline  # noqa: F401


def _config_for(config: GradeConfig, others: list[str], own_folder: bool) -> GradeConfig:
    # Every submission folder, the student's own too: the worker gets the cells over its pipe and
    # its helper files in its own folder, so it never needs to read a submission.
    return config.with_changes(hide_paths=config.hide_paths + tuple(others), folder_is_own=own_folder,
                               remember_answers=True)  # a grading process grades notebook after notebook


def loose_modules(entries: list[Entry]) -> list[str]:
    """The .py files lying in folders that several notebooks share: used by no one, and said so."""
    problems = []
    for folder in sorted({entry.path.parent for entry in entries}):
        if notebooks_in(folder) > 1:
            try:  # a file the LMS names with the id of a student who handed in a notebook is theirs
                named = lms.names_at_top([Path(path.name) for path in folder.glob("*.ipynb")]).values()
                uploaders = {(parsed.lms, parsed.student) for parsed in named}
                names = sorted(path.name for path in folder.glob("*.py")
                               if (parsed := lms.parse_name(path)) is None or (parsed.lms, parsed.student) not in uploaders)
            except OSError:
                continue
            if names:
                shown = ", ".join(names[:5]) + (f" and {len(names) - 5} more" if len(names) > 5 else "")
                problems.append(f"{folder}: {shown} lie(s) in a folder shared by several notebooks, so they belong "
                                "to no one and were not used (everyone got the course's helpers); to grade a "
                                "student's own helper module, give each submission a folder of its own")
    return problems


def _run_pool(pending: list[tuple[Entry, str]], jobs: int, config_of: Callable[[Entry], GradeConfig],
              finished: Callable[..., None], on_event: Callable[[str, Entry], None] | None,
              started: _Pool | None = None) -> list[tuple[Entry, str]]:
    """Grade in separate grader processes (the grader's own work is CPU-bound Python too), in the
    pool ``started`` (``_start_pool``) or a new one; either way it is shut down here.

    A grading process that holds one notebook longer than ``--timeout`` plus GRADER_GRACE is
    stopped (the grader's own work on it does not end); one may also die (out of memory). Either
    breaks the pool: the notebooks whose own process ended are recorded as such, and the rest,
    returned, are graded again in a fresh pool (no one is blamed for a classmate's notebook)."""
    waiting = list(pending)
    running: dict[Future, tuple[Entry, str]] = {}
    holders = _Holders()
    with started or _start_pool(jobs) as pool:
        try:
            announced: set[Future] = set()
            while waiting or running:
                # Twice as many as processes: each finds its next notebook queued when it is done, instead
                # of idling while this process stores the last result and submits another.
                while waiting and len(running) < 2 * jobs:
                    entry, digest = waiting[0]
                    try:
                        future = pool.executor.submit(grade_and_print, entry.path, config_of(entry), holders.number(entry))
                    except BrokenProcessPool:  # a process died since the last look: its futures say whose
                        if not running:  # nothing left to tell it: all that waits goes to a fresh pool
                            return waiting
                        break
                    waiting.pop(0)
                    running[future] = (entry, digest)
                done, _ = wait(list(running), timeout=0.2, return_when=FIRST_COMPLETED)
                holders.read(pool.starts, pool.executor)
                holders.stop_overdue({entry: config_of(entry).notebook_timeout + GRADER_GRACE
                                      for entry, _ in running.values()})
                for future in done:
                    if on_event and future not in announced:  # so quick that it was never seen running
                        on_event("started", running[future][0])
                    announced.discard(future)
                    entry, digest = running.pop(future)
                    try:
                        result, prints = _outcome(future, entry, broken_raises=True)
                    except BrokenProcessPool:
                        # Every notebook still in the pool fails so, except those whose result came
                        # before the break (done in this same round: a classmate graded by the process
                        # that then died was blamed). Record the ones whose grading process was stopped
                        # or died, and grade the others again in a fresh pool.
                        for other in [f for f in running if f.done() and not isinstance(f.exception(), BrokenProcessPool)]:
                            who, its_digest = running.pop(other)
                            finished(who, its_digest, *_outcome(other, who))
                        broken = [(entry, digest), *running.values()]
                        blamed = [(item, holders.verdict(item[0])) for item in broken]
                        blamed = [(item, verdict) for item, verdict in blamed if verdict] or \
                            [((entry, digest), "internal grader error: the grading process died")]
                        for (who, its_digest), verdict in blamed:
                            finished(who, its_digest, NotebookResult(str(who.path), None, None, error=verdict))
                        return [item for item in broken if item not in [pair for pair, _ in blamed]] + waiting
                    finished(entry, digest, result, prints)
                # "started" once a grading process says it has it, and once what it held before is told
                # as ended: the pool's own "running" also counts the notebooks queued for a process, and a
                # process starts its next one before this loop hears of the last (the bar showed twice
                # the processes running).
                busy = {holders.holder(running[future][0]) for future in announced if future in running}
                for future in running:
                    holder = holders.holder(running[future][0])
                    if on_event and future not in announced and holder and holder not in busy:
                        announced.add(future)
                        busy.add(holder)
                        on_event("started", running[future][0])
        except KeyboardInterrupt:
            for future in running:
                future.cancel()
            _stop_processes(pool.executor)
            raise
    return []


def _outcome(future: Future, entry: Entry, broken_raises: bool = False) -> tuple[NotebookResult, Any]:
    """A finished grading task's result and similarity prints; a grader bug is a result too, never a
    lost batch. BrokenProcessPool is raised when ``broken_raises`` (the pool broke under it)."""
    try:
        return future.result()
    except BrokenProcessPool:
        if broken_raises:
            raise
        return NotebookResult(str(entry.path), None, None, error="internal grader error: the grading process died"), None
    except MemoryError:
        return NotebookResult(str(entry.path), None, None, error="not graded: grading it needed more memory than a grading "
                              "process may take (grading_memory_bytes): the values its functions return or pass "
                              "are far larger than the course's"), None
    except Exception as error:  # a grader bug must not lose the batch
        return NotebookResult(str(entry.path), None, None, error=f"internal grader error: {error!r}"), None


class _Holders:
    """Which grading process holds which notebook, since when (as the processes say on the pool's
    ``starts`` pipe), and which were stopped for running over their time."""

    def __init__(self) -> None:
        self.tasks: dict[Entry, int] = {}
        self.holding: dict[int, tuple[int, float]] = {}
        self.stopped: dict[int, float] = {}
        self.sent = 0
        self.processes: dict[int, Any] = {}
        """pid -> multiprocessing.Process, kept: a broken pool forgets its processes."""

    def number(self, entry: Entry) -> int:
        """The task number ``entry`` is sent with (a new one each time it is sent)."""
        self.sent += 1
        self.tasks[entry] = self.sent
        return self.sent

    def read(self, starts: Any, executor: ProcessPoolExecutor) -> None:
        # No public handle on the pool's processes (as in _stop_processes): their exit codes tell the
        # process that died from the ones the pool then terminated.
        self.processes.update(getattr(executor, "_processes", None) or {})
        try:
            while starts.poll():
                task, pid = starts.recv()
                if type(task) is int and type(pid) is int:
                    self.holding[task] = (pid, time.monotonic())
        except (EOFError, OSError, ValueError, TypeError):  # every grading process gone
            return

    def holder(self, entry: Entry) -> int:
        """The pid of the grading process that said it started ``entry`` (as last sent), else 0."""
        return self.holding.get(self.tasks.get(entry, 0), (0, 0.0))[0]

    def stop_overdue(self, limits: dict[Entry, float]) -> None:
        """SIGKILL the grading process of a notebook held longer than its limit: its zygote removes
        its worker and folders, and the pool breaks, which ``_run_pool`` handles."""
        now = time.monotonic()
        for entry, limit in limits.items():
            task = self.tasks.get(entry, 0)
            pid, since = self.holding.get(task, (0, now))
            if pid and task not in self.stopped and now - since > limit:
                self.stopped[task] = limit
                try:
                    os.kill(pid, signal.SIGKILL)
                except OSError:  # finished meanwhile
                    pass

    def verdict(self, entry: Entry) -> str:
        """Why ``entry`` failed with the pool, if its own grading process ended; "" when it was not
        held yet, or its process lives on (then it is graded again)."""
        from .sandbox import process_running

        task = self.tasks.get(entry, 0)
        if task in self.stopped:
            return overdue_message(self.stopped[task])  # as the bound inside the process says it
        pid, _ = self.holding.get(task, (0, 0.0))
        process = self.processes.get(pid)
        if process is not None:
            # When one process dies, the pool terminates the others (SIGTERM: 143 through our
            # handler, or -15 before it is installed): those held notebooks of classmates.
            process.join(30)
            code = process.exitcode
            died = code is not None and code not in (128 + signal.SIGTERM, -signal.SIGTERM)
        else:
            died = bool(pid) and not process_running(pid)
        if died:
            return "internal grader error: the grading process died while grading it (out of memory?)"
        return ""


def grade_and_print(path: Path, config: GradeConfig, task: int = 0) -> tuple[NotebookResult, tuple[str, dict] | None]:
    """In a grading process: the notebook's result, and for a graded one the similarity fingerprints
    of its graded functions (``similarity.prints_of``: our code reading its bytes, in parallel here
    rather than for the whole class at the end; the class report uses them)."""
    if _STARTS and task:  # tell the batch (``_Holders``), so it can stop a grading process that does not finish
        _STARTS[0].send((task, os.getpid()))
    result = grade_notebook(path, config)
    prints = None
    if result.graded:
        try:
            from .similarity import prints_of

            prints = prints_of(path)
        except Exception:  # noqa: BLE001  never costs a grade: the report fingerprints it itself
            prints = None
    return result, prints


def _stop_processes(pool: ProcessPoolExecutor) -> None:
    """Ctrl-C: a grading process that caught the interrupt goes on to the next notebook already queued
    to it, and leaving the pool waits for that one (a hanging notebook: up to --timeout). SIGTERM makes
    each clean up its worker and folders and leave at once (sandbox._exit_on_signal)."""
    processes = list((getattr(pool, "_processes", None) or {}).values())  # no public handle; shutdown drops it
    pool.shutdown(wait=False, cancel_futures=True)
    for process in processes:
        try:
            process.terminate()
        except (OSError, ValueError):  # already gone, or already closed
            pass
    # Wait for them to finish cleaning up (their workers, zygotes, folders), so that none outlives
    # the command; bounded, a process that does not leave is killed.
    deadline = time.monotonic() + 30
    for process in processes:
        try:
            process.join(max(0.0, deadline - time.monotonic()))
            if process.is_alive():
                process.kill()
                process.join(5)
        except (OSError, ValueError, AssertionError):  # already closed, or not ours to join
            pass


# --- outputs --------------------------------------------------------------------------------

def load_results(out: Path, problems: list[str] | None = None) -> list[dict]:
    """Every result record under out/results, checked (``records.read_record``); a file that is not
    one the grader wrote is passed over, and named in ``problems`` when given."""
    results = []
    for path in sorted((out / "results").glob("*.json")):
        try:
            results.append(read_record(path))
        except (OSError, ValueError) as error:
            if problems is not None:
                problems.append(f"results/{path.name} was passed over: {error}")
    return results


def gradebook_columns(results: list[dict], assignment: str | None = None) -> list[str]:
    """The graded items' columns: the assignment's items in its own order (the same in every run,
    whoever is first), then any other item a result holds (an older run's), sorted."""
    from .course import ASSIGNMENTS, get_assignment

    if assignment is None:  # the assignment most results are
        named = Counter(d.get("assignment") for d in results if d.get("assignment") in ASSIGNMENTS)
        assignment = named.most_common(1)[0][0] if named else None
    items = list(get_assignment(assignment).function_names) if assignment in ASSIGNMENTS else []
    others = {f["name"] for d in results for f in d.get("functions", []) if f.get("name") not in items}
    return items + sorted(others)


def number(value: object) -> str:
    """One format for every number in the gradebook: at most two decimals, no trailing zeros
    (83.33, 83.3, 100, 0); anything else (not graded) is an empty cell."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return ""
    text = f"{value:.2f}".rstrip("0").rstrip(".")
    return "0" if text in ("-0", "") else text


def overrides_cell(data: dict) -> str:
    from .overrides import gradebook_cell

    return gradebook_cell(data)


def _status_word(status: str) -> str:
    """The word the student's report uses (TODO, FAIL, ...), not the internal name (not_implemented)."""
    from .report import MARKS
    from .results import Status

    try:
        return MARKS[Status(status)][0]
    except (ValueError, KeyError):
        return str(status)


def gradebook_csv(results: list[dict], missing: Sequence[str] = (), assignment: str | None = None) -> str:
    """One row per student, columns in a fixed order (``gradebook_columns``); a row that was not graded
    has empty score cells (an LMS reads them as missing, not as 0)."""
    functions = gradebook_columns(results, assignment)
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(GRADEBOOK_COLUMNS + functions + TAIL_COLUMNS)
    for data in sorted(results, key=lambda d: d["student"]):
        graded = bool(data.get("graded"))
        points = {f["name"]: f["score"] for f in data.get("functions", [])} if graded else {}
        status = "graded" if graded else "not graded"
        message = data.get("error") or "; ".join(
            f"{f['name']}: {_status_word(f['status'])}" for f in data.get("functions", [])
            if f["status"] != "passed" and f.get("section") == "required")
        if data.get("batch_note"):
            message = f"{data['batch_note']}; {message}" if message else data["batch_note"]
        percent = 100 * data["score"] / data["max_score"] if graded and data.get("max_score") else None
        numbers = [data["score"], data["max_score"], percent, data.get("optional_score"),
                   data.get("optional_max_score")] if graded else [None] * 5
        row = ([data["student"], data["notebook"], data.get("assignment") or "", status]
               + [number(value) for value in numbers]
               + [number(points.get(name)) for name in functions] + [overrides_cell(data), message[:300]])
        writer.writerow([textsafe.csv_cell(cell) for cell in row])  # no cell a spreadsheet runs as a formula
    for student in missing:  # roster entries with no notebook
        writer.writerow([textsafe.csv_cell(cell) for cell in
                         [student, "", "", "no submission", "", "", "", "", ""] + [""] * len(functions)
                         + ["", "in the roster, no notebook found"]])
    return buffer.getvalue()


def gradescope_json(data: dict) -> dict:
    """Gradescope's results.json for a batch record: what the Gradescope autograder bundle gives the
    same notebook (gradescope.results_json: one mechanism), plus the TA's overrides in force."""
    from .gradescope import results_json

    gradescope = results_json(as_result(data))
    changed = [f"{o['item']}: {o['points']:g} points (computed: {o['computed_score']:g}). Reason: {o['reason']}"
               for o in data.get("overrides", [])]
    if changed:
        gradescope["output"] = textsafe.clean("\n".join([gradescope["output"], "", "Score changed by your TA:", *changed]))
    return gradescope


ROSTER_COPY = "roster.csv"


def _roster(out: Path, given: Path | None) -> Roster | None:
    """--roster, kept in the output folder so that later runs (resume, regrade) use the same ids."""
    if given is not None:
        roster = read_roster(given)
        atomic_write(out / ROSTER_COPY, given.read_text(encoding="utf-8-sig", errors="replace"))
        return roster
    return read_roster(out / ROSTER_COPY) if (out / ROSTER_COPY).is_file() else None


REMOVED = "removed"


def prune_removed(out: Path, entries: list[Entry]) -> list[str]:
    """Move aside the results of notebooks no longer in the class, so they leave the gradebook and
    every output, and say so. A result is pruned when its id is not in this run and its notebook is
    gone (or is now graded under another id); grading a few notebooks by name prunes nobody else.
    The result file moves to ``results/removed/`` (never deleted: the record of what was graded; a notebook that comes back is graded again);
    its derived feedback and Gradescope files are rebuilt from results, so they are removed."""
    students = {entry.student for entry in entries}
    graded_as = {str(entry.path): entry.student for entry in entries}
    notes = []
    for data in load_results(out):
        student, notebook = data["student"], data["notebook"]
        if student in students or (os.path.lexists(notebook) and notebook not in graded_as):
            continue
        # A roster added later renames students: the notebook is still in the class, under a new id.
        why = (f"is now graded as {graded_as[notebook]}" if notebook in graded_as else "is no longer in the class")
        source = result_path(out, student)
        target = out / "results" / REMOVED / source.name
        target.parent.mkdir(exist_ok=True)
        number = 1
        while target.exists():  # an earlier removal of the same id stays too
            number += 1
            target = target.with_name(f"{student}.{number}.json")
        try:
            os.replace(source, target)
        except OSError as error:
            notes.append(f"{student}: {notebook} {why}, but its result could not be moved aside ({error})")
            continue
        for derived in (out / "gradescope" / f"{student}.json", out / "feedback" / f"{student}.md"):
            derived.unlink(missing_ok=True)
        notes.append(f"{student}: {notebook} {why}; its result under {student} left the gradebook and was "
                     f"moved to {target} (move it back to restore it)")
    return notes


def _saved_assignment(out: Path) -> str | None:
    return _saved(out, "assignment")


def _saved(out: Path, key: str) -> str | None:
    try:
        value = read_json(out / ASSIGNMENT_FILE)[key]
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return value if isinstance(value, str) else None


def class_version(out: Path, given: str | None) -> str | None:
    """The course version a batch grades every notebook as: ``given`` (--course-version), else the one
    kept in ``out`` by the run that pinned it (a rerun or a regrade of a few students grades the same
    way), else None (each notebook's own); ``--course-version detect`` goes back to that."""
    if given == DETECT_VERSION:
        return None
    if given is not None:
        return given
    saved = _saved(out, "course_version")
    known = published_versions()
    if saved is not None and saved not in known:  # the file is the TA's, as the option is: checked alike
        raise UsageError(f"{out / ASSIGNMENT_FILE} pins course version {saved[:40]!r}, which is not a published "
                         f"one ({', '.join(sorted(known))}): give --course-version, or remove the file's "
                         "course_version")
    return saved


def write_outputs(out: Path, kept: Kept | None = None) -> list[dict]:
    """Every output from every result in ``out``. ``kept``: what the batch that just ran did already
    (``BatchSummary.kept``); the files come out the same with it or without."""
    from . import overrides as score_overrides

    unread: list[str] = []
    results, not_applied = score_overrides.apply_all(out, load_results(out, unread))  # a TA's overrides, after every (re)grade
    for problem in unread + not_applied:  # overrides are kept in overrides.json, never dropped: said at every write
        print(f"grade: note: {textsafe.one_line(problem).plain}", file=sys.stderr)
    # After a batch, the report's charts are drawn (in the drawer's process) while the rest is written.
    report = _start_class_report(out, kept) if kept is not None else functools.partial(_write_class_report, out)
    kept = kept or Kept()
    roster = _roster(out, None)
    missing = missing_from(roster, [d["student"] for d in results]) if roster is not None else []
    atomic_write(out / "gradebook.csv", gradebook_csv(results, missing, _saved_assignment(out)))
    early = [kept.exported.get(data["student"]) for data in results]
    unchanged = [written is not None and written[0] == repr(data) for written, data in zip(early, results)]
    texts = [written[1] if same else json.dumps(data, indent=1) for written, same, data in zip(early, unchanged, results)]
    atomic_write(out / "results.json", results_json(texts))
    for data, same in zip(results, unchanged):
        if same and all(path.is_file() for path in _exports(out, data)):
            continue  # written from this very record when its result arrived
        _export(out, data)
    report()
    return results


def results_json(records: list[str]) -> str:
    """results.json from each record's ``json.dumps(record, indent=1)``: the text of
    ``json.dumps({"schema_version": ..., "results": [...]}, indent=1)``, whose indenting encoder is
    pure Python (a quarter of a second for 200 records) and redid what each result's arrival did."""
    if not records:
        return json.dumps({"schema_version": RESULT_SCHEMA_VERSION, "results": []}, indent=1)
    # One level deeper is two more spaces after every line break; JSON strings hold no raw line break.
    head = json.dumps({"schema_version": RESULT_SCHEMA_VERSION}, indent=1)[:-2]
    return head + ',\n "results": [\n  ' + ",\n  ".join(text.replace("\n", "\n  ") for text in records) + "\n ]\n}"


def _exports(out: Path, data: dict) -> tuple[Path, Path]:
    return out / "gradescope" / f"{data['student']}.json", out / "feedback" / f"{data['student']}.md"


def _export(out: Path, data: dict) -> bool:
    """The student's own files (Gradescope's results.json, Markdown feedback) from their record;
    False for a record from an older or foreign run, which keeps its row but gets none."""
    from . import overrides as score_overrides

    try:
        gradescope = gradescope_json(data)
        feedback = markdown_feedback(as_result(data)) + score_overrides.feedback_section(data)
    except (KeyError, TypeError, ValueError):
        return False
    gradescope_path, feedback_path = _exports(out, data)
    atomic_write(gradescope_path, json.dumps(gradescope, indent=1))
    atomic_write(feedback_path, feedback)
    return True


def _short_reason(data: dict) -> str:
    """Why a notebook was not graded, for the summary: its folders left out of the path in front (the
    row names the student), whole up to a few lines, so the advice at its end (``Grade it with
    --assignment ...``) stays."""
    reason = str(data.get("error", ""))
    notebook = str(data.get("notebook", ""))
    if notebook and reason.startswith(notebook + ": "):
        reason = f"{Path(notebook).name}{reason[len(notebook):]}"
    return reason if len(reason) <= 400 else reason[:399] + "…"


def _export_early(out: Path, data: dict, kept: Kept, text: str | None = None) -> None:
    """As a result arrives: its student's files, from the record as ``write_outputs`` will read it
    (``load_results``, then the overrides in force applied). At the end ``write_outputs`` skips them
    when that record is still the same; anything else (an override given meanwhile) writes them again.
    ``text``: ``json.dumps(data, indent=1)``, already made (the indenting encoder is pure Python)."""
    from . import overrides as score_overrides

    try:
        data = checked_record(data, data.get("student"))  # as load_results reads it at the end
    except ValueError:
        return
    try:
        record, _ = score_overrides.apply(data, score_overrides.in_force(score_overrides.load(out)))
        written = _export(out, record)
    except Exception:  # noqa: BLE001  an unreadable overrides file...: the end writes them, and says what is wrong
        return
    if written:
        shown = repr(record)  # repr, not ==: 0 == 0.0, but the files would differ
        same = text is not None and shown == repr(data)
        kept.exported[record["student"]] = (shown, text if same else json.dumps(record, indent=1))


class _ChartsAhead(threading.Thread):
    """``classreport.charts_ahead`` in a thread of its own; ``value()`` waits for it."""

    def __init__(self, out: Path, drawer: Any) -> None:
        super().__init__(name="grader-charts-ahead", daemon=True)
        self.out, self.drawer, self._value = out, drawer, None

    def run(self) -> None:
        try:
            from .classreport import charts_ahead

            self._value = charts_ahead(self.out, self.drawer)
        except Exception:  # noqa: BLE001  the report starts them itself
            self._value = None

    def value(self) -> Any:
        self.join()
        return self._value


def _write_class_report(out: Path) -> None:
    """report.html beside the gradebook (classreport/). Written last and guarded: whatever goes wrong
    there, the gradebook and results above are already on disk."""
    try:
        from .classreport import write_report

        write_report(out)
    except Exception as error:  # the report is a view of the results, never a reason to fail the batch
        _report_failed(out, error)


def _start_class_report(out: Path, kept: Kept) -> Callable[[], None]:
    """``_write_class_report`` at a batch's end, in two steps (``classreport.start_report``): the results
    read and the charts started now, the page written by the returned function, last. Guarded alike:
    a failure in either step is said once the other outputs are written."""
    try:
        from .classreport import start_report

        ahead = kept.ahead.value() if kept.ahead is not None else None
        finish = start_report(out, known_prints=kept.prints, drawer=kept.drawer, ahead=ahead)
    except Exception as error:  # noqa: BLE001  as _write_class_report
        return functools.partial(_report_failed, out, error)

    def written() -> None:
        try:
            finish()
        except Exception as error:  # the report is a view of the results, never a reason to fail the batch
            _report_failed(out, error)
    return written


def _report_failed(out: Path, error: Exception) -> None:
    print(f"grade: note: the class report could not be written ({type(error).__name__}: {error}); "
          f"try `grade report {out}`", file=sys.stderr)


def summary_renderable(results: list[dict], summary: BatchSummary) -> Group:
    graded = [d for d in results if d.get("graded")]
    percents = [100 * d["score"] / d["max_score"] for d in graded if d.get("max_score")]
    head = Table.grid(padding=(0, 2))
    head.add_column(style="bold")
    head.add_column()
    if summary.assignment:
        wrong = sum(1 for d in results if str(d.get("error", "")).startswith(WRONG_ASSIGNMENT))
        head.add_row("Assignment", textsafe.terminal(f"{summary.assignment} ({summary.assignment_reason})"
                                                     + (f"; {wrong} of another assignment not graded" if wrong else "")))
    head.add_row("Submissions", f"{len(results)}  (graded {len(graded)}, could not be graded {len(results) - len(graded)})")
    head.add_row("This run", f"graded {summary.graded + summary.failed}, skipped (unchanged) {summary.skipped}")
    if percents:
        head.add_row("Score", f"mean {statistics.mean(percents):.1f}%, median {statistics.median(percents):.1f}%")
    rates = Table(title="Pass rate per function", show_edge=False)
    rates.add_column("Function")
    rates.add_column("Passed", justify="right")
    counts: dict[str, list[int]] = {}
    for data in graded:
        for f in data["functions"]:
            counts.setdefault(f["name"], [0, 0])
            counts[f["name"]][0] += f["status"] == "passed"
            counts[f["name"]][1] += 1
    for name, (passed, total) in counts.items():
        rates.add_row(textsafe.terminal(name), f"{passed}/{total} ({100 * passed / total:.0f}%)")
    histogram = Table(title="Score distribution", show_edge=False, show_header=False)
    histogram.add_column(justify="right")
    histogram.add_column()
    bins = [0] * 10
    for value in percents:
        bins[min(int(value // 10), 9)] += 1
    widest = max(bins) if any(bins) else 1
    for number, count in enumerate(bins):
        label = f"{number * 10}-{number * 10 + 10 if number < 9 else 100}%"
        histogram.add_row(label, Text("█" * round(30 * count / widest) + f" {count}" if count else "", style="cyan"))
    parts = [head, rates, histogram]
    if summary.durations:  # a run that skipped every notebook (all unchanged) timed none
        slow = Table(title="Slowest submissions", show_edge=False)
        slow.add_column("Student")
        slow.add_column("Seconds", justify="right")
        for student, seconds in sorted(summary.durations.items(), key=lambda item: -item[1])[:5]:
            slow.add_row(textsafe.terminal(student), f"{seconds:.2f}")
        parts.append(slow)
    failed = [d for d in results if not d.get("graded")]
    if failed:
        table = Table(title="Could not be graded", show_edge=False)
        table.add_column("Student")
        table.add_column("Reason")
        for data in failed[:20]:
            table.add_row(textsafe.terminal(data["student"]), textsafe.terminal(_short_reason(data)))
        parts.append(table)
    ambiguous = [d["student"] for d in results if "~ambiguous-" in d["student"]]
    if ambiguous:  # filed under ids of their own: the TA decides who they are
        table = Table(title="Ambiguous student ids (rename the files, or give --roster)", show_edge=False)
        table.add_column("Id")
        table.add_column("Notebook")
        for data in results:
            if data["student"] in ambiguous:
                table.add_row(textsafe.terminal(data["student"]), textsafe.one_line(data["notebook"]))
        parts.append(table)
    versions = mixed_versions(graded)
    if versions:
        parts.append(textsafe.terminal(versions, style="yellow"))
    if summary.missing:
        parts.append(textsafe.terminal(f"in the roster, no notebook: {', '.join(summary.missing)}", style="yellow"))
    for problem in summary.problems:  # student text (file names): Text, never markup; cleaned
        parts.append(textsafe.one_line(f"note: {problem}", style="yellow"))
    return Group(*parts)


def mixed_versions(graded: list[dict]) -> str:
    """A note when the graded notebooks are of several course versions, naming the few that differ
    from most: without --course-version each is graded as the version it looks like, and that look
    (file name, metadata, markdown) is the student's to change; a class is given one version."""
    by_version: dict[str, list[str]] = {}
    for data in graded:
        if data.get("course_version"):
            by_version.setdefault(str(data["course_version"]), []).append(str(data["student"]))
    if len(by_version) < 2:
        return ""
    ranked = sorted(by_version.items(), key=lambda item: -len(item[1]))
    others = [f"{version}: {', '.join(sorted(students)[:5])}{' ...' if len(students) > 5 else ''}"
              for version, students in ranked[1:]]
    return (f"course versions differ: most notebooks look like {ranked[0][0]} ({len(ranked[0][1])}); "
            f"{'; '.join(others)}. Each was graded as the version it looks like: if the class was given one, "
            f"grade again with --course-version VERSION")


@dataclass(frozen=True)
class Unpacked:
    """The paths a command was given, each zip replaced by the temporary folder it is unpacked into."""

    paths: list[str]
    notes: list[str]
    """What unpacking left out (links, names leaving the archive, ...)."""
    archives: tuple[tuple[str, str], ...] = ()
    """(temporary folder, the zip as given), longest folder first."""

    def shown(self, text: str) -> str:
        """``text`` with every temporary folder named by its zip: ``class.zip/zoe.ipynb``, never a
        ``/tmp/grader-unpacked-...`` path that is gone when the command ends."""
        for folder, archive in self.archives:
            text = text.replace(folder, archive)
        return text


@contextmanager
def unpacked_aside(paths: list[str]) -> Iterator[Unpacked]:
    """``paths`` with every LMS zip unpacked (``lms.unpack_archives``: the batch's safe unpacking) into
    a temporary folder removed on leaving: for commands that only read a class (``--dry-run``,
    ``grade similarity``), which must write nothing beside it."""
    import tempfile

    with tempfile.TemporaryDirectory(prefix="grader-unpacked-") as scratch:
        unpacked, notes = lms.unpack_archives(paths, Path(scratch))
        archives = sorted(((folder, given) for given, folder in zip(paths, unpacked) if folder != given),
                          key=lambda pair: -len(pair[0]))  # class~2 before class: no prefix is replaced twice
        yield Unpacked(unpacked, notes, tuple(archives))


def dry_run(paths: list[str], out: Path | None, config: GradeConfig, console: Console, *,
            roster: Path | None = None) -> int:
    """``grade PATHS --dry-run``: every notebook with the student id it would be graded under, and the
    assignment chosen, without grading or writing anything (an LMS zip is unpacked into a temporary
    folder that is removed afterwards; names are shown inside the zip)."""
    class_roster = read_roster(roster) if roster is not None else (
        read_roster(out / ROSTER_COPY) if out is not None and (out / ROSTER_COPY).is_file() else None)
    with unpacked_aside(paths) as unpacked:
        return _show_ids(paths, unpacked, out, config, console, class_roster)


def _show_ids(given: list[str], unpacked: Unpacked, out: Path | None, config: GradeConfig, console: Console,
              class_roster: Roster | None) -> int:
    entries, problems = discover(unpacked.paths, class_roster)
    problems = unpacked.notes + problems
    if not entries:
        raise nothing_found(given, [unpacked.shown(problem) for problem in problems])
    assignment, reason = choose_assignment(entries, config, out)
    entries, settled = settle_candidates(entries, assignment, config.max_notebook_mb)
    problems = problems + settled
    console.print(textsafe.terminal(f"assignment: {assignment} ({reason})", style="bold"))
    table = Table(title=f"{len(entries)} notebook(s): nothing graded (--dry-run)", show_edge=False)
    for column in ("notebook", "student id", "note"):
        table.add_column(column, overflow="fold")
    others = 0
    for entry in sorted(entries, key=lambda e: str(e.path)):
        notes = [entry.note] if entry.note else []
        other = other_assignment(entry.path, assignment, config.max_notebook_mb)
        if other is not None:
            others += 1
            notes.append(f"not graded: it is {other}")
        table.add_row(*(textsafe.one_line(unpacked.shown(text)) for text in (str(entry.path), entry.student,
                                                                             "; ".join(notes))))
    console.print(table)
    if others:
        console.print(textsafe.terminal(f"{others} notebook(s) of another assignment than {assignment} will not be "
                                        "graded (one assignment per batch): grade them in a batch of their own with "
                                        "--assignment NAME", style="yellow"))
    if class_roster is not None:
        for student in missing_from(class_roster, [entry.student for entry in entries]):
            console.print(textsafe.terminal(f"in the roster, no notebook: {student}", style="yellow"))
    noted = {entry.note for entry in entries}
    for problem in problems:  # those not already in the table's notes
        if problem not in noted:
            console.print(textsafe.one_line(f"note: {unpacked.shown(problem)}", style="yellow"))
    return 0


def other_assignment(path: Path, assignment: str, max_mb: float) -> str | None:
    """The assignment a notebook is when the batch will refuse it as another one than ``assignment``
    ("not graded: wrong assignment"), by the same rule as grading (``load.load_submission``); None when
    it will be graded, or fail for another reason that grading reports."""
    from .errors import UnknownAssignment
    from .load import load_submission, scan_assignment

    try:
        load_submission(path, max_mb, assignment)
    except UnknownAssignment as error:
        if str(error).startswith(WRONG_ASSIGNMENT):
            return scan_assignment(path, max_mb) or "another assignment"
    except Exception:  # noqa: BLE001  a notebook that cannot be read is graded "not graded" with the reason
        pass
    return None


def estimate_remaining(durations: Sequence[float], running: Sequence[float], queued: int, jobs: int,
                       timeout: float) -> float | None:
    """Seconds until the batch is done, or None until a notebook of this run has finished (before
    that, any figure is a guess). ``durations``: seconds each finished notebook took; ``running``:
    seconds each running one has run. A queued notebook costs the mean duration; a running one the
    mean minus what it has run, or, once past the mean (it may hang), up to the notebook timeout."""
    if not durations:
        return None
    mean = sum(durations) / len(durations)
    left = [mean - elapsed if elapsed < mean else max(timeout - elapsed, 0.0) for elapsed in running]
    return max(max(left, default=0.0), (sum(left) + queued * mean) / max(jobs, 1))


class _EtaColumn(ProgressColumn):
    """The progress bar's ETA, from the time finished notebooks took (``estimate_remaining``), not
    from the count of notebooks done: "ETA -" until one has finished."""

    def __init__(self, total: int, jobs: int, timeout: float, lock: threading.Lock) -> None:
        super().__init__()
        self.queued, self.jobs, self.timeout, self.lock = total, jobs, timeout, lock
        self.started: dict[str, float] = {}
        self.durations: list[float] = []

    def record(self, kind: str, student: str) -> None:
        """Called under ``lock`` for each batch event."""
        now = time.monotonic()
        if kind == "started":
            self.started[student] = now
            self.queued -= 1
        elif kind == "skipped":
            self.queued -= 1
        else:
            began = self.started.pop(student, None)
            if began is None:  # finished before it was seen running
                self.queued -= 1
            else:
                self.durations.append(now - began)

    def render(self, task: object) -> Text:
        with self.lock:
            now = time.monotonic()
            seconds = estimate_remaining(self.durations, [now - t for t in self.started.values()],
                                         max(self.queued, 0), self.jobs, self.timeout)
        if seconds is None:
            return Text("ETA -", style="progress.remaining")
        seconds = int(seconds + 0.5)
        return Text(f"ETA {seconds // 3600}:{seconds % 3600 // 60:02d}:{seconds % 60:02d}", style="progress.remaining")


def _stopped_by(error: BaseException) -> str:
    """"interrupted" (Ctrl-C) or "stopped (SIGTERM)" when ``error`` is how the batch was stopped, else ""."""
    if isinstance(error, KeyboardInterrupt):
        return "interrupted"
    for number in (signal.SIGTERM, signal.SIGHUP):
        if isinstance(error, SystemExit) and error.code == 128 + number:  # sandbox._exit_on_signal
            return f"stopped ({number.name})"
    return ""


@contextlib.contextmanager
def writing(out: Path) -> Iterator[None]:
    """One command at a time writes ``out``: a second one (the same batch started twice, a regrade while
    the batch runs) says who holds it instead of grading everything again beside it. The lock is the
    process's (flock): a grader killed outright leaves none behind."""
    created = not out.exists()
    out.mkdir(parents=True, exist_ok=True)
    handle = open(out / LOCK_FILE, "a+", encoding="utf-8")
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        handle.seek(0)
        holder = " ".join(handle.read().split())[:120]
        handle.close()
        raise UsageError(f"another grade command is writing {out} ({holder or 'its process is not known'}): wait "
                         "for it to finish, or give another --out") from None
    handle.seek(0)
    handle.truncate()
    handle.write(f"pid {os.getpid()}, since {time.strftime('%Y-%m-%d %H:%M:%S')}\n")
    handle.flush()
    try:
        yield
    finally:
        handle.close()  # and with it the lock
        if created and os.listdir(out) == [LOCK_FILE]:  # nothing written (no notebook found): as it was
            with contextlib.suppress(OSError):
                (out / LOCK_FILE).unlink()
                out.rmdir()


#: In OUT: held by the command writing it (``writing``).
LOCK_FILE = ".grade.lock"


def batch_main(paths: list[str], out: Path, config: GradeConfig, console: Console, *, jobs: int | None,
               force: bool, students: tuple[str, ...] = (), scheduler: str | None = None,
               roster: Path | None = None) -> int:
    with writing(out):
        return _batch_main(paths, out, config, console, jobs=jobs, force=force, students=students,
                           scheduler=scheduler, roster=roster)


def _batch_main(paths: list[str], out: Path, config: GradeConfig, console: Console, *, jobs: int | None,
                force: bool, students: tuple[str, ...], scheduler: str | None, roster: Path | None) -> int:
    runner = None
    if scheduler is not None:  # a Dask cluster grades; distributed is imported only then
        from .dask_batch import DaskRunner

        runner = DaskRunner(scheduler)
    given = paths
    paths, unpacked = lms.unpack_archives(paths, out / "submissions")  # an LMS download as a zip
    class_roster = _roster(out, roster)
    entries, problems = discover(paths, class_roster)
    problems = unpacked + problems
    if not entries:
        raise nothing_found(given, problems)
    # One assignment per batch, shown before grading (and confirmed in the summary).
    assignment, reason = choose_assignment(entries, config, out)
    keep_assignment(out, assignment, force)
    config = config.with_changes(assignment=assignment)
    console.print(textsafe.terminal(f"assignment: {assignment} ({reason})", style="bold"))
    if students:  # --student: regrade just these, leave every other result as it is
        from .regrade import regrade_main, select

        return regrade_main(select(entries, students), out, config, console, jobs=jobs)
    counts = {"graded": 0, "failed": 0, "running": 0, "skipped": 0}
    lock = threading.Lock()
    eta = _EtaColumn(len(entries), max(1, jobs or default_jobs()), config.notebook_timeout, lock)
    with Progress(TextColumn("[bold]grading"), BarColumn(), MofNCompleteColumn(),
                  TextColumn("{task.fields[counts]}", markup=False), TimeElapsedColumn(), eta,
                  console=console, transient=False) as progress:
        task = progress.add_task("grading", total=len(entries), counts="")

        def on_event(kind: str, entry: Entry) -> None:
            with lock:
                eta.record(kind, entry.student)
                if kind == "started":
                    counts["running"] += 1
                else:
                    if kind != "skipped":
                        counts["running"] -= 1
                    counts[kind] += 1
                    progress.advance(task)
                text = (f"graded {counts['graded']}, failed {counts['failed']}, running {counts['running']}"
                        + (f", skipped {counts['skipped']}" if counts["skipped"] else ""))
                progress.update(task, counts=text)

        from .classreport.charts import Drawer

        drawer = Drawer.start()  # draws the report's charts at the end; imports matplotlib while we grade
        started = time.monotonic()
        try:
            summary = grade_batch(entries, out, config, jobs=jobs, force=force, on_event=on_event, runner=runner,
                                  kept=Kept(drawer=drawer))
        except BaseException as error:
            if drawer is not None:
                drawer.close()
            stopped = _stopped_by(error)
            if stopped:
                # Ctrl-C, or SIGTERM/SIGHUP (a job scheduler, a closed terminal: sandbox.install_signal_handlers):
                # the finished results are on disk; write the gradebook and the rest for them, so the TA
                # has the finished part at once, then exit 130 or 128+N (cli.main). Rerunning grades the rest.
                progress.stop()
                write_outputs(out)
                console.print(textsafe.terminal(f"{stopped}: {out / 'gradebook.csv'} has the notebooks graded so "
                                                f"far; run the same command again to grade the rest", style="yellow"))
            raise
    summary.problems = problems + summary.problems + prune_removed(out, entries)
    summary.assignment_reason = reason  # decided here, before grading, and shown then
    try:
        results = write_outputs(out, summary.kept)
    finally:
        if drawer is not None:
            drawer.close()
    if class_roster is not None:
        summary.missing = missing_from(class_roster, [d["student"] for d in results])
    console.print(summary_renderable(results, summary))
    console.print(textsafe.terminal(f"done in {time.monotonic() - started:.1f}s: {out / 'gradebook.csv'}, "
                                    f"{out / 'results.json'}, {out / 'feedback'}/, {out / 'gradescope'}/, "
                                    f"{out / 'report.html'}"))
    return 0
