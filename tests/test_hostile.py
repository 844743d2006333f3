"""One test per row of ../shared/CATALOGUE.md: broken and hostile submissions get a clear message,
zero for what failed, full credit for what did not, and leave the grader and its files untouched.

The notebooks are built here: the reference RNN notebook with one cell or function changed."""
from __future__ import annotations

import json
import os
import textwrap
from pathlib import Path

import nbformat
import pytest

from grader.pipeline import grade_notebook
from grader.results import Status

from conftest import FAST, ROOT, make_notebook, replace_function, solution_cells

ONLY = FAST.with_changes(only=("rnn_cell_forward", "rnn_forward"), hidden_cases=1)
GOOD_CELL = [c for c in solution_cells("rnn_step_by_step.ipynb") if "def rnn_cell_forward(" in c][0]


def base_cells() -> list[str]:
    cells = solution_cells("rnn_step_by_step.ipynb")
    return [c for c in cells if "rnn_cell_backward" not in c and "lstm" not in c]


def notebook(tmp_path: Path, *extra: str, replace: dict[str, str] | None = None, name: str = "nb.ipynb") -> Path:
    cells = base_cells()
    for function, source in (replace or {}).items():
        cells = replace_function(cells, function, source)
    return make_notebook(tmp_path / name, *cells, *extra)


def graded(path: Path, config=ONLY):
    result = grade_notebook(path, config)
    assert result.graded, result.error
    return result, {f.name: f for f in result.functions}


def cell_forward(body: str) -> str:
    """A rnn_cell_forward whose body is ``body`` (indented for you)."""
    return "# GRADED FUNCTION: rnn_cell_forward\ndef rnn_cell_forward(xt, a_prev, parameters):\n" + textwrap.indent(
        textwrap.dedent(body).strip("\n"), "    ") + "\n"


def assert_only_cell_forward_lost(functions, status=None):
    assert functions["rnn_cell_forward"].score == 0
    if status is not None:
        assert functions["rnn_cell_forward"].status == status, functions["rnn_cell_forward"].messages
    assert functions["rnn_forward"].score == functions["rnn_forward"].max_score  # judged with the reference cell


# --- A. notebook file and format -----------------------------------------------------------------

@pytest.mark.parametrize("content, message", [
    (b"hello", "not a valid notebook: JSON parse error at line 1"),                         # A1
    (None, "JSON parse error"),                                                             # A2 truncated
    (b"", "empty file"),                                                                    # A3
    (b"\xff\xfe{not utf8", "not UTF-8"),                                                    # A7
    (b'{"a": 1}', "not a Jupyter notebook"),
])
def test_unreadable_files_get_a_clear_message(tmp_path, content, message):
    path = tmp_path / "x.ipynb"
    if content is None:
        full = (ROOT / "solutions" / "rnn_step_by_step.ipynb").read_bytes()
        content = full[: int(len(full) * 0.6)]
    path.write_bytes(content)
    result = grade_notebook(path, ONLY)
    assert not result.graded and message in result.error and str(path) in result.error


def test_nbformat_v3_is_upgraded_and_graded(tmp_path):  # A4
    v4 = nbformat.read(str(ROOT / "solutions" / "rnn_step_by_step.ipynb"), as_version=4)
    v3 = nbformat.convert(v4, 3)
    path = tmp_path / "old.ipynb"
    path.write_text(nbformat.writes(v3))
    assert json.loads(path.read_text())["nbformat"] == 3
    result, functions = graded(path, ONLY.with_changes(assignment="rnn_step_by_step"))
    assert result.score == result.max_score


def test_hand_edited_json_with_lists_and_no_metadata(tmp_path):  # A5, A9
    cells = [{"cell_type": "code", "source": c.splitlines(keepends=True), "metadata": [], "outputs": [],
              "execution_count": None, "id": "same"} for c in base_cells()]
    cells.append({"cell_type": "weird", "source": "x", "metadata": {}})
    path = tmp_path / "hand.ipynb"
    path.write_text(json.dumps({"cells": cells, "nbformat": 4, "nbformat_minor": 5}))
    result, _ = graded(path)
    assert result.score == result.max_score


def test_other_kernel_language_is_graded_as_python_with_a_warning(tmp_path):  # A6
    path = make_notebook(tmp_path / "r.ipynb", *base_cells(), metadata={"kernelspec": {"name": "ir", "language": "R"}})
    result, _ = graded(path)
    assert result.score == result.max_score and any("'R'" in note for note in result.notes)


def test_utf8_bom_is_accepted(tmp_path):  # A7
    path = notebook(tmp_path)
    path.write_bytes(b"\xef\xbb\xbf" + path.read_bytes())
    assert graded(path)[0].score == 100 or graded(path)[0].score == graded(path)[0].max_score


def test_huge_notebook_is_refused(tmp_path):  # A8
    path = notebook(tmp_path, "x = 1\n# " + "A" * 3_000_000)
    result = grade_notebook(path, ONLY.with_changes(max_notebook_mb=2))
    assert not result.graded and "above the 2 MB limit" in result.error


def test_folder_and_symlink_are_not_read(tmp_path):  # A10
    folder = tmp_path / "dir.ipynb"
    folder.mkdir()
    assert "is a folder" in grade_notebook(folder, ONLY).error
    link = tmp_path / "link.ipynb"
    link.symlink_to("/etc/passwd")
    assert "symbolic link" in grade_notebook(link, ONLY).error


# --- B. code extraction and definition ------------------------------------------------------------

def test_magics_and_shell_escapes_are_not_executed(tmp_path):  # B1, B2
    marker = tmp_path / "shell-ran"
    path = notebook(tmp_path, f"%matplotlib inline\n!touch {marker}\nfiles = !ls\n%load_ext autoreload",
                    "%%time\nz = 1 + 1", f"%%bash\ntouch {marker}")
    result, _ = graded(path)
    assert result.score == result.max_score and not marker.exists()


def test_syntax_error_in_an_unrelated_cell(tmp_path):  # B3
    result, _ = graded(notebook(tmp_path, "def f(:\n    pass"))
    assert result.score == result.max_score
    assert any(issue.kind == "syntax" for issue in result.cell_issues)


def test_cell_raising_at_top_level_is_reported_by_cell(tmp_path):  # B4
    path = notebook(tmp_path, "raise ValueError('boom')", "undefined_name + 1")
    result, _ = graded(path)
    assert result.score == result.max_score
    messages = [issue.message for issue in result.cell_issues]
    assert any("ValueError: boom" in m for m in messages) and any("NameError" in m for m in messages)


def test_missing_function_says_did_you_mean(tmp_path):  # B5
    cells = [c.replace("def rnn_forward(", "def rnn_foward(") for c in base_cells()]
    _, functions = graded(make_notebook(tmp_path / "nb.ipynb", *cells))
    assert functions["rnn_forward"].status == Status.MISSING and "rnn_foward" in functions["rnn_forward"].messages[0]
    assert functions["rnn_cell_forward"].status == Status.PASSED


def test_last_definition_wins(tmp_path):  # B7
    _, functions = graded(notebook(tmp_path, "def rnn_cell_forward(xt, a_prev, parameters):\n    pass"))
    assert_only_cell_forward_lost(functions)


def test_wrong_signature(tmp_path):  # B9
    _, functions = graded(notebook(tmp_path, replace={"rnn_cell_forward": cell_forward("return 1")
                                                      .replace("(xt, a_prev, parameters)", "(xt, a_prev)")}))
    message = functions["rnn_cell_forward"].messages[0]
    assert "wrong parameters" in message and "xt, a_prev, parameters" in message
    assert_only_cell_forward_lost(functions, Status.ERROR)


def test_helpers_from_other_cells_and_course_modules(tmp_path):  # B10
    helper = "def my_tanh(z):\n    return np.tanh(z)"
    body = """
    a_next = my_tanh(parameters['Waa'] @ a_prev + parameters['Wax'] @ xt + parameters['ba'])
    return a_next, softmax(parameters['Wya'] @ a_next + parameters['by']), (a_next, a_prev, xt, parameters)
    """
    result, functions = graded(notebook(tmp_path, helper, cell_forward(body)))
    assert result.score == result.max_score


def test_global_state_instead_of_arguments(tmp_path):  # B11
    body = "return rnn_cell_forward_real(xt, a_prev, parameters_tmp)"
    extra = "rnn_cell_forward_real = rnn_cell_forward"
    _, functions = graded(notebook(tmp_path, extra, cell_forward(body)))
    assert_only_cell_forward_lost(functions)


def test_unavailable_package_only_costs_what_needs_it(tmp_path):  # B12
    path = notebook(tmp_path, "import tensorflow_does_not_exist as tf")
    result, _ = graded(path)
    assert result.score == result.max_score
    assert any("ModuleNotFoundError" in issue.message for issue in result.cell_issues)


def test_reading_files_relative_to_the_working_folder(tmp_path):  # B13
    body = "open('data/x.npy')\nreturn None"
    _, functions = graded(notebook(tmp_path, replace={"rnn_cell_forward": cell_forward(body)}))
    assert "FileNotFoundError" in functions["rnn_cell_forward"].messages[0]
    assert_only_cell_forward_lost(functions, Status.ERROR)


# --- C. runtime failures and resource abuse ---------------------------------------------------------

def test_function_raises_with_student_traceback(tmp_path):  # C1
    _, functions = graded(notebook(tmp_path, replace={"rnn_cell_forward": cell_forward("raise NotImplementedError('todo')")}))
    function = functions["rnn_cell_forward"]
    assert "NotImplementedError" in function.traceback and "cell" in function.traceback and "grader" not in function.traceback
    assert_only_cell_forward_lost(functions, Status.ERROR)


def test_infinite_loop_in_function_times_out_alone(tmp_path):  # C2
    _, functions = graded(notebook(tmp_path, replace={"rnn_cell_forward": cell_forward("while True:\n    pass")}))
    assert "did not finish within" in functions["rnn_cell_forward"].messages[0]
    assert_only_cell_forward_lost(functions, Status.TIMEOUT)


def test_infinite_loop_at_top_level_is_left_out(tmp_path):  # C3
    result, _ = graded(notebook(tmp_path, "while True:\n    pass"))
    assert result.score == result.max_score
    assert any(issue.kind == "timeout" for issue in result.cell_issues)


def test_sleep_and_input(tmp_path):  # C4
    result, functions = graded(notebook(tmp_path, "name = input('your name? ')",
                                        replace={"rnn_cell_forward": cell_forward("import time\ntime.sleep(10**6)")}))
    assert any("EOFError" in issue.message for issue in result.cell_issues)
    assert_only_cell_forward_lost(functions, Status.TIMEOUT)


@pytest.mark.parametrize("bomb", ["np.ones((10**6, 10**6))", "x = []\nwhile True:\n    x.append(bytearray(10**8))"])
def test_memory_bomb(tmp_path, bomb):  # C5
    _, functions = graded(notebook(tmp_path, replace={"rnn_cell_forward": cell_forward(bomb)}),
                          ONLY.with_changes(memory_mb=1024))
    assert "MemoryError" in functions["rnn_cell_forward"].messages[0] or functions["rnn_cell_forward"].status == Status.CRASHED
    assert_only_cell_forward_lost(functions)


def test_fork_bomb_at_load(tmp_path):  # C6
    result, _ = graded(notebook(tmp_path, "import os\nfor _ in range(10000):\n    os.fork()"))
    assert result.score == result.max_score


def test_orphaned_background_process_is_killed(tmp_path):  # C7
    marker = "grader-orphan-test-%d" % os.getpid()
    cell = ("import subprocess\nsubprocess.Popen(['sleep', '1000', '%s'], start_new_session=True, "
            "stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)" % marker)
    result, _ = graded(notebook(tmp_path, cell))
    assert result.score == result.max_score
    alive = [p for p in os.listdir("/proc") if p.isdigit() and _cmdline(p).find(marker) >= 0]
    assert not alive


def _cmdline(pid: str) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace")
    except OSError:
        return ""


def test_output_flood_is_cut(tmp_path):  # C8
    body = "print('x' * 10**8)\nfor _ in range(10**5):\n    print('line')\nraise ValueError('after the flood')"
    _, functions = graded(notebook(tmp_path, replace={"rnn_cell_forward": cell_forward(body)}))
    text = " ".join(functions["rnn_cell_forward"].messages)
    assert len(text) < 5000 and "after the flood" in text
    assert_only_cell_forward_lost(functions, Status.ERROR)


def test_disk_fill_is_stopped(tmp_path):  # C9
    body = "with open('junk', 'wb') as f:\n    while True:\n        f.write(b'0' * 10**7)"
    _, functions = graded(notebook(tmp_path, replace={"rnn_cell_forward": cell_forward(body)}))
    assert "File too large" in functions["rnn_cell_forward"].messages[0] or "Errno 27" in functions["rnn_cell_forward"].messages[0]
    assert_only_cell_forward_lost(functions, Status.ERROR)


def test_segfault_in_a_function(tmp_path):  # C10
    _, functions = graded(notebook(tmp_path, replace={"rnn_cell_forward": cell_forward("import ctypes\nctypes.string_at(0)")}))
    assert "SIGSEGV" in functions["rnn_cell_forward"].messages[0]
    assert_only_cell_forward_lost(functions, Status.CRASHED)


def test_segfault_at_load_loses_only_that_cell(tmp_path):  # C10 / "a cell that kills its worker"
    result, _ = graded(notebook(tmp_path, "import ctypes\nctypes.string_at(0)"))
    assert result.score == result.max_score
    assert any(issue.kind == "crashed" and "SIGSEGV" in issue.message for issue in result.cell_issues)


def test_recursion_bomb(tmp_path):  # C10
    body = "import sys\nsys.setrecursionlimit(10**9)\ndef f(n):\n    return f(n + 1)\nreturn f(0)"
    _, functions = graded(notebook(tmp_path, replace={"rnn_cell_forward": cell_forward(body)}))
    assert_only_cell_forward_lost(functions)


def test_thread_spam(tmp_path):  # C11
    body = "import threading\nfor _ in range(10000):\n    threading.Thread(target=lambda: None).start()\nreturn None"
    _, functions = graded(notebook(tmp_path, replace={"rnn_cell_forward": cell_forward(body)}))
    assert_only_cell_forward_lost(functions)
