"""Are assignments/ and expected/ what `grade release` makes from solutions/ right now?"""
from __future__ import annotations

import json

import nbformat

from grader.load import functions_in_source
from grader.release import release, stub_source

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
        assert len(graded) >= 4 and all("### START CODE HERE ###" in cell.source for cell in graded)
