"""The decoder is total: whatever bytes a worker writes, the grader gets plain data or WireError.

Property-based (Hypothesis): random bytes in random chunks, truncated frames, random JSON headers,
random and mutated value trees, deep nesting and absurd sizes. Then the same through a real
worker: a notebook that writes hostile frames on its response pipe ends as a clean verdict."""
from __future__ import annotations

import builtins
import dis
import json
import struct
import textwrap
import zlib
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
        assert type(header) is dict and [blob.nbytes for blob in blobs] == header.get("blob_sizes", [])
        assert all(type(blob) is memoryview and blob.readonly and blob.contiguous for blob in blobs)
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

tags = st.sampled_from(["l", "t", "d", "a", "s", "o", "nope", ""]) | json_values
dtypes = st.sampled_from(["<f8", "<i4", "|b1", "f16", "<c8", "O", "<U3", "i3", "<f8\x00", "=u2", ">c16"]) | json_values
shapes = st.lists(st.integers(min_value=-3, max_value=1 << 70), max_size=4) | json_values
tree_like = st.recursive(
    json_values | st.tuples(st.sampled_from(["a", "s"]) | tags, dtypes, shapes).map(list)
    | st.tuples(st.just("s") | tags, dtypes).map(list)
    | st.tuples(st.just("o") | tags, json_values, json_values).map(list),
    lambda children: st.tuples(tags, st.lists(children, max_size=6)).map(lambda pair: [pair[0], *pair[1]]),
    max_leaves=30)

ALLOWED = ["|b1", "|i1", "<i2", ">i4", "<i8", "|u1", ">u2", "<u4", "<u8", "<f2", "<f4", ">f8", "<f8", "<c8", ">c16",
           "<c16"]


def _array(descr: str, shape: tuple, seed: int, layout: str) -> np.ndarray:
    """Any bytes (NaNs with payloads too) of an allowed dtype, laid out C, Fortran, reversed or 0-d."""
    dtype = np.dtype(descr)
    count = int(np.prod(shape))
    raw = np.random.default_rng(seed).integers(0, 256, count * dtype.itemsize, dtype=np.uint8)
    array = (raw != 0) if dtype.kind == "b" else np.frombuffer(raw.tobytes(), dtype)
    array = array.reshape(shape)
    if layout == "fortran":
        return np.asfortranarray(array)
    if layout == "reversed" and array.ndim:
        return array[::-1]
    if layout == "0-d":
        return array.reshape(-1)[:1].reshape(()) if count else np.zeros((), dtype)
    return array.copy()


arrays = st.builds(_array, st.sampled_from(ALLOWED), st.lists(st.integers(0, 4), max_size=3).map(tuple),
                   st.integers(0, 10), st.sampled_from(["c", "fortran", "reversed", "0-d"]))
numpy_scalars = arrays.map(lambda array: array.reshape(-1)[0] if array.size else array.dtype.type(0))
plain_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.integers(min_value=-(10 ** 399) + 1, max_value=10 ** 400 - 1)
    | st.floats() | st.text(max_size=30) | arrays | numpy_scalars
    | st.builds(lambda shape, seed: np.random.default_rng(seed).standard_normal(shape),
                st.lists(st.integers(0, 4), max_size=3).map(tuple), st.integers(0, 10)),
    lambda children: st.lists(children, max_size=4) | st.lists(children, max_size=4).map(tuple)
    | st.dictionaries(st.text(max_size=8) | st.integers() | st.none() | st.tuples(st.integers(), st.text(max_size=3))
                      | numpy_scalars.filter(lambda x: x == x), children, max_size=4),
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
    """Equal, of the same types, to the bit (NaN payloads, -0.0, byte order)."""
    if isinstance(b, (np.ndarray, np.generic)):
        return (type(a) is type(b) and a.dtype.str == b.dtype.str and a.shape == b.shape
                and a.tobytes() == b.tobytes())
    if type(b) is float:
        return type(a) is float and (a == b and repr(a) == repr(b) or a != a and b != b)
    if isinstance(b, (list, tuple)):
        return type(a) is type(b) and len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b))
    if isinstance(b, dict):
        return type(a) is dict and a.keys() == b.keys() and all(_same(a[k], b[k]) for k in b)
    return type(a) is type(b) and a == b


@PROPERTY
@given(st.lists(plain_values, min_size=1, max_size=4), st.lists(st.integers(1, 200), max_size=8))
def test_frames_read_together_stay_apart(values, chunks):
    """Several frames in one read, or split anywhere: each frame's blobs are its own, and taking the
    next frames out changes nothing in the ones taken before (their blobs are views, not copies)."""
    data = b"".join(wire.pack({"op": "result", "payload": tree}, blobs)
                    for tree, blobs in map(wire.encode, values))
    frames = read_all(data, chunks)
    assert len(frames) == len(values)
    for (header, blobs), value in zip(frames, values):
        assert _same(wire.decode(header["payload"], blobs), value)


@PROPERTY
@given(st.lists(arrays, min_size=1, max_size=5), st.lists(st.integers(1, 200), max_size=4))
def test_decoded_arrays_are_writable_and_their_own(values, chunks):
    """Arrays come out C-ordered, aligned and writable, each with its own memory: writing into one
    changes neither the others nor the frame they came in."""
    tree, blobs = wire.encode(values)
    [(header, blobs)] = read_all(wire.pack({"op": "result", "payload": tree}, blobs), chunks)
    before = [blob.tobytes() for blob in blobs]
    got = wire.decode(header["payload"], blobs)
    for array in got:
        assert array.flags.writeable and array.flags.owndata and array.flags.c_contiguous and array.flags.aligned
        array[...] = 1
    assert [blob.tobytes() for blob in blobs] == before
    assert all(_same(wire.decode(header["payload"], blobs), values) for _ in range(2))


def test_ints_cross_up_to_400_characters_then_as_opaque():
    """The limit the grader always had on an int's text; past it (and past str()'s own limit) it is
    Opaque, on both sides of the wire."""
    fits = [10 ** 400 - 1, -(10 ** 399) + 1, 0, -1, 1 << 64]
    assert wire.decode(*wire.encode(fits)) == fits
    too_large = wire.Opaque("int", "too large")
    assert wire.decode(*wire.encode([10 ** 400, -(10 ** 399), 10 ** 5000])) == [too_large] * 3
    assert wire.decode(["l", 10 ** 400, -(10 ** 399)], []) == [too_large] * 2   # forged: not encode's


def test_a_dict_s_keys_are_encoded_before_its_values():
    """The order the budget is spent in (and arrays' buffers taken): all keys, then all values, as
    always. Here the first value no longer fits, the second does; key by key, the second key would not."""
    key = "b" * 50
    value = {"a": np.zeros(100), key: np.zeros(4)}
    tree, blobs = wire.encode(value, max_bytes=16 + 17 + (16 + 50) + 16 + 800 - 1)
    got = wire.decode(tree, blobs)
    assert list(got) == ["a", key] and got["a"] == wire.Opaque("ndarray", "too large")
    assert _same(got[key], np.zeros(4))


def test_shapes_past_any_memory_are_wire_errors():
    """Zero elements, yet dimensions whose product numpy refuses: once a ValueError out of decode."""
    for shape in ([1 << 40, 1 << 40, 0], [1 << 40] * 4 + [0]):
        with pytest.raises(wire.WireError):
            wire.decode(["a", "<f8", shape], [b""])
    assert wire.decode(["a", "<f8", [1 << 40, 0]], [b""]).shape == (1 << 40, 0)


def test_a_blob_is_bytes_or_a_c_ordered_view():
    """What FrameReader hands out (views of one frame's bytes) or bytes; any other buffer is refused."""
    raw = np.arange(4.0).tobytes()
    for blob in (raw, memoryview(raw), memoryview(bytearray(raw)), memoryview(raw).cast("d"),
                 memoryview(raw).cast("B", (2, 16))):
        assert _same(wire.decode(["a", "<f8", [2, 2]], [blob]), np.arange(4.0).reshape(2, 2))
    fortran = memoryview(np.asfortranarray(np.zeros((2, 2))))
    for blob, shape in ((bytearray(raw), [4]), (np.zeros(4), [4]), (memoryview(raw)[::2], [2]), (fortran, [4]),
                        (raw.hex(), [8])):
        with pytest.raises(wire.WireError):
            wire.decode(["a", "<f8", shape], [blob])


def test_values_outside_the_grammar_are_wire_errors():
    for tree in ({"t": "none"}, ["l", {"t": "none"}], [], [None], ["x"], ["o", "int"], ["d", 1],
                 ["a", "<f8", [1], 0], ["s", "<f8", []], b"bytes", ("t",), 1j):
        with pytest.raises(wire.WireError):
            wire.decode(tree, [b"\x00" * 8] if type(tree) is list and tree[:1] in (["a"], ["s"]) else [])


def test_every_builtin_the_format_calls_is_bound_at_import():
    """Student code in the worker may patch builtins; wire.py's functions must not look them up when called."""
    def globals_read(code):
        if code.co_filename == wire.__file__:
            yield from (op.argval for op in dis.get_instructions(code) if op.opname == "LOAD_GLOBAL")
        for const in code.co_consts:
            if hasattr(const, "co_code"):
                yield from globals_read(const)

    codes = []
    for value in vars(wire).values():
        if getattr(value, "__module__", None) == wire.__name__:
            members = vars(value).values() if isinstance(value, type) else [value]
            codes += [member.__code__ for member in members if hasattr(member, "__code__")]
    read = {name for code in codes for name in globals_read(code)}
    assert "len" in read and not {name for name in read if hasattr(builtins, name) and name not in vars(wire)}


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
    {"t": "none"}, {"t": []}, [], [1, 2], ["l", [1]], [["l"]], ["i", "9" * 1000], ["f", 10 ** 400], "x" * 10_000,
    10 ** 399, -(10 ** 399), 9 * 10 ** 399, ["o", "int"], ["o", 1, "x"], ["o", "x" * 500, ["y"]], ["nope"],
    ["a", "<f8", [1e308]], ["a", "<f8", [float("inf")]], ["a", "<f8", [True]], ["a", "<f8", [-1]], ["a", "<f8"],
    ["a", "<f8", [1 << 62, 1 << 62, 0]], ["a", "<f8", [1 << 40, 1 << 40, 0]],
    ["a", "<f8", [1 << 61, 8]],                                                            # wraps to 0 in int64
    ["a", "<f8", [1]], ["a", "<f8", [2]], ["a", "<f8", [1], 0], ["a", "<f8", "1"], ["a", "<f8", [1] * 40],
    ["a", "O", [1]], ["a", "i3", [1]], ["a", ["<f8"], [1]], ["a", "<M8[s]", [1]], ["s", "<f8", []], ["s", "<f8"],
    ["s", "|b1"], ["s", "<i2"], ["l", ["a", "<f8", [1]], ["a", "<f8", [1]]], ["t", ["s", "<f8"], ["s", "<f8"]],
    ["d", "k"], ["d", ["l"], None], ["d", ["a", "<f8", []], 1], ["d", ["t", ["l"]], 1], ["d", "k", "k", 1, 2],
])
def test_hostile_payloads_are_wire_errors_or_plain(payload):
    header = json.dumps({"op": "result", "payload": payload, "blob_sizes": [8]}).encode()
    try:
        grader_view(frame(header, [b"\x00" * 8]), [])
    except wire.WireError:
        pass


def test_one_blob_backs_exactly_one_array():
    """Otherwise a frame could make the grader copy one large buffer once per reference."""
    item = ["a", "<f8", [1]]
    with pytest.raises(wire.WireError):
        wire.decode(["l", item, item], [b"\x00" * 8])
    with pytest.raises(wire.WireError):  # and none is left over
        wire.decode(["l", item], [b"\x00" * 8, b"\x00" * 8])
    assert wire.decode(["l", item, item], [b"\x01" * 8, b"\x02" * 8])[1].tobytes() == b"\x02" * 8


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
    "array without its buffer": frame(json.dumps({"op": "result", "blob_sizes": [], "payload": [
        "a", "<f8", [2]]}).encode()),
    "deep nesting": frame(b"[" * 100_000 + b"]" * 100_000),
    "huge int": frame(b'{"op": "result", "index": ' + b"7" * 6000 + b"}"),
    "overflowing shape": frame(json.dumps({"op": "dep", "name": "rnn_cell_forward", "blob_sizes": [0], "payload": [
        "a", "<f8", [1 << 61, 8]]}).encode(), [b""]),
    "shape past any memory": frame(json.dumps({"op": "dep", "name": "rnn_cell_forward", "blob_sizes": [0],
                                               "payload": ["a", "<f8", [1 << 40, 1 << 40, 0]]}).encode(), [b""]),
    "dependency call of the wrong form": frame(json.dumps({"op": "dep", "name": ["x"], "blob_sizes": [],
                                                            "payload": 1}).encode()),
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
    """The same at load time: the cell is left out as one that broke its worker, the rest is graded. The
    frame is rebuilt in the cell from a compressed copy: its text written out would be longer than the
    grader reads of a cell (load.MAX_CELL_CHARS), and that cell would never run."""
    packed = zlib.compress(HOSTILE_FRAMES[name])
    cell = f"import os, sys, zlib\nos.write(sys.modules['__main__'].RESP_FD, zlib.decompress({packed!r}))"
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
