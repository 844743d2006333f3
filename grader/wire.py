"""The framed, pickle-free format spoken between the grader and its worker process.

A frame is ``MAGIC`` + 4-byte big-endian header length + a JSON header + raw array buffers ("blobs")
whose sizes the header lists. A value travels in the header as a JSON tree that only knows None,
bool, int, float, str, tuple, list, dict, numpy scalars and numpy arrays of plain numeric dtypes;
anything else crosses as an ``Opaque`` marker carrying its type name. The tree:

    null, true, false, 1, 2.5, "text"     None, bool, int (at most 400 characters written out), float, str
    ["l", item, ...]                       list
    ["t", item, ...]                       tuple
    ["d", key, ..., value, ...]            dict: its n keys, then its n values, in the same order
    ["a", dtype, [dim, ...]]               an exact numpy.ndarray (dtype as ``dtype.str``, e.g. "<f8")
    ["s", dtype]                           a scalar of one of numpy's own scalar types
    ["o", type name, reason]               Opaque

An array's or a scalar's bytes are the next unused blob, in the order the nodes come depth first (a
dict's keys before its values): each blob backs exactly one array. Decoding never runs code from
the other side: arrays are copied out of the blobs with a whitelisted dtype (any other dtype gives
an ``Opaque``), and anything outside the grammar above is a ``WireError``. Both sides always run the same checkout (the worker imports
this very file), so the format carries no version.

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

# Bound here so that student code patching builtins (in the worker) cannot change how values are sent
# (tests/test_wire_properties.py checks that every builtin a function here reads is among them).
(issubclass, type, len, list, dict, str, int, float, bool, tuple, hash, sum, zip, bytes, bytearray,  # noqa: A001
 memoryview, slice, min, divmod, id, ValueError, TypeError, RecursionError, BlockingIOError, EOFError,
 BufferError) = (
    builtins.issubclass, builtins.type, builtins.len, builtins.list, builtins.dict,
    builtins.str, builtins.int, builtins.float, builtins.bool, builtins.tuple, builtins.hash,
    builtins.sum, builtins.zip, builtins.bytes, builtins.bytearray, builtins.memoryview, builtins.slice,
    builtins.min, builtins.divmod, builtins.id, builtins.ValueError, builtins.TypeError, builtins.RecursionError,
    builtins.BlockingIOError, builtins.EOFError, builtins.BufferError)
# And numpy's, for the same reason (the worker's student code shares this numpy module).
_ndarray, _generic, _dtype, _UINT8, _BOOL = np.ndarray, np.generic, np.dtype, np.dtype(np.uint8), np.dtype(np.bool_)

MAGIC = b"GRW1"
_HEADER = struct.Struct(">I")
#: What one read of a pipe asks for: a pipe holds 64 KiB, and asking for more costs the allocation
#: of a buffer that large on every read (~20 us for 1 MiB, ~1.5 us for 64 KiB, however little came).
READ_SIZE = 1 << 16
MAX_DEPTH = 12
DEFAULT_MAX_BYTES = 64 * 1024 * 1024
#: The JSON header of one frame. Real headers are small (arrays travel as blobs); the cap bounds
#: what parsing a hostile header costs the grader (JSON objects weigh ~10x their text).
MAX_HEADER_BYTES = 8 * 1024 * 1024
#: Nodes of one encoded value, and JSON containers in one header: a bound on decoding work.
MAX_NODES = 200_000
MAX_CONTAINERS = 500_000
MAX_DIM = 1 << 40
#: An int crosses if it is at most 400 characters written out (the decoder's limit when ints crossed as
#: text); a bigger one crosses as Opaque("int", "too large").
_INT_LOW, _INT_HIGH = -10 ** 399, 10 ** 400
_DTYPES = frozenset(kind + str(size) for kind, sizes in
                    (("b", (1,)), ("i", (1, 2, 4, 8)), ("u", (1, 2, 4, 8)), ("f", (2, 4, 8, 16)), ("c", (8, 16, 32)))
                    for size in sizes)
_DTYPE = re.compile(r"^[<>|=]?([biufc][0-9]{1,2})$")
#: Descriptions already found allowed, with their dtype, its itemsize and whether it is bool: arrays
#: arrive by the thousand per notebook.
_ALLOWED_DTYPES: dict[str, tuple[np.dtype, int, bool]] = {}
#: The other way: dtypes of arrays already sent, with their description (``dtype.str`` is computed
#: anew on each read). At most a few dozen: byte orders x kinds x sizes.
_SENDABLE_DTYPES: dict[np.dtype, str] = {}
#: ``json.dumps(..., separators=...)`` builds an encoder per call; this one is built once.
_JSON = json.JSONEncoder(separators=(",", ":"))


class WireError(Exception):
    """A malformed or oversized frame."""


class WireTimeout(WireError):
    """A frame could not be written before its deadline (the other side does not read)."""


@dataclass(frozen=True)
class Opaque:
    """Stands for a value that cannot cross: an unsupported type, too deep or too big."""

    type_name: str
    reason: str = "unsupported type"


# --- values -------------------------------------------------------------------------------

def encode(value: Any, max_bytes: int = DEFAULT_MAX_BYTES) -> tuple[Any, list[bytes]]:
    """Turn ``value`` into (JSON-able tree, list of array buffers).

    Every node costs 16 bytes of ``max_bytes`` and one of ``MAX_NODES``, a string its length and
    an array its bytes; what does not fit any more crosses as ``Opaque(..., "too large")``."""
    encoder = _Encoder(max_bytes)
    return encoder.node(value, 0), encoder.blobs


#: numpy's own scalar types (float64, int32, bool_...): a student's subclass of one is not among them.
_SCALAR_TYPES = frozenset(kind for kind in np.sctypeDict.values() if issubclass(kind, np.generic))
#: The same by id: looking a student's class up by itself would run its metaclass's __hash__.
_SCALAR_TYPE_IDS = frozenset(id(kind) for kind in _SCALAR_TYPES)


def _type_name(kind: type) -> str:
    """``kind.__name__`` without running code: a metaclass property of that name would run, and a
    name may be a str subclass with methods of its own."""
    return str.__getitem__(type.__dict__["__name__"].__get__(kind), slice(0, 80))


def _opaque(value: Any, reason: str) -> list:
    return ["o", _type_name(type(value)), reason]


class _Encoder:
    __slots__ = ("left", "nodes", "blobs")

    def __init__(self, max_bytes: int) -> None:
        self.left = max_bytes
        self.nodes = MAX_NODES
        self.blobs: list[bytes] = []

    def node(self, value: Any, depth: int) -> Any:
        if depth > MAX_DEPTH:
            return _opaque(value, "nested too deeply")
        left = self.left - 16
        if left < 0 or self.nodes < 1:  # every node costs something: a billion small ints are refused too
            return _opaque(value, "too large")
        self.left = left
        self.nodes -= 1
        kind = type(value)
        if kind is _ndarray or id(kind) in _SCALAR_TYPE_IDS:  # numpy's own code: safe to read
            descr = _SENDABLE_DTYPES.get(value.dtype)
            if descr is None:
                descr = _sendable(value.dtype)
                if descr is None:
                    return _opaque(value, f"dtype {value.dtype}")
            size = value.nbytes
            if size > left:
                return _opaque(value, "too large")
            self.left = left - size
            self.blobs.append(value.tobytes())  # C order, whatever the array's own layout
            return ["a", descr, list(value.shape)] if kind is _ndarray else ["s", descr]
        if kind is str:
            if len(value) > left:
                return _opaque(value, "too large")
            self.left = left - len(value)
            return value
        if kind is float or kind is bool or value is None:
            return value
        if kind is int:
            return value if _INT_LOW < value < _INT_HIGH else _opaque(value, "too large")
        if kind is tuple or kind is list or kind is dict:
            if 16 * len(value) > left or len(value) > self.nodes:
                return _opaque(value, "too large")
            depth += 1
            if kind is dict:
                pairs = list(value.items())
                return ["d", *[self.node(key, depth) for key, _ in pairs],
                        *[self.node(item, depth) for _, item in pairs]]
            return ["l" if kind is list else "t", *[self.node(item, depth) for item in value]]
        if issubclass(kind, (_ndarray, _generic)):
            # A subclass's nbytes, shape and dtype are its own code (nbytes = 0 on 80 MB passed the budget,
            # and the other side then refused the frame): none of them is read.
            return _opaque(value, "ndarray subclass")
        return _opaque(value, "unsupported type")


def _sendable(dtype: np.dtype) -> str | None:
    """``dtype.str`` if arrays of ``dtype`` may cross, remembered (``dtype.str`` is computed on each read)."""
    if dtype.kind not in "biufc" or dtype.hasobject:
        return None
    descr = _SENDABLE_DTYPES[dtype] = dtype.str
    return descr


def decode(tree: Any, blobs: list[bytes | memoryview]) -> Any:
    """Rebuild a value from ``encode``'s output.

    Total: whatever ``tree`` and ``blobs`` are (they come from the other side), the result is
    plain data (an array of a dtype not allowed becomes ``Opaque``) or ``WireError``. Each blob
    backs exactly one array, so a frame cannot make the decoder copy one buffer many times over."""
    state = _Decoding(blobs)
    value = _decode(tree, state, 0)
    if state.next_blob != len(state.blobs):
        raise WireError("array buffers that no value refers to")
    return value


class _Decoding:
    __slots__ = ("blobs", "next_blob", "nodes")

    def __init__(self, blobs: list) -> None:
        self.blobs = blobs if type(blobs) is list else []
        self.next_blob = 0
        self.nodes = 2 * MAX_NODES


def _decode(tree: Any, state: _Decoding, depth: int) -> Any:
    state.nodes -= 1
    if state.nodes < 0:
        raise WireError("too many values in one frame")
    kind = type(tree)
    if kind is str or kind is float or kind is bool or tree is None:
        return tree
    if kind is int:
        return tree if _INT_LOW < tree < _INT_HIGH else Opaque("int", "too large")
    if kind is not list or not tree or type(tree[0]) is not str or depth > MAX_DEPTH + 1:
        raise WireError("malformed value")
    tag = tree[0]
    if tag == "a" or tag == "s":
        return _decode_array(tree, state)
    if tag == "l":
        return [_decode(item, state, depth + 1) for item in tree[1:]]
    if tag == "t":
        return tuple([_decode(item, state, depth + 1) for item in tree[1:]])
    if tag == "d":
        count, odd = divmod(len(tree) - 1, 2)
        if odd:
            raise WireError("malformed dict: keys and values differ in number")
        keys = [_decode(key, state, depth + 1) for key in tree[1:1 + count]]
        values = [_decode(item, state, depth + 1) for item in tree[1 + count:]]
        result = {}
        for key, item in zip(keys, values):
            result[key if type(key) is str else _hashable(key)] = item
        return result
    if tag == "o":
        if len(tree) != 3 or type(tree[1]) is not str or type(tree[2]) is not str:
            raise WireError("malformed opaque value")
        return Opaque(tree[1][:80], tree[2][:80])
    raise WireError(f"unknown value tag {tag[:40]!r}")


def _hashable(key: Any) -> Any:
    try:
        hash(key)
        return key
    except TypeError:
        return Opaque(type(key).__name__, "unhashable key")


def _decode_array(tree: list, state: _Decoding) -> Any:
    scalar = tree[0] == "s"
    if len(tree) != (2 if scalar else 3):
        raise WireError("malformed array")
    index = state.next_blob
    if index >= len(state.blobs):
        raise WireError("an array without its buffer")
    state.next_blob = index + 1
    data = state.blobs[index]
    descr = tree[1]
    if type(descr) is not str:
        raise WireError("malformed array: dtype is not a string")
    known = _ALLOWED_DTYPES.get(descr)
    if known is None:
        match = _DTYPE.match(descr)
        if match is None or match.group(1) not in _DTYPES:
            return Opaque("ndarray", f"dtype {descr[:20]}")
        try:
            dtype = _dtype(descr)
        except TypeError:  # a size this platform lacks (f16 without long double)
            return Opaque("ndarray", f"dtype {descr[:20]}")
        known = _ALLOWED_DTYPES[descr] = dtype, dtype.itemsize, dtype.kind == "b"  # a few dozen at most
    dtype, itemsize, is_bool = known
    shape = () if scalar else tree[2]
    if not scalar and (type(shape) is not list or len(shape) > 32):
        raise WireError("bad array shape")
    count = 1
    for n in shape:
        if type(n) is not int or not 0 <= n <= MAX_DIM:
            raise WireError("bad array shape")
        count *= n  # Python ints: a product that would wrap around in int64 is caught below
    if type(data) is bytes:
        size = len(data)
    elif type(data) is memoryview and data.c_contiguous:
        size = data.nbytes
    else:
        raise WireError("an array buffer that is not bytes")
    if count * itemsize != size:
        raise WireError("array size does not match its shape")
    try:
        if is_bool:  # any byte may arrive; numpy's booleans must be 0 or 1 (a 2 is "true" yet != True)
            array = _ndarray(shape, _UINT8, data).astype(_BOOL)  # (!= 0 made a 0-d array a scalar)
        else:  # a copy: writable, aligned, its own memory (not the frame's)
            array = _ndarray(shape, dtype, data).copy()
    except (ValueError, TypeError, BufferError):  # dimensions whose product passes no size of memory ([1 << 40, 1 << 40, 0])
        raise WireError("bad array shape") from None
    return array[()] if scalar else array


# --- frames -------------------------------------------------------------------------------

def pack(header: dict, blobs: list[bytes] = ()) -> bytes:
    header = dict(header, blob_sizes=[len(blob) for blob in blobs])
    text = _JSON.encode(header).encode()
    if len(text) > MAX_HEADER_BYTES:
        raise WireError("frame header too large")
    return b"".join([MAGIC, _HEADER.pack(len(text)), text, *blobs])


def write_frame(fd: int, header: dict, blobs: list[bytes] = (), deadline: float | None = None) -> None:
    """Write one frame. With a deadline (time.monotonic()), ``fd`` must be non-blocking and the
    write gives up with ``WireTimeout`` when the other side has not taken it all by then."""
    write_packed(fd, pack(header, blobs), deadline)


def write_packed(fd: int, frame: bytes, deadline: float | None = None) -> None:
    """``write_frame`` of a frame already packed (``pack``)."""
    view = memoryview(frame)
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
    total = 0
    for size in sizes:
        if type(size) is not int or not 0 <= size <= limit:
            return None
        total += size
    return sizes if total <= limit else None


class FrameReader:
    """Incremental reader: feed it bytes, take complete frames out. Enforces size caps.

    ``next_frame`` is total: any byte sequence gives frames whose header is a dict and whose
    blobs are read-only memoryviews of the sizes ``blob_sizes`` lists, ``None`` (need more bytes)
    or ``WireError``. The blobs of a frame are views of one buffer of that frame alone (the bytes
    of a read, or the bytearray its reads were gathered in), which nothing refers to or changes
    afterwards: no copy of a frame is made when nothing came behind it."""

    def __init__(self, max_bytes: int = DEFAULT_MAX_BYTES * 2, max_header: int = MAX_HEADER_BYTES) -> None:
        #: What has arrived and is not yet taken: the bytes of one read as they came (a whole frame in
        #: one read then costs no copy), or a bytearray gathering several reads.
        self._buffer: bytes | bytearray = b""
        self._max = max_bytes
        self._max_header = max_header
        #: The current frame's header, blob sizes and end once parsed: its arrays may arrive in many
        #: reads, and parsing an 8 MiB header again for each would cost the grader seconds per frame.
        self._parsed: tuple[dict, list[int], int] | None = None

    def feed(self, data: bytes) -> None:
        if not self._buffer and type(data) is bytes:
            self._buffer = data  # immutable: kept as it is
        else:
            if type(self._buffer) is not bytearray:
                self._buffer = bytearray(self._buffer)
            self._buffer += data
        if len(self._buffer) > self._max + self._max_header + 1024:
            raise WireError("frame too large")

    def next_frame(self) -> tuple[dict, list[memoryview]] | None:
        buffer = self._buffer
        if len(buffer) >= 4 and buffer[:4] != MAGIC:
            raise WireError("bad frame marker")
        if len(buffer) < 8:
            return None
        (length,) = _HEADER.unpack_from(buffer, 4)
        if length > self._max_header:
            raise WireError("frame header too large")
        if len(buffer) < 8 + length:
            return None
        if self._parsed is None:
            with memoryview(buffer) as view:  # a view of a bytearray must be gone before it is resized
                try:
                    text = str(view[8:8 + length], "utf-8")
                except ValueError:
                    text = None
            if text is None:
                raise WireError("bad frame header: not UTF-8")
            header, sizes = self._parse_header(text)
            self._parsed = header, sizes, 8 + length + sum(sizes)
        header, sizes, end = self._parsed
        if len(buffer) < end:
            return None
        if len(buffer) == end:  # the usual case: nothing behind this frame; the buffer becomes the frame's
            frame, self._buffer = buffer, b""
        else:  # more frames behind this one in the same reads
            with memoryview(buffer) as view:
                frame = view[:end].tobytes()
                if type(buffer) is bytes:
                    self._buffer = bytearray(view[end:])
            if type(buffer) is bytearray:
                del buffer[:end]  # cheap: a bytearray moves its start instead of its contents
        self._parsed = None
        # Read-only views of a buffer that only they refer to from now on (a bytearray no longer ours).
        blobs, offset, view = [], 8 + length, memoryview(frame).toreadonly()
        for size in sizes:
            blobs.append(view[offset:offset + size])
            offset += size
        return header, blobs

    def _parse_header(self, text: str) -> tuple[dict, list[int]]:
        if text.count("[") + text.count("{") > MAX_CONTAINERS:
            raise WireError("frame header too complex")
        try:
            header = json.loads(text)
        except (ValueError, RecursionError) as error:  # bad JSON, huge numbers, deep nesting
            raise WireError(f"bad frame header: {type(error).__name__}") from None
        if type(header) is not dict:
            raise WireError("bad frame header: not an object")
        sizes = _valid_sizes(header.get("blob_sizes", []), self._max)
        if sizes is None:
            raise WireError("bad frame header: blob sizes")
        return header, sizes


def read_frame_blocking(fd: int, reader: FrameReader) -> tuple[dict, list[memoryview]]:
    """Block until one whole frame has arrived on ``fd`` (used by the worker)."""
    while True:
        frame = reader.next_frame()
        if frame is not None:
            return frame
        data = os.read(fd, READ_SIZE)
        if not data:
            raise EOFError("the other side closed the channel")
        reader.feed(data)
