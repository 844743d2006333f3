"""The instructor's side: solutions/ and expected/ that disagree are refused (never blamed on a
student), the demo cells and the published recipes agree, and every output names the solutions
and expected values it used."""
from __future__ import annotations

import io
import json
import shutil
from contextlib import redirect_stdout
from pathlib import Path

import pytest
from rich.console import Console

from grader import resources
from grader.cli import main
from grader.errors import CourseMaterialError, GraderError
from grader.pipeline import grade_notebook
from grader.release import release
from grader.report import markdown_feedback, notebook_report

from conftest import FAST, ROOT, SOLUTIONS

RNN = "rnn_step_by_step.ipynb"


def _checkout(tmp_path: Path) -> Path:
    root = tmp_path / "checkout"
    for folder in ("solutions", "assignments", "expected"):
        shutil.copytree(ROOT / folder, root / folder, ignore=shutil.ignore_patterns("__pycache__"))
    return root


def _edit_cell(notebook: Path, contains: str, old: str, new: str) -> None:
    """Change ``old`` to ``new`` in the first code cell of ``notebook`` that contains ``contains``."""
    content = json.loads(notebook.read_text())
    for cell in content["cells"]:
        source = "".join(cell["source"]) if isinstance(cell["source"], list) else cell["source"]
        if cell["cell_type"] == "code" and contains in source and old in source:
            cell["source"] = source.replace(old, new, 1)
            break
    else:
        raise AssertionError(f"no cell with {contains!r} and {old!r}")
    notebook.write_text(json.dumps(content))


def test_solutions_that_fail_their_own_stored_cases_are_refused_with_a_message_for_the_instructor(tmp_path,
                                                                                                  monkeypatch):
    root = _checkout(tmp_path)
    # solutions/ edited, expected/ not regenerated: the reference now adds 1 to a_next
    _edit_cell(root / "solutions" / RNN, "def rnn_cell_forward(", "a_next = np.tanh(", "a_next = 1 + np.tanh(")
    monkeypatch.setenv(resources.SOLUTIONS_ENV, str(root / "solutions"))
    result = grade_notebook(SOLUTIONS / RNN, FAST)  # a correct student
    assert not result.graded and not result.functions
    assert "do not pass their own stored cases" in result.error and "rnn_cell_forward" in result.error
    assert "grade release" in result.error and "hard-cod" not in result.error
    with pytest.raises(CourseMaterialError):  # the type says whose problem it is
        from grader.consistency import verify_reference
        from grader.course import get_assignment
        from grader.course.reference import load_reference
        from grader.expected import load_stored

        spec = get_assignment("rnn_step_by_step")
        verify_reference(spec, load_stored(resources.expected_dir(spec) / f"{spec.name}.json"),
                         load_reference(spec, root / "solutions"), resources.materials(True, spec))


def test_consistent_solutions_grade_and_every_output_names_the_material_used(monkeypatch):
    monkeypatch.delenv(resources.SOLUTIONS_ENV, raising=False)
    result = grade_notebook(SOLUTIONS / RNN, FAST.with_changes(only=("rnn_cell_forward",)))
    assert result.graded and result.score == result.max_score
    used = result.to_json()["materials"]
    assert used["solutions"]["path"] == str(resources.solutions_dir())
    assert used["solutions"]["sha256"] == resources.digest(resources.solutions_dir())
    assert used["expected"]["path"] == str(resources.expected_dir()) and len(used["expected"]["sha256"]) == 12
    buffer = io.StringIO()
    Console(file=buffer, width=300, no_color=True).print(notebook_report(result))
    assert f"expected {resources.expected_dir()} ({used['expected']['sha256']})" in buffer.getvalue()
    assert used["solutions"]["sha256"] in markdown_feedback(result)
    out = io.StringIO()
    with redirect_stdout(out), pytest.raises(SystemExit):
        main(["--version"])
    assert used["solutions"]["sha256"] in out.getvalue() and used["expected"]["sha256"] in out.getvalue()


def test_a_published_seed_changed_in_the_demo_cell_alone_is_reported(tmp_path):
    root = _checkout(tmp_path)
    notebook = root / "solutions" / RNN
    assert not [item for item in release(root, check=True) if item.path == notebook]
    _edit_cell(notebook, "rnn_cell_forward(xt_tmp", "np.random.seed(1)", "np.random.seed(5)")
    stale = release(root, check=True)
    assert any(item.path == notebook and "seeds 5" in item.reason and "rnn_cell_forward" in item.reason
               for item in stale), stale
    with pytest.raises(GraderError, match="nothing regenerated"):
        release(root)


def test_release_check_does_not_advise_a_release_that_would_refuse(tmp_path, capsys):
    """`grade release --check` ended with "run `grade release`", which then refused: a demo that disagrees
    with its recipe is the instructor's to fix first."""
    root = _checkout(tmp_path)
    assert main(["release", "--check", "--root", str(root)]) == 0
    assert "up to date" in capsys.readouterr().out
    _edit_cell(root / "solutions" / RNN, "rnn_cell_forward(xt_tmp", "np.random.seed(1)", "np.random.seed(5)")
    assert main(["release", "--check", "--root", str(root)]) == 1
    last = " ".join(capsys.readouterr().out.split()).rsplit("stale:", 1)[-1]
    assert "1 of which `grade release` cannot fix: change the notebook or its recipe in grader/course/" in last
    assert last.rstrip().endswith("then run `grade release`")


def test_a_demo_shape_changed_alone_is_reported(tmp_path):
    root = _checkout(tmp_path)
    notebook = root / "solutions" / RNN
    _edit_cell(notebook, "rnn_cell_forward(xt_tmp", "xt_tmp = np.random.randn(3, 10)",
               "xt_tmp = np.random.randn(4, 10)")
    stale = release(root, check=True)
    assert any(item.path == notebook and "(4, 10)" in item.reason for item in stale), stale


def _verified_once(tmp_path, monkeypatch):
    """The RNN material checked once in a fresh process with its own cache folder: what the check needs."""
    from grader import consistency
    from grader.course import get_assignment
    from grader.course.reference import load_reference
    from grader.expected import load_stored

    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.setattr(consistency, "_VERIFIED", {})
    spec = get_assignment("rnn_step_by_step")
    material = resources.materials(True, spec)
    stored = load_stored(resources.expected_dir(spec) / f"{spec.name}.json")
    references = load_reference(spec, resources.solutions_dir(spec))
    consistency.verify_reference(spec, stored, references, material)
    return consistency, spec, stored, references, material


def test_a_passed_check_is_remembered_and_a_failed_one_never_is(tmp_path, monkeypatch):
    consistency, spec, stored, references, material = _verified_once(tmp_path, monkeypatch)
    assert len(list((tmp_path / "cache" / "rnn-grader").glob("verified-*"))) == 1

    def must_not_run(*args):
        raise AssertionError("checked again although a stamp says it passed")

    monkeypatch.setattr(consistency, "_VERIFIED", {})  # a new grading process
    monkeypatch.setattr(consistency, "reference_disagreements", must_not_run)
    consistency.verify_reference(spec, stored, references, material)

    monkeypatch.setattr(consistency, "reference_disagreements", lambda *args: ["a stored value moved"])
    other = {**material, "solutions": {"path": "elsewhere", "sha256": "0" * 12}}
    with pytest.raises(GraderError, match="do not pass their own stored cases"):
        consistency.verify_reference(spec, stored, references, other)
    assert len(list((tmp_path / "cache" / "rnn-grader").glob("verified-*"))) == 1


def test_a_solution_notebook_no_assignment_names_is_refused_not_half_released(tmp_path):
    """README's "Adding an assignment" with an installed grade that has not seen the new package: release
    used to write the student copy, no expected values, and say all was well."""
    root = _checkout(tmp_path)
    new = root / "solutions" / "scaling.ipynb"
    shutil.copyfile(root / "solutions" / RNN, new)
    stale = [item for item in release(root, check=True) if item.path == new]
    assert len(stale) == 1 and "grader/course/registry.py" in stale[0].reason
    assert "python -m grader release" in stale[0].reason
    with pytest.raises(GraderError, match="nothing regenerated: scaling.ipynb: no assignment"):
        release(root)
    assert not (root / "assignments" / "scaling.ipynb").exists()


def test_release_names_checkout_modules_the_running_grader_does_not_have(tmp_path, capsys):
    from grader.release import code_differences

    root, installed = tmp_path / "checkout", tmp_path / "site-packages" / "grader"
    shutil.copytree(ROOT / "grader", installed, ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copytree(installed, root / "grader")
    assert code_differences(ROOT) == [] and code_differences(root, installed) == []  # itself, an exact copy
    recipes = root / "grader" / "course" / "rnn" / "__init__.py"
    recipes.write_text(recipes.read_text() + "\n# an instructor's edit\n")
    (root / "grader" / "course" / "scaling").mkdir()
    (root / "grader" / "course" / "scaling" / "__init__.py").write_text("")
    assert code_differences(root, installed) == ["grader/course/rnn/__init__.py", "grader/course/scaling/__init__.py"]
    for folder in ("solutions", "assignments", "expected"):
        shutil.copytree(ROOT / folder, root / folder, ignore=shutil.ignore_patterns("__pycache__"))
    assert main(["release", "--check", "--root", str(root)]) in (0, 1)  # the running grader is ROOT's
    out = " ".join(capsys.readouterr().out.split())
    assert "whose code differs from the checkout's (grader/" in out  # which ones: asserted above
    assert "python -m grader release" in out


def test_a_change_of_the_graders_own_code_checks_the_material_again(tmp_path, monkeypatch):
    consistency, spec, stored, references, material = _verified_once(tmp_path, monkeypatch)

    checked = []
    real = consistency.reference_disagreements
    monkeypatch.setattr(consistency, "reference_disagreements", lambda *args: checked.append(1) or real(*args))
    monkeypatch.setattr(consistency, "_VERIFIED", {})
    signature = resources.file_signature(Path(consistency.__file__).parent)
    edited = tuple((name, size + 1, mtime) if name == "compare.py" else (name, size, mtime)
                   for name, size, mtime in signature)
    assert edited != signature
    monkeypatch.setattr(consistency, "file_signature", lambda folder: edited)
    consistency.verify_reference(spec, stored, references, material)
    assert checked == [1]
    assert len(list((tmp_path / "cache" / "rnn-grader").glob("verified-*"))) == 2


def test_stored_values_read_fast_are_the_values_json_reads_and_nan_still_reads(tmp_path):
    from grader.expected import _parse, _read_stored

    for path in sorted((ROOT / "expected").glob("*.json")):
        data = path.read_bytes()
        assert json.dumps(_parse(data)) == json.dumps(json.loads(data)), path.name
    content = json.loads((ROOT / "expected" / "bptt_by_hand.json").read_text())
    name = next(iter(content["functions"]))
    content["functions"][name]["cases"][0]["expected"] = [float("nan"), float("inf"), 1.5]
    path = tmp_path / "nan.json"
    path.write_text(json.dumps(content))  # json writes NaN and Infinity, which orjson refuses
    value = _read_stored(path)[name][0].expectation.value
    assert str(list(value)) == "[nan, inf, 1.5]"
