"""The zygote: a long-lived process that forks workers with numpy already imported.

Kept free of heavy imports so the ``grade`` command can start it first thing, while the grader
itself is still importing; by the time the first worker is needed, the zygote is ready.
"""
from __future__ import annotations

import atexit
import contextlib
import json
import os
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

WORKER_SCRIPT = Path(__file__).with_name("worker.py")


def launch_environment() -> dict[str, str]:
    """The environment a worker, the zygote or a kernel starts with: nothing of the grader's own,
    BLAS on one thread (set before numpy is imported), and the flag that makes check() a no-op."""
    return {"OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1",
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"), "LANG": "C.UTF-8", "GRADER_WORKER": "1"}


#: Seconds the grader waits for any one answer of the zygote; a zygote that takes longer is
#: killed and replaced (its pending workers are killed by their Worker as usual).
ZYGOTE_TIMEOUT = 10.0


class ZygoteChild:
    """The parts of subprocess.Popen that Worker uses, for a worker forked by the zygote."""

    def __init__(self, zygote: "Zygote", pid: int) -> None:
        self.zygote, self.pid, self.returncode = zygote, pid, None

    def poll(self) -> int | None:
        if self.returncode is None:
            self.returncode = self.zygote.status(self.pid)
        return self.returncode

    def wait(self, timeout: float | None = None) -> int | None:
        """Poll until the worker is reaped; never blocks the zygote, never longer than ``timeout``."""
        deadline = time.monotonic() + (ZYGOTE_TIMEOUT if timeout is None else timeout)
        pause = 0.0005
        while self.poll() is None:
            if time.monotonic() >= deadline:
                raise subprocess.TimeoutExpired(f"worker {self.pid}", timeout or ZYGOTE_TIMEOUT)
            time.sleep(pause)
            pause = min(pause * 2, 0.02)
        return self.returncode


class Zygote:
    """A long-lived helper (worker.py --zygote) that forks workers with numpy already imported.

    It saves the interpreter start and the numpy import on every notebook; it never runs student
    code. One per grader process, started on first use; if it dies or stops answering within
    ZYGOTE_TIMEOUT, workers start the slow way (or from a new zygote).

    It is also the grader's janitor. A Worker *claims* each folder and cgroup with the zygote before
    making it (a message with no answer: it costs no wait, even while the zygote still imports numpy)
    and releases it once removed. When the grader goes away without cleaning up (killed, at any
    moment, even between making a folder and starting the worker), the zygote reads every claim
    still queued, notices its channel closing and removes what is left: its workers' processes,
    their user ids' processes and every claimed folder and cgroup. The channel keeps message
    boundaries (SOCK_SEQPACKET), so a claim is never glued to the request after it."""

    _instance: "Zygote | None" = None
    # Reentrant only so that ``_ask`` can tell it was re-entered (see there), never to nest requests.
    _lock = threading.RLock()
    _stop_at_exit: list[bool] = []
    _retired: "list[Zygote]" = []
    """Zygotes told to leave, waited for by ``stop``."""

    def __init__(self) -> None:
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        ours.settimeout(ZYGOTE_TIMEOUT)
        self.channel = ours
        self._pending = b""
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
                if cls._instance is not None and not cls._stop_at_exit:
                    # Whoever starts one stops it: left to notice its channel closing, it outlived
                    # the command by a moment (a process of ours still running after Ctrl-C).
                    cls._stop_at_exit.append(True)
                    atexit.register(cls.stop)
            return cls._instance

    @classmethod
    def stop(cls) -> None:
        """At exit: close the channel, so the zygote removes whatever its workers left and leaves, and
        wait for it (bounded), so that no process of ours outlives the grader. Takes no lock: it runs
        from exit and signal handlers, possibly while this thread is inside ``_ask``."""
        cls.retire()
        while cls._retired:
            zygote = cls._retired.pop()
            try:
                zygote.process.wait(timeout=ZYGOTE_TIMEOUT)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(OSError):
                    zygote.process.kill()
                with contextlib.suppress(OSError, subprocess.TimeoutExpired):
                    zygote.process.wait(timeout=ZYGOTE_TIMEOUT)

    @classmethod
    def retire(cls) -> None:
        """Close the channel, so the zygote removes whatever its workers left and leaves, without
        waiting for it (``stop`` does). The command calls it once its last notebook is graded and
        its workers closed: the zygote leaves while the command prints its result, not after. A
        worker asked for later starts a new zygote."""
        zygote, cls._instance = cls._instance, None
        if zygote is None:
            return
        cls._retired.append(zygote)
        with contextlib.suppress(OSError):
            zygote.channel.close()

    def _ask(self, request: dict, fds: tuple[int, ...] = ()) -> dict:
        """One request, one newline-terminated JSON answer, within ZYGOTE_TIMEOUT."""
        if self._lock._is_owned():
            # Re-entered on this thread: a signal handler (SIGTERM's cleanup killing the workers) ran
            # while this thread was mid-request. Waiting for the lock would wait for ourselves forever
            # (a grading process stuck until the batch killed it); the caller takes the answer as
            # unknown and kills the worker by its user id instead. The zygote is left as it is.
            raise OSError("the zygote is busy with this thread's own request")
        with self._lock:
            try:
                socket.send_fds(self.channel, [json.dumps(request).encode()], list(fds))
                while b"\n" not in self._pending:
                    data = self.channel.recv(1 << 16)
                    if not data:
                        raise OSError("the zygote is gone")
                    self._pending += data
                line, self._pending = self._pending.split(b"\n", 1)
                reply = json.loads(line)
                if type(reply) is not dict:
                    raise ValueError("not an object")
                return reply
            except (OSError, ValueError) as error:  # socket.timeout is an OSError
                self._discard()
                raise OSError(f"the zygote failed: {error}") from None

    def _discard(self) -> None:
        """Stop using this zygote: a late answer must never be read as the next one's."""
        with contextlib.suppress(OSError):
            self.channel.close()
        with contextlib.suppress(OSError):
            self.process.kill()
        with contextlib.suppress(OSError, subprocess.TimeoutExpired):
            self.process.wait(timeout=ZYGOTE_TIMEOUT)
        if Zygote._instance is self:
            Zygote._instance = None

    def _tell(self, request: dict) -> None:
        """A message the zygote does not answer: sent at once (queued while it starts)."""
        if self._lock._is_owned():  # re-entered from a signal handler: see _ask
            raise OSError("the zygote is busy with this thread's own request")
        with self._lock:
            try:
                self.channel.send(json.dumps(request).encode())
            except OSError as error:
                self._discard()
                raise OSError(f"the zygote failed: {error}") from None

    def claim(self, paths: list[str]) -> None:
        """Folders (or cgroups) about to be made: the zygote removes them if the grader dies first."""
        self._tell({"op": "claim", "paths": list(paths)})

    def release(self, paths: list[str]) -> None:
        """Claimed paths the grader has removed itself."""
        self._tell({"op": "release", "paths": list(paths)})

    def spawn(self, config: dict, fds: tuple[int, int, int]) -> ZygoteChild:
        reply = self._ask({"op": "spawn", "config": config}, fds)
        if type(reply.get("pid")) is not int:
            raise OSError("the zygote did not start a worker")
        return ZygoteChild(self, reply["pid"])

    def status(self, pid: int) -> int | None:
        """The worker's exit status once it has ended (None while it runs; -9 if unknown)."""
        try:
            code = self._ask({"op": "status", "pid": pid})["code"]
        except (OSError, KeyError):
            return -9
        return code if code is None or type(code) is int else -9
