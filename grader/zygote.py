"""The zygote: a long-lived process that forks workers with numpy already imported.

Kept free of heavy imports so the ``grade`` command can start it first thing, while the grader
itself is still importing; by the time the first worker is needed, the zygote is ready.
"""
from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import threading
from pathlib import Path

WORKER_SCRIPT = Path(__file__).with_name("worker.py")


def launch_environment() -> dict[str, str]:
    """The environment a worker, the zygote or a kernel starts with: nothing of the grader's own,
    BLAS on one thread (set before numpy is imported), and the flag that makes check() a no-op."""
    return {"OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1",
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"), "LANG": "C.UTF-8", "GRADER_WORKER": "1"}


class ZygoteChild:
    """The parts of subprocess.Popen that Worker uses, for a worker forked by the zygote."""

    def __init__(self, zygote: "Zygote", pid: int) -> None:
        self.zygote, self.pid, self.returncode = zygote, pid, None

    def poll(self) -> int | None:
        if self.returncode is None:
            self.returncode = self.zygote.status(self.pid, wait=False)
        return self.returncode

    def wait(self, timeout: float | None = None) -> int | None:
        if self.returncode is None:
            self.returncode = self.zygote.status(self.pid, wait=True)
        return self.returncode


class Zygote:
    """A long-lived helper (worker.py --zygote) that forks workers with numpy already imported.

    It saves the interpreter start and the numpy import on every notebook; it never runs student
    code. One per grader process, started on first use; if it dies, workers start the slow way."""

    _instance: "Zygote | None" = None
    _lock = threading.Lock()

    def __init__(self) -> None:
        ours, theirs = socket.socketpair()
        self.channel = ours
        self.process = subprocess.Popen(
            [sys.executable, "-I", "-B", str(WORKER_SCRIPT), "--zygote", str(theirs.fileno())],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            pass_fds=(theirs.fileno(),), env=launch_environment(), start_new_session=True)
        theirs.close()

    @classmethod
    def get(cls) -> "Zygote | None":
        with cls._lock:
            if cls._instance is None or cls._instance.process.poll() is not None:
                try:
                    cls._instance = Zygote()
                except OSError:
                    cls._instance = None
            return cls._instance

    def _ask(self, request: dict, fds: tuple[int, ...] = ()) -> dict:
        with self._lock:
            socket.send_fds(self.channel, [json.dumps(request).encode()], list(fds))
            reply = self.channel.recv(1 << 16)
        if not reply:
            raise OSError("the zygote is gone")
        return json.loads(reply)

    def spawn(self, config: dict, fds: tuple[int, int, int]) -> ZygoteChild:
        return ZygoteChild(self, int(self._ask({"op": "spawn", "config": config}, fds)["pid"]))

    def status(self, pid: int, wait: bool) -> int | None:
        try:
            return self._ask({"op": "status", "pid": pid, "wait": wait})["code"]
        except OSError:
            return -9


