"""Errors the grader reports to its user, as one line and an exit code.

    GraderError                 anything that stops a notebook from being graded at all (exit 2)
    ├── NotebookError           the file is not a readable notebook (missing, empty, bad JSON, ...)
    ├── UnknownAssignment       no assignment matches the notebook, or --assignment names none
    ├── UsageError              the command line asks for something impossible
    └── CourseMaterialError     the grader's own solutions/, expected/ and recipes disagree (for the instructor)

Problems inside a notebook (a cell that raises, a missing function, a timeout) are not errors:
they become results with a status and a message, and the rest is still graded.
"""
from __future__ import annotations

from typing import ClassVar


class GraderError(Exception):
    """A problem that stops grading; ``str(error)`` is the message the user sees."""

    exit_code: ClassVar[int] = 2

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def __reduce__(self):  # keep the message when crossing process boundaries
        return (type(self), (self.message,))


class NotebookError(GraderError):
    """The file cannot be read as a notebook."""


class UnknownAssignment(GraderError):
    """The notebook is not one of the assignments this grader knows."""


class UsageError(GraderError):
    """The command line is inconsistent."""


class CourseMaterialError(GraderError):
    """The installed course material contradicts itself: grading with it would blame students."""
