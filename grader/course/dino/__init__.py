"""Assignment "Dinosaur Island": graded functions, published test inputs, hidden-case recipes, and
its own judges (judges.py) and mistake models (mistakes.py)."""
from __future__ import annotations

import numpy as np

from ..spec import AssignmentSpec, FunctionSpec, Tolerance, mistake_models
from . import data  # noqa: F401  (registers the vocabulary and names recipe steps)
from .data import NO_LEADING_NONE
from .judges import ModelJudge, SampleJudge

MISTAKES = mistake_models(__name__)

VOCAB = 27
MODEL_ARGS = ["ix_to_char", "char_to_ix", "num_iterations", "n_a", "dino_names", "vocab_size"]


def _rnn_parameters(n_a, vocab=VOCAB, scale=1):
    return [["draw", "parameters.Wax", [n_a, vocab], scale], ["draw", "parameters.Waa", [n_a, n_a], scale],
            ["draw", "parameters.Wya", [vocab, n_a], scale], ["draw", "parameters.b", [n_a, 1], scale],
            ["draw", "parameters.by", [vocab, 1], scale]]


def clip_recipe(seed, maxValue, n_a=5, n_x=3, n_y=2):
    steps = [["draw", "gradients.dWax", [n_a, n_x], 10], ["draw", "gradients.dWaa", [n_a, n_a], 10],
             ["draw", "gradients.dWya", [n_y, n_a], 10], ["draw", "gradients.db", [n_a, 1], 10],
             ["draw", "gradients.dby", [n_y, 1], 10], ["value", "maxValue", maxValue]]
    return {"seed": seed, "steps": steps, "args": ["gradients", "maxValue"]}


def sample_recipe(seed, n_a=100, scale=1, seed_arg=0, no_newline=False):
    steps = [*_rnn_parameters(n_a, scale=scale), ["vocabulary", "char_to_ix", "ix_to_char"], ["value", "seed", seed_arg]]
    if no_newline:  # a newline is then (almost) never drawn: the 50-character limit must stop the loop
        steps.append(["assign", "parameters.by", [0, 0], -40.0])
    return {"seed": seed, "steps": steps, "args": ["parameters", "char_to_ix", "seed"]}


def optimize_recipe(seed, n_a=100, X=(12, 3, 5, 11, 22, 3), Y=(4, 14, 11, 22, 25, 26), scale=1):
    steps = [["draw", "a_prev", [n_a, 1], scale], *_rnn_parameters(n_a, scale=scale),
             ["value", "X", list(X)], ["value", "Y", list(Y)], ["value", "learning_rate", 0.01]]
    return {"seed": seed, "steps": steps, "args": ["X", "Y", "a_prev", "parameters"],
            "kwargs": {"learning_rate": "learning_rate"}}


def model_recipe(seed, num_iterations=40, n_a=50, dino_names=7, names=None):
    """Both published signatures take the same positional arguments after the data:
    model(data_x, ...) gets the lower-cased text split at newlines (as the v4 test cell passes it),
    model(data, ...) gets the text (it reads dinos.txt itself, so ``names`` only limits data_x)."""
    subset = [names] if names else []
    steps = [["vocabulary", "char_to_ix", "ix_to_char"], ["names", "lines", "split", *subset], ["names", "text", "text"],
             ["value", "num_iterations", num_iterations], ["value", "n_a", n_a],
             ["value", "dino_names", dino_names], ["value", "vocab_size", VOCAB]]
    return {"seed": seed, "steps": steps,
            "variants": {"data_x": {"args": ["lines", *MODEL_ARGS]}, "data": {"args": ["text", *MODEL_ARGS]}}}


def _seed(rng):
    return int(rng.integers(0, 2**31 - 1))


def _hidden_clip(count, rng):
    return [clip_recipe(_seed(rng), float(np.round(rng.uniform(0.5, 8), 2)), n_a=int(rng.integers(2, 8)),
                        n_x=int(rng.integers(2, 8)), n_y=int(rng.integers(2, 8))) for _ in range(count)]


def _hidden_sample(count, rng):
    recipes = [sample_recipe(_seed(rng), n_a=int(rng.integers(10, 60)), scale=0.5, seed_arg=int(rng.integers(0, 100)))
               for _ in range(max(count - 1, 1))]
    recipes.append(sample_recipe(_seed(rng), n_a=int(rng.integers(10, 30)), scale=0.3,
                                 seed_arg=int(rng.integers(0, 100)), no_newline=True))
    return recipes


def _hidden_optimize(count, rng):
    recipes = []
    for number in range(count):
        length = int(rng.integers(3, 12))
        chars = [int(c) for c in rng.integers(1, VOCAB, size=length)]
        X = [None, *chars]
        recipes.append(optimize_recipe(_seed(rng), n_a=int(rng.integers(10, 60)), X=X, Y=[*chars, 0],
                                       scale=1 if number % 2 == 0 else 0.05))
    return recipes


def _hidden_model(count, rng):
    """One case: few names and twice as many iterations, so the run wraps around the examples."""
    names = int(rng.integers(8, 16))
    return [model_recipe(_seed(rng) % 10_000, num_iterations=2 * names + int(rng.integers(1, 10)),
                         n_a=int(rng.integers(10, 30)), dino_names=int(rng.integers(1, 8)), names=names)]


COURSE_VERSIONS = ("v1", "v2", "v3", "v3a", "v3b", "v4", "v1/v2", "pre-v3 (learners)", "grader-1")


def version_clues(code: str, named: str | None) -> str | None:
    """v4 has the graded-cell ids and test functions, whatever the file is called; otherwise the file
    name or markdown, and failing those the shuffle: numpy's from v3 on, Python's in v1 and v2."""
    if "UNQ_C" in code or "public_tests" in code or "def clip_test" in code or "def sample_test" in code:
        return "v4"
    if named is not None:
        return named
    if "np.random.shuffle(examples)" in code:
        return "v3"
    return "v1/v2" if "shuffle(examples)" in code else None


ASSIGNMENT = AssignmentSpec(
    name="dinosaur_island",
    title="Dinosaur Island: a character-level language model",
    notebook="dinosaur_island.ipynb",
    helpers=("utils.py", "cllm_utils.py", "test_utils.py", "datasets/dinos.txt"),
    data_links={"dinos.txt": "datasets/dinos.txt"},
    reference_modules=("cllm_utils.py",),
    skip_calls=("model",),
    versions=COURSE_VERSIONS, version_clues=version_clues,
    title_words=("dino", "character_level", "character-level", "language_model", "language model"),
    functions=(
        FunctionSpec(
            "clip", ("gradients", "maxValue"), ("gradients",), 25,
            published=(("published (seed 3, maxValue 10)", clip_recipe(3, 10)),
                       ("published (seed 3, maxValue 5)", clip_recipe(3, 5))),
            hidden=_hidden_clip, tolerance=Tolerance(0, 1e-12), may_change_args=True, mistakes=tuple(MISTAKES["clip"]),
            hint="np.clip(gradient, -maxValue, maxValue, out=gradient) for each of dWax, dWaa, dWya, db, dby."),
        FunctionSpec(
            "sample", ("parameters", "char_to_ix", "seed"), ("indices",), 25, judge=SampleJudge(vocab=VOCAB), mistakes=tuple(MISTAKES["sample"]),
            published=(("published (seed 2)", sample_recipe(2)), ("course test (seed 24)", sample_recipe(24))),
            hidden=_hidden_sample,
            hint="Feed back the drawn character one-hot, keep the given np.random.seed(counter + seed) line, "
                 "draw with np.random.choice(range(vocab_size), p=y.ravel())."),
        FunctionSpec(
            "optimize", ("X", "Y", "a_prev", "parameters"), ("loss", "gradients", "a_last"), 25,
            depends_on=("clip",), check_args_after=(3,),
            published=(("published (seed 1)", optimize_recipe(1)),),
            hidden=_hidden_optimize, tolerance=Tolerance(1e-7, 1e-10), mistakes=tuple(MISTAKES["optimize"]),
            hint="rnn_forward, rnn_backward, clip(gradients, 5), update_parameters(parameters, gradients, learning_rate)."),
        FunctionSpec(
            "model", ("data_x", "ix_to_char", "char_to_ix"), ("parameters", "last_dino_name"), 25, judge=ModelJudge(), mistakes=tuple(MISTAKES["model"]),
            depends_on=("optimize", "sample"),
            published=(("short training run (40 iterations)", model_recipe(0)),),
            hidden=_hidden_model, tolerance=Tolerance(1e-6, 1e-9),
            error_patterns=(
                (r"list index out of range", "an index runs past the end of a list: in model, take the name with "
                                             "examples[j % len(examples)] (wrap around), and make Y as long as X."),
                # an empty name gives X = [] when the leading None is missing, and rnn_backward then fails
                (r"KeyError: 0", NO_LEADING_NONE),
            ),
            hint="idx = j % len(examples); X = [None] + indices of the name; Y = X[1:] + [index of '\\n']; "
                 "pass a_prev from one optimize call to the next."),
    ),
)
