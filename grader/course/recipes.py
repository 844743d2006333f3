"""Turn a case recipe (plain JSON) into the arguments of a call, in the grader's process.

A recipe is a seed and a list of steps run in order against one ``numpy.random.RandomState``,
so the draw order of the course's own test cells is reproduced exactly:

    ["draw", "parameters.Waa", [5, 5]]         np.random.randn(5, 5), optionally times a scale
    ["draw", "gradients.dWax", [5, 3], 10]
    ["zeros", "parameters.Wy", [2, 5]]
    ["value", "maxValue", 10]                   a literal (lists stay lists)
    ["assign", "parameters.by", [0, 0], -10.0]  change one entry of something drawn
    ["square", "s.dW1"]                         square something drawn (values that must be >= 0)
    ["reference", "lstm_forward", ["x", "a0", "parameters"], ["a", "y", "c", "caches"]]
    ["uniform", "weight_ih", [5, 4], -0.45, 0.45]  uniform draws (numpy's random_sample when 0 to 1)
    ["script", "script", [["new", ["W"]], ["call", "__call__", ["x.0", "h0"], "hidden"],
                          ["call", "backward", ["dh.0"], "dx"], ["get", "dW", "dW"]]]
                                                a graded class's script (drive.py): paths become values,
                                                {"kept": name, "at": i} stays for the driver

An assignment adds step kinds of its own with ``register_step`` (Dinosaur Island's vocabulary and
names data set, for instance); data files it reads come from ``course_data``.

"reference" runs a reference solution (backward cases need forward caches); stored cases keep its
result in the step (a fifth element) so they can be built without the solutions.
The call itself is ``args`` (a list of paths) and ``kwargs`` (name -> path).
"""
from __future__ import annotations

import copy
import threading
from collections import OrderedDict
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable

import numpy as np

from .. import resources

if TYPE_CHECKING:
    from .spec import AssignmentSpec

#: name -> callable, for "reference" steps; None when no solutions are available.
ReferenceLookup = Callable[[str], Callable[..., Any]] | None


class RecipeError(Exception):
    """A recipe that cannot be built here (e.g. it needs the solutions and there are none)."""


#: `grade release` points this at solutions/ while it computes expected values from it.
DATA_ROOT_OVERRIDE: list[Path] = []


def course_data(relative: str, assignment: AssignmentSpec | None = None) -> Path:
    """A course data file (as students get it in assignments/, or from solutions/ during a release).

    An assignment installed apart from the grader (``AssignmentSpec.home``) passes its spec: its
    files are in its own home, never in the bundled folders a release points elsewhere."""
    if assignment is not None and assignment.home is not None:
        return resources.assignments_dir(assignment) / relative
    root = DATA_ROOT_OVERRIDE[-1] if DATA_ROOT_OVERRIDE else resources.assignments_dir()
    return root / relative


#: Runs one step of an assignment's own kind: (step, env) -> None, setting values with ``set_path``.
StepRunner = Callable[[list, dict], None]
_STEPS: dict[str, StepRunner] = {}


def register_step(kind: str, runner: StepRunner) -> None:
    """Let recipes use ``[kind, ...]`` steps; the assignment that defines them calls this on import."""
    if kind in _STEPS and _STEPS[kind] is not runner:
        raise ValueError(f"recipe step {kind!r} is already defined by another assignment")
    _STEPS[kind] = runner


def set_path(env: dict, path: str, value: Any) -> None:
    *parents, last = path.split(".")
    for key in parents:
        env = env.setdefault(key, {})
    env[last] = value


def get_path(env: dict, path: str) -> Any:
    for key in path.split("."):
        env = env[key]
    return env


#: Idle RandomStates of this thread, to be seeded again: seeding one costs ~3 us, making one ~200 us,
#: and a notebook's cases run some fifty recipes. Taken out while a recipe runs (a "reference" step
#: cannot share its recipe's), put back after.
_IDLE = threading.local()


def _seeded(seed: Any) -> np.random.RandomState:
    idle = _IDLE.__dict__.setdefault("states", [])
    random = idle.pop() if idle else np.random.RandomState()
    random.seed(seed)  # the same stream as np.random.RandomState(seed) (tests/test_fast_paths.py)
    return random


def run_steps(recipe: dict, reference: ReferenceLookup, record: bool = False) -> dict:
    """Run the recipe's steps; with ``record``, reference results are stored into the recipe."""
    random = _seeded(recipe.get("seed", 0))
    try:
        return _run(recipe, random, reference, record)
    finally:
        _IDLE.__dict__.setdefault("states", []).append(random)


def _run(recipe: dict, random: np.random.RandomState, reference: ReferenceLookup, record: bool) -> dict:
    env: dict[str, Any] = {}
    for step in recipe.get("steps", []):
        kind = step[0]
        if kind == "draw":
            scale = step[3] if len(step) > 3 else 1
            value = random.randn(*step[2])
            set_path(env, step[1], value * scale if scale != 1 else value)
        elif kind == "uniform":
            set_path(env, step[1], random.uniform(step[3], step[4], size=step[2]))
        elif kind == "script":
            set_path(env, step[1], [_script_step(item, env) for item in step[2]])
        elif kind == "zeros":
            set_path(env, step[1], np.zeros(step[2]))
        elif kind == "value":
            set_path(env, step[1], copy.deepcopy(step[2]))
        elif kind == "square":
            set_path(env, step[1], get_path(env, step[1]) ** 2)
        elif kind == "assign":
            get_path(env, step[1])[tuple(step[2])] = step[3]
        elif kind == "reference":
            outputs = _reference_outputs(step, env, reference, record)
            for path, value in zip(step[3], outputs):
                set_path(env, path, value)
        elif kind in _STEPS:
            _STEPS[kind](step, env)
        else:
            raise RecipeError(f"unknown recipe step {kind!r}")
    return env


def _script_step(item: list, env: dict) -> dict:
    def value(arg: Any) -> Any:
        return copy.deepcopy(get_path(env, arg)) if isinstance(arg, str) else arg

    kind = item[0]
    if kind == "new":
        return {"new": [value(arg) for arg in item[1]]}
    if kind == "call":
        return {"call": item[1], "args": [value(arg) for arg in item[2]], "keep": item[3] if len(item) > 3 else ""}
    if kind == "get":
        return {"get": item[1], "keep": item[2]}
    raise RecipeError(f"unknown script step {kind!r}")


def _reference_outputs(step: list, env: dict, reference: ReferenceLookup, record: bool) -> tuple:
    from ..expected import from_json, to_json  # local: expected.py imports this module

    if len(step) > 4 and not record:
        return tuple(from_json(step[4]))
    if reference is None:
        raise RecipeError(f"this case needs the reference {step[1]}, and no solutions are available")
    result = reference(step[1])(*copy.deepcopy([get_path(env, path) for path in step[2]]))
    outputs = result if isinstance(result, tuple) else (result,)
    if record:
        del step[4:]
        step.append(to_json(list(outputs)))
    return outputs


#: The last recipes built, by identity: each published recipe is built for every notebook, each hidden
#: one twice (its expected value, then the student's call). An entry holds its recipe, so that id
#: cannot be given to another recipe while the entry lives; recipes are never changed once built
#: (only a release records into them, through run_steps).
_BUILT: OrderedDict[int, tuple[dict, ReferenceLookup, dict]] = OrderedDict()
_BUILT_LOCK = threading.Lock()
_BUILT_MAX = 64


def _environment(recipe: dict, reference: ReferenceLookup) -> dict:
    """A fresh copy of what the recipe's steps make (copying is ~7x cheaper than drawing again)."""
    with _BUILT_LOCK:
        hit = _BUILT.get(id(recipe))
        if hit is not None and hit[0] is recipe and hit[1] == reference:
            _BUILT.move_to_end(id(recipe))
            return copy.deepcopy(hit[2])
    env = run_steps(recipe, reference)
    with _BUILT_LOCK:
        _BUILT[id(recipe)] = (recipe, reference, env)
        while len(_BUILT) > _BUILT_MAX:
            _BUILT.popitem(last=False)
    return copy.deepcopy(env)


def build_call(recipe: dict, reference: ReferenceLookup, variant: str | None = None) -> tuple[list, dict]:
    """The (args, kwargs) of the call the recipe describes (fresh objects every time)."""
    env = _environment(recipe, reference)
    call = recipe["variants"][variant] if variant else recipe
    args = [get_path(env, path) for path in call.get("args", [])]
    kwargs = {name: get_path(env, path) for name, path in call.get("kwargs", {}).items()}
    return args, kwargs
