"""Mistake models of "BPTT by hand": the classic errors of backpropagation through time, each the
reference with that one error (our code, run only in the grader's process)."""
from __future__ import annotations

import numpy as np

from ..numerics import sigmoid
from ..rnn.mistakes import MISTAKES as RNN_MISTAKES
from ..spec import Mistake


def rnn_cell_class(*, carry=True, tanh_derivative=True, sum_bias_over_batch=True, newest_first=True, pop=True):
    """The RNNCell of the assignment, with switches for its usual mistakes."""

    class Cell:
        def __init__(self, weight_ih, weight_hh, bias_ih, bias_hh):
            self.weights = (weight_ih, weight_hh, bias_ih, bias_hh)
            self.steps, self.dh_carry = [], None
            self.dW_ih, self.dW_hh = np.zeros_like(weight_ih), np.zeros_like(weight_hh)
            self.db_ih, self.db_hh = np.zeros_like(bias_ih), np.zeros_like(bias_hh)

        def __call__(self, x, prev_hidden):
            weight_ih, weight_hh, bias_ih, bias_hh = self.weights
            next_hidden = np.tanh(x @ weight_ih.T + prev_hidden @ weight_hh.T + bias_ih + bias_hh)
            self.steps.append((x, prev_hidden, next_hidden))
            self.dh_carry = np.zeros_like(next_hidden)
            return next_hidden

        def backward(self, dh):
            weight_ih, weight_hh = self.weights[:2]
            index = -1 if newest_first else 0
            x, prev_hidden, next_hidden = self.steps.pop(index) if pop else self.steps[index]
            upstream = dh + self.dh_carry if carry else dh
            dz = upstream * ((1 - next_hidden ** 2) if tanh_derivative else next_hidden)
            self.dW_ih += dz.T @ x
            self.dW_hh += dz.T @ prev_hidden
            if sum_bias_over_batch:
                self.db_ih += dz.sum(axis=0)
                self.db_hh += dz.sum(axis=0)
            else:
                self.db_ih = self.db_ih + dz
                self.db_hh = self.db_hh + dz
            self.dh_carry = dz @ weight_hh
            return dz @ weight_ih

    Cell.__name__ = Cell.__qualname__ = "RNNCell"
    return Cell


def gru_forward(xt, a_prev, p, swapped=False, reset=True):
    concat = np.concatenate((a_prev, xt), axis=0)
    zt, rt = sigmoid(p["Wz"] @ concat + p["bz"]), sigmoid(p["Wr"] @ concat + p["br"])
    past = rt * a_prev if reset else a_prev
    hht = np.tanh(p["Wh"] @ np.concatenate((past, xt), axis=0) + p["bh"])
    a_next = (1 - zt) * a_prev + zt * hht if swapped else zt * a_prev + (1 - zt) * hht
    return a_next, (a_next, a_prev, xt, zt, rt, hht, p)


def gru_backward(da_next, cache, direct=True, through_reset=True):
    a_next, a_prev, xt, zt, rt, hht, p = cache
    n_a = a_prev.shape[0]
    dh_pre = da_next * (1 - zt) * (1 - hht ** 2)
    dconcat_reset = p["Wh"].T @ dh_pre
    dreset_a = dconcat_reset[:n_a]
    dz_pre = da_next * (a_prev - hht) * zt * (1 - zt)
    dr_pre = dreset_a * a_prev * rt * (1 - rt)
    concat = np.concatenate((a_prev, xt), axis=0)
    dconcat = p["Wz"].T @ dz_pre + p["Wr"].T @ dr_pre
    da_prev = (da_next * zt if direct else 0) + (dreset_a * rt if through_reset else 0) + dconcat[:n_a]
    return {"dxt": dconcat_reset[n_a:] + dconcat[n_a:], "da_prev": da_prev,
            "dWz": dz_pre @ concat.T, "dbz": dz_pre.sum(axis=1, keepdims=True),
            "dWr": dr_pre @ concat.T, "dbr": dr_pre.sum(axis=1, keepdims=True),
            "dWh": dh_pre @ np.concatenate((rt * a_prev, xt), axis=0).T, "dbh": dh_pre.sum(axis=1, keepdims=True)}


MISTAKES: dict[str, list[Mistake]] = {
    "RNNCell": [
        Mistake("no-carry", "backward forgets the gradient carried back from the step after this one: "
                            "use dh + self.dh_carry before going through the tanh.", rnn_cell_class(carry=False)),
        Mistake("h-not-derivative", "backward multiplies by h where the tanh's derivative (1 - h**2) is needed.",
                rnn_cell_class(tanh_derivative=False)),
        Mistake("bias-not-summed", "db_ih and db_hh are not summed over the batch: add dz.sum(axis=0) "
                                   "(one value per hidden unit).", rnn_cell_class(sum_bias_over_batch=False)),
        Mistake("oldest-first", "backward goes through the oldest step first: time must run backwards, so "
                                "take the newest remembered step (self.steps.pop()).", rnn_cell_class(newest_first=False)),
        Mistake("one-cache", "backward reuses one step's remembered values for every step: remove each step "
                             "once it is gone back through (self.steps.pop()).", rnn_cell_class(pop=False)),
    ],
    # the cache and the gradients are those of "RNN step by step": so are the usual mistakes
    "lstm_cell_backward": list(RNN_MISTAKES["lstm_cell_backward"]),
    "gru_cell_forward": [
        Mistake("update-swapped", "the update gate weighs the wrong term: a_next = zt * a_prev + (1 - zt) * hht.",
                lambda xt, a_prev, p: gru_forward(xt, a_prev, p, swapped=True)),
        Mistake("no-reset", "the candidate sees a_prev without the reset gate: stack [rt * a_prev; xt] for it.",
                lambda xt, a_prev, p: gru_forward(xt, a_prev, p, reset=False)),
    ],
    "gru_cell_backward": [
        Mistake("no-direct-path", "da_prev misses the direct path through a_next = zt * a_prev + ...: "
                                  "add da_next * zt.", lambda da, cache: gru_backward(da, cache, direct=False)),
        Mistake("no-reset-path", "da_prev misses the path through the candidate's input rt * a_prev: add the "
                                 "a_prev rows of Wh.T @ dh_pre, times rt.",
                lambda da, cache: gru_backward(da, cache, through_reset=False)),
    ],
}
