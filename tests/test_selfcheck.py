"""The in-notebook check: same verdict as `grade`, nothing at all inside a grading worker."""
from __future__ import annotations

import io
import textwrap

from rich.console import Console

from grader import check
from grader.results import Status


def _function_from(tmp_path, source, name, monkeypatch):
    module = tmp_path / "student_code.py"
    module.write_text(textwrap.dedent(source))
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.syspath_prepend(str(tmp_path.parent))
    import importlib

    return getattr(importlib.import_module("student_code"), name)


def test_check_shows_the_verdict_of_one_function(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    wrong = _function_from(tmp_path, """
        import numpy as np
        def clip(gradients, maxValue):
            return {k: np.clip(v, -maxValue, 0) for k, v in gradients.items()}
        """, "clip", monkeypatch)
    buffer = io.StringIO()
    result = check(wrong, console=Console(file=buffer, width=80, no_color=True))
    assert result is not None and result.name == "clip" and result.status == Status.FAILED
    assert "clip: FAIL" in buffer.getvalue()


def test_check_does_nothing_inside_a_worker(monkeypatch):
    monkeypatch.setenv("GRADER_WORKER", "1")
    assert check(print) is None


def test_check_returns_a_result_with_a_one_line_repr(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    wrong = _function_from(tmp_path, """
        import numpy as np
        def clip(gradients, maxValue):
            return {k: np.clip(v, -maxValue, 0) for k, v in gradients.items()}
        """, "clip", monkeypatch)
    result = check(wrong, console=Console(file=io.StringIO(), width=80, no_color=True))
    assert repr(result) == "<check clip: failed, 0/25>"
    assert result._ipython_display_() is None  # Jupyter shows no Out[n] under the panel


def test_check_says_when_the_reference_stood_in_for_a_failing_function_it_calls(tmp_path, monkeypatch):
    """check(rnn_forward) showed a bare PASS while the student's own rnn_cell_forward (np.tan) failed: the
    reference stood in for it, which the command's report says and check must say too."""
    monkeypatch.chdir(tmp_path)
    import json as json_module
    import shutil

    from conftest import ASSIGNMENTS, SOLUTIONS

    cells = ["".join(cell["source"]) for cell in json_module.loads((SOLUTIONS / "rnn_step_by_step.ipynb").read_text())["cells"]
             if cell["cell_type"] == "code"]
    code = "\n\n".join(cell for cell in cells if "# GRADED FUNCTION: rnn_cell_forward" in cell
                       or "# GRADED FUNCTION: rnn_forward" in cell)
    assert "np.tanh(" in code
    (tmp_path / "student_rnn.py").write_text("import numpy as np\nfrom rnn_utils import *\n" + code.replace("np.tanh(", "np.tan("))
    shutil.copyfile(ASSIGNMENTS / "rnn_utils.py", tmp_path / "rnn_utils.py")
    monkeypatch.syspath_prepend(str(tmp_path))
    import importlib

    forward = importlib.import_module("student_rnn").rnn_forward
    buffer = io.StringIO()
    result = check(forward, console=Console(file=buffer, width=200, no_color=True))
    assert result is not None and result.status == Status.PASSED
    assert "standing in for yours" in buffer.getvalue() and "rnn_cell_forward" in buffer.getvalue()
