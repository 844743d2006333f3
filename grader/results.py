"""The vocabulary of a grading run: frozen values passed from stage to stage (no I/O here).

CaseResult      one call of one function on one input, judged
FunctionResult  all cases of one graded function, scored
CellIssue       a notebook cell that raised, timed out or killed its worker while loading
NotebookResult  everything about one notebook; what reports and gradebooks are made from
"""
from __future__ import annotations

import enum
from dataclasses import asdict, dataclass, field
from typing import Any

#: Version of the JSON written by ``grade --json`` and the batch results; bump on any change.
RESULT_SCHEMA_VERSION = 2  # 2: "materials" (the solutions and expected values a run used)


class Status(str, enum.Enum):
    """How a function fared, from best to worst."""

    PASSED = "passed"
    PARTIAL = "partial"                  # some cases passed
    FAILED = "failed"                    # ran, wrong results
    ERROR = "error"                      # raised an exception
    TIMEOUT = "timeout"                  # ran out of time
    CRASHED = "crashed"                  # killed its worker (signal, exit, memory)
    NOT_IMPLEMENTED = "not_implemented"  # still the stub
    MISSING = "missing"                  # not defined in the notebook


#: How the message of a function not graded because the notebook's overall time ran out begins.
OUT_OF_TIME = "not graded: the notebook's overall time limit"


@dataclass(frozen=True)
class CaseResult:
    name: str
    """e.g. "published (seed 1)" or "hidden #2"; hidden inputs are never shown."""
    hidden: bool
    passed: bool
    message: str = ""
    """Why it failed: what was checked, expected versus got. Empty when passed."""


@dataclass(frozen=True)
class FunctionResult:
    name: str
    section: str
    """"required" or "optional" (scored apart)."""
    score: float
    max_score: float
    status: Status
    cases: tuple[CaseResult, ...] = ()
    messages: tuple[str, ...] = ()
    """What the student should read first: the main reason, hints, notes."""
    traceback: str = ""
    """The student's own frames only, when the function raised."""
    reference_dependencies: tuple[str, ...] = ()
    """Graded functions it calls that were replaced by the reference while judging it."""
    diagnosis: str = ""
    """The most likely mistake, when a known one reproduces the wrong output."""

    @property
    def cases_passed(self) -> int:
        return sum(case.passed for case in self.cases)


@dataclass(frozen=True)
class CellIssue:
    cell: int
    """The cell's position in the notebook, 1-based, counting every cell (markdown too): "cell 3" is the
    third cell from the top. The same number as ``load.CodeCell.index`` and tracebacks' "cell N"."""
    kind: str
    """"error", "syntax", "timeout", "crashed" or "skipped"."""
    message: str
    label: str = ""
    """What finds the cell in Jupyter, whose In [N] numbers are not ours: "defines rnn_forward", or the
    cell's first non-empty line (student text: shown escaped)."""

    @property
    def where(self) -> str:
        """"cell 7 (defines rnn_forward)": the position and the label, as reports show it."""
        return f"cell {self.cell} ({self.label})" if self.label else f"cell {self.cell}"


#: What one notebook's result keeps of what its cells and notes said, however much the notebook made
#: them say: every report, feedback file, result file and the class report show these, and a notebook
#: of 9,500 failing cells (or a 20 MB kernel name) made pages of tens of megabytes. Applied once, here,
#: to every result built, so no stage after this one sees more.
MAX_CELL_ISSUES = 30
MAX_NOTES = 40
NOTE_CHARS = 600
ISSUE_CHARS = 2_000
LABEL_CHARS = 80
ERROR_CHARS = 4_000


def cut(text: str, limit: int, keep_end: bool = False) -> str:
    """``text`` at most ``limit`` characters: its start (or, for a traceback, its end) and an ellipsis."""
    if len(text) <= limit:
        return text
    return "…" + text[len(text) - limit + 1:] if keep_end else text[:limit - 1] + "…"


def _bounded(issues: tuple[CellIssue, ...], notes: tuple[str, ...]) -> tuple[tuple[CellIssue, ...], tuple[str, ...]]:
    kept = tuple(issue if len(issue.message) <= ISSUE_CHARS and len(issue.label) <= LABEL_CHARS else
                 CellIssue(issue.cell, issue.kind, cut(issue.message, ISSUE_CHARS, keep_end=True),
                           cut(issue.label, LABEL_CHARS)) for issue in issues[:MAX_CELL_ISSUES])
    notes = tuple(cut(note, NOTE_CHARS) for note in notes)
    if len(issues) > MAX_CELL_ISSUES:
        notes += (f"{len(issues) - MAX_CELL_ISSUES} more cells had problems; the first {MAX_CELL_ISSUES} are "
                  "listed: fix those, then grade again",)
    if len(notes) > MAX_NOTES:
        notes = notes[:MAX_NOTES - 1] + (f"and {len(notes) - MAX_NOTES + 1} more notes",)
    return kept, notes


@dataclass(frozen=True)
class NotebookResult:
    notebook: str
    assignment: str | None
    course_version: str | None
    functions: tuple[FunctionResult, ...] = ()
    cell_issues: tuple[CellIssue, ...] = ()
    notes: tuple[str, ...] = ()
    error: str = ""
    """Set when the notebook could not be graded at all; then functions is empty."""
    duration: float = 0.0
    stored_cases_only: bool = False
    metadata: dict[str, Any] = field(default_factory=dict)
    materials: dict[str, Any] = field(default_factory=dict)
    """The solutions and expected values used: name -> {"path", "sha256"} (None: no solutions)."""

    def __post_init__(self) -> None:
        issues, notes = _bounded(tuple(self.cell_issues), tuple(self.notes))
        object.__setattr__(self, "cell_issues", issues)
        object.__setattr__(self, "notes", notes)
        object.__setattr__(self, "error", cut(self.error, ERROR_CHARS))

    @property
    def graded(self) -> bool:
        return not self.error

    def _total(self, section: str, attribute: str) -> float:
        return round(sum(getattr(f, attribute) for f in self.functions if f.section == section), 6)

    @property
    def score(self) -> float:
        return self._total("required", "score")

    @property
    def max_score(self) -> float:
        return self._total("required", "max_score")

    @property
    def optional_score(self) -> float:
        return self._total("optional", "score")

    @property
    def optional_max_score(self) -> float:
        return self._total("optional", "max_score")

    @property
    def percent(self) -> float:
        return 100.0 * self.score / self.max_score if self.max_score else 0.0

    def to_json(self) -> dict[str, Any]:
        """The documented, versioned JSON form (see README.md, "JSON results")."""
        return {
            "schema_version": RESULT_SCHEMA_VERSION,
            "notebook": self.notebook,
            "assignment": self.assignment,
            "course_version": self.course_version,
            "graded": self.graded,
            "error": self.error,
            "score": self.score,
            "max_score": self.max_score,
            "optional_score": self.optional_score,
            "optional_max_score": self.optional_max_score,
            "stored_cases_only": self.stored_cases_only,
            "materials": self.materials,
            "duration_seconds": round(self.duration, 3),
            "notes": list(self.notes),
            "cell_issues": [asdict(issue) for issue in self.cell_issues],
            "functions": [
                {
                    "name": f.name,
                    "section": f.section,
                    "score": f.score,
                    "max_score": f.max_score,
                    "status": f.status.value,
                    "cases_passed": f.cases_passed,
                    "cases_total": len(f.cases),
                    "messages": list(f.messages),
                    "diagnosis": f.diagnosis,
                    "traceback": f.traceback,
                    "reference_dependencies": list(f.reference_dependencies),
                    "cases": [asdict(case) for case in f.cases],
                }
                for f in self.functions
            ],
        }
