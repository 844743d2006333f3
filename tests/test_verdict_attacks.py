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
    ("np.array([dx, AlwaysEqual()], dtype=object)[:1]", ["got ndarray of dtype object (numbers are needed"]),
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


@pytest.mark.parametrize("stop", ["import os\nos._exit(1)", "while True:\n    pass"], ids=["crash", "hang"])
def test_crashing_after_a_known_answer_earns_no_more_than_failing(tmp_path, stop):
    """A function stops at its first crash or hang (it would do so again): the cases not run count as
    failed. Else a published answer hard-coded, then a crash, earned half of clip (one of two cases
    judged) and skipped the hidden cases that expose hard-coding."""
    honest = next(c for c in solution_cells("dinosaur_island.ipynb") if "GRADED FUNCTION: clip" in c)
    source = honest.replace("def clip(", "def honest(") + "\n" + function_cell(
        "clip", "gradients, maxValue", f"if maxValue == 10:\n    return honest(gradients, maxValue)\n{stop}")
    function = grade_cli(notebook(tmp_path, "dinosaur_island.ipynb", clip=source), "clip", hidden=2)["clip"]
    assert_no_credit(function, "not run: clip")
    cases = {case["name"]: case for case in function["cases"]}
    assert len(cases) == 4 and sum(case["passed"] for case in cases.values()) == 1
    assert all(not cases[name]["passed"] and cases[name]["message"].startswith("not run: clip")
               for name in ("hidden #1", "hidden #2"))


def test_a_right_loss_as_any_real_number_type_passes(tmp_path):
    honest = next(c for c in solution_cells("dinosaur_island.ipynb") if "GRADED FUNCTION: optimize" in c)
    source = honest.replace("def optimize(", "def honest(") + "\n" + function_cell(
        "optimize", "X, Y, a_prev, parameters, learning_rate=0.01",
        "loss, gradients, a = honest(X, Y, a_prev, parameters, learning_rate)\n"
        "return np.array([[loss]]) if len(X) % 2 else float(loss), gradients, a")
    functions = grade_cli(notebook(tmp_path, "dinosaur_island.ipynb", optimize=source), "optimize", hidden=2)
    assert_full_credit(functions["optimize"])


# --- the graded class itself: metaclasses, attribute hooks, hostile exceptions, introspection --------

@pytest.mark.parametrize("body", [
    # a metaclass and __init_subclass__ that do their own bookkeeping: harmless
    '''
    class Registry(type):
        seen = []
        def __call__(cls, *args, **kwargs):
            Registry.seen.append(cls.__name__)
            return super().__call__(*args, **kwargs)
    class Base:
        def __init_subclass__(cls, **kwargs):
            super().__init_subclass__(**kwargs)
            cls.registered = True
    class RNNCell(Base, HonestCell, metaclass=Registry):
        pass
    ''',
    # results memoised across the two cells of a case (keyed by the inputs, so always right)
    '''
    class RNNCell(HonestCell):
        memo = {}
        def __call__(self, x, prev_hidden):
            key = (x.tobytes(), prev_hidden.tobytes(), self.weight_ih.tobytes())
            fresh = super().__call__(x, prev_hidden)
            return RNNCell.memo.setdefault(key, fresh).copy()
    ''',
    # a __del__ that raises (Python ignores it) and one that clears class state
    '''
    class RNNCell(HonestCell):
        alive = 0
        def __init__(self, *weights):
            super().__init__(*weights)
            RNNCell.alive += 1
        def __del__(self):
            RNNCell.alive -= 1
            raise RuntimeError("ignored by Python")
    ''',
    # __getattr__ that answers anything it does not have (it has everything the script asks for)
    '''
    class RNNCell(HonestCell):
        def __getattr__(self, name):
            return lambda *args: None
    ''',
    # a method returning an internal array it changes afterwards: what it returned at the time counts
    '''
    class RNNCell(HonestCell):
        def backward(self, dh):
            self.dx_buffer = super().backward(dh)
            return self.dx_buffer
        def __call__(self, x, prev_hidden):
            if getattr(self, "dx_buffer", None) is not None:
                self.dx_buffer[...] = 0
            return super().__call__(x, prev_hidden)
    ''',
])
def test_an_honest_cell_in_unusual_dress_gets_full_credit(tmp_path, body):
    assert_full_credit(grade_cli(notebook(tmp_path, RNNCell=rnn_cell(body)), "RNNCell")["RNNCell"])


@pytest.mark.parametrize("body, words", [
    # __getattr__ answering anything: a class with no backward and no accumulators
    ('''
    class RNNCell:
        def __init__(self, *weights):
            self.weight_ih = weights[0]
        def __getattr__(self, name):
            if name.startswith("__"):
                raise AttributeError(name)
            return lambda *args: np.zeros((args[0].shape[0], self.weight_ih.shape[1])) if args else None
        def __call__(self, x, prev_hidden):
            return prev_hidden
    ''', ["has wrong values"]),
    # __getattribute__ serving zeros of the right shape for whatever is read
    ('''
    class RNNCell(HonestCell):
        def __getattribute__(self, name):
            if name.startswith("d") and name[1:2] in "Wb":
                return np.zeros_like(object.__getattribute__(self, "_dW_ih" if name == "dW_ih" else name))
            return object.__getattribute__(self, name)
    ''', ["has wrong values"]),
    # methods that return self, and the class itself where a gradient is read
    ('''
    class RNNCell(HonestCell):
        def backward(self, dh):
            super().backward(dh)
            return self
        @property
        def dW_ih(self):
            return RNNCell
    ''', ["got RNNCell"]),
    # a property that raises: the student's error, reported as such
    ('''
    class RNNCell(HonestCell):
        @property
        def dW_ih(self):
            raise ValueError("not ready")
    ''', ["ValueError: not ready"]),
    # a metaclass whose instances' class name cannot be read
    ('''
    class Nameless(type):
        @property
        def __name__(cls):
            raise RuntimeError("no name")
    class RNNCell(HonestCell, metaclass=Nameless):
        pass
    ''', ["RuntimeError: no name"]),
    # a metaclass whose call returns something else than an instance
    ('''
    class Factory(type):
        def __call__(cls, *args):
            return 42
    class RNNCell(HonestCell, metaclass=Factory):
        pass
    ''', ["error"]),
])
def test_a_class_that_fakes_its_answers_earns_nothing(tmp_path, body, words):
    function = grade_cli(notebook(tmp_path, RNNCell=rnn_cell(body, honest=HONEST_HIDDEN_GRADIENTS)), "RNNCell")
    function = function["RNNCell"]
    assert function["score"] == 0, function
    text = messages(function) + function["status"]
    assert all(word in text for word in words), (words, text)


def test_a_class_that_searches_the_worker_for_answers_finds_none(tmp_path):
    """The worker holds the case's inputs, never what they should give: a cell that reads every frame
    (inspect.stack, sys._getframe) and every object the garbage collector knows, and returns any array of
    the shape it needs that is not one of its own inputs, gets nothing."""
    body = '''
    import gc, inspect, sys

    class RNNCell(HonestCell):
        def harvest(self, shape, avoid):
            found = [value for frame in inspect.stack() for value in frame.frame.f_locals.values()]
            frame = sys._getframe()
            while frame is not None:
                found += list(frame.f_locals.values()) + list(frame.f_globals.values())
                frame = frame.f_back
            found += [item for item in gc.get_objects() if isinstance(item, np.ndarray)]
            for value in found:
                if isinstance(value, np.ndarray) and value.shape == shape and not any(value is a for a in avoid):
                    return value.copy()
            return np.zeros(shape)
        def backward(self, dh):
            x = self.steps[-1][0]
            dx = super().backward(dh)
            return self.harvest(dx.shape, [x, dx, dh])
    '''
    function = grade_cli(notebook(tmp_path, RNNCell=rnn_cell(body)), "RNNCell")["RNNCell"]
    assert_no_credit(function, "dx")


@pytest.mark.parametrize("raised", ["SystemExit(0)", "KeyboardInterrupt()", "BaseException('out')", "GeneratorExit()"])
def test_base_exceptions_from_a_method_cost_only_that_item(tmp_path, raised):
    body = f'''
    class RNNCell(HonestCell):
        def backward(self, dh):
            raise {raised}
    '''
    functions = grade_cli(notebook(tmp_path, RNNCell=rnn_cell(body)), "RNNCell", "gru_cell_forward")
    assert_no_credit(functions["RNNCell"], raised.split("(")[0])
    assert functions["RNNCell"]["status"] == "error"
    assert_full_credit(functions["gru_cell_forward"])


def test_a_del_that_kills_the_worker_costs_only_that_item(tmp_path):
    body = '''
    import os
    class RNNCell(HonestCell):
        def __del__(self):
            os._exit(0)
    '''
    functions = grade_cli(notebook(tmp_path, RNNCell=rnn_cell(body)), "RNNCell", "gru_cell_forward")
    assert functions["RNNCell"]["score"] == 0 and functions["RNNCell"]["status"] in ("crashed", "error")
    assert_full_credit(functions["gru_cell_forward"])


HOSTILE_ERRORS = '''
class Loud(Exception):
    def __str__(self):
        return "\\x1b[2J\\x1b]0;owned\\x07" + "A" * 1_000_000 + "\\nRNNCell PASSED 40/40"

class Mute(Exception):
    def __str__(self):
        raise SystemExit("from __str__")
    __repr__ = __str__

Weird = type("Bad\\nname\\x1b[31m", (Exception,), {})
'''


@pytest.mark.parametrize("raised, words", [
    ("Loud()", ["Loud"]),
    ("Mute()", ["Mute", "unprintable"]),
    ("Weird('x')", ["raised Bad?name?[31m: x"]),  # the class name on one line, no escape
])
def test_hostile_exceptions_are_reported_bounded_and_cost_only_that_item(tmp_path, raised, words):
    body = HOSTILE_ERRORS + f'''
class RNNCell(HonestCell):
    def backward(self, dh):
        raise {raised}
'''
    functions = grade_cli(notebook(tmp_path, RNNCell=rnn_cell(body)), "RNNCell", "gru_cell_forward")
    function = functions["RNNCell"]
    assert function["score"] == 0 and function["status"] == "error"
    text = messages(function)
    assert all(word in text for word in words), (words, text[:500])
    assert len(json.dumps(function)) < 30_000  # a megabyte of message is cut in the worker
    assert_full_credit(functions["gru_cell_forward"])


# --- returned containers: dicts, tuples and lists ------------------------------------------------

def wrapping(name: str, signature: str, call: str, returned: str, base: str = BPTT) -> str:
    """The reference ``name`` under another name, and a graded ``name`` returning ``returned`` of its result."""
    honest = next(c for c in solution_cells(base) if f"GRADED FUNCTION: {name}" in c)
    return honest.replace(f"def {name}(", "def honest(") + "\n" + function_cell(
        name, signature, f"result = honest({call})\nreturn {returned}")


LSTM = ("lstm_cell_backward", "da_next, dc_next, cache", "da_next, dc_next, cache")
GRU = ("gru_cell_forward", "xt, a_prev, parameters", "xt, a_prev, parameters")


@pytest.mark.parametrize("item, returned", [
    (LSTM, "{**result, 'extra': 'kept out of it', 0: None, ('t', 1): 1.5, 2.5: [1, 2]}"),   # extra keys of any kind
    (LSTM, "dict(reversed(list(result.items())))"),                                         # another key order
    (LSTM, "{key: value.astype(np.float32) for key, value in result.items()}"),
    (GRU, "[result[0], list(result[1])]"),                                                  # lists for tuples
    (GRU, "(result[0], tuple(result[1][:-1]) + (dict(result[1][-1]),))"),
    (GRU, "(result[0].copy(), result[1])"),  # the cache holds the inputs themselves, as the reference's does
])
def test_right_results_in_any_reasonable_container_get_full_credit(tmp_path, item, returned):
    name, signature, call = item
    source = wrapping(name, signature, call, returned)
    assert_full_credit(grade_cli(notebook(tmp_path, **{name: source}), name)[name])


@pytest.mark.parametrize("item, returned, words", [
    (LSTM, "{key: value for key, value in result.items() if key != 'dbo'}", ["missing the key(s) 'dbo'"]),
    (LSTM, "{key.encode(): value for key, value in result.items()}", ["missing the key(s)"]),
    (LSTM, "list(result.values())", ["should be a dict", "got list"]),
    (LSTM, "{key: cache[-1].get('W' + key[2:], value) for key, value in result.items()}", ["has wrong values"]),
    (LSTM, "{key: np.zeros_like(value) for key, value in result.items()}", ["has wrong values"]),
    (LSTM, "{**result, 'dxt': result['dxt'][None]}", ["has shape (1, 3, 10), expected (3, 10)"]),
    (GRU, "result[0]", ["should return 2 values"]),
    (GRU, "(result[0], result[1], result[1])", ["should return 2 values", "got 3"]),
    (GRU, "(a_prev, (a_prev, a_prev, xt, a_prev, a_prev, a_prev, parameters))", ["has wrong values"]),  # the inputs
    (GRU, "(result[0], result[1][:-1])", ["should hold 7 values, got 6"]),
    (GRU, "(result[0], {'cache': result[1]})", ["should be a tuple of 7 values", "got dict"]),
    (GRU, "(result[0], iter(result[1]))", ["got tuple_iterator"]),
])
def test_containers_that_do_not_hold_the_right_results_earn_nothing(tmp_path, item, returned, words):
    name, signature, call = item
    source = wrapping(name, signature, call, returned)
    assert_no_credit(grade_cli(notebook(tmp_path, **{name: source}), name)[name], *words)


def test_a_dict_subclass_is_refused_by_name_or_read_as_its_items(tmp_path):
    """An OrderedDict of the right arrays: the wire sends plain dicts only, so it is refused with its name
    (were the wire to send its items as a plain dict, it would pass; either way, never a crash)."""
    source = wrapping(*LSTM, "__import__('collections').OrderedDict(result)")
    function = grade_cli(notebook(tmp_path, lstm_cell_backward=source), "lstm_cell_backward")["lstm_cell_backward"]
    assert function["status"] == "passed" or "OrderedDict" in messages(function)


def test_a_forged_result_frame_with_malformed_arguments_after_the_call_fails_the_case(tmp_path):
    """optimize must update ``parameters`` in place, which the worker reports as the arguments after the
    call. A notebook that writes its own result frame (with the call's id, read from the worker's frames)
    claiming one argument only is judged on that claim: the case fails, and the grader goes on."""
    body = '''
    import sys
    loss, gradients, a = honest(X, Y, a_prev, parameters, learning_rate)
    frame = sys._getframe()
    while frame is not None and "request" not in frame.f_locals:
        frame = frame.f_back
    if frame is not None:
        frame.f_globals["send"]({"op": "result", "nonce": frame.f_locals["request"].get("nonce"), "error": None},
                                value=(loss, gradients, a), extra={"output": "", "args_after": ["short"],
                                                                   "changed": [3]})
    return loss, gradients, a
    '''
    honest = next(c for c in solution_cells("dinosaur_island.ipynb") if "GRADED FUNCTION: optimize" in c)
    source = honest.replace("def optimize(", "def honest(") + "\n" + function_cell(
        "optimize", "X, Y, a_prev, parameters, learning_rate=0.01", body)
    function = grade_cli(notebook(tmp_path, "dinosaur_island.ipynb", optimize=source), "optimize")["optimize"]
    assert_no_credit(function, "parameters (after the call) should be a dict")


# --- the comparison's own rules ---------------------------------------------------------------------

TOL = Tolerance(1e-6, 1e-9)


def passes(expected, actual, tol: Tolerance = TOL, path: str = "result") -> bool:
    return not [m for m in compare(expected, actual, tol, path=path) if m.kind != "note"]


def test_tolerance_is_relative_to_the_expected_value_with_an_absolute_floor_near_zero():
    want = np.array([1000.0, 1.0, 1e-3, 0.0])
    assert passes(want, want * (1 + 9e-7))                       # relative: 1e-6 of each value
    assert not passes(want, want + np.array([2e-3, 0, 0, 0]))    # 2e-6 relative on the large one
    assert passes(want, want + np.array([0, 0, 0, 9e-10]))       # exactly 0 expected: |got| <= atol
    assert not passes(want, want + np.array([0, 0, 0, 2e-9]))
    # an output whose values are all tiny is not "close to anything tiny": zeros fail it
    tiny = np.array([3e-8, -5e-8, 6e-8])
    assert not passes(tiny, np.zeros(3))
    # the tolerance is measured against the expected value, not the student's (no credit for inflating it)
    assert not passes(np.array([1.0]), np.array([1e9]))


def test_negative_zero_and_denormals_are_numbers_like_any_other():
    assert passes(np.array([0.0, -0.0]), np.array([-0.0, 0.0]))
    assert passes(np.array([5e-324, 0.0]), np.array([0.0, 5e-324]))
    assert passes(0.0, -0.0) and passes(-0.0, 5e-324)


def test_nan_and_inf_pass_only_where_the_reference_has_them():
    assert passes(np.array([np.nan, 1.0]), np.array([np.nan, 1.0]))
    assert not passes(np.array([np.nan, 1.0]), np.array([0.0, 1.0]))
    assert not passes(np.array([0.0, 1.0]), np.array([np.nan, 1.0]))
    assert passes(np.array([np.inf, -np.inf]), np.array([np.inf, -np.inf]))
    assert not passes(np.array([np.inf]), np.array([-np.inf]))
    assert not passes(np.array([1.0]), np.array([np.inf]))
    assert passes(float("nan"), np.float64("nan")) and not passes(1.0, float("nan"))
    assert not passes(float("nan"), 1.0)


def test_integers_are_exact_and_integer_answers_to_real_values_are_fine():
    assert passes(np.array([1.0, 2.0]), np.array([1, 2]))               # an int array of the right values
    assert passes(np.array([3, 4]), np.array([3.0, 4.0]))               # floats holding the integers exactly
    assert not passes(np.array([3, 4]), np.array([3.0000001, 4.0]))     # within rtol, but not the integer
    assert not passes(np.array([10**7]), np.array([10**7 + 1]))
    assert passes(7, 7.0) and passes(7, np.int8(7)) and not passes(7, 7.000001)
    assert not passes(10**30, 10**30 + 1) and passes(10**30, 10**30)
    assert not passes(np.array([1, 0]), np.array([True, False]))        # bools are not numbers


def test_float32_passes_within_the_tolerance_and_narrow_floats_are_named_when_they_fail():
    rng = np.random.default_rng(0)
    want = rng.standard_normal((6, 7))
    assert passes(want, want.astype(np.float32))                      # float32 rounding: < 6e-8 relative
    found = compare(want, want.astype(np.float16), TOL)
    assert "float16" in found[0].message and "float64" in found[0].message
    exact = Tolerance(0, 1e-12)                                        # clip's tolerance: exact answers only
    found = compare(want, want.astype(np.float32), exact)
    assert found and "float32" in found[0].message


def test_big_and_strange_numbers_are_refused_without_raising():
    assert not passes(1.5, 10**350)
    assert not passes(np.array([1.5]), 10**350, path="cache")        # a cache accepts broadcast numbers, not these
    assert not passes(1.5, np.longdouble("1e4000"))
    assert not passes(np.array([1.5]), np.array([np.longdouble("1e4000")]))
    assert passes(1.5, np.longdouble(1.5)) and passes(1.5, np.float16(1.5))
    assert not passes(1.5, 1.5 + 0j) and not passes(1.5, np.complex64(1.5)) and not passes(1.5, True)


def test_messages_show_type_names_sent_by_the_worker_on_one_printable_line():
    from grader.wire import Opaque

    found = compare(np.zeros(2), Opaque("Fake\nresult PASSED\x1b[2J", "unsupported type"), TOL)
    assert "\n" not in found[0].message and "\x1b" not in found[0].message
    assert "Fake?result PASSED?[2J" in found[0].message


def _plain_samples() -> list:
    """One of every kind of value wire.py can decode, including the awkward ones."""
    from grader.wire import Opaque

    arrays = [np.zeros((2, 3)), np.arange(6).reshape(2, 3), np.ones((2, 3), dtype=bool), np.ones((2, 3), complex),
              np.zeros((0, 3)), np.array(2.5), np.array([np.nan, np.inf]), np.ones(3, np.float16),
              np.array([np.longdouble("1e4000")]), np.array([2**63 - 1], np.int64), np.array([2**64 - 1], np.uint64),
              np.zeros((2, 3), ">f8")]
    scalars = [None, True, False, np.bool_(True), 0, -0.0, 1, 10**350, -10**350, 2.5, float("nan"), float("inf"),
               np.float16(1), np.longdouble("1e4000"), np.int8(-1), np.uint64(2**64 - 1), np.complex128(1j),
               np.complex64(1), "", "x" * 100, Opaque("generator"), Opaque("ndarray", "ndarray subclass"),
               Opaque("\x1b[31m\n", "too large")]
    containers = [(), [], {}, (1, 2), [np.zeros(2), "x"], {"a": np.zeros(2)}, {0: 1, (1, 2): None, Opaque("k"): 3},
                  {"dW_ih": [np.zeros((2, 3))], "cell 2 dW_ih": [True]}, [[[[1]]]], (np.zeros(2), (np.zeros(2),))]
    return arrays + scalars + containers


def test_compare_is_total_over_everything_the_wire_decodes():
    """Every pair of decodable values, either way round, in a cache or not: a list of mismatches, never an
    exception, and a value always matches itself unless it holds NaN or did not cross (an Opaque)."""
    samples = _plain_samples()
    for expected in samples:
        for actual in samples:
            for path in ("result", "cache"):
                found = compare(expected, actual, TOL, path=path)
                assert isinstance(found, list), (expected, actual)
        if not _holds_nan_or_opaque(expected):
            assert passes(expected, expected), expected


def _holds_nan_or_opaque(value) -> bool:
    from grader.wire import Opaque

    if isinstance(value, (list, tuple)):
        return any(_holds_nan_or_opaque(item) for item in value)
    if isinstance(value, dict):
        return any(_holds_nan_or_opaque(item) for item in value.values())
    if isinstance(value, Opaque):
        return True
    try:
        with np.errstate(all="ignore"):
            return bool(np.isnan(np.asarray(value, dtype=np.complex128)).any())
    except (TypeError, ValueError, OverflowError):
        return False


def test_the_shared_state_check_is_total_and_bounded():
    """The judge of RNNCell compares the student's first cell with their second: any two values."""
    from grader.course import get_assignment
    from grader.course.bptt.judges import SECOND, RepeatedCellJudge
    from grader.course.spec import Expectation

    spec = get_assignment("bptt_by_hand").function("RNNCell")
    right = [np.ones((2, 3))]
    expectation = Expectation(value={"dW_ih": right, SECOND + "dW_ih": right})
    for first in _plain_samples():
        for second in _plain_samples():
            value = {"dW_ih": [first], SECOND + "dW_ih": [second], "junk": first, SECOND + "junk": second}
            assert RepeatedCellJudge().mismatches(spec, expectation, value, None, spec.tolerance)


def test_a_judge_that_raises_fails_the_case_and_says_why_not_the_grader():
    """The last line of defence, for a value no rule foresaw: the case fails with a message naming the
    grader as the culprit; the notebook's other cases and items are graded as usual."""
    import dataclasses

    from grader.execute import CallOutcome
    from grader.judges import ValuesJudge, judge

    class Fragile(ValuesJudge):
        def mismatches(self, *args, **kwargs):
            raise OverflowError("a value no rule foresaw")

    spec = dataclasses.replace(__import__("grader.course", fromlist=["x"]).get_assignment("bptt_by_hand")
                               .function("gru_cell_forward"), judge=Fragile())
    result = judge(spec, "case", False, None, CallOutcome(value=1), TOL)
    assert not result.passed
    assert "could not judge what gru_cell_forward returned (OverflowError)" in result.message


@pytest.mark.parametrize("returned", ["[float('inf')] + result[1:]", "[float('nan')] + result[1:]",
                                      "[10**350] + result[1:]", "result[:-1] + [1e300]"])
def test_sample_draws_that_are_not_integers_fail_without_stopping_the_diagnosis(tmp_path, returned):
    """Dinosaur Island's sample: a draw that is no integer is refused, and the diagnosis that then
    compares the student's draws with each mistake model's (int() of inf raised) finds nothing, quietly."""
    source = wrapping("sample", "parameters, char_to_ix, seed", "parameters, char_to_ix, seed", returned,
                      base="dinosaur_island.ipynb")
    function = grade_cli(notebook(tmp_path, "dinosaur_island.ipynb", sample=source), "sample")["sample"]
    assert_no_credit(function, "indices")


def test_every_judge_answers_the_diagnosis_questions_without_raising():
    """Whatever the arguments (here: nothing a judge can read), the answer is False, not an exception."""
    from grader.course.registry import list_assignments
    from grader.judges import ValuesJudge

    judges = {type(spec.judge) for assignment in list_assignments() for spec in assignment.functions
              if spec.judge is not None} | {ValuesJudge}
    assert len(judges) >= 4  # the stock one, the class judges, Dinosaur Island's
    for kind in judges:
        judge = kind.__new__(kind)
        assert judge.differs(None, None, None, None, None) is False, kind
        assert judge.reproduces(None, None, None, None, None, None) is False, kind


def test_a_step_that_writes_into_its_argument_does_not_rewrite_the_kept_results(tmp_path):
    """Each step gets the previous step's hidden state as an argument: a copy of what was kept, so a
    cell that writes into it (then ignores it) is judged on what each step returned."""
    body = '''
    class RNNCell(HonestCell):
        def __call__(self, x, prev_hidden):
            keep = prev_hidden.copy()
            prev_hidden[...] = 123.0
            return super().__call__(x, keep)
    '''
    assert_full_credit(grade_cli(notebook(tmp_path, RNNCell=rnn_cell(body)), "RNNCell")["RNNCell"])


def test_a_class_right_only_on_the_published_inputs_scores_zero(tmp_path):
    body = '''
    class RNNCell(HonestCell):
        def __call__(self, x, prev_hidden):
            if x.shape != (3, 4) or abs(x[0, 0] - 0.69646919) > 1e-6 and not self.steps:
                return np.zeros((x.shape[0], self.weight_hh.shape[0]))
            return super().__call__(x, prev_hidden)
    '''
    function = grade_cli(notebook(tmp_path, RNNCell=rnn_cell(body)), "RNNCell", hidden=2)["RNNCell"]
    assert_no_credit(function, "none of the randomized cases")


def test_instances_that_share_state_are_told_so_in_hidden_cases_too(tmp_path):
    """The message names no expected value, so a hidden case says it as well as the published one."""
    body = '''
    class RNNCell(HonestCell):
        totals = {}
        def __init__(self, *weights):
            super().__init__(*weights)
            key = tuple(w.shape for w in weights)
            self._dW_ih = RNNCell.totals.setdefault(key, np.zeros_like(weights[0]))
    '''
    function = grade_cli(notebook(tmp_path, RNNCell=rnn_cell(body, honest=HONEST_HIDDEN_GRADIENTS + '''
HonestCell.dW_ih = property(lambda self: self._dW_ih)
''')), "RNNCell")["RNNCell"]
    assert function["score"] == 0
    hidden = [case for case in function["cases"] if case["hidden"]]
    assert hidden and all("the instances share state" in case["message"] for case in hidden), function["cases"]


def test_an_exception_whose_class_name_cannot_be_read_costs_only_that_item(tmp_path):
    body = '''
    class NoName(type):
        @property
        def __name__(cls):
            raise SystemExit("no name either")
    class Faceless(Exception, metaclass=NoName):
        pass
    class RNNCell(HonestCell):
        def backward(self, dh):
            raise Faceless()
    '''
    functions = grade_cli(notebook(tmp_path, RNNCell=rnn_cell(body)), "RNNCell", "gru_cell_forward")
    assert functions["RNNCell"]["score"] == 0 and functions["RNNCell"]["status"] in ("error", "crashed")
    assert_full_credit(functions["gru_cell_forward"])


def test_a_cell_computing_in_float32_throughout_fails_and_is_told_why(tmp_path):
    """The policy (README, grading rules): the item's tolerance decides, relative 1e-6 here. A float32
    rounding of the right answer is within it (see the float32 return above); a whole computation in
    float32 accumulates errors beyond it, and the message says the dtype lacks the digits."""
    body = '''
    class RNNCell(HonestCell):
        def __init__(self, *weights):
            super().__init__(*[w.astype(np.float32) for w in weights])
        def __call__(self, x, prev_hidden):
            return super().__call__(x.astype(np.float32), prev_hidden.astype(np.float32))
        def backward(self, dh):
            return super().backward(dh.astype(np.float32))
    '''
    function = grade_cli(notebook(tmp_path, RNNCell=rnn_cell(body)), "RNNCell")["RNNCell"]
    assert_no_credit(function, "it is float32, which keeps about 6 significant digits: compute and return float64")


def test_notes_never_crowd_out_a_failure():
    """Inside caches a number equal to a constant array is accepted with a note; the message keeps two
    mismatches. Two such notes ahead of a wrong array used to fill both places: the wrong array passed."""
    want = (np.zeros(3), np.zeros(3), np.ones(3))
    found = compare(want, (0.0, 0.0, np.zeros(3)), TOL, path="cache")
    assert [m.kind for m in found] == ["values"] and found[0].path == "cache[2]"
    assert [m.kind for m in compare(want, (0.0, 0.0, np.ones(3)), TOL, path="cache")] == ["note", "note"]

    from grader.course import get_assignment
    from grader.judges import named_mismatches

    spec = get_assignment("bptt_by_hand").function("gru_cell_forward")
    wrong = named_mismatches(spec, (np.zeros(2), want), (np.zeros(2), (0.0, 0.0, np.zeros(3))), TOL)
    assert [m.kind for m in wrong if m.kind != "note"] == ["values"]


def test_the_shared_state_check_never_compares_what_is_not_shaped_like_the_reference(monkeypatch):
    """Two 30 MB int8 arrays in the student's results (within what the wire carries) would cost the
    grader half a gigabyte as float64: the check compares only values shaped like the reference's."""
    from grader.course import get_assignment
    from grader.course.bptt import judges as bptt_judges
    from grader.course.spec import Expectation

    compared = []
    real_compare = bptt_judges.compare
    monkeypatch.setattr(bptt_judges, "compare", lambda a, b, tol, path: compared.append(path) or real_compare(
        a, b, tol, path=path))
    spec = get_assignment("bptt_by_hand").function("RNNCell")
    right = [np.ones((2, 3))]
    expectation = Expectation(value={"dW_ih": right, bptt_judges.SECOND + "dW_ih": right})
    big = [np.zeros(30_000_000, np.int8)]
    value = {"dW_ih": big, bptt_judges.SECOND + "dW_ih": [np.ones(30_000_000, np.int8)], "junk": big,
             bptt_judges.SECOND + "junk": big}
    assert bptt_judges.RepeatedCellJudge().mismatches(spec, expectation, value, None, spec.tolerance)
    assert compared == []


def test_many_notes_are_capped_like_failures():
    want = tuple(np.zeros(2) for _ in range(1000)) + (np.ones(2),)
    found = compare(want, tuple(0.0 for _ in range(1000)) + (np.zeros(2),), TOL, path="cache")
    assert [m.kind for m in found] == ["values"]
    assert len(compare(want, tuple(0.0 for _ in range(1000)) + (np.ones(2),), TOL, path="cache")) == 2


def test_an_ndarray_subclass_lying_about_its_size_costs_only_that_item(tmp_path):
    """A subclass whose nbytes says 0 for 80 MB slips past the worker's size budget; the frame is then
    refused by the grader's reader (no credit, 'malformed data'), and the next item is graded as usual."""
    body = LOOK_ALIKES + '''
class Liar(np.ndarray):
    nbytes = property(lambda self: 0)
class RNNCell(HonestCell):
    def backward(self, dh):
        super().backward(dh)
        return np.zeros(10**7).view(Liar)
'''
    functions = grade_cli(notebook(tmp_path, RNNCell=rnn_cell(body)), "RNNCell", "gru_cell_forward")
    assert functions["RNNCell"]["score"] == 0 and functions["RNNCell"]["status"] != "passed"
    assert_full_credit(functions["gru_cell_forward"])


# --- scoring -----------------------------------------------------------------------------------------

def test_hard_coding_one_of_two_published_cases_earns_nothing_either(tmp_path):
    """Dinosaur Island's sample has two published cases. Right on the first only (recognised by its
    weights) and wrong everywhere else: the published pass is known in advance, so it earns nothing, as
    hard-coding both would not."""
    from grader import resources
    from grader.course import get_assignment
    from grader.course.recipes import build_call
    from grader.course.reference import load_reference

    spec = get_assignment("dinosaur_island")
    (_, recipe), (_, other) = spec.function("sample").published
    references = load_reference(spec, resources.solutions_dir(spec))
    marker = float(build_call(recipe, references.get)[0][0]["Wax"][0, 0])
    assert marker != float(build_call(other, references.get)[0][0]["Wax"][0, 0])
    source = wrapping("sample", "parameters, char_to_ix, seed", "parameters, char_to_ix, seed",
                      f"result if parameters['Wax'][0, 0] == {marker!r} else [char_to_ix['a'], char_to_ix['\\n']]",
                      base="dinosaur_island.ipynb")
    function = grade_cli(notebook(tmp_path, "dinosaur_island.ipynb", sample=source), "sample", hidden=2)["sample"]
    assert function["cases"][0]["passed"] and not any(case["passed"] for case in function["cases"][1:])
    assert_no_credit(function, "none of the randomized cases")


def test_scoring_without_a_hidden_pass():
    from grader.results import CaseResult
    from grader.score import score_cases

    published, failed = CaseResult("p", False, True), CaseResult("p2", False, False)
    hidden_pass, hidden_fail = CaseResult("h", True, True), CaseResult("h2", True, False)
    assert score_cases(20, [published, failed, hidden_fail, hidden_fail]) == 0       # one of two published
    assert score_cases(20, [published, failed, hidden_pass, hidden_fail]) == 10      # backed by a hidden pass
    assert score_cases(20, [published, failed]) == 10                                  # no hidden cases at all


# --- a property: compare is total over random plain data, both ways round ----------------------------

def _filled(dtype: str, shape: tuple, fill: float) -> np.ndarray:
    with np.errstate(all="ignore"):  # NaN or 1e300 as int8: whatever bits, still a valid array
        return np.full(shape, fill).astype(dtype)


def _random_plain():
    """A Hypothesis strategy for what wire.decode can return: scalars of every kind, arrays of every
    dtype it lets through (0-size and 0-d included), Opaque markers, and nested tuples, lists and dicts."""
    from hypothesis import strategies as st

    from grader.wire import Opaque

    dtypes = ["b1", "i1", "i8", "u8", "f2", "f4", "f8", "c8", "c16", ">f8"]
    arrays = st.builds(
        _filled, st.sampled_from(dtypes), st.sampled_from([(), (0,), (1,), (3,), (2, 3), (3, 2), (0, 3), (1, 1, 1)]),
        st.sampled_from([0.0, -0.0, 1.0, 1e-310, 1e300, float("nan"), float("inf"), 3.0]))
    scalars = st.one_of(
        st.none(), st.booleans(), st.integers(), st.integers(min_value=10**300, max_value=10**399),
        st.floats(allow_nan=True, allow_infinity=True), st.text(max_size=20),
        st.sampled_from([np.float16(1.5), np.float32(-0.0), np.int8(3), np.uint64(2**64 - 1), np.bool_(False),
                         np.complex128(1j), np.longdouble("1e4000")]),
        st.builds(Opaque, st.text(max_size=10), st.sampled_from(["unsupported type", "too large", "ndarray subclass"])))
    keys = st.one_of(st.text(max_size=8), st.integers(), st.tuples(st.integers()), st.none())
    return st.recursive(st.one_of(scalars, arrays), lambda inner: st.one_of(
        st.lists(inner, max_size=4), st.lists(inner, max_size=4).map(tuple),
        st.dictionaries(keys, inner, max_size=4)), max_leaves=12)


def test_compare_never_raises_on_random_plain_data():
    hypothesis = pytest.importorskip("hypothesis")
    from hypothesis import HealthCheck, given, settings

    strategy = _random_plain()

    @settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
    @given(strategy, strategy, hypothesis.strategies.sampled_from(["result", "cache"]))
    def check(expected, actual, path):
        with np.errstate(all="raise"):  # nothing may even warn its way out: every numeric step is guarded
            for found in (compare(expected, actual, TOL, path=path), compare(actual, expected, TOL, path=path)):
                assert isinstance(found, list)
                assert sum(m.kind != "note" for m in found) <= 2
        if not _holds_nan_or_opaque(expected):
            assert passes(expected, expected)

    check()
