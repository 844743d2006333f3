"""``check(function)``: the in-notebook self-check our assignment notebooks call under each graded
function. It grades that one function exactly as ``grade`` would (same sandbox, same cases) and
shows the verdict in Jupyter.

The code it grades is what the kernel has run so far (IPython's input history, in order), so the
verdict matches the notebook's current state; outside IPython it grades the function's module.
Inside a grading worker it does nothing: grading a notebook must not start graders recursively.
"""
from __future__ import annotations

import inspect
import os
import shutil
import sys
import tempfile
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any, Callable

import nbformat
from rich.console import Console

from .config import GradeConfig
from .course import ASSIGNMENTS
from .results import FunctionResult


def _history() -> list[str] | None:
    shell = sys.modules.get("IPython") and getattr(sys.modules["IPython"], "get_ipython", lambda: None)()
    if shell is None:
        return None
    inputs = shell.user_ns.get("In") or []
    return [source for source in inputs[1:] if source.strip()]


def _sources(function: Callable[..., Any]) -> list[str]:
    history = _history()
    if history:
        return history
    module = sys.modules.get(getattr(function, "__module__", ""), None)
    path = getattr(module, "__file__", None)
    if path and Path(path).is_file():
        return [Path(path).read_text()]
    return ["import numpy as np", inspect.getsource(function)]


def _assignment_of(name: str, sources: list[str]) -> Any:
    """The assignment whose item ``name`` is, told by what the running notebook defines: two
    assignments may grade items of the same name (lstm_cell_backward), so the name alone is not enough."""
    from .load import assignment_scores, defined_and_marked

    candidates = [spec for spec in ASSIGNMENTS.values() if name in spec.function_names]
    if len(candidates) < 2:
        return candidates[0] if candidates else None
    scores = assignment_scores(*defined_and_marked(sources))
    return max(candidates, key=lambda spec: scores.get(spec.name, 0))


@dataclass(frozen=True, repr=False)
class CheckedFunction(FunctionResult):
    """What ``check`` returns: the FunctionResult, with a one-line repr. As the last line of a cell,
    Jupyter would otherwise print the whole dataclass under the panel ``check`` has already shown."""

    def __repr__(self) -> str:
        return f"<check {self.name}: {self.status.value}, {self.score:g}/{self.max_score:g}>"

    def _ipython_display_(self) -> None:
        """The verdict is on screen already (the panel): Jupyter shows nothing more."""


def check(function: Callable[..., Any], *, console: Console | None = None,
          config: GradeConfig | None = None) -> CheckedFunction | None:
    """Grade one function of the running notebook and show the verdict; returns the result."""
    if os.environ.get("GRADER_WORKER"):
        return None
    from .load import defined_and_marked
    from .pipeline import grade_notebook
    from .report import function_details

    name = getattr(function, "__name__", "")
    sources = _sources(function)
    assignment = _assignment_of(name, sources)
    console = console or Console()
    if assignment is None:
        console.print(f"check: {name!r} is not a graded function of "
                      f"{', '.join(ASSIGNMENTS)}; keep the function's original name.")
        return None
    with tempfile.TemporaryDirectory(prefix="grader-check-") as folder:
        for helper in assignment.helpers:  # the student's own helper modules, if they sit here
            if helper.endswith(".py") and Path(helper).is_file():
                shutil.copyfile(helper, Path(folder) / helper)
        nb = nbformat.v4.new_notebook()
        nb.cells = [nbformat.v4.new_code_cell(source) for source in sources]
        path = Path(folder) / f"{assignment.name}.ipynb"
        nbformat.write(nb, str(path))
        base = config or GradeConfig()
        # With the graded functions it calls: if one of those fails, the reference stands in for it and
        # this one may pass, which the verdict must say (as the command's report does), not hide.
        # Only those the running code defines: one merely absent here would read as failing.
        defined, _ = defined_and_marked(sources)
        calls = [dep for dep in next((spec.depends_on for spec in assignment.functions if spec.name == name), ())
                 if dep in defined]
        result = grade_notebook(path, base.with_changes(assignment=assignment.name, only=(name, *calls)))
    if not result.graded:
        from .textsafe import terminal

        console.print(terminal(f"check: could not grade {name}: {result.error}"))  # may quote the student's code
        return None
    graded = next(function for function in result.functions if function.name == name)
    console.print(function_details(graded))
    return CheckedFunction(**{item.name: getattr(graded, item.name) for item in fields(graded)})
