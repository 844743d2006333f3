"""The Gradescope bundle, end to end: built from this checkout, unpacked into a simulated
/autograder tree, set up in a fresh virtual environment by its own setup.sh, and its real
run_autograder run on the solution, a stub, a broken file, no notebook, two notebooks, a hostile
notebook and a grader that cannot start. Every run leaves a results.json valid against the schema
below (Gradescope's autograder specification)."""
from __future__ import annotations

import json
import os
import shutil
import signal
import stat
import subprocess
import sys
import sysconfig
import time
import zipfile
from pathlib import Path

import pytest

from grader.gradescope import HIDDEN_VISIBILITY, build_bundle, results_json
from grader.results import CaseResult, CellIssue, FunctionResult, NotebookResult, Status

from conftest import ASSIGNMENTS, ROOT, SOLUTIONS, make_notebook

jsonschema = pytest.importorskip("jsonschema")

VISIBILITY = {"enum": ["hidden", "after_due_date", "after_published", "visible"]}
FORMAT = {"enum": ["text", "html", "simple_format", "md", "ansi"]}
NUMBER = {"type": "number", "minimum": 0}
RESULTS_SCHEMA = {
    "type": "object",
    "required": ["score", "execution_time", "output", "visibility", "stdout_visibility", "tests"],
    "additionalProperties": False,
    "properties": {
        "score": NUMBER, "execution_time": {"type": "integer", "minimum": 0}, "output": {"type": "string"},
        "output_format": FORMAT, "visibility": VISIBILITY, "stdout_visibility": VISIBILITY,
        "extra_data": {"type": "object"},
        "tests": {"type": "array", "items": {
            "type": "object",
            "required": ["name", "number", "score", "max_score", "status", "output", "visibility"],
            "additionalProperties": False,
            "properties": {
                "name": {"type": "string", "minLength": 1}, "name_format": FORMAT,
                "number": {"type": "string", "pattern": r"^\d+(\.\d+)*$"},
                "score": NUMBER, "max_score": NUMBER, "status": {"enum": ["passed", "failed"]},
                "output": {"type": "string"}, "output_format": FORMAT, "visibility": VISIBILITY,
                "tags": {"type": "array", "items": {"type": "string"}}, "extra_data": {"type": "object"},
            }}},
    },
}


def check(data: dict) -> dict:
    jsonschema.validate(data, RESULTS_SCHEMA)
    assert sum(test["score"] for test in data["tests"]) == pytest.approx(data["score"])
    return data


# --- the pure part --------------------------------------------------------------------------

def _function(name: str, score: float, cases: list[tuple[bool, bool]], section: str = "required") -> FunctionResult:
    built = tuple(CaseResult(f"{'hidden' if hidden else 'published'} #{n}", hidden, passed, "" if passed else "wrong")
                  for n, (hidden, passed) in enumerate(cases))
    status = Status.PASSED if all(p for _, p in cases) else Status.PARTIAL
    return FunctionResult(name, section, score, 25 if section == "required" else 10, status, built)


def test_published_and_hidden_parts_add_up_to_the_function_score():
    result = NotebookResult("nb.ipynb", "rnn_step_by_step", "v4", (
        _function("full", 25, [(False, True), (True, True), (True, True)]),
        _function("partial", 50 / 3, [(False, True), (True, True), (True, False)]),
        _function("hard_coded", 0, [(False, True), (True, False), (True, False)]),  # scored 0 by the rule
        _function("no_cases", 0, []),
        _function("extra", 10, [(False, True), (True, True)], section="optional"),
    ))
    data = check(results_json(result))
    tests = {test["name"]: test for test in data["tests"]}
    assert tests["full"]["score"] + tests["full: hidden cases"]["score"] == pytest.approx(25)
    assert tests["partial"]["score"] == pytest.approx(25 / 3) and tests["partial"]["status"] == "passed"
    assert tests["partial: hidden cases"]["status"] == "failed"
    assert tests["hard_coded"]["score"] == 0 and tests["hard_coded: hidden cases"]["score"] == 0
    assert tests["hard_coded"]["status"] == "failed"                 # passed its published case, scored 0
    assert tests["extra (optional, not scored)"]["status"] == "passed"
    assert {t["visibility"] for n, t in tests.items() if n.endswith("hidden cases")} == {HIDDEN_VISIBILITY}
    assert tests["no_cases"]["max_score"] == 25 and tests["extra (optional, not scored)"]["max_score"] == 0
    assert data["score"] == pytest.approx(25 + 50 / 3)


def test_long_outputs_are_cut():
    function = FunctionResult("f", "required", 0, 25, Status.ERROR, (CaseResult("published", False, False, "x"),),
                              traceback="line\n" * 10_000)
    data = check(results_json(NotebookResult("nb.ipynb", "rnn_step_by_step", "v4", (function,))))
    assert len(data["tests"][0]["output"]) < 8_100 and "more characters cut" in data["tests"][0]["output"]


def test_failed_cells_are_named_as_the_terminal_report_names_them():
    issues = (CellIssue(7, "error", "Traceback ...\nNameError: name 'x' is not defined", "defines rnn_forward"),
              CellIssue(3, "syntax", "SyntaxError: invalid syntax", ""))
    output = check(results_json(NotebookResult("nb.ipynb", "rnn_step_by_step", "v4", (), cell_issues=issues)))["output"]
    assert "cell 7 (defines rnn_forward): error: Traceback" in output  # README: found in Jupyter by its label
    assert "cell 3: syntax: SyntaxError" in output


def test_an_ungradable_notebook_is_a_result_with_its_reason():
    data = check(results_json(NotebookResult("nb.ipynb", None, None, error="not a notebook: JSON parse error")))
    assert data["score"] == 0 and "JSON parse error" in data["output"] and data["tests"] == []


def _run_main_with(monkeypatch, tmp_path, behaviour) -> dict:
    import grader.gradescope as gradescope

    monkeypatch.setattr(gradescope, "grade_submission", behaviour)
    previous = signal.getsignal(signal.SIGTERM)
    try:
        assert gradescope.run_main(["--root", str(tmp_path)]) == 0
    finally:
        signal.signal(signal.SIGTERM, previous)
    return check(json.loads((tmp_path / "results" / "results.json").read_text()))


def test_a_grader_crash_is_a_result(monkeypatch, tmp_path):
    def crash(root, config):
        raise RuntimeError("a bug in the grader")

    data = _run_main_with(monkeypatch, tmp_path, crash)
    assert data["score"] == 0 and "The autograder itself failed (RuntimeError: a bug in the grader)" in data["output"]


def test_being_stopped_for_time_is_a_result(monkeypatch, tmp_path):
    """run_autograder's `timeout` sends SIGTERM first: the grader still writes its result."""
    def stopped(root, config):
        os.kill(os.getpid(), signal.SIGTERM)
        time.sleep(60)  # never reached: the handler raises as soon as the signal is delivered

    data = _run_main_with(monkeypatch, tmp_path, stopped)
    assert data["score"] == 0 and "the time limit" in data["output"]


# --- the real bundle, end to end ------------------------------------------------------------

def _environment(root: Path) -> dict[str, str]:
    environment = {key: value for key, value in os.environ.items() if not key.startswith(("PYTHON", "GRADER_"))}
    environment["GRADER_AUTOGRADER_ROOT"] = str(root)
    return environment


def _unpack(bundle: Path, source: Path) -> None:
    """What Gradescope does with the upload: extract it, permissions included."""
    with zipfile.ZipFile(bundle) as archive:
        archive.extractall(source)
        for info in archive.infolist():
            mode = info.external_attr >> 16
            if mode:
                (source / info.filename).chmod(stat.S_IMODE(mode))


@pytest.fixture(scope="module")
def autograder(tmp_path_factory) -> Path:
    if shutil.which("bash") is None or shutil.which("timeout") is None:
        pytest.skip("needs bash and timeout")
    work = tmp_path_factory.mktemp("gradescope")
    bundle = work / "autograder.zip"
    names = build_bundle(bundle, ROOT, timeout=60)
    assert {"setup.sh", "run_autograder"} <= set(names)
    with zipfile.ZipFile(bundle) as archive:
        modes = {info.filename: info.external_attr >> 16 for info in archive.infolist()}
        assert any(name.startswith("dist/") and name.endswith(".whl") for name in archive.namelist())
    assert modes["run_autograder"] & 0o111 and modes["setup.sh"] & 0o111
    root = work / "autograder"
    _unpack(bundle, root / "source")
    if sys.prefix != sys.base_prefix:  # tests run in a virtual environment: let the new one see its packages
        subprocess.run([sys.executable, "-m", "venv", "--system-site-packages", str(root / "venv")], check=True)
        site = root / "venv" / "lib" / f"python{sys.version_info[0]}.{sys.version_info[1]}" / "site-packages"
        (site / "outer.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    # A fresh virtual environment by the bundle's own setup.sh; --system-site-packages and --no-index only
    # so that the dependencies come from this machine rather than the network. The grader itself is
    # installed from the bundle's wheel.
    environment = _environment(root) | {"GRADER_VENV_OPTIONS": "--system-site-packages",
                                        "GRADER_PIP_OPTIONS": "--no-index", "GRADER_PYTHON": sys.executable}
    done = subprocess.run(["bash", str(root / "source" / "setup.sh")], env=environment, capture_output=True,
                          text=True, timeout=600)
    assert done.returncode == 0, done.stdout + done.stderr
    where = subprocess.run([str(root / "venv" / "bin" / "python"), "-c", "import grader; print(grader.__file__)"],
                           env=_environment(root), cwd=root, capture_output=True, text=True, check=True).stdout
    assert where.startswith(str(root / "venv")), where
    return root


def run_autograder(root: Path, files: dict[str, Path | str]) -> dict:
    submission = root / "submission"
    shutil.rmtree(submission, ignore_errors=True)
    submission.mkdir()
    for name, content in files.items():
        target = submission / name
        target.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, Path):
            shutil.copyfile(content, target)
        else:
            target.write_text(content)
    done = subprocess.run([str(root / "source" / "run_autograder")], env=_environment(root), cwd=root,
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stdout + done.stderr
    return check(json.loads((root / "results" / "results.json").read_text()))


def test_solution_scores_full_marks_with_hidden_cases_after_publishing(autograder):
    data = run_autograder(autograder, {"rnn_step_by_step.ipynb": SOLUTIONS / "rnn_step_by_step.ipynb"})
    assert data["score"] == 100 and "rnn_step_by_step" in data["output"]
    hidden = [test for test in data["tests"] if test["visibility"] == HIDDEN_VISIBILITY]
    assert hidden and all(test["status"] == "passed" for test in data["tests"] if test["max_score"] > 0)
    assert {"rnn_forward", "lstm_forward"} <= {test["name"] for test in data["tests"]}


def test_stub_scores_zero_and_says_why(autograder):
    data = run_autograder(autograder, {"work/dinosaur_island.ipynb": ASSIGNMENTS / "dinosaur_island.ipynb",
                                       ".ipynb_checkpoints/dinosaur_island-checkpoint.ipynb": "{}"})
    assert data["score"] == 0 and data["tests"]
    assert any("not implemented" in test["output"] or "not_implemented" in test["output"] for test in data["tests"])


@pytest.mark.parametrize("files, expected", [
    ({"rnn.ipynb": '{"cells": ['}, "could not be graded"),
    ({"notes.txt": "hello", "rnn.py": "x = 1"}, "No notebook (.ipynb) in your submission (found: notes.txt, rnn.py)"),
    ({}, "No notebook"),
    ({"a.ipynb": SOLUTIONS / "rnn_step_by_step.ipynb", "b.ipynb": SOLUTIONS / "dinosaur_island.ipynb"},
     "2 notebooks in your submission (a.ipynb, b.ipynb)"),
])
def test_ungradable_submissions_get_a_result_with_a_message(autograder, files, expected):
    data = run_autograder(autograder, files)
    assert data["score"] == 0 and data["tests"] == [] and expected in data["output"]


def test_hostile_notebook_cannot_write_the_result_or_read_the_secret(autograder, tmp_path):
    results = autograder / "results" / "results.json"
    secret = autograder / "source" / "secret.txt"
    hostile = make_notebook(tmp_path / "evil.ipynb", (
        "import json, os\n"
        f"for path in [{str(results)!r}, {str(secret)!r}]:\n"
        "    try:\n"
        "        open(path, 'w').write(json.dumps({'score': 1000, 'tests': []}))\n"
        "    except OSError as error:\n"
        "        print('refused', error)\n"
        "print(json.dumps({'score': 1000}))\n"
        "os._exit(0)\n"),
        "def rnn_cell_forward(xt, a_prev, parameters):\n    return None\n")
    data = run_autograder(autograder, {"evil.ipynb": hostile})
    assert data["score"] == 0
    assert len(secret.read_text().strip()) == 64  # untouched


def test_a_grader_that_cannot_start_still_leaves_a_result(autograder, tmp_path):
    """No virtual environment at all (setup never ran): run_autograder's own fallback answers."""
    broken = tmp_path / "autograder"
    shutil.copytree(autograder / "source", broken / "source")
    data = run_autograder(broken, {"rnn.ipynb": SOLUTIONS / "rnn_step_by_step.ipynb"})
    assert data["score"] == 0 and "before writing a result" in data["output"] and "exit status 127" in data["output"]


def test_the_command_ships_the_given_secret(tmp_path, capsys):
    from grader.cli import main

    secret = tmp_path / "secret"
    secret.write_text("ab" * 32 + "\n")
    bundle = tmp_path / "autograder.zip"
    assert main(["gradescope", "-o", str(bundle), "--root", str(ROOT), "--secret-file", str(secret),
                 "--assignment", "rnn_step_by_step"]) == 0
    with zipfile.ZipFile(bundle) as archive:
        assert archive.read("secret.txt").decode().strip() == "ab" * 32
        assert b"--timeout 300 --assignment rnn_step_by_step" in archive.read("run_autograder")
    assert "Zip file upload" in capsys.readouterr().out
    assert main(["gradescope", "-o", str(bundle), "--root", str(ROOT), "--secret-file", str(tmp_path / "none"),
                 "--assignment", "rnn_step_by_step"]) == 2


def test_the_bundle_grades_every_notebook_as_the_course_version_given(tmp_path, capsys):
    """The instructor, not the notebook, says which published version the class was given; a version
    with spaces reaches the grader as one argument."""
    import shlex

    from grader.cli import main

    bundle = tmp_path / "autograder.zip"
    assert main(["gradescope", "-o", str(bundle), "--root", str(ROOT), "--assignment", "dinosaur_island",
                 "--course-version", "pre-v3 (learners)"]) == 0
    with zipfile.ZipFile(bundle) as archive:
        line = next(line for line in archive.read("run_autograder").decode().splitlines() if "grader.gradescope" in line)
    words = shlex.split(line)
    assert words[words.index("--course-version") + 1] == "pre-v3 (learners)"
    capsys.readouterr()
    assert main(["gradescope", "-o", str(tmp_path / "other.zip"), "--root", str(ROOT),
                 "--assignment", "bptt_by_hand", "--course-version", "v4"]) == 2
    assert "is not a version of bptt_by_hand" in capsys.readouterr().err
    assert not (tmp_path / "other.zip").exists()


def test_a_notebook_of_another_assignment_scores_nothing_on_gradescope(tmp_path):
    """The finished Dinosaur notebook handed in to the RNN assignment is not graded as Dinosaur."""
    from grader.config import GradeConfig
    from grader.gradescope import grade_submission

    (tmp_path / "submission").mkdir()
    shutil.copyfile(ROOT / "solutions" / "dinosaur_island.ipynb", tmp_path / "submission" / "rnn.ipynb")
    data = grade_submission(tmp_path, GradeConfig(assignment="rnn_step_by_step", hidden_cases=0))
    assert data["score"] == 0 and "wrong assignment" in data["output"] and "dinosaur_island" in data["output"]
    # Told to the student as a student can act on it: no path of the grading machine, no TA's option.
    assert str(tmp_path) not in data["output"] and "--assignment" not in data["output"]
    assert "your notebook is dinosaur_island" in data["output"] and "Hand in the notebook of this assignment" in data["output"]
