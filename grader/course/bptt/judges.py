"""BPTT by hand's judge for its graded class: the stock class judge, plus a check of the student's
own results against each other. Every case builds the cell twice with the same weights and inputs
("cell 2 ..." results); a class whose instances share state (accumulators on the class or at module
level) gives the second cell other results than the first, and is told so before anything else.
"""
from __future__ import annotations

from typing import Any

from ...compare import Mismatch, compare
from ...judges import ClassJudge
from ..spec import Expectation, FunctionSpec, Tolerance

SECOND = "cell 2 "


class RepeatedCellJudge(ClassJudge):
    name = "class, built twice"

    def mismatches(self, spec: FunctionSpec, expectation: Expectation, value: Any, args_after: list | None,
                   tol: Tolerance, form: str | None = None) -> list[Mismatch]:
        found = super().mismatches(spec, expectation, value, args_after, tol, form)
        if isinstance(value, dict) and found:
            for name in [key for key in value if isinstance(key, str) and not key.startswith(SECOND)]:
                again = value.get(SECOND + name)
                if again is not None and compare(value[name], again, Tolerance(1e-9, 1e-12), path=name):
                    return [Mismatch("outputs", "values",
                                     f"a second {spec.name} built with the same weights and inputs gives other "
                                     f"{name!r} than the first: the instances share state. Keep everything a cell "
                                     f"remembers or accumulates on self, created in __init__ (not on the class "
                                     f"or at module level)."), *found]
        return found

