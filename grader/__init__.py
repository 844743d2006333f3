"""grader: the autograder for the numpy RNN notebooks (RNN step by step, Dinosaur Island).

Public API (everything else is internal):

    grade_notebook(path, config) -> NotebookResult     one notebook, the whole pipeline
    grade_batch(paths, out, config) -> BatchSummary    a class, parallel and resumable
    check(function)                                    the in-notebook self-check
    GradeConfig, NotebookResult, FunctionResult, CaseResult, CellIssue, Status, GraderError
"""
from __future__ import annotations

from typing import Any

__all__ = ["CaseResult", "CellIssue", "FunctionResult", "GradeConfig", "GraderError", "NotebookResult", "Status",
           "check", "grade_batch", "grade_notebook"]

_EXPORTS = {
    "CaseResult": "results", "CellIssue": "results", "FunctionResult": "results", "NotebookResult": "results",
    "Status": "results", "GradeConfig": "config", "GraderError": "errors", "check": "selfcheck",
    "grade_batch": "batch", "grade_notebook": "pipeline",
}


def __getattr__(name: str) -> Any:
    # Imported lazily so that `from grader import check` in a notebook stays cheap.
    if name in _EXPORTS:
        import importlib

        return getattr(importlib.import_module(f".{_EXPORTS[name]}", __name__), name)
    raise AttributeError(f"module 'grader' has no attribute {name!r}")
