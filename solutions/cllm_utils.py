"""Helpers imported by the "Dinosaur Island" notebook (``from utils import *`` or
``from cllm_utils import *``): a small character-level RNN trainer.

Conventions shared with the notebook: parameters are a dict with Wax (n_a, n_x),
Waa (n_a, n_a), Wya (n_y, n_a), b (n_a, 1), by (n_y, 1); gradients use the same
names with a "d" in front. In a training example X, the entry None stands for
the zero input vector (the start of a name).
"""
import numpy as np


def softmax(x):
    """Column-wise softmax of x, shifted by the largest entry for numerical safety."""
    shifted = np.exp(x - np.max(x))
    return shifted / shifted.sum(axis=0)


def smooth(loss, cur_loss):
    """Exponential moving average used to print a readable training loss."""
    return loss * 0.999 + cur_loss * 0.001


def get_sample(sample_ix, ix_to_char):
    """Turn a list of character indices into a string with a capital first letter."""
    text = ''.join(ix_to_char[ix] for ix in sample_ix)
    return text[0].upper() + text[1:]


def print_sample(sample_ix, ix_to_char):
    """Print get_sample(...) without adding a line break (the sample ends with one)."""
    print(get_sample(sample_ix, ix_to_char), end='')


def get_initial_loss(vocab_size, seq_length):
    """Loss of a model that guesses uniformly, for seq_length characters."""
    return -np.log(1.0 / vocab_size) * seq_length


def initialize_parameters(n_a, n_x, n_y):
    """Small random weights and zero biases. Seeds numpy with 1 so every run starts alike."""
    np.random.seed(1)
    Wax = np.random.randn(n_a, n_x) * 0.01
    Waa = np.random.randn(n_a, n_a) * 0.01
    Wya = np.random.randn(n_y, n_a) * 0.01
    b = np.zeros((n_a, 1))
    by = np.zeros((n_y, 1))
    return {"Wax": Wax, "Waa": Waa, "Wya": Wya, "b": b, "by": by}


def rnn_step_forward(parameters, a_prev, x):
    """One time step: new hidden state and the softmax over the next character."""
    a_next = np.tanh(np.dot(parameters['Wax'], x) + np.dot(parameters['Waa'], a_prev) + parameters['b'])
    p_t = softmax(np.dot(parameters['Wya'], a_next) + parameters['by'])
    return a_next, p_t


def rnn_step_backward(dy, gradients, parameters, x, a, a_prev):
    """Accumulate the gradients of one time step into `gradients` (a dict, changed in place)."""
    gradients['dWya'] += np.dot(dy, a.T)
    gradients['dby'] += dy
    da = np.dot(parameters['Wya'].T, dy) + gradients['da_next']
    da_raw = (1 - a * a) * da
    gradients['db'] += da_raw
    gradients['dWax'] += np.dot(da_raw, x.T)
    gradients['dWaa'] += np.dot(da_raw, a_prev.T)
    gradients['da_next'] = np.dot(parameters['Waa'].T, da_raw)
    return gradients


def update_parameters(parameters, gradients, lr):
    """Plain gradient descent step, in place."""
    parameters['Wax'] += -lr * gradients['dWax']
    parameters['Waa'] += -lr * gradients['dWaa']
    parameters['Wya'] += -lr * gradients['dWya']
    parameters['b'] += -lr * gradients['db']
    parameters['by'] += -lr * gradients['dby']
    return parameters


def rnn_forward(X, Y, a0, parameters, vocab_size=27):
    """Run the RNN over one example.

    Returns (loss, cache): the summed cross-entropy of predicting Y[t] at every
    step, and (y_hat, a, x), three dicts keyed by time step (a[-1] is a0).
    """
    x, a, y_hat = {}, {}, {}
    a[-1] = np.copy(a0)
    loss = 0
    for t in range(len(X)):
        x[t] = np.zeros((vocab_size, 1))
        if X[t] is not None:
            x[t][X[t]] = 1
        a[t], y_hat[t] = rnn_step_forward(parameters, a[t - 1], x[t])
        loss -= np.log(y_hat[t][Y[t], 0])
    return loss, (y_hat, a, x)


def rnn_backward(X, Y, parameters, cache):
    """Back-propagation through time for one example. Returns (gradients, a)."""
    y_hat, a, x = cache
    gradients = {
        'dWax': np.zeros_like(parameters['Wax']),
        'dWaa': np.zeros_like(parameters['Waa']),
        'dWya': np.zeros_like(parameters['Wya']),
        'db': np.zeros_like(parameters['b']),
        'dby': np.zeros_like(parameters['by']),
        'da_next': np.zeros_like(a[0]),
    }
    for t in reversed(range(len(X))):
        dy = np.copy(y_hat[t])
        dy[Y[t]] -= 1
        gradients = rnn_step_backward(dy, gradients, parameters, x[t], a[t], a[t - 1])
    return gradients, a
