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


def check(function: Callable[..., Any], *, console: Console | None = None,
          config: GradeConfig | None = None) -> FunctionResult | None:
    """Grade one function of the running notebook and show the verdict; returns the result."""
    if os.environ.get("GRADER_WORKER"):
        return None
    from .pipeline import grade_notebook
    from .report import function_details

    name = getattr(function, "__name__", "")
    assignment = next((spec for spec in ASSIGNMENTS.values() if name in spec.function_names), None)
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
        nb.cells = [nbformat.v4.new_code_cell(source) for source in _sources(function)]
        path = Path(folder) / f"{assignment.name}.ipynb"
        nbformat.write(nb, str(path))
        base = config or GradeConfig()
        result = grade_notebook(path, base.with_changes(assignment=assignment.name, only=(name,)))
    if not result.graded:
        console.print(f"check: could not grade {name}: {result.error}")
        return None
    graded = result.functions[0]
    console.print(function_details(graded))
    return graded
