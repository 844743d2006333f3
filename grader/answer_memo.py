"""The reference's answers to stand-in calls, remembered by the exact bytes of the call.

When a graded function calls another graded function, the worker's stand-in asks the grader, which
answers with the reference (run_cases.DependencyHandler). In a class most students pass the same
inputs along (the cases are the class's own), so the same calls arrive notebook after notebook:
87 per RNN notebook, 86 reference ``optimize`` runs per Dinosaur one. An answer depends only on
the call's bytes, the reference function and the case's envelope, so a grading process keeps the
encoded reply and sends it again instead of decoding, checking, computing and encoding it anew.

Safe by construction rather than by a list of cases:
- the key is a 256-bit BLAKE2b digest of the whole request frame (its JSON header and every blob),
  taken with the function and the case envelope: identical bytes, identical decoded arguments;
- only answers of a reference call that left numpy's and Python's global random states as they
  were are kept (a reference that draws from them depends on more than its arguments);
- refusals and errors are never kept, and every call is still counted against the case's budget
  and deadline (CaseLimits.count);
- the function object is kept with the entry and compared on a hit, so an id reused by another
  reference never matches; the store is bounded in bytes and lives only in this process.
"""
from __future__ import annotations

import hashlib
import json
import threading
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any, Callable, Hashable

#: What one grading process keeps, all replies together (least recently used first out).
MEMO_BYTES = 48 * 1024 * 1024
#: A single reply larger than this is not kept (it would push out many small ones).
LARGEST_REPLY = 4 * 1024 * 1024
#: What an entry costs beyond its reply's bytes (key, digest, list node): counted, so that a class
#: of tiny distinct calls cannot hold millions of entries under the byte bound.
ENTRY_OVERHEAD = 512


def request_digest(header: dict, blobs: list) -> bytes:
    """The digest of a request frame as it arrived: its header (canonical JSON) and its blobs,
    each with its length, so no two different frames share a byte string before hashing."""
    digest = hashlib.blake2b(digest_size=32)
    text = json.dumps(header, sort_keys=True, separators=(",", ":"), ensure_ascii=True,
                      allow_nan=True).encode()
    digest.update(len(text).to_bytes(8, "little"))
    digest.update(text)
    for blob in blobs:
        digest.update(memoryview(blob).nbytes.to_bytes(8, "little"))
        digest.update(blob)
    return digest.digest()


@dataclass(frozen=True)
class Reply:
    """An answer as the worker reads it: one packed frame (wire.pack)."""

    frame: bytes

    @property
    def size(self) -> int:
        return len(self.frame) + ENTRY_OVERHEAD


class AnswerMemo:
    """A byte-bounded LRU of replies, keyed by (request digest, context) and checked against the
    reference function they came from."""

    def __init__(self, max_bytes: int = MEMO_BYTES) -> None:
        self.max_bytes = max_bytes
        self._entries: OrderedDict[Hashable, tuple[Callable[..., Any], Reply]] = OrderedDict()
        self._bytes = 0
        self._lock = threading.Lock()
        self.hits = self.misses = 0

    def get(self, key: Hashable, function: Callable[..., Any]) -> Reply | None:
        with self._lock:
            entry = self._entries.get(key)
            if entry is None or entry[0] is not function:
                self.misses += 1
                return None
            self._entries.move_to_end(key)
            self.hits += 1
            return entry[1]

    def put(self, key: Hashable, function: Callable[..., Any], reply: Reply) -> None:
        size = reply.size
        if size > min(LARGEST_REPLY, self.max_bytes):
            return
        with self._lock:
            old = self._entries.pop(key, None)
            if old is not None:
                self._bytes -= old[1].size
            self._entries[key] = (function, reply)
            self._bytes += size
            while self._bytes > self.max_bytes and self._entries:
                _, (_, dropped) = self._entries.popitem(last=False)
                self._bytes -= dropped.size

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()
            self._bytes = 0
            self.hits = self.misses = 0

    def __len__(self) -> int:
        return len(self._entries)


#: This process's answers (a batch's grading process keeps them from one notebook to the next).
ANSWERS = AnswerMemo()
