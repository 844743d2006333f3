"""Say what the mistake most likely is, the way a TA would after one glance. Never changes a score.

For a function whose output is wrong, the mistake models of course/mistakes.py are run on the same
inputs, in the grader's process; the first whose output reproduces the student's output (and
differs from the right answer) is named. For a function that raised, a few error patterns with a
well-known cause are recognised. Otherwise there is no diagnosis, and the report's evidence
(which output, where, by how much, shape hints) speaks alone.
"""
from __future__ import annotations

import copy
import random
import re
from typing import Any

import numpy as np

from .compare import Mismatch, compare
from .course.mistakes import MISTAKES
from .course.reference import REFERENCE_LOCK
from .course.spec import FunctionSpec, Tolerance
from .execute import CallOutcome
from .expected import Expectation
from .judges import named_mismatches, judge_values

def _message(function: str, key: str) -> str:
    return next(m.message for m in MISTAKES[function] if m.key == key)


ERROR_PATTERNS = [
    # (the functions it applies to, or None for all; a pattern of the exception; the diagnosis)
    (None, r"name 'numpy' is not defined", "the notebook imports numpy as np: write np.… instead of numpy.…"),
    (None, r"shapes \(.*\) and \(.*\) not aligned|matmul: Input operand|size \d+ is different from",
     "a matrix product with mismatched shapes: check the operand order (W·x, not x·W) and which weight "
     "multiplies which input."),
    (None, r"only integer scalar arrays can be converted to a scalar index",
     "np.concatenate takes the arrays as one tuple: np.concatenate((a_prev, xt), axis=0); "
     "an array passed second is read as the axis."),
    (("model",), r"list index out of range", "an index runs past the end of a list: in model, take the name with "
     "examples[j % len(examples)] (wrap around), and make Y as long as X."),
    (None, r"operands could not be broadcast together", "arrays of incompatible shapes are added or multiplied: "
     "check the shape of every term (biases are (n, 1) columns)."),
    (None, r"unsupported operand type.*NoneType|'NoneType' object is not subscriptable",
     "a value is still None: a placeholder between START and END CODE HERE is left, or a function returns nothing."),
    # an empty name gives X = [] when the leading None is missing, and rnn_backward then fails
    (("model",), r"KeyError: 0", _message("model", "no-leading-none")),
]


def _failures(mismatches: list[Mismatch]) -> bool:
    return any(m.kind != "note" for m in mismatches)


def _same_as_any_protocol(produced: Any, expectation: Expectation, tol: Tolerance) -> bool:
    mine = produced[0] if isinstance(produced, tuple) else produced
    for right in (expectation.variants or {}).values():
        right = right[0] if isinstance(right, tuple) else right
        if not _failures(compare(right, mine, tol)):
            return True
    return False


def _differs(spec: FunctionSpec, expectation: Expectation, produced: Any, args_after: list, tol: Tolerance) -> bool:
    if _failures(named_mismatches(spec, expectation.value, produced, tol)):
        return True
    return any(_failures(compare(want, args_after[i], tol)) for i, want in expectation.args_after.items())


def _reproduces(spec: FunctionSpec, produced: Any, args_after: list, outcome: CallOutcome, tol: Tolerance,
                stable_prefix: int | None) -> bool:
    if spec.judge == "model":
        got = outcome.value
        if isinstance(produced, tuple):
            return (isinstance(got, (tuple, list)) and len(got) == 2
                    and not _failures(compare(produced[0], got[0], tol)))
        return not _failures(compare(produced, got, tol))
    if spec.judge == "sample":
        got = outcome.value
        if isinstance(got, np.ndarray):
            got = got.tolist()
        if not isinstance(got, (list, tuple)) or len(got) != len(produced):
            return False
        prefix = stable_prefix if stable_prefix is not None else len(produced)
        return [int(i) for i in got[:prefix]] == [int(i) for i in produced[:prefix]]
    expectation = Expectation(value=produced, args_after={i: args_after[i] for i in spec.check_args_after})
    return not _failures(judge_values(spec, expectation, outcome, tol))


def diagnose(spec: FunctionSpec, args: list, kwargs: dict, seed: int | None, expectation: Expectation,
             outcome: CallOutcome, tol: Tolerance) -> str:
    if outcome.lost:
        return ""
    if outcome.error:
        text = f"{outcome.error.get('type')}: {outcome.error.get('message')}"
        for functions, pattern, message in ERROR_PATTERNS:
            if (functions is None or spec.name in functions) and re.search(pattern, text):
                return message
        return ""
    loose = Tolerance(max(tol.rtol, 1e-5), max(tol.atol, 1e-8))
    for mistake in MISTAKES.get(spec.name, []):
        call_args, call_kwargs = copy.deepcopy(args), copy.deepcopy(kwargs)
        try:
            with REFERENCE_LOCK:
                if seed is not None:  # the grader seeds the worker like this before every call
                    np.random.seed(seed)
                    random.seed(seed)
                produced = mistake.variant(*call_args, **call_kwargs)
        except Exception:
            continue
        if spec.judge == "values" and not _differs(spec, expectation, produced, call_args, loose):
            continue  # this mistake makes no difference on these inputs: it cannot explain anything
        if spec.judge == "sample" and list(produced) == list(expectation.value or []):
            continue
        if spec.judge == "model" and _same_as_any_protocol(produced, expectation, loose):
            continue
        if _reproduces(spec, produced, call_args, outcome, loose, expectation.stable_prefix):
            return mistake.message
    return ""
