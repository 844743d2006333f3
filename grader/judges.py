"""Stage 4, per case: decide whether one call's outcome is right. No I/O.

A judge is an object with one small protocol (``course.spec.Judge``): what a case should produce,
computed from the reference (``expect``); what is wrong with an outcome (``mismatches``); and, for
diagnosis, whether a mistake model's output differs from the right answer and whether the
student's outcome reproduces it. An item's spec names its judge; this module holds the stock one:

- ``ValuesJudge`` (``VALUES``, the default): the whole return value, and the arguments that must
  change in place, against the reference by compare.py's rules.
- ``ClassJudge`` (``CLASS``): the same for a graded class, driven through a script of calls
  (drive.py): everything it returned and accumulated, against the reference class driven alike.

Judges for what only one assignment has (random draws, training runs) live with that assignment
and extend this one. ``judge`` turns any judge's findings into a case result; hidden cases never
show expected values.

Judges read values the student controls (plain data, as wire.py decodes it). compare.py compares any
two such values without raising; as a last line of defence for rules written elsewhere, a judge that
raises on a value fails that case (``judge``), and the diagnosis questions of every judge extending
this one (``differs``, ``reproduces``) answer False instead of raising: no diagnosis, never a crash.
"""
from __future__ import annotations

import functools
from typing import TYPE_CHECKING, Any, Callable

from .compare import Mismatch, compare, describe_type, most_telling, printable
from .course.recipes import build_call
from .course.reference import REFERENCE_LOCK, call_reference
from .course.spec import Expectation, FunctionSpec, Judge, References, Tolerance
from .results import CaseResult

if TYPE_CHECKING:
    from .execute import CallOutcome


def outcome_failure(outcome: "CallOutcome") -> str | None:
    if outcome.lost:
        return outcome.lost_detail
    if outcome.error:  # the type is the student's class name: one printable line, as in compare's messages
        return f"raised {printable(str(outcome.error.get('type')))}: {outcome.error.get('message')}"
    return None


def failures(mismatches: list[Mismatch]) -> bool:
    return any(m.kind != "note" for m in mismatches)


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
        return most_telling(found)
    return compare(expected, actual, tol, path=spec.outputs[0] if len(spec.outputs) == 1 else "result")


def _no_raise(question: Callable[..., bool]) -> Callable[..., bool]:
    """A diagnosis question (differs, reproduces) that answers False where it would raise."""
    @functools.wraps(question)
    def guarded(*args: Any, **kwargs: Any) -> bool:
        try:
            return bool(question(*args, **kwargs))
        except Exception:  # noqa: BLE001  a student's value no rule foresaw: no diagnosis, no crash
            return False
    guarded.__wrapped_no_raise__ = True  # type: ignore[attr-defined]
    return guarded


class ValuesJudge:
    """The return value (and the arguments changed in place) against the reference's."""

    name = "values"
    drives = False
    """True for a graded class: a case is a script of calls (drive.py), not one call."""

    def __init_subclass__(cls, **kwargs: Any) -> None:
        """Every judge's own diagnosis questions are guarded like these (see the module docstring)."""
        super().__init_subclass__(**kwargs)
        for question in ("differs", "reproduces"):
            method = vars(cls).get(question)
            if method is not None and not getattr(method, "__wrapped_no_raise__", False):
                setattr(cls, question, _no_raise(method))

    def invoke(self, function: Any, args: list, kwargs: dict) -> Any:
        """Run the reference, or a mistake model, on a case's call, as the worker runs the student's."""
        return call_reference(function, args, kwargs)

    def input_form(self, params: list[str] | None) -> str | None:
        return None

    def expect(self, spec: FunctionSpec, recipe: dict, references: References, form: str | None = None) -> Expectation:
        args, kwargs = build_call(recipe, references.get)
        value = self.invoke(references[spec.name], args, kwargs)
        return Expectation(value=value, args_after={index: args[index] for index in spec.check_args_after})

    def mismatches(self, spec: FunctionSpec, expectation: Expectation, value: Any, args_after: list | None,
                   tol: Tolerance, form: str | None = None) -> list[Mismatch]:
        found = named_mismatches(spec, expectation.value, value, tol)
        for index, want in expectation.args_after.items():
            # the worker's list of the arguments after the call; a forged frame may send anything
            after = args_after[index] if type(args_after) is list and index < len(args_after) else None
            problems = compare(want, after, tol, path=f"{spec.params[index]} (after the call)")
            if problems:  # whether it was changed at all is the outcome's to say: see in_place_advice
                found.append(Mismatch(problems[0].path, problems[0].kind, problems[0].message))
        return found

    @_no_raise
    def differs(self, spec: FunctionSpec, expectation: Expectation, produced: Any, args_after: list,
                tol: Tolerance) -> bool:
        return failures(self.mismatches(spec, expectation, produced, args_after, tol))

    @_no_raise
    def reproduces(self, spec: FunctionSpec, expectation: Expectation, produced: Any, args_after: list,
                   outcome: "CallOutcome", tol: Tolerance) -> bool:
        mirror = Expectation(value=produced, args_after={i: args_after[i] for i in spec.check_args_after},
                             stable_prefix=expectation.stable_prefix)
        return not failures(self.mismatches(spec, mirror, outcome.value, outcome.args_after, tol))


class ClassJudge(ValuesJudge):
    """A graded class: the case's only argument is a script (drive.py) that builds instances and
    calls their methods; the kept results are compared like any returned value."""

    name = "class"
    drives = True

    def invoke(self, function: Any, args: list, kwargs: dict) -> Any:
        from .drive import drive

        with REFERENCE_LOCK:
            return drive(function, args[0])


VALUES = ValuesJudge()
CLASS = ClassJudge()


def judge_for(spec: FunctionSpec) -> Judge:
    return spec.judge if spec.judge is not None else VALUES


def judge(spec: FunctionSpec, name: str, hidden: bool, expectation: Expectation, outcome: "CallOutcome",
          tol: Tolerance, form: str | None = None) -> CaseResult:
    failure = outcome_failure(outcome)
    if failure:
        return CaseResult(name, hidden, False, failure)
    try:
        mismatches = judge_for(spec).mismatches(spec, expectation, outcome.value, outcome.args_after, tol, form)
    except Exception as error:  # noqa: BLE001  a value no rule foresaw earns nothing, and grading goes on
        return CaseResult(name, hidden, False, unjudgeable(spec, error))
    notes = [m.message for m in mismatches if m.kind == "note"]
    found = [m for m in mismatches if m.kind != "note"]
    if not found:
        return CaseResult(name, hidden, True, "Note: " + notes[0] if notes else "")
    lines = _redact(found) if hidden else [m.message for m in found]
    lines = [_after_first_line(line, in_place_advice(spec, mismatch, outcome.changed_args))
             for line, mismatch in zip(lines, found)]
    return CaseResult(name, hidden, False, "\n".join(lines))


def unjudgeable(spec: FunctionSpec, error: Exception) -> str:
    """The case's message when judging the returned value failed: the judges compare any plain data
    without raising (compare.py), so this is a grader bug met by an unusual value, said as such."""
    return (f"the grader could not judge what {spec.name} returned ({type(error).__name__}), so this case "
            f"counts as failed. Return the values the assignment describes (numpy arrays, numbers, tuples, "
            f"dicts); if yours already are, tell your TA: it is a bug in the grader.")


def in_place_advice(spec: FunctionSpec, mismatch: Mismatch, changed_args: tuple[int, ...]) -> str:
    """For an argument that must be updated in place and is wrong after the call: "must update it in
    place" only when the call left it as it was (the worker's ``changed_args`` does not list it); an
    argument that was changed, only to wrong values, needs its values fixed, not its updating."""
    for index in spec.check_args_after:
        if index < len(spec.params) and mismatch.path.startswith(f"{spec.params[index]} (after the call)"):
            param = spec.params[index]
            if index in changed_args:
                return f"; {spec.name} does update {param} in place, but to wrong values"
            return f"; {spec.name} left {param} unchanged: it must update {param} in place"
    return ""


def _after_first_line(text: str, addition: str) -> str:
    first, newline, rest = text.partition("\n")
    return first + addition + newline + rest
