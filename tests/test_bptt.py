"""The third assignment, BPTT by hand: the reference is checked against automatic differentiation
(autograd, and torch where it happens to be installed) and central finite differences; the
solution scores full marks, the student notebook 0; each classic BPTT mistake is named; a graded
class with a missing method, a wrong arity or state shared between instances gets a clear verdict."""
from __future__ import annotations

import numpy as np
import pytest

from grader.course import get_assignment
from grader.course.reference import load_reference
from grader.pipeline import grade_notebook
from grader.results import Status

from conftest import ASSIGNMENTS, FAST, SOLUTIONS, make_notebook, solution_cells

NOTEBOOK = "bptt_by_hand.ipynb"
SPEC = get_assignment("bptt_by_hand")


@pytest.fixture(scope="module")
def reference():
    return load_reference(SPEC, SOLUTIONS)


def random_gates(rng, gates, n_a, n_x):
    return {f"{kind}{gate}": rng.standard_normal((n_a, n_a + n_x) if kind == "W" else (n_a, 1))
            for gate in gates for kind in "Wb"}


# --- the reference against automatic differentiation and finite differences -----------------

def test_rnn_cell_class_matches_autograd(reference):
    autograd = pytest.importorskip("autograd")
    anp = pytest.importorskip("autograd.numpy")
    rng = np.random.default_rng(0)
    steps, batch, inputs, hidden = 4, 3, 4, 5
    x, h0, dh = rng.random((steps, batch, inputs)), rng.random((batch, hidden)), rng.random((steps, batch, hidden))
    weights = [rng.uniform(-0.5, 0.5, shape) for shape in [(hidden, inputs), (hidden, hidden), (hidden,), (hidden,)]]

    def loss(x, weights):  # sum over steps of <dh_t, h_t>: its gradients are what backward computes
        h, total = h0, 0.0
        for t in range(steps):
            h = anp.tanh(x[t] @ weights[0].T + h @ weights[1].T + weights[2] + weights[3])
            total = total + anp.sum(dh[t] * h)
        return total

    cell = reference["RNNCell"](*weights)
    h = h0
    for t in range(steps):
        h = cell(x[t], h)
    dx = [cell.backward(dh[t]) for t in reversed(range(steps))][::-1]
    assert np.allclose(np.stack(dx), autograd.grad(loss, 0)(x, weights))
    for mine, theirs in zip([cell.dW_ih, cell.dW_hh, cell.db_ih, cell.db_hh], autograd.grad(loss, 1)(x, weights)):
        assert np.allclose(mine, theirs)


def test_lstm_and_gru_backward_match_autograd(reference):
    autograd = pytest.importorskip("autograd")
    anp = pytest.importorskip("autograd.numpy")
    sigmoid = lambda z: 1 / (1 + anp.exp(-z))  # noqa: E731
    rng = np.random.default_rng(1)
    n_x, n_a, m = 3, 4, 6
    xt, a_prev, c_prev = rng.standard_normal((n_x, m)), rng.standard_normal((n_a, m)), rng.standard_normal((n_a, m))
    da, dc = rng.standard_normal((n_a, m)), rng.standard_normal((n_a, m))

    lstm = random_gates(rng, "fioc", n_a, n_x)

    def lstm_loss(xt, a_prev, c_prev, p):
        concat = anp.concatenate((a_prev, xt), axis=0)
        ft, it = sigmoid(p["Wf"] @ concat + p["bf"]), sigmoid(p["Wi"] @ concat + p["bi"])
        c = ft * c_prev + it * anp.tanh(p["Wc"] @ concat + p["bc"])
        a = sigmoid(p["Wo"] @ concat + p["bo"]) * anp.tanh(c)
        return anp.sum(da * a) + anp.sum(dc * c)

    from grader.course.bptt.data import given_helpers

    cache = given_helpers().lstm_cell_forward(xt, a_prev, c_prev, {**lstm, "Wy": np.zeros((2, n_a)),
                                                                   "by": np.zeros((2, 1))})[3]
    mine = reference["lstm_cell_backward"](da, dc, cache)
    for index, name in enumerate(["dxt", "da_prev", "dc_prev"]):
        assert np.allclose(mine[name], autograd.grad(lstm_loss, index)(xt, a_prev, c_prev, lstm)), name
    lstm_params = autograd.grad(lstm_loss, 3)(xt, a_prev, c_prev, lstm)
    assert all(np.allclose(mine["d" + key], lstm_params[key]) for key in lstm)

    gru = random_gates(rng, "zrh", n_a, n_x)

    def gru_loss(xt, a_prev, p):
        concat = anp.concatenate((a_prev, xt), axis=0)
        z, r = sigmoid(p["Wz"] @ concat + p["bz"]), sigmoid(p["Wr"] @ concat + p["br"])
        h = anp.tanh(p["Wh"] @ anp.concatenate((r * a_prev, xt), axis=0) + p["bh"])
        return anp.sum(da * (z * a_prev + (1 - z) * h))

    a_next, cache = reference["gru_cell_forward"](xt, a_prev, gru)
    assert np.isclose(anp.sum(da * a_next), gru_loss(xt, a_prev, gru))
    mine = reference["gru_cell_backward"](da, cache)
    assert np.allclose(mine["dxt"], autograd.grad(gru_loss, 0)(xt, a_prev, gru))
    assert np.allclose(mine["da_prev"], autograd.grad(gru_loss, 1)(xt, a_prev, gru))
    gru_params = autograd.grad(gru_loss, 2)(xt, a_prev, gru)
    assert all(np.allclose(mine["d" + key], gru_params[key]) for key in gru)


def test_gru_backward_matches_central_finite_differences(reference):
    rng = np.random.default_rng(2)
    n_x, n_a, m, step = 2, 3, 4, 1e-6
    xt, a_prev, da = rng.standard_normal((n_x, m)), rng.standard_normal((n_a, m)), rng.standard_normal((n_a, m))
    parameters = random_gates(rng, "zrh", n_a, n_x)
    forward, backward = reference["gru_cell_forward"], reference["gru_cell_backward"]
    gradients = backward(da, forward(xt, a_prev, parameters)[1])

    def loss() -> float:
        return float(np.sum(da * forward(xt, a_prev, parameters)[0]))

    for name, array in [("dxt", xt), ("da_prev", a_prev), *(("d" + key, parameters[key]) for key in parameters)]:
        numeric = np.zeros_like(array)
        for index in np.ndindex(array.shape):
            keep = array[index]
            array[index] = keep + step
            up = loss()
            array[index] = keep - step
            down = loss()
            array[index] = keep
            numeric[index] = (up - down) / (2 * step)
        assert np.allclose(gradients[name], numeric, rtol=1e-5, atol=1e-7), name


def test_rnn_cell_class_matches_torch_when_installed(reference):
    torch = pytest.importorskip("torch")
    torch.manual_seed(123)
    rnn = torch.nn.RNN(4, 5).double()
    rng = np.random.RandomState(123)
    x, h0, dh = rng.random_sample((3, 3, 4)), rng.random_sample((1, 3, 5)), rng.random_sample((3, 3, 5))
    x_tensor, h_tensor = torch.tensor(x, requires_grad=True), torch.tensor(h0)
    out, _ = rnn(x_tensor, h_tensor)
    out.backward(torch.tensor(dh))
    weights = [w.detach().numpy() for w in rnn.all_weights[0]]
    cell = reference["RNNCell"](*weights)
    h, hidden = h0[0], []
    for t in range(3):
        h = cell(x[t], h)
        hidden.append(h)
    dx = [cell.backward(dh[t]) for t in reversed(range(3))][::-1]
    assert np.allclose(np.stack(hidden), out.detach().numpy())
    assert np.allclose(np.stack(dx), x_tensor.grad.numpy())
    for mine, parameter in zip([cell.dW_ih, cell.dW_hh, cell.db_ih, cell.db_hh], rnn.all_weights[0]):
        assert np.allclose(mine, parameter.grad.numpy())


# --- grading the assignment -------------------------------------------------------------------

def test_solution_scores_full_marks_and_the_student_notebook_zero():
    solved = grade_notebook(SOLUTIONS / NOTEBOOK, FAST)
    assert solved.assignment == "bptt_by_hand" and solved.score == solved.max_score == 100
    assert all(len(f.cases) >= 3 and all(not c.hidden or c.passed for c in f.cases) for f in solved.functions)
    blank = grade_notebook(ASSIGNMENTS / NOTEBOOK, FAST)
    assert blank.score == 0
    assert {f.status for f in blank.functions} == {Status.NOT_IMPLEMENTED}


def with_change(tmp_path, function: str, old: str, new: str, marker: str | None = None):
    cells = solution_cells(NOTEBOOK)
    marker = marker or f"GRADED FUNCTION: {function}"
    changed = []
    for cell in cells:
        if marker in cell:
            assert old in cell, (function, old)
            cell = cell.replace(old, new)
        changed.append(cell)
    return make_notebook(tmp_path / "bptt_by_hand.ipynb", *changed)


CLASS = "GRADED CLASS: RNNCell"
SHARED_STATE = ('        self.dW_ih = np.zeros_like(weight_ih)\n        self.dW_hh = np.zeros_like(weight_hh)\n'
                '        self.db_ih = np.zeros_like(bias_ih)\n        self.db_hh = np.zeros_like(bias_hh)\n')
MISTAKE_CASES = [
    ("RNNCell", "no-carry", "dz = (dh + self.dh_carry) * (1 - next_hidden ** 2)", "dz = dh * (1 - next_hidden ** 2)"),
    ("RNNCell", "h-not-derivative", "dz = (dh + self.dh_carry) * (1 - next_hidden ** 2)",
     "dz = (dh + self.dh_carry) * next_hidden"),
    ("RNNCell", "bias-not-summed", "self.db_ih += dz.sum(axis=0)\n        self.db_hh += dz.sum(axis=0)",
     "self.db_ih = self.db_ih + dz\n        self.db_hh = self.db_hh + dz"),
    ("RNNCell", "oldest-first", "self.steps.pop()", "self.steps.pop(0)"),
    ("RNNCell", "one-cache", "self.steps.pop()", "self.steps[-1]"),
    ("lstm_cell_backward", "no-tanh-factor", "dc = dc_next + da_next * ot * (1 - tanh_c ** 2)",
     "dc = dc_next + da_next * ot"),
    ("lstm_cell_backward", "no-upstream", "dc = dc_next + da_next * ot * (1 - tanh_c ** 2)", "dc = dc_next"),
    ("gru_cell_forward", "update-swapped", "a_next = zt * a_prev + (1 - zt) * hht",
     "a_next = (1 - zt) * a_prev + zt * hht"),
    ("gru_cell_forward", "no-reset", "np.concatenate((rt * a_prev, xt), axis=0)", "np.concatenate((a_prev, xt), axis=0)"),
    ("gru_cell_backward", "no-direct-path", "da_prev = da_next * zt + dreset_a * rt + dconcat[:n_a]",
     "da_prev = dreset_a * rt + dconcat[:n_a]"),
    ("gru_cell_backward", "no-reset-path", "da_prev = da_next * zt + dreset_a * rt + dconcat[:n_a]",
     "da_prev = da_next * zt + dconcat[:n_a]"),
]


@pytest.mark.parametrize("function,key,old,new", MISTAKE_CASES, ids=[f"{f}-{k}" for f, k, _, _ in MISTAKE_CASES])
def test_each_mistake_is_named(tmp_path, function, key, old, new):
    path = with_change(tmp_path, function, old, new, CLASS if function == "RNNCell" else None)
    graded = grade_notebook(path, FAST.with_changes(only=(function,))).functions[0]
    assert graded.score < graded.max_score, graded.messages
    wanted = next(m.message for m in SPEC.function(function).mistakes if m.key == key)
    assert graded.diagnosis == wanted, (graded.diagnosis, graded.messages[:2])


def _shared_state_notebook(tmp_path):
    """The accumulators kept in a class-level dict: every RNNCell adds to the same arrays."""
    shared = "".join(f"        self.{name} = RNNCell.totals.setdefault({name!r}, np.zeros_like({source}))\n"
                     for name, source in [("dW_ih", "weight_ih"), ("dW_hh", "weight_hh"), ("db_ih", "bias_ih"),
                                          ("db_hh", "bias_hh")])
    cells = []
    for cell in solution_cells(NOTEBOOK):
        if CLASS in cell:
            cell = cell.replace("class RNNCell:\n", "class RNNCell:\n    totals = {}\n").replace(SHARED_STATE, shared)
        cells.append(cell)
    return make_notebook(tmp_path / "shared_state.ipynb", *cells)


def test_every_mistake_model_has_a_test():
    tested = {(function, key) for function, key, _, _ in MISTAKE_CASES}
    every = {(spec.name, m.key) for spec in SPEC.functions for m in spec.mistakes}
    assert every == tested


def test_state_shared_between_instances_is_named(tmp_path):
    graded = grade_notebook(_shared_state_notebook(tmp_path), FAST.with_changes(only=("RNNCell",))).functions[0]
    assert graded.score == 0  # (its other cases raise: the shared arrays keep the demo cell's shapes)
    assert "a second RNNCell built with the same weights and inputs gives other" in graded.messages[0]
    assert "the instances share state" in graded.messages[0]


def test_a_missing_method_is_named(tmp_path):
    path = with_change(tmp_path, "RNNCell", "    def backward(self, dh):", "    def back(self, dh):", CLASS)
    graded = grade_notebook(path, FAST.with_changes(only=("RNNCell",))).functions[0]
    assert graded.status == Status.ERROR
    assert "RNNCell has no method 'backward'" in graded.messages[0]


def test_a_wrong_arity_is_named(tmp_path):
    path = with_change(tmp_path, "RNNCell", "def __call__(self, x, prev_hidden):", "def __call__(self, x):", CLASS)
    graded = grade_notebook(path, FAST.with_changes(only=("RNNCell",))).functions[0]
    assert graded.status == Status.ERROR
    assert "RNNCell instance (its __call__) cannot take 2 argument(s)" in graded.messages[0]


def test_a_function_where_a_class_is_expected_is_named(tmp_path):
    cells = [cell if CLASS not in cell else "# GRADED CLASS: RNNCell\ndef RNNCell(*weights):\n    return None\n"
             for cell in solution_cells(NOTEBOOK)]
    path = make_notebook(tmp_path / "bptt_by_hand.ipynb", *cells)
    graded = grade_notebook(path, FAST.with_changes(only=("RNNCell",))).functions[0]
    assert graded.score == 0
    assert "RNNCell should be a class (class RNNCell: ...), not a function" in graded.messages[0]


def test_check_knows_which_assignment_an_item_of_a_shared_name_belongs_to():
    from grader.selfcheck import _assignment_of

    assert _assignment_of("lstm_cell_backward", solution_cells(NOTEBOOK)).name == "bptt_by_hand"
    assert _assignment_of("lstm_cell_backward", solution_cells("rnn_step_by_step.ipynb")).name == "rnn_step_by_step"
    assert _assignment_of("RNNCell", []).name == "bptt_by_hand"
