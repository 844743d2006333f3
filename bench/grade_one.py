"""Benchmark: grading one complete notebook, beside two baselines measured in the same run.

    python bench/grade_one.py [--repeat 5]

floor    `python -c "import numpy"` (what any Python grader pays at least)
nbclient executing the same notebook with nbclient + ipykernel (training demo cell removed)
grade    grade_notebook() in-process, the default engine (what a batch pays per notebook)
cli      `python -m grader NOTEBOOK --json` in a fresh process (what a student's command pays)

Targets (issue: grading one notebook): grade <= 3x floor, and >= 5x faster than nbclient.
"""
from __future__ import annotations

import argparse
import subprocess
import sys

from common import ROOT, import_numpy, median_seconds, nbclient_execute

from grader.config import GradeConfig
from grader.pipeline import grade_notebook

NOTEBOOKS = {"rnn_step_by_step": ROOT / "solutions" / "rnn_step_by_step.ipynb",
             "dinosaur_island": ROOT / "solutions" / "dinosaur_island.ipynb"}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    floor = median_seconds(import_numpy, args.repeat)
    print(f"floor    python -c 'import numpy'        {floor:6.3f} s")
    for assignment, path in NOTEBOOKS.items():
        result = grade_notebook(path, GradeConfig())  # warm-up: reference solutions, expected values
        assert result.score == result.max_score, result
        grade = median_seconds(lambda: grade_notebook(path, GradeConfig()), args.repeat)
        cli = median_seconds(lambda: subprocess.run([sys.executable, "-m", "grader", str(path), "--json"],
                                                    cwd=ROOT, check=True, capture_output=True), args.repeat)
        baseline = median_seconds(lambda: nbclient_execute(path, assignment), max(1, args.repeat // 2))
        print(f"{assignment}")
        print(f"  nbclient execution                 {baseline:6.3f} s")
        print(f"  grade (in-process)                 {grade:6.3f} s   {grade / floor:4.1f}x floor   "
              f"{baseline / grade:4.1f}x faster than nbclient")
        print(f"  grade (CLI, fresh process)         {cli:6.3f} s   {cli / floor:4.1f}x floor   "
              f"{baseline / cli:4.1f}x faster than nbclient")


if __name__ == "__main__":
    main()
