"""Assignment "RNN step by step": graded functions, published test inputs, hidden-case recipes."""
from __future__ import annotations

import numpy as np

from ..spec import AssignmentSpec, FunctionSpec, Tolerance, mistake_models
from .errata import LSTM_BACKWARD_V1_V3, ErratumJudge

MISTAKES = mistake_models(__name__)

RNN_KEYS = ("Waa", "Wax", "Wya", "ba", "by")
LSTM_KEYS = ("Wf", "bf", "Wi", "bi", "Wo", "bo", "Wc", "bc", "Wy", "by")


def rnn_parameter_draws(n_a: int, n_x: int, n_y: int, order: tuple[str, ...] = RNN_KEYS) -> list:
    shapes = {"Waa": [n_a, n_a], "Wax": [n_a, n_x], "Wya": [n_y, n_a], "ba": [n_a, 1], "by": [n_y, 1]}
    return [["draw", f"parameters.{key}", shapes[key]] for key in order]


def lstm_parameter_draws(n_a: int, n_x: int, n_y: int, zero_output: bool = False) -> list:
    steps = []
    for gate in "fioc":
        steps.append(["draw", f"parameters.W{gate}", [n_a, n_a + n_x]])
        steps.append(["draw", f"parameters.b{gate}", [n_a, 1]])
    kind = "zeros" if zero_output else "draw"
    return steps + [[kind, "parameters.Wy", [n_y, n_a]], [kind, "parameters.by", [n_y, 1]]]


def rnn_cell_recipe(seed, n_x=3, n_a=5, n_y=2, m=10):
    return {"seed": seed, "steps": [["draw", "xt", [n_x, m]], ["draw", "a_prev", [n_a, m]],
                                    *rnn_parameter_draws(n_a, n_x, n_y)], "args": ["xt", "a_prev", "parameters"]}


def rnn_recipe(seed, n_x=3, n_a=5, n_y=2, m=10, T_x=4):
    return {"seed": seed, "steps": [["draw", "x", [n_x, m, T_x]], ["draw", "a0", [n_a, m]],
                                    *rnn_parameter_draws(n_a, n_x, n_y)], "args": ["x", "a0", "parameters"]}


def lstm_cell_recipe(seed, n_x=3, n_a=5, n_y=2, m=10):
    return {"seed": seed, "steps": [["draw", "xt", [n_x, m]], ["draw", "a_prev", [n_a, m]], ["draw", "c_prev", [n_a, m]],
                                    *lstm_parameter_draws(n_a, n_x, n_y)], "args": ["xt", "a_prev", "c_prev", "parameters"]}


def lstm_recipe(seed, n_x=3, n_a=5, n_y=2, m=10, T_x=7):
    return {"seed": seed, "steps": [["draw", "x", [n_x, m, T_x]], ["draw", "a0", [n_a, m]],
                                    *lstm_parameter_draws(n_a, n_x, n_y)], "args": ["x", "a0", "parameters"]}


def rnn_cell_backward_recipe(seed, n_x=3, n_a=5, n_y=2, m=10):
    # the v3a/v4 test cell: Wax before Waa, then the forward step, then da_next
    steps = [["draw", "xt", [n_x, m]], ["draw", "a_prev", [n_a, m]],
             *rnn_parameter_draws(n_a, n_x, n_y, ("Wax", "Waa", "Wya", "ba", "by")),
             ["reference", "rnn_cell_forward", ["xt", "a_prev", "parameters"], ["a_next", "yt", "cache"]],
             ["draw", "da_next", [n_a, m]]]
    return {"seed": seed, "steps": steps, "args": ["da_next", "cache"]}


def rnn_backward_recipe(seed, n_x=3, n_a=5, n_y=2, m=10, T_x=4):
    steps = [["draw", "x", [n_x, m, T_x]], ["draw", "a0", [n_a, m]],
             *rnn_parameter_draws(n_a, n_x, n_y, ("Wax", "Waa", "Wya", "ba", "by")),
             ["reference", "rnn_forward", ["x", "a0", "parameters"], ["a", "y", "caches"]],
             ["draw", "da", [n_a, m, T_x]]]
    return {"seed": seed, "steps": steps, "args": ["da", "caches"]}


def lstm_cell_backward_recipe(seed, n_x=3, n_a=5, n_y=2, m=10):
    steps = [["draw", "xt", [n_x, m]], ["draw", "a_prev", [n_a, m]], ["draw", "c_prev", [n_a, m]],
             *lstm_parameter_draws(n_a, n_x, n_y),
             ["reference", "lstm_cell_forward", ["xt", "a_prev", "c_prev", "parameters"], ["a_next", "c_next", "yt", "cache"]],
             ["draw", "da_next", [n_a, m]], ["draw", "dc_next", [n_a, m]]]
    return {"seed": seed, "steps": steps, "args": ["da_next", "dc_next", "cache"]}


def lstm_backward_recipe(seed, n_x=3, n_a=5, n_y=2, m=10, T_x=7, T_da=4):
    # the published test draws x with 7 steps but da with 4: the backward pass reads T_x from da
    steps = [["draw", "x", [n_x, m, T_x]], ["draw", "a0", [n_a, m]],
             *lstm_parameter_draws(n_a, n_x, n_y, zero_output=True),
             ["reference", "lstm_forward", ["x", "a0", "parameters"], ["a", "y", "c", "caches"]],
             ["draw", "da", [n_a, m, T_da]]]
    return {"seed": seed, "steps": steps, "args": ["da", "caches"]}


def adam_init_recipe(seed, layers=((3, 4), (2, 3))):
    steps = []
    for number, (rows, cols) in enumerate(layers, start=1):
        steps += [["draw", f"parameters.W{number}", [rows, cols]], ["draw", f"parameters.b{number}", [rows, 1]]]
    return {"seed": seed, "steps": steps, "args": ["parameters"]}


def adam_update_recipe(seed, t=2, layers=((3, 4), (2, 3))):
    steps = []
    for number, (rows, cols) in enumerate(layers, start=1):
        steps += [["draw", f"parameters.W{number}", [rows, cols]], ["draw", f"parameters.b{number}", [rows, 1]]]
    for kind, scale in (("grads", 1), ("v", 0.1), ("s", 0.1)):
        for number, (rows, cols) in enumerate(layers, start=1):
            steps += [["draw", f"{kind}.dW{number}", [rows, cols], scale], ["draw", f"{kind}.db{number}", [rows, 1], scale]]
    for number in range(1, len(layers) + 1):  # second moments are never negative
        steps += [["square", f"s.dW{number}"], ["square", f"s.db{number}"]]
    steps += [["value", "t", t], ["value", "learning_rate", 0.01]]
    return {"seed": seed, "steps": steps, "args": ["parameters", "grads", "v", "s", "t"],
            "kwargs": {"learning_rate": "learning_rate"}}


def _dims(rng: np.random.Generator, time_steps: bool, min_m: int = 1) -> dict:
    dims = {"n_x": int(rng.integers(2, 7)), "n_a": int(rng.integers(3, 9)), "n_y": int(rng.integers(2, 5)),
            "m": int(rng.integers(min_m, 9))}
    if time_steps:
        dims["T_x"] = int(rng.integers(2, 8))
    return dims


def _seed(rng: np.random.Generator) -> int:
    return int(rng.integers(0, 2**31 - 1))


def _hidden(builder, time_steps: bool, min_m: int = 1):
    def make(count: int, rng: np.random.Generator) -> list[dict]:
        return [builder(_seed(rng), **_dims(rng, time_steps, min_m)) for _ in range(count)]
    return make


#: Backward passes sum over the examples (dba, dbf, ...): with one example a mean passes for a sum.
BACKWARD_MIN_M = 2


def _hidden_lstm_backward(count, rng):
    recipes = []
    for _ in range(count):
        dims = _dims(rng, True, BACKWARD_MIN_M)
        recipes.append(lstm_backward_recipe(_seed(rng), T_da=dims["T_x"], **dims))
    return recipes


def _hidden_adam(builder):
    def make(count, rng):
        recipes = []
        for _ in range(count):
            layers = tuple((int(rng.integers(1, 6)), int(rng.integers(1, 6))) for _ in range(int(rng.integers(1, 4))))
            recipes.append(builder(_seed(rng), layers=layers))
        return recipes
    return make


FORWARD_TOLERANCE = Tolerance(rtol=1e-6, atol=1e-9)

COURSE_VERSIONS = ("v1", "v2", "v3", "v3a", "v3b", "v4", "grader-1")


def version_clues(code: str, named: str | None) -> str | None:
    """v4 imports its public_tests, whatever the file is called; only v3a names the test variables with
    a _tmp suffix."""
    if "UNQ_C" in code or "public_tests" in code:
        return "v4"
    if named is not None:
        return named
    return "v3a" if "_tmp" in code else None


ASSIGNMENT = AssignmentSpec(
    name="rnn_step_by_step",
    title="Building a recurrent neural network, step by step",
    notebook="rnn_step_by_step.ipynb",
    helpers=("rnn_utils.py", "public_tests.py", "test_utils.py"),
    reference_modules=("rnn_utils.py",),
    title_words=("recurrent", "rnn", "step_by_step", "step by step"),
    versions=COURSE_VERSIONS, version_clues=version_clues,
    functions=(
        FunctionSpec(
            "rnn_cell_forward", ("xt", "a_prev", "parameters"), ("a_next", "yt_pred", "cache"), 25,
            mistakes=tuple(MISTAKES["rnn_cell_forward"]),
            published=(("published (seed 1)", rnn_cell_recipe(1)),),
            hidden=_hidden(rnn_cell_recipe, False), tolerance=FORWARD_TOLERANCE,
            hint="a_next = tanh(Waa·a_prev + Wax·xt + ba); yt_pred = softmax(Wya·a_next + by); "
                 "cache = (a_next, a_prev, xt, parameters)."),
        FunctionSpec(
            "rnn_forward", ("x", "a0", "parameters"), ("a", "y_pred", "caches"), 25,
            mistakes=tuple(MISTAKES["rnn_forward"]),
            depends_on=("rnn_cell_forward",),
            published=(("published (seed 1)", rnn_recipe(1)),
                       ("course test (seed 17)", rnn_recipe(17, n_x=4, n_a=7, n_y=3, m=8, T_x=13))),
            hidden=_hidden(rnn_recipe, True), tolerance=FORWARD_TOLERANCE,
            hint="Feed each step the hidden state the previous step returned (a0 only at t = 0); "
                 "caches = (list of caches, x)."),
        FunctionSpec(
            "lstm_cell_forward", ("xt", "a_prev", "c_prev", "parameters"), ("a_next", "c_next", "yt_pred", "cache"), 25,
            mistakes=tuple(MISTAKES["lstm_cell_forward"]),
            published=(("published (seed 1)", lstm_cell_recipe(1)),
                       ("course test (seed 212)", lstm_cell_recipe(212, n_x=4, n_a=7, n_y=3, m=8))),
            hidden=_hidden(lstm_cell_recipe, False), tolerance=FORWARD_TOLERANCE,
            hint="concat = [a_prev; xt] (a_prev on top); c_next = ft*c_prev + it*cct; a_next = ot*tanh(c_next)."),
        FunctionSpec(
            "lstm_forward", ("x", "a0", "parameters"), ("a", "y", "c", "caches"), 25,
            mistakes=tuple(MISTAKES["lstm_forward"]),
            depends_on=("lstm_cell_forward",),
            published=(("published (seed 1)", lstm_recipe(1)),
                       ("course test (seed 45)", lstm_recipe(45, n_x=4, n_a=3, n_y=2, m=13, T_x=16))),
            hidden=_hidden(lstm_recipe, True), tolerance=FORWARD_TOLERANCE,
            hint="The cell state starts at zeros, the hidden state at a0; return a, y, c, caches in that order."),
        FunctionSpec(
            "rnn_cell_backward", ("da_next", "cache"), ("gradients",), 10, section="optional",
            mistakes=tuple(MISTAKES["rnn_cell_backward"]),
            published=(("published (seed 1)", rnn_cell_backward_recipe(1)),),
            hidden=_hidden(rnn_cell_backward_recipe, False, BACKWARD_MIN_M), tolerance=FORWARD_TOLERANCE,
            hint="dtanh = (1 - a_next**2) * da_next; every gradient starts from dtanh."),
        FunctionSpec(
            "rnn_backward", ("da", "caches"), ("gradients",), 10, section="optional",
            mistakes=tuple(MISTAKES["rnn_backward"]),
            depends_on=("rnn_cell_backward",),
            published=(("published (seed 1)", rnn_backward_recipe(1)),),
            hidden=_hidden(rnn_backward_recipe, True, BACKWARD_MIN_M), tolerance=FORWARD_TOLERANCE,
            hint="Go backwards in time; each step gets da[:, :, t] plus the da_prev of the step after it."),
        FunctionSpec(
            "lstm_cell_backward", ("da_next", "dc_next", "cache"), ("gradients",), 10, section="optional",
            mistakes=tuple(MISTAKES["lstm_cell_backward"]),
            published=(("published (seed 1)", lstm_cell_backward_recipe(1)),),
            hidden=_hidden(lstm_cell_backward_recipe, False, BACKWARD_MIN_M), tolerance=FORWARD_TOLERANCE,
            hint="The cell-state gradient is dc_next + ot*(1 - tanh(c_next)**2)*da_next; gates use it."),
        FunctionSpec(
            "lstm_backward", ("da", "caches"), ("gradients",), 10, section="optional",
            mistakes=tuple(MISTAKES["lstm_backward"]),
            depends_on=("lstm_cell_backward",), judge=ErratumJudge(LSTM_BACKWARD_V1_V3),
            published=(("published (seed 1)", lstm_backward_recipe(1)),),
            hidden=_hidden_lstm_backward, tolerance=FORWARD_TOLERANCE,
            hint="Carry both da_prev and dc_prev from step to step, backwards; T_x comes from da."),
        FunctionSpec(
            "initialize_adam", ("parameters",), ("v", "s"), 5, section="optional",
            published=(("example (seed 3)", adam_init_recipe(3)),),
            hidden=_hidden_adam(adam_init_recipe), tolerance=Tolerance(0, 0),
            hint="v and s get a zero array shaped like each parameter, keys dW1, db1, ..."),
        FunctionSpec(
            "update_parameters_with_adam", ("parameters", "grads", "v", "s", "t"), ("parameters", "v", "s"), 5,
            section="optional",
            published=(("example (seed 3)", adam_update_recipe(3)),),
            hidden=_hidden_adam(adam_update_recipe), tolerance=FORWARD_TOLERANCE,
            hint="Moving averages, bias correction by 1 - beta**t, then W -= lr * v_hat / sqrt(s_hat + epsilon)."),
    ),
)
