"""A published erratum is not a false fail: v1, v2, v3 and the first v3a copies of "RNN step by step"
printed lstm_backward's expected output from a loop that carries neither da_prev nor dc_prev back in
time, and their template had no lines for it. A notebook of such a version that reproduces what it
printed passes (with a note); the same code in a corrected version (later v3a, v4) still fails.

The notebooks are the reference solution with lstm_backward's loop written the v1 to v3 way."""
from __future__ import annotations

import pytest

from grader.course import ASSIGNMENTS
from grader.course.rnn.errata import LSTM_BACKWARD_V1_V3, ErratumJudge
from grader.pipeline import grade_notebook
from grader.results import Status

from conftest import FAST, make_notebook, solution_cells

CARRY = "step = lstm_cell_backward(da[:, :, t] + da_prevt, dc_prevt, caches[t])"
NO_CARRY = "step = lstm_cell_backward(da[:, :, t], np.zeros((n_a, m)), caches[t])"

#: The lstm_backward "Expected Output" as the two flavours of the published notebooks show it.
PRINTED_V1_V3 = '#md **Expected Output**: **gradients["dx"][1][2]** = [-0.00173313 0.08287442 -0.30545663 -0.43281115]'
PRINTED_CORRECTED = '#md **Expected Output**: **gradients["dx"][1][2]** = [0.00218254 0.28205375 -0.48292508 -0.43281115]'

CONFIG = FAST.with_changes(only=("lstm_backward",), hidden_cases=2, cell_timeout=20, call_timeout=20)


def _cells(carry: bool) -> list[str]:
    cells = solution_cells("rnn_step_by_step.ipynb")
    if not carry:
        assert sum(CARRY in cell for cell in cells) == 1, "the reference's lstm_backward loop changed: update this test"
        cells = [cell.replace(CARRY, NO_CARRY) for cell in cells]
    return cells


OUR_OWN = {"grader": {"assignment": "rnn_step_by_step", "version": "grader-1"}}


def _grade(tmp_path, name: str, markdown: str, carry: bool = False, metadata: dict | None = None,
           course_version: str | None = None, notes: list | None = None):
    path = make_notebook(tmp_path / name, markdown, *_cells(carry), metadata=metadata)
    result = grade_notebook(path, CONFIG.with_changes(course_version=course_version))
    assert result.graded, result.error
    if notes is not None:
        notes.extend(result.notes)
    return next(f for f in result.functions if f.name == "lstm_backward")


@pytest.mark.parametrize("name", ["Building a Recurrent Neural Network - Step by Step - v2.ipynb",
                                  "Building a Recurrent Neural Network - Step by Step - v3.ipynb",
                                  "Building_a_Recurrent_Neural_Network_Step_by_Step_v3a.ipynb"])
def test_a_version_that_printed_the_erratum_accepts_it_with_a_note(tmp_path, name):
    function = _grade(tmp_path, name, PRINTED_V1_V3)
    assert function.status == Status.PASSED and function.score == function.max_score, function.messages
    assert any("true backpropagation through time" in message for message in function.messages), function.messages
    assert not function.diagnosis


@pytest.mark.parametrize("name, markdown, metadata", [
    ("Building_a_Recurrent_Neural_Network_Step_by_Step_v3a.ipynb", PRINTED_CORRECTED, None),  # a corrected v3a
    ("Building_a_Recurrent_Neural_Network_Step_by_Step_v3b.ipynb", PRINTED_V1_V3, None),      # v3b never printed it
    ("Building a Recurrent Neural Network - Step by Step - v2.ipynb", "#md (Expected Output deleted)", None),
    ("rnn_step_by_step.ipynb", PRINTED_V1_V3, OUR_OWN),                                        # our own notebook
])
def test_the_same_code_fails_where_the_expected_output_was_the_right_one(tmp_path, name, markdown, metadata):
    function = _grade(tmp_path, name, markdown, metadata=metadata)
    assert function.score == 0 and function.status == Status.FAILED, function.messages
    assert "true backpropagation through time" not in " ".join(function.messages)


def test_correct_code_still_passes_in_a_version_that_printed_the_erratum(tmp_path):
    function = _grade(tmp_path, "Building a Recurrent Neural Network - Step by Step - v2.ipynb", PRINTED_V1_V3,
                      carry=True)
    assert function.status == Status.PASSED and function.score == function.max_score
    assert not any("true backpropagation" in message for message in function.messages)


def test_the_erratum_is_what_the_published_notebooks_printed():
    """On the published case, the erratum's computation gives the v1 to v3 printed values."""
    import numpy as np

    from grader import resources
    from grader.course.recipes import build_call
    from grader.course.reference import load_reference

    assignment = ASSIGNMENTS["rnn_step_by_step"]
    spec = assignment.function("lstm_backward")
    assert isinstance(spec.judge, ErratumJudge) and spec.judge.name == "values", "stored cases stay the stock judge's"
    args, kwargs = build_call(spec.published[0][1], load_reference(assignment, resources.solutions_dir()).get)
    printed = LSTM_BACKWARD_V1_V3.variant(*args, **kwargs)
    np.testing.assert_allclose(printed["dx"][1][2], [-0.00173313, 0.08287442, -0.30545663, -0.43281115], atol=1e-8)
    np.testing.assert_allclose(printed["da0"][2][3], -0.095911501954, atol=1e-10)
    np.testing.assert_allclose(printed["dWf"][3][1], -0.0698198561274, atol=1e-10)


def test_printed_in_needs_both_the_version_and_its_printed_value():
    erratum = LSTM_BACKWARD_V1_V3
    assert erratum.printed_in("v1", "x = -0.00173313 y")
    assert not erratum.printed_in("v4", "-0.00173313")
    assert not erratum.printed_in(None, "-0.00173313")
    assert not erratum.printed_in("v3a", "0.00218254")


def test_a_notebook_claiming_an_older_version_is_graded_as_the_version_the_class_was_given(tmp_path):
    """A v4 class (--course-version v4): a notebook whose file name and markdown say v2 does not get the
    erratum's credit for code without the carry; the student is told which version it was graded as."""
    notes: list[str] = []
    function = _grade(tmp_path, "Building a Recurrent Neural Network - Step by Step - v2.ipynb", PRINTED_V1_V3,
                      course_version="v4", notes=notes)
    assert function.score == 0 and function.status == Status.FAILED, function.messages
    assert "true backpropagation through time" not in " ".join(function.messages)
    assert any("looks like course version v2; it was graded as v4" in note for note in notes), notes


def test_a_class_given_a_version_with_the_erratum_keeps_it_whatever_the_file_is_named(tmp_path):
    notes: list[str] = []
    function = _grade(tmp_path, "my_rnn.ipynb", PRINTED_V1_V3, course_version="v2", notes=notes)
    assert function.status == Status.PASSED and function.score == function.max_score, function.messages
    assert all("it was graded as v2" in note for note in notes if "course version" in note), notes


def test_a_pinned_version_the_assignment_never_had_is_refused_by_name(tmp_path):
    path = make_notebook(tmp_path / "rnn.ipynb", PRINTED_V1_V3, *_cells(True))
    result = grade_notebook(path, CONFIG.with_changes(course_version="grader-2"))
    assert not result.graded and "--course-version grader-2 is not a published version of rnn_step_by_step" \
        in result.error and "v4" in result.error
