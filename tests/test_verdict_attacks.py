"""Red team of the verdict side: what a graded function or graded class hands back, and how the grader
turns it into a score.

The rule under test: verdicts are computed in the grader from validated plain data (wire.py decodes,
compare.py judges), so nothing a student returns earns credit it did not compute, crashes the grader or
makes it work without bound; honest right answers in any reasonable form get full credit; a wrong one
gets a message that names what is wrong.

Every attack is a real notebook (the BPTT by hand reference with one class or function swapped, or a
Dinosaur Island one) graded through the real command line (``python -m grader nb.ipynb --json``), so
the worker, the wire, the judges and the scoring all take part. A few rules of the comparison itself
(tolerance near zero, integers, -0.0, denormals, NaN) are checked on ``compare`` directly.
"""
from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

from grader.compare import compare
from grader.course.spec import Tolerance

from conftest import ROOT, make_notebook, solution_cells

BPTT = "bptt_by_hand.ipynb"
CLASS_MARKER = "# GRADED CLASS: RNNCell"
_CLASS_CELL = next(cell for cell in solution_cells(BPTT) if CLASS_MARKER in cell)
#: The reference class under another name, for attacks that wrap or extend an honest cell.
HONEST = _CLASS_CELL.replace(CLASS_MARKER + "\n", "").replace("class RNNCell:", "class HonestCell:")
#: The same, keeping its accumulators under other names (the attack then serves dW_ih itself).
HONEST_HIDDEN_GRADIENTS = HONEST.replace("self.dW_ih", "self._dW_ih")


def grade_cli(path: Path, *only: str, hidden: int = 1) -> dict:
    """Grade ``path`` with the real command line; the result of each function, by name. The grader
    must finish by itself (exit 0, a graded notebook): a crash or a hang of the grader fails here."""
    command = [sys.executable, "-m", "grader", str(path), "--json", "--seed", "0", "--hidden-cases", str(hidden),
               "--cell-timeout", "5", "--call-timeout", "10", "--timeout", "120"]
    for name in only:
        command += ["--only", name]
    run = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=400)
    assert run.returncode == 0, f"the grader failed (exit {run.returncode}):\n{run.stderr[-3000:]}"
    result = json.loads(run.stdout)
    assert result["graded"], result["error"]
    return {function["name"]: function for function in result["functions"]}


def notebook(tmp_path: Path, base: str = BPTT, **cells: str) -> Path:
    """The reference notebook ``base`` with the cell of each graded item named here replaced by its source."""
    changed = []
    for cell in solution_cells(base):
        for name, source in cells.items():
            if f"GRADED FUNCTION: {name}" in cell or f"GRADED CLASS: {name}" in cell:
                cell = source
        changed.append(cell)
    return make_notebook(tmp_path / base, *changed)


def rnn_cell(body: str, honest: str = HONEST) -> str:
    """A graded RNNCell cell: the honest class under another name, then ``body`` (which defines RNNCell)."""
    return f"{CLASS_MARKER}\n{honest}\n{textwrap.dedent(body).strip()}\n"


def function_cell(name: str, signature: str, body: str) -> str:
    return f"# GRADED FUNCTION: {name}\ndef {name}({signature}):\n{textwrap.indent(textwrap.dedent(body).strip(), '    ')}\n"


def messages(function: dict) -> str:
    return "\n".join([*function["messages"], *(case["message"] for case in function["cases"])])


def assert_no_credit(function: dict, *words: str) -> None:
    assert function["score"] == 0 and function["status"] != "passed", function
    text = messages(function)
    for word in words:
        assert word in text, (word, text)


def assert_full_credit(function: dict) -> None:
    assert function["status"] == "passed" and function["score"] == function["max_score"], messages(function)


# --- what RNNCell.backward returns: look-alikes, wrong kinds and wrong shapes get no credit ----------

LOOK_ALIKES = '''
class AlwaysEqual:
    __eq__ = lambda self, other: True
    __ne__ = lambda self, other: False
    __hash__ = object.__hash__

class Wrapped:
    """Right values behind every numpy protocol, answering True to anything numpy asks of it."""
    __array_priority__ = 10**6
    def __init__(self, array):
        self.array = array
    def __array__(self, dtype=None, copy=None):
        return self.array
    def __array_ufunc__(self, *args, **kwargs):
        return True
    def __array_function__(self, *args, **kwargs):
        return True
    __eq__ = lambda self, other: True
    __len__ = lambda self: len(self.array)
    __getitem__ = lambda self, index: self.array[index]

class Sneaky(np.ndarray):
    __eq__ = lambda self, other: True
    def __array_ufunc__(self, *args, **kwargs):
        return True
    def __array_function__(self, *args, **kwargs):
        return True
'''


def backward_returning(expression: str) -> str:
    """RNNCell whose backward computes dx honestly, then returns ``expression`` (of dx, dh, self)."""
    return rnn_cell(LOOK_ALIKES + f'''
class RNNCell(HonestCell):
    def backward(self, dh):
        dx = super().backward(dh)
        x = self.last_x
        return {expression}
    def __call__(self, x, prev_hidden):
        self.last_x = x
        return super().__call__(x, prev_hidden)
''')


@pytest.mark.parametrize("expression, words", [
    ("AlwaysEqual()", ["dx'][0] should be a numpy array of shape (3, 4), got AlwaysEqual"]),
    ("Wrapped(dx)", ["got Wrapped"]),                                              # right values, not an array
    ("np.zeros_like(dx).view(Sneaky)", ["got Sneaky", "subclass"]),
    ("dx.view(Sneaky)", ["got Sneaky", "subclass"]),                              # right values, still a subclass
    ("np.ma.masked_array(np.zeros_like(dx), mask=True)", ["got MaskedArray", "subclass"]),
    ("np.array([dx, AlwaysEqual()], dtype=object)[:1]", ["dtype object"]),
    ("np.full_like(dx, np.nan)", ["NaN or inf"]),
    ("np.full_like(dx, np.inf)", ["NaN or inf"]),
    ("dx + 1e-30j", ["dtype complex128"]),                                         # the real part is right
    ("dx > 0", ["dtype bool"]),
    ("dx.mean(axis=0)", ["has shape (4,), expected (3, 4)"]),                     # broadcasts against the right one
    ("dx[:1]", ["has shape (1, 4), expected (3, 4)"]),
    ("dx[:0]", ["has shape (0, 4), expected (3, 4)"]),
    ("float(dx.sum())", ["should be a numpy array", "got float"]),
    ("(row for row in dx)", ["got generator"]),
    ("dx.tolist()", ["should be a numpy array", "got list"]),
    ("x", ["has wrong values"]),                                                  # an input of the right shape
    ("self", ["got RNNCell"]),
    ("dx.astype(np.float16)", ["has wrong values", "float16"]),
    ("[dx]", ["got list"]),
    ("{'dx': dx}", ["got dict"]),
])
def test_what_backward_returns_earns_nothing_it_did_not_compute(tmp_path, expression, words):
    functions = grade_cli(notebook(tmp_path, RNNCell=backward_returning(expression)), "RNNCell")
    assert_no_credit(functions["RNNCell"], *words)


@pytest.mark.parametrize("expression", [
    "dx.astype(np.float32)",        # rounded to float32: within the relative tolerance (1e-6) of float64
    "dx.astype(np.longdouble)",
    "dx.astype('>f8')",             # big-endian
    "np.asfortranarray(dx)",
    "dx.T.copy().T",                # not contiguous
    "dx + 0.0 * x",                 # -0.0 and 0.0 alike
    "dx.copy()",
])
def test_right_dx_in_any_reasonable_array_form_gets_full_credit(tmp_path, expression):
    assert_full_credit(grade_cli(notebook(tmp_path, RNNCell=backward_returning(expression)), "RNNCell")["RNNCell"])


# --- values that used to crash the grader: the two cells of a case differ in kind -------------------
# Each case builds RNNCell twice; the judge compares the two cells' own results (shared state). Both
# sides of that comparison are the student's: every kind of value must be compared without raising.

def gradient_served(first: str, second: str) -> str:
    """RNNCell whose dW_ih reads ``first`` on the first cell of a case and ``second`` on the second (the
    demo cell builds one at load, then each case two: even-numbered cells are a case's first)."""
    return rnn_cell(f'''
class RNNCell(HonestCell):
    built = 0
    def __init__(self, *weights):
        super().__init__(*weights)
        RNNCell.built += 1
        self.number = RNNCell.built
    @property
    def dW_ih(self):
        right = self._dW_ih
        return ({first}) if self.number % 2 == 0 else ({second})
''', honest=HONEST_HIDDEN_GRADIENTS)


@pytest.mark.parametrize("first, second", [
    ("True", "right"),
    ("'x'", "right"),
    ("10**350", "right"),
    ("10**350", "10**350"),
    ("-10**350", "10**350"),
    ("1j", "right"),
    ("np.complex128(1j)", "right"),
    ("object()", "right"),
    ("None", "right"),
    ("{'a': 1}", "right"),
    ("right.astype(bool)", "right"),
    ("right.astype(complex)", "right.astype(complex) + 1"),
    ("np.float16(1)", "10**350"),
    ("np.longdouble('1e4000')", "right"),
    ("right", "10**350"),
    ("right", "True"),
])
def test_the_shared_state_check_compares_any_two_values(tmp_path, first, second):
    functions = grade_cli(notebook(tmp_path, RNNCell=gradient_served(first, second)), "RNNCell")
    assert_no_credit(functions["RNNCell"], "dW_ih")


def test_the_shared_state_check_reads_only_what_the_reference_keeps(tmp_path):
    """Keys the reference does not keep are not compared at all (they cost the grader nothing)."""
    from grader.course.bptt.judges import SECOND, RepeatedCellJudge
    from grader.course.spec import Expectation

    judge = RepeatedCellJudge()
    spec = __import__("grader.course", fromlist=["get_assignment"]).get_assignment("bptt_by_hand").function("RNNCell")
    right = np.ones((2, 2))
    expectation = Expectation(value={"dW_ih": [right], SECOND + "dW_ih": [right]})
    junk = {"junk": [True], SECOND + "junk": [np.ones(3)], "dW_ih": [right], SECOND + "dW_ih": [right * 2]}
    found = judge.mismatches(spec, expectation, junk, None, spec.tolerance)
    assert "share state" in found[0].message and "'dW_ih'" in found[0].message


def test_a_huge_integer_inside_a_cache_is_refused(tmp_path):
    body = "a_next, cache = honest(xt, a_prev, parameters)\nreturn a_next, (10**350, *cache[1:])"
    honest = next(c for c in solution_cells(BPTT) if "GRADED FUNCTION: gru_cell_forward" in c)
    source = honest.replace("def gru_cell_forward(", "def honest(") + "\n" + function_cell(
        "gru_cell_forward", "xt, a_prev, parameters", body)
    functions = grade_cli(notebook(tmp_path, gru_cell_forward=source), "gru_cell_forward")
    assert_no_credit(functions["gru_cell_forward"], "cache[0] should be a numpy array of shape", "got int")


@pytest.mark.parametrize("loss", ["10**350", "-10**350", "True", "'0.5'", "np.float16(loss)", "complex(loss)",
                                  "np.array([loss, loss])", "None"])
def test_what_optimize_returns_as_its_loss_is_checked_as_a_number(tmp_path, loss):
    """Dinosaur Island's optimize returns a number (the loss): anything else is refused, never crashes."""
    honest = next(c for c in solution_cells("dinosaur_island.ipynb") if "GRADED FUNCTION: optimize" in c)
    source = honest.replace("def optimize(", "def honest(") + "\n" + function_cell(
        "optimize", "X, Y, a_prev, parameters, learning_rate=0.01",
        f"loss, gradients, a = honest(X, Y, a_prev, parameters, learning_rate)\nreturn {loss}, gradients, a")
    functions = grade_cli(notebook(tmp_path, "dinosaur_island.ipynb", optimize=source), "optimize")
    assert_no_credit(functions["optimize"], "loss")


def test_a_right_loss_as_any_real_number_type_passes(tmp_path):
    honest = next(c for c in solution_cells("dinosaur_island.ipynb") if "GRADED FUNCTION: optimize" in c)
    source = honest.replace("def optimize(", "def honest(") + "\n" + function_cell(
        "optimize", "X, Y, a_prev, parameters, learning_rate=0.01",
        "loss, gradients, a = honest(X, Y, a_prev, parameters, learning_rate)\n"
        "return np.array([[loss]]) if len(X) % 2 else float(loss), gradients, a")
    functions = grade_cli(notebook(tmp_path, "dinosaur_island.ipynb", optimize=source), "optimize", hidden=2)
    assert_full_credit(functions["optimize"])
