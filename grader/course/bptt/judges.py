"""BPTT by hand's judge for its graded class: the stock class judge, plus a check of the student's
own results against each other. Every case builds the cell twice with the same weights and inputs
("cell 2 ..." results); a class whose instances share state (accumulators on the class or at module
level) gives the second cell other results than the first, and is told so before anything else.

Both sides of that check are the student's, so it reads only what the reference keeps too, and only
values shaped like the reference's (compare.conforms): whatever else the student sends costs nothing.
"""
from __future__ import annotations

from typing import Any

from ...compare import Mismatch, compare, conforms
from ...judges import ClassJudge
from ..spec import Expectation, FunctionSpec, Tolerance

SECOND = "cell 2 "
#: Two runs of one deterministic computation agree to the last bits; this only absorbs none of them.
SAME_RUN = Tolerance(1e-9, 1e-12)


class RepeatedCellJudge(ClassJudge):
    name = "class, built twice"

    def mismatches(self, spec: FunctionSpec, expectation: Expectation, value: Any, args_after: list | None,
                   tol: Tolerance, form: str | None = None) -> list[Mismatch]:
        found = super().mismatches(spec, expectation, value, args_after, tol, form)
        expected = expectation.value
        if not found or type(value) is not dict or type(expected) is not dict:
            return found
        for name, want in expected.items():
            if not isinstance(name, str) or name.startswith(SECOND) or SECOND + name not in expected:
                continue
            first, again = value.get(name), value.get(SECOND + name)
            if conforms(want, first) and conforms(want, again) and compare(first, again, SAME_RUN, path=name):
                # its own kind: it shows no expected value, so hidden cases say it too (not redacted)
                return [Mismatch("outputs", "instances",
                                 f"a second {spec.name} built with the same weights and inputs gives other "
                                 f"{name!r} than the first: the instances share state. Keep everything a cell "
                                 f"remembers or accumulates on self, created in __init__ (not on the class "
                                 f"or at module level)."), *found]
        return found
