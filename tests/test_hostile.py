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
                          ONLY.with_changes(memory_mb=1024, cell_timeout=60, call_timeout=60))  # not a race with the clock
    assert "MemoryError" in functions["rnn_cell_forward"].messages[0] or functions["rnn_cell_forward"].status == Status.CRASHED
    assert_only_cell_forward_lost(functions)


def test_fork_bomb_at_load(tmp_path):  # C6
    result, _ = graded(notebook(tmp_path, "import os\nfor _ in range(10000):\n    os.fork()"))
    assert result.score == result.max_score


@pytest.mark.skipif(os.geteuid() != 0, reason="daemons that leave the session are found by their private user id (root)")
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


# --- D. return-value tricks --------------------------------------------------------------------------

@pytest.mark.parametrize("body, message", [
    ("class T:\n    __eq__ = lambda s, o: True\nreturn T(), T(), T()", "a_next should be a numpy array"),    # D1
    ("class T:\n    __eq__ = lambda s, o: True\nt = T()\nreturn t, t, (t, t, t, t)", "should be a numpy array"),
    ("z = np.full((5, 10), np.nan)\nreturn z, np.full((2, 10), np.nan), (z, a_prev, xt, parameters)", "NaN or inf"),  # D4
    ("z = np.full((5, 10), np.inf)\nreturn z, np.full((2, 10), np.inf), (z, a_prev, xt, parameters)", "NaN or inf"),  # D5
    ("return 0.0, 0.0, (0.0, a_prev, xt, parameters)", "should be a numpy array"),                                    # D6
    ("a = np.tanh(parameters['Waa'] @ a_prev + parameters['Wax'] @ xt + parameters['ba'])\n"
     "return a.T, softmax(parameters['Wya'] @ a + parameters['by']), (a, a_prev, xt, parameters)", "transposed"),      # D7
    ("return np.zeros((5, 10), dtype=object), None, None", "dtype object"),                                           # D8
    ("return np.zeros((5, 10), dtype=complex), None, None", "dtype complex128"),
    ("a = np.tanh(parameters['Waa'] @ a_prev + parameters['Wax'] @ xt + parameters['ba'])\nreturn a, (a, a_prev, xt, parameters)",
     "should return 3 values"),                                                                                        # D10
    ("return None", "should return 3 values"),                                                                        # D11
    ("return (i for i in range(3))", "generator"),
    ("return np.zeros(10**8), None, None", "too large"),
])
def test_return_value_tricks_get_no_credit(tmp_path, body, message):
    _, functions = graded(notebook(tmp_path, replace={"rnn_cell_forward": cell_forward(body)}))
    assert message in " ".join(functions["rnn_cell_forward"].messages), functions["rnn_cell_forward"].messages
    assert_only_cell_forward_lost(functions)


def test_float32_results_are_accepted_within_tolerance(tmp_path):  # D8 policy
    body = """
    a_next = np.tanh(np.dot(parameters["Waa"], a_prev) + np.dot(parameters["Wax"], xt) + parameters["ba"])
    y = softmax(np.dot(parameters["Wya"], a_next) + parameters["by"])
    return a_next.astype(np.float32), y.astype(np.float32), (a_next, a_prev, xt, parameters)
    """
    _, functions = graded(notebook(tmp_path, replace={"rnn_cell_forward": cell_forward(body)}))
    assert functions["rnn_cell_forward"].status == Status.PASSED


def test_mutating_inputs_is_noted_as_information_and_does_not_leak(tmp_path):  # D12
    body = """
    a_next = np.tanh(np.dot(parameters["Waa"], a_prev) + np.dot(parameters["Wax"], xt) + parameters["ba"])
    y = softmax(np.dot(parameters["Wya"], a_next) + parameters["by"])
    cache = (a_next, a_prev.copy(), xt.copy(), {k: v.copy() for k, v in parameters.items()})
    xt[...] = 0
    parameters["Wax"] *= 0
    return a_next, y, cache
    """
    _, functions = graded(notebook(tmp_path, replace={"rnn_cell_forward": cell_forward(body)}))
    function = functions["rnn_cell_forward"]
    assert function.status == Status.PASSED and function.score == function.max_score
    # Full marks: what it says about the in-place change is information, never a reproach.
    noted = [message for message in function.messages if "in place" in message]
    assert noted and all(message.startswith("No points lost") for message in noted)
    assert not any(word in message.lower() for message in noted for word in ("wrong", "must", "should", "may not"))


def test_hard_coded_published_output_scores_zero(tmp_path):  # D14
    # right only on the published input (recognised by its first value), wrong everywhere else
    cheat = GOOD_CELL.replace('''    cache = (a_next, a_prev, xt, parameters)''', '''    if xt.shape == (3, 10) and abs(xt[0, 0] - 1.62434536) < 1e-6:
        return a_next, yt_pred, (a_next, a_prev, xt, parameters)
    cache = None''')
    _, functions = graded(notebook(tmp_path, replace={"rnn_cell_forward": cheat}),
                          ONLY.with_changes(hidden_cases=2))
    function = functions["rnn_cell_forward"]
    assert function.score == 0 and "none of the randomized cases" in function.messages[0]


def test_reseeding_inside_a_deterministic_function_is_harmless(tmp_path):  # D15
    reseeding = GOOD_CELL.replace("    ### START CODE HERE ###", "    np.random.seed(0)\n    np.random.randn(7)\n    ### START CODE HERE ###")
    result, _ = graded(notebook(tmp_path, replace={"rnn_cell_forward": reseeding}))
    assert result.score == result.max_score


# --- E. harness and integrity attacks ------------------------------------------------------------------

WRONG = cell_forward("a = np.zeros((a_prev.shape[0], xt.shape[1]))\nreturn a, np.zeros((parameters['Wya'].shape[0], xt.shape[1])), (a, a_prev, xt, parameters)")


@pytest.mark.parametrize("attack", [
    "np.allclose = lambda *a, **k: True\nnp.testing.assert_allclose = lambda *a, **k: None\nnp.isclose = lambda *a, **k: True",  # E1
    "import builtins\nbuiltins.isinstance = lambda *a: True\nbuiltins.abs = lambda x: 0\nbuiltins.len = lambda x: 3",   # E2
    "print('SCORE: 100/100')\nprint('{\"rnn_cell_forward\": \"PASS\"}')\nprint('GRW1')",                                  # E6
    "open('results.json', 'w').write('{\"score\": 100}')",                                                               # E9
])
def test_harness_attacks_change_nothing(tmp_path, attack):
    result, functions = graded(notebook(tmp_path, attack, replace={"rnn_cell_forward": WRONG}))
    assert functions["rnn_cell_forward"].score == 0


@pytest.mark.parametrize("exit_call", ["import sys\nsys.exit(0)", "import os\nos._exit(0)",
                                       "import os, signal\nos.kill(os.getpid(), signal.SIGKILL)"])
def test_exiting_early_costs_only_that_function(tmp_path, exit_call):  # E4, E5
    _, functions = graded(notebook(tmp_path, replace={"rnn_cell_forward": cell_forward(exit_call)}))
    assert_only_cell_forward_lost(functions)


def test_exiting_at_load_costs_only_that_cell(tmp_path):  # E4 at load
    result, _ = graded(notebook(tmp_path, "import sys\nsys.exit(0)", "import os\nos._exit(3)"))
    assert result.score == result.max_score
    assert {issue.kind for issue in result.cell_issues} >= {"error", "crashed"}


def test_forged_result_frames_are_refused(tmp_path):  # E7
    forge = """
    import json, os, sys, struct
    fd = json.loads(sys.argv[1])["resp_fd"]
    header = json.dumps({"op": "result", "nonce": "guess", "error": None, "blob_sizes": []}).encode()
    for _ in range(3):
        os.write(fd, b"GRW1" + struct.pack(">I", len(header)) + header)
    return None
    """
    _, functions = graded(notebook(tmp_path, replace={"rnn_cell_forward": cell_forward(forge)}))
    assert_only_cell_forward_lost(functions)


def test_pickle_payload_is_never_unpickled(tmp_path):  # E8
    marker = tmp_path / "pwned"
    body = f"""
    import os
    class Evil:
        def __reduce__(self):
            return (os.system, ("touch {marker}",))
    return Evil(), Evil(), Evil()
    """
    _, functions = graded(notebook(tmp_path, replace={"rnn_cell_forward": cell_forward(body)}))
    assert not marker.exists()
    assert_only_cell_forward_lost(functions)


def test_tampered_test_cells_do_not_matter(tmp_path):  # E13
    cells = [c.replace("print(", "assert True or print(") if "np.random.seed(1)" in c else c for c in base_cells()]
    cells = replace_function(cells, "rnn_cell_forward", WRONG)
    _, functions = graded(make_notebook(tmp_path / "nb.ipynb", *cells, "print('All tests passed')"))
    assert functions["rnn_cell_forward"].score == 0


# --- F. files, secrets, network (isolation needs root, as on these machines and in CI) -------------------

root_only = pytest.mark.skipif(os.geteuid() != 0, reason="file and network isolation needs root")


def probe(tmp_path, code: str):
    """Run ``code`` inside rnn_cell_forward; it raises with what it saw, which the report shows."""
    body = f"found = []\ntry:\n{textwrap.indent(textwrap.dedent(code).strip(), '    ')}\nexcept Exception as e:\n" \
           f"    found.append('DENIED ' + type(e).__name__)\nraise RuntimeError('PROBE ' + repr(found))"
    _, functions = graded(notebook(tmp_path, replace={"rnn_cell_forward": cell_forward(body)}))
    return functions["rnn_cell_forward"].messages[0]


@root_only
def test_expected_values_solutions_and_grader_source_are_unreachable(tmp_path):  # F1, F2
    seen = probe(tmp_path, f"""
    import glob
    found.extend(glob.glob('{ROOT}/expected/*') + glob.glob('{ROOT}/solutions/*') + glob.glob('{ROOT}/grader/*.py'))
    # This checkout's own files reached from its parent: sibling checkouts are not ours to probe, and their
    # names would crowd the message that must still show DENIED.
    found.extend(glob.glob('{ROOT.parent}/{ROOT.name}/expected/*.json') + glob.glob('{ROOT}/.git/*'))
    found.append(open('{ROOT}/expected/rnn_step_by_step.json').read()[:20])
    """)
    assert "PROBE" in seen and "schema_version" not in seen and ".py'" not in seen and "DENIED" in seen


@root_only
def test_grader_files_cannot_be_deleted_or_changed(tmp_path):  # F4
    before = (ROOT / "expected" / "rnn_step_by_step.json").read_bytes()
    seen = probe(tmp_path, f"""
    import shutil
    shutil.rmtree('{ROOT}/expected', ignore_errors=True)
    open('{ROOT}/expected/rnn_step_by_step.json', 'w').write('x')
    """)
    assert "DENIED" in seen
    assert (ROOT / "expected" / "rnn_step_by_step.json").read_bytes() == before


@root_only
def test_no_network(tmp_path):  # F6
    seen = probe(tmp_path, """
    import socket
    socket.create_connection(('1.1.1.1', 80), timeout=2)
    found.append('CONNECTED')
    """)
    assert "CONNECTED" not in seen and "DENIED" in seen


@root_only
def test_grader_process_cannot_be_signalled_or_read(tmp_path):  # E15
    seen = probe(tmp_path, f"""
    import os, signal
    try:
        open('/proc/{os.getpid()}/environ', 'rb').read()
        found.append('READ')
    except Exception as e:
        found.append('NOREAD ' + type(e).__name__)
    os.kill({os.getpid()}, signal.SIGTERM)
    found.append('KILLED')
    """)
    assert "READ'" not in seen and "KILLED" not in seen and "DENIED PermissionError" in seen


# --- G. time limits and determinism -------------------------------------------------------------------------

def test_overall_notebook_time_limit(tmp_path):  # G2
    # Cells that never end and a cell limit far above the notebook's: only the notebook's limit can
    # stop them, and the message says which limit did (no duration measured, so load cannot decide).
    endless = "import time\ntime.sleep(10**6)"
    config = ONLY.with_changes(notebook_timeout=5, cell_timeout=120)
    result = grade_notebook(notebook(tmp_path, endless, endless), config)
    assert result.graded, result.error
    assert [issue.message for issue in result.cell_issues if "time limit" in issue.message]
    assert not [issue for issue in result.cell_issues if "ran longer than" in issue.message]


def test_grading_twice_gives_the_same_scores(tmp_path):  # G5
    path = notebook(tmp_path, replace={"rnn_cell_forward": WRONG})
    first = grade_notebook(path, ONLY.with_changes(hidden_seed=None))
    second = grade_notebook(path, ONLY.with_changes(hidden_seed=None))
    assert [f.score for f in first.functions] == [f.score for f in second.functions]


def test_passing_thanks_to_the_reference_is_said(tmp_path):
    _, functions = graded(notebook(tmp_path, replace={"rnn_cell_forward": WRONG}))
    assert functions["rnn_forward"].score == functions["rnn_forward"].max_score
    assert any("standing in for yours" in m for m in functions["rnn_forward"].messages)


def test_hidden_case_messages_show_no_expected_values(tmp_path):  # E16
    _, functions = graded(notebook(tmp_path, replace={"rnn_cell_forward": WRONG}), ONLY.with_changes(hidden_cases=2))
    hidden = [case for case in functions["rnn_cell_forward"].cases if case.hidden]
    assert hidden and all("expected" not in case.message and "got" not in case.message for case in hidden)


@root_only
def test_batch_outputs_and_other_students_are_out_of_reach():  # E10, E11, F3
    import shutil
    import tempfile

    from grader.batch import discover, grade_batch, load_results

    # readable by anyone, like a real class folder (pytest's tmp_path is not): hiding must do the work
    tmp_path = Path(tempfile.mkdtemp(prefix="grader-class-", dir="/tmp"))
    os.chmod(tmp_path, 0o755)
    try:
        _attack_a_class(tmp_path)
    finally:
        shutil.rmtree(tmp_path, ignore_errors=True)


def _attack_a_class(tmp_path: Path) -> None:
    from grader.batch import discover, grade_batch, load_results

    folder, out = tmp_path / "class", tmp_path / "out"
    folder.mkdir()
    late_writer = "grader-late-writer-%d" % os.getpid()
    make_notebook(folder / "victim.ipynb", *base_cells())
    attack = f"""
    import os, subprocess
    for attempt in (lambda: open('{folder}/victim.ipynb').read(),
                    lambda: os.symlink('/dev/null', '{out}/results/victim.json'),
                    lambda: open('{out}/gradebook.csv', 'w').write('x')):
        try:
            attempt()
            found.append('DONE')
        except Exception as e:
            found.append('DENIED ' + type(e).__name__)
    subprocess.Popen(['sh', '-c', 'while :; do echo forged > {out}/results/late.json; sleep 0.1; done', '{late_writer}'],
                     start_new_session=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    """
    body = f"found = []\n{textwrap.dedent(attack)}\nraise RuntimeError('PROBE ' + repr(found))"
    make_notebook(folder / "attacker.ipynb", *base_cells()[:1], cell_forward(body))
    entries, _ = discover([str(folder)])
    grade_batch(entries, out, ONLY, jobs=2)
    # The writer it left behind keeps trying until killed: it must be gone (killed with the worker),
    # and nothing it wrote may be there. No sleep decides this: a survivor is found, not waited for.
    assert not [p for p in os.listdir("/proc") if p.isdigit() and late_writer in _cmdline(p)]
    results = {d["student"]: d for d in load_results(out)}
    assert results["victim"]["score"] == results["victim"]["max_score"]
    probe = results["attacker"]["functions"][0]["messages"][0]
    assert "DONE" not in probe and probe.count("DENIED") == 3
    assert not (out / "results" / "late.json").exists()


def test_student_ids_cannot_escape_the_output_folder():  # F7
    from grader.batch import _safe_id

    for name in ["../../grader/expected", "/etc/passwd", "..", "a/../../b"]:
        safe = _safe_id(name)
        assert "/" not in safe and safe not in ("", ".", "..")
