"""The reference solutions, loaded into the grader's own process from solutions/*.ipynb.

This is our code, not a student's: the graded-function cells of the reference notebook are
executed here, in a namespace holding the reference helper modules, so the grader can compute
expected values live (hidden cases) and stand in for a student's dependencies.
"""
from __future__ import annotations

import builtins
import copy
import importlib.util
import json
import random
import threading
from pathlib import Path
from typing import Any, Callable

import numpy as np

from .spec import AssignmentSpec

#: numpy's global random state is used by the reference sample() and model(); one at a time.
REFERENCE_LOCK = threading.RLock()

_CACHE: dict[tuple[str, str], dict[str, Callable[..., Any]]] = {}


def _load_module(path: Path, name: str) -> Any:
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    assert spec.loader is not None
    spec.loader.exec_module(module)
    return module


def graded_sources(notebook: Path) -> list[str]:
    cells = json.loads(notebook.read_text())["cells"]
    sources = ["".join(c["source"]) if isinstance(c["source"], list) else c["source"] for c in cells if c["cell_type"] == "code"]
    return [source for source in sources if "GRADED FUNCTION:" in source or "GRADED CLASS:" in source]


def load_reference(assignment: AssignmentSpec, solutions: Path) -> dict[str, Callable[..., Any]]:
    """name -> reference function, for every graded function of the assignment."""
    key = (assignment.name, str(solutions.resolve()))
    if key in _CACHE:
        return _CACHE[key]
    namespace: dict[str, Any] = {"__builtins__": builtins, "np": np, "copy": copy, "random": random,
                                 "__name__": f"grader_reference_{assignment.name}"}
    for helper in assignment.reference_modules:
        module = _load_module(solutions / helper, f"grader_reference_{Path(helper).stem}")
        namespace.update({k: v for k, v in vars(module).items() if not k.startswith("_")})
    for source in graded_sources(solutions / assignment.notebook):
        exec(compile(source, f"<reference {assignment.notebook}>", "exec"), namespace)
    functions = {name: namespace[name] for name in assignment.function_names if name in namespace}
    _CACHE[key] = functions
    return functions


def call_reference(function: Callable[..., Any], args: list, kwargs: dict) -> Any:
    with REFERENCE_LOCK:
        return function(*args, **kwargs)
