"""Benchmark: the tail of a batch, the time ``grade CLASS --out OUT`` takes AFTER its last notebook
was graded (gradebook, results.json, feedback/, gradescope/, report.html), beside the grading time,
both measured in the same run of the command.

    python bench/tail.py [--size 200] [--corpus rnn] [--before REV] [--rounds 2]

Each run is the command a TA types, in a fresh process (its default --jobs). Grading time: from the
start of the command to the moment the last result file landed (the newest ``results/*.json``, as
``grade_batch`` writes each result as it arrives); tail: from then to the command's exit. With
``--before REV`` the grader of that git revision runs too, in turns with this checkout's, on the same
class under the same load (e.g. ``--before 3f5b684``, the batch before the tail was made cheap);
then the grader of REV rewrites every output of this checkout's batch from its results, and the two
are compared byte for byte (report.html too).

Then ``write_outputs(OUT)`` alone, in a fresh process (imports included, as at the end of a batch
that had nothing kept from grading): what ``grade report`` / ``grade override`` and a batch whose
notebooks were all skipped still pay.

Target: a tail well under 1 s for 200 notebooks on 2 cores.
"""
from __future__ import annotations

import argparse
import filecmp
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from common import ROOT, cores

from batch import ASSIGNMENTS, build_class, export_revision


def run_cli(source: Path, folder: Path, out: Path, assignment: str) -> tuple[float, float]:
    """(grading seconds, tail seconds) of one ``grade FOLDER --out OUT --force`` by the grader in ``source``."""
    command = [sys.executable, "-m", "grader", str(folder), "--out", str(out), "--force", "--assignment", assignment]
    env = dict(os.environ, PYTHONPATH=str(source))
    env.pop("PYTHONDONTWRITEBYTECODE", None)  # as on a user's machine: bytecode cached
    started = time.time()
    finished = subprocess.run(command, cwd=source, env=env, capture_output=True, text=True)
    ended = time.time()
    if finished.returncode not in (0, 1):
        raise RuntimeError(f"{' '.join(command)} exited {finished.returncode}: {finished.stderr[-500:]}")
    last = max(path.stat().st_mtime for path in (out / "results").glob("*.json"))
    return last - started, ended - last


def write_outputs_alone(source: Path, out: Path) -> float:
    """Seconds of ``write_outputs(out)`` in a fresh process, its imports included."""
    code = ("import time; t = time.perf_counter(); from pathlib import Path; from grader.batch import write_outputs; "
            f"write_outputs(Path({str(out)!r})); print(time.perf_counter() - t)")
    env = dict(os.environ, PYTHONPATH=str(source))
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    done = subprocess.run([sys.executable, "-c", code], cwd=source, env=env, capture_output=True, text=True, check=True)
    return float(done.stdout.split()[-1])


def differences(snapshot: Path, out: Path) -> list[str]:
    """Files whose bytes differ between two output folders, or that only one has."""
    different = []
    for path in sorted(p for p in snapshot.rglob("*") if p.is_file()):
        other = out / path.relative_to(snapshot)
        if not other.is_file() or not filecmp.cmp(path, other, shallow=False):
            different.append(str(path.relative_to(snapshot)))
    return different + [str(p.relative_to(out)) for p in out.rglob("*")
                        if p.is_file() and not (snapshot / p.relative_to(out)).exists()]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--size", type=int, default=200)
    parser.add_argument("--corpus", choices=sorted(ASSIGNMENTS), default="rnn")
    parser.add_argument("--before", metavar="REV", help="also run the grader of git revision REV, in turns")
    parser.add_argument("--rounds", type=int, default=1, help="turns of each grader (the median is summarised)")
    args = parser.parse_args()
    assignment = ASSIGNMENTS[args.corpus]
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "class"
        folder.mkdir()
        paths = build_class(folder, args.size, args.corpus)
        print(f"class: {len(paths)} notebooks on {cores()} cores; load average {os.getloadavg()[0]:.1f}", flush=True)
        sources = {"now": ROOT}
        if args.before:
            sources = {f"before ({args.before})": export_revision(args.before, Path(tmp) / "before"), "now": ROOT}
        figures: dict[str, list[tuple[float, float]]] = {label: [] for label in sources}
        outs: dict[str, Path] = {}
        for turn in range(args.rounds):  # in turns, so that each sees the same load
            for number, (label, source) in enumerate(sources.items()):
                out = Path(tmp) / f"out-{number}-{turn}"
                figures[label].append(run_cli(source, folder, out, assignment))
                outs[label] = out
                grading, tail = figures[label][-1]
                print(f"{label:22s} grading {grading:6.1f} s   tail {tail:5.2f} s   "
                      f"(tail {100 * tail / (grading + tail):4.1f}% of the command)", flush=True)
        print()
        for label, measured in figures.items():
            grading = statistics.median(g for g, _ in measured)
            tail = statistics.median(t for _, t in measured)
            alone = write_outputs_alone(sources[label], outs[label])
            print(f"{label:22s} median grading {grading:6.1f} s, tail {tail:5.2f} s; write_outputs alone "
                  f"(fresh process, nothing kept from grading) {alone:5.2f} s")
        if args.before:  # the same results written by the grader of before: every output byte for byte?
            now = outs["now"]
            snapshot = Path(tmp) / "snapshot"
            shutil.copytree(now, snapshot)
            write_outputs_alone(sources[f"before ({args.before})"], now)
            different = differences(snapshot, now)
            print(f"outputs of the batch now, rewritten from its results by the grader of {args.before}: "
                  + ("byte for byte the same" if not different else
                     f"DIFFERENT: {', '.join(different[:10])}" + (" ..." if len(different) > 10 else "")))
        print(f"load average after {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
