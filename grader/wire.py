"""The framed, pickle-free format spoken between the grader and its worker process.

A frame is ``MAGIC`` + 4-byte big-endian header length + a JSON header + raw array buffers whose
sizes the header lists. Values are encoded as a JSON tree that only knows None, bool, int, float,
str, tuple, list, dict, numpy scalars and numpy arrays of plain numeric dtypes; anything else
crosses as an ``Opaque`` marker carrying its type name. Decoding never runs code from the other
side: arrays come back through ``np.frombuffer`` with a whitelisted dtype.

This module is imported by the worker as a plain file (the package itself is hidden from student
code), so it must depend on nothing but the standard library and numpy.
"""
from __future__ import annotations

import builtins
import json
import os
import re
import select
import struct
import time
from dataclasses import dataclass
from typing import Any

import numpy as np

# Bound here so that student code patching builtins (in the worker) cannot change how values are sent.
isinstance, type, len, list, dict, str, repr, int, float, bool, tuple, hash, sum = (  # noqa: A001
    builtins.isinstance, builtins.type, builtins.len, builtins.list, builtins.dict, builtins.str, builtins.repr,
    builtins.int, builtins.float, builtins.bool, builtins.tuple, builtins.hash, builtins.sum)

MAGIC = b"GRW1"
_HEADER = struct.Struct(">I")
MAX_DEPTH = 12
DEFAULT_MAX_BYTES = 64 * 1024 * 1024
#: The JSON header of one frame. Real headers are small (arrays travel as blobs); the cap bounds
#: what parsing a hostile header costs the grader (JSON objects weigh ~10x their text).
MAX_HEADER_BYTES = 8 * 1024 * 1024
#: Nodes of one encoded value, and JSON containers in one header: a bound on decoding work.
MAX_NODES = 200_000
MAX_CONTAINERS = 500_000
MAX_DIM = 1 << 40
_DTYPES = frozenset(kind + str(size) for kind, sizes in
                    (("b", (1,)), ("i", (1, 2, 4, 8)), ("u", (1, 2, 4, 8)), ("f", (2, 4, 8, 16)), ("c", (8, 16, 32)))
                    for size in sizes)
_DTYPE = re.compile(r"^[<>|=]?([biufc][0-9]{1,2})$")
#: Descriptions already found allowed, with their dtype: arrays arrive by the thousand per notebook.
_ALLOWED_DTYPES: dict[str, np.dtype] = {}


class WireError(Exception):
    """A malformed or oversized frame."""


class WireTimeout(WireError):
    """A frame could not be written before its deadline (the other side does not read)."""


@dataclass(frozen=True)
class Opaque:
    """Stands for a value that cannot cross: an unsupported type, too deep or too big."""

    type_name: str
    reason: str = "unsupported type"


class _Budget:
    def __init__(self, max_bytes: int) -> None:
        self.left = max_bytes
        self.nodes = MAX_NODES


def encode(value: Any, max_bytes: int = DEFAULT_MAX_BYTES) -> tuple[Any, list[bytes]]:
    """Turn ``value`` into (JSON-able tree, list of array buffers)."""
    blobs: list[bytes] = []
    return _encode(value, blobs, 0, _Budget(max_bytes)), blobs


#: numpy's own scalar types (float64, int32, bool_...): a student's subclass of one is not among them.
_SCALAR_TYPES = frozenset(kind for kind in np.sctypeDict.values() if issubclass(kind, np.generic))


def _type_name(kind: type) -> str:
    """``kind.__name__`` without running code: a metaclass property of that name would run, and a
    name may be a str subclass with methods of its own."""
    return str.__getitem__(type.__dict__["__name__"].__get__(kind), slice(0, 80))


def _opaque(value: Any, reason: str) -> dict:
    return {"t": "opaque", "type": _type_name(type(value)), "reason": reason}


def _encode(value: Any, blobs: list[bytes], depth: int, budget: _Budget) -> Any:
    kind = type(value)
    if depth > MAX_DEPTH:
        return _opaque(value, "nested too deeply")
    if budget.left < 16 or budget.nodes < 1:  # every node costs something: a billion small ints are refused too
        return _opaque(value, "too large")
    budget.left -= 16
    budget.nodes -= 1
    if value is None:
        return {"t": "none"}
    if kind is bool:
        return {"t": "bool", "v": value}
    if kind is int:
        return {"t": "int", "v": str(value)}
    if kind is float:
        return {"t": "float", "v": repr(value)}
    if kind is str:
        if len(value) > budget.left:
            return _opaque(value, "too large")
        budget.left -= len(value)
        return {"t": "str", "v": value}
    if issubclass(kind, (np.ndarray, np.generic)) and kind is not np.ndarray and kind not in _SCALAR_TYPES:
        # A subclass's nbytes, shape and dtype are its own code (nbytes = 0 on 80 MB passed the budget,
        # and the other side then refused the frame): none of them is read.
        return _opaque(value, "ndarray subclass")
    if kind is np.ndarray or kind in _SCALAR_TYPES:
        array = np.asarray(value) if kind in _SCALAR_TYPES else value
        if array.dtype.kind not in "biufc" or array.dtype.hasobject:
            return _opaque(value, f"dtype {array.dtype}")
        if array.nbytes > budget.left:
            return _opaque(value, "too large")
        budget.left -= array.nbytes
        blobs.append(np.ascontiguousarray(array).tobytes())
        return {
            "t": "scalar" if kind in _SCALAR_TYPES else "ndarray",
            "cls": _type_name(kind),
            "exact": True,
            "dtype": array.dtype.str,
            "shape": list(array.shape),
            "blob": len(blobs) - 1,
        }
    if kind in (tuple, list, dict) and (16 * len(value) > budget.left or len(value) > budget.nodes):
        return _opaque(value, "too large")
    if kind in (tuple, list):
        return {"t": kind.__name__, "items": [_encode(item, blobs, depth + 1, budget) for item in value]}
    if kind is dict:
        keys = list(value.keys())
        return {
            "t": "dict",
            "keys": [_encode(key, blobs, depth + 1, budget) for key in keys],
            "values": [_encode(value[key], blobs, depth + 1, budget) for key in keys],
        }
    return _opaque(value, "unsupported type")


def decode(tree: Any, blobs: list[bytes]) -> Any:
    """Rebuild a value from ``encode``'s output; unknown or invalid parts become ``Opaque``.

    Total: whatever ``tree`` and ``blobs`` are (they come from the other side), the result is
    plain data or ``WireError``. Each blob backs at most one array, so a frame cannot make the
    decoder copy one buffer many times over."""
    state = _Decoding(blobs)
    return _decode(tree, state, 0)


class _Decoding:
    def __init__(self, blobs: list[bytes]) -> None:
        self.blobs = blobs if isinstance(blobs, list) else []
        self.used: set[int] = set()
        self.nodes = 2 * MAX_NODES


def _text(tree: dict, key: str, limit: int = 80) -> str:
    value = tree.get(key, "")
    return value[:limit] if isinstance(value, str) else "?"


def _items(tree: dict, key: str) -> list:
    items = tree.get(key)
    if type(items) is not list:
        raise WireError(f"malformed {tree.get('t')!r} value: {key} is not a list")
    return items


def _decode(tree: Any, state: _Decoding, depth: int) -> Any:
    if type(tree) is not dict or depth > MAX_DEPTH + 1:
        raise WireError("malformed value")
    state.nodes -= 1
    if state.nodes < 0:
        raise WireError("too many values in one frame")
    tag = tree.get("t")
    if tag == "none":
        return None
    if tag == "bool":
        if type(tree.get("v")) is not bool:
            raise WireError("malformed 'bool' value")
        return tree["v"]
    if tag == "int":
        text = tree.get("v")
        if type(text) is int:
            text = str(text)
        if type(text) is not str:
            raise WireError("malformed 'int' value")
        if len(text) > 400:
            return Opaque("int", "too large")
        try:
            return int(text)
        except ValueError:
            raise WireError("malformed 'int' value") from None
    if tag == "float":
        text = tree.get("v")
        if type(text) not in (int, float, str):
            raise WireError("malformed 'float' value")
        try:
            return float(text[:64] if type(text) is str else text)
        except (ValueError, OverflowError):  # not a number, or an int beyond any float
            raise WireError("malformed 'float' value") from None
    if tag == "str":
        if type(tree.get("v")) is not str:
            raise WireError("malformed 'str' value")
        return tree["v"]
    if tag in ("ndarray", "scalar"):
        return _decode_array(tree, state)
    if tag == "tuple":
        return tuple(_decode(item, state, depth + 1) for item in _items(tree, "items"))
    if tag == "list":
        return [_decode(item, state, depth + 1) for item in _items(tree, "items")]
    if tag == "dict":
        keys, values = _items(tree, "keys"), _items(tree, "values")
        if len(keys) != len(values):
            raise WireError("malformed 'dict' value: keys and values differ in number")
        pairs = [(_hashable(_decode(key, state, depth + 1)), _decode(item, state, depth + 1))
                 for key, item in zip(keys, values)]
        return dict(pairs)
    if tag == "opaque":
        return Opaque(_text(tree, "type"), _text(tree, "reason"))
    raise WireError(f"unknown value tag {str(tag)[:40]!r}")


def _hashable(key: Any) -> Any:
    try:
        hash(key)
        return key
    except TypeError:
        return Opaque(type(key).__name__, "unhashable key")


def _decode_array(tree: dict, state: _Decoding) -> Any:
    descr = tree.get("dtype")
    if type(descr) is not str:
        raise WireError("malformed array: dtype is not a string")
    dtype = _ALLOWED_DTYPES.get(descr)
    if dtype is None:
        match = _DTYPE.match(descr)
        if match is None or match.group(1) not in _DTYPES:
            return Opaque("ndarray", f"dtype {descr[:20]}")
        try:
            dtype = np.dtype(descr)
        except TypeError:  # a size this platform lacks (f16 without long double)
            return Opaque("ndarray", f"dtype {descr[:20]}")
        _ALLOWED_DTYPES[descr] = dtype  # at most a few dozen: byte orders x _DTYPES
    shape = tree.get("shape")
    if (type(shape) is not list or len(shape) > 32
            or any(type(n) is not int or not 0 <= n <= MAX_DIM for n in shape)):
        raise WireError("bad array shape")
    if tree.get("t") == "scalar" and shape:
        raise WireError("bad scalar shape")
    index = tree.get("blob")
    if type(index) is not int or not 0 <= index < len(state.blobs) or index in state.used:
        raise WireError("bad array buffer reference")
    state.used.add(index)
    data = state.blobs[index]
    count = 1
    for n in shape:
        count *= n  # Python ints: a product that would wrap around in int64 is caught below
    if type(data) is not bytes or count * dtype.itemsize != len(data):
        raise WireError("array size does not match its shape")
    array = np.frombuffer(data, dtype=dtype, count=count).reshape(tuple(shape)).copy()
    if dtype.kind == "b":  # any byte may arrive; numpy's booleans must be 0 or 1 (a 2 is "true" yet != True)
        array = array.view(np.uint8) != 0
    if tree["t"] == "scalar":
        return array[()]
    if tree.get("exact", False) is not True:
        return Opaque(_text(tree, "cls") or "ndarray", "ndarray subclass")
    return array


# --- frames -------------------------------------------------------------------------------

def pack(header: dict, blobs: list[bytes] = ()) -> bytes:
    header = dict(header, blob_sizes=[len(blob) for blob in blobs])
    text = json.dumps(header, separators=(",", ":")).encode()
    if len(text) > MAX_HEADER_BYTES:
        raise WireError("frame header too large")
    return b"".join([MAGIC, _HEADER.pack(len(text)), text, *blobs])


def write_frame(fd: int, header: dict, blobs: list[bytes] = (), deadline: float | None = None) -> None:
    """Write one frame. With a deadline (time.monotonic()), ``fd`` must be non-blocking and the
    write gives up with ``WireTimeout`` when the other side has not taken it all by then."""
    view = memoryview(pack(header, blobs))
    while view:
        if deadline is not None:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise WireTimeout("the other side did not read in time")
            _, ready, _ = select.select([], [fd], [], min(remaining, 1.0))
            if not ready:
                continue
        try:
            written = os.write(fd, view)
        except BlockingIOError:  # a non-blocking pipe with less room than select promised
            continue
        view = view[written:]


def _valid_sizes(sizes: Any, limit: int) -> list[int] | None:
    if type(sizes) is not list or len(sizes) > MAX_NODES:
        return None
    if any(type(size) is not int or not 0 <= size <= limit for size in sizes) or sum(sizes) > limit:
        return None
    return sizes


class FrameReader:
    """Incremental reader: feed it bytes, take complete frames out. Enforces size caps.

    ``next_frame`` is total: any byte sequence gives frames whose header is a dict and whose
    blobs match ``blob_sizes``, ``None`` (need more bytes) or ``WireError``."""

    def __init__(self, max_bytes: int = DEFAULT_MAX_BYTES * 2, max_header: int = MAX_HEADER_BYTES) -> None:
        self._buffer = bytearray()
        self._max = max_bytes
        self._max_header = max_header
        #: The current frame's header and blob sizes once parsed: its arrays may arrive in many reads,
        #: and parsing an 8 MiB header again for each would cost the grader seconds per frame.
        self._parsed: tuple[dict, list[int]] | None = None

    def feed(self, data: bytes) -> None:
        self._buffer += data
        if len(self._buffer) > self._max + self._max_header + 1024:
            raise WireError("frame too large")

    def next_frame(self) -> tuple[dict, list[bytes]] | None:
        buffer = self._buffer
        if len(buffer) >= 4 and bytes(buffer[:4]) != MAGIC:
            raise WireError("bad frame marker")
        if len(buffer) < 8:
            return None
        (length,) = _HEADER.unpack(bytes(buffer[4:8]))
        if length > self._max_header:
            raise WireError("frame header too large")
        if len(buffer) < 8 + length:
            return None
        if self._parsed is None:
            self._parsed = self._parse_header(bytes(buffer[8:8 + length]))
        header, sizes = self._parsed
        end = 8 + length + sum(sizes)
        if len(buffer) < end:
            return None
        blobs, offset = [], 8 + length
        for size in sizes:
            blobs.append(bytes(buffer[offset:offset + size]))
            offset += size
        del buffer[:end]
        self._parsed = None
        return header, blobs

    def _parse_header(self, text: bytes) -> tuple[dict, list[int]]:
        if text.count(b"[") + text.count(b"{") > MAX_CONTAINERS:
            raise WireError("frame header too complex")
        try:
            header = json.loads(text)
        except (ValueError, RecursionError) as error:  # bad JSON or UTF-8, huge numbers, deep nesting
            raise WireError(f"bad frame header: {type(error).__name__}") from None
        if type(header) is not dict:
            raise WireError("bad frame header: not an object")
        sizes = _valid_sizes(header.get("blob_sizes", []), self._max)
        if sizes is None:
            raise WireError("bad frame header: blob sizes")
        return header, sizes


def read_frame_blocking(fd: int, reader: FrameReader) -> tuple[dict, list[bytes]]:
    """Block until one whole frame has arrived on ``fd`` (used by the worker)."""
    while True:
        frame = reader.next_frame()
        if frame is not None:
            return frame
        data = os.read(fd, 1 << 20)
        if not data:
            raise EOFError("the other side closed the channel")
        reader.feed(data)
