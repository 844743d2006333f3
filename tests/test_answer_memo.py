"""Remembered reference answers (grader/answer_memo.py): a stand-in call answered from the memo gets
the very reply computing it gives, still counts against the case's budget, and is never replayed
when the answer depended on more than the call's bytes."""
from __future__ import annotations

import random
from pathlib import Path

import numpy as np
import pytest

from grader.answer_memo import ENTRY_OVERHEAD, AnswerMemo, Reply, request_digest
from grader.dependency_limits import CaseLimits, DependencyRefused, Envelope
from grader.run_cases import DependencyHandler

from conftest import FAST, without_timings

ENVELOPE = Envelope(max_dim=10, max_ndim=3, max_elements=1000, max_length=10, max_text=100, max_nodes=100,
                    max_depth=5, max_calls=3)


def twice(x):
    return 2 * x


def test_the_digest_tells_frames_apart_where_their_bytes_split_differently():
    header = {"op": "dep", "name": "f"}
    assert request_digest(header, [b"ab", b"c"]) != request_digest(header, [b"a", b"bc"])
    assert request_digest(header, [b"abc"]) != request_digest(header, [b"abc", b""])
    assert request_digest({"op": "dep", "name": "f"}, [b"x"]) == request_digest({"name": "f", "op": "dep"}, [b"x"])
    assert request_digest(header, [np.arange(3.0)]) == request_digest(header, [np.arange(3.0).tobytes()])


def test_the_memo_keeps_what_fits_and_drops_the_least_recently_used_first():
    memo = AnswerMemo(max_bytes=2 * ENTRY_OVERHEAD + 100)
    memo.put("a", twice, Reply(b"x" * 40))
    memo.put("b", twice, Reply(b"y" * 40))
    assert memo.get("a", twice) == Reply(b"x" * 40)  # "a" is now the most recently used
    memo.put("c", twice, Reply(b"z" * 40))  # three entries do not fit: the least recently used ("b") goes
    assert memo.get("b", twice) is None and memo.get("a", twice) is not None and memo.get("c", twice) is not None
    memo.put("huge", twice, Reply(b"w" * (ENTRY_OVERHEAD + 101)))  # never kept: larger than the whole memo
    assert memo.get("huge", twice) is None and len(memo) == 2


def test_tiny_entries_are_counted_with_their_overhead():
    memo = AnswerMemo(max_bytes=100 * ENTRY_OVERHEAD)
    for number in range(1000):
        memo.put(number, twice, Reply(b""))
    assert len(memo) == 100


def test_an_entry_answers_only_for_the_function_it_came_from():
    memo = AnswerMemo()
    memo.put("key", twice, Reply(b"answer"))
    assert memo.get("key", lambda x: 2 * x) is None
    assert memo.get("key", twice) == Reply(b"answer")


@pytest.mark.parametrize("reference, memorable", [
    (twice, True),
    (lambda x: x + np.random.rand(), False),          # draws from numpy's global state
    (lambda x: x + random.random(), False),           # draws from Python's
    (lambda x: (np.random.seed(1), x)[1], False),     # seeds it: the next reference would draw otherwise
    (lambda x: x * np.random.default_rng(0).random(), True),  # its own generator: the arguments decide
])
def test_only_answers_that_depend_on_the_arguments_alone_are_kept(reference, memorable):
    memo = AnswerMemo()
    handler = DependencyHandler({"f": reference}, ["f"], None, memo)
    handler("f", [np.ones(2)], {})
    handler.remember("f", b"digest", Reply(b"reply"))
    assert (handler.recall("f", b"digest") is not None) is memorable


def test_a_replayed_call_still_counts_against_the_case_budget():
    memo = AnswerMemo()
    limits = CaseLimits(ENVELOPE, deadline=float("inf"), caller="g", clock=lambda: 0.0)
    handler = DependencyHandler({"f": twice}, ["f"], limits, memo)
    handler("f", [np.ones(2)], {})  # computed: call 1
    handler.remember("f", b"digest", Reply(b"reply"))
    assert handler.recall("f", b"digest") == Reply(b"reply")  # call 2
    assert handler.recall("f", b"digest") == Reply(b"reply")  # call 3
    with pytest.raises(DependencyRefused, match="more than 3 times"):
        handler.recall("f", b"digest")
    assert limits.calls == 4


def test_a_replayed_call_is_refused_after_the_case_deadline():
    memo = AnswerMemo()
    now = [0.0]
    limits = CaseLimits(ENVELOPE, deadline=10.0, caller="g", clock=lambda: now[0])
    handler = DependencyHandler({"f": twice}, ["f"], limits, memo)
    handler("f", [np.ones(2)], {})
    handler.remember("f", b"digest", Reply(b"reply"))
    now[0] = 11.0
    with pytest.raises(DependencyRefused, match="ran out of time"):
        handler.recall("f", b"digest")


def test_no_replay_for_a_function_the_call_may_not_use_or_under_another_envelope():
    memo = AnswerMemo()
    handler = DependencyHandler({"f": twice, "h": twice}, ["f"], None, memo)
    handler("f", [np.ones(2)], {})
    handler.remember("f", b"digest", Reply(b"reply"))
    assert handler.recall("h", b"digest") is None  # not allowed in this call
    assert handler.recall(["f"], b"digest") is None  # a name that is not a string
    other = DependencyHandler({"f": twice}, ["f"], CaseLimits(ENVELOPE, float("inf"), "g"), memo)
    assert other.recall("f", b"digest") is None  # the envelope is part of the key


def _class(root: Path, count: int) -> list[Path]:
    if not root.is_dir():
        pytest.skip("../shared/corpus is not here")
    picked = []
    for folder in ("rnn", "dino"):
        picked += sorted((root / folder).glob("*.ipynb"))[:count]
    return picked


def test_a_class_graded_with_remembered_answers_gets_what_computing_every_answer_gives(shared):
    from grader.answer_memo import ANSWERS
    from grader.pipeline import grade_notebook

    notebooks = _class(shared / "corpus", 4)
    config = FAST.with_changes(hidden_cases=1)
    ANSWERS.clear()
    remembered = [without_timings(grade_notebook(path, config.with_changes(remember_answers=True)))
                  for path in notebooks]
    assert ANSWERS.hits > 0  # the same calls came back from one notebook to the next
    ANSWERS.clear()
    computed = [without_timings(grade_notebook(path, config)) for path in notebooks]  # one notebook's default: none kept
    assert ANSWERS.hits == ANSWERS.misses == len(ANSWERS) == 0
    for path, one, other in zip(notebooks, remembered, computed):
        assert one == other, path.name


def test_a_batch_remembers_answers_and_one_notebook_does_not():
    from grader.batch import _config_for
    from grader.config import GradeConfig
    from grader.fingerprint import fingerprint

    assert GradeConfig().remember_answers is False
    batch = _config_for(GradeConfig(), [], True)
    assert batch.remember_answers is True
    # the same verdicts either way, so a batch's results stay current for a rerun without it
    assert fingerprint(batch) == fingerprint(batch.with_changes(remember_answers=False))
