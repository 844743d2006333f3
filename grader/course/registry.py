"""The assignments this grader knows, by name: the one place that lists them.

Adding an assignment is one line here (or, for an assignment that lives outside this package, a call
of ``register`` before grading). Every shared stage finds assignments through this registry only.
"""
from __future__ import annotations

from . import bptt, dino, rnn
from .spec import AssignmentSpec

ASSIGNMENTS: dict[str, AssignmentSpec] = {spec.name: spec for spec in (rnn.ASSIGNMENT, dino.ASSIGNMENT,
                                                                       bptt.ASSIGNMENT)}


def register(assignment: AssignmentSpec) -> AssignmentSpec:
    """Make an assignment known to every stage (load, grade, release, batch); returns it."""
    if assignment.name in ASSIGNMENTS and ASSIGNMENTS[assignment.name] is not assignment:
        raise ValueError(f"an assignment named {assignment.name!r} is already registered")
    ASSIGNMENTS[assignment.name] = assignment
    return assignment


def unregister(name: str) -> None:
    ASSIGNMENTS.pop(name, None)


def list_assignments() -> list[AssignmentSpec]:
    return list(ASSIGNMENTS.values())


def get_assignment(name: str) -> AssignmentSpec:
    from ..errors import UnknownAssignment

    try:
        return ASSIGNMENTS[name]
    except KeyError:
        raise UnknownAssignment(f"unknown assignment {name!r}; known: {', '.join(ASSIGNMENTS)}") from None
