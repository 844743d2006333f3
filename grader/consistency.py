"""Do solutions/, expected/ and the course's recipes still describe the same assignment?

Two checks, for two moments:

- ``reference_disagreements`` (every grading run that has the solutions): the reference must pass
  its own stored cases. An instructor who edited solutions/ without `grade release` (or the other
  way round) would otherwise have correct students judged against values the reference no longer
  gives, and accused of hard-coding; the grader refuses instead, with a message for the instructor.
- ``demo_mismatches`` (`grade release`): the solution notebook's demo cell under each graded
  function must draw what the published case's recipe draws (seed, then the shapes, in order).
  Recipes live in the course module, so a seed changed in the notebook alone would leave the
  notebook and the grader silently disagreeing.
"""
from __future__ import annotations

import ast
import hashlib
import json
import os
from pathlib import Path
from typing import Any

from .course.spec import AssignmentSpec
from .drift import differences
from .errors import CourseMaterialError
from .expected import StoredCase, case_entry, compute_expectation
from .judges import judge_for
from .resources import file_signature


def reference_disagreements(spec: AssignmentSpec, stored: dict[str, list[StoredCase]], references: dict) -> list[str]:
    """The stored cases the reference solutions no longer reproduce within the case's tolerance."""
    found: list[str] = []
    for function in spec.functions:
        if function.name not in references:
            continue
        for item in stored.get(function.name, []):
            # items with several published protocols: the reference's own one is enough to tell
            form = judge_for(function).input_form(list(function.params))
            fresh = compute_expectation(function, item.case.recipe, references, form)
            old, new = _entry(item.expectation, item), _entry(fresh, item)
            if old.get("variants") is not None and new.get("variants") is not None:
                old["variants"] = {key: old["variants"][key] for key in new["variants"] if key in old["variants"]}
            new["stable_prefix"] = old.get("stable_prefix")  # judged on the stored prefix only
            wrap = {"functions": {function.name: {"cases": [old]}}}
            again = {"functions": {function.name: {"cases": [new]}}}
            found.extend(differences(wrap, again))
    return found


def _entry(expectation: Any, item: StoredCase) -> dict:
    """The comparable JSON form of one case (the same form expected/*.json stores)."""
    entry = case_entry(item.case.name, {}, item.tolerance, expectation)
    return json.loads(json.dumps(entry))  # tuples and numpy scalars as the stored file has them


# --- the solution notebook's demo cells against the published recipes -------------------------------

def demo_mismatches(spec: AssignmentSpec, notebook: Path) -> list[str]:
    """Published cases whose recipe the notebook's demo cell (the first cell after the function's
    definition that calls it) does not draw: another seed, or other shapes, or no demo at all."""
    from .execute import cell_label  # the sandbox behind it is not needed for the checks below

    try:
        raw = json.loads(notebook.read_text())
    except (OSError, ValueError) as error:
        return [f"{notebook}: cannot be read ({error})"]
    # Positions count every cell from 1, markdown included: the "cell N" of reports and tracebacks.
    cells = {position: _source(cell) for position, cell in enumerate(raw.get("cells", []), start=1)
             if isinstance(cell, dict) and cell.get("cell_type") == "code"}
    trees = {position: _parse(source) for position, source in cells.items()}
    problems = []
    for function in spec.functions:
        published = [(name, recipe) for name, recipe in function.published if name.startswith("published")]
        if not published:
            continue
        demo = _demo_cell(function.name, trees)
        if demo is None:
            problems.append(f"{notebook.name}: no demo cell calls {function.name} after its definition, but "
                            f"the course module publishes {published[0][0]!r} for it")
            continue
        position, draws = demo
        where = f"cell {position} ({cell_label(cells[position])})"
        seeds = [seed for kind, seed in draws if kind == "seed"]
        for name, recipe in published:
            wanted = recipe.get("seed", 0)
            if seeds[:1] != [wanted]:
                problems.append(f"{notebook.name}: the demo of {function.name}, {where}, seeds "
                                f"{seeds[0] if seeds else 'nothing'}, the published case {name!r} seeds {wanted}: "
                                f"change the recipe in grader/course/ or the notebook, then run `grade release`")
                continue
            shapes = [shape for kind, shape in draws if kind == "draw"]
            recipe_shapes = [list(step[2]) for step in recipe.get("steps", []) if step[0] == "draw"]
            if not _same_shapes(shapes, recipe_shapes):
                problems.append(f"{notebook.name}: the demo of {function.name}, {where}, draws "
                                f"{_shapes_text(shapes)}, the published case {name!r} draws "
                                f"{_shapes_text(recipe_shapes)}: change the recipe or the notebook")
    return problems


def _source(cell: dict) -> str:
    source = cell.get("source", "")
    return "".join(source) if isinstance(source, list) else str(source)


def _parse(source: str) -> ast.Module | None:
    try:
        return ast.parse(source)
    except SyntaxError:
        return None


def _demo_cell(name: str, trees: dict[int, ast.Module | None]) -> tuple[int, list[tuple[str, Any]]] | None:
    """The position of the demo cell of ``name`` and what it draws; ``trees`` by notebook position, in order."""
    constants: dict[str, int] = {}
    defined = False
    for position, tree in trees.items():
        if tree is None:
            continue
        _collect_constants(tree, constants)
        if any(isinstance(node, (ast.FunctionDef, ast.ClassDef)) and node.name == name for node in tree.body):
            defined = True
            continue
        calls = [node for node in ast.walk(tree) if isinstance(node, ast.Call)]
        if defined and any(isinstance(call.func, ast.Name) and call.func.id == name for call in calls):
            return position, _draws(tree, constants)
    return None


def _random_call(call: ast.Call, what: str) -> bool:
    """``np.random.<what>(...)`` (or ``numpy.random.<what>``)."""
    func = call.func
    return (isinstance(func, ast.Attribute) and func.attr == what and isinstance(func.value, ast.Attribute)
            and func.value.attr == "random")


def _draws(tree: ast.Module, constants: dict[str, int]) -> list[tuple[str, Any]]:
    """Seeds and randn shapes in source order (a dimension that is not a constant is None)."""
    calls = sorted((node for node in ast.walk(tree) if isinstance(node, ast.Call)),
                   key=lambda node: (node.lineno, node.col_offset))
    found: list[tuple[str, Any]] = []
    for call in calls:
        if _random_call(call, "seed") and call.args:
            found.append(("seed", _value(call.args[0], constants)))
        elif _random_call(call, "randn"):
            found.append(("draw", [_value(arg, constants) for arg in call.args]))
    return found


def _collect_constants(tree: ast.Module, constants: dict[str, int]) -> None:
    """Top-level ``n = 5`` and ``a, b = 20, 100``: enough to read the demos' shapes."""
    for node in tree.body:
        if not isinstance(node, ast.Assign):
            continue
        for target in node.targets:
            if isinstance(target, ast.Name):
                _remember(constants, target.id, _value(node.value, constants))
            elif isinstance(target, ast.Tuple) and isinstance(node.value, ast.Tuple) \
                    and len(target.elts) == len(node.value.elts):
                for name, value in zip(target.elts, node.value.elts):
                    if isinstance(name, ast.Name):
                        _remember(constants, name.id, _value(value, constants))


def _remember(constants: dict[str, int], name: str, value: int | None) -> None:
    if value is None:
        constants.pop(name, None)
    else:
        constants[name] = value


def _value(node: ast.expr, constants: dict[str, int]) -> int | None:
    if isinstance(node, ast.Constant) and isinstance(node.value, int) and not isinstance(node.value, bool):
        return node.value
    if isinstance(node, ast.Name):
        return constants.get(node.id)
    if isinstance(node, ast.BinOp) and isinstance(node.op, (ast.Add, ast.Sub, ast.Mult)):
        left, right = _value(node.left, constants), _value(node.right, constants)
        if left is None or right is None:
            return None
        if isinstance(node.op, ast.Add):
            return left + right
        return left - right if isinstance(node.op, ast.Sub) else left * right
    return None


def _same_shapes(demo: list[list[int | None]], recipe: list[list[int]]) -> bool:
    """Equal, a dimension the demo computes at run time (None) matching anything."""
    if len(demo) < len(recipe):
        return False
    return all(len(a) == len(b) and all(x is None or x == y for x, y in zip(a, b))
               for a, b in zip(demo, recipe))


def _shapes_text(shapes: list) -> str:
    texts = ["(" + ", ".join("?" if d is None else str(d) for d in shape) + ")" for shape in shapes]
    return ", ".join(texts) or "nothing"


# --- the refusal, once per process and per pair of solutions and expected values ------------------

_VERIFIED: dict[tuple[str, ...], list[str]] = {}


def _stamp(key: tuple[str, ...]) -> Path:
    """Where a passed check is remembered across runs (it costs a model training run, a good share
    of a one-notebook `grade`). A stamp only ever skips the check of the installed course material
    against itself, so whoever could write one gains nothing; a failed check is never stamped."""
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "rnn-grader" / ("verified-" + hashlib.sha256(repr(key).encode()).hexdigest()[:32])


def verify_reference(spec: AssignmentSpec, stored: dict[str, list[StoredCase]], references: dict,
                     materials: dict) -> None:
    """Raise a CourseMaterialError for the instructor when the reference fails its own stored cases."""
    solutions, expected = materials.get("solutions") or {}, materials.get("expected") or {}
    # The grader's own code is in the key too: a change of how cases are built or compared re-checks.
    # By names, sizes and times (as Python tells a stale .pyc), not bytes: hashing ~80 files was
    # ~8 ms of every one-notebook `grade`, and the stamp only ever skips a check (see _stamp).
    key = (spec.name, solutions.get("sha256", ""), expected.get("sha256", ""),
           hashlib.sha256(repr(file_signature(Path(__file__).resolve().parent)).encode()).hexdigest())
    if key not in _VERIFIED:
        stamp = _stamp(key)
        _VERIFIED[key] = [] if stamp.is_file() else reference_disagreements(spec, stored, references)
        if not _VERIFIED[key] and not stamp.is_file():
            try:
                stamp.parent.mkdir(parents=True, exist_ok=True)
                stamp.touch()
            except OSError:  # a read-only home: check again next time
                pass
    found = _VERIFIED[key]
    if found:
        raise CourseMaterialError(
            f"not graded: this grader's reference solutions ({solutions.get('path')}, {solutions.get('sha256')}) "
            f"do not pass their own stored cases for {spec.name} ({expected.get('path')}, {expected.get('sha256')}): "
            f"{found[0]}. solutions/ and expected/ were changed apart; an instructor must run `grade release` in "
            f"the grader's checkout, then `pip install .` there (or point GRADER_SOLUTIONS at the matching "
            f"solutions). Grading against them would fail correct work.")
