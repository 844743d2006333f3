"""Benchmark: batch throughput and CPU busy on a class of at least 200 notebooks, every variant and
its baselines measured in the same run.

    python bench/batch.py [--size 200] [--baseline-sample 12] [--jobs 2,3,4] [--dask 2] [--corpus rnn]
                          [--before REV]

Variants, each on the same class:
- local batch with ``--jobs N`` for each N of --jobs (the first is today's default: cores + 1);
- ``--scheduler local:N`` (a Dask LocalCluster of N worker processes), when ``distributed`` is installed;
- with ``--before REV``: the grader as it was at git revision REV (e.g. ``c3c318e``, the end of round 1)
  and the grader of this checkout, each as the ``grade CLASS --out OUT`` command a TA types (each with
  its own default --jobs: round 1 ran one process per core, now one more), in fresh processes taking
  turns, so the two are compared on the same class under the same load;
- sequential nbclient execution (training demo cells removed), on a sample whose mean time stands for
  the whole class (--baseline-sample 0 skips it).

CPU busy is the CPU time of the grader and every process it started (grading processes, zygotes,
sandboxed workers, Dask workers), over ``cores x wall``: 100% means every core computed the whole
time. Other work on the machine does not count in the CPU time but does slow the wall clock, so the
load average is printed beside the figures.

The class is made of one assignment's real notebooks in ../shared/corpus (--corpus rnn or dino,
cycled up to --size), or of our solution and stub when that folder is absent.

Targets (issue 13): CPU busy >= 90%; throughput >= 1.4x the default local batch of before (--before);
>= 10x sequential nbclient.
"""
from __future__ import annotations

import argparse
import itertools
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from common import ROOT, Measured, cores, measure, nbclient_execute

from grader.batch import default_jobs, discover, grade_batch
from grader.config import GradeConfig
from grader.load import load_submission


ASSIGNMENTS = {"rnn": "rnn_step_by_step", "dino": "dinosaur_island"}


def build_class(folder: Path, size: int, corpus_part: str) -> list[Path]:
    """One assignment's notebooks (a batch grades one assignment), cycled up to ``size``."""
    corpus = sorted((ROOT.parent / "shared" / "corpus" / corpus_part).glob("*.ipynb"))
    name = ASSIGNMENTS[corpus_part]
    sources = corpus or [ROOT / "solutions" / f"{name}.ipynb", ROOT / "assignments" / f"{name}.ipynb"]
    paths = []
    for number, source in zip(range(size), itertools.cycle(sources)):
        target = folder / f"student{number:04d}.ipynb"
        shutil.copyfile(source, target)
        paths.append(target)
    return paths


def batch_action(folder: Path, out: Path, config: GradeConfig, *, jobs: int | None = None,
                 scheduler: str | None = None):
    def action() -> dict:
        entries, _ = discover([str(folder)])
        runner = None
        if scheduler is not None:
            from grader.dask_batch import DaskRunner

            runner = DaskRunner(scheduler)
        summary = grade_batch(entries, out, config, jobs=jobs, force=True, runner=runner)
        return {"graded": summary.graded, "failed": summary.failed}
    return action


def export_revision(revision: str, target: Path) -> Path:
    """The checkout's files at ``revision`` (git archive), without touching the repository."""
    target.mkdir(parents=True)
    archive = subprocess.run(["git", "-C", str(ROOT), "archive", revision], check=True, capture_output=True).stdout
    subprocess.run(["tar", "-x", "-C", str(target)], input=archive, check=True)
    return target


def cli_action(source: Path, folder: Path, out: Path, assignment: str):
    """``grade FOLDER --out OUT --force`` as a TA runs it (its default --jobs), with the grader found in ``source``."""
    command = [sys.executable, "-m", "grader", str(folder), "--out", str(out), "--force", "--assignment", assignment]
    env = dict(os.environ, PYTHONPATH=str(source))

    def action() -> None:
        finished = subprocess.run(command, cwd=source, env=env, capture_output=True, text=True)
        if finished.returncode not in (0, 1):  # 1: some notebooks lost points, which is normal
            raise RuntimeError(f"{' '.join(command)} exited {finished.returncode}: {finished.stderr[-500:]}")
    return action


def nbclient_action(sample: list[Path]):
    def action() -> list[float]:
        times = []
        for path in sample:
            assignment = load_submission(path, 50).assignment.name
            begun = time.perf_counter()
            nbclient_execute(path, assignment)
            times.append(time.perf_counter() - begun)
        return times
    return action


def line(label: str, measured: Measured, count: int, reference_rate: float | None, n_cores: int) -> str:
    rate = 60 * count / measured.wall
    versus = f"{rate / reference_rate:5.2f}x" if reference_rate else "   --"
    return (f"{label:28s} {measured.wall:7.1f} s  {rate:7.1f} nb/min  {versus}  CPU {measured.cpu:7.1f} s "
            f"({measured.cpu / count:5.3f} s/nb)  busy {100 * measured.busy(n_cores):5.1f}%")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--size", type=int, default=200)
    parser.add_argument("--baseline-sample", type=int, default=12)
    parser.add_argument("--jobs", default=None,
                        help="comma-separated --jobs values (default: cores+1, cores, 2 x cores)")
    parser.add_argument("--dask", type=int, default=2, metavar="N", help="Dask LocalCluster workers (0: skip)")
    parser.add_argument("--corpus", choices=sorted(ASSIGNMENTS), default="rnn", help="which assignment's notebooks")
    parser.add_argument("--before", metavar="REV", help="also run the grader of git revision REV (CLI, fresh processes)")
    parser.add_argument("--rounds", type=int, default=2, help="turns of --before and now, each measured (median)")
    args = parser.parse_args()
    config = GradeConfig(assignment=ASSIGNMENTS[args.corpus])
    n_cores = cores()
    jobs_list = [int(j) for j in args.jobs.split(",")] if args.jobs else [default_jobs(), n_cores, 2 * n_cores]
    rows: list[tuple[str, Measured]] = []
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "class"
        folder.mkdir()
        paths = build_class(folder, args.size, args.corpus)
        print(f"class: {len(paths)} notebooks on {n_cores} cores; load average before {os.getloadavg()[0]:.1f}",
              flush=True)
        if args.before:
            old_source = export_revision(args.before, Path(tmp) / "before")
            turns: dict[str, list[Measured]] = {f"before ({args.before}), CLI": [], "now, CLI": []}
            for turn in range(args.rounds):  # alternate, so both see the same machine load
                for label, source in zip(turns, (old_source, ROOT)):
                    out = Path(tmp) / f"out-cli-{len(turns[label])}-{'before' if source == old_source else 'now'}"
                    turns[label].append(measure(cli_action(source, folder, out, config.assignment)))
                    print(line(label, turns[label][-1], len(paths), None, n_cores), flush=True)
            for label, measured in turns.items():
                # the median turn by wall time (of two, the slower: no flattering pick)
                rows.append((label, sorted(measured, key=lambda m: m.wall)[len(measured) // 2]))
        for jobs in jobs_list:
            measured = measure(batch_action(folder, Path(tmp) / f"out-jobs{jobs}", config, jobs=jobs))
            rows.append((f"local batch, --jobs {jobs}", measured))
            print(line(rows[-1][0], measured, len(paths), None, n_cores), measured.value, flush=True)
        if args.dask:
            try:
                import distributed  # noqa: F401
            except ImportError:
                print("--scheduler local:N skipped: pip install 'rnn-grader[dask]'")
            else:
                measured = measure(batch_action(folder, Path(tmp) / "out-dask", config,
                                                  scheduler=f"local:{args.dask}"))
                rows.append((f"--scheduler local:{args.dask}", measured))
                print(line(rows[-1][0], measured, len(paths), None, n_cores), measured.value, flush=True)
        sample = random.Random(0).sample(paths, min(args.baseline_sample, len(paths)))
        baseline = measure(nbclient_action(sample)) if sample else None
    nbclient = None
    if baseline is not None:  # the sample stands for the class: scale its wall and CPU to the whole class
        scale = len(paths) * statistics.mean(baseline.value) / baseline.wall
        nbclient = Measured(baseline.wall * scale, baseline.cpu * scale, None)
    reference = 60 * len(paths) / rows[0][1].wall
    first = f"the grader of {args.before}" if args.before else f"today's default, --jobs {jobs_list[0]}"
    print(f"\nload average after {os.getloadavg()[0]:.1f}; 'x' is throughput beside the first line ({first})")
    for label, measured in rows:
        print(line(label, measured, len(paths), reference, n_cores))
    if nbclient is not None:
        print(line(f"nbclient, sequential ({len(sample)})", nbclient, len(paths), reference, n_cores))
        best = max(rows, key=lambda row: 1 / row[1].wall)
        print(f"best: {best[0]}, {nbclient.wall / best[1].wall:.1f}x sequential nbclient")


if __name__ == "__main__":
    main()
