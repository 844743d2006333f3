"""Quick self-checks called from the RNN notebook's test cells (``from public_tests import *``).

They only look at shapes and structure on a small random example and print what
they find; they never raise, so a test cell cannot stop the notebook. The real
verdict comes from ``grade`` (or ``from grader import check``).
"""
import numpy as np


def _report(name, problems):
    if problems:
        for problem in problems:
            print(f"{name}: {problem}")
    else:
        print("\033[92mAll tests passed")


def _shape_problems(label, value, shape):
    if not isinstance(value, np.ndarray):
        return [f"{label} should be a numpy array, got {type(value).__name__}"]
    if value.shape != shape:
        return [f"{label} has shape {value.shape}, expected {shape}"]
    return []


def _rnn_parameters(rng, n_a, n_x, n_y):
    return {"Waa": rng.randn(n_a, n_a), "Wax": rng.randn(n_a, n_x), "Wya": rng.randn(n_y, n_a),
            "ba": rng.randn(n_a, 1), "by": rng.randn(n_y, 1)}


def _lstm_parameters(rng, n_a, n_x, n_y):
    parameters = {}
    for gate in "fioc":
        parameters["W" + gate] = rng.randn(n_a, n_a + n_x)
        parameters["b" + gate] = rng.randn(n_a, 1)
    parameters["Wy"] = rng.randn(n_y, n_a)
    parameters["by"] = rng.randn(n_y, 1)
    return parameters


def _run(name, call, check):
    try:
        result = call()
    except Exception as error:  # a self-check reports, it does not stop the notebook
        _report(name, [f"raised {type(error).__name__}: {error}"])
        return
    _report(name, check(result))


def rnn_cell_forward_tests(target):
    rng = np.random.RandomState(7)
    n_x, n_a, n_y, m = 3, 5, 2, 4

    def check(result):
        if not isinstance(result, tuple) or len(result) != 3:
            return ["should return (a_next, yt_pred, cache)"]
        return _shape_problems("a_next", result[0], (n_a, m)) + _shape_problems("yt_pred", result[1], (n_y, m))
    _run("rnn_cell_forward", lambda: target(rng.randn(n_x, m), rng.randn(n_a, m), _rnn_parameters(rng, n_a, n_x, n_y)), check)


def rnn_forward_test(target):
    rng = np.random.RandomState(7)
    n_x, n_a, n_y, m, T_x = 3, 5, 2, 4, 6

    def check(result):
        if not isinstance(result, tuple) or len(result) != 3:
            return ["should return (a, y_pred, caches)"]
        return _shape_problems("a", result[0], (n_a, m, T_x)) + _shape_problems("y_pred", result[1], (n_y, m, T_x))
    _run("rnn_forward", lambda: target(rng.randn(n_x, m, T_x), rng.randn(n_a, m), _rnn_parameters(rng, n_a, n_x, n_y)), check)


def lstm_cell_forward_test(target):
    rng = np.random.RandomState(7)
    n_x, n_a, n_y, m = 3, 5, 2, 4

    def check(result):
        if not isinstance(result, tuple) or len(result) != 4:
            return ["should return (a_next, c_next, yt_pred, cache)"]
        return (_shape_problems("a_next", result[0], (n_a, m)) + _shape_problems("c_next", result[1], (n_a, m))
                + _shape_problems("yt_pred", result[2], (n_y, m)))
    _run("lstm_cell_forward", lambda: target(rng.randn(n_x, m), rng.randn(n_a, m), rng.randn(n_a, m),
                                             _lstm_parameters(rng, n_a, n_x, n_y)), check)


def lstm_forward_test(target):
    rng = np.random.RandomState(7)
    n_x, n_a, n_y, m, T_x = 3, 5, 2, 4, 6

    def check(result):
        if not isinstance(result, tuple) or len(result) != 4:
            return ["should return (a, y, c, caches)"]
        return (_shape_problems("a", result[0], (n_a, m, T_x)) + _shape_problems("y", result[1], (n_y, m, T_x))
                + _shape_problems("c", result[2], (n_a, m, T_x)))
    _run("lstm_forward", lambda: target(rng.randn(n_x, m, T_x), rng.randn(n_a, m), _lstm_parameters(rng, n_a, n_x, n_y)), check)
