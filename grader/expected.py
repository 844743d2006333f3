"""Expected values: computed from the reference solutions, stored in expected/<assignment>.json.

The file is human-readable and versioned (``schema_version``); for every stored case it holds the
input recipe (seed, draw order, shapes), the tolerance and every output the grader checks, as
full arrays. ``grade release`` regenerates it; a test fails when it is stale.

Hidden cases use the same ``compute_expectation``, live, with freshly drawn recipes.
"""
from __future__ import annotations

import copy
import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import orjson

from .course.recipes import run_steps
from .course.spec import AssignmentSpec, Case, Expectation, FunctionSpec, References, Tolerance
from .errors import GraderError
from .judges import judge_for

SCHEMA_VERSION = 1


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

def compute_expectation(spec: FunctionSpec, recipe: dict, references: References,
                        form: str | None = None) -> Expectation:
    """What the reference gives for this recipe, as the item's judge computes it (for items with
    several published protocols: every protocol, or the one ``form`` needs)."""
    return judge_for(spec).expect(spec, recipe, references, form)


# --- the stored file ------------------------------------------------------------------------

def case_entry(name: str, recipe: dict, tolerance: Tolerance, expectation: Expectation) -> dict:
    """One case as expected/<assignment>.json stores it."""
    entry: dict[str, Any] = {"name": name, "recipe": recipe,
                             "tolerance": {"rtol": tolerance.rtol, "atol": tolerance.atol}}
    if expectation.variants is not None:
        entry["variants"] = {key: to_json(value) for key, value in expectation.variants.items()}
    else:
        entry["expected"] = to_json(expectation.value)
    if expectation.args_after:
        entry["args_after"] = {str(index): to_json(value) for index, value in expectation.args_after.items()}
    if expectation.stable_prefix is not None:
        entry["stable_prefix"] = expectation.stable_prefix
    return entry


def _case_json(spec: FunctionSpec, name: str, recipe: dict, references: References) -> dict:
    recipe = copy.deepcopy(recipe)
    run_steps(recipe, references.get, record=True)  # reference-step results are stored in the recipe
    return case_entry(name, recipe, spec.tolerance, compute_expectation(spec, recipe, references))


def generate(assignment: AssignmentSpec, references: References) -> dict:
    functions = {}
    for spec in assignment.functions:
        functions[spec.name] = {
            "section": spec.section,
            "points": spec.points,
            "judge": judge_for(spec).name,
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


def _parse(data: bytes) -> Any:
    """The stored file's JSON. orjson reads it ~7x faster than json (~20 ms of a one-notebook
    `grade`: a Dinosaur file is ~1 MB of float text) and gives the same floats; it refuses NaN and
    Infinity, which json.dumps writes for a reference that produced them, so json reads those files."""
    try:
        return orjson.loads(data)
    except orjson.JSONDecodeError:
        return json.loads(data)


def _read_stored(path: Path) -> dict[str, list[StoredCase]]:
    try:
        content = _parse(path.read_bytes())
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
