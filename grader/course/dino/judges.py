"""Dinosaur Island's own judges: ``sample`` by its properties and its stable draws, ``model`` by a
short training run in whichever published form the student wrote it.

Both extend the stock values judge (grader/judges.py) and compute their expectations from the
reference here, in the grader's process.
"""
from __future__ import annotations

import copy
import random
from typing import TYPE_CHECKING, Any, Callable

import numpy as np

from ...compare import Mismatch, compare, describe_type
from ...judges import ValuesJudge, failures
from ..recipes import build_call
from .data import names_text
from ..reference import call_reference
from ..spec import Expectation, FunctionSpec, References, Tolerance

if TYPE_CHECKING:
    from ...execute import CallOutcome


class SampleJudge(ValuesJudge):
    """Sampled indices must be valid (integers in the vocabulary, ending with the newline index, at
    most ``max_draws`` draws plus the appended newline, no newline before the end) and equal the
    reference on the leading stretch that float noise cannot change on any machine; past it, chaos
    may legitimately make machines disagree."""

    name = "sample"

    def __init__(self, vocab: int = 27, newline: int = 0, max_draws: int = 50) -> None:
        self.vocab, self.newline, self.max_draws = vocab, newline, max_draws

    def expect(self, spec: FunctionSpec, recipe: dict, references: References, form: str | None = None) -> Expectation:
        function = references[spec.name]
        args, kwargs = build_call(recipe, references.get)
        baseline = [int(i) for i in call_reference(function, copy.deepcopy(args), kwargs)]
        return Expectation(value=baseline, stable_prefix=stable_prefix(function, args, baseline))

    def mismatches(self, spec: FunctionSpec, expectation: Expectation, value: Any, args_after: list | None,
                   tol: Tolerance, form: str | None = None) -> list[Mismatch]:
        if isinstance(value, (list, tuple, np.ndarray)) and len(value) > 100 * (self.max_draws + 1):
            # Before any conversion: an answer of 60 million items became 60 million Python ints here.
            # A few too many draws are still judged in full below (the other problems are worth telling).
            return [Mismatch("indices", "length", f"{len(value):,} indices: the loop must stop after "
                                                  f"{self.max_draws} characters (then one '\\n' is appended)")]
        if isinstance(value, np.ndarray) and value.ndim == 1 and value.dtype.kind in "iu":
            value = value.tolist()
        if not isinstance(value, (list, tuple)):
            return [Mismatch("indices", "type", f"indices should be a list of integers, got {describe_type(value)}")]
        indices = []
        for item in value:
            if isinstance(item, (bool, np.bool_)) or not isinstance(item, (int, np.integer)):
                return [Mismatch("indices", "type", f"indices should hold integers, found {describe_type(item)}")]
            indices.append(int(item))
        if not indices:
            return [Mismatch("indices", "length", "indices is empty; it should end with the index of '\\n'")]
        problems = []
        if any(i < 0 or i >= self.vocab for i in indices):
            problems.append(Mismatch("indices", "values", f"indices must be between 0 and {self.vocab - 1}"))
        if len(indices) > self.max_draws + 1:
            problems.append(Mismatch("indices", "length", f"{len(indices)} indices: the loop must stop after "
                                                          f"{self.max_draws} characters (then one '\\n' is appended)"))
        if indices[-1] != self.newline:
            problems.append(Mismatch("indices", "values", "the list must end with the index of '\\n' (append it "
                                                          f"when the {self.max_draws}-character limit is reached)"))
        elif self.newline in indices[:-1]:
            problems.append(Mismatch("indices", "values",
                                     "a '\\n' appears before the end: sampling must stop at the first one"))
        reference = list(expectation.value)
        prefix = expectation.stable_prefix if expectation.stable_prefix is not None else len(reference)
        if indices[:prefix] != reference[:prefix] and indices != reference:
            first = next((n for n, (a, b) in enumerate(zip(indices, reference)) if a != b),
                         min(len(indices), len(reference)))
            problems.append(Mismatch("indices", "values",
                                     f"the draws differ from the reference from position {first} on "
                                     f"(expected {reference[max(first - 2, 0):first + 3]}, "
                                     f"got {indices[max(first - 2, 0):first + 3]})"))
        return problems

    def differs(self, spec: FunctionSpec, expectation: Expectation, produced: Any, args_after: list,
                tol: Tolerance) -> bool:
        return list(produced) != list(expectation.value or [])

    def reproduces(self, spec: FunctionSpec, expectation: Expectation, produced: Any, args_after: list,
                   outcome: "CallOutcome", tol: Tolerance) -> bool:
        got = outcome.value
        if not isinstance(got, (list, tuple, np.ndarray)) or len(got) != len(produced):  # sized before converted
            return False
        if isinstance(got, np.ndarray):
            got = got.tolist()
        prefix = expectation.stable_prefix if expectation.stable_prefix is not None else len(produced)
        try:
            return [int(i) for i in got[:prefix]] == [int(i) for i in produced[:prefix]]
        except (TypeError, ValueError):
            return False


def stable_prefix(function: Callable[..., Any], args: list, baseline: list) -> int:
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


MODEL_RETURN_FORMS = "`parameters` (a dict, v1 to v3b) or `(parameters, last_dino_name)` (v4)"


class ModelJudge(ValuesJudge):
    """The trained parameters (and the last sampled name, when the function returns one) after a
    short run, against the reference run with the same protocol.

    The input form comes from the parameters the student's model declares (``input_form``), the
    output form from what it returns, so every published combination is judged as written. The
    older input form (``model(data, ...)``, which reads dinos.txt itself) may follow either
    published shuffle: numpy's from v3 on, Python's random.shuffle in v1 and v2."""

    name = "model"

    def input_form(self, params: list[str] | None) -> str | None:
        """The published forms differ in the first parameter: model(data_x, ...) (v4) gets the list of
        names; model(data, ...) (v1 to v3b) gets the text. ``verbose`` says nothing about the input
        (v3b has it with ``data``), so it only breaks the tie for a first parameter with neither name."""
        params = params or []
        first = params[0] if params else ""
        if first in ("data_x", "data"):
            return first
        return "data_x" if "verbose" in params else "data"

    def expect(self, spec: FunctionSpec, recipe: dict, references: References, form: str | None = None) -> Expectation:
        """The reference's (parameters, last_dino_name) for every protocol, or for the one ``form`` needs."""
        model = references[spec.name]
        variants: dict[str, Any] = {}
        if form in (None, "data_x"):
            args, _ = build_call(recipe, references.get, "data_x")
            variants["data_x"] = call_reference(model, args, {})
        if form == "data_x":
            return Expectation(variants=variants)
        old_args, _ = build_call(recipe, references.get, "data")
        lines = [line.lower() for line in names_text().splitlines(keepends=True)]
        variants["data"] = call_reference(model, [lines, *old_args[1:]], {})
        python_order = [line.strip() for line in lines]
        random.Random(recipe.get("seed", 0)).shuffle(python_order)
        variants["data_random"] = call_reference(model, [presorted_for_numpy_shuffle(python_order), *old_args[1:]], {})
        return Expectation(variants=variants)

    def mismatches(self, spec: FunctionSpec, expectation: Expectation, value: Any, args_after: list | None,
                   tol: Tolerance, form: str | None = None) -> list[Mismatch]:
        variants = expectation.variants or {}
        names = ("data_x",) if (form or "data_x") == "data_x" else ("data", "data_random")
        best: list[Mismatch] | None = None
        for name in names:
            if name not in variants:
                continue
            found = _trained(variants[name], value, tol)
            if not found:
                return []
            best = found if best is None else best
        return best or []

    def differs(self, spec: FunctionSpec, expectation: Expectation, produced: Any, args_after: list,
                tol: Tolerance) -> bool:
        mine = produced[0] if isinstance(produced, tuple) else produced
        for right in (expectation.variants or {}).values():
            right = right[0] if isinstance(right, tuple) else right
            if not failures(compare(right, mine, tol)):
                return False
        return True

    def reproduces(self, spec: FunctionSpec, expectation: Expectation, produced: Any, args_after: list,
                   outcome: "CallOutcome", tol: Tolerance) -> bool:
        mine = produced[0] if isinstance(produced, tuple) else produced
        got = outcome.value
        got = got[0] if isinstance(got, (tuple, list)) and len(got) == 2 else got
        return not failures(compare(mine, got, tol))


def _trained(expected: Any, actual: Any, tol: Tolerance) -> list[Mismatch]:
    """A trained model in the return form the student chose: both published forms are right. The
    name is compared only when the student returns one, once the parameters agree (it follows from them)."""
    want_parameters, want_name = expected if isinstance(expected, tuple) else (expected, None)
    if isinstance(actual, dict):
        return compare(want_parameters, actual, tol, path="parameters")
    if isinstance(actual, (tuple, list)) and len(actual) == 2 and isinstance(actual[0], dict):
        found = compare(want_parameters, actual[0], tol, path="parameters")
        if not found and want_name is not None and not (isinstance(actual[1], str) and actual[1] == want_name):
            found.append(Mismatch("last_dino_name", "values",
                                  f"last_dino_name is {actual[1]!r:.60}, expected {want_name!r}"))
        return found
    return [Mismatch("result", "type", f"model should return {MODEL_RETURN_FORMS}, got {describe_type(actual)}")]


def presorted_for_numpy_shuffle(order: list, seed: int = 0) -> list:
    """The list that ``np.random.seed(seed); np.random.shuffle(x)`` turns into ``order``.

    The v1/v2 notebooks shuffle with Python's random.shuffle instead; the reference model uses
    numpy's. Feeding it this list makes its shuffle land on the Python order."""
    permutation = np.random.RandomState(seed).permutation(len(order))
    result: list = [None] * len(order)
    for position, source in enumerate(permutation):
        result[source] = order[position]
    return result
