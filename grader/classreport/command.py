"""``grade report`` and ``grade similarity``: parse the arguments, write the page, say where it is."""
from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any, Sequence

from ..errors import UsageError
from ..similarity import DEFAULT_MIN_SHARED, DEFAULT_THRESHOLD

EXIT_OK = 0


def _threshold(text: str) -> float:
    value = float(text)
    if not 0 < value <= 1:
        raise argparse.ArgumentTypeError("the threshold is a Jaccard similarity, between 0 (excluded) and 1")
    return value


def report_main(argv: Sequence[str], console: Any) -> int:
    from . import load_records, write_report

    parser = argparse.ArgumentParser(prog="grade report", description="The class report (one HTML page) from the "
                                     "results of a batch (grade SUBMISSIONS --out DIR).")
    parser.add_argument("out", type=Path, help="the batch's output folder (holds results/)")
    parser.add_argument("-o", "--output", type=Path, help="where to write the page (default: OUT/report.html)")
    parser.add_argument("--no-similarity", action="store_true", help="leave out the similarity section")
    parser.add_argument("--threshold", type=_threshold, default=DEFAULT_THRESHOLD,
                        help="flag a function at this Jaccard similarity or above (default: %(default)g)")
    parser.add_argument("--no-color", action="store_true", help=argparse.SUPPRESS)  # read by cli.main
    args = parser.parse_args(argv)
    if not load_records(args.out):
        raise UsageError(f"{args.out}: no results found (expected {args.out / 'results'}/*.json from "
                         f"`grade SUBMISSIONS --out {args.out}`)")
    from .charts import Drawer

    with Drawer.running() as drawer:  # the charts are drawn there while similarity is computed here
        path = write_report(args.out, args.output, with_similarity=not args.no_similarity, threshold=args.threshold,
                            drawer=drawer)
    console.print(f"class report: {path}", markup=False)
    return EXIT_OK


def _one_per_student(entries: list) -> tuple[list, list[str]]:
    """The notebook a batch would grade for each student who handed in several (``batch.settle_candidates``,
    by the assignment most of the class is): extra copies never dilute what the class shares."""
    from ..batch import choose_assignment, settle_candidates
    from ..config import GradeConfig

    config = GradeConfig()
    try:
        assignment: str | None = choose_assignment(entries, config)[0]
    except UsageError:  # no graded function anywhere, or an even split: the newest notebook of each
        assignment = None
    return settle_candidates(entries, assignment, config.max_notebook_mb)


def similarity_main(argv: Sequence[str], console: Any) -> int:
    from ..batch import discover, unpacked_aside
    from ..textsafe import terminal
    from . import _atomic_write, similarity_page
    from ..similarity import similarity

    parser = argparse.ArgumentParser(prog="grade similarity", description="Pairwise similarity of the graded "
                                     "functions' code (START/END CODE HERE regions), starter code and reference "
                                     "discounted. Evidence for a human to weigh, not a verdict.")
    parser.add_argument("paths", nargs="+", help="notebooks, folders, globs or an LMS zip (the same layouts as a "
                                                 "batch)")
    parser.add_argument("-o", "--output", type=Path, default=Path("similarity.html"),
                        help="the page to write (default: %(default)s)")
    parser.add_argument("--threshold", type=_threshold, default=DEFAULT_THRESHOLD,
                        help="flag a function at this Jaccard similarity or above (default: %(default)g)")
    parser.add_argument("--min-shared", type=int, default=DEFAULT_MIN_SHARED,
                        help="and at least this many shared fingerprints (default: %(default)s)")
    parser.add_argument("--no-color", action="store_true", help=argparse.SUPPRESS)  # read by cli.main
    args = parser.parse_args(argv)
    with unpacked_aside(args.paths) as unpacked:  # an LMS zip as a batch reads it, unpacked aside and removed after
        entries, found = discover(unpacked.paths)
        entries, settled = _one_per_student(entries)
        problems = unpacked.notes + found + settled
        if len(entries) < 2:
            raise UsageError(f"similarity needs at least two notebooks; found {len(entries)} in "
                             f"{', '.join(args.paths)}" + (f" ({unpacked.shown(problems[0])})" if problems else ""))
        result = similarity([(e.student, e.path) for e in entries], threshold=args.threshold,
                            min_shared=args.min_shared)
        _atomic_write(args.output, similarity_page(result, ", ".join(args.paths)))
        for problem in problems:
            console.print(terminal(f"note: {unpacked.shown(problem)}"))  # a file name: no escape sequences
    console.print(f"{len(result.pairs)} pair(s) flagged among {len(entries)} notebooks: {args.output}", markup=False)
    return EXIT_OK
