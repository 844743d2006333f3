"""Regrading after a fix: only what is asked is graded again, every other result stays exactly as it
was, and each regrade is recorded in the student's result.

    grade class/ --out grades/ --student 12345 [--student 67890]   chosen students, from the submissions
    grade regrade grades/ 12345 [--reason "..."]                     chosen students, from their results
    grade regrade grades/ --item rnn_forward [12345 ...]             one graded function, for everyone
                                                                     (or the students named), the rest kept

The record gains ``regrades``: a list of ``{"at", "reason", "previous_score", "previous_max_score",
"score"}`` (plus ``"item"`` for an item regrade), oldest first, carried over from one regrade to the next.
"""
from __future__ import annotations

import argparse
import json
import shutil
import time
from pathlib import Path
from typing import Any, Sequence

from rich.console import Console
from rich.table import Table
from rich.text import Text

from .batch import Entry, Kept, atomic_write, grade_batch, load_results, result_path, write_outputs, writing
from .classreport.charts import Drawer
from .config import GradeConfig
from .errors import UsageError
from .records import read_record
from .secret import BATCH_SECRET_NAME

_ITEM_SCRATCH = ".regrade-item"


def select(entries: list[Entry], students: Sequence[str]) -> list[Entry]:
    """The entries of ``students`` (each may be a comma-separated list); an id with no submission is
    an error naming the ids there are."""
    students = [name.strip() for item in students for name in item.split(",") if name.strip()]
    chosen = [entry for entry in entries if entry.student in students]
    unknown = sorted(set(students) - {entry.student for entry in chosen})
    if unknown:
        known = sorted(entry.student for entry in entries)
        shown = ", ".join(known[:20]) + (", ..." if len(known) > 20 else "")
        raise UsageError(f"--student {', '.join(unknown)}: no submission with that id (there are: {shown})")
    return chosen


def from_results(out: Path, students: Sequence[str]) -> list[Entry]:
    """Entries rebuilt from earlier results in ``out`` (all of them when ``students`` is empty)."""
    if not students:
        return [Entry(data["student"], Path(data["notebook"]), data.get("batch_note", "")) for data in load_results(out)]
    entries = []
    for student in students:
        path = result_path(out, student)
        try:
            data = read_record(path)
            entries.append(Entry(student, Path(data["notebook"]), data.get("batch_note", "")))
        except (OSError, ValueError, KeyError, TypeError):
            known = sorted(item.stem for item in (out / "results").glob("*.json"))
            if not known:
                raise UsageError(f"no results in {out / 'results'}: grade the class with --out {out} first") from None
            shown = ", ".join(known[:20]) + (", ..." if len(known) > 20 else "")
            raise UsageError(f"no result for student {student!r} in {out / 'results'}: use an id of the gradebook's "
                             f"student column (there are: {shown})") from None
    return entries


def _now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


def with_history(new: dict[str, Any], old: dict[str, Any], reason: str, at: str, item: str | None = None) -> dict:
    """``new`` with ``old``'s regrade history and one more entry for this regrade."""
    earlier = old.get("regrades")
    history: list = earlier if isinstance(earlier, list) else []
    entry = {"at": at, "reason": reason, "previous_score": old.get("score"),
             "previous_max_score": old.get("max_score"), "score": new["score"]}
    return {**new, "regrades": [*history, {**entry, **({"item": item} if item else {})}]}


def merge_item(old: dict[str, Any], new: dict[str, Any], item: str) -> dict[str, Any] | None:
    """``old`` with its ``item`` function replaced by ``new``'s, totals recomputed; None when either
    could not be graded or ``new`` has no such function (then the old result stands)."""
    fresh = [f for f in new.get("functions", []) if f.get("name") == item]
    if not old.get("graded") or not new.get("graded") or not fresh:
        return None
    functions = [fresh[0] if f.get("name") == item else f for f in old.get("functions", [])]
    if not any(f.get("name") == item for f in old.get("functions", [])):
        functions.append(fresh[0])

    def total(section: str, key: str) -> float:
        return round(sum(f[key] for f in functions if f.get("section") == section), 6)

    return {**old, "functions": functions, "score": total("required", "score"),
            "max_score": total("required", "max_score"), "optional_score": total("optional", "score"),
            "optional_max_score": total("optional", "max_score")}


def _read(path: Path) -> dict[str, Any]:
    try:
        return read_record(path)
    except (OSError, ValueError):
        return {}


def _table(title: str, changes: list[tuple[str, Any]], results: list[dict], console: Console) -> None:
    """Before and now as the gradebook shows them: a TA's overrides included (they are applied after
    every regrade, so the computed score alone would look like a lost override)."""
    now = {data.get("student"): data for data in results}
    table = Table(title=title, show_edge=False)
    for column in ("Student", "Before", "Now"):
        table.add_column(column)
    overridden = []
    for student, old in changes:
        new = now.get(student, {}).get("score")
        if now.get(student, {}).get("overrides"):
            overridden.append(student)
        table.add_row(Text(student), "-" if old is None else f"{old:g}", "-" if new is None else f"{new:g}")
    console.print(table)
    if overridden:
        console.print(Text(f"now includes the TA overrides in force (kept across regrades; grade override OUT "
                           f"--list shows them): {', '.join(overridden)}", style="dim"))


def regrade_main(entries: list[Entry], out: Path, config: GradeConfig, console: Console, *, jobs: int | None,
                 reason: str = "") -> int:
    """Grade ``entries`` again (whatever their state), record it, rebuild every output of ``out``."""
    before = {entry.student: _read(result_path(out, entry.student)) for entry in entries}
    with Drawer.running() as drawer:  # matplotlib imports while the students are graded
        grade_batch(entries, out, config, jobs=jobs, force=True)
        changes, at = [], _now()
        for student, old in before.items():
            path = result_path(out, student)
            data = with_history(read_record(path), old, reason or "regraded", at)
            atomic_write(path, json.dumps(data, indent=1))
            changes.append((student, old.get("score")))
        results = write_outputs(out, Kept(drawer=drawer))
    _table("Regraded", changes, results, console)
    _note_other_grading(before, out, console)
    console.print(f"outputs of {out} rebuilt; other students' results unchanged")
    return 0


def _note_other_grading(before: dict[str, dict[str, Any]], out: Path, console: Console) -> None:
    """Say when the earlier result was graded with other options or another grader than this regrade
    (its fingerprint differs): then part of any change comes from that, not from the fix."""
    differ = [student for student, old in before.items() if old.get("fingerprint")
              and old.get("fingerprint") != _read(result_path(out, student)).get("fingerprint")]
    if differ:
        console.print(Text(f"note: graded before with other options or another version of the grader: "
                           f"{', '.join(differ)}; give the batch's options (--hidden-cases, --timeout, ...: "
                           f"grade regrade --help) to grade as it did", style="yellow"))


def regrade_item(entries: list[Entry], out: Path, item: str, config: GradeConfig, console: Console, *,
                 jobs: int | None, reason: str = "") -> int:
    """Grade only function ``item`` of ``entries`` again and put it into their results, keeping every
    other function's result as it was (graded aside, in a scratch folder, then merged)."""
    scratch = out / _ITEM_SCRATCH
    shutil.rmtree(scratch, ignore_errors=True)
    scratch.mkdir(parents=True)
    if (out / BATCH_SECRET_NAME).is_file():  # the same hidden cases as the batch that made the results
        shutil.copy2(out / BATCH_SECRET_NAME, scratch / BATCH_SECRET_NAME)
    with Drawer.running() as drawer:  # matplotlib imports while the students are graded
        try:
            # The worker must not see the class's results either (the batch hides only its own output folder).
            config = config.with_changes(only=(item,), hide_paths=config.hide_paths + (str(out.resolve()),))
            grade_batch(entries, scratch, config, jobs=jobs, force=True)
            changes, kept, at = [], [], _now()
            for entry in entries:
                path = result_path(out, entry.student)
                old, new = _read(path), _read(result_path(scratch, entry.student))
                merged = merge_item(old, new, item)
                if merged is None:
                    kept.append(entry.student)
                    continue
                merged = with_history(merged, old, reason or f"{item} regraded", at, item)
                atomic_write(path, json.dumps(merged, indent=1))
                changes.append((entry.student, old.get("score")))
        finally:
            shutil.rmtree(scratch, ignore_errors=True)
        results = write_outputs(out, Kept(drawer=drawer))
    _table(f"{item} regraded", changes, results, console)
    if kept:
        console.print(Text(f"note: result kept as it was (not graded before or now, or no {item}): {', '.join(kept)}",
                           style="yellow"))
    return 0


def _refuse_missing_notebooks(entries: list[Entry], out: Path, every: bool = False) -> None:
    """Regrading a notebook that is not there would replace a good result by "no such file". A result
    names its notebook as the batch was given it, often relative to the folder the batch ran in.
    ``every``: refuse only when no notebook is found (an item regrade keeps the result of a missing one)."""
    missing = [entry for entry in entries if not entry.path.is_file()]
    if missing and (not every or len(missing) == len(entries)):
        shown = ", ".join(f"{entry.student} ({entry.path})" for entry in missing[:5])
        more = f" and {len(missing) - 5} more" if len(missing) > 5 else ""
        raise UsageError(f"nothing regraded: notebooks not found from here: {shown}{more}. Run grade regrade in the "
                         f"folder the batch ran in, or regrade from the submissions: grade SUBMISSIONS --out {out} "
                         f"--student {missing[0].student}")


def _grading_options(parser: argparse.ArgumentParser) -> None:
    """The batch's grading options, with the same names and defaults: a regrade grades as the batch did
    only when given the options the batch was (nothing records them apart from the fingerprint)."""
    from . import config as defaults
    from .cli import COUNT, MEGABYTES, NOTEBOOK_MB, SECONDS

    group = parser.add_argument_group("grading options (give the ones the batch was run with)")
    group.add_argument("--engine", choices=["worker", "kernel"], default="worker", help="(default: worker)")
    for option, kind, default, unit in (("--cell-timeout", SECONDS, defaults.DEFAULT_CELL_TIMEOUT, "S"),
                                        ("--call-timeout", SECONDS, defaults.DEFAULT_CALL_TIMEOUT, "S"),
                                        ("--timeout", SECONDS, defaults.DEFAULT_NOTEBOOK_TIMEOUT, "S"),
                                        ("--memory-mb", MEGABYTES, defaults.DEFAULT_MEMORY_MB, "MB"),
                                        ("--hidden-cases", COUNT, defaults.DEFAULT_HIDDEN_CASES, "N"),
                                        ("--max-notebook-mb", NOTEBOOK_MB, defaults.DEFAULT_MAX_NOTEBOOK_MB, "MB")):
        group.add_argument(option, type=kind, default=default, metavar=unit,
                           help="as for a batch (default: %(default)g)")
    group.add_argument("--seed", type=int, help="as for a batch (default: from the class's secret)")
    group.add_argument("--only", action="append", default=[], metavar="FUNCTION",
                       help="as for a batch (repeatable; default: every graded function)")
    group.add_argument("--course-version", metavar="VERSION",
                       help="as for a batch (default: the one the batch kept, else each notebook's own)")


def main(argv: Sequence[str], console: Console) -> int:
    """``grade regrade OUT [STUDENT...] [--item FUNCTION]``."""
    from .cli import JOBS, check_course_version

    parser = argparse.ArgumentParser(prog="grade regrade",
                                     description="Grade again after a fix; everything not asked for stays as it is.")
    parser.add_argument("out", type=Path, help="the --out folder of an earlier batch")
    parser.add_argument("students", nargs="*", metavar="STUDENT",
                        help="student ids as in the gradebook (with --item: default everyone)")
    parser.add_argument("--item", metavar="FUNCTION", help="regrade only this graded function, keep the others")
    parser.add_argument("--reason", default="", help="why (kept in the result's regrade history)")
    parser.add_argument("--jobs", type=JOBS, metavar="N", help="parallel notebooks (default: number of cores + 1)")
    _grading_options(parser)
    parser.add_argument("--no-color", action="store_true", help=argparse.SUPPRESS)  # read by cli.main
    args = parser.parse_intermixed_args(argv)  # ids after --item too: grade regrade OUT --item F 12345
    if not args.students and not args.item:
        raise UsageError("name the students to regrade (grade regrade OUT ID...), or --item FUNCTION for everyone")
    entries = from_results(args.out, args.students)
    if not entries:
        raise UsageError(f"no results in {args.out / 'results'}: grade the class with --out {args.out} first")
    _refuse_missing_notebooks(entries, args.out, every=bool(args.item))
    if args.item:
        known = {f.get("name") for data in load_results(args.out) for f in data.get("functions", [])}
        if args.item not in known:
            raise UsageError(f"--item {args.item}: no result has that function (there are: {', '.join(sorted(known))})")
    if args.course_version is not None:
        check_course_version(args.course_version)
    config = GradeConfig(course_version=args.course_version, engine=args.engine, cell_timeout=args.cell_timeout,
                         call_timeout=args.call_timeout, notebook_timeout=args.timeout, memory_mb=args.memory_mb, hidden_cases=args.hidden_cases,
                         hidden_seed=args.seed, max_notebook_mb=args.max_notebook_mb, only=tuple(args.only))
    with writing(args.out):  # not beside a batch (or another regrade) writing the same folder
        if args.item:
            return regrade_item(entries, args.out, args.item, config, console, jobs=args.jobs, reason=args.reason)
        return regrade_main(entries, args.out, config, console, jobs=args.jobs, reason=args.reason)
