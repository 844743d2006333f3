"""Stage 6: results -> what people read. Rich renderables for the terminal and Jupyter, JSON,
and Markdown feedback. Functions here build renderables; the caller's Console prints them."""
from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Iterable

from rich.console import Group, RenderableType
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from . import textsafe
from .load import WRONG_ASSIGNMENT
from .results import FunctionResult, NotebookResult, Status

MARKS = {
    Status.PASSED: ("PASS", "green"),
    Status.PARTIAL: ("PART", "yellow"),
    Status.FAILED: ("FAIL", "red"),
    Status.ERROR: ("ERROR", "red"),
    Status.TIMEOUT: ("TIMEOUT", "red"),
    Status.CRASHED: ("CRASH", "red"),
    Status.NOT_IMPLEMENTED: ("TODO", "magenta"),
    Status.MISSING: ("MISSING", "red"),
}


def _points(value: float) -> str:
    return f"{value:g}"


def status_text(status: Status) -> Text:
    label, style = MARKS[status]
    return Text(label, style=f"bold {style}")


def header(result: NotebookResult) -> RenderableType:
    grid = Table.grid(padding=(0, 2))
    grid.add_column(style="bold")
    grid.add_column(overflow="fold")
    # Student text (the file name, error messages) goes in as Text: never parsed as markup, cleaned.
    grid.add_row("Notebook", textsafe.terminal(result.notebook))
    if not result.graded:
        grid.add_row("Result", Text("could not be graded", style="bold red"))
        grid.add_row("Reason", textsafe.terminal(result.error))
        return Panel(grid, title="grade", border_style="red")
    version = f" (course version {result.course_version})" if result.course_version else ""
    grid.add_row("Assignment", textsafe.terminal(f"{result.assignment}{version}"))
    score = Text(f"{_points(result.score)} / {_points(result.max_score)}  ({result.percent:.0f}%)", style="bold")
    grid.add_row("Score", score)
    if result.optional_max_score:
        grid.add_row("Optional", f"{_points(result.optional_score)} / {_points(result.optional_max_score)}  "
                                 "(optional items; not in the score)")
    if result.stored_cases_only:
        grid.add_row("Cases", Text("stored cases only (no reference solutions installed)", style="yellow"))
    style = "green" if result.score == result.max_score else "yellow" if result.score else "red"
    return Panel(grid, title="grade", border_style=style)


def function_table(functions: Iterable[FunctionResult]) -> Table:
    table = Table(show_edge=False, pad_edge=False, expand=False)
    table.add_column("Function")
    table.add_column("Status")
    table.add_column("Points", justify="right")
    table.add_column("Cases", justify="right")
    section = None
    for function in functions:
        if function.section != section and function.section == "optional":
            table.add_row(Text("optional", style="dim italic"), "", "", "")
        section = function.section
        cases = f"{function.cases_passed}/{len(function.cases)}" if function.cases else "-"
        table.add_row(function.name, status_text(function.status),
                      f"{_points(function.score)}/{_points(function.max_score)}", cases)
    return table


def function_details(function: FunctionResult) -> RenderableType:
    parts: list[RenderableType] = []
    if function.diagnosis:  # the most useful line comes first
        parts.append(textsafe.terminal("Likely mistake: " + function.diagnosis, style="bold"))
    # A function that passed is told nothing it must fix: its messages are notes, shown as such.
    style = "dim" if function.status == Status.PASSED else ""
    for message in function.messages:
        parts.append(textsafe.terminal(message, style=style))
    if function.traceback:
        parts.append(textsafe.terminal("Your code raised:\n" + function.traceback, style="red"))
    # A passing function shown here carries score.py's "Passed with the reference ... standing in" note
    # already; this line would say it twice.
    if function.reference_dependencies and function.status not in (Status.MISSING, Status.PASSED):
        parts.append(Text(f"Judged with the reference {', '.join(function.reference_dependencies)} in place of yours.",
                          style="dim"))
    label, style = MARKS[function.status]
    title = f"{function.name}: {label} ({_points(function.score)}/{_points(function.max_score)})"
    return Panel(Group(*parts), title=title, title_align="left", border_style=style)


def notebook_report(result: NotebookResult, details: bool = True) -> RenderableType:
    parts: list[RenderableType] = [header(result)]
    if result.graded:
        parts.append(function_table(result.functions))
        if details:
            parts.extend(function_details(f) for f in result.functions
                         if f.status not in (Status.PASSED, Status.NOT_IMPLEMENTED) or (f.status == Status.PASSED and f.messages)
                         or (f.status == Status.NOT_IMPLEMENTED and not _placeholders_left(f)))
            todo = [f.name for f in result.functions if f.status == Status.NOT_IMPLEMENTED and _placeholders_left(f)]
            if todo:
                parts.append(Text(f"TODO (not implemented yet): {', '.join(todo)}. Replace the `None` placeholders "
                                  "between ### START CODE HERE ### and ### END CODE HERE ###.", style="magenta"))
        if result.cell_issues:
            issues = Table.grid(padding=(0, 1))
            for issue in result.cell_issues:
                last = issue.message.strip().splitlines()[-1] if issue.message.strip() else issue.kind
                issues.add_row(textsafe.terminal(issue.where, style="bold"), textsafe.terminal(f"{issue.kind}: {last}"))
            parts.append(Panel(issues, title="cells that failed while the notebook loaded", title_align="left",
                               border_style="yellow"))
        for note in result.notes:
            parts.append(textsafe.terminal(f"note: {note}", style="dim"))
        if result.materials:
            parts.append(Text(materials_line(result), style="dim"))
    return Group(*parts)


def _placeholders_left(function: FunctionResult) -> bool:
    """A TODO whose advice is the usual one (fill in the placeholders), not a TODO with its own story
    (a helper module the student did not hand in): that one gets its own panel."""
    return not function.messages or "is not implemented yet" in function.messages[0]


def materials_line(result: NotebookResult) -> str:
    """Which solutions and expected values graded this notebook (path and short hash)."""
    from .resources import describe_materials

    return f"graded with {describe_materials(result.materials)}"


def to_json_text(result: NotebookResult) -> str:
    return json.dumps(result.to_json(), indent=2)


_GRADE_IT_WITH = re.compile(r" Grade it with --assignment (\w+)\.$")


def student_reason(result: NotebookResult) -> str:
    """Why the notebook could not be graded, as its student reads it (Gradescope, feedback files): the
    notebook by its file name (the grading machine's folders mean nothing to them), and where the TA's
    message says which option to grade it with, what the student can do instead."""
    reason = str(result.error)
    if result.notebook and reason.startswith(f"{WRONG_ASSIGNMENT}: {result.notebook} "):
        reason = f"{WRONG_ASSIGNMENT}: your notebook {reason[len(WRONG_ASSIGNMENT) + len(result.notebook) + 3:]}"
    reason = reason.replace(str(result.notebook), Path(result.notebook).name) if result.notebook else reason
    return _GRADE_IT_WITH.sub(r" Hand in the notebook of this assignment (the one you handed in is \1's).", reason)


def markdown_feedback(result: NotebookResult) -> str:
    """The student's report as Markdown (batch feedback files).

    The title and the score come first and are the grader's own text; everything a student
    controls (the file name, error messages, printed output, tracebacks) comes after the score and
    is escaped (``textsafe.md_inline``) or fenced (``textsafe.md_code_block``), so it renders as the
    characters it is: no heading, link, image, HTML or table cell a student wrote."""
    md = textsafe.md_inline
    if not result.graded:
        return "\n".join(["# Feedback", "", "**Could not be graded.**", "", f"Notebook: {md(result.notebook)}", "",
                          f"Reason: {md(student_reason(result), limit=2000)}", ""])
    lines = ["# Feedback", "", f"**Score: {_points(result.score)} / {_points(result.max_score)}** ({result.percent:.0f}%)"]
    if result.optional_max_score:
        lines += ["", f"Optional part: {_points(result.optional_score)} / {_points(result.optional_max_score)}"]
    version = f" (course version {md(result.course_version)})" if result.course_version else ""
    lines += ["", f"Assignment: {md(result.assignment)}{version}", "", f"Notebook: {md(result.notebook)}"]
    lines += ["", "| Function | Status | Points | Cases |", "|---|---|---|---|"]
    for f in result.functions:
        lines.append(f"| {md(f.name)}{' (optional)' if f.section == 'optional' else ''} | {MARKS[f.status][0]} | "
                     f"{_points(f.score)}/{_points(f.max_score)} | {f.cases_passed}/{len(f.cases)} |")
    for f in result.functions:
        if f.status == Status.PASSED and not f.messages:
            continue
        lines += ["", f"## {md(f.name)}: {MARKS[f.status][0]}", ""]
        for message in f.messages:  # a multi-line message (array excerpts) keeps its lines in a block
            first, _, rest = message.strip().partition("\n")
            lines.append(f"- {md(first, limit=2000)}")
            if rest.strip():
                lines += ["", textsafe.md_code_block(rest), ""]
        if f.diagnosis:
            lines.append(f"- Likely mistake: {md(f.diagnosis)}")
        if f.traceback:
            lines += ["", textsafe.md_code_block(f.traceback)]
    if result.cell_issues:
        lines += ["", "## Cells that failed while the notebook loaded", ""]
        lines += [f"- cell {i.cell}{f' ({md(i.label)})' if i.label else ''} ({md(i.kind)}): {md(i.message.strip().splitlines()[-1] if i.message.strip() else '')}"
                  for i in result.cell_issues]
    if result.notes:
        lines += ["", *[f"- note: {md(note)}" for note in result.notes]]
    if result.materials:
        lines += ["", f"_{md(materials_line(result))}_"]
    return "\n".join(lines) + "\n"
