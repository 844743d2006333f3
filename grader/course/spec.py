"""Vocabulary of the course description: assignments, graded items, cases, tolerances, judges.

This is the seam between the pipeline and the assignments: an assignment (a package under
grader/course/) describes itself with these values, and the shared stages read nothing else.
"""
from __future__ import annotations

import collections
import importlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Mapping, Protocol

import numpy as np

if TYPE_CHECKING:  # only for annotations: the judges import this module
    from ..compare import Mismatch
    from ..execute import CallOutcome


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


@dataclass(frozen=True)
class Expectation:
    """What one case should produce, as the item's judge computed it from the reference."""

    value: Any = None
    """The reference's return value."""
    args_after: dict[int, Any] = field(default_factory=dict)
    """Arguments the function must update in place, as the reference leaves them."""
    stable_prefix: int | None = None
    """For judges of random draws: how many leading draws are safe from float-noise chaos."""
    variants: dict[str, Any] | None = None
    """For judges that accept several published protocols: the expected result of each."""


@dataclass(frozen=True)
class Mistake:
    """A known student mistake: the reference with that one error (our code, grader side only)."""

    key: str
    message: str
    """What the student sees when this mistake reproduces their output."""
    variant: Callable[..., Any]
    """Takes the graded item's arguments, like the item itself."""


References = dict[str, Callable[..., Any]]


class Judge(Protocol):
    """How the outcomes of one graded item are judged (judges.py has the stock ones).

    ``form`` is the calling protocol the student's own parameters declare (``input_form``), for items
    whose signature changed between published versions; None for the rest."""

    name: str
    drives: bool
    """A graded class: each case's only argument is a script of calls (grader/drive.py)."""

    def invoke(self, function: Any, args: list, kwargs: dict) -> Any:
        """Run the reference or a mistake model on a case's call, the way the worker runs the student's."""

    def input_form(self, params: list[str] | None) -> str | None: ...

    def expect(self, spec: "FunctionSpec", recipe: dict, references: References,
               form: str | None = None) -> Expectation: ...

    def mismatches(self, spec: "FunctionSpec", expectation: Expectation, value: Any, args_after: list | None,
                   tol: "Tolerance", form: str | None = None) -> "list[Mismatch]": ...

    def differs(self, spec: "FunctionSpec", expectation: Expectation, produced: Any, args_after: list,
                tol: "Tolerance") -> bool:
        """Would a mistake that produced this be told apart from the right answer? (diagnosis)"""

    def reproduces(self, spec: "FunctionSpec", expectation: Expectation, produced: Any, args_after: list,
                   outcome: "CallOutcome", tol: "Tolerance") -> bool:
        """Does the student's outcome match what a mistake model produced? (diagnosis)"""


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
    judge: Judge | None = None
    """How its outcomes are judged; None: the whole return value against the reference (judges.VALUES)."""
    tolerance: Tolerance = Tolerance()
    check_args_after: tuple[int, ...] = ()
    """Positional arguments that the function must update in place (checked after the call)."""
    may_change_args: bool = False
    """The course's own template changes the arguments in place (clip in v1-v3a): no note about it."""
    hint: str = ""
    """One line shown with any failure of this function."""
    mistakes: tuple[Mistake, ...] = ()
    """Known mistakes, in the order diagnosis tries them."""
    error_patterns: tuple[tuple[str, str], ...] = ()
    """(regular expression on "ExceptionType: message", diagnosis) for errors with a well-known cause here."""


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
    home: "Path | None" = None
    """A folder with this assignment's own solutions/, assignments/ and expected/ (an assignment that
    comes from outside the grader's package); None: the grader's bundled folders."""
    versions: tuple[str, ...] = ("grader-1",)
    """The versions its notebooks may be reported as: a fixed list, never text from a notebook."""
    version_clues: Callable[[str, "str | None"], "str | None"] | None = None
    """(the notebook's code cells joined, what its file name and markdown say or None) -> its version.
    None: the file name and markdown alone decide."""

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



def mistake_models(package: str) -> Mapping[str, list[Mistake]]:
    """The mistake models of the assignment in ``package`` (its ``mistakes`` module), or none in a
    student build, which leaves them out (setup.py): each is the reference with a switch for one
    mistake, so with the switches off it is the solution. Without them, failing cases get no
    "Likely mistake" diagnosis; everything else is graded the same."""
    try:
        module = importlib.import_module(f"{package}.mistakes")
    except ModuleNotFoundError as error:
        if error.name != f"{package}.mistakes":
            raise
        return collections.defaultdict(list)
    return module.MISTAKES
