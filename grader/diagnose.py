"""Say what the mistake most likely is, the way a TA would after one glance. Never changes a score.

For a function whose output is wrong, its mistake models (``FunctionSpec.mistakes``, written in its
assignment's mistakes.py) are run on the same inputs, in the grader's process; the first whose output reproduces the student's output (and
differs from the right answer, as the item's judge sees it) is named. For a function that raised,
error patterns with a well-known cause (the item's own, then general ones) are recognised. Otherwise there is no diagnosis, and the report's evidence
(which output, where, by how much, shape hints) speaks alone.
"""
from __future__ import annotations

import copy
import random
import re

import numpy as np

from .course.reference import REFERENCE_LOCK
from .course.spec import Expectation, FunctionSpec, Tolerance
from .execute import CallOutcome
from .judges import judge_for

#: Errors with a well-known cause whatever the assignment: (pattern of "Type: message", diagnosis).
#: An item's own patterns (FunctionSpec.error_patterns) are tried first.
ERROR_PATTERNS = (
    (r"name 'numpy' is not defined", "the notebook imports numpy as np: write np.… instead of numpy.…"),
    (r"shapes \(.*\) and \(.*\) not aligned|matmul: Input operand|size \d+ is different from",
     "a matrix product with mismatched shapes: check the operand order (W·x, not x·W) and which weight "
     "multiplies which input."),
    (r"only integer scalar arrays can be converted to a scalar index",
     "np.concatenate takes the arrays as one tuple: np.concatenate((a_prev, xt), axis=0); "
     "an array passed second is read as the axis."),
    (r"operands could not be broadcast together", "arrays of incompatible shapes are added or multiplied: "
     "check the shape of every term (biases are (n, 1) columns)."),
    (r"unsupported operand type.*NoneType|'NoneType' object is not subscriptable",
     "a value is still None: a placeholder between START and END CODE HERE is left, or a function returns nothing."),
)


def diagnose(spec: FunctionSpec, args: list, kwargs: dict, seed: int | None, expectation: Expectation,
             outcome: CallOutcome, tol: Tolerance) -> str:
    if outcome.lost:
        return ""
    if outcome.error:
        text = f"{outcome.error.get('type')}: {outcome.error.get('message')}"
        for pattern, message in (*spec.error_patterns, *ERROR_PATTERNS):
            if re.search(pattern, text):
                return message
        return ""
    judge = judge_for(spec)
    loose = Tolerance(max(tol.rtol, 1e-5), max(tol.atol, 1e-8))
    for mistake in spec.mistakes:
        call_args, call_kwargs = copy.deepcopy(args), copy.deepcopy(kwargs)
        try:
            with REFERENCE_LOCK:
                if seed is not None:  # the grader seeds the worker like this before every call
                    np.random.seed(seed)
                    random.seed(seed)
                produced = judge.invoke(mistake.variant, call_args, call_kwargs)
        except Exception:
            continue
        if not judge.differs(spec, expectation, produced, call_args, loose):
            continue  # this mistake makes no difference on these inputs: it cannot explain anything
        if judge.reproduces(spec, expectation, produced, call_args, outcome, loose):
            return mistake.message
    return ""
