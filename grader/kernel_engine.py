"""``--engine kernel``: load the notebook through nbclient into a real IPython kernel, then grade in it.

The kernel is started from kernel_boot.py, so it is locked down exactly like the default worker
(and talks over Unix sockets, which work inside its own network namespace). Cells run through
nbclient with full Jupyter semantics (IPython display hooks, ``get_ipython()``); shell escapes and
demo calls are removed beforehand, as for the default engine. Once loaded, the kernel runs the
worker's serve loop, so calls, judging and scoring are the same code.

The grader does not talk to the kernel itself: kernel_driver.py does, in a process with limits of
its own, and speaks the worker's protocol on the worker's pipes. So every limit of the default
engine holds here through the same code (``Session._run_cells`` and ``Session.call`` with their
deadlines per cell, per call and per notebook), what the kernel sends costs the grader nothing,
and a dead kernel closes the pipe at once, which makes it a "crashed" verdict.
"""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from .sandbox import Worker
from .zygote import launch_environment

KERNEL_DRIVER = Path(__file__).with_name("kernel_driver.py")
#: The driver's address-space limit: it holds a kernel client, a few capped outputs and ZeroMQ
#: queues bounded by message size and count (see kernel_driver.py), far below this.
DRIVER_MEMORY = 1024 * 1024 * 1024


class KernelWorker(Worker):
    """A Worker whose other end is the kernel driver (and, behind it, an IPython kernel)."""

    kernel_pid: int | None = None

    def _start(self) -> None:
        req_r, resp_w = self._open_pipes()  # the driver relays the worker protocol: the same pipes
        kernel_config = self._worker_config(req_fd=-1, resp_fd=-1)
        config = {
            "req_fd": req_r, "resp_fd": resp_w, "workdir": str(self.workdir), "logdir": str(self._logdir),
            "kernel": kernel_config, "output_cap": self.config.output_cap,
            "env": launch_environment(),
            "limits": {"RLIMIT_AS": DRIVER_MEMORY, "RLIMIT_CPU": int(self.config.notebook_timeout) + 30,
                       "RLIMIT_CORE": 0},
        }
        environment = dict(launch_environment(), MALLOC_ARENA_MAX="2")
        try:
            self.process = subprocess.Popen(
                [sys.executable, "-I", "-B", str(KERNEL_DRIVER), json.dumps(config)],
                stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=self._stderr,
                pass_fds=(req_r, resp_w), cwd=self.workdir, env=environment, start_new_session=True, close_fds=True)
        finally:
            os.close(req_r)
            os.close(resp_w)
        header, _ = self.wait_for({"ready"}, time.monotonic() + min(60.0, self.config.notebook_timeout))
        notes = header.get("notes")
        if type(notes) is list:  # what the kernel's lock-down could not do, as the worker reports it
            self.notes.extend(note for note in notes if type(note) is str)
        pid = header.get("kernel_pid")
        self.kernel_pid = pid if type(pid) is int and pid > 1 else None

    def kill(self) -> None:
        # The kernel first, while the driver (its parent) is alive to keep its pid from being
        # reused; the kernel also dies with the driver (PR_SET_PDEATHSIG), and as root every
        # process of its private user id goes in Worker.kill.
        if self.kernel_pid is not None:
            try:
                os.killpg(self.kernel_pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass
        super().kill()

    def _death_note(self) -> str:
        """How the kernel ended, as the driver recorded it; else how the driver itself ended."""
        try:
            return (Path(self._logdir) / "kernel.status").read_text()[:200]  # type: ignore[arg-type]
        except (OSError, TypeError):
            return super()._death_note()
