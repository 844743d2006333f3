"""Golden end-to-end runs: reference notebooks get full marks, untouched stubs get zero."""
from __future__ import annotations

import json

import pytest

from grader.cli import main
from grader.pipeline import grade_notebook
from grader.results import Status

from conftest import ASSIGNMENTS, FAST, SOLUTIONS, make_notebook


@pytest.mark.parametrize("name", ["rnn_step_by_step.ipynb", "dinosaur_island.ipynb"])
def test_reference_notebook_scores_full_marks(name):
    result = grade_notebook(SOLUTIONS / name, FAST.with_changes(hidden_seed=None))
    assert result.graded, result.error
    assert result.score == result.max_score == 100
    assert result.optional_score == result.optional_max_score
    assert all(f.status == Status.PASSED for f in result.functions)
    assert all(any(case.hidden for case in f.cases) for f in result.functions)


@pytest.mark.parametrize("folder", [SOLUTIONS, ASSIGNMENTS])
@pytest.mark.parametrize("name", ["rnn_step_by_step.ipynb", "dinosaur_island.ipynb"])
def test_kernel_engine_gives_the_same_scores(folder, name):
    by_worker = grade_notebook(folder / name, FAST)
    by_kernel = grade_notebook(folder / name, FAST.with_changes(engine="kernel"))
    assert by_kernel.graded, by_kernel.error
    assert [(f.name, f.score, f.status) for f in by_kernel.functions] == [(f.name, f.score, f.status) for f in by_worker.functions]


@pytest.mark.parametrize("name", ["rnn_step_by_step.ipynb", "dinosaur_island.ipynb"])
def test_untouched_assignment_scores_zero_with_not_implemented(name):
    result = grade_notebook(ASSIGNMENTS / name, FAST)
    assert result.graded and result.score == 0
    assert all(f.status == Status.NOT_IMPLEMENTED for f in result.functions), [(f.name, f.status) for f in result.functions]
    assert all("not implemented yet" in f.messages[0] for f in result.functions)


def test_without_solutions_only_stored_cases_run(monkeypatch):
    monkeypatch.setenv("GRADER_SOLUTIONS", "none")
    result = grade_notebook(SOLUTIONS / "rnn_step_by_step.ipynb", FAST)
    assert result.stored_cases_only and result.score == 100
    assert not any(case.hidden for f in result.functions for case in f.cases)
    assert any("stored cases only" in note for note in result.notes)


def test_only_grades_one_function():
    result = grade_notebook(SOLUTIONS / "rnn_step_by_step.ipynb", FAST.with_changes(only=("rnn_forward",)))
    assert [f.name for f in result.functions] == ["rnn_forward"]


def test_json_output_has_the_documented_fields(capsys):
    assert main([str(SOLUTIONS / "dinosaur_island.ipynb"), "--json", "--seed", "1"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["schema_version"] == 2 and data["materials"]["expected"]["sha256"]
    for key in ("notebook", "assignment", "course_version", "score", "max_score", "functions"):
        assert key in data
    assert {"name", "score", "max_score", "status", "messages"} <= set(data["functions"][0])
    assert data["score"] == data["max_score"] == 100


def test_exit_codes(tmp_path, capsys):
    stub = str(ASSIGNMENTS / "dinosaur_island.ipynb")
    assert main([stub, "--only", "clip"]) == 0                       # graded, whatever the score
    capsys.readouterr()
    assert main([stub, "--only", "clip", "--fail-under", "50"]) == 1  # for CI, which reads why
    assert capsys.readouterr().err.strip() == f"grade: below --fail-under 50%: {stub} scores 0%"
    broken = tmp_path / "broken.ipynb"
    broken.write_text("hello")
    assert main([str(broken)]) == 2
    assert "not a valid notebook" in capsys.readouterr().err
    unknown = make_notebook(tmp_path / "other.ipynb", "print(1)")
    assert main([str(unknown)]) == 2
    assert "cannot tell which assignment" in capsys.readouterr().err


def test_report_is_readable_at_80_columns_without_colour():
    from io import StringIO

    from rich.console import Console

    from grader.report import notebook_report

    result = grade_notebook(ASSIGNMENTS / "dinosaur_island.ipynb", FAST.with_changes(only=("clip", "sample")))
    buffer = StringIO()
    Console(file=buffer, width=80, no_color=True, color_system=None).print(notebook_report(result))
    text = buffer.getvalue()
    assert all(len(line) <= 80 for line in text.splitlines())
    assert "TODO" in text and "not implemented yet" in text and "\x1b[" not in text


def test_kernel_engine_shows_the_students_own_traceback(tmp_path):
    source = "import numpy as np\n\n# GRADED FUNCTION: clip\ndef clip(gradients, maxValue):\n    raise ValueError('mine')\n"
    path = make_notebook(tmp_path / "dino.ipynb", source)
    result = grade_notebook(path, FAST.with_changes(engine="kernel", assignment="dinosaur_island", only=("clip",)))
    traceback = result.functions[0].traceback
    assert "a notebook cell, line 5, in clip" in traceback and "ValueError: mine" in traceback
    assert "grader" not in traceback and "worker" not in traceback
