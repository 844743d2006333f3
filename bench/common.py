"""Helpers shared by the benchmarks: timing, CPU accounting of a whole process tree, and executing
a notebook with nbclient as a baseline."""
from __future__ import annotations

import ctypes
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import nbformat

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def median_seconds(action: Callable[[], object], repeat: int) -> float:
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        action()
        times.append(time.perf_counter() - started)
    return statistics.median(times)


@dataclass(frozen=True)
class Measured:
    wall: float
    """Seconds from start until the action returned."""
    cpu: float
    """CPU seconds (user + system) of the action and every process it started, however deep."""
    value: object

    def busy(self, cores: int) -> float:
        """The share of ``cores x wall`` spent computing (1.0: every core busy the whole time)."""
        return self.cpu / (cores * self.wall) if self.wall else 0.0


def cores() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def _become_subreaper() -> bool:
    """Orphans of the measured tree (a zygote outliving its grading process) come back to us to be
    reaped, so their CPU time is counted too (Linux only)."""
    try:
        return ctypes.CDLL(None, use_errno=True).prctl(36, 1, 0, 0, 0) == 0  # PR_SET_CHILD_SUBREAPER
    except (OSError, AttributeError):
        return False


def _children() -> set[int]:
    """Our own child processes (from /proc: their parent id is ours)."""
    me, found = os.getpid(), set()
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as handle:
                    fields = handle.read().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[1]) == me:
                found.add(int(entry))
    return found


def measure(action: Callable[[], object], linger: float = 30.0) -> Measured:
    """Run ``action`` in a forked child and account for the CPU of its whole process tree.

    The kernel adds a process's CPU time (and its reaped descendants') to its parent's when the parent
    reaps it; as a subreaper we reap whatever the tree leaves behind, so nothing escapes the count.
    The action's return value comes back as JSON."""
    _become_subreaper()
    existing = _children()  # ours before (a zygote of the bench itself): not waited for
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    reader, writer = os.pipe()
    started = time.perf_counter()
    pid = os.fork()
    if pid == 0:  # the child: run, send the value, leave without running the parent's cleanup
        os.close(reader)
        code = 0
        try:
            payload = json.dumps(action())
        except BaseException as error:  # noqa: BLE001 - reported by the parent
            payload, code = json.dumps({"error": repr(error)}), 1
        with os.fdopen(writer, "w") as handle:
            handle.write(payload)
        os._exit(code)
    os.close(writer)
    with os.fdopen(reader) as handle:
        payload = handle.read()
    os.waitpid(pid, 0)
    wall = time.perf_counter() - started
    deadline = time.monotonic() + linger
    while time.monotonic() < deadline:  # the tree's leftovers (zygotes, Dask nannies) exit on their own
        try:
            if os.waitpid(-1, os.WNOHANG)[0] == 0:
                if not _children() - existing:
                    break
                time.sleep(0.05)
        except ChildProcessError:
            break
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime)
    return Measured(wall, cpu, json.loads(payload) if payload else None)


def import_numpy() -> None:
    subprocess.run([sys.executable, "-c", "import numpy"], check=True)


def without_demo_cells(nb: nbformat.NotebookNode) -> nbformat.NotebookNode:
    """The grader never runs the 35,000-iteration training demo; the baseline must not either."""
    nb.cells = [c for c in nb.cells if not (c.cell_type == "code" and "model(" in c.source and "def model" not in c.source)]
    return nb


def nbclient_execute(path: Path, assignment: str) -> None:
    """Execute a notebook top to bottom with nbclient/ipykernel in a folder holding the helpers."""
    from nbclient import NotebookClient

    from grader.course import get_assignment
    from grader.resources import assignments_dir

    spec = get_assignment(assignment)
    with tempfile.TemporaryDirectory() as folder:
        for name in spec.helpers:
            target = Path(folder) / name
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(assignments_dir() / name, target)
        for link, target in spec.data_links.items():
            shutil.copyfile(assignments_dir() / target, Path(folder) / link)
        nb = without_demo_cells(nbformat.read(str(path), as_version=4))
        NotebookClient(nb, timeout=120, kernel_name="python3", allow_errors=True,
                       resources={"metadata": {"path": folder}}).execute()
