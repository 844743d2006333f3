"""Vocabulary of the course description: assignments, graded functions, cases, tolerances."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

import numpy as np


@dataclass(frozen=True)
class Tolerance:
    rtol: float = 1e-6
    atol: float = 1e-9


@dataclass(frozen=True)
class Case:
    """One call of one function: a recipe the grader turns into inputs in its own process."""

    function: str
    name: str
    recipe: dict
    """JSON-able: seed, draw order and shapes (see recipes.py)."""
    hidden: bool = False


#: Builds the hidden-case recipes of a function from a random generator (count, rng) -> recipes.
HiddenRecipes = Callable[[int, np.random.Generator], "list[dict]"]


@dataclass(frozen=True)
class FunctionSpec:
    name: str
    params: tuple[str, ...]
    outputs: tuple[str, ...]
    """Names of the returned values, for messages ("a_next", "yt_pred", "cache")."""
    points: float
    section: str = "required"
    depends_on: tuple[str, ...] = ()
    """Graded functions it calls: replaced by the reference while it is judged."""
    published: tuple[tuple[str, dict], ...] = ()
    """(case name, recipe) of the course's own published test inputs."""
    hidden: HiddenRecipes | None = None
    judge: str = "values"
    """"values" (compare everything), "sample" or "model" (see judges.py)."""
    tolerance: Tolerance = Tolerance()
    check_args_after: tuple[int, ...] = ()
    """Positional arguments that the function must update in place (checked after the call)."""
    may_change_args: bool = False
    """The course's own template changes the arguments in place (clip in v1-v3a): no note about it."""
    hint: str = ""
    """One line shown with any failure of this function."""


@dataclass(frozen=True)
class AssignmentSpec:
    name: str
    title: str
    functions: tuple[FunctionSpec, ...]
    notebook: str
    """File name of the notebook in solutions/ and assignments/."""
    helpers: tuple[str, ...]
    """Files copied next to the notebook in the worker's folder (paths relative to assignments/)."""
    data_links: dict[str, str] = field(default_factory=dict)
    """Extra names for helper files in the worker's folder (course notebooks open "dinos.txt")."""
    skip_calls: tuple[str, ...] = ()
    """Top-level calls of these functions are demos (long training runs) and are not run at load."""
    title_words: tuple[str, ...] = ()
    """Words in a notebook's file name that point to this assignment."""
    reference_modules: tuple[str, ...] = ()
    """Helper modules (in solutions/) whose names the reference functions use."""

    def function(self, name: str) -> FunctionSpec:
        for spec in self.functions:
            if spec.name == name:
                return spec
        raise KeyError(name)

    @property
    def function_names(self) -> tuple[str, ...]:
        return tuple(spec.name for spec in self.functions)

    def required_names(self) -> tuple[str, ...]:
        return tuple(spec.name for spec in self.functions if spec.section == "required")

