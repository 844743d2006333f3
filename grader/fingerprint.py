"""What, besides a notebook's own bytes, decides its grade: the resume fingerprint of a batch.

A finished result is kept on a rerun only when this fingerprint is unchanged. It hashes

- every field of the GradeConfig (found with ``dataclasses.fields``, so a field added later is
  included without anyone remembering to), except the ones listed in ``NOT_SCORING`` with a reason;
- the grader's version and the hash of its own code (a fixed bug changes scores, even in a source
  checkout whose version string did not move);
- the versions of numpy and Python, which run the student's code and compute the expected values;
- the bytes of the course data in use: expected values, reference solutions (or their absence),
  and the bundled helper files a notebook without its own copy is graded with (the assignment's
  own folders when it is installed apart from the grader, ``AssignmentSpec.home``).

A secret in the config (a field with ``repr=False``, like the hidden cases' key) enters only as its
own SHA-256, and the fingerprint, stored in every result, is a hash of that again.
"""
from __future__ import annotations

import dataclasses
import functools
import hashlib
import json
import sys
from pathlib import Path

import numpy

from . import resources
from .config import GradeConfig

#: Fields that cannot change a result, each with why. Everything else is fingerprinted.
NOT_SCORING: dict[str, str] = {
    "use_zygote": "how a worker is started (forked from a process holding numpy, or afresh); "
                  "the worker locks itself down the same way either way",
    "secret_file": "where the secret is kept; a batch loads the secret itself into ``secret`` "
                   "(secret.for_batch), which is fingerprinted",
    "remember_answers": "whether a stand-in call's answer is computed or replayed from the same bytes' "
                        "answer (answer_memo): the reply is the same either way (tests/test_answer_memo.py)",
    "expect_ahead": "where the hidden cases' expectations are computed (a forked copy of the grader or "
                    "the grader): the same code on the same recipes (tests/test_expect_ahead.py)",
}


def fingerprint(config: GradeConfig) -> str:
    """A short hex digest of everything but the notebook that decides its grade."""
    options = {f.name: _secret(getattr(config, f.name)) if not f.repr else _plain(getattr(config, f.name))
               for f in dataclasses.fields(config) if f.name not in NOT_SCORING}
    assignment = _assignment(config.assignment)  # one with its own home is graded from its own folders
    solutions = resources.solutions_dir(assignment) if config.use_solutions else None
    parts = {
        "options": options,
        "grader": grader_identity(),
        # they run the student's code and compute the expected values (sample's draws, float noise)
        "runtime": [numpy.__version__, sys.version.split()[0]],
        "expected": tree_digest(resources.expected_dir(assignment)),
        "solutions": tree_digest(solutions) if solutions is not None else None,
        "assignments": tree_digest(resources.assignments_dir(assignment)),
    }
    text = json.dumps(parts, sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def _assignment(name: str | None) -> object:
    """The registered assignment of that name, or None (the bundled folders then)."""
    if not name:
        return None
    from .course import ASSIGNMENTS  # here: the course package imports modules that import this one

    return ASSIGNMENTS.get(name)


def _secret(value: object) -> object:
    """A field kept out of repr() is a secret: only its hash enters the fingerprint's input."""
    return ["secret", None if value is None else hashlib.sha256(repr(value).encode()).hexdigest()]


def _plain(value: object) -> object:
    """A JSON-able form of a config value that tells every distinct value apart."""
    if isinstance(value, (str, int, float, bool)) or value is None:
        return [type(value).__name__, value]
    if isinstance(value, bytes):
        return ["bytes", hashlib.sha256(value).hexdigest()]
    if isinstance(value, (tuple, list)):
        return [type(value).__name__, [_plain(item) for item in value]]
    if isinstance(value, dict):
        return ["dict", sorted((repr(key), _plain(item)) for key, item in value.items())]
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return [type(value).__name__, {f.name: _plain(getattr(value, f.name)) for f in dataclasses.fields(value)}]
    return [type(value).__name__, repr(value)]


def grader_identity() -> list[str]:
    """The grader's version and the hash of its code."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        number = version("rnn-grader")
    except PackageNotFoundError:
        number = "source checkout"
    return [number, tree_digest(Path(__file__).resolve().parent)]


@functools.lru_cache(maxsize=None)
def tree_digest(folder: Path) -> str:
    """SHA-256 over the relative names and bytes of every file under ``folder`` (caches and
    checkpoints left out). Cached: the course data does not change while a grader runs."""
    digest = hashlib.sha256()
    if not folder.is_dir():
        return "missing"
    for path in sorted(folder.rglob("*")):
        relative = path.relative_to(folder)
        if not path.is_file() or {"__pycache__", ".ipynb_checkpoints"} & set(relative.parts):
            continue
        digest.update(str(relative).encode() + b"\0")
        digest.update(hashlib.sha256(path.read_bytes()).digest())
    return digest.hexdigest()
