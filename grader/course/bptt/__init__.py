"""Assignment "BPTT by hand" (from the exercises of chapter 6 of *Neural Networks and Deep Learning*):
a simple RNN cell written as a class and driven backwards through time, the LSTM cell's backward
step, and the GRU cell's forward and backward steps.

``RNNCell`` is graded as a class: each case is a script (grader/drive.py) that builds it with given
weights, runs it forward step by step, backward last step first, and reads the four accumulated
gradients, then does it all again with a second cell (judges.py: instances that share state).
"""
from __future__ import annotations

import numpy as np

from ..rnn import lstm_parameter_draws
from ..spec import AssignmentSpec, FunctionSpec, Tolerance, mistake_models
from . import data  # noqa: F401  (registers the lstm_cell_forward recipe step)
from .judges import SECOND, RepeatedCellJudge

MISTAKES = mistake_models(__name__)

TOLERANCE = Tolerance(1e-6, 1e-9)
GRADIENTS = ("dW_ih", "dW_hh", "db_ih", "db_hh")


def rnn_cell_recipe(seed, input_size=4, hidden_size=5, steps=3, batch=3):
    """Draws in the order of the notebook's own test (inputs, initial state and output gradients with
    numpy's random_sample, then the weights uniform in ±1/sqrt(hidden_size), as PyTorch initialises
    nn.RNN), then the script: the cell is built and run twice with the same weights and inputs, the
    second time keeping its results as "cell 2 ..." (the judge compares the two)."""
    bound = 1 / np.sqrt(hidden_size)
    draws = [*(["uniform", f"x.{t}", [batch, input_size], 0, 1] for t in range(steps)),
             ["uniform", "h0", [batch, hidden_size], 0, 1],
             *(["uniform", f"dh.{t}", [batch, hidden_size], 0, 1] for t in range(steps)),
             ["uniform", "weight_ih", [hidden_size, input_size], -bound, bound],
             ["uniform", "weight_hh", [hidden_size, hidden_size], -bound, bound],
             ["uniform", "bias_ih", [hidden_size], -bound, bound],
             ["uniform", "bias_hh", [hidden_size], -bound, bound]]
    script: list = []
    for label in ("", SECOND):
        script.append(["new", ["weight_ih", "weight_hh", "bias_ih", "bias_hh"]])
        for t in range(steps):
            previous = "h0" if t == 0 else {"kept": f"{label}hidden", "at": -1}
            script.append(["call", "__call__", [f"x.{t}", previous], f"{label}hidden"])
        script += [["call", "backward", [f"dh.{t}"], f"{label}dx"] for t in reversed(range(steps))]
        script += [["get", name, f"{label}{name}"] for name in GRADIENTS]
    return {"seed": seed, "steps": [*draws, ["script", "script", script]], "args": ["script"]}


def lstm_cell_backward_recipe(seed, n_x=3, n_a=5, n_y=2, m=10):
    steps = [["draw", "xt", [n_x, m]], ["draw", "a_prev", [n_a, m]], ["draw", "c_prev", [n_a, m]],
             *lstm_parameter_draws(n_a, n_x, n_y),
             ["lstm_cell_forward", ["xt", "a_prev", "c_prev", "parameters"], ["a_next", "c_next", "yt", "cache"]],
             ["draw", "da_next", [n_a, m]], ["draw", "dc_next", [n_a, m]]]
    return {"seed": seed, "steps": steps, "args": ["da_next", "dc_next", "cache"]}


def gru_parameter_draws(n_a, n_x):
    return [["draw", f"parameters.{kind}{gate}", [n_a, n_a + n_x] if kind == "W" else [n_a, 1]]
            for gate in "zrh" for kind in "Wb"]


def gru_cell_forward_recipe(seed, n_x=3, n_a=5, m=10):
    steps = [["draw", "xt", [n_x, m]], ["draw", "a_prev", [n_a, m]], *gru_parameter_draws(n_a, n_x)]
    return {"seed": seed, "steps": steps, "args": ["xt", "a_prev", "parameters"]}


def gru_cell_backward_recipe(seed, n_x=3, n_a=5, m=10):
    steps = [*gru_cell_forward_recipe(seed, n_x, n_a, m)["steps"],
             ["reference", "gru_cell_forward", ["xt", "a_prev", "parameters"], ["a_next", "cache"]],
             ["draw", "da_next", [n_a, m]]]
    return {"seed": seed, "steps": steps, "args": ["da_next", "cache"]}


def _seed(rng):
    return int(rng.integers(0, 2**31 - 1))


def _hidden_rnn_cell(count, rng):
    return [rnn_cell_recipe(_seed(rng), input_size=int(rng.integers(2, 7)), hidden_size=int(rng.integers(2, 8)),
                            steps=int(rng.integers(2, 6)), batch=int(rng.integers(1, 5)))
            for _ in range(count)]


def _hidden_cells(builder):
    def make(count, rng):
        return [builder(_seed(rng), n_x=int(rng.integers(2, 7)), n_a=int(rng.integers(2, 8)),
                        m=int(rng.integers(1, 12))) for _ in range(count)]
    return make


ASSIGNMENT = AssignmentSpec(
    name="bptt_by_hand",
    title="Backpropagation through time, by hand (RNN cell class, LSTM and GRU)",
    notebook="bptt_by_hand.ipynb",
    helpers=("bptt_utils.py",),
    reference_modules=("bptt_utils.py",),
    title_words=("bptt", "backprop", "through_time", "through time"),
    functions=(
        FunctionSpec(
            "RNNCell", ("weight_ih", "weight_hh", "bias_ih", "bias_hh"), ("outputs",), 40, judge=RepeatedCellJudge(),
            published=(("published (seed 123)", rnn_cell_recipe(123)),),
            hidden=_hidden_rnn_cell, tolerance=TOLERANCE, mistakes=tuple(MISTAKES["RNNCell"]),
            error_patterns=((r"could not be broadcast together with shapes \(\d+,\) \(\d+,\d+\)",
                             "a bias gradient is not summed over the batch: db_ih += dz.sum(axis=0)."),),
            hint="Forward: remember (x, prev_hidden, next_hidden) on self. Backward, newest step first: "
                 "dz = (dh + self.dh_carry) * (1 - next_hidden**2); dx = dz @ W_ih; dW_ih += dz.T @ x; "
                 "dW_hh += dz.T @ prev_hidden; db += dz.sum(axis=0); self.dh_carry = dz @ W_hh."),
        FunctionSpec(
            "lstm_cell_backward", ("da_next", "dc_next", "cache"), ("gradients",), 20,
            published=(("published (seed 1)", lstm_cell_backward_recipe(1)),),
            hidden=_hidden_cells(lstm_cell_backward_recipe), tolerance=TOLERANCE,
            mistakes=tuple(MISTAKES["lstm_cell_backward"]),
            hint="dc = dc_next + da_next * ot * (1 - tanh(c_next)**2); each gate's gradient comes from dc "
                 "(the output gate's from da_next); weights: gate gradient @ [a_prev; xt].T."),
        FunctionSpec(
            "gru_cell_forward", ("xt", "a_prev", "parameters"), ("a_next", "cache"), 20,
            published=(("published (seed 2)", gru_cell_forward_recipe(2)),),
            hidden=_hidden_cells(gru_cell_forward_recipe), tolerance=TOLERANCE,
            mistakes=tuple(MISTAKES["gru_cell_forward"]),
            hint="zt, rt from [a_prev; xt]; hht from [rt * a_prev; xt]; a_next = zt * a_prev + (1 - zt) * hht."),
        FunctionSpec(
            "gru_cell_backward", ("da_next", "cache"), ("gradients",), 20,
            published=(("published (seed 3)", gru_cell_backward_recipe(3)),),
            hidden=_hidden_cells(gru_cell_backward_recipe), tolerance=TOLERANCE,
            mistakes=tuple(MISTAKES["gru_cell_backward"]),
            hint="Three paths reach a_prev: da_next * zt directly, through rt * a_prev in the candidate, "
                 "and through both gates' inputs."),
    ),
)
