"""The grader's own work on one notebook, bounded in time.

The worker's limits end a student's code in time; what is left is the grader's own work on what the
student handed in (reading the notebook, comparing what came back). That work is bounded by
construction (linear parsers, size and count limits), and this is the backstop: a notebook whose
grading has not ended ``--timeout`` plus GRADER_GRACE seconds after it began is given up with a
message, instead of holding the command (or a class's batch) for ever.

Through SIGALRM, so only on a process's main thread (a Dask worker grades on a thread of its own:
its driver bounds each task instead). A batch also stops a grading process from outside at the same
limit: a loop in C code, which a signal handler cannot interrupt, ends there too.
"""
from __future__ import annotations

import contextlib
import signal
import threading
from typing import Iterator

#: Seconds the grader's own work on one notebook may take beyond ``--timeout``.
GRADER_GRACE = 60.0
#: The longest timer the platform takes for sure (a year); a longer bound is no bound.
_LONGEST = 365 * 24 * 3600.0


class GraderOverdue(BaseException):
    """The grader's own work on one notebook ran past its bound. A BaseException, so that no
    ``except Exception`` on the way (a judge's, a diagnosis's) takes it for a case's failure."""

    def __init__(self, seconds: float) -> None:
        super().__init__(seconds)
        self.seconds = seconds


def overdue_message(seconds: float) -> str:
    return (f"grading this notebook took the grader itself longer than {seconds:.0f} s (--timeout and a margin), "
            "so it was stopped; the grader's own work on it does not end (a notebook built to be slow to read?)")


@contextlib.contextmanager
def bounded(seconds: float) -> Iterator[None]:
    """Raise GraderOverdue in this thread once ``seconds`` have passed inside the block. Only on the main
    thread, and only where SIGALRM is nobody else's: a program that embeds the grader and set its own
    alarm (a test runner's timeout) keeps it, and the block runs unbounded here."""
    if threading.current_thread() is not threading.main_thread() or not hasattr(signal, "setitimer") \
            or signal.getsignal(signal.SIGALRM) is not signal.SIG_DFL or signal.getitimer(signal.ITIMER_REAL)[0] > 0:
        yield
        return

    def expire(number: int, frame: object) -> None:
        raise GraderOverdue(seconds)

    previous = signal.signal(signal.SIGALRM, expire)
    signal.setitimer(signal.ITIMER_REAL, min(seconds, _LONGEST))  # a --timeout of 1e12 or inf: none
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
