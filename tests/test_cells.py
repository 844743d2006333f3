"""Cell numbers mean one thing everywhere: the cell's position in the notebook, 1-based, counting
every cell (markdown too), in the report, the JSON, the Markdown feedback and tracebacks; and the
report says each thing once."""
from __future__ import annotations

import dataclasses
import io
import json

from rich.console import Console

from grader.pipeline import grade_notebook
from grader.report import markdown_feedback, notebook_report

from conftest import FAST, make_notebook

CELL_FORWARD = '''import numpy as np
def rnn_cell_forward(xt, a_prev, parameters):
    raise ValueError("not today")
'''


def test_the_third_cell_is_cell_3_in_report_json_feedback_and_traceback(tmp_path):
    path = make_notebook(tmp_path / "nb.ipynb",
                         "#md # Title: a markdown cell counts",
                         "import numpy as np",
                         "raise RuntimeError('the third cell raises')",
                         CELL_FORWARD)
    config = dataclasses.replace(FAST, assignment="rnn_step_by_step", only=("rnn_cell_forward",))
    result = grade_notebook(path, config)
    assert result.graded, result.error
    assert [issue.cell for issue in result.cell_issues] == [3]
    assert json.loads(json.dumps(result.to_json()))["cell_issues"][0]["cell"] == 3

    buffer = io.StringIO()
    Console(file=buffer, width=200, no_color=True).print(notebook_report(result))
    report = buffer.getvalue()
    assert "cell 3" in report and "the third cell raises" in report
    assert "- cell 3 (" in markdown_feedback(result)

    function = result.functions[0]
    assert "cell 4" in function.traceback, function.traceback


def test_a_pass_thanks_to_the_reference_is_said_once():
    from grader.report import function_details
    from grader.results import FunctionResult, Status
    from grader.score import note_reference_help

    weak = FunctionResult("rnn_cell_forward", "required", 0, 25, Status.FAILED)
    helped = FunctionResult("rnn_forward", "required", 25, 25, Status.PASSED,
                            reference_dependencies=("rnn_cell_forward",))
    noted = note_reference_help([weak, helped])[1]
    buffer = io.StringIO()
    Console(file=buffer, width=200, no_color=True).print(function_details(noted))
    assert buffer.getvalue().count("reference rnn_cell_forward") == 1


def test_a_missing_function_suggests_only_the_students_own_names(tmp_path):
    from conftest import solution_cells

    from grader.results import Status

    cells = [c for c in solution_cells("rnn_step_by_step.ipynb") if "def lstm_forward(" not in c]
    config = dataclasses.replace(FAST, assignment="rnn_step_by_step", only=("lstm_forward",))
    result = grade_notebook(make_notebook(tmp_path / "nb.ipynb", *cells), config)
    function = result.functions[0]
    assert function.status == Status.MISSING
    assert "lstm_forward_test" not in function.messages[0]  # public_tests.py's, not the student's
    renamed = [c.replace("def lstm_forward(", "def lstm_forwrd(") for c in solution_cells("rnn_step_by_step.ipynb")]
    result = grade_notebook(make_notebook(tmp_path / "typo.ipynb", *renamed), config)
    assert "Did you mean `lstm_forwrd`?" in result.functions[0].messages[0]
