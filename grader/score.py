"""Stage 5: from judged cases to points and a status. Pure functions.

Rules, in order:
1. A function the notebook does not define scores 0 (MISSING).
2. Each case is worth an equal share of the function's points (partial credit per case)...
3. ...except that passing published cases while failing every hidden case scores 0: the function
   only reproduces published examples (hard-coded values or sizes), which must not earn more than an
   honest wrong answer. Any published pass counts here, not only all of them: hard-coding one of two
   published outputs must not earn more than hard-coding both.
4. The status is PASSED when every case passed, PARTIAL when some did, otherwise the most telling
   failure: TIMEOUT, CRASHED, ERROR (raised), or FAILED (wrong results). A failing function whose
   code regions still hold the starter placeholders is NOT_IMPLEMENTED.
5. (notes, no points) A passing function that relied on the reference standing in for a failing one
   says so; 6. a failing function that called the student's own failing one says to fix that first.
"""
from __future__ import annotations

import dataclasses

from .course.spec import AssignmentSpec
from .results import OUT_OF_TIME, CaseResult, FunctionResult, Status


def score_cases(points: float, cases: list[CaseResult]) -> float:
    if not cases:
        return 0.0
    hidden = [case for case in cases if case.hidden]
    if hidden and not any(case.passed for case in hidden):
        return 0.0  # what passed (if anything) is published, so known in advance: it proves nothing
    return round(points * sum(case.passed for case in cases) / len(cases), 4)


def status_of(cases: list[CaseResult], failure_kind: str, looks_untouched: bool) -> Status:
    """failure_kind: "timeout", "crashed", "error" or "" (wrong values)."""
    if cases and all(case.passed for case in cases):
        return Status.PASSED
    if looks_untouched:
        return Status.NOT_IMPLEMENTED
    if any(case.passed for case in cases):
        return Status.PARTIAL
    return {"timeout": Status.TIMEOUT, "crashed": Status.CRASHED, "protocol": Status.CRASHED,
            "error": Status.ERROR}.get(failure_kind, Status.FAILED)


def note_reference_help(results: list[FunctionResult]) -> list[FunctionResult]:
    """5. A function that passed while a graded function it calls did not (the reference stood in
    for it) says so: the points are earned, but the student's own pipeline does not work yet."""
    by_name = {result.name: result for result in results}
    noted = []
    for result in results:
        weak = [name for name in result.reference_dependencies
                if name in by_name and by_name[name].status != Status.PASSED]
        if weak and result.status == Status.PASSED:
            note = (f"Passed with the reference {', '.join(weak)} standing in for yours, which does not pass yet; "
                    f"with your own it would not work.")
            result = dataclasses.replace(result, messages=(*result.messages, note))
        noted.append(result)
    return noted


_FAILS = {Status.MISSING: "is missing", Status.NOT_IMPLEMENTED: "is not implemented yet",
          Status.TIMEOUT: "does not finish"}


def note_own_dependencies(results: list[FunctionResult], assignment: AssignmentSpec) -> list[FunctionResult]:
    """6. A function that fails while a graded function it calls also fails, and the student's own
    one was used (no reference stood in: the student build), says so first: its failure may be only
    the other one's, so that one is to be fixed first."""
    by_name = {result.name: result for result in results}
    noted = []
    for result in results:
        calls = next((spec.depends_on for spec in assignment.functions if spec.name == result.name), ())
        broken = [name for name in calls if name not in result.reference_dependencies and name in by_name
                  and by_name[name].status != Status.PASSED]
        # Not for a function never called because the notebook's time ran out first: what it calls
        # did not make it fail (it may not even have been called itself).
        out_of_time = result.messages[:1] and result.messages[0].startswith(OUT_OF_TIME)
        if broken and not out_of_time and result.status not in (Status.PASSED, Status.MISSING, Status.NOT_IMPLEMENTED):
            uses = "; ".join(f"`{name}`, which {_FAILS.get(by_name[name].status, 'fails')}" for name in broken)
            note = f"This uses your {uses}: fix {'it' if len(broken) == 1 else 'them'} first, then grade again."
            result = dataclasses.replace(result, messages=(note, *result.messages))
        noted.append(result)
    return noted
