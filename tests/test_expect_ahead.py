"""The hidden cases' expectations computed ahead in a forked copy of the grader (grader/ahead.py):
the same results as computing them in the grader, a fallback for every way the copy can fail, and
no process left behind."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from grader import ahead as ahead_module
from grader.ahead import ExpectationsAhead, compute_all, declared_params, jobs_for
from grader.course import get_assignment
from grader.course.reference import load_reference
from grader.load import load_submission
from grader import resources

from conftest import FAST, SOLUTIONS, descendants, without_timings

DINO = get_assignment("dinosaur_island")
TESTS = Path(__file__).resolve().parent


class _Fresh:
    """Runs a scenario of this file in a new interpreter of its own. The copy is forked only from a
    process with no other thread (a fork copies one thread), and this test process may hold threads
    of earlier tests (Dask's, for one); a multiprocessing child would not do either: the sandbox
    starts a thread there to leave with its parent."""

    def apply(self, scenario, args: tuple = ()):
        program = ("import json, sys; sys.path[:0] = sys.argv[1:3]; import test_expect_ahead as t; "
                   "print(json.dumps(getattr(t, sys.argv[3])(*json.loads(sys.argv[4]))))")
        done = subprocess.run([sys.executable, "-c", program, str(TESTS), str(TESTS.parent), scenario.__name__,
                               json.dumps(args)], capture_output=True, text=True, timeout=600)
        assert done.returncode == 0, done.stderr[-3000:]
        return json.loads(done.stdout.strip().splitlines()[-1])


@pytest.fixture(scope="module")
def fresh():
    return _Fresh()


def _references():
    return load_reference(DINO, resources.solutions_dir(DINO))


def _jobs(count: int = 2):
    rng = np.random.default_rng(7)
    submission = load_submission(SOLUTIONS / "dinosaur_island.ipynb", 50, None)
    recipes = {spec.name: list(spec.hidden(count, rng)) for spec in DINO.functions if spec.hidden is not None}
    return jobs_for(DINO.functions, recipes, submission)


def _same(one, other) -> bool:
    return repr(one) == repr(other)


def _the_copy_gives_what_the_grader_computes_and_leaves_no_process():
    references, jobs = _references(), _jobs()
    assert [form for _, _, form in jobs] == [None, None, None, "data_x"]  # model's form read from its source
    with ExpectationsAhead(jobs, references, time.monotonic() + 60) as ahead:
        child = ahead._pid
        assert child is not None and child in descendants(os.getpid())
        for spec, recipes, form in jobs:
            assert _same(ahead.expectations(spec, recipes, references, form),
                         compute_all(spec, recipes, references, form)), spec.name
        assert ahead.used == len(jobs)
    assert child not in descendants(os.getpid())


def _another_form_than_the_source_suggested_is_computed_here():
    references, jobs = _references(), _jobs()
    spec, recipes, form = jobs[-1]
    with ExpectationsAhead(jobs, references, time.monotonic() + 60) as ahead:
        got = ahead.expectations(spec, recipes, references, "data")
        assert ahead.used == 0
    assert _same(got, compute_all(spec, recipes, references, "data"))


def _a_copy_that_fails_or_dies_is_replaced_by_computing_here():
    references, jobs = _references(), _jobs()
    grader = os.getpid()

    def failing_in_the_copy(spec, recipes, refs, form):
        if os.getpid() != grader:
            raise RuntimeError("broken copy")
        return compute_all(spec, recipes, refs, form)

    ahead_module.compute_all = failing_in_the_copy  # this process is the scenario's own (``fresh``)
    try:
        with ExpectationsAhead(jobs, references, time.monotonic() + 60) as ahead:
            assert ahead._pid is not None
            for spec, recipes, form in jobs:
                assert _same(ahead.expectations(spec, recipes, references, form),
                             compute_all(spec, recipes, references, form))
            assert ahead.used == 0
    finally:
        ahead_module.compute_all = compute_all

    with ExpectationsAhead(jobs, references, time.monotonic() + 60) as ahead:
        assert ahead._pid is not None
        os.kill(ahead._pid, signal.SIGKILL)  # killed outright (the OOM killer, say)
        spec, recipes, form = jobs[-1]
        assert _same(ahead.expectations(spec, recipes, references, form), compute_all(spec, recipes, references, form))
        assert ahead._pid is None  # reaped already


def _a_copy_slower_than_the_deadline_is_not_waited_for():
    references, jobs = _references(), _jobs(1)
    grader = os.getpid()

    def stuck_in_the_copy(spec, recipes, refs, form):
        if os.getpid() != grader:
            time.sleep(120)
        return compute_all(spec, recipes, refs, form)

    ahead_module.compute_all = stuck_in_the_copy
    try:
        with ExpectationsAhead(jobs, references, time.monotonic() + 0.5) as ahead:
            child = ahead._pid
            assert child is not None
            spec, recipes, form = jobs[0]
            assert len(ahead.expectations(spec, recipes, references, form)) == len(recipes)
            assert ahead.used == 0
        assert child not in descendants(os.getpid())
    finally:
        ahead_module.compute_all = compute_all


def test_no_copy_is_forked_while_another_thread_runs():
    references, jobs = _references(), _jobs(1)
    release = threading.Event()
    other = threading.Thread(target=release.wait)
    other.start()
    try:
        with ExpectationsAhead(jobs, references, time.monotonic() + 60) as ahead:
            assert ahead._pid is None
            spec, recipes, form = jobs[0]
            assert len(ahead.expectations(spec, recipes, references, form)) == len(recipes)
    finally:
        release.set()
        other.join()


def test_declared_params_read_the_last_definition():
    submission = load_submission(SOLUTIONS / "dinosaur_island.ipynb", 50, None)
    assert declared_params(submission, "clip") == ["gradients", "maxValue"]
    assert declared_params(submission, "no_such_function") is None


def _real_notebooks_graded_with_the_copy_get_what_grading_without_it_gives(notebooks: list) -> list[int]:
    from grader.pipeline import grade_notebook

    used = []
    real_exit = ExpectationsAhead.__exit__

    def counting_exit(self, *exc_info):
        used.append(self.used)
        real_exit(self, *exc_info)

    ExpectationsAhead.__exit__ = counting_exit
    try:
        for path in notebooks:
            ahead = without_timings(grade_notebook(path, FAST.with_changes(expect_ahead=True)))
            inline = without_timings(grade_notebook(path, FAST))
            assert ahead == inline, path
    finally:
        ExpectationsAhead.__exit__ = real_exit
    return used[::2]  # each notebook's graded with the copy (the second, inline, used none)


@pytest.mark.parametrize("scenario", [_the_copy_gives_what_the_grader_computes_and_leaves_no_process,
                                      _another_form_than_the_source_suggested_is_computed_here,
                                      _a_copy_that_fails_or_dies_is_replaced_by_computing_here,
                                      _a_copy_slower_than_the_deadline_is_not_waited_for],
                         ids=lambda scenario: scenario.__name__.strip("_"))
def test_scenario(fresh, scenario):
    fresh.apply(scenario)


def test_real_notebooks_graded_with_the_copy_get_what_grading_without_it_gives(fresh, shared):
    corpus = shared / "corpus"
    if not corpus.is_dir():
        pytest.skip("../shared/corpus is not here")
    # both published signatures of model (data_x in v4, data before), and RNN's items
    notebooks = sorted((corpus / "dino").glob("*.ipynb"))[:6] + sorted((corpus / "rnn").glob("*.ipynb"))[:2]
    used = fresh.apply(_real_notebooks_graded_with_the_copy_get_what_grading_without_it_gives,
                       ([str(path) for path in notebooks],))
    assert used == [4] * 6 + [10] * 2  # every function with hidden cases, in every notebook, from the copy


def _a_starved_copy_is_waited_for_only_so_long():
    references, jobs = _references(), _jobs(1)
    grader = os.getpid()

    def starved_in_the_copy(spec, recipes, refs, form):
        if os.getpid() != grader:
            time.sleep(120)  # as if it got no CPU at all
        return compute_all(spec, recipes, refs, form)

    ahead_module.compute_all, patience = starved_in_the_copy, ahead_module.PATIENCE
    ahead_module.PATIENCE = 0.3
    try:
        with ExpectationsAhead(jobs, references, time.monotonic() + 600) as ahead:
            child = ahead._pid
            spec, recipes, form = jobs[0]
            assert len(ahead.expectations(spec, recipes, references, form)) == len(recipes)
            assert ahead.used == 0 and ahead._pid is None  # given up on, killed and reaped
        assert child not in descendants(os.getpid())
    finally:
        ahead_module.compute_all, ahead_module.PATIENCE = compute_all, patience


def test_a_starved_copy_is_waited_for_only_so_long(fresh):
    fresh.apply(_a_starved_copy_is_waited_for_only_so_long)


def _nothing_the_copy_prints_reaches_the_graders_output(folder: str) -> str:
    references, jobs = _references(), _jobs(1)
    grader = os.getpid()

    def printing_in_the_copy(spec, recipes, refs, form):
        if os.getpid() != grader:
            os.write(1, b"printed by the copy\n")
        return compute_all(spec, recipes, refs, form)

    captured = os.path.join(folder, "stdout")
    saved = os.dup(1)
    ahead_module.compute_all = printing_in_the_copy
    try:
        with open(captured, "wb") as handle:
            os.dup2(handle.fileno(), 1)  # where `grade --json` prints its result
        with ExpectationsAhead(jobs, references, time.monotonic() + 60) as ahead:
            spec, recipes, form = jobs[0]
            ahead.expectations(spec, recipes, references, form)
            assert ahead.used == 1
    finally:
        os.dup2(saved, 1)
        os.close(saved)
        ahead_module.compute_all = compute_all
    with open(captured) as handle:
        return handle.read()


def test_nothing_the_copy_prints_reaches_the_graders_output(fresh, tmp_path):
    assert fresh.apply(_nothing_the_copy_prints_reaches_the_graders_output, (str(tmp_path),)) == ""
