"""Stage 2, the process side: start a locked-down worker, talk to it in frames, kill it.

``Worker`` is the one seam between the grader and student code. It owns a child process running
worker.py, two pipes, a private working folder, and the deadlines. Anything that goes wrong on
the other side (a crash, a hang, garbage on the pipe) surfaces as ``WorkerLost`` with a kind the
pipeline turns into a result; the grader itself never sees an exception from student code.
"""
from __future__ import annotations

import json
import os
import secrets
import select
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Callable

import numpy as np

from . import resources, wire
from .config import GradeConfig
from .zygote import Zygote, launch_environment

WORKER_SCRIPT = Path(__file__).with_name("worker.py")
_UID_RANGE = (200_000, 2_000_000_000)

#: Called with (dependency name, args, kwargs); returns (value, args after the call or None).
DependencyHandler = Callable[[str, list, dict], "tuple[Any, list | None]"]


class WorkerLost(Exception):
    """The worker is gone or unusable. kind: "timeout", "crashed" or "protocol"."""

    def __init__(self, kind: str, detail: str) -> None:
        super().__init__(detail)
        self.kind = kind
        self.detail = detail


def _signal_name(number: int) -> str:
    try:
        return signal.Signals(number).name
    except ValueError:
        return f"signal {number}"


def _hidden_paths(config: GradeConfig, workdir: Path) -> list[str]:
    """Folders the worker must not see, minus any that hold what it needs to run."""
    root = resources.repo_root()
    candidates = [*resources.private_dirs(), *map(Path, config.hide_paths)]
    if root is not None:  # a source checkout: its .git holds the solutions' history too
        candidates += [root, root / ".git"]
    needed = [Path(sys.prefix).resolve(), Path(np.__file__).resolve().parent, workdir.resolve(),
              Path(sys.executable).resolve().parent]
    hidden = []
    for path in candidates:
        if path is None or not Path(path).is_dir():
            continue
        path = Path(path).resolve()
        if any(need == path or path in need.parents for need in needed):
            continue
        hidden.append(str(path))
    return sorted(set(hidden))


def _process_count(uid: int) -> int:
    count = 0
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                if os.stat(f"/proc/{entry}").st_uid == uid:
                    count += 1
            except OSError:
                pass
    return count


def _alive(pid: str) -> bool:
    """Running, not a zombie waiting for a parent that may never reap it."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as handle:
            return handle.read().rsplit(b")", 1)[1].split()[0] != b"Z"
    except (OSError, IndexError):
        return False


def _kill_uid(uid: int) -> None:
    """Kill every process of the worker's private user id (daemons that left the session)."""
    for attempt in range(5):
        found = False
        for entry in os.listdir("/proc"):
            if not entry.isdigit():
                continue
            try:
                if os.stat(f"/proc/{entry}").st_uid == uid and _alive(entry):
                    os.kill(int(entry), signal.SIGKILL)
                    found = True
            except OSError:
                pass
        if not found:
            return
        time.sleep(0.002 * (attempt + 1))


class Worker:
    """One sandboxed worker process. Use as a context manager; ``close`` always cleans up."""

    def __init__(self, config: GradeConfig, helper_files: dict[str, Path]) -> None:
        self.config = config
        self.notes: list[str] = []
        self._isolated_uid = os.geteuid() == 0
        self.uid = secrets.randbelow(_UID_RANGE[1] - _UID_RANGE[0]) + _UID_RANGE[0] if self._isolated_uid else None
        self.workdir = Path(tempfile.mkdtemp(prefix="grader-"))
        for name, source in helper_files.items():
            target = self.workdir / name
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(source, target)
        self._logdir = Path(tempfile.mkdtemp(prefix="grader-log-"))
        if self.uid is not None:
            for path in [self.workdir, *self.workdir.rglob("*")]:
                os.chown(path, self.uid, self.uid)
        os.chmod(self.workdir, 0o700)
        self._reader = wire.FrameReader()
        self._stderr = open(self._logdir / "stderr.log", "wb")
        self._start()

    # -- lifecycle -------------------------------------------------------------------------

    def _worker_config(self, req_fd: int, resp_fd: int) -> dict:
        """What worker.py's lock_down needs: limits, folders to hide, user id, environment."""
        memory = self.config.memory_mb * 1024 * 1024
        limits = {
            "RLIMIT_AS": memory,
            "RLIMIT_CPU": int(self.config.notebook_timeout) + 30,
            "RLIMIT_FSIZE": 64 * 1024 * 1024,
            "RLIMIT_NOFILE": 256,
            "RLIMIT_CORE": 0,
            "RLIMIT_NPROC": 64 if self.uid is not None else _process_count(os.getuid()) + 64,
        }
        return {
            "req_fd": req_fd, "resp_fd": resp_fd, "uid": self.uid, "workdir": str(self.workdir),
            "hide": _hidden_paths(self.config, self.workdir), "limits": limits,
            "output_cap": self.config.output_cap,
            "env": {"HOME": str(self.workdir), "PATH": "/usr/bin:/bin", "LANG": "C.UTF-8",
                    "OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1",
                    "MPLBACKEND": "Agg", "GRADER_WORKER": "1", "TMPDIR": str(self.workdir)},
        }

    def _start(self) -> None:
        req_r, self._req_w = os.pipe()
        self._resp_r, resp_w = os.pipe()
        config = self._worker_config(req_r, resp_w)
        zygote = Zygote.get() if self.config.use_zygote else None
        try:
            if zygote is None:
                raise OSError("no zygote")
            self.process = zygote.spawn(config, (req_r, resp_w, self._stderr.fileno()))
        except OSError:
            self.process = subprocess.Popen(
                [sys.executable, "-I", "-B", str(WORKER_SCRIPT), json.dumps(config)],
                stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=self._stderr,
                pass_fds=(req_r, resp_w), cwd=self.workdir, env=launch_environment(), start_new_session=True, close_fds=True,
            )
        os.close(req_r)
        os.close(resp_w)
        header, _ = self.wait_for({"ready"}, time.monotonic() + 60)
        self.notes.extend(str(note) for note in header.get("notes", []))

    def __enter__(self) -> "Worker":
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def kill(self) -> None:
        try:
            os.killpg(self.process.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
        try:
            self.process.wait(timeout=5)
        except (subprocess.TimeoutExpired, OSError):  # pragma: no cover - a zombie we cannot reap
            pass
        if self.uid is not None:
            _kill_uid(self.uid)

    def close(self) -> None:
        # No polite goodbye: everything the worker had to say has been read, and SIGKILL is instant
        # where an interpreter shutdown is not. Whatever it started goes too.
        self.kill()
        for fd in (self._req_w, self._resp_r):
            if fd >= 0:
                try:
                    os.close(fd)
                except OSError:
                    pass
        self._stderr.close()
        shutil.rmtree(self.workdir, ignore_errors=True)
        shutil.rmtree(self._logdir, ignore_errors=True)

    # -- talking -----------------------------------------------------------------------------

    def send(self, header: dict, value: Any = None, extra: Any = None) -> None:
        blobs: list[bytes] = []
        if value is not None or extra is not None:
            tree, blobs = wire.encode({"value": value, "extra": extra})
            header = dict(header, payload=tree)
        try:
            wire.write_frame(self._req_w, header, blobs)
        except (BrokenPipeError, OSError):
            raise WorkerLost("crashed", self._death_note()) from None

    def wait_for(self, ops: set[str], deadline: float,
                 on_dependency: DependencyHandler | None = None,
                 on_event: Callable[[dict], None] | None = None) -> tuple[dict, Any]:
        """Read frames until one whose op is in ``ops``; serve dependency calls meanwhile."""
        while True:
            try:
                frame = self._reader.next_frame()
            except wire.WireError as error:
                self.kill()
                raise WorkerLost("protocol", f"the worker sent malformed data ({error})") from None
            if frame is not None:
                header, blobs = frame
                try:
                    payload = wire.decode(header["payload"], blobs) if "payload" in header else None
                except wire.WireError as error:
                    self.kill()
                    raise WorkerLost("protocol", f"the worker sent malformed data ({error})") from None
                op = header.get("op")
                if op in ops:
                    return header, payload
                if op == "dep" and on_dependency is not None:
                    self._serve_dependency(header, payload, on_dependency)
                elif on_event is not None:
                    on_event(header)
                continue
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                self.kill()
                raise WorkerLost("timeout", "time limit reached")
            ready, _, _ = select.select([self._resp_r], [], [], min(remaining, 0.5))
            if not ready:
                if self.process.poll() is not None:  # gone without closing the pipe (kernel engine)
                    note = self._death_note()
                    self.kill()
                    raise WorkerLost("crashed", note)
                continue
            data = os.read(self._resp_r, 1 << 20)
            if not data:
                self.process.wait()
                note = self._death_note()
                self.kill()
                raise WorkerLost("crashed", note)
            try:
                self._reader.feed(data)
            except wire.WireError as error:
                self.kill()
                raise WorkerLost("protocol", str(error)) from None

    def _serve_dependency(self, header: dict, payload: Any, handler: DependencyHandler) -> None:
        try:
            args, kwargs = payload["value"]
            value, args_after = handler(str(header.get("name")), list(args), dict(kwargs))
        except Exception as error:  # our reference refused the student's arguments
            self.send({"op": "dep_error", "message": f"{type(error).__name__}: {error}"})
            return
        self.send({"op": "dep_result"}, value=value, extra=args_after)

    def _death_note(self) -> str:
        code = self.process.poll()
        if code is None:
            return "the worker stopped answering"
        if code < 0:
            name = _signal_name(-code)
            if name == "SIGXCPU":
                return "the CPU time limit was reached"
            if name == "SIGKILL":
                return "the process was killed (SIGKILL: often the memory limit)"
            return f"the process crashed ({name})"
        try:
            tail = (self._logdir / "stderr.log").read_bytes()[-300:].decode(errors="replace").strip()
        except OSError:
            tail = ""
        detail = f"the process exited early (exit status {code})"
        return f"{detail}: {tail.splitlines()[-1]}" if tail and code != 0 else detail
