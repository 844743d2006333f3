"""What the grader knows about the course: assignments, graded functions, case recipes."""
from .registry import ASSIGNMENTS, get_assignment
from .spec import AssignmentSpec, Case, FunctionSpec, Tolerance

__all__ = ["ASSIGNMENTS", "AssignmentSpec", "Case", "FunctionSpec", "Tolerance", "get_assignment"]
