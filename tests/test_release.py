"""Are assignments/ and expected/ what `grade release` makes from solutions/ right now?"""
from __future__ import annotations

import copy
import json
import shutil

import nbformat

from grader.drift import differences
from grader.expected import render
from grader.load import functions_in_source
from grader.release import find_root, release, stub_source

from conftest import ASSIGNMENTS, ROOT


def test_assignments_and_expected_are_not_stale():
    stale = release(ROOT, check=True)
    assert stale == [], f"stale, run `grade release`: {stale}"


def test_expected_files_are_versioned_and_readable():
    for path in (ROOT / "expected").glob("*.json"):
        content = json.loads(path.read_text())
        assert content["schema_version"] == 1 and content["numpy_version"]
        for entry in content["functions"].values():
            for case in entry["cases"]:
                assert "seed" in case["recipe"] and case["tolerance"]["rtol"] >= 0


def test_stub_replaces_code_between_markers_and_keeps_the_rest():
    source = '''def f(x):
    """doc"""
    n = x.shape[0]
    ### START CODE HERE ###
    # a hint stays
    y = np.tanh(x)
    for t in range(n):
        y[t] += 1
    np.clip(y, 0, 1, out=y)
    ### END CODE HERE ###
    return y
'''
    stub = stub_source(source)
    assert "# a hint stays" in stub and "n = x.shape[0]" in stub and "return y" in stub
    assert "    y = None\n" in stub and "    for t in range(n):\n        y[t] = None\n" in stub
    assert "np.tanh" not in stub and "np.clip" not in stub
    assert functions_in_source(stub, 1)[0].looks_untouched
    assert not functions_in_source(source, 1)[0].looks_untouched


def test_student_notebooks_have_no_outputs_and_keep_markers():
    for path in ASSIGNMENTS.glob("*.ipynb"):
        nb = nbformat.read(str(path), as_version=4)
        code = [cell for cell in nb.cells if cell.cell_type == "code"]
        assert all(not cell.outputs and cell.execution_count is None for cell in code)
        graded = [cell for cell in code if "# GRADED FUNCTION:" in cell.source]
        assert len(graded) >= 3 and all("### START CODE HERE ###" in cell.source for cell in graded)


# --- drift: a stored value changed beyond its tolerance, not "another numpy wrote the file" ---------

def _stored(name: str = "rnn_step_by_step") -> dict:
    return json.loads((ROOT / "expected" / f"{name}.json").read_text())


def _first_array(tree):
    """The first stored array in a tree (a dict with "array"), to nudge in tests."""
    if isinstance(tree, dict):
        if "array" in tree:
            return tree
        tree = list(tree.values())
    if isinstance(tree, list):
        for item in tree:
            found = _first_array(item)
            if found is not None:
                return found
    return None


def _nudge(content: dict, relative: float) -> dict:
    changed = copy.deepcopy(content)
    case = changed["functions"]["rnn_cell_forward"]["cases"][0]
    array = _first_array(case["expected"])
    array["array"][0][0] *= 1 + relative
    return changed


def test_another_numpy_version_alone_is_not_drift():
    content = _stored()
    other = dict(content, numpy_version="1.24.4")
    assert differences(content, other) == []


def test_a_change_within_the_case_tolerance_is_not_drift():
    content = _stored()
    assert differences(content, _nudge(content, 1e-12)) == []


def test_a_change_beyond_the_case_tolerance_is_drift_and_names_the_case():
    content = _stored()
    found = differences(content, _nudge(content, 1e-3))
    assert len(found) == 1 and "rnn_cell_forward / published (seed 1)" in found[0] and "rtol=1e-06" in found[0]


def test_recipes_tolerances_and_structure_must_match_exactly():
    content = _stored()
    reseeded = copy.deepcopy(content)
    reseeded["functions"]["rnn_forward"]["cases"][0]["recipe"]["seed"] = 2
    assert any("recipe.seed: 1 became 2" in line for line in differences(content, reseeded))
    loosened = copy.deepcopy(content)
    loosened["functions"]["rnn_forward"]["cases"][0]["tolerance"]["rtol"] = 1e-3
    assert any("tolerance" in line for line in differences(content, loosened))
    fewer = copy.deepcopy(content)
    del fewer["functions"]["lstm_forward"]
    assert differences(content, fewer) == ["lstm_forward: no longer graded"]


def test_sample_draws_are_compared_on_the_stable_prefix_only():
    content = _stored("dinosaur_island")
    case = next(c for c in content["functions"]["sample"]["cases"] if c["stable_prefix"] < len(c["expected"]) - 1)
    index = content["functions"]["sample"]["cases"].index(case)
    chaotic = copy.deepcopy(content)
    chaotic["functions"]["sample"]["cases"][index]["expected"][case["stable_prefix"]] += 1
    assert differences(content, chaotic) == []
    early = copy.deepcopy(content)
    early["functions"]["sample"]["cases"][index]["expected"][0] += 1
    assert differences(content, early) != []


def test_check_passes_with_expected_values_written_by_another_numpy(tmp_path):
    """A checkout whose expected/ differs from this machine's only in the last bits and the recorded
    numpy version is up to date, and `grade release` leaves those files as they are."""
    root = tmp_path / "checkout"
    for folder in ("solutions", "assignments", "expected"):
        shutil.copytree(ROOT / folder, root / folder, ignore=shutil.ignore_patterns("__pycache__"))
    path = root / "expected" / "rnn_step_by_step.json"
    other = _nudge(json.loads(path.read_text()), 1e-13)
    other["numpy_version"] = "1.24.4"
    path.write_text(render(other))
    assert release(root, check=True) == []
    assert release(root) == [] and json.loads(path.read_text())["numpy_version"] == "1.24.4"
    drifted = _nudge(other, 1e-2)
    path.write_text(render(drifted))
    stale = release(root, check=True)
    assert [item.path for item in stale] == [path] and "rnn_cell_forward" in stale[0].reason
    release(root)
    assert release(root, check=True) == []


def test_release_finds_the_checkout_from_the_current_folder(tmp_path):
    assert find_root(ROOT / "grader" / "course") == ROOT
    assert find_root(tmp_path) is None
