"""Benchmark: the class report (grade report) for a class of 300 notebooks, beside the batch that
graded them.

    python bench/report.py [--size 300] [--grades DIR]

The class: the result records of a real batch (``--grades DIR``, or a batch of the corpus in
../shared/corpus made here, or of our solutions and stubs when that folder is absent), cycled up to
--size students. Each record points at its real notebook, so the similarity section reads and
fingerprints all of them; cycled copies are identical notebooks, the worst case for the number of
flagged pairs drawn. The report is one process: its CPU time is what it costs on an idle machine.
Figures: the report with similarity, without it, the page's size, and the time
the batch took per notebook (the baseline: the report should cost a small part of grading).

Target (issue 14): under 5 seconds for 300 notebooks.
"""
from __future__ import annotations

import argparse
import itertools
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from common import ROOT

SHARED = ROOT.parent / "shared" / "corpus"


def grade_class(out: Path) -> tuple[float, int]:
    """Grade the corpus (or our own notebooks) into ``out``; (seconds, notebooks)."""
    sources = [str(SHARED / "rnn"), str(SHARED / "dino")] if SHARED.is_dir() else \
        [str(ROOT / "solutions"), str(ROOT / "assignments")]
    started = time.perf_counter()
    subprocess.run([sys.executable, "-m", "grader", *sources, "--out", str(out)], check=True, cwd=ROOT,
                   stdout=subprocess.DEVNULL)
    return time.perf_counter() - started, len(list((out / "results").glob("*.json")))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--size", type=int, default=300)
    parser.add_argument("--grades", type=Path, help="an existing batch output folder to take the records from")
    args = parser.parse_args()
    from grader.classreport import write_report

    with tempfile.TemporaryDirectory() as scratch:
        grades = args.grades
        batch_seconds = None
        if grades is None:
            grades = Path(scratch) / "graded"
            batch_seconds, graded = grade_class(grades)
            print(f"batch: {graded} notebooks in {batch_seconds:.1f} s ({batch_seconds / graded:.2f} s per notebook)")
        records = [json.loads(p.read_text()) for p in sorted((grades / "results").glob("*.json"))]
        out = Path(scratch) / "class"
        (out / "results").mkdir(parents=True)
        for number, data in zip(range(args.size), itertools.cycle(records)):
            data = dict(data, student=f"{data['student'][:40]}_{number:03d}")
            (out / "results" / f"{data['student']}.json").write_text(json.dumps(data))
        print(f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores (other work slows the wall clock)")
        for label, similarity in (("with similarity", True), ("without similarity", False)):
            started, cpu = time.perf_counter(), time.process_time()
            path = write_report(out, with_similarity=similarity)
            seconds, cpu = time.perf_counter() - started, time.process_time() - cpu
            print(f"report of {args.size} notebooks, {label}: {seconds:.2f} s ({cpu:.2f} s of CPU), "
                  f"{path.stat().st_size / 1024:.0f} KB")
        if batch_seconds is not None:
            print(f"the batch grading them takes about {batch_seconds / graded * args.size:.0f} s at the same rate")


if __name__ == "__main__":
    main()
