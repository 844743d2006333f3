"""``grade --list-assignments``: what this grader can grade, as a Rich table (one row per assignment)."""
from __future__ import annotations

from rich.table import Table
from rich.text import Text

from . import resources
from .course import list_assignments as registered


def list_assignments() -> Table:
    """Two columns, so that it reads in an 80-column terminal: the assignment (name, title, where it
    comes from) and its graded items, one per line. Names are never split: they are what
    --assignment and --only take."""
    table = Table(title="Assignments", title_justify="left", show_lines=True)
    table.add_column("assignment", ratio=1)
    table.add_column("graded items (points)", no_wrap=True)
    for spec in registered():
        source = str(spec.home) if spec.home is not None else "bundled"
        if resources.solutions_dir(spec) is None:
            source += " (no solutions: stored cases only)"
        about = Text(spec.name, style="bold")
        about.append(f"\n{spec.title}\n", style="")
        about.append(source, style="dim")
        items = "\n".join(f"{item.name} ({item.points:g}{'' if item.section == 'required' else ', ' + item.section})"
                          for item in spec.functions)
        table.add_row(about, Text(items))
    return table
