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
import signal
import sys
import threading
import time
from typing import Callable, NoReturn

#: How long ``leave`` waits for multiprocessing's resource tracker to go once its pipe is closed.
TRACKER_WAIT = 10.0


def leave(code: int) -> NoReturn:
    """Run the exit handlers, flush, and end the process with ``code``. Only for a process whose
    other threads have nothing left to do (none, or daemons)."""
    atexit._run_exitfuncs()
    stop_resource_tracker()
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


def stop_resource_tracker(wait: float = TRACKER_WAIT) -> None:
    """Stop the resource tracker this process started, if any, and wait for it.

    A spawn pool (a batch's grading processes, the chart drawer) starts multiprocessing's resource
    tracker, which leaves only once every holder of its pipe has closed it: after this process, so
    it outlived the command by a moment (Ctrl-C on a batch then left a process of ours running).
    Closing our end after the exit handlers (the pools' processes are gone by then) lets it leave now.
    Bounded: a process we do not know of that still holds the pipe would keep it waiting, so it is
    killed after ``wait`` seconds (it only unlinks semaphores that leaked)."""
    module = sys.modules.get("multiprocessing.resource_tracker")
    tracker = getattr(module, "_resource_tracker", None)
    # No public way to stop it without an unbounded wait (ResourceTracker._stop): its two fields,
    # read defensively; a child process has the pipe but no pid, and must not close it.
    pid, fd = getattr(tracker, "_pid", None), getattr(tracker, "_fd", None)
    if not isinstance(pid, int) or not isinstance(fd, int):
        return
    tracker._pid = tracker._fd = None
    try:
        os.close(fd)
        deadline = time.monotonic() + wait
        while os.waitpid(pid, os.WNOHANG) == (0, 0):
            if time.monotonic() > deadline:
                os.kill(pid, signal.SIGKILL)  # it ignores SIGINT and SIGTERM
                os.waitpid(pid, 0)
                return
            time.sleep(0.002)
    except OSError:  # already reaped, or not our child after all
        pass


def leave_with_parent(on_gone: Callable[[], object] | None = None, poll: float = 0.5) -> None:
    """Once the process that started this one is gone, call ``on_gone`` (default: leave at once, for
    a helper that holds nothing to clean up, like the chart drawer). A pool's process otherwise
    waits for work forever: a batch killed outright (SIGKILL, the OOM killer) left it running."""
    parent = os.getppid()

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(poll)
        if on_gone is None:
            os._exit(0)
        on_gone()

    threading.Thread(target=watch, daemon=True, name="grader-exit-with-parent").start()
