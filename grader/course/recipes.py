"""Turn a case recipe (plain JSON) into the arguments of a call, in the grader's process.

A recipe is a seed and a list of steps run in order against one ``numpy.random.RandomState``,
so the draw order of the course's own test cells is reproduced exactly:

    ["draw", "parameters.Waa", [5, 5]]         np.random.randn(5, 5), optionally times a scale
    ["draw", "gradients.dWax", [5, 3], 10]
    ["zeros", "parameters.Wy", [2, 5]]
    ["value", "maxValue", 10]                   a literal (lists stay lists)
    ["assign", "parameters.by", [0, 0], -10.0]  change one entry of something drawn
    ["square", "s.dW1"]                         square something drawn (values that must be >= 0)
    ["vocabulary", "char_to_ix", "ix_to_char"]  the course's 27-character maps
    ["names", "data", "text" | "split", N]      the bundled names data set (optionally its first N names)
    ["reference", "lstm_forward", ["x", "a0", "parameters"], ["a", "y", "c", "caches"]]

"reference" runs a reference solution (backward cases need forward caches); stored cases keep its
result in the step (a fifth element) so they can be built without the solutions.
The call itself is ``args`` (a list of paths) and ``kwargs`` (name -> path).
"""
from __future__ import annotations

import copy
import string
from typing import Any, Callable

import numpy as np

from .. import resources

#: name -> callable, for "reference" steps; None when no solutions are available.
ReferenceLookup = Callable[[str], Callable[..., Any]] | None


class RecipeError(Exception):
    """A recipe that cannot be built here (e.g. it needs the solutions and there are none)."""


def vocabulary() -> tuple[dict[str, int], dict[int, str]]:
    chars = ["\n", *string.ascii_lowercase]
    return {ch: i for i, ch in enumerate(chars)}, {i: ch for i, ch in enumerate(chars)}


#: `grade release` points this at solutions/datasets/dinos.txt while it computes expected values.
NAMES_OVERRIDE: list = []


def names_text() -> str:
    path = NAMES_OVERRIDE[-1] if NAMES_OVERRIDE else resources.assignments_dir() / "datasets" / "dinos.txt"
    return path.read_text()


def _set(env: dict, path: str, value: Any) -> None:
    *parents, last = path.split(".")
    for key in parents:
        env = env.setdefault(key, {})
    env[last] = value


def _get(env: dict, path: str) -> Any:
    for key in path.split("."):
        env = env[key]
    return env


def run_steps(recipe: dict, reference: ReferenceLookup, record: bool = False) -> dict:
    """Run the recipe's steps; with ``record``, reference results are stored into the recipe."""
    random = np.random.RandomState(recipe.get("seed", 0))
    env: dict[str, Any] = {}
    for step in recipe.get("steps", []):
        kind = step[0]
        if kind == "draw":
            scale = step[3] if len(step) > 3 else 1
            value = random.randn(*step[2])
            _set(env, step[1], value * scale if scale != 1 else value)
        elif kind == "zeros":
            _set(env, step[1], np.zeros(step[2]))
        elif kind == "value":
            _set(env, step[1], copy.deepcopy(step[2]))
        elif kind == "square":
            _set(env, step[1], _get(env, step[1]) ** 2)
        elif kind == "assign":
            _get(env, step[1])[tuple(step[2])] = step[3]
        elif kind == "vocabulary":
            char_to_ix, ix_to_char = vocabulary()
            _set(env, step[1], char_to_ix)
            _set(env, step[2], ix_to_char)
        elif kind == "names":
            text = names_text().lower()
            if len(step) > 3:  # only the first N names: a short run then wraps around the data set
                text = "".join(text.splitlines(keepends=True)[: step[3]])
            _set(env, step[1], text.split("\n") if step[2] == "split" else text)
        elif kind == "reference":
            outputs = _reference_outputs(step, env, reference, record)
            for path, value in zip(step[3], outputs):
                _set(env, path, value)
        else:
            raise RecipeError(f"unknown recipe step {kind!r}")
    return env


def _reference_outputs(step: list, env: dict, reference: ReferenceLookup, record: bool) -> tuple:
    from ..expected import from_json, to_json  # local: expected.py imports this module

    if len(step) > 4 and not record:
        return tuple(from_json(step[4]))
    if reference is None:
        raise RecipeError(f"this case needs the reference {step[1]}, and no solutions are available")
    result = reference(step[1])(*copy.deepcopy([_get(env, path) for path in step[2]]))
    outputs = result if isinstance(result, tuple) else (result,)
    if record:
        del step[4:]
        step.append(to_json(list(outputs)))
    return outputs


def build_call(recipe: dict, reference: ReferenceLookup, variant: str | None = None) -> tuple[list, dict]:
    """The (args, kwargs) of the call the recipe describes (fresh objects every time)."""
    env = run_steps(recipe, reference)
    call = recipe["variants"][variant] if variant else recipe
    args = [_get(env, path) for path in call.get("args", [])]
    kwargs = {name: _get(env, path) for name, path in call.get("kwargs", {}).items()}
    return args, kwargs
