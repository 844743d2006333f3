"""Published errata of "RNN step by step": expected outputs that some published versions printed
from a course reference with a known error, which the students of those versions were told to match.

A notebook of such a version that reproduces exactly what its own "Expected Output" showed has done
what its version asked: the item passes, with a note saying what the correct computation is. A
notebook of a corrected version gets no such allowance (its expected output was the right one).

- ``lstm_backward`` in v1, v2, v3 and the first v3a copies: the template's loop had no lines carrying
  ``da_prev`` and ``dc_prev`` from one step to the next, and the expected output
  (``gradients["dx"][1][2] = [-0.00173313 0.08287442 -0.30545663 -0.43281115]``) was computed without
  them. The corrected v3a and v4 print ``[0.00218254 0.28205375 ...]``, true backpropagation through time.
"""
from __future__ import annotations

import copy
import importlib.util
from dataclasses import dataclass, replace
from typing import Any, Callable

from ...compare import Mismatch
from ...judges import ValuesJudge, failures, named_mismatches
from ..spec import Expectation, FunctionSpec, Tolerance


@dataclass(frozen=True)
class PublishedErratum:
    form: str
    """The judge form under which the erratum's output is accepted (also the expectation variant's key)."""
    versions: tuple[str, ...]
    """Course versions whose notebooks printed it (detected by load.detect_version)."""
    printed: str
    """A number of the erratum's expected output as the notebook's markdown shows it: within a version
    (v3a) it tells the copies that printed the erratum from the corrected ones."""
    variant: Callable[..., Any]
    """The erratum's computation (our code), called like the graded function."""
    note: str
    """What a student whose output matches it is told."""

    def printed_in(self, version: str | None, markdown: str) -> bool:
        """Whether a notebook of ``version`` with this markdown was published with the erratum (and
        the erratum's computation ships: a student build leaves it out with the mistake models)."""
        return version in self.versions and self.printed in markdown and _models_ship()

    def expecting(self, expectation: Expectation, args: list, kwargs: dict) -> Expectation:
        """``expectation`` plus the erratum's output for this case's call, under ``form``."""
        value = self.variant(*copy.deepcopy(args), **copy.deepcopy(kwargs))
        return replace(expectation, variants={**(expectation.variants or {}), self.form: value})


class ErratumJudge(ValuesJudge):
    """The stock values judge, which also accepts ``erratum``'s output when the case is judged under the
    erratum's form (run_cases.published_erratum decides that from the notebook's version and markdown).
    Stored cases and expectations are the stock judge's, so the expected values need no new release."""

    name = "values"

    def __init__(self, erratum: PublishedErratum) -> None:
        self.erratum = erratum

    def mismatches(self, spec: FunctionSpec, expectation: Expectation, value: Any, args_after: list | None,
                   tol: Tolerance, form: str | None = None) -> list[Mismatch]:
        found = super().mismatches(spec, expectation, value, args_after, tol, form)
        published = (expectation.variants or {}).get(self.erratum.form) if form == self.erratum.form else None
        if failures(found) and published is not None and not failures(named_mismatches(spec, published, value, tol)):
            return [Mismatch(spec.outputs[0], "note", self.erratum.note)]
        return found


def _models_ship() -> bool:
    return importlib.util.find_spec(f"{__package__}.mistakes") is not None


def _lstm_backward_without_carry(da: Any, caches: Any) -> Any:
    from .mistakes import lstm_back  # the reference with switches: never in a student build (setup.py)

    return lstm_back(da, caches, recurrent=False, carry_c=False)


LSTM_BACKWARD_V1_V3 = PublishedErratum(
    form="course erratum: lstm_backward without the carry (v1 to v3)",
    versions=("v1", "v2", "v3", "v3a"),
    printed="-0.00173313",
    variant=_lstm_backward_without_carry,
    note="matches the expected output your course version printed, which leaves out what flows back in time; "
         "true backpropagation through time also feeds each step da[:, :, t] + da_prev and dc_prev from the "
         "step after it (the corrected notebooks, v3a and v4, print gradients[\"dx\"][1][2] = "
         "[0.00218254 0.28205375 ...]).",
)
