"""What a student reads: messages that point at the cause (issue 16, "Student")."""
from __future__ import annotations

import json
import shutil

import numpy as np
from rich.console import Console

from grader.compare import compare
from grader.course import get_assignment
from grader.course.spec import Expectation, Tolerance
from grader.execute import CallOutcome, cell_label, graded_names_run
from grader.judges import judge
from grader.pipeline import grade_notebook
from grader.report import markdown_feedback, notebook_report
from grader.results import Status
from grader.textsafe import md_inline
from grader.run_cases import template_changes

from conftest import FAST, SOLUTIONS, make_notebook, replace_function, solution_cells

STUDENT_BUILD = FAST.with_changes(use_solutions=False)


def _broken_cell_forward(cells: list[str]) -> list[str]:
    wrong = cells[1].replace("a_next = np.tanh(", "a_next = 2 * np.tanh(")
    assert wrong != cells[1]
    return replace_function(cells, "rnn_cell_forward", wrong)


def _functions(result):
    assert result.graded, result.error
    return {f.name: f for f in result.functions}


def _render(result) -> str:
    console = Console(record=True, width=200, color_system=None)
    console.print(notebook_report(result))
    return console.export_text()


# 1. A failing function that uses the student's own failing helper says to fix that one first.

def test_student_build_points_at_the_failing_helper_first(tmp_path):
    cells = _broken_cell_forward(solution_cells("rnn_step_by_step.ipynb"))
    notebook = make_notebook(tmp_path / "rnn_step_by_step.ipynb", *cells)
    functions = _functions(grade_notebook(notebook, STUDENT_BUILD.with_changes(only=("rnn_cell_forward", "rnn_forward"))))
    assert functions["rnn_cell_forward"].status == Status.FAILED
    assert functions["rnn_forward"].status == Status.FAILED
    first = functions["rnn_forward"].messages[0]
    assert "uses your `rnn_cell_forward`, which fails: fix it first" in first
    assert not any("uses your" in message for message in functions["rnn_cell_forward"].messages)


def test_with_references_the_helper_note_is_not_given(tmp_path):
    cells = _broken_cell_forward(solution_cells("rnn_step_by_step.ipynb"))
    notebook = make_notebook(tmp_path / "rnn_step_by_step.ipynb", *cells)
    functions = _functions(grade_notebook(notebook, FAST.with_changes(only=("rnn_cell_forward", "rnn_forward"))))
    assert functions["rnn_forward"].status == Status.PASSED  # the reference stood in
    assert not any("uses your" in message for message in functions["rnn_forward"].messages)


# 2. Array excerpts show where the arrays differ.

def test_excerpt_shows_the_neighbourhood_of_the_first_difference():
    expected = np.arange(40.0).reshape(5, 8)
    got = expected.copy()
    got[3, 2] = -1.0  # flat position 26
    message = compare(expected, got, Tolerance(1e-7, 1e-9))[0].message
    want_line, got_line = message.splitlines()[1:3]
    assert "26." in want_line and "-1." in got_line and "25." in got_line
    assert " 0. " not in want_line and want_line.strip().startswith("expected […")
    assert "first at result[3, 2]" in message


def test_excerpt_of_a_difference_at_the_end_keeps_four_values():
    expected = np.arange(10.0)
    got = expected.copy()
    got[-1] = 100.0
    lines = compare(expected, got, Tolerance(1e-7, 1e-9))[0].message.splitlines()
    assert lines[1].split("expected")[1].split() == ["[…", "6.", "7.", "8.", "9.]"]
    assert "100." in lines[2]


def test_excerpt_of_an_early_difference_starts_at_the_beginning():
    expected = np.arange(10.0)
    got = expected.copy()
    got[0] = 5.0
    lines = compare(expected, got, Tolerance(1e-7, 1e-9))[0].message.splitlines()
    assert lines[1].split("expected")[1].strip().startswith("[0.")


# 3. "must update in place" only when the argument was left unchanged.

def _optimize_case(changed_args: tuple[int, ...]):
    spec = get_assignment("dinosaur_island").function("optimize")
    right = {"Wax": np.ones((2, 2))}
    wrong = {"Wax": np.zeros((2, 2))}
    expectation = Expectation(value=(1.0, {}, np.zeros(2)), args_after={3: right})
    outcome = CallOutcome(value=(1.0, {}, np.zeros(2)), args_after=[None, None, None, wrong],
                          changed_args=changed_args)
    return judge(spec, "published (seed 1)", False, expectation, outcome, Tolerance(1e-7, 1e-10))


def test_in_place_advice_only_when_the_argument_was_not_changed():
    untouched = _optimize_case(changed_args=())
    assert not untouched.passed and "must update parameters in place" in untouched.message
    changed_wrongly = _optimize_case(changed_args=(3,))
    assert not changed_wrongly.passed
    assert "must update parameters in place" not in changed_wrongly.message
    assert "does update parameters in place, but to wrong values" in changed_wrongly.message


# 4. No "changes its argument(s) in place" note where the course's own template does that.

def test_template_changes_are_read_from_the_starter_code():
    rnn = get_assignment("rnn_step_by_step")
    assert {"parameters", "v", "s"} <= template_changes(rnn, "update_parameters_with_adam")
    assert template_changes(rnn, "rnn_cell_forward") == frozenset()


def test_reference_notebook_has_no_in_place_note():
    result = grade_notebook(SOLUTIONS / "rnn_step_by_step.ipynb", FAST)
    functions = _functions(result)
    assert result.score == result.max_score
    assert not any("in place" in message for f in functions.values() for message in f.messages)


# 5. Cell numbers come with what finds the cell in Jupyter.

def test_cell_label_is_the_function_or_the_first_line():
    assert cell_label("\n# GRADED FUNCTION: f\ndef f(x):\n    return x\n") == "defines f"
    assert cell_label("\n\n  print('hello')\nx = 1\n") == "print('hello')"
    assert cell_label("x = (" ) == "x = ("
    assert len(cell_label("y = " + "1 + " * 40 + "1")) <= 60


def test_cell_issues_and_tracebacks_quote_the_cell(tmp_path):
    cells = solution_cells("rnn_step_by_step.ipynb")
    raising = cells[1].replace("    cache = (a_next, a_prev, xt, parameters)", "    raise ValueError('boom')")
    cells = replace_function(cells, "rnn_cell_forward", raising)
    cells.insert(1, "#md # A heading Jupyter does not number")
    cells.insert(2, "\n\nundefined_name_here + 1")
    notebook = make_notebook(tmp_path / "rnn_step_by_step.ipynb", *cells)
    result = grade_notebook(notebook, FAST.with_changes(only=("rnn_cell_forward",)))
    issue = next(issue for issue in result.cell_issues if issue.cell == 3)
    assert issue.label == "undefined_name_here + 1" and issue.where == "cell 3 (undefined_name_here + 1)"
    assert "cell 3 (undefined_name_here + 1)" in _render(result)
    assert f"- cell 3 ({md_inline(issue.label)}) (error)" in markdown_feedback(result)
    data = result.to_json()
    assert data["cell_issues"][0]["label"] == "undefined_name_here + 1"
    json.dumps(data)
    traceback = _functions(result)["rnn_cell_forward"].traceback
    assert "cell 4 (defines rnn_cell_forward), line" in traceback, traceback


# 6. A graded function from a helper module the student did not hand in.

def test_bundled_helper_module_says_the_starter_copy_was_used(tmp_path):
    notebook = tmp_path / "rnn_step_by_step.ipynb"
    shutil.copy(SOLUTIONS / "rnn_step_by_step.ipynb", notebook)  # no rnn_utils.py beside it
    result = grade_notebook(notebook, FAST.with_changes(only=("initialize_adam", "update_parameters_with_adam")))
    functions = _functions(result)
    for name in ("initialize_adam", "update_parameters_with_adam"):
        assert functions[name].status == Status.NOT_IMPLEMENTED
        first = functions[name].messages[0]
        assert "starter copy was used" in first and "rnn_utils.py" in first and "placeholders" not in first
    text = _render(result)
    assert "starter copy was used" in text and "TODO (not implemented yet)" not in text


def test_own_helper_module_keeps_the_placeholder_advice(tmp_path):
    from conftest import ASSIGNMENTS

    result = grade_notebook(ASSIGNMENTS / "rnn_step_by_step.ipynb", FAST.with_changes(only=("initialize_adam",)))
    assert "not implemented yet" in _functions(result)["initialize_adam"].messages[0]


# 7. A function known to hang is not waited on again.

def test_graded_names_run_leaves_out_loops_and_definitions():
    names = ["f", "g", "h"]
    assert graded_names_run("x = f(1)\ncheck(g)\n", names) == {"f", "g"}
    assert graded_names_run("for i in range(3):\n    f(i)\ndef k():\n    return g()\n", names) == set()
    assert graded_names_run("h_test(h)\n", names) == {"h"}
    assert graded_names_run("x = (", names) == set()


def _hanging_cell_forward(tmp_path):
    cells = solution_cells("rnn_step_by_step.ipynb")
    hanging = cells[1].replace("    ### START CODE HERE ###", "    while True:\n        pass\n    ### START CODE HERE ###", 1)
    cells = replace_function(cells, "rnn_cell_forward", hanging)
    cells.insert(3, "print(rnn_cell_forward(xt_tmp, a_prev_tmp, parameters_tmp)[0].shape)")  # a second test cell
    return make_notebook(tmp_path / "rnn_step_by_step.ipynb", *cells)


HANG_CONFIG = FAST.with_changes(cell_timeout=2, notebook_timeout=120, only=("rnn_cell_forward", "rnn_forward"))


def test_a_hanging_function_is_not_called_again(tmp_path):
    result = grade_notebook(_hanging_cell_forward(tmp_path), HANG_CONFIG)
    functions = _functions(result)
    issues = {issue.cell: issue for issue in result.cell_issues}
    assert issues[3].kind == "timeout"
    assert issues[4].kind == "skipped" and "rnn_cell_forward" in issues[4].message
    # rnn_forward's test cell hangs in the helper; rnn_backward's test runs rnn_forward (and rnn_backward) after it
    assert issues[6].kind == "timeout"
    assert issues[14].kind == "skipped" and "runs rnn_forward" in issues[14].message
    hang = functions["rnn_cell_forward"]
    assert hang.status == Status.TIMEOUT and not hang.cases
    assert "not called" in hang.messages[0] and "cell 3" in hang.messages[0]
    # rnn_forward's own cell timed out too (it calls the hanging helper), but with the reference
    # standing in for that helper it may well work: it is called, and passes.
    assert functions["rnn_forward"].status == Status.PASSED


def test_student_build_does_not_call_what_hangs_in_its_own_helper(tmp_path):
    # Without references rnn_forward runs the student's own hanging rnn_cell_forward: no call can end.
    functions = _functions(grade_notebook(_hanging_cell_forward(tmp_path), HANG_CONFIG.with_changes(use_solutions=False)))
    forward = functions["rnn_forward"]
    assert forward.status == Status.TIMEOUT and not forward.cases
    assert "uses your `rnn_cell_forward`, which does not finish" in forward.messages[0]
    assert "not called: cell 6" in forward.messages[1]


def test_a_slow_loop_in_a_cell_is_no_evidence(tmp_path):
    cells = solution_cells("rnn_step_by_step.ipynb")
    cells.insert(3, "import time\nfor _ in range(10**9):\n    rnn_cell_forward(xt_tmp, a_prev_tmp, parameters_tmp)")
    notebook = make_notebook(tmp_path / "rnn_step_by_step.ipynb", *cells)
    result = grade_notebook(notebook, FAST.with_changes(cell_timeout=2, only=("rnn_cell_forward",)))
    assert any(issue.kind == "timeout" for issue in result.cell_issues)
    assert _functions(result)["rnn_cell_forward"].status == Status.PASSED


def test_functions_the_notebooks_time_ran_out_before_blame_nothing_they_call():
    """When the notebook's overall time runs out, every later function is TIMEOUT without being called:
    telling each that "your rnn_cell_forward does not finish" blamed correct code."""
    from grader.course import get_assignment
    from grader.results import OUT_OF_TIME, FunctionResult
    from grader.score import note_own_dependencies

    out_of_time = f"{OUT_OF_TIME} (5s) ran out first."
    results = [FunctionResult("rnn_cell_forward", "required", 0.0, 10, Status.TIMEOUT, messages=("not called: cell 3",)),
               FunctionResult("rnn_forward", "required", 0.0, 10, Status.TIMEOUT, messages=(out_of_time,))]
    noted = {result.name: result for result in note_own_dependencies(results, get_assignment("rnn_step_by_step"))}
    assert noted["rnn_forward"].messages == (out_of_time,)
    # A function that was judged on its own cases still hears about the helper it used.
    called = [results[0], FunctionResult("rnn_forward", "required", 0.0, 10, Status.FAILED, messages=("wrong",))]
    noted = {result.name: result for result in note_own_dependencies(called, get_assignment("rnn_step_by_step"))}
    assert noted["rnn_forward"].messages[0].startswith("This uses your `rnn_cell_forward`")
