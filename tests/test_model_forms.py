"""Every published form of Dinosaur Island's ``model`` scores full marks: the input form comes from the
parameters the student's function declares (``data_x``: the list of names; ``data``: reads dinos.txt
itself), the output form from what it returns (``parameters`` or ``(parameters, last_dino_name)``).

Each form is the reference training loop written the way that version's notebook has it."""
from __future__ import annotations

import pytest

from grader.pipeline import grade_notebook
from grader.results import Status

from conftest import FAST, make_notebook, replace_function, solution_cells

#: Shuffles of the published versions: numpy's from v3 on, Python's (unseeded) in v1 and v2.
NUMPY_SHUFFLE = "np.random.seed(0)\n    np.random.shuffle(examples)"
PYTHON_SHUFFLE = "random.shuffle(examples)"

READ_FILE = """with open("dinos.txt") as f:
        examples = f.readlines()
    examples = [x.lower().strip() for x in examples]"""
FROM_ARGUMENT = "examples = [x.strip() for x in data_x]"


def model_source(first: str, extra: str, examples: str, shuffle: str, returns: str) -> str:
    return f"""# GRADED FUNCTION: model
import random

def model({first}, ix_to_char, char_to_ix, num_iterations=35000, n_a=50, dino_names=7, vocab_size=27{extra}):
    n_x, n_y = vocab_size, vocab_size
    parameters = initialize_parameters(n_a, n_x, n_y)
    loss = get_initial_loss(vocab_size, dino_names)
    {examples}
    {shuffle}
    a_prev = np.zeros((n_a, 1))
    last_dino_name = "abc"
    for j in range(num_iterations):
        index = j % len(examples)
        X = [None] + [char_to_ix[ch] for ch in examples[index]]
        Y = X[1:] + [char_to_ix["\\n"]]
        curr_loss, gradients, a_prev = optimize(X, Y, a_prev, parameters, learning_rate=0.01)
        loss = smooth(loss, curr_loss)
        if j % 2000 == 0:
            seed = 0
            for name in range(dino_names):
                sampled_indices = sample(parameters, char_to_ix, seed)
                last_dino_name = get_sample(sampled_indices, ix_to_char)
                seed += 1
    return {returns}
"""


FORMS = {
    # (first parameter, extra parameters, how examples are read, shuffle, what is returned)
    "v1/v2: model(data, ...) -> parameters, Python shuffle": ("data", "", READ_FILE, PYTHON_SHUFFLE, "parameters"),
    "v3/v3a: model(data, ...) -> parameters": ("data", "", READ_FILE, NUMPY_SHUFFLE, "parameters"),
    "v3b: model(data, ..., verbose=False) -> parameters": ("data", ", verbose=False", READ_FILE, NUMPY_SHUFFLE,
                                                           "parameters"),
    "v4: model(data_x, ..., verbose=False) -> (parameters, last_dino_name)": (
        "data_x", ", verbose=False", FROM_ARGUMENT, NUMPY_SHUFFLE, "parameters, last_dino_name"),
    "model(data_x, ...) -> parameters": ("data_x", "", FROM_ARGUMENT, NUMPY_SHUFFLE, "parameters"),
    "model(data, ..., verbose=False) -> (parameters, last_dino_name)": (
        "data", ", verbose=False", READ_FILE, NUMPY_SHUFFLE, "parameters, last_dino_name"),
}


def _grade(tmp_path, source: str):
    cells = replace_function(solution_cells("dinosaur_island.ipynb"), "model", source)
    # The v4 helper get_sample is what the form above calls; older utils lack it, so define it here.
    cells.append("def get_sample(sample_ix, ix_to_char):\n"
                 "    text = ''.join(ix_to_char[ix] for ix in sample_ix)\n"
                 "    return text[0].upper() + text[1:]\n")
    notebook = make_notebook(tmp_path / "dinosaur_island.ipynb", *cells)
    result = grade_notebook(notebook, FAST.with_changes(only=("model",), call_timeout=60, cell_timeout=60))
    assert result.graded, result.error
    return result.functions[0]


@pytest.mark.parametrize("form", list(FORMS))
def test_every_published_model_form_scores_full_marks(tmp_path, form):
    function = _grade(tmp_path, model_source(*FORMS[form]))
    assert function.status == Status.PASSED, function.messages
    assert function.score == function.max_score
    assert function.cases_passed == len(function.cases) >= 2  # the published run and a hidden one


def test_a_wrong_name_with_right_parameters_is_caught(tmp_path):
    source = model_source("data_x", ", verbose=False", FROM_ARGUMENT, NUMPY_SHUFFLE, "parameters, 'Nosaurus'")
    function = _grade(tmp_path, source)
    assert function.score == 0
    assert "last_dino_name" in function.messages[0]


def test_a_return_in_no_published_form_names_the_forms_accepted(tmp_path):
    source = model_source("data", ", verbose=False", READ_FILE, NUMPY_SHUFFLE, "[parameters]")
    function = _grade(tmp_path, source)
    assert function.status == Status.FAILED
    assert "`parameters` (a dict, v1 to v3b) or `(parameters, last_dino_name)` (v4)" in function.messages[0]
    assert "got a list" in function.messages[0] or "got list" in function.messages[0]


def test_a_cell_that_calls_the_training_demo_at_top_level_is_not_run_and_others_are(tmp_path):
    """``model(...)`` at top level (even under ``if``) is the long demo the grader replaces; the same
    word in a comment, a string, a definition's body or a longer name does not keep a cell out."""
    from grader.load import load_submission

    demo = "parameters = model(data, ix_to_char, char_to_ix)"
    kept = ["# model(data, ix_to_char, char_to_ix) trains for a while",
            "text = 'call model() to train'",
            "def train_again():\n    return model(data, ix_to_char, char_to_ix)",
            "my_model(data)",
            "x = models(1)"]
    skipped = [demo, "if True:\n    " + demo, "print(model(data, ix_to_char, char_to_ix))"]
    cells = solution_cells("dinosaur_island.ipynb") + kept + skipped
    submission = load_submission(make_notebook(tmp_path / "nb.ipynb", *cells), 50)
    run = {cell.source for cell in submission.cells}
    assert all(source in run for source in kept)
    assert not any(source in run for source in skipped)
    assert sum("not run: it calls model()" in note for note in submission.warnings) >= len(skipped)
