"""Students are isolated from each other (issue 10, class 5).

A helper module (rnn_utils.py) belongs to a submission only when the notebook is alone in its folder
(one folder per student, nbgrader's layout) or is graded by itself. In a flat class folder a loose
.py file belongs to nobody: every notebook gets the course's helpers, each affected result says so,
and so does the batch summary.
"""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from grader import secret
from grader.batch import discover, folder_is_own, grade_batch
from grader.course import ASSIGNMENTS
from grader.pipeline import grade_notebook, helper_files

from conftest import FAST, SOLUTIONS, make_notebook, solution_cells

FUNCTIONS = ("rnn_cell_forward", "rnn_forward", "initialize_adam")
CONFIG = FAST.with_changes(only=FUNCTIONS, hidden_cases=1)

#: Dropped in a shared folder by one student: a softmax that breaks everyone's rnn_cell_forward and
#: an initialize_adam that would give its author's classmates points they did not earn.
HOSTILE = '''
import numpy as np

def softmax(x):
    return np.zeros_like(x)

def sigmoid(x):
    return 1 / (1 + np.exp(-x))

def initialize_adam(parameters):
    return {}, {}
'''


@pytest.fixture(autouse=True)
def private_secret(tmp_path, monkeypatch):
    monkeypatch.delenv(secret.SECRET_ENV, raising=False)
    monkeypatch.setenv(secret.SECRET_FILE_ENV, str(tmp_path / "home-secret" / "secret"))


def honest(path: Path) -> Path:
    return make_notebook(path, *solution_cells("rnn_step_by_step.ipynb"))


def scores(out: Path) -> dict[str, dict]:
    results = {}
    for path in (out / "results").glob("*.json"):
        data = json.loads(path.read_text())
        results[data["student"]] = data
    return results


def test_a_loose_module_in_a_flat_folder_changes_no_one_s_grade(tmp_path):
    folder = tmp_path / "class"
    folder.mkdir()
    honest(folder / "alice.ipynb")
    honest(folder / "bob.ipynb")
    (folder / "rnn_utils.py").write_text(HOSTILE)
    clean = tmp_path / "clean"
    clean.mkdir()
    alone = grade_notebook(honest(clean / "alice.ipynb"), CONFIG)  # the same notebook, nothing beside it

    entries, _ = discover([str(folder)])
    summary = grade_batch(entries, tmp_path / "grades", CONFIG, jobs=2)
    results = scores(tmp_path / "grades")
    assert sorted(results) == ["alice", "bob"]
    for data in results.values():
        points = {f["name"]: f["score"] for f in data["functions"]}
        assert points == {f.name: f.score for f in alone.functions}
        assert points["rnn_cell_forward"] == 25 and points["initialize_adam"] == 0  # bundled starter Adam
        assert any("rnn_utils.py beside the notebook was not used" in note for note in data["notes"])
    assert any("rnn_utils.py" in problem and "belong to no one" in problem for problem in summary.problems)


def test_a_student_s_own_folder_keeps_their_module_for_them_only(tmp_path):
    folder = tmp_path / "class"
    (folder / "alice").mkdir(parents=True)
    (folder / "bob").mkdir()
    honest(folder / "alice" / "rnn.ipynb")
    honest(folder / "bob" / "rnn.ipynb")
    shutil.copyfile(SOLUTIONS / "rnn_utils.py", folder / "alice" / "rnn_utils.py")  # Alice did the Adam exercise

    entries, _ = discover([str(folder)])
    summary = grade_batch(entries, tmp_path / "grades", CONFIG, jobs=2)
    results = scores(tmp_path / "grades")
    adam = {student: {f["name"]: f["score"] for f in data["functions"]}["initialize_adam"]
            for student, data in results.items()}
    assert adam == {"alice": 5, "bob": 0}
    assert any("using your rnn_utils.py" in note for note in results["alice"]["notes"])
    assert not any("rnn_utils" in note for note in results["bob"]["notes"])
    assert not any("belong to no one" in problem for problem in summary.problems)


def test_which_folders_are_a_student_s_own(tmp_path):
    (tmp_path / "flat").mkdir()
    (tmp_path / "own").mkdir()
    first, second = honest(tmp_path / "flat" / "a.ipynb"), honest(tmp_path / "flat" / "b.ipynb")
    mine = honest(tmp_path / "own" / "a.ipynb")
    (tmp_path / "own" / "notes.txt").write_text("not a notebook")
    assert not folder_is_own(first) and not folder_is_own(second) and folder_is_own(mine)


def test_the_pipeline_uses_a_module_beside_the_notebook_only_when_told_the_folder_is_own(tmp_path):
    assignment = ASSIGNMENTS["rnn_step_by_step"]
    notebook = honest(tmp_path / "nb.ipynb")
    (tmp_path / "rnn_utils.py").write_text(HOSTILE)
    own = helper_files(assignment, notebook, folder_is_own=True)
    assert own.files["rnn_utils.py"] == tmp_path / "rnn_utils.py" and "rnn_utils.py" in own.own
    shared = helper_files(assignment, notebook, folder_is_own=False)
    assert shared.files["rnn_utils.py"] != tmp_path / "rnn_utils.py" and not shared.own
    assert "not used" in shared.notes[0]
    # One notebook graded by itself: the folder is taken as the student's own.
    result = grade_notebook(notebook, CONFIG)
    functions = {f.name: f for f in result.functions}
    assert functions["rnn_cell_forward"].score == 0 and any("using your rnn_utils.py" in n for n in result.notes)
