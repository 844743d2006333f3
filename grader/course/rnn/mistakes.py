"""Mistake models of "RNN step by step": the errors students really make, each a variant of the
reference with that one mistake, written out here (our code, run only in the grader's process).

``MISTAKES[function]`` lists ``Mistake(key, message, variant)`` in the order they are tried; a
variant takes the same arguments as the graded function. diagnose.py runs them on a failing case
and names the first whose output reproduces the student's.
"""
from __future__ import annotations

import numpy as np

from ..numerics import relu, sigmoid, softmax
from ..spec import Mistake


# --- RNN step by step ------------------------------------------------------------------------

def rnn_cell(xt, a_prev, p, act=np.tanh, bias=True, out_bias=True, y_from_prev=False, axis=0):
    a_next = act(p["Waa"] @ a_prev + p["Wax"] @ xt + (p["ba"] if bias else 0))
    source = a_prev if y_from_prev else a_next
    return a_next, softmax(p["Wya"] @ source + (p["by"] if out_bias else 0), axis), (a_next, a_prev, xt, p)


def rnn(x, a0, p, steps=None, reuse_a0=False, none_caches=False):
    n_x, m, T_x = x.shape
    n_y, n_a = p["Wya"].shape
    a, y, caches = np.zeros((n_a, m, T_x)), np.zeros((n_y, m, T_x)), []
    a_next = a0
    for t in (range(T_x) if steps is None else steps(T_x)):
        a_next, yt, cache = rnn_cell(x[:, :, t], a0 if reuse_a0 else a_next, p)
        a[:, :, t], y[:, :, t] = a_next, yt
        caches.append(None if none_caches else cache)
    return a, y, (caches, x)


def lstm_cell(xt, a_prev, c_prev, p, x_first=False, gate=sigmoid, candidate=np.tanh, tanh_c=True, y_from_prev=False,
              no_candidate=False):
    concat = np.concatenate((xt, a_prev) if x_first else (a_prev, xt), axis=0)
    ft, it = gate(p["Wf"] @ concat + p["bf"]), gate(p["Wi"] @ concat + p["bi"])
    cct = candidate(p["Wc"] @ concat + p["bc"])
    c_next = ft * c_prev + (it if no_candidate else it * cct)
    ot = gate(p["Wo"] @ concat + p["bo"])
    a_next = ot * (np.tanh(c_next) if tanh_c else c_next)
    yt = softmax(p["Wy"] @ (a_prev if y_from_prev else a_next) + p["by"])
    return a_next, c_next, yt, (a_next, c_next, a_prev, c_prev, ft, it, cct, ot, xt, p)


def lstm(x, a0, p, c_from_a0=False, swap_y_c=False, steps=None, reuse_a0=False):
    n_x, m, T_x = x.shape
    n_y, n_a = p["Wy"].shape
    a, c, y, caches = np.zeros((n_a, m, T_x)), np.zeros((n_a, m, T_x)), np.zeros((n_y, m, T_x)), []
    a_next, c_next = a0, (a0 if c_from_a0 else np.zeros((n_a, m)))
    for t in (range(T_x) if steps is None else steps(T_x)):
        a_next, c_next, yt, cache = lstm_cell(x[:, :, t], a0 if reuse_a0 else a_next, c_next, p)
        a[:, :, t], c[:, :, t], y[:, :, t] = a_next, c_next, yt
        caches.append(cache)
    return (a, c, y, (caches, x)) if swap_y_c else (a, y, c, (caches, x))


def rnn_cell_back(da_next, cache, tanh_factor=True, upstream=True):
    a_next, a_prev, xt, p = cache
    dtanh = (1 - a_next ** 2 if tanh_factor else 1) * (da_next if upstream else 1)
    return {"dxt": p["Wax"].T @ dtanh, "da_prev": p["Waa"].T @ dtanh, "dWax": dtanh @ xt.T,
            "dWaa": dtanh @ a_prev.T, "dba": np.sum(dtanh, axis=1, keepdims=True)}


def rnn_back(da, caches, recurrent=True):
    caches, x = caches
    n_a, m, T_x = da.shape
    n_x = caches[0][2].shape[0]
    dx, da_prevt = np.zeros((n_x, m, T_x)), np.zeros((n_a, m))
    total = {"dWax": 0, "dWaa": 0, "dba": 0}
    for t in reversed(range(T_x)):
        step = rnn_cell_back(da[:, :, t] + (da_prevt if recurrent else 0), caches[t])
        dx[:, :, t], da_prevt = step["dxt"], step["da_prev"]
        for key in total:
            total[key] = total[key] + step[key]
    return {"dx": dx, "da0": da_prevt, **total}


def lstm_cell_back(da_next, dc_next, cache, tanh_factor=True, upstream=True):
    a_next, c_next, a_prev, c_prev, ft, it, cct, ot, xt, p = cache
    n_a = a_next.shape[0]
    through_tanh = ot * (1 - np.tanh(c_next) ** 2) if tanh_factor else ot
    dcell = dc_next + (through_tanh * da_next if upstream else 0)
    dot = da_next * np.tanh(c_next) * ot * (1 - ot)
    dcct, dit, dft = dcell * it * (1 - cct ** 2), dcell * cct * it * (1 - it), dcell * c_prev * ft * (1 - ft)
    concat = np.concatenate((a_prev, xt), axis=0)
    gates = {"f": dft, "i": dit, "c": dcct, "o": dot}
    out = {f"dW{k}": g @ concat.T for k, g in gates.items()}
    out.update({f"db{k}": np.sum(g, axis=1, keepdims=True) for k, g in gates.items()})
    out["da_prev"] = sum(p[f"W{k}"][:, :n_a].T @ g for k, g in gates.items())
    out["dxt"] = sum(p[f"W{k}"][:, n_a:].T @ g for k, g in gates.items())
    out["dc_prev"] = dcell * ft
    return out


def lstm_back(da, caches, recurrent=True, carry_c=True):
    caches, x = caches
    n_a, m, T_x = da.shape
    n_x = caches[0][8].shape[0]
    dx, da_prevt, dc_prevt, total = np.zeros((n_x, m, T_x)), np.zeros((n_a, m)), np.zeros((n_a, m)), {}
    for t in reversed(range(T_x)):
        step = lstm_cell_back(da[:, :, t] + (da_prevt if recurrent else 0), dc_prevt if carry_c else np.zeros((n_a, m)), caches[t])
        dx[:, :, t], da_prevt, dc_prevt = step["dxt"], step["da_prev"], step["dc_prev"]
        for key in ("dWf", "dWi", "dWc", "dWo", "dbf", "dbi", "dbc", "dbo"):
            total[key] = total.get(key, 0) + step[key]
    return {"dx": dx, "da0": da_prevt, **total}


MISTAKES: dict[str, list[Mistake]] = {
    "rnn_cell_forward": [
        Mistake("tan", "a_next matches np.tan instead of np.tanh: check the activation of the hidden state.",
                lambda xt, a, p: rnn_cell(xt, a, p, act=np.tan)),
        Mistake("sigmoid", "a_next matches a sigmoid where tanh is needed: the hidden state uses np.tanh.",
                lambda xt, a, p: rnn_cell(xt, a, p, act=sigmoid)),
        Mistake("relu", "a_next matches ReLU where tanh is needed: the hidden state uses np.tanh.",
                lambda xt, a, p: rnn_cell(xt, a, p, act=relu)),
        Mistake("no-ba", "a_next matches what you get without the bias ba: add ba inside the tanh.",
                lambda xt, a, p: rnn_cell(xt, a, p, bias=False)),
        Mistake("no-by", "yt_pred matches what you get without the bias by: add by before the softmax.",
                lambda xt, a, p: rnn_cell(xt, a, p, out_bias=False)),
        Mistake("y-from-prev", "yt_pred is computed from a_prev; it must come from the new hidden state a_next.",
                lambda xt, a, p: rnn_cell(xt, a, p, y_from_prev=True)),
        Mistake("softmax-axis", "yt_pred is a softmax over the wrong axis: normalise each column (axis=0).",
                lambda xt, a, p: rnn_cell(xt, a, p, axis=1)),
        Mistake("softmax-all", "yt_pred is normalised over the whole array: the softmax sums over axis=0 only.",
                lambda xt, a, p: rnn_cell(xt, a, p, axis=None)),
    ],
    "rnn_forward": [
        Mistake("reuse-a0", "every time step starts from a0: feed each step the a_next of the step before it.",
                lambda x, a0, p: rnn(x, a0, p, reuse_a0=True)),
        Mistake("skip-first", "the loop skips the first time step (range(1, T_x)): loop over range(T_x).",
                lambda x, a0, p: rnn(x, a0, p, steps=lambda T: range(1, T))),
        Mistake("skip-last", "the loop misses the last time step (range(T_x - 1)): loop over range(T_x).",
                lambda x, a0, p: rnn(x, a0, p, steps=lambda T: range(T - 1))),
        Mistake("none-caches", "caches holds None: append each step's cache, not None (the backward pass needs them).",
                lambda x, a0, p: rnn(x, a0, p, none_caches=True)),
    ],
    "lstm_cell_forward": [
        Mistake("concat-order", "concat is [xt; a_prev]; the weights expect a_prev on top: np.concatenate((a_prev, xt)).",
                lambda xt, a, c, p: lstm_cell(xt, a, c, p, x_first=True)),
        Mistake("no-tanh-c", "a_next = ot * c_next misses the tanh: a_next = ot * np.tanh(c_next).",
                lambda xt, a, c, p: lstm_cell(xt, a, c, p, tanh_c=False)),
        Mistake("candidate-sigmoid", "the candidate cct uses a sigmoid; it uses np.tanh.",
                lambda xt, a, c, p: lstm_cell(xt, a, c, p, candidate=sigmoid)),
        Mistake("gates-tanh", "the gates use tanh; the forget, update and output gates use a sigmoid.",
                lambda xt, a, c, p: lstm_cell(xt, a, c, p, gate=np.tanh)),
        Mistake("no-candidate", "c_next adds it without multiplying by the candidate cct: c_next = ft*c_prev + it*cct.",
                lambda xt, a, c, p: lstm_cell(xt, a, c, p, no_candidate=True)),
        Mistake("y-from-prev", "yt_pred is computed from a_prev; it must come from a_next.",
                lambda xt, a, c, p: lstm_cell(xt, a, c, p, y_from_prev=True)),
    ],
    "lstm_forward": [
        Mistake("c-from-a0", "the cell state starts from a0; it must start from zeros of shape (n_a, m).",
                lambda x, a0, p: lstm(x, a0, p, c_from_a0=True)),
        Mistake("swap-y-c", "y and c are swapped in the return: return a, y, c, caches.",
                lambda x, a0, p: lstm(x, a0, p, swap_y_c=True)),
        Mistake("reuse-a0", "every time step starts from a0: feed each step the a_next of the step before it.",
                lambda x, a0, p: lstm(x, a0, p, reuse_a0=True)),
        Mistake("skip-first", "the loop skips the first time step (range(1, T_x)): loop over range(T_x).",
                lambda x, a0, p: lstm(x, a0, p, steps=lambda T: range(1, T))),
        Mistake("skip-last", "the loop misses the last time step (range(T_x - 1)): loop over range(T_x).",
                lambda x, a0, p: lstm(x, a0, p, steps=lambda T: range(T - 1))),
    ],
    "rnn_cell_backward": [
        Mistake("no-tanh-factor", "the (1 - a_next**2) factor is missing: dtanh = (1 - a_next**2) * da_next.",
                lambda da, cache: rnn_cell_back(da, cache, tanh_factor=False)),
        Mistake("no-upstream", "da_next is dropped: dtanh = (1 - a_next**2) * da_next.",
                lambda da, cache: rnn_cell_back(da, cache, upstream=False)),
    ],
    "rnn_backward": [
        Mistake("no-recurrent", "each step only gets da[:, :, t]: add the da_prev coming back from the step after it.",
                lambda da, caches: rnn_back(da, caches, recurrent=False)),
    ],
    "lstm_cell_backward": [
        Mistake("no-tanh-factor", "the (1 - tanh(c_next)**2) factor is missing where da_next reaches the cell state.",
                lambda da, dc, cache: lstm_cell_back(da, dc, cache, tanh_factor=False)),
        Mistake("no-upstream", "the da_next term is dropped from the cell-state gradient: "
                               "dc_next + ot * (1 - tanh(c_next)**2) * da_next.",
                lambda da, dc, cache: lstm_cell_back(da, dc, cache, upstream=False)),
    ],
    "lstm_backward": [
        Mistake("no-recurrent", "each step only gets da[:, :, t]: add the da_prev coming back from the step after it.",
                lambda da, caches: lstm_back(da, caches, recurrent=False)),
        Mistake("no-dc-carry", "dc_prev is not carried from one step to the next (it restarts at zeros).",
                lambda da, caches: lstm_back(da, caches, carry_c=False)),
    ],
}
