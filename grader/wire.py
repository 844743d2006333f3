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
import struct
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
_DTYPE = re.compile(r"^[<>|=]?[biufc][1-9][0-9]?$")


class WireError(Exception):
    """A malformed or oversized frame."""


@dataclass(frozen=True)
class Opaque:
    """Stands for a value that cannot cross: an unsupported type, too deep or too big."""

    type_name: str
    reason: str = "unsupported type"


class _Budget:
    def __init__(self, max_bytes: int) -> None:
        self.left = max_bytes


def encode(value: Any, max_bytes: int = DEFAULT_MAX_BYTES) -> tuple[Any, list[bytes]]:
    """Turn ``value`` into (JSON-able tree, list of array buffers)."""
    blobs: list[bytes] = []
    return _encode(value, blobs, 0, _Budget(max_bytes)), blobs


def _opaque(value: Any, reason: str) -> dict:
    return {"t": "opaque", "type": type(value).__name__[:80], "reason": reason}


def _encode(value: Any, blobs: list[bytes], depth: int, budget: _Budget) -> Any:
    kind = type(value)
    if depth > MAX_DEPTH:
        return _opaque(value, "nested too deeply")
    if budget.left < 16:  # every node costs something, so a list of a billion small ints is refused too
        return _opaque(value, "too large")
    budget.left -= 16
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
    if kind is np.ndarray or isinstance(value, (np.ndarray, np.generic)):
        array = np.asarray(value) if isinstance(value, np.generic) else value
        if array.dtype.kind not in "biufc" or array.dtype.hasobject:
            return _opaque(value, f"dtype {array.dtype}")
        if array.nbytes > budget.left:
            return _opaque(value, "too large")
        budget.left -= array.nbytes
        blobs.append(np.ascontiguousarray(array).tobytes())
        return {
            "t": "scalar" if isinstance(value, np.generic) else "ndarray",
            "cls": type(value).__name__[:80],
            "exact": kind is np.ndarray or isinstance(value, np.generic),
            "dtype": array.dtype.str,
            "shape": list(array.shape),
            "blob": len(blobs) - 1,
        }
    if kind in (tuple, list, dict) and 16 * len(value) > budget.left:
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
    """Rebuild a value from ``encode``'s output; unknown or invalid parts become ``Opaque``."""
    return _decode(tree, blobs, 0)


def _decode(tree: Any, blobs: list[bytes], depth: int) -> Any:
    if not isinstance(tree, dict) or depth > MAX_DEPTH + 1:
        raise WireError("malformed value")
    tag = tree.get("t")
    try:
        if tag == "none":
            return None
        if tag == "bool":
            return bool(tree["v"])
        if tag == "int":
            text = str(tree["v"])
            if len(text) > 400:
                return Opaque("int", "too large")
            return int(text)
        if tag == "float":
            return float(str(tree["v"])[:64])
        if tag == "str":
            return str(tree["v"])
        if tag in ("ndarray", "scalar"):
            return _decode_array(tree, blobs)
        if tag == "tuple":
            return tuple(_decode(item, blobs, depth + 1) for item in tree["items"])
        if tag == "list":
            return [_decode(item, blobs, depth + 1) for item in tree["items"]]
        if tag == "dict":
            keys = [_decode(key, blobs, depth + 1) for key in tree["keys"]]
            values = [_decode(item, blobs, depth + 1) for item in tree["values"]]
            return {_hashable(key): item for key, item in zip(keys, values)}
        if tag == "opaque":
            return Opaque(str(tree.get("type", "?"))[:80], str(tree.get("reason", ""))[:80])
    except (KeyError, TypeError, ValueError) as error:
        raise WireError(f"malformed {tag!r} value: {error}") from None
    raise WireError(f"unknown value tag {tag!r}")


def _hashable(key: Any) -> Any:
    try:
        hash(key)
        return key
    except TypeError:
        return Opaque(type(key).__name__, "unhashable key")


def _decode_array(tree: dict, blobs: list[bytes]) -> Any:
    descr = str(tree["dtype"])
    if not _DTYPE.match(descr):
        return Opaque("ndarray", f"dtype {descr[:20]}")
    dtype = np.dtype(descr)
    shape = tuple(int(n) for n in tree["shape"])
    if any(n < 0 for n in shape) or len(shape) > 32:
        raise WireError("bad array shape")
    data = blobs[int(tree["blob"])]
    count = int(np.prod(shape, dtype=np.int64)) if shape else 1
    if count * dtype.itemsize != len(data):
        raise WireError("array size does not match its shape")
    array = np.frombuffer(data, dtype=dtype, count=count).reshape(shape).copy()
    if tree["t"] == "scalar":
        return array[()]
    if not tree.get("exact", False):
        return Opaque(str(tree.get("cls", "ndarray"))[:80], "ndarray subclass")
    return array


# --- frames -------------------------------------------------------------------------------

def pack(header: dict, blobs: list[bytes] = ()) -> bytes:
    header = dict(header, blob_sizes=[len(blob) for blob in blobs])
    text = json.dumps(header, separators=(",", ":")).encode()
    return b"".join([MAGIC, _HEADER.pack(len(text)), text, *blobs])


def write_frame(fd: int, header: dict, blobs: list[bytes] = ()) -> None:
    view = memoryview(pack(header, blobs))
    while view:
        written = os.write(fd, view)
        view = view[written:]


class FrameReader:
    """Incremental reader: feed it bytes, take complete frames out. Enforces a size cap."""

    def __init__(self, max_bytes: int = DEFAULT_MAX_BYTES * 2) -> None:
        self._buffer = bytearray()
        self._max = max_bytes

    def feed(self, data: bytes) -> None:
        self._buffer += data
        if len(self._buffer) > self._max + 1024 * 1024:
            raise WireError("frame too large")

    def next_frame(self) -> tuple[dict, list[bytes]] | None:
        buffer = self._buffer
        if len(buffer) < 8:
            return None
        if bytes(buffer[:4]) != MAGIC:
            raise WireError("bad frame marker")
        (length,) = _HEADER.unpack(bytes(buffer[4:8]))
        if length > self._max:
            raise WireError("frame header too large")
        if len(buffer) < 8 + length:
            return None
        try:
            header = json.loads(bytes(buffer[8:8 + length]))
            sizes = [int(size) for size in header.get("blob_sizes", [])]
        except (ValueError, TypeError, AttributeError) as error:
            raise WireError(f"bad frame header: {error}") from None
        if not isinstance(header, dict) or any(size < 0 for size in sizes) or sum(sizes) > self._max:
            raise WireError("bad frame header")
        end = 8 + length + sum(sizes)
        if len(buffer) < end:
            return None
        blobs, offset = [], 8 + length
        for size in sizes:
            blobs.append(bytes(buffer[offset:offset + size]))
            offset += size
        del buffer[:end]
        return header, blobs


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
