"""Benchmark: grading one complete notebook, beside its baselines measured in the same run.

    python bench/grade_one.py [--repeat 5]

floor    `python -c "import numpy"` in a fresh process (what any Python grader pays at least)
nbclient executing the same notebook with nbclient + ipykernel (training demo cell removed)
grade    grade_notebook() in-process, the default engine (what a batch pays per notebook)
cli      `python -m grader NOTEBOOK --json` in a fresh process (what a student's command pays), and
         `python -m grader NOTEBOOK` (the Rich report a student reads), each beside its own floor runs

Fresh processes are measured alternately with the floor (so both see the same machine load), as the
median wall time and the median CPU time of the whole process tree (zygote and sandboxed worker
included). On a busy machine the wall ratio drifts; the CPU ratio much less. Both run with Python's
bytecode cache on, as on a user's machine (a first, unmeasured run writes it).

Targets (issue 13): cli <= 3x floor; grade >= 5x faster than nbclient.
"""
from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys

from common import ROOT, measure, median_seconds, nbclient_execute

from grader.config import GradeConfig
from grader.pipeline import grade_notebook

NOTEBOOKS = {"rnn_step_by_step": ROOT / "solutions" / "rnn_step_by_step.ipynb",
             "dinosaur_island": ROOT / "solutions" / "dinosaur_island.ipynb"}


#: What a user's machine has: Python writes the bytecode of the modules it imports (pip compiles an
#: installed package's at install time). Some environments turn that off (PYTHONDONTWRITEBYTECODE),
#: which would make every fresh `grade` compile the checkout's source and measure that instead.
USER_ENV = {key: value for key, value in os.environ.items() if key != "PYTHONDONTWRITEBYTECODE"}


def fresh(command: list[str]):
    return lambda: subprocess.run(command, cwd=ROOT, check=True, capture_output=True, env=USER_ENV) and None


def alternate(command: list[str], repeat: int) -> tuple[float, float, float, float]:
    """Median wall and CPU of the floor and of ``command``, each fresh, taking turns."""
    floors, runs = [], []
    fresh(command)()  # the first run writes the bytecode, as a user's first run does
    for _ in range(repeat):
        floors.append(measure(fresh([sys.executable, "-c", "import numpy"])))
        runs.append(measure(fresh(command)))
    median = statistics.median
    return (median(m.wall for m in floors), median(m.cpu for m in floors),
            median(m.wall for m in runs), median(m.cpu for m in runs))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    for assignment, path in NOTEBOOKS.items():
        result = grade_notebook(path, GradeConfig())  # warm-up: reference solutions, expected values
        assert result.score == result.max_score, result
        grade = median_seconds(lambda: grade_notebook(path, GradeConfig()), args.repeat)
        floor, floor_cpu, cli, cli_cpu = alternate([sys.executable, "-m", "grader", str(path), "--json"], args.repeat)
        floor2, floor2_cpu, shown, shown_cpu = alternate([sys.executable, "-m", "grader", str(path)], args.repeat)
        baseline = median_seconds(lambda: nbclient_execute(path, assignment), max(1, args.repeat // 2))
        print(f"{assignment}")
        print(f"  floor: python -c 'import numpy'    {floor:6.3f} s   CPU {floor_cpu:6.3f} s")
        print(f"  nbclient execution                 {baseline:6.3f} s")
        print(f"  grade (in-process)                 {grade:6.3f} s   {grade / floor:4.1f}x floor   "
              f"{baseline / grade:4.1f}x faster than nbclient")
        print(f"  grade (CLI, fresh process)         {cli:6.3f} s   {cli / floor:4.1f}x floor   "
              f"CPU {cli_cpu:6.3f} s ({cli_cpu / floor_cpu:4.1f}x the floor's)   "
              f"{baseline / cli:4.1f}x faster than nbclient")
        print(f"  the same with the report (no --json) {shown:6.3f} s   {shown / floor2:4.1f}x floor   "
              f"CPU {shown_cpu:6.3f} s ({shown_cpu / floor2_cpu:4.1f}x the floor's; its own floor run)")


if __name__ == "__main__":
    main()
