"""Student text too deep for Python's parser, and what the worker says about changed arguments.

ast.parse raises RecursionError on a 300,000-term sum and MemoryError on a 300,000-deep unary chain:
to the grader that is a cell that does not parse (named in the report, not run), never a crash.
"""
from __future__ import annotations

import ast
import json
import re
import subprocess
import sys

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from grader.execute import cell_label, changed_positions, graded_names_run
from grader.errors import NotebookError
from grader.load import (MAX_CELLS, TOO_DEEP, _shell_assignment, functions_in_source, parse_cell, parse_or_reason,
                         read_notebook, to_python)
from grader.pipeline import grade_notebook
from grader.results import Status
from grader.run_cases import _changed_in_place

from conftest import FAST, ROOT, make_notebook, solution_cells

ONLY = FAST.with_changes(only=("rnn_cell_forward", "rnn_forward"), hidden_cases=1)
LONG_SUM = "x = 1" + "+1" * 300_000
DEEP_UNARY = "x = " + "-" * 300_000 + "1"


@pytest.mark.parametrize("source", [LONG_SUM, DEEP_UNARY], ids=["long sum", "deep unary"])
def test_every_parse_of_student_text_survives_a_cell_too_deep(source):
    assert parse_or_reason(source) == TOO_DEEP
    assert parse_cell(source) is None
    assert to_python(source) == (source, [])  # nothing to rewrite; load_submission refuses the cell
    assert functions_in_source(source, 1) == []
    assert graded_names_run(source, ["rnn_forward"]) == set()
    assert _changed_in_place(source) == frozenset()
    assert cell_label(source).startswith("x = ") and cell_label(source).endswith("...")


def test_parse_cell_tells_a_syntax_error_from_a_cell_too_deep():
    assert isinstance(parse_cell("x = 1"), ast.Module)
    assert parse_or_reason("x = (1 +") == "syntax"
    assert parse_or_reason("x = 1\0") == "syntax"  # a NUL byte: ValueError on some versions, SyntaxError on others


def test_a_cell_too_deep_is_named_not_run_and_costs_only_what_it_defines(tmp_path):
    cells = [c for c in solution_cells("rnn_step_by_step.ipynb") if "rnn_cell_backward" not in c and "lstm" not in c]
    # rnn_forward is defined in the same cell as a sum too long to parse: that cell does not run.
    deep = [c + "\n" + LONG_SUM if "def rnn_forward(" in c else c for c in cells]
    assert deep != cells
    result = grade_notebook(make_notebook(tmp_path / "nb.ipynb", *deep), ONLY)
    assert result.graded, result.error
    functions = {f.name: f for f in result.functions}
    assert functions["rnn_cell_forward"].score == functions["rnn_cell_forward"].max_score
    assert functions["rnn_forward"].score == 0 and functions["rnn_forward"].status != Status.PASSED
    position = next(n for n, c in enumerate(deep, start=1) if "def rnn_forward(" in c)
    issue = next(issue for issue in result.cell_issues if issue.cell == position)
    assert issue.kind == "syntax" and "too long or too deeply nested" in issue.message
    assert f"cell {position}" in issue.message


def test_the_worker_names_only_arguments_it_was_given():
    # The worker is untrusted: -1 would name the last argument, 7 none at all.
    assert changed_positions([0, 2, -1, 3, 7, True, "1", 1.0, 2], 3) == (0, 2)
    assert changed_positions([], 3) == ()


# --- the shell-escape rewrite: linear in a line's length ------------------------------------------

#: The rule as first written, kept here only to show the rewrite answers exactly as it did: its three
#: overlapping runs of spaces cost time cubic in a line's length (0.1 s for 500 spaces, hours for 25,000).
_CUBIC = re.compile(r"^(\s*)([\w\s,\[\]().]+?)\s*=\s*[!%].*$")


@settings(max_examples=2000, deadline=None)
@given(st.text(alphabet=" \t=!%,()[].#ax1_\u00a0", max_size=24))
def test_shell_assignments_are_recognised_as_the_first_rule_did(line):
    match = _CUBIC.match(line)
    # Blank targets (" = !ls") made the first rule write " = []", which does not parse either: the
    # cell is named as a syntax error both ways.
    assume(not (match and not match.group(2).strip()))
    assert _shell_assignment(line) == ((match.group(1), match.group(2)) if match else None)


@pytest.mark.parametrize("line", ["' ' * 200_000 + 'x'", "'x' + ' ' * 200_000 + '= y'", "' ' * 100_000 + '= !ls'"],
                         ids=["spaces then a name", "spaces before =", "spaces before a shell escape"])
def test_a_line_of_many_spaces_costs_the_grader_no_more_than_its_length(line):
    # Run apart with a bound that only stops a hang (the cubic rule took hours on such lines).
    code = f"from grader.load import to_python; to_python({line} + chr(10) + 'def (')"
    subprocess.run([sys.executable, "-c", code], cwd=ROOT, check=True, timeout=120)


@pytest.mark.parametrize("layout", ["v4", "v3"])
def test_a_notebook_of_absurdly_many_cells_is_refused_before_it_is_converted(tmp_path, layout):
    """nbformat's conversion of an old-format notebook of 200,000 cells took minutes and GBs before the
    grader could say anything: the cells are counted first, in either format."""
    cells = [{"cell_type": "code", "input": "x = 1", "outputs": [], "metadata": {}}] * (MAX_CELLS + 1)
    raw = {"nbformat": 4, "nbformat_minor": 2, "metadata": {}, "cells": cells} if layout == "v4" else \
        {"nbformat": 3, "nbformat_minor": 0, "metadata": {}, "worksheets": [{"cells": cells, "metadata": {}}]}
    path = tmp_path / "many.ipynb"
    path.write_text(json.dumps(raw))
    with pytest.raises(NotebookError, match=f"has {MAX_CELLS + 1} cells, far more than any notebook"):
        read_notebook(path, 50)
    raw_ok = dict(raw, cells=cells[:3]) if layout == "v4" else dict(raw, worksheets=[{"cells": cells[:3]}])
    path.write_text(json.dumps(raw_ok))
    assert len(read_notebook(path, 50).cells) == 3  # a notebook of a sane size reads as before
