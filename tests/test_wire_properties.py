"""The decoder is total: whatever bytes a worker writes, the grader gets plain data or WireError.

Property-based (Hypothesis): random bytes in random chunks, truncated frames, random JSON headers,
random and mutated value trees, deep nesting and absurd sizes. Then the same through a real
worker: a notebook that writes hostile frames on its response pipe ends as a clean verdict."""
from __future__ import annotations

import json
import struct
import textwrap
from pathlib import Path

import numpy as np
import pytest

hypothesis = pytest.importorskip("hypothesis")
from hypothesis import HealthCheck, given, settings, strategies as st  # noqa: E402

from grader import wire  # noqa: E402
from grader.pipeline import grade_notebook  # noqa: E402
from grader.sandbox import header_error, header_functions, header_index  # noqa: E402

from conftest import FAST, make_notebook, replace_function, solution_cells  # noqa: E402

PROPERTY = settings(max_examples=300, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow])


def is_plain(value, depth: int = 0) -> bool:
    """What decode may return: plain Python values, numeric numpy values, Opaque markers."""
    if depth > wire.MAX_DEPTH + 2:
        return False
    if value is None or type(value) in (bool, int, float, str, wire.Opaque):
        return True
    if type(value) is np.ndarray or isinstance(value, np.generic):
        return value.dtype.kind in "biufc"
    if type(value) in (list, tuple):
        return all(is_plain(item, depth + 1) for item in value)
    if type(value) is dict:
        return all(is_plain(k, depth + 1) and is_plain(v, depth + 1) for k, v in value.items())
    return False


def read_all(data: bytes, chunks: list[int]) -> list[tuple[dict, list[bytes]]]:
    """Feed ``data`` in pieces the way Worker.wait_for does, taking frames out as they complete."""
    reader, frames, position = wire.FrameReader(), [], 0
    for size in [*chunks, len(data)]:
        reader.feed(data[position:position + size])
        position += size
        while (frame := reader.next_frame()) is not None:
            frames.append(frame)
    return frames


def grader_view(data: bytes, chunks: list[int]) -> list:
    """Everything the grader does with a worker's bytes before judging: frames, then payloads and
    header fields. Returns what it got; the only exception allowed out is WireError."""
    got = []
    for header, blobs in read_all(data, chunks):
        assert type(header) is dict and all(type(blob) is bytes for blob in blobs)
        if "payload" in header:
            value = wire.decode(header["payload"], blobs)
            assert is_plain(value)
            got.append(value)
        header_index(header)
        header_error(header.get("error"))
        header_functions(header.get("functions"), ["rnn_forward", "clip"])
    return got


def frame(header_bytes: bytes, blobs: list[bytes] = ()) -> bytes:
    return wire.MAGIC + struct.pack(">I", len(header_bytes)) + header_bytes + b"".join(blobs)


json_values = st.recursive(
    st.none() | st.booleans() | st.integers(min_value=-(1 << 80), max_value=1 << 80)
    | st.floats(allow_nan=True, allow_infinity=True) | st.text(max_size=20),
    lambda children: st.lists(children, max_size=5) | st.dictionaries(st.text(max_size=8), children, max_size=5),
    max_leaves=40)

tags = st.sampled_from(["none", "bool", "int", "float", "str", "ndarray", "scalar", "tuple", "list", "dict",
                        "opaque", "nope"])
fields = st.sampled_from(["t", "v", "items", "keys", "values", "dtype", "shape", "blob", "exact", "cls", "type"])
tree_like = st.recursive(
    st.fixed_dictionaries({"t": tags}, optional={"v": json_values, "dtype": st.sampled_from(
        ["<f8", "<i4", "|b1", "f16", "<c8", "O", "<U3", "i3", "<f8\x00", "=u2"]) | json_values,
        "shape": st.lists(st.integers(min_value=-3, max_value=1 << 70), max_size=4) | json_values,
        "blob": st.integers(min_value=-3, max_value=5) | json_values, "exact": json_values}),
    lambda children: st.fixed_dictionaries({"t": tags}, optional={
        "items": st.lists(children, max_size=4), "keys": st.lists(children, max_size=3),
        "values": st.lists(children, max_size=3)}),
    max_leaves=30)

plain_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=30)
    | st.builds(lambda shape, seed: np.random.default_rng(seed).standard_normal(shape),
                st.lists(st.integers(0, 4), max_size=3).map(tuple), st.integers(0, 10)),
    lambda children: st.lists(children, max_size=4) | st.lists(children, max_size=4).map(tuple)
    | st.dictionaries(st.text(max_size=8), children, max_size=4),
    max_leaves=25)


@PROPERTY
@given(st.binary(max_size=400), st.lists(st.integers(0, 64), max_size=8))
def test_random_bytes_give_frames_or_wire_error(data, chunks):
    for prefixed in (data, wire.MAGIC + data, wire.MAGIC + struct.pack(">I", len(data)) + data):
        try:
            grader_view(prefixed, chunks)
        except wire.WireError:
            pass


@PROPERTY
@given(json_values, st.lists(st.binary(max_size=40), max_size=4), st.lists(st.integers(0, 64), max_size=8))
def test_random_json_headers_are_handled(header, blobs, chunks):
    data = frame(json.dumps(header).encode(), blobs)
    try:
        grader_view(data, chunks)
    except wire.WireError:
        pass


@PROPERTY
@given(tree_like, st.lists(st.binary(max_size=64), max_size=4), json_values)
def test_random_value_trees_decode_to_plain_data_or_wire_error(tree, blobs, error):
    header = {"op": "result", "payload": tree, "error": error, "index": error, "functions": error,
              "blob_sizes": [len(blob) for blob in blobs]}
    try:
        got = grader_view(frame(json.dumps(header).encode(), blobs), [])
    except wire.WireError:
        return
    assert len(got) == 1


@PROPERTY
@given(plain_values, st.lists(st.integers(1, 97), max_size=6))
def test_plain_values_cross_unchanged_in_any_chunking(value, chunks):
    tree, blobs = wire.encode(value)
    [got] = grader_view(wire.pack({"op": "result", "payload": tree}, blobs), chunks)
    assert _same(got, value)


@PROPERTY
@given(plain_values, st.data())
def test_truncated_frames_wait_for_more(value, data):
    tree, blobs = wire.encode(value)
    whole = wire.pack({"op": "result", "payload": tree}, blobs)
    cut = data.draw(st.integers(0, len(whole) - 1))
    reader = wire.FrameReader()
    reader.feed(whole[:cut])
    assert reader.next_frame() is None
    reader.feed(whole[cut:])
    assert reader.next_frame() is not None


@PROPERTY
@given(plain_values, st.data())
def test_mutated_trees_decode_to_plain_data_or_wire_error(value, data):
    tree, blobs = wire.encode(value)
    mutated = json.loads(json.dumps(tree))
    nodes = _nodes(mutated)
    parent, key = data.draw(st.sampled_from(nodes)) if nodes else (None, None)
    if parent is not None:
        parent[key] = data.draw(json_values | tree_like)
    try:
        assert is_plain(wire.decode(mutated, blobs))
    except wire.WireError:
        pass


def _nodes(tree, found=None):
    found = [] if found is None else found
    children = tree.items() if isinstance(tree, dict) else enumerate(tree) if isinstance(tree, list) else ()
    for key, child in children:
        found.append((tree, key))
        _nodes(child, found)
    return found


def _same(a, b) -> bool:
    if isinstance(b, np.ndarray):
        return type(a) is np.ndarray and a.dtype == b.dtype and a.shape == b.shape and np.array_equal(a, b)
    if isinstance(b, (list, tuple)):
        return type(a) is type(b) and len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b))
    if isinstance(b, dict):
        return type(a) is dict and a.keys() == b.keys() and all(_same(a[k], b[k]) for k in b)
    return type(a) is type(b) and a == b


# --- the named attacks of the issue, each a class -----------------------------------------------

DEEP = 200_000


@pytest.mark.parametrize("header", [
    b"[1, 2]", b'"result"', b"42", b"null", b"true",                                  # header of the wrong JSON type
    b'{"op": ["result"]}', b'{"op": {"a": 1}}', b'{"op": 7}',                          # op not a string
    b'{"op": "result", "blob_sizes": "abc"}', b'{"op": "result", "blob_sizes": {"a": 1}}',
    b'{"op": "result", "blob_sizes": [-5]}', b'{"op": "result", "blob_sizes": [1e300]}',
    b'{"op": "result", "blob_sizes": [99999999999999999999999]}', b'{"op": "result", "blob_sizes": [true]}',
    b"[" * DEEP + b"]" * DEEP, b'{"a":' * DEEP + b"1" + b"}" * DEEP,                   # deep nesting
    b'{"op": "result", "x": ' + b"9" * 5000 + b"}",                                     # an int past the digit limit
    b"\xff\xfe\x00garbage", b'{"op": "result"',                                         # not UTF-8, not JSON
])
def test_hostile_headers_are_wire_errors_or_harmless(header):
    try:
        grader_view(frame(header), [3])
    except wire.WireError:
        pass


@pytest.mark.parametrize("payload", [
    "garbage", 12, [1, 2], {"t": []}, {"t": "int", "v": "9" * 1000}, {"t": "int", "v": [1]},
    {"t": "float", "v": 10 ** 400}, {"t": "float", "v": "inf"}, {"t": "str", "v": {"x": 1}},
    {"t": "ndarray", "dtype": "<f8", "shape": [1e308], "blob": 0, "exact": True},
    {"t": "ndarray", "dtype": "<f8", "shape": [float("inf")], "blob": 0, "exact": True},
    {"t": "ndarray", "dtype": "<f8", "shape": [1 << 62, 1 << 62, 0], "blob": 0, "exact": True},
    {"t": "ndarray", "dtype": "<f8", "shape": [1 << 61, 8], "blob": 0, "exact": True},   # wraps to 0 in int64
    {"t": "ndarray", "dtype": "<f8", "shape": [1], "blob": -1, "exact": True},
    {"t": "ndarray", "dtype": "<f8", "shape": [1], "blob": 7, "exact": True},
    {"t": "ndarray", "dtype": "O", "shape": [1], "blob": 0, "exact": True},
    {"t": "ndarray", "dtype": "i3", "shape": [1], "blob": 0, "exact": True},
    {"t": "ndarray", "dtype": ["<f8"], "shape": [1], "blob": 0, "exact": True},
    {"t": "scalar", "dtype": "<f8", "shape": [1], "blob": 0, "exact": True},
    {"t": "list", "items": "abc"}, {"t": "dict", "keys": [{"t": "none"}], "values": []},
    {"t": "dict", "keys": [{"t": "list", "items": []}], "values": [{"t": "none"}]},
])
def test_hostile_payloads_are_wire_errors_or_plain(payload):
    header = json.dumps({"op": "result", "payload": payload, "blob_sizes": [8]}).encode()
    try:
        grader_view(frame(header, [b"\x00" * 8]), [])
    except wire.WireError:
        pass


def test_one_blob_backs_at_most_one_array():
    """Otherwise a frame could make the grader copy one large buffer once per reference."""
    item = {"t": "ndarray", "dtype": "<f8", "shape": [1], "blob": 0, "exact": True}
    with pytest.raises(wire.WireError):
        wire.decode({"t": "list", "items": [item, item]}, [b"\x00" * 8])


def test_oversized_headers_and_blobs_are_refused_before_reading_them():
    reader = wire.FrameReader()
    reader.feed(wire.MAGIC + struct.pack(">I", wire.MAX_HEADER_BYTES + 1))
    with pytest.raises(wire.WireError):
        reader.next_frame()
    reader = wire.FrameReader()
    reader.feed(frame(json.dumps({"op": "result", "blob_sizes": [1 << 40]}).encode()))
    with pytest.raises(wire.WireError):
        reader.next_frame()
    with pytest.raises(wire.WireError):
        wire.pack({"op": "x", "text": "a" * (wire.MAX_HEADER_BYTES + 1)})


def test_encoding_stays_within_the_node_budget():
    tree, blobs = wire.encode([[0] * 1000] * 1000)  # a million nodes: the tail becomes "too large"
    assert len(json.dumps(tree)) < wire.MAX_HEADER_BYTES
    value = wire.decode(tree, blobs)
    assert any(isinstance(row, wire.Opaque) for row in value)


def test_header_fields_from_a_worker_are_checked():
    assert header_index({"index": "3"}) is None and header_index({"index": True}) is None
    assert header_index({"index": 1 << 80}) is None and header_index({"index": 4}) == 4
    assert header_error(["x"])["type"] == "malformed" and header_error(None) is None
    assert header_error({"type": 5, "message": "m" * 10_000})["message"] == "m" * 2000
    assert header_functions({"f": {"defined": 1, "callable": "yes", "params": "ab"}, "g": []}, ["f", "g"]) == {
        "f": {"defined": False, "callable": False, "params": None, "cell": ""}}


# --- through a real worker ------------------------------------------------------------------------

def _hostile(frames: list[bytes]) -> str:
    """A rnn_cell_forward that writes ``frames`` on the worker's response pipe, then returns."""
    return "# GRADED FUNCTION: rnn_cell_forward\ndef rnn_cell_forward(xt, a_prev, parameters):\n" + textwrap.indent(
        textwrap.dedent(f"""
        import os, sys
        fd = sys.modules['__main__'].RESP_FD
        for data in {frames!r}:
            os.write(fd, data)
        return None, None
        """), "    ")


HOSTILE_FRAMES = {
    "list header": frame(b"[1, 2, 3]"),
    "op is a list": frame(b'{"op": ["result"], "blob_sizes": []}'),
    "garbage payload": frame(json.dumps({"op": "result", "payload": "garbage", "blob_sizes": []}).encode()),
    "blob out of range": frame(json.dumps({"op": "result", "blob_sizes": [], "payload": {
        "t": "ndarray", "dtype": "<f8", "shape": [2], "blob": 5, "exact": True}}).encode()),
    "deep nesting": frame(b"[" * 100_000 + b"]" * 100_000),
    "huge int": frame(b'{"op": "result", "index": ' + b"7" * 6000 + b"}"),
    "overflowing shape": frame(json.dumps({"op": "dep", "name": "rnn_cell_forward", "blob_sizes": [0], "payload": {
        "t": "ndarray", "dtype": "<f8", "shape": [1 << 61, 8], "blob": 0, "exact": True}}).encode(), [b""]),
    "dependency call of the wrong form": frame(json.dumps({"op": "dep", "name": ["x"], "blob_sizes": [],
                                                            "payload": {"t": "int", "v": "1"}}).encode()),
    "bad marker": b"XXXX" + b"\x00" * 16,
}


@pytest.mark.parametrize("name", sorted(HOSTILE_FRAMES))
def test_a_worker_writing_hostile_frames_gets_a_clean_verdict(tmp_path: Path, name: str):
    cells = solution_cells("rnn_step_by_step.ipynb")
    cells = [c for c in cells if "rnn_cell_backward" not in c and "lstm" not in c]
    cells = replace_function(cells, "rnn_cell_forward", _hostile([HOSTILE_FRAMES[name]]))
    path = make_notebook(tmp_path / "nb.ipynb", *cells)
    result = grade_notebook(path, FAST.with_changes(only=("rnn_cell_forward", "rnn_forward"), hidden_cases=1))
    assert result.graded, result.error
    functions = {f.name: f for f in result.functions}
    assert functions["rnn_cell_forward"].score == 0
    assert functions["rnn_forward"].score == functions["rnn_forward"].max_score  # a fresh worker graded the rest


@pytest.mark.parametrize("name", ["list header", "deep nesting", "bad marker"])
def test_a_cell_writing_hostile_frames_costs_only_that_cell(tmp_path: Path, name: str):
    """The same at load time: the cell is left out as one that broke its worker, the rest is graded."""
    cell = f"import os, sys\nos.write(sys.modules['__main__'].RESP_FD, {HOSTILE_FRAMES[name]!r})"
    cells = [c for c in solution_cells("rnn_step_by_step.ipynb") if "rnn_cell_backward" not in c and "lstm" not in c]
    path = make_notebook(tmp_path / "nb.ipynb", *cells, cell)
    result = grade_notebook(path, FAST.with_changes(only=("rnn_cell_forward", "rnn_forward"), hidden_cases=1))
    assert result.graded, result.error
    assert result.score == result.max_score
    assert any(issue.kind == "crashed" for issue in result.cell_issues)


def test_an_array_subclass_crosses_as_opaque_without_its_attributes_being_read():
    """A subclass's nbytes, shape and dtype are its own code: nbytes = 0 on 80 MB passed the budget and
    the other side then refused the frame as malformed. None of them is read; the type's name neither."""
    class Liar(np.ndarray):
        def __getattribute__(self, name):
            raise SystemExit(f"read {name}")

    class Meta(type):
        @property
        def __name__(cls):
            raise SystemExit("read the name")

    class Named(np.ndarray, metaclass=Meta):
        pass

    class Half(np.float64):
        pass

    values = [np.zeros(4).view(Liar), np.zeros(4).view(Named), Half(1.5)]
    tree, blobs = wire.encode(values)
    assert blobs == []
    decoded = wire.decode(tree, blobs)
    assert [item.reason for item in decoded] == ["ndarray subclass"] * 3
    assert [item.type_name for item in decoded] == ["Liar", "Named", "Half"]
    plain = [np.arange(3.0), np.float64(1.5), np.int8(-3), np.bool_(True)]
    crossed = wire.decode(*wire.encode(plain))
    assert [type(item) for item in crossed] == [type(item) for item in plain]
    assert all(np.array_equal(a, b) for a, b in zip(crossed, plain))
