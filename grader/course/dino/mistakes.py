"""Mistake models of "Dinosaur Island": the errors students really make, each a variant of the
reference with that one mistake, written out here (our code, run only in the grader's process).

``MISTAKES[function]`` lists ``Mistake(key, message, variant)`` in the order they are tried; a
variant takes the same arguments as the graded function. diagnose.py runs them on a failing case
and names the first whose output reproduces the student's.
"""
from __future__ import annotations

from typing import Any

import numpy as np

from ..numerics import softmax
from ..spec import Mistake
from .data import NO_LEADING_NONE, names_text


GRADIENTS = ("dWax", "dWaa", "dWya", "db", "dby")


def clipped(gradients, low, high, skip=()):
    return {k: (gradients[k] if k in skip else np.clip(gradients[k], low, high)) for k in GRADIENTS}


def sampler(parameters, char_to_ix, seed, reseed=True, argmax=False, feed_back=True, reset_x=True, newline_at_50=True,
            update_a=True):
    Waa, Wax, Wya, by, b = (parameters[k] for k in ("Waa", "Wax", "Wya", "by", "b"))
    vocab_size, n_a = by.shape[0], Waa.shape[1]
    x, a_prev, indices, idx, counter, newline = np.zeros((vocab_size, 1)), np.zeros((n_a, 1)), [], -1, 0, char_to_ix["\n"]
    while idx != newline and counter != 50:
        a = np.tanh(Wax @ x + Waa @ a_prev + b)
        y = softmax(Wya @ a + by)
        if reseed:
            np.random.seed(counter + seed)
        idx = int(np.argmax(y)) if argmax else int(np.random.choice(range(vocab_size), p=y.ravel()))
        indices.append(idx)
        if feed_back:
            if reset_x:
                x = np.zeros((vocab_size, 1))
            x[idx] = 1
        if update_a:
            a_prev = a
        seed += 1
        counter += 1
    if counter == 50 and newline_at_50:
        indices.append(newline)
    return indices


_HELPERS: dict[str, Any] = {}


def course_helpers() -> Any:
    """The Dinosaur Island helper module students import (shipped in assignments/, not secret)."""
    if "module" not in _HELPERS:
        import importlib.util

        from ...resources import assignments_dir

        spec = importlib.util.spec_from_file_location("grader_mistakes_cllm_utils", assignments_dir() / "cllm_utils.py")
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        _HELPERS["module"] = module
    return _HELPERS["module"]


def optimizer(X, Y, a_prev, parameters, learning_rate=0.01, max_value=5, update=True, clip=True):
    helpers = course_helpers()
    loss, cache = helpers.rnn_forward(X, Y, a_prev, parameters)
    gradients, a = helpers.rnn_backward(X, Y, parameters, cache)
    if clip:
        gradients = clipped(gradients, -max_value, max_value)
    if update:
        helpers.update_parameters(parameters, gradients, learning_rate)
    return loss, gradients, a[len(X) - 1]


MISTAKES: dict[str, list[Mistake]] = {
    "clip": [
        Mistake("not-clipped", "nothing is clipped: np.clip(gradient, -maxValue, maxValue, out=gradient) must change "
                               "each array in place (or store its result).",
                lambda g, m: clipped(g, -np.inf, np.inf)),
        Mistake("low-zero", "the range is [0, maxValue]; it is [-maxValue, maxValue].", lambda g, m: clipped(g, 0, m)),
        Mistake("high-zero", "the range is [-maxValue, 0]; it is [-maxValue, maxValue].", lambda g, m: clipped(g, -m, 0)),
        Mistake("fixed-10", "the range is fixed at 10; use the maxValue argument.", lambda g, m: clipped(g, -10, 10)),
        Mistake("fixed-5", "the range is fixed at 5; use the maxValue argument.", lambda g, m: clipped(g, -5, 5)),
        *[Mistake(f"skip-{key}", f"{key} is not clipped: clip all five gradients.",
                  (lambda key: lambda g, m: clipped(g, -m, m, skip=(key,)))(key)) for key in GRADIENTS],
    ],
    "sample": [
        Mistake("argmax", "the next character is the most likely one (argmax); it must be drawn with "
                          "np.random.choice(range(vocab_size), p=y.ravel()).",
                lambda p, c, s: sampler(p, c, s, argmax=True)),
        Mistake("no-feed-back", "the drawn character is not fed back: x = zeros, then x[idx] = 1, every step.",
                lambda p, c, s: sampler(p, c, s, feed_back=False)),
        Mistake("x-not-reset", "x keeps the ones of earlier characters: reset x to zeros before setting x[idx] = 1.",
                lambda p, c, s: sampler(p, c, s, reset_x=False)),
        Mistake("a-not-updated", "a_prev is never updated: set a_prev = a after each step.",
                lambda p, c, s: sampler(p, c, s, update_a=False)),
        Mistake("no-newline-50", "after 50 characters the newline is not appended: keep the given `if counter == 50` lines.",
                lambda p, c, s: sampler(p, c, s, newline_at_50=False)),
        Mistake("no-reseed", "the draws are not re-seeded: keep np.random.seed(counter + seed) inside the loop.",
                lambda p, c, s: sampler(p, c, s, reseed=False)),
    ],
    "optimize": [
        Mistake("clip-10", "the gradients are clipped at 10; optimize clips them at 5.",
                lambda X, Y, a, p, learning_rate=0.01: optimizer(X, Y, a, p, learning_rate, max_value=10)),
        Mistake("no-clip", "the gradients are not clipped: clip(gradients, 5).",
                lambda X, Y, a, p, learning_rate=0.01: optimizer(X, Y, a, p, learning_rate, clip=False)),
        Mistake("no-update", "the parameters are not updated: update_parameters(parameters, gradients, learning_rate).",
                lambda X, Y, a, p, learning_rate=0.01: optimizer(X, Y, a, p, learning_rate, update=False)),
    ],
}


def trainer(data, ix_to_char, char_to_ix, num_iterations=35000, n_a=50, dino_names=7, vocab_size=27, verbose=False,
            *, newer=True, leading_none=True, carry_state=True, shuffle=True):
    """The training loop of model(), with switches for its usual mistakes. ``newer``: the v4 signature
    (data is the list of names, returns the last name too); else the data set is read from dinos.txt."""
    helpers = course_helpers()
    if newer:
        examples = [x.strip() for x in data]
    else:
        examples = [line.lower().strip() for line in names_text().splitlines()]
    parameters = helpers.initialize_parameters(n_a, vocab_size, vocab_size)
    if shuffle:
        np.random.seed(0)
        np.random.shuffle(examples)
    a_prev = np.zeros((n_a, 1))
    last_name = "abc"
    for j in range(num_iterations):
        chars = [char_to_ix[ch] for ch in examples[j % len(examples)]]
        X = ([None] if leading_none else []) + chars
        Y = X[1:] + [char_to_ix["\n"]]
        start = a_prev if carry_state else np.zeros((n_a, 1))
        _, _, a_prev = optimizer(X, Y, start, parameters, 0.01)
        if j % 2000 == 0:
            for seed in range(dino_names):
                last_name = helpers.get_sample(sampler(parameters, char_to_ix, seed), ix_to_char)
    return (parameters, last_name) if newer else parameters


def _model_mistake(**switches):
    def variant(data, *args):
        return trainer(data, *args, newer=isinstance(data, list), **switches)
    return variant


MISTAKES["model"] = [
    Mistake("no-leading-none", NO_LEADING_NONE, _model_mistake(leading_none=False)),
    Mistake("state-not-carried", "the hidden state restarts at zeros every iteration: pass the a_prev that optimize "
                                 "returned to the next call.", _model_mistake(carry_state=False)),
    Mistake("no-shuffle", "the names are not shuffled: keep np.random.seed(0); np.random.shuffle(examples).",
            _model_mistake(shuffle=False)),
]
