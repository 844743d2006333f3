"""What the grader knows about the course: the assignments (one package each, registered in
registry.py) and the vocabulary they describe themselves with (spec.py).

Names are resolved on first use, so that importing one part (the recipes, say) does not import
every assignment, and an assignment's own modules can use the shared stages without a cycle.
"""
from __future__ import annotations

from typing import Any

_FROM_REGISTRY = {"ASSIGNMENTS", "get_assignment", "list_assignments", "register", "unregister"}
_FROM_SPEC = {"AssignmentSpec", "Case", "Expectation", "FunctionSpec", "Judge", "Mistake", "Tolerance"}

__all__ = sorted(_FROM_REGISTRY | _FROM_SPEC)


def __getattr__(name: str) -> Any:
    if name in _FROM_REGISTRY:
        from . import registry

        return getattr(registry, name)
    if name in _FROM_SPEC:
        from . import spec

        return getattr(spec, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
