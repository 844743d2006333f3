"""Hidden cases need a secret (issue 10, class 3).

The grader is public, so a seed drawn from the notebook alone can be computed by anyone: a student
could ship the hidden cases' answers next to the notebook. The seed is HMAC(secret, everything the
student submitted that is graded). These tests keep the secret away from the real home folder.
"""
from __future__ import annotations

import hashlib
import json
import os
import stat
import textwrap
from pathlib import Path

import numpy as np
import pytest

import grader.run_cases as run_cases
from grader import secret
from grader.config import GradeConfig
from grader.course import ASSIGNMENTS
from grader.course.recipes import build_call
from grader.course.reference import load_reference
from grader.pipeline import grade_notebook, hidden_seed

from conftest import ASSIGNMENTS as ASSIGNMENTS_DIR
from conftest import FAST, SOLUTIONS, make_notebook, replace_function, solution_cells

ONLY = FAST.with_changes(only=("rnn_cell_forward",), hidden_cases=2, hidden_seed=None)


@pytest.fixture(autouse=True)
def private_secret(tmp_path, monkeypatch):
    """No test here reads or writes the user's own secret."""
    monkeypatch.delenv(secret.SECRET_ENV, raising=False)
    monkeypatch.setenv(secret.SECRET_FILE_ENV, str(tmp_path / "home-secret" / "secret"))
    return tmp_path / "home-secret" / "secret"


# --- where the secret lives ----------------------------------------------------------------------

def test_the_secret_is_made_once_private_and_kept(tmp_path, private_secret):
    first = secret.resolve(GradeConfig())
    assert len(first) == 64 and private_secret.read_text().strip() == first
    assert stat.S_IMODE(private_secret.stat().st_mode) == 0o600
    assert stat.S_IMODE(private_secret.parent.stat().st_mode) == 0o700
    assert secret.resolve(GradeConfig()) == first


def test_where_the_secret_comes_from(tmp_path, monkeypatch):
    monkeypatch.delenv(secret.SECRET_FILE_ENV)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg"))
    assert secret.default_secret_file() == tmp_path / "xdg" / "grader" / "secret"
    own = tmp_path / "course.key"
    own.write_text("from-the-file\n")
    assert secret.resolve(GradeConfig(secret_file=str(own))) == "from-the-file"
    monkeypatch.setenv(secret.SECRET_ENV, "from-the-environment")
    assert secret.resolve(GradeConfig(secret_file=str(own))) == "from-the-environment"
    assert secret.resolve(GradeConfig(secret="from-the-config")) == "from-the-config"


def test_an_empty_or_unmakeable_secret_is_a_clear_error(tmp_path):
    empty = tmp_path / "empty"
    empty.write_text("\n")
    with pytest.raises(secret.GraderError, match="is empty: delete it"):
        secret.resolve(GradeConfig(secret_file=str(empty)))
    blocked = tmp_path / "a-file"
    blocked.write_text("x")
    with pytest.raises(secret.GraderError, match="grading secret .*a-file/secret: Not a directory; fix"):
        secret.resolve(GradeConfig(secret_file=str(blocked / "secret")))


def test_a_batch_keeps_its_secret_in_its_output_folder(tmp_path):
    out = tmp_path / "grades"
    out.mkdir()
    config = secret.for_batch(GradeConfig(), out)
    kept = out / secret.BATCH_SECRET_NAME
    assert config.secret == kept.read_text().strip() and stat.S_IMODE(kept.stat().st_mode) == 0o600
    assert secret.for_batch(GradeConfig(), out).secret == config.secret  # a rerun draws the same cases
    assert secret.for_batch(GradeConfig(hidden_seed=3), out).secret is None  # --seed needs none
    assert config.secret not in repr(config)


def test_the_secret_is_never_in_results_and_rotating_it_regrades(tmp_path):
    from grader.batch import discover, grade_batch, write_outputs

    folder = tmp_path / "class"
    folder.mkdir()
    make_notebook(folder / "alice.ipynb", *solution_cells("rnn_step_by_step.ipynb"))
    out = tmp_path / "grades"
    entries, _ = discover([str(folder)])
    grade_batch(entries, out, ONLY.with_changes(hidden_cases=1), jobs=1)
    write_outputs(out)
    value = (out / secret.BATCH_SECRET_NAME).read_text().strip()
    for path in out.rglob("*"):
        if path.is_file() and path.name != secret.BATCH_SECRET_NAME:
            assert value not in path.read_text(errors="replace"), path
    config = ONLY.with_changes(hidden_cases=1)
    assert grade_batch(entries, out, config, jobs=1).skipped == 1  # same secret: the result stands
    (out / secret.BATCH_SECRET_NAME).unlink()  # rotating: other hidden cases, so the class is graded again
    assert grade_batch(entries, out, config, jobs=1).graded == 1


# --- the seed ------------------------------------------------------------------------------------

def test_the_seed_mixes_the_secret_with_everything_submitted(tmp_path):
    notebook, helper = tmp_path / "nb.ipynb", tmp_path / "rnn_utils.py"
    notebook.write_text("{}")
    helper.write_text("x = 1\n")
    one, two = GradeConfig(secret="one"), GradeConfig(secret="two")
    assert hidden_seed(notebook, one) == hidden_seed(notebook, one) != hidden_seed(notebook, two)
    with_helper = hidden_seed(notebook, one, {"rnn_utils.py": helper})
    assert with_helper != hidden_seed(notebook, one)
    helper.write_text("x = 2\n")  # a changed helper module draws other cases too
    assert hidden_seed(notebook, one, {"rnn_utils.py": helper}) != with_helper
    assert hidden_seed(notebook, one.with_changes(hidden_seed=7)) == 7  # --seed overrides everything


def _drawn(path: Path, config: GradeConfig, monkeypatch) -> list[dict]:
    """The recipes of every case a real grading run builds (stored ones first, then hidden)."""
    seen: list[dict] = []
    original = run_cases.build_call

    def spy(recipe, *args, **kwargs):
        seen.append(json.loads(json.dumps(recipe)))
        return original(recipe, *args, **kwargs)

    monkeypatch.setattr(run_cases, "build_call", spy)
    result = grade_notebook(path, config)
    monkeypatch.setattr(run_cases, "build_call", original)
    assert result.graded and result.score == result.max_score, result.error
    return seen


def test_two_graders_with_different_secrets_draw_different_hidden_cases(tmp_path, monkeypatch):
    path = make_notebook(tmp_path / "nb.ipynb", *solution_cells("rnn_step_by_step.ipynb"))
    first = _drawn(path, ONLY.with_changes(secret="grader one"), monkeypatch)
    again = _drawn(path, ONLY.with_changes(secret="grader one"), monkeypatch)
    other = _drawn(path, ONLY.with_changes(secret="grader two"), monkeypatch)
    stored = len(ASSIGNMENTS["rnn_step_by_step"].function("rnn_cell_forward").published)
    assert len(first) == stored + 2
    assert first == again
    assert first[:stored] == other[:stored] and first[stored:] != other[stored:]


# --- predicted answers ---------------------------------------------------------------------------

LOOKUP = textwrap.dedent('''
    # GRADED FUNCTION: rnn_cell_forward
    def rnn_cell_forward(xt, a_prev, parameters):
        import hashlib
        import numpy as np
        from rnn_utils import ANSWERS
        a_next, yt_pred = (np.array(v) for v in ANSWERS[hashlib.sha256(np.ascontiguousarray(xt).tobytes()).hexdigest()])
        return a_next, yt_pred, (a_next, a_prev, xt, parameters)
''')


def _predicted_answers(seed: int, count: int) -> dict:
    """What a student with the public package computes: the published and hidden inputs that the old
    rule (seed = the notebook's SHA-256) draws, and the reference's answers to them."""
    assignment = ASSIGNMENTS["rnn_step_by_step"]
    spec = assignment.function("rnn_cell_forward")
    references = load_reference(assignment, SOLUTIONS)
    recipes = [recipe for _, recipe in spec.published] + spec.hidden(count, np.random.default_rng(seed))
    answers = {}
    for recipe in recipes:
        args, kwargs = build_call(recipe, references.get)
        a_next, yt_pred, _ = references["rnn_cell_forward"](*args, **kwargs)
        answers[hashlib.sha256(np.ascontiguousarray(args[0]).tobytes()).hexdigest()] = [a_next.tolist(), yt_pred.tolist()]
    return answers


def test_answers_predicted_without_the_secret_score_zero(tmp_path):
    folder = tmp_path / "alice"
    folder.mkdir()
    path = make_notebook(folder / "nb.ipynb", *replace_function(solution_cells("rnn_step_by_step.ipynb"),
                                                                 "rnn_cell_forward", LOOKUP))
    old_seed = int.from_bytes(hashlib.sha256(path.read_bytes()).digest()[:8], "big")
    helpers = (ASSIGNMENTS_DIR / "rnn_utils.py").read_text()
    (folder / "rnn_utils.py").write_text(helpers + f"\nANSWERS = {_predicted_answers(old_seed, 2)!r}\n")
    # The control: with the seed the old rule gives, the shipped answers take every case.
    control = grade_notebook(path, ONLY.with_changes(hidden_seed=old_seed)).functions[0]
    assert control.score == control.max_score, control.messages
    graded = grade_notebook(path, ONLY.with_changes(secret="the grader's own")).functions[0]
    assert graded.score == 0
    assert [case.passed for case in graded.cases if case.hidden] == [False, False]
    assert "none of the randomized cases" in graded.messages[0]


def test_no_secret_is_made_when_there_are_no_hidden_cases(tmp_path, private_secret):
    path = make_notebook(tmp_path / "nb.ipynb", *solution_cells("rnn_step_by_step.ipynb"))
    assert grade_notebook(path, ONLY.with_changes(hidden_cases=0)).graded
    assert not private_secret.exists()
    assert grade_notebook(path, ONLY.with_changes(hidden_cases=1)).graded
    assert private_secret.exists()


def test_an_unwritable_secret_place_still_grades_with_a_one_off_key(tmp_path, monkeypatch):
    blocked = tmp_path / "a-file"
    blocked.write_text("x")
    monkeypatch.setenv(secret.SECRET_FILE_ENV, str(blocked / "secret"))
    result = grade_notebook(make_notebook(tmp_path / "nb.ipynb", *solution_cells("rnn_step_by_step.ipynb")),
                            ONLY.with_changes(hidden_cases=1))
    assert result.score == result.max_score
    assert any("one-off key" in note and secret.SECRET_ENV in note for note in result.notes)


# --- the worker never sees it ----------------------------------------------------------------------

PEEK = '''
_reference_cell_forward = rnn_cell_forward

def rnn_cell_forward(xt, a_prev, parameters):
    import numpy
    with open(numpy.__file__) as handle:  # the control: files the worker needs stay readable
        handle.read(10)
    for path in {paths!r}:
        try:
            with open(path) as handle:
                handle.read()
        except OSError:
            continue
        raise RuntimeError("read the grading secret at " + path)
    return _reference_cell_forward(xt, a_prev, parameters)
'''


@pytest.mark.skipif(os.geteuid() != 0, reason="the worker is only kept from the grader's files when run as root")
def test_the_worker_cannot_read_the_secret(tmp_path, private_secret):
    from grader.batch import discover, grade_batch

    folder = tmp_path / "class" / "alice"
    folder.mkdir(parents=True)
    out = tmp_path / "grades"
    paths = [str(private_secret), str(out / secret.BATCH_SECRET_NAME)]
    path = make_notebook(folder / "nb.ipynb", *solution_cells("rnn_step_by_step.ipynb"), PEEK.format(paths=paths))
    alone = grade_notebook(path, ONLY.with_changes(hidden_cases=1))  # makes the single-notebook secret
    assert private_secret.exists() and alone.functions[0].score == alone.functions[0].max_score, alone.functions[0]
    entries, _ = discover([str(tmp_path / "class")])
    grade_batch(entries, out, ONLY.with_changes(hidden_cases=1), jobs=1)
    data = json.loads((out / "results" / "alice.json").read_text())
    assert (out / secret.BATCH_SECRET_NAME).exists()
    assert data["functions"][0]["score"] == data["functions"][0]["max_score"], data["functions"][0]["messages"]
