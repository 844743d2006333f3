"""Plain numpy activations shared by the assignments' mistake models (our code, grader side only)."""
from __future__ import annotations

import numpy as np


def sigmoid(z):
    return 1 / (1 + np.exp(-z))


def relu(z):
    return np.maximum(z, 0)


def softmax(z, axis=0):
    shifted = np.exp(z - np.max(z, axis=axis, keepdims=axis is not None))
    return shifted / shifted.sum(axis=axis, keepdims=axis is not None)
