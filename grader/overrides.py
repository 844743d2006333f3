"""A TA's score overrides: kept beside the results, applied after every (re)grade, shown beside the
computed score in every output, never silently lost.

    grade override grades/ STUDENT ITEM POINTS --reason TEXT    one override (later ones replace it)
    grade override grades/ --file overrides.csv                 many: columns student, item, points, reason
    grade override grades/ STUDENT ITEM --clear --reason TEXT   back to the computed score
    grade override grades/ --list                               what is in force, and what could not apply

Overrides live in ``grades/overrides.json`` (``{"overrides": [{"student", "item", "points", "reason",
"at"}]}``, history kept: the last one for a student and item wins, ``points: null`` clears). ``apply``
is pure: it sets the item's ``score`` to the override, keeps the grader's in ``computed_score``, moves
the totals by the difference, and lists the overrides in the record's ``overrides``. It starts from
the computed scores each time, so applying twice, or after a regrade, gives the same record.
"""
from __future__ import annotations

import argparse
import csv
import json
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Sequence

from .errors import UsageError
from .records import read_json, read_record

if TYPE_CHECKING:
    from rich.console import Console

OVERRIDES_FILE = "overrides.json"


@dataclass(frozen=True)
class Override:
    student: str
    item: str
    points: float | None
    """None: the override is cleared, the computed score counts again."""
    reason: str
    at: str = ""


def load(out: Path) -> list[Override]:
    """Every override recorded for ``out``, oldest first; an unreadable file is an error, never an
    empty list (that would silently drop every override on the next write)."""
    path = out / OVERRIDES_FILE
    if not path.exists():
        return []
    try:
        rows = read_json(path)["overrides"]
        return [Override(str(r["student"]), str(r["item"]), None if r["points"] is None else float(r["points"]),
                         str(r.get("reason", "")), str(r.get("at", ""))) for r in rows]
    except (OSError, ValueError, KeyError, TypeError) as error:
        raise UsageError(f"{path} cannot be read ({error}): fix or restore it; no override was applied") from None


def in_force(overrides: Sequence[Override]) -> dict[tuple[str, str], Override]:
    """The last override of each (student, item), cleared ones left out."""
    latest: dict[tuple[str, str], Override] = {}
    for override in overrides:
        latest[(override.student, override.item)] = override
    return {key: value for key, value in latest.items() if value.points is not None}


def apply(data: dict, overrides: dict[tuple[str, str], Override]) -> tuple[dict, list[str]]:
    """``data`` (a batch result record) with its student's overrides in force, and the overrides that
    could not apply (not graded, no such item). Pure: ``data`` is not changed."""
    functions = [dict(f) for f in data.get("functions", [])]
    problems: list[str] = []
    sections = {"required": "score", "optional": "optional_score"}
    delta_now = {key: 0.0 for key in sections.values()}  # what earlier applications added to the totals
    for f in functions:
        if "computed_score" in f:
            delta_now[sections.get(str(f.get("section")), "score")] += f["score"] - f["computed_score"]
            f["score"] = f.pop("computed_score")
        f.pop("override", None)
    record = {key: value for key, value in data.items() if key not in ("overrides", "computed_score")}
    for key, delta in delta_now.items():
        if key in record and isinstance(record[key], (int, float)):
            record[key] = record[key] - delta
    mine = [o for (student, _), o in sorted(overrides.items()) if student == data.get("student")]
    applied = []
    by_name = {f["name"]: f for f in functions}
    for override in mine:
        target = by_name.get(override.item)
        if not data.get("graded") or target is None:
            problems.append(f"override of {override.student} {override.item} not applied: "
                            + ("the notebook was not graded" if not data.get("graded") else
                               f"no item {override.item!r} in the result"))
            continue
        assert override.points is not None  # in_force leaves cleared ones out
        points = min(max(float(override.points), 0.0), float(target.get("max_score", override.points)))
        key = sections.get(str(target.get("section")), "score")
        record[key] = record.get(key, 0) + points - target["score"]
        target["computed_score"], target["score"] = target["score"], points
        target["override"] = override.reason
        applied.append({"item": override.item, "points": points, "computed_score": target["computed_score"],
                        "reason": override.reason, "at": override.at})
    record["functions"] = functions
    if applied:
        record["overrides"] = applied
        record["computed_score"] = data["score"] - delta_now["score"]
        record["score"] = round(record["score"], 6)
    return record, problems


def gradebook_cell(data: dict) -> str:
    """The ``overrides`` column: each override beside the computed score."""
    return "; ".join(f"{o['item']}: {o['points']:g} (computed {o['computed_score']:g}; {o['reason']})"
                     for o in data.get("overrides", []))


def feedback_section(data: dict) -> str:
    """Markdown appended to the student's feedback: what the TA changed and why (reason escaped as text)."""
    if not data.get("overrides"):
        return ""
    from .textsafe import md_inline

    lines = ["", "## Score changed by your TA", "",
             f"Total: {data['score']:g} / {data['max_score']:g} (computed by the grader: {data['computed_score']:g})", ""]
    for o in data["overrides"]:
        lines.append(f"- `{o['item']}`: {o['points']:g} points (computed: {o['computed_score']:g}). "
                     f"Reason: {md_inline(o['reason'])}")
    return "\n".join(lines) + "\n"


def record(out: Path, new: Sequence[Override]) -> None:
    from .batch import atomic_write

    rows = [asdict(o) for o in load(out) + list(new)]
    atomic_write(out / OVERRIDES_FILE, json.dumps({"overrides": rows}, indent=1))


def read_file(path: Path) -> list[tuple[str, str, str, str]]:
    """(student, item, points, reason) rows of a CSV with those columns (header required)."""
    try:
        rows = list(csv.DictReader(path.read_text(encoding="utf-8-sig").splitlines()))
    except (OSError, UnicodeDecodeError) as error:
        raise UsageError(f"--file {path}: cannot be read ({error})") from None
    needed = {"student", "item", "points", "reason"}
    if not rows or not needed <= set(rows[0]):
        raise UsageError(f"--file {path}: needs a header with the columns student, item, points, reason")
    return [(r["student"].strip(), r["item"].strip(), r["points"].strip(), r["reason"].strip()) for r in rows]


def _check(out: Path, student: str, item: str, points: str, reason: str, clear: bool) -> Override:
    """One override, checked against the student's result: the item exists and the points fit it."""
    from .batch import result_path

    path = result_path(out, student)
    try:
        data = read_record(path)
    except (OSError, ValueError):
        raise UsageError(f"{student}: no result in {out / 'results'}; use the id of the gradebook's student column") from None
    items = {f.get("name"): f for f in data.get("functions", [])}
    if not data.get("graded"):
        raise UsageError(f"{student}: the notebook was not graded ({str(data.get('error', ''))[:200]}), so it has no items "
                         "to override: grade it again once it can be (grade regrade), or enter the grade in your LMS")
    if item not in items:
        raise UsageError(f"{student}: no graded item {item!r} (there are: {', '.join(sorted(items))})")
    if not reason.strip():
        raise UsageError(f"{student} {item}: give a --reason (it is shown to the student)")
    if clear:
        if (student, item) not in in_force(load(out)):
            raise UsageError(f"{student} {item}: no override to clear (grade override {out} --list shows those in force)")
        return Override(student, item, None, reason, time.strftime("%Y-%m-%dT%H:%M:%S"))
    try:
        value = float(points)
    except ValueError:
        raise UsageError(f"{student} {item}: points must be a number, not {points!r}") from None
    maximum = float(items[item].get("max_score", 0))
    if not 0 <= value <= maximum:
        raise UsageError(f"{student} {item}: {value:g} points is outside 0 to {maximum:g}, the item's points")
    return Override(student, item, value, reason, time.strftime("%Y-%m-%dT%H:%M:%S"))


def main(argv: Sequence[str], console: "Console") -> int:
    """``grade override OUT STUDENT ITEM POINTS --reason TEXT`` (or ``--file``, ``--clear``, ``--list``)."""
    parser = argparse.ArgumentParser(
        prog="grade override", description="Override a graded item's score; kept across regrades, shown beside "
                                           "the computed score in the gradebook, feedback and class report.")
    parser.add_argument("out", type=Path, help="the --out folder of an earlier batch")
    parser.add_argument("student", nargs="?", help="student id as in the gradebook")
    parser.add_argument("item", nargs="?", help="graded item (function) name, as in the gradebook's columns")
    parser.add_argument("points", nargs="?", help="the points to give, between 0 and the item's points")
    parser.add_argument("--reason", default="", help="why (required; shown to the student)")
    parser.add_argument("--file", type=Path, metavar="CSV", help="many overrides: columns student, item, points, reason")
    parser.add_argument("--clear", action="store_true", help="remove the override: the computed score counts again")
    parser.add_argument("--list", action="store_true", help="list the overrides in force")
    parser.add_argument("--no-color", action="store_true", help=argparse.SUPPRESS)  # read by cli.main
    args = parser.parse_args(argv)
    if not (args.out / "results").is_dir():
        raise UsageError(f"no results in {args.out / 'results'}: grade the class with --out {args.out} first")
    new: list[Override] = []
    if args.file is not None:
        new = []
        for line, row in enumerate(read_file(args.file), start=2):  # line 1 is the header
            try:
                new.append(_check(args.out, *row, clear=False))
            except UsageError as error:
                raise UsageError(f"--file {args.file} line {line}: {error}; nothing was applied: fix that line (or "
                                 "remove it) and run it again") from None
    elif args.student and args.item and (args.points is not None or args.clear):
        new = [_check(args.out, args.student, args.item, args.points or "", args.reason, args.clear)]
    elif not args.list:
        raise UsageError("give STUDENT ITEM POINTS --reason TEXT, or --file CSV, or --list")
    if new:
        record(args.out, new)
        if args.clear:
            from .textsafe import terminal

            console.print(terminal(f"cleared: {args.student} {args.item} counts its computed score again"))
    from .batch import write_outputs
    from .textsafe import terminal

    results = write_outputs(args.out)  # every output rebuilt with the overrides (and their problems noted)
    for data in results:
        for o in data.get("overrides", []):
            console.print(terminal(f"{data['student']} {o['item']}: {o['points']:g} (computed {o['computed_score']:g}): "
                                   f"{o['reason']}"))
    return 0


def apply_all(out: Path, results: list[dict]) -> tuple[list[dict], list[str]]:
    """Every result with the overrides in force, each changed result file rewritten (the class report
    and later commands read them), and the overrides that could not apply."""
    from .batch import atomic_write, result_path

    overrides = in_force(load(out))
    problems = []
    applied = []
    for data in results:
        new, issues = apply(data, overrides)
        problems.extend(issues)
        if new != data:
            atomic_write(result_path(out, data["student"]), json.dumps(new, indent=1))
        applied.append(new)
    present = {data["student"] for data in results}
    problems.extend(f"override of {student} {item} not applied: no result for {student} (moved to "
                    f"results/removed/, or not graded yet)" for student, item in sorted(overrides) if student not in present)
    return applied, problems
