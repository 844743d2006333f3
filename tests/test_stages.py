"""The pure stages on their own: the wire format, comparison, scoring, IPython syntax, the public API."""
from __future__ import annotations

import numpy as np
import pytest

import grader
from grader import wire
from grader.compare import compare
from grader.course.spec import Tolerance
from grader.load import to_python
from grader.results import CaseResult, Status
from grader.score import score_cases, status_of

TOL = Tolerance(1e-6, 1e-9)


def roundtrip(value):
    header, blobs = wire.encode(value)
    frame = wire.pack({"payload": header}, blobs)
    reader = wire.FrameReader()
    reader.feed(frame)
    got, got_blobs = reader.next_frame()
    return wire.decode(got["payload"], got_blobs)


def test_wire_keeps_plain_values_and_arrays_exactly():
    value = {"a": np.arange(6.0).reshape(2, 3), "t": (1, 2.5, None, True, "x"), "l": [np.int64(3), np.float32(0.5)]}
    back = roundtrip(value)
    assert back["a"].dtype == np.float64 and np.array_equal(back["a"], value["a"])
    assert back["t"] == (1, 2.5, None, True, "x") and back["l"][0] == 3 and back["l"][1].dtype == np.float32


@pytest.mark.parametrize("value, reason", [
    (np.zeros(3, dtype=object), "dtype object"),
    (np.ma.masked_array([1.0, 2.0]), "ndarray subclass"),
    (np.rec.array(np.zeros(2)), "ndarray subclass"),
    (object(), "unsupported type"),
    ((x for x in []), "unsupported type"),
])
def test_wire_turns_anything_else_into_opaque(value, reason):
    back = roundtrip(value)
    assert isinstance(back, wire.Opaque) and back.reason == reason


def test_wire_refuses_oversized_and_malformed_frames():
    header, blobs = wire.encode(np.zeros(1000), max_bytes=100)
    assert wire.decode(header, blobs) == wire.Opaque("ndarray", "too large")
    reader = wire.FrameReader()
    reader.feed(b"XXXX" + b"\x00" * 8)
    with pytest.raises(wire.WireError):
        reader.next_frame()
    with pytest.raises(wire.WireError):
        wire.decode(["a", "<f8", [10]], [b"\x00" * 8])


def test_compare_checks_type_shape_finiteness_and_values_in_that_order():
    want = np.ones((5, 10))
    assert compare(want, want.copy(), TOL) == []
    assert "transposed" in compare(want, want.T.copy(), TOL)[0].message
    assert compare(want, 1.0, TOL)[0].kind == "type"
    assert compare(want, np.full((5, 10), np.nan), TOL)[0].kind == "nonfinite"
    bad = want.copy()
    bad[2, 3] = 2
    message = compare(want, bad, TOL, path="a")[0].message
    assert "first at a[2, 3]" in message and "max abs error 1" in message


def test_compare_allows_extra_keys_and_lists_for_tuples():
    assert compare({"dWax": np.zeros(2)}, {"dWax": np.zeros(2), "da_next": 1}, TOL) == []
    assert compare((np.zeros(2), 1.0), [np.zeros(2), 1.0], TOL) == []
    assert compare({"dWax": np.zeros(2)}, {}, TOL)[0].kind == "keys"


def test_scoring_rules():
    passed = CaseResult("published", False, True)
    hidden_fail = CaseResult("hidden #1", True, False, "x")
    assert score_cases(25, [passed, CaseResult("hidden #1", True, True)]) == 25
    assert score_cases(25, [passed, hidden_fail]) == 0  # only the published example: hard-coded
    assert score_cases(25, [passed, passed, hidden_fail, CaseResult("hidden #2", True, True)]) == 18.75
    assert status_of([hidden_fail], "timeout", False) == Status.TIMEOUT
    assert status_of([hidden_fail], "", True) == Status.NOT_IMPLEMENTED


def test_ipython_syntax_becomes_python():
    source, notes = to_python("%matplotlib inline\n!pip install x\nfiles = !ls\nx = 1")
    assert source.splitlines() == ["pass", "pass", "files = []", "x = 1"] and "shell escape not run" in notes
    assert to_python("%%bash\nrm -rf /")[0] is None
    assert to_python("%%time\ny = 2")[0].strip() == "y = 2"


def test_public_api_is_exactly_all():
    assert sorted(grader.__all__) == ["CaseResult", "CellIssue", "FunctionResult", "GradeConfig", "GraderError",
                                      "NotebookResult", "Status", "check", "grade_batch", "grade_notebook"]
    for name in grader.__all__:
        assert getattr(grader, name) is not None


def test_a_huge_list_of_small_values_is_refused():
    header, blobs = wire.encode(list(range(100_000)), max_bytes=10_000)
    assert wire.decode(header, blobs) == wire.Opaque("list", "too large")
    header, blobs = wire.encode({"k": list(range(100))}, max_bytes=10_000)
    assert wire.decode(header, blobs) == {"k": list(range(100))}


def test_hidden_cases_are_reproducible_per_notebook(tmp_path):
    from grader.config import GradeConfig
    from grader.pipeline import hidden_seed

    first, second = tmp_path / "a.ipynb", tmp_path / "b.ipynb"
    first.write_text("{}")
    second.write_text("{ }")
    config = GradeConfig()
    assert hidden_seed(first, config) == hidden_seed(first, config) != hidden_seed(second, config)
    assert hidden_seed(first, config.with_changes(hidden_seed=7)) == 7


def test_one_oversized_value_does_not_spoil_the_rest():
    header, blobs = wire.encode({"value": np.zeros(10_000), "extra": {"output": "hello"}}, max_bytes=1_000)
    back = wire.decode(header, blobs)
    assert back["value"] == wire.Opaque("ndarray", "too large") and back["extra"] == {"output": "hello"}
