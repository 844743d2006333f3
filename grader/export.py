"""Grades out to the LMS: a CSV Canvas's gradebook import accepts, or Moodle's grading worksheet.

    grade export grades/ --canvas roster.csv -o canvas.csv      roster: Canvas's gradebook export
    grade export grades/ --moodle worksheet.csv -o moodle.csv   worksheet: Moodle's "Download grading worksheet"
        [--due 2026-11-20T23:59 --late-penalty 10 --late-cap 50]

Results are matched to the roster by the id the batch filed them under: the Canvas user id (``ID``)
or Moodle participant id (``Participant 12345``) that an LMS download gives, else the roster's SIS
User ID, SIS Login ID or email address. A row is filled only when one result matches it and that result
no other row: a notebook named after a classmate's user id (``1001.ipynb`` beside ``alice.ipynb``) would
otherwise put its grade in the classmate's row. Such rows are left blank and named with their results.
Students with a result but no roster row, roster rows with no result, notebooks that could not be
graded and late work are listed, never dropped silently.

A late policy (``--due``, a penalty per day started, a cap) is applied from the submission time the
LMS gives (Moodle's worksheet), else the notebook's file time (an LMS zip keeps the upload time), and
shown in a column of its own beside the raw score.

Every text cell is quoted and neutralised against formula injection (``= + - @``, tab or CR at its start
or after a ``,`` ``;`` tab or line break inside it gets a ``'``): names and messages come from students
and the CSV is opened in spreadsheets, some of which split cells at ``;`` or tab.
"""
from __future__ import annotations

import argparse
import csv
import io
import math
import os
from dataclasses import dataclass, field, replace
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Sequence

from . import textsafe
from .errors import UsageError
from .lms import parse_name

CANVAS_IDENTITY = ("Student", "ID", "SIS User ID", "SIS Login ID", "Section")
#: Canvas's export puts this (indented) in the Student column of the row under the header.
CANVAS_POINTS_ROW = "    Points Possible"
MOODLE_COLUMNS = ("Identifier", "Full name", "Email address", "Status", "Grade", "Maximum Grade",
                  "Grade can be changed", "Last modified (submission)", "Last modified (grade)", "Feedback comments")
MOODLE_PARTICIPANT = "Participant "


def cell(value: Any) -> Any:
    """A CSV cell a spreadsheet will not run (OWASP "CSV injection", ``textsafe.no_formulas``): a ``'``
    before ``=``, ``@``, tab or CR, or ``+``/``-`` when not simply a number or a lone dash, at the start and
    after every separator or line break inside the text. Numbers, and Moodle's "-" for "never", pass
    unchanged so that the LMS reads them back."""
    if isinstance(value, (int, float)) or value is None:
        return "" if value is None else value
    return textsafe.no_formulas(str(value).replace("\x00", ""))


def to_csv(rows: list[list[Any]]) -> str:
    """Every text cell quoted (numbers are not: an LMS reads them back as numbers either way), so that no
    reader splits one at a comma inside it; Canvas's and Moodle's imports read quoted CSV."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n", quoting=csv.QUOTE_NONNUMERIC)
    for row in rows:
        writer.writerow([cell(value) for value in row])
    return buffer.getvalue()


# --- what is exported ------------------------------------------------------------------------

@dataclass(frozen=True)
class LatePolicy:
    due: datetime
    """Aware datetime: work submitted after it is late."""
    per_day: float
    """Percent of the score taken per day (or part of a day) late."""
    cap: float = 100.0
    """At most this percent is taken."""

    def penalty(self, submitted: datetime | None) -> tuple[int, float]:
        """(days late, percent taken) for work submitted at ``submitted`` (None: unknown, not late)."""
        if submitted is None or submitted <= self.due:
            return 0, 0.0
        days = math.ceil((submitted - self.due).total_seconds() / 86400)
        return days, min(self.cap, days * self.per_day)


@dataclass(frozen=True)
class Grade:
    student: str
    score: float
    max_score: float
    graded: bool
    summary: str
    """One line for the feedback column: the score and what did not pass, or why it was not graded."""
    submitted: datetime | None = None
    late_days: int = 0
    late_percent: float = 0.0
    marked_late: bool = False
    """The LMS's own late mark (Canvas puts ``_late_`` in the file name)."""
    time_from: str = "the file's modification time"
    """Where ``submitted`` comes from: the LMS's own record is trusted, a file's time only as far as
    nobody copied or re-zipped the download (said with every penalty)."""

    @property
    def adjusted(self) -> float:
        return round(self.score * (1 - self.late_percent / 100), 4)


AMBIGUOUS_TITLE = ("roster rows left blank: more than one result matches them, or their result matches other rows "
                   "too (a notebook named after a classmate's id?): find out whose each notebook is, fix its id "
                   "and export again")


@dataclass
class ExportReport:
    """What the TA must look at: nothing in here is silently left out of the export."""

    exported: int = 0
    ambiguous: list[str] = field(default_factory=list)
    """Rows several results match, results several rows match: none of them filled."""
    not_in_roster: list[str] = field(default_factory=list)
    no_result: list[str] = field(default_factory=list)
    not_graded: list[str] = field(default_factory=list)
    late: list[str] = field(default_factory=list)
    unchangeable: list[str] = field(default_factory=list)

    def lines(self) -> list[str]:
        ambiguous = [f"{AMBIGUOUS_TITLE}: {len(self.ambiguous)}: {'; '.join(self.ambiguous)}"] if self.ambiguous else []
        parts = [("results with no roster row (not exported: check their ids)", self.not_in_roster),
                 ("roster rows with no result (left blank)", self.no_result),
                 ("notebooks that could not be graded (exported as 0)", self.not_graded),
                 ("late submissions (a file's modification time is new after a copy or a re-zip: check those)",
                  self.late),
                 ("grades Moodle marks as not changeable (left as they were)", self.unchangeable)]
        return ambiguous + [f"{title}: {len(items)}: {', '.join(items)}" for title, items in parts if items]


def _status_word(function: dict) -> str:
    """What the student's report calls a function's status (TODO, TIMEOUT...), or its override."""
    if "override" in function:
        return f"set to {function.get('score', 0):g} by your TA"
    from .report import MARKS
    from .results import Status

    try:
        return MARKS[Status(function.get("status"))][0]
    except (ValueError, KeyError):
        return str(function.get("status"))


def _summary(data: dict) -> str:
    """The grade's comment for the LMS, which the student reads there: why a notebook was not graded as
    the student's own report says it (``report.student_reason``: no grading machine's folders)."""
    if not data.get("graded"):
        from .report import student_reason
        from .results import NotebookResult

        reason = student_reason(NotebookResult(str(data.get("notebook") or ""), None, None,
                                               error=str(data.get("error") or "unknown reason")))
        return f"Autograder: not graded: {reason}"
    missed = [f"{f['name']} {_status_word(f)}" for f in data.get("functions", [])
              if f.get("section") == "required" and f.get("status") != "passed"]
    text = f"Autograder: {data['score']:g} / {data['max_score']:g}"
    return text + (f" ({'; '.join(missed)})" if missed else "")


def _submitted(notebook: str) -> datetime | None:
    try:
        return datetime.fromtimestamp(os.lstat(notebook).st_mtime, tz=timezone.utc)
    except (OSError, ValueError, TypeError):
        return None


def grades_from(results: list[dict], policy: LatePolicy | None = None) -> list[Grade]:
    """One Grade per batch result record (``batch.load_results``)."""
    grades = []
    for data in results:
        submitted = _submitted(data.get("notebook", "")) if policy else None
        days, percent = policy.penalty(submitted) if policy else (0, 0.0)
        named = parse_name(Path(str(data.get("notebook", ""))))
        grades.append(Grade(str(data["student"]), float(data["score"]), float(data["max_score"]),
                            bool(data.get("graded")), _summary(data), submitted, days, percent,
                            bool(named and named.late)))
    return grades


def _match(grades: list[Grade], keys_of_row: Sequence[tuple[tuple[str, str], ...]], names: Sequence[str],
           report: ExportReport, times: list[datetime | None] | None = None,
           policy: LatePolicy | None = None) -> tuple[dict[int, Grade], set[int]]:
    """Roster row index -> its grade, and the rows left blank because the match is not one to one.

    ``keys_of_row``: per row, its identifying ``(column, value)`` pairs (ID, SIS User ID, ...); ``names``:
    per row, how the TA knows it. A result matches a row when it is filed under any of the row's values.
    A row is filled only when exactly one result matches it and that result matches no other row: the
    first key that matched used to win, so ``1001.ipynb`` (a classmate's Canvas ID) took the row of the
    student filed under her SIS Login ID, and she was reported as having no roster row.
    ``times``: the submission time the LMS gives per row, preferred to the file's for the late policy."""
    by_student = {grade.student: grade for grade in grades}
    results_of: dict[int, dict[str, str]] = {}  # row -> {student: the row's column that matched}
    rows_of: dict[str, dict[int, str]] = {}     # student -> {row: column}
    for index, keys in enumerate(keys_of_row):
        for column, value in keys:
            if value and value in by_student and value not in results_of.get(index, {}):
                results_of.setdefault(index, {})[value] = column
                rows_of.setdefault(value, {})[index] = column
    matched: dict[int, Grade] = {}
    blank: set[int] = set()
    for index, found in results_of.items():
        (student,) = found if len(found) == 1 else (None,)
        if student is not None and len(rows_of[student]) == 1:
            matched[index] = by_student[student]
            continue
        blank.add(index)
        if len(found) > 1:
            report.ambiguous.append(f"{names[index]} is matched by {len(found)} results: " + ", ".join(
                f"{student} (its {column})" for student, column in found.items()))
    for student, rows in rows_of.items():
        if len(rows) > 1:
            report.ambiguous.append(f"result {student} matches {len(rows)} rows: " + ", ".join(
                f"{names[index]} (its {column})" for index, column in rows.items()))
    if times and policy:
        for index, grade in matched.items():
            if times[index] is not None:
                days, percent = policy.penalty(times[index])
                matched[index] = replace(grade, submitted=times[index], late_days=days, late_percent=percent,
                                         time_from="the LMS's submission time")
    report.not_in_roster = sorted(set(by_student) - set(rows_of))
    for grade in matched.values():
        if not grade.graded:
            report.not_graded.append(grade.student)
        if grade.late_days:
            report.late.append(f"{grade.student} ({grade.late_days} day(s), -{grade.late_percent:g}%, by "
                               f"{grade.time_from})")
        elif grade.marked_late:
            report.late.append(f"{grade.student} (marked late by the LMS; no --due policy applied)")
    report.exported = len(matched)
    return matched, blank


def _number(value: float) -> float | int:
    return int(value) if float(value).is_integer() else round(value, 4)


# --- Canvas ---------------------------------------------------------------------------------

def default_column(results: list[dict]) -> str:
    """The assignment most results are of (``rnn_step_by_step`` -> "rnn_step_by_step (autograder)")."""
    names = [data.get("assignment") for data in results if data.get("assignment")]
    return f"{max(set(names), key=names.count)} (autograder)" if names else "Autograder"


def read_rows(text: str) -> tuple[list[str], list[dict[str, str]]]:
    reader = csv.DictReader(io.StringIO(text.lstrip("\ufeff")))
    header = [name.strip() for name in (reader.fieldnames or [])]
    reader.fieldnames = header
    return header, [{k: (v or "").strip() for k, v in row.items() if k is not None} for row in reader]


def canvas_csv(roster_text: str, grades: list[Grade], column: str,
               policy: LatePolicy | None = None) -> tuple[str, ExportReport]:
    """Canvas's gradebook import: the roster's identity columns, one assignment column, and a
    "Points Possible" row; with a late policy, a second column holds the late-adjusted score."""
    header, rows = read_rows(roster_text)
    missing = [name for name in ("Student", "ID") if name not in header]
    if missing:
        raise UsageError(f"the roster has no {' or '.join(missing)} column: export it from Canvas "
                         "(Grades > Export > Export Entire Gradebook)")
    students = [row for row in rows if row.get("ID") and row.get("Student") != CANVAS_POINTS_ROW.strip()]
    report = ExportReport()
    keys = [tuple((name, row.get(name, "")) for name in ("ID", "SIS User ID", "SIS Login ID")) for row in students]
    matched, blank = _match(grades, keys, [f"{row.get('Student')} ({row.get('ID')})" for row in students], report)
    points = max((grade.max_score for grade in grades), default=100.0)
    columns = [column] + ([f"{column} (late-adjusted)"] if policy else [])
    table: list[list[Any]] = [[*CANVAS_IDENTITY, *columns],
                              [CANVAS_POINTS_ROW, "", "", "", "", *([_number(points)] * len(columns))]]
    for index, row in enumerate(students):
        grade = matched.get(index)
        scores: list[Any] = [] if grade is None else [_number(grade.score)] + ([_number(grade.adjusted)] if policy else [])
        table.append([row.get(name, "") for name in CANVAS_IDENTITY] + (scores or [""] * len(columns)))
        if grade is None and index not in blank:
            report.no_result.append(f"{row.get('Student')} ({row.get('ID')})")
    return to_csv(table), report


# --- Moodle ---------------------------------------------------------------------------------

def moodle_csv(worksheet_text: str, grades: list[Grade], policy: LatePolicy | None = None) -> tuple[str, ExportReport]:
    """Moodle's grading worksheet with Grade (scaled to its Maximum Grade) and Feedback comments
    filled in; every other column as Moodle wrote it. With a late policy, the late-adjusted grade
    goes to a column of its own, which Moodle's import ignores."""
    header, rows = read_rows(worksheet_text)
    missing = [name for name in ("Identifier", "Grade") if name not in header]
    if missing:
        raise UsageError(f"the worksheet has no {' or '.join(missing)} column: download it from the assignment "
                         "(View all submissions > Grading action > Download grading worksheet)")
    columns = header + [name for name in ("Maximum Grade", "Feedback comments") if name not in header]
    if policy:
        columns.append("Late-adjusted grade")
    report = ExportReport()
    keys = [(("Identifier", row["Identifier"].removeprefix(MOODLE_PARTICIPANT).strip()),
             ("Email address", row.get("Email address", "")), ("ID number", row.get("ID number", ""))) for row in rows]
    times = [_moodle_time(row.get("Last modified (submission)", "")) for row in rows]
    names = [f"{row.get('Full name', '')} ({row['Identifier']})" for row in rows]
    matched, blank = _match(grades, keys, names, report, times, policy)
    table: list[list[Any]] = [columns]
    for index, row in enumerate(rows):
        grade = matched.get(index)
        out = dict(row)
        if grade is None:
            if index not in blank:
                report.no_result.append(f"{row.get('Full name', '')} ({row['Identifier']})")
        elif row.get("Grade can be changed", "Yes").lower() == "no":
            report.unchangeable.append(f"{row.get('Full name', '')} ({row['Identifier']})")
        else:
            maximum = _float(row.get("Maximum Grade")) or grade.max_score
            scale = maximum / grade.max_score if grade.max_score else 0.0
            out["Grade"] = f"{grade.score * scale:.2f}"
            out["Maximum Grade"] = row.get("Maximum Grade") or f"{maximum:g}"
            late = (f" Late by {grade.late_days} day(s): {grade.late_percent:g}% penalty "
                    f"({grade.adjusted * scale:.2f} if applied).") if grade.late_days else ""
            # Moodle shows feedback comments as HTML: a student's file name must stay text there.
            out["Feedback comments"] = textsafe.html(grade.summary + late)
            if policy:
                out["Late-adjusted grade"] = f"{grade.adjusted * scale:.2f}"
        table.append([out.get(name, "") for name in columns])
    return to_csv(table), report


#: How Moodle writes dates in the worksheet (English; "-" when there is none).
MOODLE_TIME_FORMATS = ("%A, %d %B %Y, %I:%M %p", "%A, %d %B %Y, %H:%M")


def _moodle_time(text: str) -> datetime | None:
    """A worksheet date as an aware datetime (Moodle writes the server's local time), or None."""
    for form in MOODLE_TIME_FORMATS:
        try:
            return datetime.strptime(text.strip(), form).astimezone()
        except ValueError:
            continue
    return None


def _float(text: str | None) -> float | None:
    try:
        return float((text or "").replace(",", "."))
    except ValueError:
        return None


# --- the command ----------------------------------------------------------------------------

def _due(text: str) -> datetime:
    try:
        due = datetime.fromisoformat(text)
    except ValueError:
        raise UsageError(f"--due {text!r}: use an ISO date and time, e.g. 2026-11-20T23:59 (local time) or "
                         "2026-11-20T23:59+00:00") from None
    return due if due.tzinfo else due.astimezone()


def main(argv: Sequence[str], console: Any) -> int:
    """``grade export OUT (--canvas ROSTER | --moodle WORKSHEET) -o FILE``."""
    from .batch import atomic_write, load_results
    from .cli import PERCENT  # 0 to 100: a negative penalty gave more than full marks

    parser = argparse.ArgumentParser(prog="grade export", description="Write grades for Canvas's or Moodle's import.")
    parser.add_argument("out", type=Path, help="the --out folder of a batch (with results/)")
    target = parser.add_mutually_exclusive_group(required=True)
    target.add_argument("--canvas", type=Path, metavar="ROSTER", help="Canvas gradebook export (CSV)")
    target.add_argument("--moodle", type=Path, metavar="WORKSHEET", help="Moodle grading worksheet (CSV)")
    parser.add_argument("-o", "--output", type=Path, help="the CSV to write (default: OUT/canvas.csv or OUT/moodle.csv)")
    parser.add_argument("--column",
                        help="Canvas: the assignment column (Canvas's own name, with its id, to update an existing "
                             "assignment, e.g. 'RNN step by step (123456)'; default: the graded assignment's name, "
                             "which Canvas imports as a new assignment)")
    parser.add_argument("--due", type=_due, metavar="DATETIME",
                        help="late policy: the deadline, e.g. 2026-11-20T23:59 (local time) or 2026-11-20T23:59+00:00; "
                             "the late-adjusted grade goes in a column of its own, the raw score is kept")
    # No argparse default: a penalty given without --due is refused below, not silently dropped.
    parser.add_argument("--late-penalty", type=PERCENT, metavar="PCT",
                        help="with --due: percent taken per day started after it (default: 0)")
    parser.add_argument("--late-cap", type=PERCENT, metavar="PCT",
                        help="with --due: at most this percent taken in all (default: 100)")
    parser.add_argument("--no-color", action="store_true", help=argparse.SUPPRESS)  # read by cli.main
    args = parser.parse_args(argv)
    if args.due is None and (args.late_penalty is not None or args.late_cap is not None):
        raise UsageError("--late-penalty and --late-cap need --due DATETIME, the deadline they count from "
                         "(e.g. --due 2026-11-20T23:59)")
    results = load_results(args.out)
    if not results:
        raise UsageError(f"no results in {args.out / 'results'}: grade the class with --out {args.out} first")
    policy = LatePolicy(args.due, 0.0 if args.late_penalty is None else args.late_penalty,
                        100.0 if args.late_cap is None else args.late_cap) if args.due else None
    grades = grades_from(results, policy)
    source = args.canvas or args.moodle
    try:
        text = source.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as error:
        raise UsageError(f"{source}: cannot read it ({error})") from None
    if args.canvas:
        written, report = canvas_csv(text, grades, args.column or default_column(results), policy)
    else:
        written, report = moodle_csv(text, grades, policy)
    output = args.output or args.out / ("canvas.csv" if args.canvas else "moodle.csv")
    atomic_write(output, written)
    console.print(f"wrote {output}: {report.exported} grade(s)")
    from rich.text import Text

    for line in report.lines():  # rows left blank because their match is not one to one: first, in red
        warning = line.startswith(AMBIGUOUS_TITLE)
        console.print(Text(f"{'warning' if warning else 'note'}: {line}", style="bold red" if warning else "yellow"))
    return 0
