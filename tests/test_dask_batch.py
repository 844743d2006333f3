"""A class graded on a Dask cluster (LocalCluster, 2 worker processes) gives exactly a local batch's
results; a Dask worker killed mid-task loses nothing; Ctrl-C keeps finished results and rerunning
resumes. Skipped when the optional ``distributed`` is not installed."""
from __future__ import annotations

import contextlib
import csv
import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from grader.batch import discover, grade_batch, write_outputs

from conftest import ASSIGNMENTS, FAST, ROOT, SOLUTIONS, make_notebook, solution_cells

distributed = pytest.importorskip("distributed")
dask = pytest.importorskip("dask")

from grader.dask_batch import DaskRunner, _task_root, parse_scheduler  # noqa: E402  (needs distributed)

CONFIG = FAST.with_changes(hidden_cases=1)
#: Only stops a hang; no outcome depends on it.
GENEROUS = 240


@pytest.fixture(scope="module")
def client():
    cluster = distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                       dashboard_address="127.0.0.1:0")
    client = distributed.Client(cluster)
    yield client
    client.close()
    cluster.close()


def install_gate(name: str, marker: str) -> None:
    """Run on each Dask worker: grading a notebook called ``name`` waits there until ``marker`` exists.

    A fixed interrupt point outside the sandbox (which cannot see the test's files). A Dask worker
    started afresh after a kill does not have the gate."""
    import grader.pipeline as pipeline

    original = pipeline.grade_notebook

    def gated(path, *args, **kwargs):
        if Path(path).name == name:
            while not os.path.exists(marker):
                time.sleep(0.02)
        return original(path, *args, **kwargs)

    pipeline.grade_notebook = gated


def holder_of(client, prefix: str) -> str | None:
    """The Dask worker processing the task whose key starts with ``prefix``, once it does."""
    deadline = time.monotonic() + GENEROUS
    while time.monotonic() < deadline:
        for worker, keys in client.processing().items():
            if any(str(key).startswith(prefix) for key in keys):
                return worker
        time.sleep(0.05)
    return None


def mixed_class(folder: Path) -> None:
    folder.mkdir(parents=True)
    shutil.copyfile(SOLUTIONS / "rnn_step_by_step.ipynb", folder / "honest_rnn.ipynb")
    shutil.copyfile(SOLUTIONS / "dinosaur_island.ipynb", folder / "honest_dino.ipynb")
    shutil.copyfile(ASSIGNMENTS / "rnn_step_by_step.ipynb", folder / "stub.ipynb")
    (folder / "broken.ipynb").write_text('{"cells": [')
    make_notebook(folder / "unknown.ipynb", "print('hello')")
    cells = solution_cells("rnn_step_by_step.ipynb")
    make_notebook(folder / "hostile.ipynb", *cells,
                  "# GRADED FUNCTION: rnn_forward\ndef rnn_forward(x, a0, parameters):\n    import os\n    os._exit(0)")
    make_notebook(folder / "slow.ipynb", *cells,
                  "# GRADED FUNCTION: rnn_cell_forward\ndef rnn_cell_forward(xt, a_prev, parameters):\n"
                  "    while True:\n        pass")


def comparable(out: Path) -> dict[str, dict]:
    results = {}
    for path in sorted((out / "results").glob("*.json")):
        data = json.loads(path.read_text())
        data.pop("duration_seconds")
        results[path.name] = data
    return results


def test_same_results_as_a_local_batch_and_rerun_skips(tmp_path, client):
    mixed_class(tmp_path / "class")
    entries, _ = discover([str(tmp_path / "class")])
    local = grade_batch(entries, tmp_path / "local", CONFIG, jobs=2)
    on_dask = grade_batch(entries, tmp_path / "dask", CONFIG, runner=DaskRunner(client))
    assert (on_dask.graded, on_dask.failed) == (local.graded, local.failed) == (5, 2)
    assert comparable(tmp_path / "dask") == comparable(tmp_path / "local")
    write_outputs(tmp_path / "local")
    write_outputs(tmp_path / "dask")
    assert (tmp_path / "dask" / "gradebook.csv").read_text() == (tmp_path / "local" / "gradebook.csv").read_text()
    rows = {row["student"]: row for row in csv.DictReader(open(tmp_path / "dask" / "gradebook.csv"))}
    assert float(rows["honest_rnn"]["score"]) == 100 and rows["broken"]["status"] == "not graded"
    assert float(rows["slow"]["rnn_cell_forward"]) == 0 and float(rows["hostile"]["rnn_forward"]) == 0
    before = {p: p.stat().st_mtime_ns for p in (tmp_path / "dask" / "results").glob("*.json")}
    again = grade_batch(entries, tmp_path / "dask", CONFIG, runner=DaskRunner(client))
    assert again.skipped == len(entries) and again.graded == again.failed == 0
    assert {p: p.stat().st_mtime_ns for p in before} == before


def test_a_loose_helper_module_in_a_flat_folder_is_nobodys_on_dask_too(tmp_path, client):
    # amy and zoe share a flat folder with a solved rnn_utils.py lying loose: it belongs to neither, so both
    # get the course's starter copy (the optional Adam helpers score 0) and a note saying so; bob's own
    # folder holds his own copy, graded. The rule is the local batch's, whichever runner grades.
    folder = tmp_path / "class"
    (folder / "bob").mkdir(parents=True)
    for notebook in (folder / "amy.ipynb", folder / "zoe.ipynb", folder / "bob" / "rnn.ipynb"):
        shutil.copyfile(SOLUTIONS / "rnn_step_by_step.ipynb", notebook)
    shutil.copyfile(SOLUTIONS / "rnn_utils.py", folder / "rnn_utils.py")
    shutil.copyfile(SOLUTIONS / "rnn_utils.py", folder / "bob" / "rnn_utils.py")
    entries, _ = discover([str(folder)])
    only = CONFIG.with_changes(only=("rnn_cell_forward", "initialize_adam"))
    local = grade_batch(entries, tmp_path / "local", only, jobs=2)
    on_dask = grade_batch(entries, tmp_path / "dask", only, runner=DaskRunner(client))
    assert comparable(tmp_path / "dask") == comparable(tmp_path / "local")
    assert on_dask.problems == local.problems
    assert any("rnn_utils.py lie(s) in a folder shared by several notebooks" in p for p in on_dask.problems)
    results = {data["student"]: data for data in write_outputs(tmp_path / "dask")}
    for student in ("amy", "zoe"):
        assert results[student]["optional_score"] == 0
        assert any("rnn_utils.py beside the notebook was not used" in note for note in results[student]["notes"])
    assert results["bob"]["optional_score"] > 0
    assert not any("not used" in note for note in results["bob"]["notes"])


def test_a_dask_worker_killed_mid_task_loses_nothing(tmp_path, client):
    folder = tmp_path / "class"
    folder.mkdir()
    for name in ("s0", "s1", "s2", "blocker"):
        shutil.copyfile(SOLUTIONS / "rnn_step_by_step.ipynb", folder / f"{name}.ipynb")
    marker = tmp_path / "go"
    client.run(install_gate, "blocker.ipynb", str(marker))
    entries, _ = discover([str(folder)])
    outcome = {}
    batch = threading.Thread(target=lambda: outcome.update(
        summary=grade_batch(entries, tmp_path / "out", CONFIG, runner=DaskRunner(client))))
    batch.start()
    holder = holder_of(client, "grade-blocker-")
    assert holder is not None
    pid = client.run(os.getpid, workers=[holder])[holder]
    held = _task_root() / "never"
    deadline = time.monotonic() + GENEROUS
    while time.monotonic() < deadline and not (held := next(_task_root().glob(f"{pid}-*/blocker.ipynb"), held)).exists():
        time.sleep(0.05)
    assert held.exists()  # the notebook's copy on the Dask worker's machine, in the folder of its task
    os.kill(pid, signal.SIGKILL)  # the Dask worker dies while it holds the notebook
    marker.touch()
    batch.join(GENEROUS)
    assert not batch.is_alive()
    summary = outcome["summary"]
    assert (summary.graded, summary.failed) == (4, 0)
    results = {data["student"]: data for data in write_outputs(tmp_path / "out")}
    assert sorted(results) == ["blocker", "s0", "s1", "s2"]
    assert all(data["score"] == 100 for data in results.values())
    # The retried task removed the dead worker's folder: no student's notebook stays behind.
    assert not held.parent.exists()


def test_interrupted_dask_batch_resumes(tmp_path, client):
    folder = tmp_path / "class"
    folder.mkdir()
    for name in ("s0", "s1", "s2", "s3", "blocker"):
        shutil.copyfile(SOLUTIONS / "rnn_step_by_step.ipynb", folder / f"{name}.ipynb")
    marker = tmp_path / "go"
    client.run(install_gate, "blocker.ipynb", str(marker))  # the batch cannot finish before Ctrl-C
    out = tmp_path / "out"
    command = [sys.executable, "-m", "grader", str(folder), "--out", str(out),
               "--scheduler", client.scheduler.address, "--seed", "0", "--hidden-cases", "1",
               "--only", "rnn_cell_forward", "--no-color"]
    process = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                               start_new_session=True)
    deadline = time.monotonic() + GENEROUS
    while len(list((out / "results").glob("*.json"))) < 4 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert holder_of(client, "grade-blocker-") is not None
    os.killpg(process.pid, signal.SIGINT)  # Ctrl-C
    assert process.wait(GENEROUS) == 130
    marker.touch()
    finished = {p.name: p.read_bytes() for p in (out / "results").glob("*.json")}
    assert sorted(finished) == [f"s{number}.json" for number in range(4)]
    assert subprocess.run(command, cwd=ROOT, capture_output=True, timeout=GENEROUS).returncode == 0
    after = {p.name: p.read_bytes() for p in (out / "results").glob("*.json")}
    assert sorted(after) == ["blocker.json", *sorted(finished)]
    assert all(after[name] == content for name, content in finished.items())  # kept, not regraded
    assert json.loads(after["blocker.json"])["score"] == 25


def pretend_other_solutions(on: bool) -> None:
    """Run on each Dask worker: make it report other reference solutions than the driver's (or stop)."""
    import grader.dask_batch as dask_batch

    if on:
        dask_batch.real_environment = getattr(dask_batch, "real_environment", dask_batch.environment)
        dask_batch.environment = lambda config: tuple(
            (name, "other" if name == "reference solutions" else value)
            for name, value in dask_batch.real_environment(config))
    elif hasattr(dask_batch, "real_environment"):
        dask_batch.environment = dask_batch.real_environment


def test_a_worker_that_would_grade_differently_refuses(tmp_path, client):
    folder = tmp_path / "class"
    folder.mkdir()
    shutil.copyfile(SOLUTIONS / "rnn_step_by_step.ipynb", folder / "a.ipynb")
    entries, _ = discover([str(folder)])
    client.run(pretend_other_solutions, True)
    try:
        with pytest.raises(Exception, match="reference solutions") as refused:
            grade_batch(entries, tmp_path / "out", CONFIG, runner=DaskRunner(client))
        assert "install the same grader version" in str(refused.value)
        assert not list((tmp_path / "out" / "results").glob("*.json"))  # nothing graded differently
        # A worker that joins after the check refuses each task: the notebook stays ungraded, listed.
        parcel_runner = DaskRunner(client)
        parcel_runner._check_workers = lambda *args: []
        summary = grade_batch(entries, tmp_path / "out", CONFIG, runner=parcel_runner)
        assert summary.graded == summary.failed == 0
        assert any("reference solutions" in problem for problem in summary.problems)
        assert not list((tmp_path / "out" / "results").glob("*.json"))
    finally:
        client.run(pretend_other_solutions, False)


def install_killer(name: str) -> None:
    """Run on each Dask worker: grading a notebook called ``name`` kills this Dask worker process."""
    import grader.pipeline as pipeline

    original = pipeline.grade_notebook

    def killing(path, *args, **kwargs):
        if Path(path).name == name:
            os.kill(os.getpid(), signal.SIGKILL)
        return original(path, *args, **kwargs)

    pipeline.grade_notebook = killing


def test_what_dead_dask_workers_left_is_removed_at_the_end_of_a_batch(tmp_path, client):
    """A worker killed mid-task leaves its task folder (a student's notebook); the next task on that
    machine removes it, and so does the end of every batch, on every worker."""
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    left = _task_root() / f"{dead.pid}-left-by-a-dead-worker"
    left.mkdir()
    (left / "someone.ipynb").write_text("{}")
    alive = _task_root() / f"{os.getpid()}-a-running-task"  # a process that still runs: never touched
    alive.mkdir()
    try:
        folder = tmp_path / "class"
        folder.mkdir()
        # Only a notebook the driver grades itself (a link is never sent): no task starts anywhere.
        (folder / "linked.ipynb").symlink_to(SOLUTIONS / "rnn_step_by_step.ipynb")
        entries, _ = discover([str(folder)])
        grade_batch(entries, tmp_path / "out", CONFIG.with_changes(assignment="rnn_step_by_step"),
                    runner=DaskRunner(client))
        assert not left.exists()
        assert alive.exists()
    finally:
        shutil.rmtree(left, ignore_errors=True)
        shutil.rmtree(alive, ignore_errors=True)


def test_a_notebook_whose_worker_keeps_dying_is_recorded_as_crashed(tmp_path):
    folder = tmp_path / "class"
    folder.mkdir()
    # Alone in its batch: a task that merely waits on a dying worker counts that death too.
    shutil.copyfile(SOLUTIONS / "rnn_step_by_step.ipynb", folder / "doomed.ipynb")
    entries, _ = discover([str(folder)])
    with dask.config.set({"distributed.scheduler.allowed-failures": 0}):  # the first death is the last
        cluster = distributed.LocalCluster(n_workers=1, threads_per_worker=1, processes=True,
                                           dashboard_address="127.0.0.1:0")
    client = distributed.Client(cluster)
    try:
        client.run(install_killer, "doomed.ipynb")
        summary = grade_batch(entries, tmp_path / "out", CONFIG, runner=DaskRunner(client))
    finally:
        client.close()
        cluster.close()
    assert (summary.graded, summary.failed) == (0, 1)
    results = {data["student"]: data for data in write_outputs(tmp_path / "out")}
    assert not results["doomed"]["graded"] and results["doomed"]["error"].startswith("crashed: the Dask worker died")


@contextlib.contextmanager
def one_thread_held_by_a_stuck(tmp_path: Path):
    """A class of two (a_stuck, then b_behind) and a cluster of one Dask worker with one thread, on which
    grading a_stuck waits until the yielded marker exists (touched at the end in any case)."""
    folder = tmp_path / "class"
    folder.mkdir()
    for name in ("a_stuck", "b_behind"):
        shutil.copyfile(SOLUTIONS / "rnn_step_by_step.ipynb", folder / f"{name}.ipynb")
    marker = tmp_path / "go"
    cluster = distributed.LocalCluster(n_workers=1, threads_per_worker=1, processes=True, dashboard_address="127.0.0.1:0")
    client = distributed.Client(cluster)
    try:
        client.run(install_gate, "a_stuck.ipynb", str(marker))
        yield client, discover([str(folder)])[0], marker
    finally:
        marker.touch()
        client.close()
        cluster.close()


def test_a_notebook_queued_behind_one_that_hangs_is_charged_from_when_it_begins(tmp_path):
    """A Dask worker takes a task ahead of its thread: one queued there behind a notebook that ran past the
    deadline was given up with it ("no answer"), though it never ran. Its time counts from when it begins."""
    out = tmp_path / "out"
    with one_thread_held_by_a_stuck(tmp_path) as (client, entries, marker):
        config = CONFIG.with_changes(notebook_timeout=20)  # the deadline: 20 s from when a task begins
        outcome = {}
        batch = threading.Thread(target=lambda: outcome.update(
            summary=grade_batch(entries, out, config, runner=DaskRunner(client, margin=0.0))))
        batch.start()
        holder = holder_of(client, "grade-b_behind-")  # assigned to the worker whose thread a_stuck holds
        assert holder is not None and any(str(key).startswith("grade-a_stuck-") for key in client.processing()[holder])
        given_up = out / "results" / "a_stuck.json"
        deadline = time.monotonic() + GENEROUS
        while not given_up.exists() and time.monotonic() < deadline:
            time.sleep(0.1)
        marker.touch()  # the hung task's thread is free again: the one queued behind it begins now
        batch.join(GENEROUS)
        assert not batch.is_alive()
    results = {data["student"]: data for data in write_outputs(out)}
    assert results["b_behind"]["graded"] and results["b_behind"]["score"] == 100, results["b_behind"]["error"]
    assert results["a_stuck"]["error"].startswith("crashed: no answer from the Dask worker within 20 s of starting it")
    assert (outcome["summary"].graded, outcome["summary"].failed) == (1, 1)


def test_a_notebook_its_worker_never_begins_is_given_up_and_the_batch_ends(tmp_path):
    """The one thread of the only worker held for good (a notebook that hung the grader there): the task
    queued behind it never begins. The batch still ends, and says to rerun."""
    out = tmp_path / "out"
    with one_thread_held_by_a_stuck(tmp_path) as (client, entries, _):
        summary = grade_batch(entries, out, CONFIG.with_changes(notebook_timeout=4), runner=DaskRunner(client, margin=0.0))
    assert (summary.graded, summary.failed) == (0, 2)
    results = {data["student"]: data for data in write_outputs(out)}
    assert results["a_stuck"]["error"].startswith("crashed: no answer from the Dask worker within 4 s of starting it")
    assert results["b_behind"]["error"].startswith("crashed: its Dask worker did not start it within 8 s")
    assert "rerun the batch to grade it" in results["b_behind"]["error"]


def test_scheduler_argument():
    assert parse_scheduler("local:3") == 3
    assert parse_scheduler("tcp://10.0.0.5:8786") == "tcp://10.0.0.5:8786"
    with pytest.raises(Exception, match="local:N"):
        parse_scheduler("local:zero")


def test_ctrl_c_on_a_local_cluster_leaves_no_notebook_behind(tmp_path):
    """With --scheduler local:N the Dask workers die with the command; the copies of the notebooks they
    held are on this machine, and the command removes them before it leaves."""
    folder = tmp_path / "class"
    folder.mkdir()
    shutil.copyfile(SOLUTIONS / "rnn_step_by_step.ipynb", folder / "stuck.ipynb")
    temporary = tmp_path / "tmp"
    temporary.mkdir()
    environment = dict(os.environ, TMPDIR=str(temporary), GRADER_TEST_HANG_ON="stuck.ipynb",
                       PYTHONPATH=os.pathsep.join([str(ROOT / "tests" / "hang_injection"), str(ROOT)]))
    command = [sys.executable, "-m", "grader", str(folder), "--out", str(tmp_path / "out"), "--scheduler", "local:1",
               "--hidden-cases", "1", "--no-color"]
    process = subprocess.Popen(command, cwd=ROOT, env=environment, stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        deadline = time.monotonic() + GENEROUS
        while not list(temporary.glob("grader-dask-*/*/stuck.ipynb")) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert list(temporary.glob("grader-dask-*/*/stuck.ipynb")), "the Dask worker never held the notebook"
        os.killpg(process.pid, signal.SIGINT)  # Ctrl-C
        assert process.wait(GENEROUS) == 130
    finally:
        if process.poll() is None:  # pragma: no cover - only if the test fails
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
    assert not list(temporary.glob("grader-dask-*/*/stuck.ipynb"))


def test_a_task_grades_an_lms_named_own_module_as_the_local_batch_does(tmp_path):
    """In a flat Canvas download a student's own module carries their id in its name
    (alice_1001_5100_rnn_utils.py); the local batch grades it as theirs (lms.companion). A Dask task
    was sent only files named exactly rnn_utils.py, so it graded the course's copy (Adam 0 + 0, the
    message asking for a module she had handed in) and resume then kept that (red team 9)."""
    from grader.dask_batch import environment, grade_parcel, make_parcel
    from grader.batch import Entry
    from grader.pipeline import grade_notebook

    folder = tmp_path / "download"
    folder.mkdir()
    shutil.copyfile(SOLUTIONS / "rnn_step_by_step.ipynb", folder / "alice_1001_5000_rnn.ipynb")
    shutil.copyfile(SOLUTIONS / "rnn_step_by_step.ipynb", folder / "bobby_1002_5001_rnn.ipynb")
    shutil.copyfile(SOLUTIONS / "rnn_utils.py", folder / "alice_1001_5100_rnn_utils.py")
    notebook = folder / "alice_1001_5000_rnn.ipynb"
    config = CONFIG.with_changes(assignment="rnn_step_by_step", only=("initialize_adam",), hidden_cases=0)
    local = grade_notebook(notebook, config.with_changes(folder_is_own=False)).to_json()
    parcel = make_parcel(Entry("1001", notebook), config, environment(config))
    assert "alice_1001_5100_rnn_utils.py" in [name for name, _ in parcel.helpers]
    remote = grade_parcel(parcel)
    scores = {f["name"]: f["score"] for f in remote["functions"]}
    assert scores == {f["name"]: f["score"] for f in local["functions"]} and scores["initialize_adam"] > 0
    assert remote["notes"] == local["notes"]
