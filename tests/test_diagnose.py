"""Each mistake model is recognised in a notebook where the mistake is written as a student would
write it (a line of the reference changed by hand), and no diagnosis is ever given to a function
that passes."""
from __future__ import annotations

import pytest

from grader.course import ASSIGNMENTS
from grader.pipeline import grade_notebook

from conftest import FAST, make_notebook, solution_cells

#: function -> its mistake models (the function names of the two course assignments do not collide).
MISTAKES = {spec.name: spec.mistakes for name in ("rnn_step_by_step", "dinosaur_island")
            for spec in ASSIGNMENTS[name].functions}

RNN, DINO = "rnn_step_by_step.ipynb", "dinosaur_island.ipynb"


def message(function: str, key: str) -> str:
    return next(m.message for m in MISTAKES[function] if m.key == key)


# (notebook, function, mistake key, line of the reference, how the student wrote it)
CASES = [
    (RNN, "rnn_cell_forward", "tan", "a_next = np.tanh(", "a_next = np.tan("),
    (RNN, "rnn_cell_forward", "sigmoid", "a_next = np.tanh(", "a_next = sigmoid("),
    (RNN, "rnn_cell_forward", "relu", "a_next = np.tanh(np.dot(Waa, a_prev) + np.dot(Wax, xt) + ba)",
     "a_next = np.maximum(0, np.dot(Waa, a_prev) + np.dot(Wax, xt) + ba)"),
    (RNN, "rnn_cell_forward", "no-ba", "np.dot(Wax, xt) + ba)", "np.dot(Wax, xt))"),
    (RNN, "rnn_cell_forward", "no-by", "softmax(np.dot(Wya, a_next) + by)", "softmax(np.dot(Wya, a_next))"),
    (RNN, "rnn_cell_forward", "y-from-prev", "softmax(np.dot(Wya, a_next) + by)", "softmax(np.dot(Wya, a_prev) + by)"),
    (RNN, "rnn_cell_forward", "softmax-axis", "yt_pred = softmax(np.dot(Wya, a_next) + by)",
     "z = np.dot(Wya, a_next) + by\n    yt_pred = np.exp(z) / np.sum(np.exp(z), axis=1, keepdims=True)"),
    (RNN, "rnn_cell_forward", "softmax-all", "yt_pred = softmax(np.dot(Wya, a_next) + by)",
     "z = np.dot(Wya, a_next) + by\n    yt_pred = np.exp(z) / np.sum(np.exp(z))"),
    (RNN, "rnn_forward", "reuse-a0", "rnn_cell_forward(x[:, :, t], a_next, parameters)", "rnn_cell_forward(x[:, :, t], a0, parameters)"),
    (RNN, "rnn_forward", "skip-first", "for t in range(T_x):", "for t in range(1, T_x):"),
    (RNN, "rnn_forward", "skip-last", "for t in range(T_x):", "for t in range(T_x - 1):"),
    (RNN, "rnn_forward", "none-caches", "caches.append(cache)", "caches.append(None)"),
    (RNN, "lstm_cell_forward", "concat-order", "np.concatenate((a_prev, xt), axis=0)", "np.concatenate((xt, a_prev), axis=0)"),
    (RNN, "lstm_cell_forward", "no-tanh-c", "a_next = ot * np.tanh(c_next)", "a_next = ot * c_next"),
    (RNN, "lstm_cell_forward", "candidate-sigmoid", "cct = np.tanh(", "cct = sigmoid("),
    (RNN, "lstm_cell_forward", "gates-tanh", "ft = sigmoid(np.dot(Wf, concat) + bf)\n    it = sigmoid(",
     "ft = np.tanh(np.dot(Wf, concat) + bf)\n    it = np.tanh("),  # and the output gate, below
    (RNN, "lstm_cell_forward", "no-candidate", "c_next = ft * c_prev + it * cct", "c_next = ft * c_prev + it"),
    (RNN, "lstm_cell_forward", "y-from-prev", "softmax(np.dot(Wy, a_next) + by)", "softmax(np.dot(Wy, a_prev) + by)"),
    (RNN, "lstm_forward", "c-from-a0", "c_next = np.zeros((n_a, m))", "c_next = a0"),
    (RNN, "lstm_forward", "swap-y-c", "return a, y, c, caches", "return a, c, y, caches"),
    (RNN, "lstm_forward", "reuse-a0", "lstm_cell_forward(x[:, :, t], a_next, c_next, parameters)",
     "lstm_cell_forward(x[:, :, t], a0, c_next, parameters)"),
    (RNN, "lstm_forward", "skip-first", "for t in range(T_x):", "for t in range(1, T_x):"),
    (RNN, "lstm_forward", "skip-last", "for t in range(T_x):", "for t in range(T_x - 1):"),
    (RNN, "rnn_cell_backward", "no-tanh-factor", "dtanh = (1 - a_next ** 2) * da_next", "dtanh = da_next"),
    (RNN, "rnn_cell_backward", "no-upstream", "dtanh = (1 - a_next ** 2) * da_next", "dtanh = 1 - a_next ** 2"),
    (RNN, "rnn_backward", "no-recurrent", "rnn_cell_backward(da[:, :, t] + da_prevt, caches[t])", "rnn_cell_backward(da[:, :, t], caches[t])"),
    (RNN, "lstm_cell_backward", "no-tanh-factor", "dcell = dc_next + ot * (1 - np.tanh(c_next) ** 2) * da_next",
     "dcell = dc_next + ot * da_next"),
    (RNN, "lstm_cell_backward", "no-upstream", "dcell = dc_next + ot * (1 - np.tanh(c_next) ** 2) * da_next", "dcell = dc_next"),
    (RNN, "lstm_backward", "no-recurrent", "lstm_cell_backward(da[:, :, t] + da_prevt, dc_prevt, caches[t])",
     "lstm_cell_backward(da[:, :, t], dc_prevt, caches[t])"),
    (RNN, "lstm_backward", "no-dc-carry", "lstm_cell_backward(da[:, :, t] + da_prevt, dc_prevt, caches[t])",
     "lstm_cell_backward(da[:, :, t] + da_prevt, np.zeros((n_a, m)), caches[t])"),
    (DINO, "clip", "not-clipped", "np.clip(gradient, -maxValue, maxValue, out=gradient)", "np.clip(gradient, -maxValue, maxValue)"),
    (DINO, "clip", "low-zero", "np.clip(gradient, -maxValue, maxValue, out=gradient)", "np.clip(gradient, 0, maxValue, out=gradient)"),
    (DINO, "clip", "high-zero", "np.clip(gradient, -maxValue, maxValue, out=gradient)", "np.clip(gradient, -maxValue, 0, out=gradient)"),
    (DINO, "clip", "fixed-10", "np.clip(gradient, -maxValue, maxValue, out=gradient)", "np.clip(gradient, -10, 10, out=gradient)"),
    (DINO, "clip", "fixed-5", "np.clip(gradient, -maxValue, maxValue, out=gradient)", "np.clip(gradient, -5, 5, out=gradient)"),
    (DINO, "clip", "skip-dby", "for gradient in [dWax, dWaa, dWya, db, dby]:", "for gradient in [dWax, dWaa, dWya, db]:"),
    (DINO, "clip", "skip-dWax", "for gradient in [dWax, dWaa, dWya, db, dby]:", "for gradient in [dWaa, dWya, db, dby]:"),
    (DINO, "sample", "argmax", "idx = np.random.choice(range(vocab_size), p=y.ravel())", "idx = np.argmax(y)"),
    (DINO, "sample", "no-feed-back", "        x = np.zeros((vocab_size, 1))\n        x[idx] = 1\n", ""),
    (DINO, "sample", "x-not-reset", "        x = np.zeros((vocab_size, 1))\n        x[idx] = 1\n", "        x[idx] = 1\n"),
    (DINO, "sample", "a-not-updated", "        a_prev = a\n", ""),
    (DINO, "sample", "no-newline-50", "    if (counter == 50):\n        indices.append(char_to_ix['\\n'])\n", ""),
    (DINO, "sample", "no-reseed", "        np.random.seed(counter + seed)\n", ""),
    (DINO, "optimize", "clip-10", "gradients = clip(gradients, 5)", "gradients = clip(gradients, 10)"),
    (DINO, "optimize", "no-clip", "    gradients = clip(gradients, 5)\n", ""),
    (DINO, "optimize", "no-update", "    parameters = update_parameters(parameters, gradients, learning_rate)\n", ""),
]


def with_mistake(tmp_path, notebook, function, old, new):
    if new.startswith("ft = np.tanh("):
        old, new = [old, "ot = sigmoid("], [new, "ot = np.tanh("]
    else:
        old, new = [old], [new]
    cells = solution_cells(notebook)
    changed = []
    for cell in cells:
        if f"def {function}(" in cell:
            for before, after in zip(old, new):
                assert before in cell, (function, before)
                cell = cell.replace(before, after, 1)
        changed.append(cell)
    return make_notebook(tmp_path / notebook, *changed)


@pytest.mark.parametrize("notebook, function, key, old, new", CASES, ids=[f"{c[1]}-{c[2]}" for c in CASES])
def test_mistake_is_named(tmp_path, notebook, function, key, old, new):
    path = with_mistake(tmp_path, notebook, function, old, new)
    result = grade_notebook(path, FAST.with_changes(only=(function,), hidden_cases=1))
    graded = result.functions[0]
    assert graded.score < graded.max_score
    assert graded.diagnosis == message(function, key), (graded.diagnosis, graded.messages[:1])
    assert result.to_json()["functions"][0]["diagnosis"] == graded.diagnosis


def test_every_mistake_model_has_a_test():
    tested = {(function, key) for _, function, key, _, _ in CASES} | {("model", key) for key, _, _ in MODEL_CASES}
    every = {(function, m.key) for function, mistakes in MISTAKES.items() for m in mistakes}
    untested = every - tested - {("clip", f"skip-{k}") for k in ("dWaa", "dWya", "db")}
    assert not untested, untested


def test_error_pattern_numpy_name(tmp_path):
    path = with_mistake(tmp_path, DINO, "sample", "idx = np.random.choice(", "idx = numpy.random.choice(")
    graded = grade_notebook(path, FAST.with_changes(only=("sample",))).functions[0]
    assert "imports numpy as np" in graded.diagnosis


@pytest.mark.parametrize("notebook", [RNN, DINO])
def test_no_diagnosis_for_passing_functions(tmp_path, notebook):
    result = grade_notebook(make_notebook(tmp_path / notebook, *solution_cells(notebook)), FAST)
    assert all(f.diagnosis == "" for f in result.functions)


MODEL_CASES = [
    ("no-leading-none", "X = [None] + single_example_ix", "X = single_example_ix"),
    ("state-not-carried", "optimize(X, Y, a_prev, parameters, learning_rate=0.01)",
     "optimize(X, Y, np.zeros((n_a, 1)), parameters, learning_rate=0.01)"),
    ("no-shuffle", "    np.random.shuffle(examples)\n", ""),
]


@pytest.mark.parametrize("key, old, new", MODEL_CASES, ids=[c[0] for c in MODEL_CASES])
def test_model_mistake_is_named(tmp_path, key, old, new):
    path = with_mistake(tmp_path, DINO, "model", old, new)
    graded = grade_notebook(path, FAST.with_changes(only=("model",), hidden_cases=1)).functions[0]
    assert graded.score < graded.max_score
    assert graded.diagnosis == message("model", key), (graded.diagnosis, graded.messages[:1])


def test_model_without_wrap_around_gets_the_index_diagnosis(tmp_path):
    path = with_mistake(tmp_path, DINO, "model", "idx = j % len(examples)", "idx = j")
    graded = grade_notebook(path, FAST.with_changes(only=("model",), hidden_cases=1)).functions[0]
    assert graded.score < graded.max_score and "wrap around" in graded.diagnosis
