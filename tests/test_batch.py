"""A TA grades a whole class in one command: everything completes, scores match single-notebook
grading, an interrupted batch resumes without losing or regrading finished results."""
from __future__ import annotations

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

from grader.batch import discover, gradebook_csv, grade_batch, load_results, write_outputs
from grader.cli import main
from grader.pipeline import grade_notebook

from conftest import ASSIGNMENTS, FAST, ROOT, SHARED, SOLUTIONS, make_notebook, solution_cells

CONFIG = FAST.with_changes(hidden_cases=1)


def build_class(folder: Path, corpus_every: int = 10) -> dict[str, Path]:
    folder.mkdir(parents=True, exist_ok=True)
    students = {
        "ref_rnn": SOLUTIONS / "rnn_step_by_step.ipynb", "ref_dino": SOLUTIONS / "dinosaur_island.ipynb",
        "stub_rnn": ASSIGNMENTS / "rnn_step_by_step.ipynb", "stub_dino": ASSIGNMENTS / "dinosaur_island.ipynb",
    }
    corpus = sorted((SHARED / "corpus").glob("*/*.ipynb")) if SHARED.is_dir() else []
    for number, path in enumerate(corpus[::corpus_every]):
        students[f"corpus{number:02d}"] = path
    placed = {}
    for student, source in students.items():
        placed[student] = folder / f"{student}.ipynb"
        shutil.copyfile(source, placed[student])
    (folder / "broken.ipynb").write_text('{"cells": [')
    (folder / "empty.ipynb").write_text("")
    make_notebook(folder / "unknown.ipynb", "print('hello')")
    placed.update({name: folder / f"{name}.ipynb" for name in ("broken", "empty", "unknown")})
    return placed


def test_class_completes_and_matches_single_grading(tmp_path):
    placed = build_class(tmp_path / "class")
    out = tmp_path / "out"
    entries, problems = discover([str(tmp_path / "class")])
    assert sorted(e.student for e in entries) == sorted(placed) and not problems
    # A class of both assignments: the TA names the one graded (without ../shared the two are tied).
    summary = grade_batch(entries, out, CONFIG.with_changes(assignment="dinosaur_island"), jobs=2)
    assert summary.graded + summary.failed == len(placed)
    results = {data["student"]: data for data in write_outputs(out)}
    rows = list(csv.DictReader(open(out / "gradebook.csv")))
    assert sorted(row["student"] for row in rows) == sorted(placed)
    # One assignment per batch (the one most notebooks are); the others are not graded against it.
    batch_config = CONFIG.with_changes(assignment=summary.assignment)
    for student, path in placed.items():
        alone = grade_notebook(path, batch_config)
        assert results[student]["score"] == alone.score, student
        assert results[student]["graded"] == alone.graded
    ours, theirs = ("rnn", "dino") if summary.assignment == "rnn_step_by_step" else ("dino", "rnn")
    assert results[f"ref_{ours}"]["score"] == 100 and results[f"stub_{ours}"]["score"] == 0
    for student in (f"ref_{theirs}", f"stub_{theirs}"):
        assert not results[student]["graded"] and results[student]["error"].startswith("wrong assignment")
    assert not results["broken"]["graded"] and "JSON parse error" in results["broken"]["error"]
    row = next(r for r in rows if r["student"] == "empty")
    assert row["status"] == "not graded" and "empty file" in row["message"]
    gradescope = json.loads((out / "gradescope" / f"ref_{ours}.json").read_text())
    assert gradescope["score"] == 100 and len(gradescope["tests"]) >= 4
    assert "not implemented yet" in (out / "feedback" / f"stub_{ours}.md").read_text()


def test_layouts_and_duplicate_students(tmp_path):
    nbgrader = tmp_path / "course" / "submitted"
    for student in ("alice", "bob"):
        target = nbgrader / student / "week1" / "rnn.ipynb"
        target.parent.mkdir(parents=True)
        shutil.copyfile(ASSIGNMENTS / "rnn_step_by_step.ipynb", target)
    per_student = tmp_path / "folders"
    (per_student / "carol").mkdir(parents=True)
    shutil.copyfile(ASSIGNMENTS / "rnn_step_by_step.ipynb", per_student / "carol" / "anything.ipynb")
    flat = tmp_path / "flat"
    flat.mkdir()
    shutil.copyfile(ASSIGNMENTS / "rnn_step_by_step.ipynb", flat / "alice.ipynb")
    entries, problems = discover([str(tmp_path / "course"), str(per_student), str(flat / "*.ipynb")])
    # Two notebooks named "alice": nbgrader's folder names one, the other only its own file name (which
    # whoever saved it chose), so the folder's keeps the id and the file is marked and listed for the TA.
    by_student = {e.student: e for e in entries}
    assert by_student["alice"].path.parts[-3:] == ("alice", "week1", "rnn.ipynb")
    flat_alice = next(e for e in entries if e.path == flat / "alice.ipynb")
    assert flat_alice.student.startswith("alice~ambiguous-")
    assert sorted(s for s in by_student if "~" not in s) == ["alice", "bob", "carol"]
    assert len(problems) == 1 and "ambiguous" in problems[0] and "flat/alice.ipynb" in problems[0]


def class_with_s3_looping(folder: Path, size: int, notebook: str) -> None:
    """s0... s{size-1}, copies of the reference ``notebook``, except s3, which loops in its first cell."""
    for number in range(size):
        if number == 3:
            make_notebook(folder / "s3.ipynb", "while True:\n    pass", *solution_cells(notebook))
        else:
            shutil.copyfile(SOLUTIONS / notebook, folder / f"s{number}.ipynb")


def test_interrupted_batch_resumes_without_losing_or_regrading(tmp_path):
    folder = tmp_path / "class"
    folder.mkdir()
    # A fixed interrupt point: with one job the notebooks are graded in name order, and s3 loops in
    # its first cell far longer than the test waits (the worker sees no file of the test's, so it
    # cannot be released), so exactly s0-s2 are done when the grader is killed.
    class_with_s3_looping(folder, 8, "dinosaur_island.ipynb")
    out = tmp_path / "out"
    # Limits far above anything this test waits for: only the kill stops s3.
    command = [sys.executable, "-m", "grader", str(folder), "--out", str(out), "--jobs", "1", "--seed", "0",
               "--hidden-cases", "1", "--cell-timeout", "600", "--timeout", "900"]
    process = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                               start_new_session=True)
    deadline = time.monotonic() + 300  # only stops a hang; three results always come first
    while len(list((out / "results").glob("*.json"))) < 3 and time.monotonic() < deadline:
        time.sleep(0.05)
    os.killpg(process.pid, signal.SIGKILL)  # a killed grader, mid-batch
    process.wait()
    # The student fixes s3: only it (changed) and the notebooks never graded are graded again.
    shutil.copyfile(SOLUTIONS / "dinosaur_island.ipynb", folder / "s3.ipynb")
    finished = {p.name: (p.stat().st_mtime_ns, p.read_bytes()) for p in (out / "results").glob("*.json")}
    assert sorted(finished) == ["s0.json", "s1.json", "s2.json"]
    assert all(json.loads(content)["score"] == 100 for _, content in finished.values())
    assert subprocess.run(command, cwd=ROOT, capture_output=True).returncode == 0
    after = {p.name: (p.stat().st_mtime_ns, p.read_bytes()) for p in (out / "results").glob("*.json")}
    assert len(after) == 8
    assert all(after[name] == finished[name] for name in finished)  # kept, not regraded
    rows = list(csv.DictReader(open(out / "gradebook.csv")))
    assert len(rows) == 8 and all(float(row["score"]) == 100 for row in rows)


def test_changed_notebook_is_regraded_and_force_regrades_all(tmp_path):
    folder = tmp_path / "class"
    folder.mkdir()
    shutil.copyfile(SOLUTIONS / "dinosaur_island.ipynb", folder / "a.ipynb")
    shutil.copyfile(ASSIGNMENTS / "dinosaur_island.ipynb", folder / "b.ipynb")
    out = tmp_path / "out"
    entries, _ = discover([str(folder)])
    config = CONFIG.with_changes(only=("clip",))
    assert grade_batch(entries, out, config, jobs=1).skipped == 0
    shutil.copyfile(SOLUTIONS / "dinosaur_island.ipynb", folder / "b.ipynb")
    second = grade_batch(entries, out, config, jobs=1)
    assert second.skipped == 1 and second.graded == 1
    assert {d["student"]: d["score"] for d in load_results(out)} == {"a": 25, "b": 25}
    assert grade_batch(entries, out, config, jobs=1, force=True).skipped == 0


def test_hostile_class_leaves_honest_results_alone(tmp_path):
    folder = tmp_path / "class"
    folder.mkdir()
    out = tmp_path / "out"
    shutil.copyfile(SOLUTIONS / "rnn_step_by_step.ipynb", folder / "honest.ipynb")
    earlier = out / "results" / "earlier.json"
    earlier.parent.mkdir(parents=True)
    earlier.write_text('{"student": "earlier", "notebook": "x", "score": 42, "max_score": 100, "graded": true}')
    evil = (f"import os, glob, shutil\n"
            f"for target in glob.glob('{out}/**', recursive=True) + glob.glob('{folder}/*'):\n"
            f"    try:\n        os.remove(target)\n    except Exception:\n        pass\n"
            f"shutil.rmtree('{out}', ignore_errors=True)\n"
            f"open('{out}/results/honest.json', 'w').write('{{}}') if os.path.isdir('{out}') else None\n")
    make_notebook(folder / "evil.ipynb", "import numpy as np", evil,
                  "# GRADED FUNCTION: rnn_cell_forward\ndef rnn_cell_forward(xt, a_prev, parameters):\n    while True:\n        pass")
    make_notebook(folder / "bomb.ipynb", "import numpy as np\nx = np.ones((10**6, 10**6))",
                  "# GRADED FUNCTION: rnn_forward\ndef rnn_forward(x, a0, parameters):\n    import os\n    os._exit(0)")
    entries, _ = discover([str(folder)])
    summary = grade_batch(entries, out, CONFIG, jobs=2)
    assert summary.graded + summary.failed == 3
    results = {d["student"]: d for d in write_outputs(out)}
    assert results["honest"]["score"] == grade_notebook(folder / "honest.ipynb", CONFIG).score == 100
    assert results["evil"]["score"] == 0 and results["bomb"]["score"] == 0
    assert json.loads(earlier.read_text())["score"] == 42
    assert (folder / "honest.ipynb").is_file()


def test_cli_batch_prints_summary(tmp_path, capsys):
    folder = tmp_path / "class"
    folder.mkdir()
    shutil.copyfile(SOLUTIONS / "dinosaur_island.ipynb", folder / "a.ipynb")
    (folder / "bad.ipynb").write_text("nope")
    code = main([str(folder), "--out", str(tmp_path / "out"), "--only", "clip", "--seed", "1", "--no-color"])
    text = capsys.readouterr().out
    assert code == 0
    assert "could not be graded 1" in text and "Pass rate per function" in text and "Score distribution" in text
    assert gradebook_csv(load_results(tmp_path / "out")).count("\n") == 3


def test_a_notebook_the_grader_itself_cannot_finish_is_stopped_and_blames_no_classmate(tmp_path, monkeypatch):
    """The worker's limits end a student's code, but not the grader's own work on a notebook (a line
    built to make a parser take hours was one). A grading process holding one notebook past --timeout
    plus a margin is stopped: that notebook is recorded as such, every classmate is graded, and none
    is blamed for the pool breaking under them."""
    import grader.batch as batch

    folder = tmp_path / "class"
    folder.mkdir()
    for name in ("alice", "bob", "carol", "stuck"):
        shutil.copyfile(SOLUTIONS / "rnn_step_by_step.ipynb", folder / f"{name}.ipynb")
    # The grading processes (spawned: a fresh interpreter each) never finish grading stuck.ipynb.
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join([str(ROOT / "tests" / "hang_injection"), str(ROOT)]))
    monkeypatch.setenv("GRADER_TEST_HANG_ON", "stuck.ipynb")
    monkeypatch.setattr(batch, "GRADER_GRACE", 0.0)
    entries, _ = discover([str(folder)])
    outcome = {}
    grading = threading.Thread(target=lambda: outcome.update(
        summary=grade_batch(entries, tmp_path / "out", CONFIG.with_changes(notebook_timeout=30), jobs=2)), daemon=True)
    grading.start()
    grading.join(600)  # only stops a hang: the batch ends ~30 s in, once stuck.ipynb is stopped
    assert not grading.is_alive(), "the batch waits for a notebook the grader never finishes"
    summary = outcome["summary"]
    results = {data["student"]: data for data in write_outputs(tmp_path / "out")}
    assert (summary.graded, summary.failed) == (3, 1)
    assert all(results[name]["score"] == 100 for name in ("alice", "bob", "carol"))
    assert not results["stuck"]["graded"]
    assert results["stuck"]["error"].startswith("grading this notebook took the grader itself longer than 30 s")


def test_a_grading_process_that_dies_is_charged_to_its_own_notebook_only(tmp_path, monkeypatch):
    """When a grading process dies (out of memory, killed), the pool breaks under every notebook in
    it: only the one that process held is recorded as failed, the others are graded again."""
    folder = tmp_path / "class"
    folder.mkdir()
    for name in ("alice", "bob", "carol", "doomed", "erin"):
        shutil.copyfile(SOLUTIONS / "rnn_step_by_step.ipynb", folder / f"{name}.ipynb")
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join([str(ROOT / "tests" / "hang_injection"), str(ROOT)]))
    monkeypatch.setenv("GRADER_TEST_DIE_ON", "doomed.ipynb")
    entries, _ = discover([str(folder)])
    summary = grade_batch(entries, tmp_path / "out", CONFIG, jobs=2)
    results = {data["student"]: data for data in write_outputs(tmp_path / "out")}
    assert (summary.graded, summary.failed) == (4, 1)
    assert all(results[name]["score"] == 100 for name in ("alice", "bob", "carol", "erin"))
    assert results["doomed"]["error"] == "internal grader error: the grading process died while grading it (out of memory?)"


def test_a_classmate_finished_by_a_process_that_then_dies_keeps_the_result(tmp_path, monkeypatch):
    """One grading process finishes alice, then dies on doomed, before the batch looks: both come back
    in one round. When the broken one was read first, alice (her result in hand) was blamed for the
    death of the process that had graded her."""
    from concurrent.futures import ALL_COMPLETED
    from concurrent.futures.process import BrokenProcessPool

    import grader.batch as batch

    folder = tmp_path / "class"
    folder.mkdir()
    for name in ("alice", "doomed"):
        shutil.copyfile(SOLUTIONS / "rnn_step_by_step.ipynb", folder / f"{name}.ipynb")
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join([str(ROOT / "tests" / "hang_injection"), str(ROOT)]))
    monkeypatch.setenv("GRADER_TEST_DIE_ON", "doomed.ipynb")
    real_wait = batch.wait

    def both_done_broken_first(futures, timeout=None, return_when=None):
        done, pending = real_wait(futures, timeout=600, return_when=ALL_COMPLETED)  # only stops a hang
        return sorted(done, key=lambda future: not isinstance(future.exception(), BrokenProcessPool)), pending

    monkeypatch.setattr(batch, "wait", both_done_broken_first)
    entries, _ = discover([str(folder)])
    summary = grade_batch(entries, tmp_path / "out", CONFIG, jobs=1)  # one process: alice, then doomed
    results = {data["student"]: data for data in write_outputs(tmp_path / "out")}
    assert (summary.graded, summary.failed) == (1, 1)
    assert results["alice"]["score"] == 100
    assert results["doomed"]["error"].startswith("internal grader error: the grading process died")


def test_a_pool_found_broken_while_submitting_ends_the_batch_all_the_same(tmp_path, monkeypatch):
    """A grading process died between the batch's look at the finished notebooks and its next
    submit: submit raised BrokenProcessPool out of the batch (CI, at 1809705). The batch now stops
    submitting and lets the running notebooks' futures say whose process it was."""
    from concurrent.futures.process import BrokenProcessPool

    import grader.batch as batch

    folder = tmp_path / "class"
    folder.mkdir()
    for number in range(4):
        shutil.copyfile(SOLUTIONS / "rnn_step_by_step.ipynb", folder / f"s{number}.ipynb")
    real_start = batch._start_pool
    submits = []

    def pool_that_refuses_one_submit(jobs):
        pool = real_start(jobs)
        real_submit = pool.executor.submit

        def submit(*args, **kwargs):
            submits.append(1)
            if len(submits) == 2:
                raise BrokenProcessPool("a child process terminated abruptly")
            return real_submit(*args, **kwargs)

        pool.executor.submit = submit
        return pool

    monkeypatch.setattr(batch, "_start_pool", pool_that_refuses_one_submit)
    entries, _ = discover([str(folder)])
    summary = grade_batch(entries, tmp_path / "out", CONFIG.with_changes(only=("rnn_cell_forward",)), jobs=1)
    assert (summary.graded, summary.failed) == (4, 0) and len(submits) == 5


def test_the_progress_counts_as_running_only_what_a_grading_process_holds(tmp_path):
    """Two notebooks are queued per grading process (so none idles between notebooks); the pool calls
    both "running", and the bar showed twice the processes running, and an ETA of minutes for each."""
    folder = tmp_path / "class"
    folder.mkdir()
    for number in range(8):
        shutil.copyfile(SOLUTIONS / "rnn_step_by_step.ipynb", folder / f"s{number}.ipynb")
    entries, _ = discover([str(folder)])
    running, most = set(), 0

    def on_event(kind: str, entry) -> None:
        nonlocal most
        if kind == "started":
            running.add(entry.student)
        else:
            running.discard(entry.student)
        most = max(most, len(running))

    summary = grade_batch(entries, tmp_path / "out", CONFIG.with_changes(only=("rnn_cell_forward",)), jobs=2,
                          on_event=on_event)
    assert summary.graded == 8 and not running
    assert 1 <= most <= 2


def test_a_batch_stopped_with_sigterm_writes_the_gradebook_of_what_is_done(tmp_path):
    """A job scheduler or a closed terminal stops a batch with SIGTERM/SIGHUP: like Ctrl-C, the gradebook
    then lists every notebook finished, and the command says so (it exited silently, gradebook stale)."""
    folder = tmp_path / "class"
    folder.mkdir()
    class_with_s3_looping(folder, 4, "rnn_step_by_step.ipynb")  # one job, name order: s0-s2 done while s3 loops
    out = tmp_path / "out"
    command = [sys.executable, "-m", "grader", str(folder), "--out", str(out), "--jobs", "1", "--hidden-cases", "1",
               "--cell-timeout", "600", "--timeout", "900", "--no-color"]
    process = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    deadline = time.monotonic() + 300  # only stops a hang; three results always come first
    while len(list((out / "results").glob("*.json"))) < 3 and time.monotonic() < deadline:
        time.sleep(0.05)
    process.send_signal(signal.SIGTERM)  # the grader alone, as a scheduler does
    shown, _ = process.communicate(timeout=300)
    assert process.returncode == 128 + signal.SIGTERM
    assert "stopped (SIGTERM)" in shown
    rows = list(csv.DictReader(open(out / "gradebook.csv")))
    assert sorted(row["student"] for row in rows) == ["s0", "s1", "s2"]


def test_a_grading_process_has_a_memory_bound_and_survives_reaching_it():
    """Each bound on what a notebook can make the grader hold is written against a known attack;
    the grading process's own memory bound (RLIMIT_DATA) is the structural one: going past it is a
    MemoryError for that notebook, which gets "not graded" with the reason, and the process goes on."""
    import resource
    from concurrent.futures import Future

    import numpy as np
    import pytest

    from grader.batch import GRADING_MEMORY_FLOOR, Entry, _outcome, _start_pool, grading_memory_bytes

    assert grading_memory_bytes(1) >= grading_memory_bytes(8) >= GRADING_MEMORY_FLOOR
    with _start_pool(1) as pool:
        soft, _ = pool.executor.submit(resource.getrlimit, resource.RLIMIT_DATA).result()
        assert soft == grading_memory_bytes(1)
        too_much = pool.executor.submit(np.ones, soft // 8 + 1)  # float64: more bytes than the bound
        with pytest.raises(MemoryError):
            too_much.result()
        assert pool.executor.submit(np.ones, 1000).result().sum() == 1000  # still grading
    failed = Future()
    failed.set_exception(MemoryError())
    result, prints = _outcome(failed, Entry("ada", Path("ada.ipynb")))
    assert not result.graded and "more memory than a grading process may take" in result.error and prints is None
