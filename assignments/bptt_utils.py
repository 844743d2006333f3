"""Helpers imported by the "BPTT by hand" notebook (``from bptt_utils import *``).

Everything here is given: the activations, and the LSTM cell's forward step whose cache the
notebook's ``lstm_cell_backward`` takes apart.
"""
import numpy as np


def sigmoid(x):
    """Logistic function 1 / (1 + exp(-x)), element-wise."""
    return 1 / (1 + np.exp(-x))


def softmax(x):
    """Column-wise softmax of x, shifted by the largest entry for numerical safety."""
    shifted = np.exp(x - np.max(x))
    return shifted / shifted.sum(axis=0)


def lstm_cell_forward(xt, a_prev, c_prev, parameters):
    """
    One forward step of an LSTM cell (the same cell as in "RNN step by step").

    Arguments:
    xt -- input, numpy array of shape (n_x, m)
    a_prev, c_prev -- hidden and cell state of the previous step, numpy arrays of shape (n_a, m)
    parameters -- dict with Wf, Wi, Wc, Wo of shape (n_a, n_a + n_x), bf, bi, bc, bo of shape (n_a, 1),
                  Wy of shape (n_y, n_a) and by of shape (n_y, 1)

    Returns:
    a_next, c_next -- the new hidden and cell state, shape (n_a, m)
    yt_pred -- the prediction, shape (n_y, m)
    cache -- (a_next, c_next, a_prev, c_prev, ft, it, cct, ot, xt, parameters) for the backward pass
    """
    stacked = np.concatenate((a_prev, xt), axis=0)
    ft = sigmoid(parameters["Wf"] @ stacked + parameters["bf"])
    it = sigmoid(parameters["Wi"] @ stacked + parameters["bi"])
    cct = np.tanh(parameters["Wc"] @ stacked + parameters["bc"])
    c_next = ft * c_prev + it * cct
    ot = sigmoid(parameters["Wo"] @ stacked + parameters["bo"])
    a_next = ot * np.tanh(c_next)
    yt_pred = softmax(parameters["Wy"] @ a_next + parameters["by"])
    return a_next, c_next, yt_pred, (a_next, c_next, a_prev, c_prev, ft, it, cct, ot, xt, parameters)
