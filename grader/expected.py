"""Expected values: computed from the reference solutions, stored in expected/<assignment>.json.

The file is human-readable and versioned (``schema_version``); for every stored case it holds the
input recipe (seed, draw order, shapes), the tolerance and every output the grader checks, as
full arrays. ``grade release`` regenerates it; a test fails when it is stale.

Hidden cases use the same ``compute_expectation``, live, with freshly drawn recipes.
"""
from __future__ import annotations

import copy
import json
import random
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np

from .course.recipes import build_call, names_text, run_steps
from .course.spec import AssignmentSpec, Case, FunctionSpec, Tolerance
from .course.reference import call_reference
from .errors import GraderError

SCHEMA_VERSION = 1
References = dict[str, Callable[..., Any]]


# --- a JSON form of values that keeps arrays, tuples and dtypes ---------------------------

def to_json(value: Any) -> Any:
    if isinstance(value, np.ndarray):
        return {"array": value.tolist(), "dtype": str(value.dtype), "shape": list(value.shape)}
    if isinstance(value, np.generic):
        return {"scalar": value.item(), "dtype": str(value.dtype)}
    if isinstance(value, tuple):
        return {"tuple": [to_json(item) for item in value]}
    if isinstance(value, list):
        return [to_json(item) for item in value]
    if isinstance(value, dict):
        if all(isinstance(key, str) for key in value):
            return {"dict": {key: to_json(item) for key, item in value.items()}}
        return {"items": [[to_json(key), to_json(item)] for key, item in value.items()]}
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    raise TypeError(f"cannot store a {type(value).__name__} in expected values")


def from_json(tree: Any) -> Any:
    if isinstance(tree, list):
        return [from_json(item) for item in tree]
    if isinstance(tree, dict):
        if "array" in tree:
            return np.array(tree["array"], dtype=tree["dtype"]).reshape(tree["shape"])
        if "scalar" in tree:
            return np.dtype(tree["dtype"]).type(tree["scalar"])
        if "tuple" in tree:
            return tuple(from_json(item) for item in tree["tuple"])
        if "dict" in tree:
            return {key: from_json(item) for key, item in tree["dict"].items()}
        if "items" in tree:
            return {from_json(key): from_json(item) for key, item in tree["items"]}
    return tree


# --- what a case should produce -------------------------------------------------------------

@dataclass(frozen=True)
class Expectation:
    value: Any = None
    """The reference's return value (judge "values" and "sample")."""
    args_after: dict[int, Any] = field(default_factory=dict)
    """Arguments the function must update in place, as the reference leaves them."""
    stable_prefix: int | None = None
    """sample: how many leading indices are safe from float-noise chaos on any machine."""
    variants: dict[str, Any] | None = None
    """model: the expected result for each published protocol (data_x, data, data_random)."""


def _sample_stable_prefix(function: Callable[..., Any], args: list, baseline: list) -> int:
    """Perturb the weights by ~1e-14 (relative) a few times and see where the draws first diverge.

    Machines differ by that much (BLAS, summation order); with large weights the hidden state is
    chaotic and a tiny difference flips a draw after some dozens of steps. Only the prefix before
    the earliest divergence (minus a margin) may be demanded of a student."""
    prefix = len(baseline)
    for trial in range(3):
        noise = np.random.RandomState(1000 + trial)
        parameters = {key: value * (1 + 1e-14 * noise.standard_normal(value.shape))
                      for key, value in args[0].items()}
        other = [int(i) for i in call_reference(function, [parameters, *copy.deepcopy(args[1:])], {})]
        same = next((n for n, (a, b) in enumerate(zip(baseline, other)) if a != b), min(len(baseline), len(other)))
        prefix = min(prefix, same)
    return prefix if prefix == len(baseline) else max(prefix - 3, 0)


def _presorted_for_numpy_shuffle(order: list, seed: int = 0) -> list:
    """The list that ``np.random.seed(seed); np.random.shuffle(x)`` turns into ``order``.

    The v1/v2 notebooks shuffle with Python's random.shuffle instead; the reference model uses
    numpy's. Feeding it this list makes its shuffle land on the Python order."""
    permutation = np.random.RandomState(seed).permutation(len(order))
    result: list = [None] * len(order)
    for position, source in enumerate(permutation):
        result[source] = order[position]
    return result


def _model_variants(spec: FunctionSpec, recipe: dict, references: References, only: str | None) -> dict[str, Any]:
    model = references[spec.name]
    variants: dict[str, Any] = {}
    if only in (None, "data_x"):
        args, _ = build_call(recipe, references.get, "data_x")
        variants["data_x"] = call_reference(model, args, {})
    if only == "data_x":
        return variants
    old_args, _ = build_call(recipe, references.get, "data")
    lines = [line.lower() for line in names_text().splitlines(keepends=True)]
    variants["data"] = call_reference(model, [lines, *old_args[1:]], {})
    python_order = [line.strip() for line in lines]
    random.Random(recipe.get("seed", 0)).shuffle(python_order)
    variants["data_random"] = call_reference(model, [_presorted_for_numpy_shuffle(python_order), *old_args[1:]], {})
    return variants


def compute_expectation(spec: FunctionSpec, recipe: dict, references: References,
                        variant: str | None = None) -> Expectation:
    """What the reference gives for this recipe (for model: every protocol, or the one ``variant`` needs)."""
    function = references[spec.name]
    if spec.judge == "model":
        return Expectation(variants=_model_variants(spec, recipe, references, variant))
    args, kwargs = build_call(recipe, references.get)
    if spec.judge == "sample":
        baseline = [int(i) for i in call_reference(function, copy.deepcopy(args), kwargs)]
        return Expectation(value=baseline, stable_prefix=_sample_stable_prefix(function, args, baseline))
    value = call_reference(function, args, kwargs)
    return Expectation(value=value, args_after={index: args[index] for index in spec.check_args_after})


# --- the stored file ------------------------------------------------------------------------

def _case_json(spec: FunctionSpec, name: str, recipe: dict, references: References) -> dict:
    recipe = copy.deepcopy(recipe)
    run_steps(recipe, references.get, record=True)  # reference-step results are stored in the recipe
    expectation = compute_expectation(spec, recipe, references)
    entry: dict[str, Any] = {"name": name, "recipe": recipe,
                             "tolerance": {"rtol": spec.tolerance.rtol, "atol": spec.tolerance.atol}}
    if expectation.variants is not None:
        entry["variants"] = {key: to_json(value) for key, value in expectation.variants.items()}
    else:
        entry["expected"] = to_json(expectation.value)
    if expectation.args_after:
        entry["args_after"] = {str(index): to_json(value) for index, value in expectation.args_after.items()}
    if expectation.stable_prefix is not None:
        entry["stable_prefix"] = expectation.stable_prefix
    return entry


def generate(assignment: AssignmentSpec, references: References) -> dict:
    functions = {}
    for spec in assignment.functions:
        functions[spec.name] = {
            "section": spec.section,
            "points": spec.points,
            "judge": spec.judge,
            "cases": [_case_json(spec, name, recipe, references) for name, recipe in spec.published],
        }
    return {
        "schema_version": SCHEMA_VERSION,
        "assignment": assignment.name,
        "generated_by": "grade release (from solutions/%s)" % assignment.notebook,
        "numpy_version": np.__version__,
        "functions": functions,
    }


_NUMBER_LIST = re.compile(r"\[\s*([-+0-9eE.,\sNaInfity]+?)\s*\]")


def render(content: dict) -> str:
    """Indented JSON, with each innermost list of numbers kept on one line (arrays stay readable)."""
    text = json.dumps(content, indent=1)
    return _NUMBER_LIST.sub(lambda match: "[" + " ".join(match.group(1).split()) + "]", text) + "\n"


@dataclass(frozen=True)
class StoredCase:
    case: Case
    expectation: Expectation
    tolerance: Tolerance


_STORED: dict[tuple[str, int], dict[str, list[StoredCase]]] = {}


def load_stored(path: Path) -> dict[str, list[StoredCase]]:
    """function name -> its stored cases, read from an expected/<assignment>.json file (cached)."""
    try:
        key = (str(path), path.stat().st_mtime_ns)
    except OSError:
        key = (str(path), -1)
    if key not in _STORED:
        _STORED[key] = _read_stored(path)
    return _STORED[key]


def _read_stored(path: Path) -> dict[str, list[StoredCase]]:
    try:
        content = json.loads(path.read_text())
    except (OSError, ValueError) as error:
        raise GraderError(f"cannot read the expected values {path}: {error}; run `grade release` "
                          f"to regenerate them") from None
    version = content.get("schema_version")
    if version != SCHEMA_VERSION:
        raise GraderError(f"{path} has schema version {version}, this grader reads {SCHEMA_VERSION}: "
                          f"run `grade release` (instructors) or update the grader")
    stored: dict[str, list[StoredCase]] = {}
    for name, entry in content["functions"].items():
        cases = []
        for item in entry["cases"]:
            expectation = Expectation(
                value=from_json(item.get("expected")),
                args_after={int(k): from_json(v) for k, v in item.get("args_after", {}).items()},
                stable_prefix=item.get("stable_prefix"),
                variants={k: from_json(v) for k, v in item["variants"].items()} if "variants" in item else None,
            )
            cases.append(StoredCase(Case(name, item["name"], item["recipe"]), expectation, Tolerance(**item["tolerance"])))
        stored[name] = cases
    return stored
