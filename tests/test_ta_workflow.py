"""What a TA does with a class (issue 16, "TA"): interrupt a batch, see the ids before grading, read the
gradebook, remove a notebook, override a score, watch the ETA."""
from __future__ import annotations

import csv
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

from conftest import ROOT, SOLUTIONS, make_notebook, solution_cells


def _children(root: int) -> set[int]:
    """Every live descendant of ``root`` (by /proc's parent links)."""
    parents: dict[int, int] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as handle:
                    parents[int(entry)] = int(handle.read().rsplit(")", 1)[1].split()[1])
            except (OSError, ValueError, IndexError):
                continue
    found, frontier = set(), {root}
    while frontier:
        frontier = {pid for pid, parent in parents.items() if parent in frontier} - found
        found |= frontier
    return found


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as handle:
            return handle.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def _processes_of_uid(uid: int) -> list[int]:
    pids = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                if os.stat(f"/proc/{entry}").st_uid == uid and _alive(int(entry)):
                    pids.append(int(entry))
            except OSError:
                continue
    return pids


def test_ctrl_c_stops_every_process_removes_folders_and_keeps_the_finished_part(tmp_path):
    folder = tmp_path / "class"
    folder.mkdir()
    # With one job the notebooks are graded in name order: s0-s2 finish, s3 loops in its first cell
    # far longer than the test waits, so the interrupt always lands while s3's worker runs.
    for number in range(5):
        if number == 3:
            make_notebook(folder / "s3.ipynb", "while True:\n    pass", *solution_cells("dinosaur_island.ipynb"))
        else:
            shutil.copyfile(SOLUTIONS / "dinosaur_island.ipynb", folder / f"s{number}.ipynb")
    out, temporary = tmp_path / "grades", tmp_path / "tmp"
    temporary.mkdir()
    temporary.chmod(0o777)  # the worker's private user creates nothing here, but may need to traverse it
    command = [sys.executable, "-m", "grader", str(folder), "--out", str(out), "--jobs", "1", "--seed", "0",
               "--hidden-cases", "1", "--cell-timeout", "600", "--timeout", "900"]
    # A private TMPDIR: the run's /tmp/grader-* folders are told apart from other runs on this machine.
    process = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                               start_new_session=True, env={**os.environ, "TMPDIR": str(temporary)})
    deadline = time.monotonic() + 300  # only stops a hang: three results and s3's worker always come
    seen: set[int] = set()
    uids: set[int] = set()
    while time.monotonic() < deadline and process.poll() is None:
        done = len(list((out / "results").glob("*.json"))) if (out / "results").is_dir() else 0
        seen |= _children(process.pid)
        workdirs = [path for path in temporary.glob("grader-*") if not path.name.startswith("grader-log-")]
        if done == 3 and workdirs:
            uids |= {path.stat().st_uid for path in workdirs} - {os.getuid()}
            break
        time.sleep(0.05)
    assert process.poll() is None, process.stderr.read().decode()
    seen |= _children(process.pid)
    os.killpg(process.pid, signal.SIGINT)  # what a terminal's Ctrl-C does: the whole foreground group
    try:
        process.wait(timeout=120)
    finally:
        if process.poll() is None:  # pragma: no cover - the failure below says why
            os.killpg(process.pid, signal.SIGKILL)
    stderr = process.stderr.read().decode()
    assert process.returncode == 130, stderr
    assert "interrupted" in stderr
    survivors = [pid for pid in seen if _alive(pid)]
    assert not survivors, survivors
    for uid in uids:  # the worker's private user id
        assert not _processes_of_uid(uid)
    assert not list(temporary.glob("grader-*")), list(temporary.iterdir())
    # The finished part is kept and has a gradebook.
    assert sorted(path.name for path in (out / "results").glob("*.json")) == ["s0.json", "s1.json", "s2.json"]
    rows = list(csv.DictReader(open(out / "gradebook.csv")))
    assert [row["student"] for row in rows] == ["s0", "s1", "s2"]
    assert all(float(row["score"]) == 100 for row in rows)


def test_dry_run_lists_ids_by_the_documented_rules_and_grades_nothing(tmp_path, capsys):
    from grader.batch import discover
    from grader.cli import main

    classroom = tmp_path / "c"
    notebooks = ["section1/zoe.ipynb", "section1/amy.ipynb", "section2/zoe.ipynb", "bob/rnn.ipynb", "flat.ipynb",
                 "nb/submitted/kim/week1/rnn.ipynb"]
    for name in notebooks:
        (classroom / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(SOLUTIONS / "rnn_step_by_step.ipynb", classroom / name)
    entries, problems = discover([str(classroom)])
    ids = {str(entry.path.relative_to(classroom)): entry.student for entry in entries}
    # A folder with several notebooks is a group (file name = id); a folder with one is the student's;
    # nbgrader's student folder is the id (not kim_week1).
    assert ids["section1/amy.ipynb"] == "amy" and ids["section2/zoe.ipynb"] == "section2"
    assert ids["section1/zoe.ipynb"] == "zoe" and ids["bob/rnn.ipynb"] == "bob" and ids["flat.ipynb"] == "flat"
    assert ids["nb/submitted/kim/week1/rnn.ipynb"] == "kim" and not problems
    # The two zoe notebooks given as two sections' folders: one id, so both are marked and listed.
    entries, problems = discover([str(classroom / "section1"), str(classroom / "section2")])
    assert sorted(entry.student.split("~")[0] for entry in entries) == ["amy", "zoe", "zoe"]
    assert len(problems) == 2 and all("ambiguous" in problem for problem in problems)
    out = tmp_path / "grades"
    capsys.readouterr()
    assert main([str(classroom), "--out", str(out), "--dry-run", "--no-color"]) == 0
    shown = capsys.readouterr().out
    assert "assignment: rnn_step_by_step" in shown and "nothing graded" in shown
    assert all(student in shown for student in ("amy", "section2", "zoe", "bob", "flat", "kim"))
    assert not out.exists()  # nothing graded, nothing written
