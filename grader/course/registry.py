"""The assignments this grader knows, by name."""
from __future__ import annotations

from . import dino, rnn
from .spec import AssignmentSpec

ASSIGNMENTS: dict[str, AssignmentSpec] = {spec.name: spec for spec in (rnn.ASSIGNMENT, dino.ASSIGNMENT)}


def get_assignment(name: str) -> AssignmentSpec:
    from ..errors import UnknownAssignment

    try:
        return ASSIGNMENTS[name]
    except KeyError:
        raise UnknownAssignment(f"unknown assignment {name!r}; known: {', '.join(ASSIGNMENTS)}") from None
