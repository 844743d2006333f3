"""Stage 4, per case: decide whether one call's outcome is right. Pure functions, no I/O.

Three judges, chosen by the function's spec:
- "values": the whole return value (and arguments that must change in place) against the
  expected value, by compare.py's rules.
- "sample": the drawn indices must be valid (integers in the vocabulary, ending with the newline
  index, at most 50 draws plus the appended newline, no newline before the end) and equal the
  reference on the leading stretch that float noise cannot change on any machine (see
  expected._sample_stable_prefix); past it, chaos may legitimately make machines disagree.
- "model": the trained parameters (and the last sampled name, when the function returns one) after
  a short run, against the reference run with the same protocol. The input form comes from the
  parameters the student's model declares, the output form from what it returns, so every
  published combination is judged as written. The older input form may follow either published
  shuffle (numpy's, from v3 on; Python's random.shuffle in v1 and v2).
Hidden cases never show expected values.
"""
from __future__ import annotations

from typing import Any

import numpy as np

from .compare import Mismatch, compare, describe_type
from .course.spec import FunctionSpec, Tolerance
from .execute import CallOutcome
from .expected import Expectation
from .results import CaseResult

NEWLINE = 0
VOCAB = 27


def outcome_failure(outcome: CallOutcome) -> str | None:
    if outcome.lost:
        return outcome.lost_detail
    if outcome.error:
        return f"raised {outcome.error.get('type')}: {outcome.error.get('message')}"
    return None


def _redact(mismatches: list[Mismatch]) -> list[str]:
    """Hidden cases: say where and what kind of problem, never the expected values."""
    lines = []
    for mismatch in mismatches:
        if mismatch.kind in ("values", "nonfinite"):
            lines.append(f"{mismatch.path} has wrong values" + (" (NaN or inf)" if mismatch.kind == "nonfinite" else ""))
        else:
            lines.append(mismatch.message)
    return lines


def named_mismatches(spec: FunctionSpec, expected: Any, actual: Any, tol: Tolerance) -> list[Mismatch]:
    """Compare, naming the returned values after the spec ("a_next", not "result[0]")."""
    if isinstance(expected, tuple) and len(spec.outputs) == len(expected) and len(expected) > 1:
        if not isinstance(actual, (tuple, list)):
            return [Mismatch("result", "type", f"{spec.name} should return {len(expected)} values "
                                               f"({', '.join(spec.outputs)}), got {describe_type(actual)}")]
        if len(actual) != len(expected):
            return [Mismatch("result", "length", f"{spec.name} should return {len(expected)} values "
                                                 f"({', '.join(spec.outputs)}), got {len(actual)}")]
        found: list[Mismatch] = []
        for name, want, got in zip(spec.outputs, expected, actual):
            found.extend(compare(want, got, tol, path=name))
        return found[:2]
    return compare(expected, actual, tol, path=spec.outputs[0] if len(spec.outputs) == 1 else "result")


def judge_values(spec: FunctionSpec, expectation: Expectation, outcome: CallOutcome, tol: Tolerance) -> list[Mismatch]:
    found = named_mismatches(spec, expectation.value, outcome.value, tol)
    for index, want in expectation.args_after.items():
        after = (outcome.args_after or [None] * (index + 1))[index]
        problems = compare(want, after, tol, path=f"{spec.params[index]} (after the call)")
        if problems:
            found.append(Mismatch(problems[0].path, problems[0].kind,
                                  problems[0].message + f"; {spec.name} must update {spec.params[index]} in place"))
    return found


def judge_sample(expectation: Expectation, outcome: CallOutcome) -> list[Mismatch]:
    value = outcome.value
    if isinstance(value, np.ndarray) and value.ndim == 1 and value.dtype.kind in "iu":
        value = value.tolist()
    if not isinstance(value, (list, tuple)):
        return [Mismatch("indices", "type", f"indices should be a list of integers, got {describe_type(value)}")]
    indices = []
    for item in value:
        if isinstance(item, (bool, np.bool_)) or not isinstance(item, (int, np.integer)):
            return [Mismatch("indices", "type", f"indices should hold integers, found {describe_type(item)}")]
        indices.append(int(item))
    problems = []
    if not indices:
        return [Mismatch("indices", "length", "indices is empty; it should end with the index of '\\n'")]
    if any(i < 0 or i >= VOCAB for i in indices):
        problems.append(Mismatch("indices", "values", f"indices must be between 0 and {VOCAB - 1}"))
    if len(indices) > 51:
        problems.append(Mismatch("indices", "length", f"{len(indices)} indices: the loop must stop after 50 "
                                                      "characters (then one '\\n' is appended)"))
    if indices[-1] != NEWLINE:
        problems.append(Mismatch("indices", "values", "the list must end with the index of '\\n' "
                                                      "(append it when the 50-character limit is reached)"))
    elif NEWLINE in indices[:-1]:
        problems.append(Mismatch("indices", "values", "a '\\n' appears before the end: sampling must stop at the first one"))
    reference = list(expectation.value)
    prefix = expectation.stable_prefix if expectation.stable_prefix is not None else len(reference)
    if indices[:prefix] != reference[:prefix] and indices != reference:
        first = next((n for n, (a, b) in enumerate(zip(indices, reference)) if a != b), min(len(indices), len(reference)))
        problems.append(Mismatch("indices", "values",
                                 f"the draws differ from the reference from position {first} on "
                                 f"(expected {reference[max(first - 2, 0):first + 3]}, got {indices[max(first - 2, 0):first + 3]})"))
    return problems


MODEL_RETURN_FORMS = "`parameters` (a dict, v1 to v3b) or `(parameters, last_dino_name)` (v4)"


def _model_mismatches(expected: Any, actual: Any, tol: Tolerance) -> list[Mismatch]:
    """Judge a trained model in the return form the student chose: both published forms are right.

    ``expected`` is the reference's (parameters, last_dino_name); the name is compared only when
    the student returns one, and only once the parameters agree (it follows from them)."""
    want_parameters, want_name = expected if isinstance(expected, tuple) else (expected, None)
    if isinstance(actual, dict):
        return compare(want_parameters, actual, tol, path="parameters")
    if isinstance(actual, (tuple, list)) and len(actual) == 2 and isinstance(actual[0], dict):
        found = compare(want_parameters, actual[0], tol, path="parameters")
        if not found and want_name is not None and actual[1] != want_name:
            found.append(Mismatch("last_dino_name", "values",
                                  f"last_dino_name is {actual[1]!r:.60}, expected {want_name!r}"))
        return found
    return [Mismatch("result", "type", f"model should return {MODEL_RETURN_FORMS}, got {describe_type(actual)}")]


def judge_model(expectation: Expectation, outcome: CallOutcome, tol: Tolerance, variant: str) -> list[Mismatch]:
    """``variant`` is the input form (run_cases.model_variant); the older input form may follow either
    published shuffle (numpy's from v3 on, Python's random.shuffle in v1 and v2)."""
    variants = expectation.variants or {}
    names = ("data_x",) if variant == "data_x" else ("data", "data_random")
    best: list[Mismatch] | None = None
    for name in names:
        if name not in variants:
            continue
        found = _model_mismatches(variants[name], outcome.value, tol)
        if not found:
            return []
        best = found if best is None else best
    return best or []


def judge(spec: FunctionSpec, name: str, hidden: bool, expectation: Expectation, outcome: CallOutcome,
          tol: Tolerance, variant: str | None = None) -> CaseResult:
    failure = outcome_failure(outcome)
    if failure:
        return CaseResult(name, hidden, False, failure)
    if spec.judge == "sample":
        mismatches = judge_sample(expectation, outcome)
    elif spec.judge == "model":
        mismatches = judge_model(expectation, outcome, tol, variant or "data_x")
    else:
        mismatches = judge_values(spec, expectation, outcome, tol)
    notes = [m.message for m in mismatches if m.kind == "note"]
    failures = [m for m in mismatches if m.kind != "note"]
    if not failures:
        return CaseResult(name, hidden, True, "Note: " + notes[0] if notes else "")
    lines = _redact(failures) if hidden else [m.message for m in failures]
    return CaseResult(name, hidden, False, "\n".join(lines))
