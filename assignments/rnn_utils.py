"""Helpers imported by the "RNN step by step" notebook (``from rnn_utils import *``).

softmax and sigmoid are given. The two Adam functions are an optional exercise:
their bodies sit between START/END CODE HERE markers and are graded like the
notebook's functions.
"""
import numpy as np


def softmax(x):
    """Column-wise softmax of x, shifted by the largest entry for numerical safety."""
    shifted = np.exp(x - np.max(x))
    return shifted / shifted.sum(axis=0)


def sigmoid(x):
    """Logistic function 1 / (1 + exp(-x)), element-wise."""
    return 1 / (1 + np.exp(-x))


# GRADED FUNCTION: initialize_adam
def initialize_adam(parameters):
    """
    Create the Adam moment estimates, all zeros.

    Arguments:
    parameters -- dict with "W1", "b1", ..., "WL", "bL" (numpy arrays)

    Returns:
    v -- dict with "dW1", "db1", ..., zeros shaped like the matching parameter (first moment)
    s -- dict with the same keys and shapes (second moment)
    """
    L = len(parameters) // 2
    v = {}
    s = {}
    for l in range(1, L + 1):
        ### START CODE HERE ###
        v["dW" + str(l)] = None
        v["db" + str(l)] = None
        s["dW" + str(l)] = None
        s["db" + str(l)] = None
        ### END CODE HERE ###
    return v, s


# GRADED FUNCTION: update_parameters_with_adam
def update_parameters_with_adam(parameters, grads, v, s, t, learning_rate=0.01,
                                beta1=0.9, beta2=0.999, epsilon=1e-8):
    """
    One Adam step on every "W<l>" and "b<l>" parameter.

    Arguments:
    parameters -- dict "W1", "b1", ... (numpy arrays)
    grads -- dict "dW1", "db1", ... shaped like the parameters
    v, s -- dicts of first and second moment estimates, as made by initialize_adam
    t -- step counter (1 for the first step), used for bias correction
    learning_rate, beta1, beta2, epsilon -- the usual Adam hyper-parameters

    Returns:
    parameters, v, s -- the updated dicts
    """
    L = len(parameters) // 2
    v_corrected = {}
    s_corrected = {}
    for l in range(1, L + 1):
        for kind in ("W", "b"):
            key = "d" + kind + str(l)
            ### START CODE HERE ###
            v[key] = None
            v_corrected[key] = None
            s[key] = None
            s_corrected[key] = None
            parameters[kind + str(l)] = None
            ### END CODE HERE ###
    return parameters, v, s
