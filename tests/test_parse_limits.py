"""Student text too deep for Python's parser, and what the worker says about changed arguments.

ast.parse raises RecursionError on a 49,000-term sum and MemoryError on a 99,000-deep unary chain:
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
from grader.load import (MAX_CELL_CHARS, MAX_CELLS, MAX_CODE_CHARS, TOO_DEEP, TOO_LONG, VALUES_PER_MB, _graded_markers,
                         _shell_assignment, functions_in_source, json_values, load_submission, parse_cell,
                         parse_or_reason, read_notebook, to_python)
from grader.pipeline import grade_notebook
from grader.results import Status
from grader.run_cases import _changed_in_place

from conftest import FAST, ROOT, make_notebook, solution_cells

ONLY = FAST.with_changes(only=("rnn_cell_forward", "rnn_forward"), hidden_cases=1)
LONG_SUM = "x = 1" + "+1" * 49_000  # both under MAX_CELL_CHARS: too deep, not too long
DEEP_UNARY = "x = " + "-" * 99_000 + "1"


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


JSON_LEAVES = st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text()
JSON_VALUES = st.recursive(JSON_LEAVES, lambda inner: st.lists(inner) | st.dictionaries(st.text(), inner), max_leaves=40)


def _built(value) -> int:
    """The values json.loads builds for ``value``, strings and numbers and keys' values included."""
    if isinstance(value, list):
        return 1 + sum(_built(item) for item in value)
    if isinstance(value, dict):
        return 1 + sum(_built(item) for item in value.values())
    return 1


@settings(max_examples=500, deadline=None)
@given(JSON_VALUES, st.booleans())
def test_the_count_of_json_values_never_falls_short_of_what_parsing_builds(value, indented):
    text = json.dumps(value, indent=1 if indented else None, ensure_ascii=False)
    assert json_values(text) >= _built(value)


@settings(max_examples=300, deadline=None)
@given(st.lists(st.text(alphabet='[]{},"\\:x\n', max_size=30), max_size=20))
def test_brackets_commas_and_escaped_quotes_inside_strings_are_not_counted(strings):
    """Code and printed arrays live in strings: they must not count, or real notebooks would be refused."""
    assert json_values(json.dumps(strings)) == json_values(json.dumps(["x"] * len(strings)))


def _notebook_text(cells: list) -> str:
    return json.dumps({"nbformat": 4, "nbformat_minor": 5, "metadata": {}, "cells": cells})


def test_a_notebook_of_millions_of_tiny_values_is_refused_before_it_is_parsed(tmp_path):
    """46 MB of empty lists took 1.3 GB to parse: values are counted first, against the size limit."""
    limit = int(1 * VALUES_PER_MB)  # --max-notebook-mb 1
    cell = {"cell_type": "code", "source": "x = 1", "outputs": [], "metadata": {}, "execution_count": None}
    path = tmp_path / "lists.ipynb"
    path.write_text(_notebook_text([dict(cell, metadata={"junk": [[]] * limit})]))
    assert path.stat().st_size < 1024 * 1024  # within the size limit: only the count refuses it
    with pytest.raises(NotebookError, match=f"far more than a notebook of its size \\(at most {limit:,} are read\\)"):
        read_notebook(path, 1)
    # The same size in outputs a notebook really has (printed lines, an image) is read.
    printed = {"output_type": "stream", "name": "stdout", "text": [f"loss {i}: [0.1, 0.2, {{}}]\n" for i in range(20_000)]}
    image = {"output_type": "display_data", "metadata": {}, "data": {"image/png": "iVBOR" * 40_000}}
    path.write_text(_notebook_text([dict(cell, outputs=[printed, image])]))
    assert 0.5 * 1024 * 1024 < path.stat().st_size < 1024 * 1024
    assert len(read_notebook(path, 1).cells) == 1


@pytest.mark.parametrize("depth", [990, 100_000])
def test_a_notebook_nested_too_deeply_is_refused_not_a_crash(tmp_path, depth):
    cell = {"cell_type": "code", "source": "x = 1", "outputs": [], "metadata": {}, "execution_count": None}
    path = tmp_path / "deep.ipynb"
    deep = "[" * depth + "]" * depth
    path.write_text(_notebook_text([dict(cell, metadata={"deep": "DEEP"})]).replace('"DEEP"', deep))
    with pytest.raises(NotebookError, match="nested too deeply to read"):
        read_notebook(path, 50)
    completed = subprocess.run([sys.executable, "-m", "grader", str(path)], cwd=ROOT, capture_output=True, text=True,
                               timeout=120)
    assert completed.returncode == 2 and "Traceback" not in completed.stderr
    assert "nested too deeply to read" in completed.stderr


_FIRST_MARKER_RULE = re.compile(r"#+\s*(?:UN)?GRADED (?:FUNCTION|CLASS):\s*(\w+)")


@settings(max_examples=2000, deadline=None)
@given(st.text(alphabet="# \t\nGRADEDFUNCTIONCLASS:UNx_1", max_size=60))
def test_graded_markers_are_found_as_the_first_rule_found_them(text):
    assert _graded_markers(text) == _FIRST_MARKER_RULE.findall(text)


def test_a_line_of_hashes_costs_the_grader_no_more_than_its_length():
    """The first rule tried every # of a run as a start: 40,000 took 46 s, in a batch's own process
    (choosing the class's assignment) before any bound. Run apart with a bound that only stops a hang."""
    code = "from grader.load import _graded_markers; assert _graded_markers('#' * 300_000 + 'x') == []"
    subprocess.run([sys.executable, "-c", code], cwd=ROOT, check=True, timeout=120)


def test_a_code_cell_longer_than_any_of_the_course_is_not_parsed_or_run(tmp_path):
    """Python's parser took 2.7 GB for 3 MB of `a;`: a cell over MAX_CELL_CHARS is refused unparsed, and
    costs only what it defines."""
    assert parse_or_reason("a;" * (MAX_CELL_CHARS // 2 + 1)) == TOO_LONG and parse_cell("a" * (MAX_CELL_CHARS + 1)) is None
    cells = solution_cells("rnn_step_by_step.ipynb")
    path = make_notebook(tmp_path / "long.ipynb", *cells, "a;" * (MAX_CELL_CHARS // 2 + 1))
    submission = load_submission(path, 50)
    refused = [cell for cell in submission.cells if cell.refused]
    assert len(refused) == 1 and refused[0].refused == TOO_LONG and "split it into smaller cells" in TOO_LONG
    result = grade_notebook(path, ONLY)
    assert result.graded and result.score == result.max_score
    assert any(issue.kind == "syntax" and TOO_LONG in issue.message for issue in result.cell_issues)


def test_a_notebook_with_more_code_than_the_grader_reads_is_refused_before_parsing(tmp_path):
    cell = "x = 1\n" * (MAX_CELL_CHARS // 7)
    path = make_notebook(tmp_path / "much.ipynb", *[cell] * (MAX_CODE_CHARS // len(cell) + 1))
    with pytest.raises(NotebookError, match=f"characters of code, far more than any notebook of the course \\(at most "
                                            f"{MAX_CODE_CHARS:,} are read\\)"):
        load_submission(path, 50)
