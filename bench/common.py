"""Helpers shared by the benchmarks: timing, and executing a notebook with nbclient as a baseline."""
from __future__ import annotations

import shutil
import statistics
import subprocess
import sys
import tempfile
import time
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
