"""Do the reference solutions reproduce the course's published numbers?"""
from __future__ import annotations

import io
import contextlib

import numpy as np
import pytest

from grader.course import get_assignment
from grader.course.recipes import build_call
from grader.course.reference import load_reference
from grader.course.dino.judges import presorted_for_numpy_shuffle as _presorted_for_numpy_shuffle

from conftest import SOLUTIONS

RNN = load_reference(get_assignment("rnn_step_by_step"), SOLUTIONS)
DINO = load_reference(get_assignment("dinosaur_island"), SOLUTIONS)


def call(references, function, recipe):
    args, kwargs = build_call(recipe, references.get)
    return references[function](*args, **kwargs)


def recipe_of(assignment, function, case_name):
    spec = get_assignment(assignment).function(function)
    return dict(spec.published)[case_name]


def close(got, want, rtol=1e-7, atol=5e-9):
    """Published values are printed with 8 decimals: allow their rounding (atol) besides rtol."""
    np.testing.assert_allclose(np.asarray(got, dtype=float), np.asarray(want, dtype=float), rtol=rtol, atol=atol)


def test_rnn_cell_forward_seed_1():
    a_next, yt_pred, cache = call(RNN, "rnn_cell_forward", recipe_of("rnn_step_by_step", "rnn_cell_forward", "published (seed 1)"))
    close(a_next[4], [0.59584544, 0.18141802, 0.61311866, 0.99808218, 0.85016201, 0.99980978, -0.18887155,
                      0.99815551, 0.6531151, 0.82872037])
    close(yt_pred[1], [0.9888161, 0.01682021, 0.21140899, 0.36817467, 0.98988387, 0.88945212, 0.36920224,
                       0.9966312, 0.9982559, 0.17746526])
    assert a_next.shape == (5, 10) and yt_pred.shape == (2, 10) and len(cache) == 4


def test_rnn_forward_seed_1():
    a, y_pred, caches = call(RNN, "rnn_forward", recipe_of("rnn_step_by_step", "rnn_forward", "published (seed 1)"))
    close(a[4][1], [-0.99999375, 0.77911235, -0.99861469, -0.99833267])
    close(y_pred[1][3], [0.79560373, 0.86224861, 0.11118257, 0.81515947])
    close(caches[1][1][3], [-1.1425182, -0.34934272, -0.20889423, 0.58662319])
    assert len(caches) == 2


def test_lstm_cell_forward_seed_1():
    a_next, c_next, yt, cache = call(RNN, "lstm_cell_forward", recipe_of("rnn_step_by_step", "lstm_cell_forward", "published (seed 1)"))
    close(a_next[4], [-0.66408471, 0.0036921, 0.02088357, 0.22834167, -0.85575339, 0.00138482, 0.76566531,
                      0.34631421, -0.00215674, 0.43827275])
    close(c_next[2], [0.63267805, 1.00570849, 0.35504474, 0.20690913, -1.64566718, 0.11832942, 0.76449811,
                      -0.0981561, -0.74348425, -0.26810932])
    close(yt[1], [0.79913913, 0.15986619, 0.22412122, 0.15606108, 0.97057211, 0.31146381, 0.00943007,
                  0.12666353, 0.39380172, 0.07828381])
    close(cache[1][3], [-0.16263996, 1.03729328, 0.72938082, -0.54101719, 0.02752074, -0.30821874, 0.07651101,
                        -1.03752894, 1.41219977, -0.37647422])
    assert len(cache) == 10


def test_lstm_forward_seed_1():
    a, y, c, caches = call(RNN, "lstm_forward", recipe_of("rnn_step_by_step", "lstm_forward", "published (seed 1)"))
    close(a[4][3][6], 0.17211776753291672)
    close(y[1][4][3], 0.9508734618501101)
    close(c[1][2][1], -0.8555449167181982)
    close(caches[1][1][1], [0.82797464, 0.23009474, 0.76201118, -0.22232814, -0.20075807, 0.18656139, 0.41005165])
    assert len(caches) == 2


def test_course_public_tests_seeds_17_212_45():
    a, y_pred, caches = call(RNN, "rnn_forward", recipe_of("rnn_step_by_step", "rnn_forward", "course test (seed 17)"))
    close(a[5, 2, 2:6], [0.99999291, 0.99332189, 0.9921928, 0.99503445], rtol=1e-6)
    np.testing.assert_allclose(y_pred[2, 1, 1:5], [0.19428, 0.14292, 0.24993, 0.00119], atol=1e-4)
    assert len(caches[0]) == 13
    a_next, c_next, y, cache = call(RNN, "lstm_cell_forward", recipe_of("rnn_step_by_step", "lstm_cell_forward", "course test (seed 212)"))
    close(cache[4][0, 0:2], [0.32969833, 0.0574555], rtol=1e-6)
    close(cache[5][0, 0:2], [0.0036446, 0.9806943], rtol=1e-5)
    close(cache[6][0, 0:2], [0.99903873, 0.57509956], rtol=1e-6)
    close(c_next[0, 0:2], [0.1352798, 0.39884899], rtol=1e-6)
    close(cache[7][0, 0:2], [0.7477249, 0.71588751], rtol=1e-6)
    close(a_next[0, 0:2], [0.10053951, 0.27129536], rtol=1e-6)
    close(y[1], [0.417098, 0.449528, 0.223159, 0.278376, 0.68453, 0.419221, 0.564025, 0.538475], rtol=1e-5)
    a, y, c, caches = call(RNN, "lstm_forward", recipe_of("rnn_step_by_step", "lstm_forward", "course test (seed 45)"))
    close(a[2, 1, 4:6], [-0.01606022, 0.0243569], rtol=1e-6)
    close(c[2, 1, 4:6], [-0.02753855, 0.05668358], rtol=1e-6)
    close(y[1, 1, 4:6], [0.70444592, 0.70648935], rtol=1e-6)
    assert len(caches[0]) == 16 and len(caches[0][0]) == 10


def test_backward_pass_v3a_v4_values():
    g = call(RNN, "rnn_cell_backward", recipe_of("rnn_step_by_step", "rnn_cell_backward", "published (seed 1)"))
    close([g["dxt"][1][2], g["da_prev"][2][3], g["dWax"][3][1], g["dWaa"][1][2], g["dba"][4][0]],
          [-1.3872130506, -0.152399493774, 0.410772824935, 1.15034506685, 0.20023491], rtol=1e-7)
    g = call(RNN, "rnn_backward", recipe_of("rnn_step_by_step", "rnn_backward", "published (seed 1)"))
    close(g["dx"][1][2], [-2.07101689, -0.59255627, 0.02466855, 0.01483317])
    close([g["da0"][2][3], g["dWax"][3][1], g["dWaa"][1][2], g["dba"][4][0]],
          [-0.314942375127, 11.2641044965, 2.30333312658, -0.74747722], rtol=1e-7)
    g = call(RNN, "lstm_cell_backward", recipe_of("rnn_step_by_step", "lstm_cell_backward", "published (seed 1)"))
    close([g["dxt"][1][2], g["da_prev"][2][3], g["dc_prev"][2][3], g["dWf"][3][1], g["dWi"][1][2], g["dWc"][3][1],
           g["dWo"][1][2], g["dbf"][4][0], g["dbi"][4][0]],
          [3.23055911511, -0.0639621419711, 0.797522038797, -0.147954838164, 1.05749805523, 2.30456216369,
           0.331311595289, 0.18864637, -0.40142491], rtol=1e-7)
    g = call(RNN, "lstm_backward", recipe_of("rnn_step_by_step", "lstm_backward", "published (seed 1)"))
    close(g["dx"][1][2], [0.00218254, 0.28205375, -0.48292508, -0.43281115], rtol=1e-6)
    close([g["da0"][2][3], g["dWf"][3][1], g["dWi"][1][2], g["dWc"][3][1], g["dWo"][1][2], g["dbf"][4][0],
           g["dbi"][4][0], g["dbc"][4][0]],
          [0.312770310257, -0.0809802310938, 0.40512433093, -0.0793746735512, 0.038948775763, -0.15745657,
           -0.50848333, -0.42510818], rtol=1e-7)


@pytest.mark.parametrize("max_value, expected", [(10, [10.0, -10.0, 0.2971381536101662, 10.0, 8.45833407]),
                                                 (5, [5.0, -5.0, 0.2971381536101662, 5.0, 5.0])])
def test_clip_seed_3(max_value, expected):
    g = call(DINO, "clip", recipe_of("dinosaur_island", "clip", f"published (seed 3, maxValue {max_value})"))
    close([g["dWaa"][1][2], g["dWax"][3][1], g["dWya"][1][2], g["db"][4][0], g["dby"][1][0]], expected)


def test_optimize_seed_1():
    recipe = recipe_of("dinosaur_island", "optimize", "published (seed 1)")
    loss, gradients, a_last = call(DINO, "optimize", recipe)
    close(loss, 126.5039757216534, rtol=1e-10)
    close(gradients["dWaa"][1][2], 0.19470931534726443)
    assert np.argmax(gradients["dWax"]) == 93
    close(gradients["dWya"][1][2], -0.007773876032004488)
    close(gradients["db"][4], [-0.06809825])
    close(gradients["dby"][1], [0.01538192])
    close(a_last[4], [-1.0])


def test_sample_published_prefix_and_v4_list():
    indices = call(DINO, "sample", recipe_of("dinosaur_island", "sample", "published (seed 2)"))
    assert [int(i) for i in indices[:43]] == [12, 17, 24, 14, 13, 9, 10, 22, 24, 6, 13, 11, 12, 6, 21, 15, 21, 14, 3, 2,
                                              1, 21, 18, 24, 7, 25, 6, 25, 18, 10, 16, 2, 3, 8, 15, 12, 11, 7, 1, 12, 10, 2, 7]
    indices = call(DINO, "sample", recipe_of("dinosaur_island", "sample", "course test (seed 24)"))
    assert [int(i) for i in indices] == [23, 16, 26, 26, 24, 3, 21, 1, 7, 24, 15, 3, 25, 20, 6, 13, 10, 8, 20, 12, 2, 0]


def test_model_loss_trajectory_on_course_data(shared):
    """Older protocol on the course's own names: the printed smoothed loss at iterations 0 and 2000.

    The reference takes data_x; the older model read dinos.txt, lower-cased and stripped each line."""
    text = (shared / "data" / "dinos.txt").read_text()
    lines = [line.lower() for line in text.splitlines(keepends=True)]
    char_to_ix = {ch: i for i, ch in enumerate(sorted(set(text.lower())))}
    ix_to_char = {i: ch for ch, i in char_to_ix.items()}
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        DINO["model"](lines, ix_to_char, char_to_ix, 2001, 50, 7, 27, True)
    losses = [line for line in printed.getvalue().splitlines() if line.startswith("Iteration")]
    assert losses == ["Iteration: 0, Loss: 23.087336", "Iteration: 2000, Loss: 27.884160"]


def test_presorting_makes_numpy_shuffle_land_on_any_order():
    order = list("abcdefghij")
    shuffled = _presorted_for_numpy_shuffle(order)
    np.random.seed(0)
    np.random.shuffle(shuffled)
    assert shuffled == order
