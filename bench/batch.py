"""Benchmark: batch throughput on a class of at least 200 notebooks, beside sequential nbclient.

    python bench/batch.py [--size 200] [--baseline-sample 20] [--jobs N]

The class is made of the real notebooks in ../shared/corpus (cycled up to --size), or of our
solutions and stubs when that folder is absent. The baseline executes notebooks of the same class
one after another with nbclient (training demo cells removed); by default a sample of them, whose
mean time stands for the whole class (--baseline-sample 0 executes every one).

Target (issue: batch grading): at least 10x the throughput of sequential nbclient execution.
"""
from __future__ import annotations

import argparse
import itertools
import os
import random
import shutil
import statistics
import tempfile
import time
from pathlib import Path

from common import ROOT, nbclient_execute

from grader.batch import discover, grade_batch
from grader.config import GradeConfig
from grader.load import load_submission


def build_class(folder: Path, size: int) -> list[Path]:
    corpus = sorted((ROOT.parent / "shared" / "corpus").glob("*/*.ipynb"))
    sources = corpus or sorted((ROOT / "solutions").glob("*.ipynb")) + sorted((ROOT / "assignments").glob("*.ipynb"))
    paths = []
    for number, source in zip(range(size), itertools.cycle(sources)):
        target = folder / f"student{number:04d}.ipynb"
        shutil.copyfile(source, target)
        paths.append(target)
    return paths


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--size", type=int, default=200)
    parser.add_argument("--baseline-sample", type=int, default=20)
    parser.add_argument("--jobs", type=int, default=os.cpu_count())
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "class"
        folder.mkdir()
        paths = build_class(folder, args.size)
        entries, _ = discover([str(folder)])
        started = time.perf_counter()
        summary = grade_batch(entries, Path(tmp) / "out", GradeConfig(), jobs=args.jobs)
        ours = time.perf_counter() - started
        sample = paths if args.baseline_sample <= 0 else random.Random(0).sample(paths, min(args.baseline_sample, len(paths)))
        times = []
        for path in sample:
            assignment = load_submission(path, 50).assignment.name
            begun = time.perf_counter()
            nbclient_execute(path, assignment)
            times.append(time.perf_counter() - begun)
    per_notebook = statistics.mean(times)
    ours_rate = 60 * len(paths) / ours
    baseline_rate = 60 / per_notebook
    print(f"class: {len(paths)} notebooks, {args.jobs} parallel jobs; graded {summary.graded}, not gradable {summary.failed}")
    print(f"grade batch              {ours:7.1f} s   {ours_rate:7.1f} notebooks/min   {ours / len(paths):.3f} s/notebook")
    print(f"nbclient, sequential     {per_notebook * len(paths):7.1f} s   {baseline_rate:7.1f} notebooks/min   "
          f"{per_notebook:.3f} s/notebook (mean of {len(sample)} executed)")
    print(f"speed-up                 {ours_rate / baseline_rate:.1f}x")


if __name__ == "__main__":
    main()
