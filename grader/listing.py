"""``grade --list-assignments``: what this grader can grade, as a Rich table (one row per assignment)."""
from __future__ import annotations

from rich.table import Table

from . import resources
from .course import list_assignments as registered


def list_assignments() -> Table:
    table = Table(title="Assignments", title_justify="left", show_lines=False)
    for column in ("name", "title", "graded items (points)", "from"):
        table.add_column(column, overflow="fold")
    for spec in registered():
        items = ", ".join(f"{item.name} ({item.points:g}{'' if item.section == 'required' else ', ' + item.section})"
                          for item in spec.functions)
        source = str(spec.home) if spec.home is not None else "bundled"
        if resources.solutions_dir(spec) is None:
            source += " (no solutions: stored cases only)"
        table.add_row(spec.name, spec.title, items, source)
    return table
