"""The student build (``GRADER_STUDENT_BUILD=1 pip install .``) holds no reference solution in any form.

Built here as pip builds it, from a copy of the checkout: the wheel has neither the solution notebooks
nor the mistake models (each is the reference with a switch for one mistake: with the switches off, the
solution), and graded from the unpacked wheel, notebooks get the stored cases only, as README says.
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from conftest import ROOT, SOLUTIONS


@pytest.fixture(scope="module")
def student_install(tmp_path_factory) -> Path:
    scratch = tmp_path_factory.mktemp("student-build")
    source = scratch / "src"
    source.mkdir()
    for name in ("pyproject.toml", "setup.py", "README.md", "grader", "assignments", "expected", "solutions"):
        if (ROOT / name).is_dir():
            shutil.copytree(ROOT / name, source / name, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
        else:
            shutil.copy2(ROOT / name, source / name)
    command = [sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "-w", str(scratch / "dist"), str(source)]
    environment = dict(os.environ, GRADER_STUDENT_BUILD="1")
    for extra in (["--no-build-isolation", "--no-index"], []):  # offline first, as the Gradescope bundle does
        done = subprocess.run(command + extra, env=environment, capture_output=True, text=True, timeout=600)
        if done.returncode == 0:
            break
    else:
        pytest.fail(f"the student build failed: {done.stderr[-2000:]}")
    (wheel,) = (scratch / "dist").glob("*.whl")
    installed = scratch / "installed"
    with zipfile.ZipFile(wheel) as archive:
        archive.extractall(installed)
    return installed


def test_the_student_wheel_holds_no_solution_in_any_form(student_install):
    files = [path.relative_to(student_install).as_posix() for path in student_install.rglob("*") if path.is_file()]
    assert not [name for name in files if "solutions" in name.split("/")]
    assert not [name for name in files if name.endswith("mistakes.py")]
    assert "grader/course/rnn/__init__.py" in files and "grader/data/expected/dinosaur_island.json" in files
    # The grader's own code holds no solution either: no graded function of the course is defined in the
    # package's modules (course material under grader/data/ is what students get anyway).
    sources = "\n".join((student_install / name).read_text() for name in files
                         if name.endswith(".py") and not name.startswith("grader/data/"))
    for name in ("rnn_cell_forward", "lstm_cell_forward", "clip", "optimize", "gru_cell_forward"):
        assert f"def {name}(" not in sources


@pytest.mark.parametrize("notebook, score", [("dinosaur_island.ipynb", 100.0), ("rnn_step_by_step.ipynb", None)])
def test_the_student_build_grades_on_the_stored_cases(student_install, tmp_path, notebook, score):
    shutil.copyfile(SOLUTIONS / notebook, tmp_path / notebook)
    done = subprocess.run([sys.executable, "-m", "grader", str(tmp_path / notebook), "--json"], cwd=tmp_path,
                          env=dict(os.environ, PYTHONPATH=str(student_install)), capture_output=True, text=True,
                          timeout=600)
    result = json.loads(done.stdout)
    assert result["graded"], result["error"]
    assert any(note.startswith("stored cases only: no reference solutions in this install") for note in result["notes"])
    assert not any(case["name"].startswith("hidden") for function in result["functions"] for case in function["cases"])
    if score is not None:
        assert result["score"] == score
    else:  # every required function of the reference passes its stored cases
        assert all(function["status"] == "passed" for function in result["functions"]
                   if function["section"] == "required"), [(f["name"], f["status"]) for f in result["functions"]]
