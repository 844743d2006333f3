"""A failure's root cause in an earlier cell: pure functions, no I/O.

When a cell fails while the notebook loads (an import line with a syntax error, an error above the
imports), everything it would have defined is missing, and every graded function that uses it fails
with a NameError that points at the function, not at the cell. The report names that cell first.

Cells with a syntax error cannot be parsed, so the names a cell binds are read from its lines: the
top-level imports, assignments, definitions and ``for`` targets, which is what notebooks bind.
"""
from __future__ import annotations

import dataclasses
import re
from typing import Iterable, Mapping

from .results import CellIssue, FunctionResult, Status

_IMPORT = re.compile(r"^import\s+(.+)$")
_FROM = re.compile(r"^from\s+\S+\s+import\s+\(?([^)#]+)\)?")
_ASSIGN = re.compile(r"^([A-Za-z_]\w*(?:\s*,\s*[A-Za-z_]\w*)*)\s*(?::[^=]+)?=(?!=)")
_DEFINE = re.compile(r"^(?:async\s+)?(?:def|class)\s+([A-Za-z_]\w*)")
_FOR = re.compile(r"^for\s+([A-Za-z_]\w*(?:\s*,\s*[A-Za-z_]\w*)*)\s+in\b")
_NAME_ERROR = re.compile(r"NameError: name '([A-Za-z_]\w*)' is not defined")

#: What a failed cell did, in the note's words.
_FAILED = {"syntax": "did not run (it has a syntax error)", "error": "stopped with an error",
           "timeout": "did not finish in time", "crashed": "crashed the worker"}
STAR = "*"


def names_bound(source: str) -> set[str]:
    """The names a cell binds at top level, read line by line; ``*`` for a star import."""
    found: set[str] = set()
    for line in source.splitlines():
        if line[:1].isspace():
            continue  # inside a block: not the cell's own top level
        line = line.split("#", 1)[0].rstrip()
        if match := _IMPORT.match(line):
            found.update(part.split(" as ")[-1].strip().split(".")[0] for part in match.group(1).split(","))
        elif match := _FROM.match(line):
            found.update(part.split(" as ")[-1].strip() for part in match.group(1).split(","))
        elif match := _DEFINE.match(line) or _FOR.match(line) or _ASSIGN.match(line):
            found.update(name.strip() for name in match.group(1).split(","))
    return {name for name in found if name == STAR or name.isidentifier()}


def failed_binders(issues: Iterable[CellIssue], sources: Mapping[int, str]) -> dict[str, CellIssue]:
    """{name: the first failed cell that binds it}, over the cells that failed while loading;
    ``*`` maps to the first failed cell with a star import (it may bind anything)."""
    binders: dict[str, CellIssue] = {}
    for issue in sorted(issues, key=lambda issue: issue.cell):
        if issue.kind in _FAILED:
            for name in names_bound(sources.get(issue.cell, "")):
                binders.setdefault(name, issue)
    return binders


def note_failed_cells(results: list[FunctionResult], binders: Mapping[str, CellIssue],
                      bound_elsewhere: set[str]) -> list[FunctionResult]:
    """7. A function that fails on a name which a cell that failed while loading would have defined
    says so first: the function may well be right, and that cell is what to fix. A star import in a
    failed cell is named only for a name no other cell binds (it may or may not come from there)."""
    noted = []
    for result in results:
        texts = (result.traceback, *result.messages)
        match = next((found for found in map(_NAME_ERROR.search, texts) if found), None)
        if match is not None and result.status != Status.PASSED:
            name = match.group(1)
            issue, maybe = binders.get(name), False
            if issue is None and name not in bound_elsewhere and STAR in binders:
                issue, maybe = binders[STAR], True
            if issue is not None:
                note = (f"`{name}` is not defined: {issue.where}, which "
                        f"{'may define it (import *)' if maybe else 'defines it'}, {_FAILED[issue.kind]} when the "
                        "notebook was loaded. Fix that cell first, then grade again.")
                result = dataclasses.replace(result, messages=(note, *result.messages))
        noted.append(result)
    return noted
