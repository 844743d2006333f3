"""Leaving a process of ours without the interpreter's teardown.

Freeing every module (numpy's among them) one object at a time costs a Python process 50 to 100 ms
at exit. The ``grade`` command pays it once per student command; a batch's grading processes pay
it, together, after the last notebook (0.2 s of a TA's wait on 2 cores). Leaving skips only that
teardown: the exit handlers still run (workers killed, their folders removed, the zygote stopped)
and the standard streams are flushed.
"""
from __future__ import annotations

import atexit
import os
import sys
from typing import NoReturn


def leave(code: int) -> NoReturn:
    """Run the exit handlers, flush, and end the process with ``code``. Only for a process whose
    other threads have nothing left to do (none, or daemons)."""
    atexit._run_exitfuncs()
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):  # `grade nb.ipynb --json | head`: the reader is gone
            pass
    os._exit(code)


def leave_at_process_exit() -> None:
    """In a multiprocessing child (a batch's grading process): leave this way once its work is
    done, as the last of multiprocessing's own exit steps (after its finalizers and joins)."""
    from multiprocessing import util

    util.Finalize(None, leave, args=(0,), exitpriority=-1000)
