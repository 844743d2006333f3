"""Class statistics from batch result records (``grades/results/<student>.json``). Pure functions.

Item analysis, per case of each graded function (classical test theory):

- difficulty = share of the students who passed the case (low = hard);
- discrimination = point-biserial correlation between passing the case (1/0) and the rest of the
  score: the required points a student earned on the *other* functions (the function's own points
  are left out, as its cases depend on each other). Near 0 or negative: the case does not tell
  strong students from weak ones (a broken case, or one everybody fails for an unrelated reason).

A student whose function ran no case (missing, crashed while loading) counts as failing every case
of that function that the class saw. Records are the documented JSON results; anything a foreign
or older file lacks is read with a default, never trusted to be of the right type.
"""
from __future__ import annotations

import math
import statistics
from collections import Counter, defaultdict
from dataclasses import dataclass
from typing import Any

from ..results import CellIssue

HARD_BELOW = 0.3
"""A case fewer than this share of the class passed is marked hard."""
DISCRIMINATING_FROM = 0.2
"""A case whose discrimination is below this is marked non-discriminating (Ebel's rule of thumb)."""

STATUSES = ("passed", "partial", "failed", "error", "timeout", "crashed", "not_implemented", "missing")
STATUS_LABELS = {"passed": "PASS", "partial": "PART", "failed": "FAIL", "error": "ERROR", "timeout": "TIMEOUT",
                 "crashed": "CRASH", "not_implemented": "TODO", "missing": "MISSING"}


def _number(value: object, default: float = 0.0) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return default
    return float(value) if math.isfinite(value) else default


def _computed(data: dict[str, Any]) -> float | None:
    """The grader's own score kept beside a TA's override (``grade override``), or None: not overridden."""
    value = data.get("computed_score")
    return _number(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None


def _cell_where(issue: dict[str, Any]) -> str:
    """The cell named as the terminal report names it (``CellIssue.where``), from its JSON."""
    cell = issue.get("cell")
    if isinstance(cell, bool) or not isinstance(cell, int):  # a foreign record: shown as it is
        return f"cell {_text(cell)}"
    return CellIssue(cell, _text(issue.get("kind")), "", _text(issue.get("label"))).where


def _text(value: object) -> str:
    return value if isinstance(value, str) else "" if value is None else str(value)


def _list(value: object) -> list[Any]:
    return value if isinstance(value, list) else []


@dataclass(frozen=True)
class Case:
    name: str
    hidden: bool
    passed: bool
    message: str


@dataclass(frozen=True)
class Function:
    name: str
    section: str
    score: float
    max_score: float
    status: str
    """One of STATUSES, or "unknown" for a value this version does not know."""
    cases: tuple[Case, ...]
    messages: tuple[str, ...]
    diagnosis: str
    traceback: str
    computed_score: float | None = None
    """The grader's score when a TA overrode ``score``, else None."""
    override: str = ""
    """The TA's reason for the override."""

    @property
    def hard_coded(self) -> bool:
        """Passes every published case and no hidden one: the score rule's sign of a hard-coded answer."""
        published = [c for c in self.cases if not c.hidden]
        hidden = [c for c in self.cases if c.hidden]
        return bool(published and hidden) and all(c.passed for c in published) and not any(c.passed for c in hidden)


@dataclass(frozen=True)
class Student:
    key: str
    """Anchor of the student's section (``s1``, ``s2``...): never derived from student-controlled text."""
    name: str
    notebook: str
    graded: bool
    error: str
    assignment: str
    course_version: str
    score: float
    max_score: float
    optional_score: float
    optional_max_score: float
    functions: tuple[Function, ...]
    cell_issues: tuple[tuple[str, str, str], ...]
    """(where, kind, message) of the cells that failed while loading; where as every report names a
    cell: "cell 7 (defines rnn_forward)"."""
    notes: tuple[str, ...]
    batch_note: str
    computed_score: float | None = None
    """The grader's total when a TA overrode an item (``score`` is then the overridden total), else None."""

    @property
    def percent(self) -> float:
        return 100.0 * self.score / self.max_score if self.max_score else 0.0

    @property
    def computed_percent(self) -> float | None:
        if self.computed_score is None:
            return None
        return 100.0 * self.computed_score / self.max_score if self.max_score else 0.0

    def function(self, name: str) -> Function | None:
        return next((f for f in self.functions if f.name == name), None)


def student_from_record(key: str, data: dict[str, Any]) -> Student:
    functions = []
    for f in _list(data.get("functions")):
        if not isinstance(f, dict):
            continue
        status = _text(f.get("status"))
        cases = tuple(Case(_text(c.get("name")), bool(c.get("hidden")), c.get("passed") is True,
                           _text(c.get("message"))) for c in _list(f.get("cases")) if isinstance(c, dict))
        functions.append(Function(_text(f.get("name")), _text(f.get("section")) or "required", _number(f.get("score")),
                                  _number(f.get("max_score")), status if status in STATUSES else "unknown", cases,
                                  tuple(_text(m) for m in _list(f.get("messages"))), _text(f.get("diagnosis")),
                                  _text(f.get("traceback")), _computed(f), _text(f.get("override"))))
    issues = tuple((_cell_where(i), _text(i.get("kind")), _text(i.get("message")))
                   for i in _list(data.get("cell_issues")) if isinstance(i, dict))
    return Student(key, _text(data.get("student")) or "(no name)", _text(data.get("notebook")),
                   data.get("graded") is True,
                   _text(data.get("error")), _text(data.get("assignment")), _text(data.get("course_version")),
                   _number(data.get("score")), _number(data.get("max_score")), _number(data.get("optional_score")),
                   _number(data.get("optional_max_score")), tuple(functions), issues,
                   tuple(_text(n) for n in _list(data.get("notes"))), _text(data.get("batch_note")), _computed(data))


# --- the class at a glance -----------------------------------------------------------------------

@dataclass(frozen=True)
class Overview:
    total: int
    graded: int
    reasons: tuple[tuple[str, int], ...]
    """Why notebooks could not be graded, grouped by the first words of the reason, most common first."""
    percents: tuple[float, ...]
    mean: float | None
    median: float | None
    q1: float | None
    q3: float | None
    full_marks: int
    assignments: tuple[tuple[str, int], ...]


def _reason_kind(error: str) -> str:
    """A short kind for grouping ("is not UTF-8 text", "internal grader error") from a reason."""
    text = error.split(": ", 1)[1] if ": " in error and "/" in error.split(": ", 1)[0] else error
    return (text.split(";")[0].split("(")[0].strip() or "no reason given")[:80]


def overview(students: list[Student]) -> Overview:
    graded = [s for s in students if s.graded]
    percents = tuple(s.percent for s in graded)
    reasons = Counter(_reason_kind(s.error) for s in students if not s.graded)
    quartiles = statistics.quantiles(percents, n=4, method="inclusive") if len(percents) >= 2 else None
    return Overview(
        len(students), len(graded), tuple(reasons.most_common()), percents,
        statistics.mean(percents) if percents else None, statistics.median(percents) if percents else None,
        quartiles[0] if quartiles else (percents[0] if percents else None),
        quartiles[2] if quartiles else (percents[0] if percents else None),
        sum(1 for s in graded if s.max_score and s.score >= s.max_score),
        tuple(Counter(s.assignment or "unknown" for s in graded).most_common()))


# --- items -----------------------------------------------------------------------------------------

def point_biserial(passed: list[bool], rest: list[float]) -> float | None:
    """Pearson correlation of a 0/1 item with a score; None when either does not vary."""
    n = len(passed)
    if n < 2 or len(rest) != n:
        return None
    p = sum(passed) / n
    if p in (0.0, 1.0):
        return None
    mean = sum(rest) / n
    spread = math.sqrt(sum((x - mean) ** 2 for x in rest) / n)
    if spread == 0:
        return None
    mean_pass = sum(x for x, ok in zip(rest, passed) if ok) / sum(passed)
    mean_fail = sum(x for x, ok in zip(rest, passed) if not ok) / (n - sum(passed))
    return (mean_pass - mean_fail) / spread * math.sqrt(p * (1 - p))


@dataclass(frozen=True)
class CaseItem:
    function: str
    case: str
    hidden: bool
    students: int
    passed: int
    difficulty: float
    discrimination: float | None

    @property
    def hard(self) -> bool:
        return self.difficulty < HARD_BELOW

    @property
    def non_discriminating(self) -> bool:
        return self.discrimination is not None and self.discrimination < DISCRIMINATING_FROM


@dataclass(frozen=True)
class FunctionStats:
    name: str
    section: str
    max_points: float
    students: int
    passed: int
    mean_score: float
    statuses: tuple[tuple[str, int], ...]
    """Counts in the order of STATUSES (then "unknown"), zero counts left out."""
    points: tuple[tuple[float, int], ...]
    """How many students earned each number of points, highest first."""
    cases: tuple[CaseItem, ...]

    @property
    def pass_rate(self) -> float:
        return self.passed / self.students if self.students else 0.0


def function_order(students: list[Student]) -> list[str]:
    """Required functions first, each section in the order the results list them."""
    names: dict[str, str] = {}
    for student in students:
        for f in student.functions:
            names.setdefault(f.name, f.section)
    return sorted(names, key=lambda n: (names[n] != "required", list(names).index(n)))


def function_stats(students: list[Student]) -> list[FunctionStats]:
    graded = [s for s in students if s.graded]
    result = []
    for name in function_order(graded):
        rows: list[tuple[Student, Function]] = []
        for student in graded:
            found = student.function(name)
            if found is not None:
                rows.append((student, found))
        statuses = Counter(f.status for _, f in rows)
        case_names: list[tuple[str, bool]] = []
        for _, f in rows:
            for case in f.cases:
                if (case.name, case.hidden) not in case_names:
                    case_names.append((case.name, case.hidden))
        items = []
        for case_name, hidden in case_names:
            passed, rest = [], []
            for student, f in rows:
                same = next((c for c in f.cases if c.name == case_name and c.hidden == hidden), None)
                if same is None and f.cases:
                    continue  # this student's version of the function had no such case
                passed.append(same is not None and same.passed)
                rest.append(student.score - (f.score if f.section == "required" else 0.0))
            items.append(CaseItem(name, case_name, hidden, len(passed), sum(passed),
                                  sum(passed) / len(passed) if passed else 0.0, point_biserial(passed, rest)))
        points = Counter(round(f.score, 2) for _, f in rows)
        result.append(FunctionStats(
            name, rows[0][1].section if rows else "required", max((f.max_score for _, f in rows), default=0.0),
            len(rows), statuses.get("passed", 0), statistics.mean(f.score for _, f in rows) if rows else 0.0,
            tuple((s, statuses[s]) for s in (*STATUSES, "unknown") if statuses.get(s)),
            tuple(sorted(points.items(), reverse=True)), tuple(items)))
    return result


# --- mistakes and notebooks to look at ------------------------------------------------------------

@dataclass(frozen=True)
class Mistake:
    function: str
    diagnosis: str
    """The grader's diagnosis, or for an undiagnosed error the exception it raised."""
    students: tuple[Student, ...]
    raised: bool = False
    """Not a diagnosis: the last line of the traceback that these students' code raised."""


def _raised(f: Function) -> str:
    lines = [line.strip() for line in f.traceback.strip().splitlines() if line.strip()]
    return lines[-1][:200] if lines else ""


def common_mistakes(students: list[Student]) -> list[Mistake]:
    """Diagnosed mistakes, then undiagnosed errors by the exception raised, grouped per function,
    most frequent first."""
    groups: dict[tuple[str, str, bool], list[Student]] = defaultdict(list)
    for student in students:
        for f in student.functions:
            if f.status == "passed":
                continue
            if f.diagnosis:
                groups[f.name, f.diagnosis, False].append(student)
            elif f.status == "error" and _raised(f):
                groups[f.name, _raised(f), True].append(student)
    order = {name: number for number, name in enumerate(function_order(students))}
    ranked = sorted(groups.items(), key=lambda item: (order.get(item[0][0], 99), item[0][2], -len(item[1]), item[0][1]))
    return [Mistake(function, text, tuple(group), raised) for (function, text, raised), group in ranked]


@dataclass(frozen=True)
class Attention:
    student: Student
    kind: str
    """"not graded", "timeout", "crashed", "hard-coded?", "similarity" or "duplicate"."""
    detail: str


def attention(students: list[Student], similar: dict[str, list[str]] | None = None) -> list[Attention]:
    """The notebooks a human should open, most serious first. ``similar``: student name -> whom they resemble."""
    found = []
    for s in students:
        if not s.graded:
            found.append(Attention(s, "not graded", s.error))
            continue
        timeouts = [f.name for f in s.functions if f.status == "timeout"] + \
                   [where for where, kind, _ in s.cell_issues if kind == "timeout"]
        if timeouts:
            found.append(Attention(s, "timeout", "ran out of time: " + ", ".join(timeouts)))
        crashes = [f.name for f in s.functions if f.status == "crashed"] + \
                  [where for where, kind, _ in s.cell_issues if kind == "crashed"]
        if crashes:
            found.append(Attention(s, "crashed", "killed its worker: " + ", ".join(crashes)))
        coded = [f.name for f in s.functions if f.hard_coded]
        if coded:
            found.append(Attention(s, "hard-coded?",
                                   "passes the published cases and no hidden one: " + ", ".join(coded)))
        if similar and similar.get(s.name):
            found.append(Attention(s, "similarity", "similar to " + ", ".join(similar[s.name])))
        if s.batch_note:
            found.append(Attention(s, "duplicate", s.batch_note))
    rank = {"not graded": 0, "crashed": 1, "timeout": 2, "hard-coded?": 3, "similarity": 4, "duplicate": 5}
    return sorted(found, key=lambda a: (rank.get(a.kind, 9), a.student.name))
