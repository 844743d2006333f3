"""Regrading chosen students after a fix: only their notebooks are graded again, every other result
file stays exactly as it was, and each regrade is recorded in the student's result.

    grade class/ --out grades/ --student 12345 [--student 67890]   from the submissions again
    grade regrade grades/ 12345 [--reason "..."]                     from the notebook the result names

The record gains ``regrades``: a list of ``{"at", "reason", "previous_score", "previous_max_score",
"score"}``, oldest first, carried over from one regrade to the next.
"""
from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Sequence

from rich.console import Console
from rich.table import Table
from rich.text import Text

from .batch import Entry, atomic_write, grade_batch, write_outputs
from .config import GradeConfig
from .errors import UsageError


def select(entries: list[Entry], students: Sequence[str]) -> list[Entry]:
    """The entries of ``students``; an id with no submission is an error naming the ids there are."""
    chosen = [entry for entry in entries if entry.student in students]
    unknown = sorted(set(students) - {entry.student for entry in chosen})
    if unknown:
        known = sorted(entry.student for entry in entries)
        shown = ", ".join(known[:20]) + (", ..." if len(known) > 20 else "")
        raise UsageError(f"--student {', '.join(unknown)}: no submission with that id (there are: {shown})")
    return chosen


def from_results(out: Path, students: Sequence[str]) -> list[Entry]:
    """Entries rebuilt from earlier results in ``out``: the notebook each one graded."""
    entries = []
    for student in students:
        path = out / "results" / f"{student}.json"
        try:
            data = json.loads(path.read_text())
            entries.append(Entry(student, Path(data["notebook"]), data.get("batch_note", "")))
        except (OSError, ValueError, KeyError, TypeError):
            raise UsageError(f"{path}: no earlier result for student {student!r}; grade the class with --out {out} "
                             "first") from None
    return entries


def _previous(out: Path, entries: list[Entry]) -> dict[str, dict]:
    before = {}
    for entry in entries:
        try:
            before[entry.student] = json.loads((out / "results" / f"{entry.student}.json").read_text())
        except (OSError, ValueError):
            before[entry.student] = {}
    return before


def _record(out: Path, before: dict[str, dict], reason: str) -> list[tuple[str, object, object]]:
    changes = []
    for student, old in before.items():
        path = out / "results" / f"{student}.json"
        data = json.loads(path.read_text())
        history = old.get("regrades") if isinstance(old.get("regrades"), list) else []
        data["regrades"] = [*history, {
            "at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "reason": reason,
            "previous_score": old.get("score"), "previous_max_score": old.get("max_score"), "score": data["score"]}]
        atomic_write(path, json.dumps(data, indent=1))
        changes.append((student, old.get("score"), data["score"]))
    return changes


def regrade_main(entries: list[Entry], out: Path, config: GradeConfig, console: Console, *, jobs: int | None,
                 reason: str = "") -> int:
    """Grade ``entries`` again (whatever their state), record it, rebuild every output of ``out``."""
    before = _previous(out, entries)
    grade_batch(entries, out, config, jobs=jobs, force=True)
    changes = _record(out, before, reason or "regraded")
    write_outputs(out)
    table = Table(title="Regraded", show_edge=False)
    for column in ("Student", "Before", "Now"):
        table.add_column(column)
    for student, old, new in changes:
        table.add_row(Text(student), "-" if old is None else f"{old:g}", f"{new:g}")
    console.print(table)
    console.print(f"outputs of {out} rebuilt; other students' results unchanged")
    return 0


def main(argv: Sequence[str], console: Console) -> int:
    """``grade regrade OUT STUDENT...``."""
    parser = argparse.ArgumentParser(prog="grade regrade",
                                     description="Grade some students again after a fix; the rest stays as it is.")
    parser.add_argument("out", type=Path, help="the --out folder of an earlier batch")
    parser.add_argument("students", nargs="+", metavar="STUDENT", help="student id as in the gradebook")
    parser.add_argument("--reason", default="", help="why (kept in the result's regrade history)")
    parser.add_argument("--jobs", type=int)
    parser.add_argument("--no-color", action="store_true", help=argparse.SUPPRESS)  # read by cli.main
    args = parser.parse_args(argv)
    return regrade_main(from_results(args.out, args.students), args.out, GradeConfig(), console, jobs=args.jobs,
                        reason=args.reason)
