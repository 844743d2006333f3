"""A reference stand-in must not hide a bug of the function that calls it.

When lstm_forward is graded, the reference answers its calls of lstm_cell_forward, and the cache it
returns crosses the wire as fresh copies; the worker's stand-in puts the caller's own objects back where the
reference's result held its arguments (worker.restore_aliases), because the course's own cell stores the very arrays it is
given (cache = (..., a_prev, c_prev, ...)), so in the student's notebook a ``c_next = c[:, :, 0]``
(a view, which the v3a and v4 notebooks warn against) is overwritten by the loop's ``c[:, :, t] =
c_next`` and the first cache's c_prev is wrong: the backward pass then gives wrong gradients. Five
corpus notebooks do this (see the final report of the fidelity review); the grader must fail them."""
from __future__ import annotations

from grader.pipeline import grade_notebook

from conftest import FAST, make_notebook, solution_cells

OWN_ZEROS = "c_next = np.zeros((n_a, m))"
VIEW = "c_next = c[:, :, 0]"


def _grade(tmp_path, source_change: tuple[str, str]):
    cells = solution_cells("rnn_step_by_step.ipynb")
    assert sum(source_change[0] in cell for cell in cells) == 1, "the reference's lstm_forward changed: update this test"
    cells = [cell.replace(*source_change) for cell in cells]
    result = grade_notebook(make_notebook(tmp_path / "nb.ipynb", *cells),
                            FAST.with_changes(only=("lstm_forward",), hidden_cases=1, cell_timeout=20, call_timeout=20))
    return next(f for f in result.functions if f.name == "lstm_forward")


def test_the_view_is_harmless_when_nothing_is_kept(tmp_path):
    """Control: a fresh zeros array (the reference) passes."""
    function = _grade(tmp_path, (OWN_ZEROS, OWN_ZEROS))
    assert function.score == function.max_score


def test_a_cell_state_that_is_a_view_of_c_fails(tmp_path):
    function = _grade(tmp_path, (OWN_ZEROS, VIEW))
    assert function.score == 0, "caches[0]'s c_prev is the cell state of step 1, not zeros"


def test_the_grader_says_where_the_reference_kept_its_arguments():
    """The grader's half of the fix: the answer to a stand-in's call names, for the worker, where the
    result holds the call's own arguments (still a 2-tuple for the reader of today)."""
    import numpy as np

    from grader import resources
    from grader.course import ASSIGNMENTS
    from grader.course.reference import load_reference
    from grader.run_cases import alias_paths, dependency_handler

    references = load_reference(ASSIGNMENTS["rnn_step_by_step"], resources.solutions_dir())
    random = np.random.RandomState(0)
    parameters = {key: random.randn(5, 8) if key.startswith("W") else random.randn(5, 1)
                  for key in ("Wf", "bf", "Wi", "bi", "Wo", "bo", "Wc", "bc")}
    parameters.update(Wy=random.randn(2, 5), by=random.randn(2, 1))
    args = [random.randn(3, 4), random.randn(5, 4), random.randn(5, 4), parameters]
    answer = dependency_handler(references, ["lstm_cell_forward"])("lstm_cell_forward", args, {})
    value, args_after = answer
    assert args_after is None
    # cache = (a_next, c_next, a_prev, c_prev, ft, it, cct, ot, xt, parameters)
    assert sorted(answer.aliases) == [[[3, 2], [1]], [[3, 3], [2]], [[3, 8], [0]], [[3, 9], [3]]]
    assert alias_paths((args[3]["Wf"],), args) == [[[0], [3, "Wf"]]]
    assert alias_paths(np.zeros(2), args) == [] and alias_paths(args[0], args) == [[[], [0]]]


def test_restore_aliases_puts_the_callers_objects_back_and_is_total():
    import numpy as np

    from grader.worker import restore_aliases

    a_prev, parameters = np.zeros(3), {"Wf": np.ones(2)}
    value = (np.zeros(3), (np.zeros(3), {"Wf": np.ones(2)}), [np.zeros(3)])
    aliases = [[[1, 0], [0]], [[1, 1], [1]], [[2, 0], [1, "Wf"]]]
    restored = restore_aliases(value, [a_prev, parameters], aliases)
    assert restored[1][0] is a_prev and restored[1][1] is parameters and restored[2][0] is parameters["Wf"]
    assert restore_aliases(value, [a_prev], [[[], [0]]]) is a_prev
    junk = [None, 3, [], [[0]], [[5], [0]], [[0], [7]], [["x"], [0]], [[0, 0, 0], [0]], [[-1], [0]],
            [[0], [0, "missing"]], [[True], [0]], [[0], []], [[0], [0, 0]], "aliases", [[0] * 100, [0]]]
    for bad in junk:
        restored = restore_aliases(value, [a_prev, parameters], [bad])
        assert restored is value and restored[1][0] is not a_prev, bad
    assert restore_aliases(value, [], "not a list") is value
    array = np.zeros((2, 2))
    assert restore_aliases(array, [a_prev], [[[0], [0]]]) is array and not array.any(), "arrays are not containers"
