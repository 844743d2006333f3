"""Stage 2, the process side: start a locked-down worker, talk to it in frames, kill it.

``Worker`` is the one seam between the grader and student code. It owns a child process running
worker.py, two pipes, a private working folder, and the deadlines. Anything that goes wrong on
the other side (a crash, a hang, garbage on the pipe) surfaces as ``WorkerLost`` with a kind the
pipeline turns into a result; the grader itself never sees an exception from student code.
"""
from __future__ import annotations

import atexit
import contextlib
import ctypes
import fcntl
import functools
import glob
import json
import re
import os
import secrets
import select
import shutil
import signal
import stat
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any, Callable, NoReturn

import numpy as np

from . import answer_memo, resources, wire
from .config import GradeConfig
from .zygote import Zygote, launch_environment

WORKER_SCRIPT = Path(__file__).with_name("worker.py")
_UID_RANGE = (200_000, 2_000_000_000)
#: What student code may write into its working folder, all files together, beyond the helper
#: files (as root the folder is a tmpfs of that size): nothing it writes reaches the machine's disk,
#: where a folder took as many 64 MiB files (RLIMIT_FSIZE) as the disk held. Above RLIMIT_FSIZE, so
#: one file too large still fails as "File too large".
WORKDIR_BYTES = 96 * 1024 * 1024
#: Files and folders in it: the byte limit does not bound empty files, and each costs kernel memory
#: (millions in one cell took gigabytes).
WORKDIR_FILES = 16384
MS_NOSUID, MS_NODEV, MNT_DETACH = 2, 4, 2
#: Beyond --memory-mb, what a worker's processes may hold together: its tmpfs folders' pages.
CGROUP_MARGIN = 160 * 1024 * 1024

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


# --- the worker's filesystem view (as root): an allowlist --------------------------------------

#: System folders the interpreter and numpy need (shared libraries, the dynamic loader's cache,
#: /bin/sh for subprocess); none holds grading data. Missing ones are skipped.
_SYSTEM_PATHS = ("/usr/lib", "/usr/lib64", "/lib", "/lib64", "/usr/bin", "/bin", "/etc/ld.so.cache")
_DEVICES = ("/dev/null", "/dev/zero", "/dev/full", "/dev/random", "/dev/urandom")
#: The Python distributions a worker may import, with what they require. The kernel engine's
#: IPython kernel needs ipykernel's too.
WORKER_PACKAGES = ("numpy",)
KERNEL_PACKAGES = ("numpy", "ipykernel")


@functools.lru_cache(maxsize=4)
def _site_entries(packages: tuple[str, ...]) -> dict[str, tuple[str, ...]]:
    """{site folder: its top-level entries that belong to ``packages`` or what they require}."""
    if packages == WORKER_PACKAGES:  # the common case, without reading package metadata (it is slow)
        import numpy

        site, _ = os.path.split(os.path.dirname(os.path.realpath(numpy.__file__)))
        entries = ["numpy", *(os.path.basename(p) for p in glob.glob(os.path.join(site, "numpy-*.dist-info"))),
                   *(["numpy.libs"] if os.path.isdir(os.path.join(site, "numpy.libs")) else [])]
        return {site: tuple(sorted(entries))}
    from importlib import metadata

    wanted, seen, found = list(packages), set(), {}
    while wanted:
        name = re.sub(r"[-_.]+", "-", wanted.pop()).lower()
        if name in seen:
            continue
        seen.add(name)
        try:
            dist = metadata.distribution(name)
        except metadata.PackageNotFoundError:
            continue
        site = os.path.realpath(str(dist.locate_file("")))
        entries = found.setdefault(site, set())
        for file in dist.files or ():
            top = str(file).split("/")[0]
            if top not in ("..", "", "__pycache__") and not top.endswith(".pth"):
                entries.add(top)
        for requirement in dist.requires or ():
            if "extra ==" not in requirement.replace('extra==', 'extra =='):
                wanted.append(re.split(r"[\s;<>=!~\[(]", requirement.strip(), maxsplit=1)[0])
    return {site: tuple(sorted(entries)) for site, entries in found.items()}


@functools.lru_cache(maxsize=1)
def _interpreter_paths() -> tuple[tuple[str, ...], tuple[str, ...]]:
    """(read-only paths, site folders to filter): the interpreter, its standard library, libpython."""
    stdlib = os.path.realpath(os.path.dirname(os.__file__))
    paths = {stdlib, os.path.realpath(sys.executable)}
    for prefix in {sys.prefix, sys.base_prefix, sys.exec_prefix}:
        paths.update(os.path.realpath(p) for p in glob.glob(os.path.join(prefix, "lib", "libpython*")))
        paths.update(os.path.realpath(p) for p in glob.glob(os.path.join(prefix, "lib*", "python3*", "lib-dynload")))
    paths.update(path for path in _SYSTEM_PATHS if os.path.lexists(path))
    # Every site folder under a bound path is replaced by an empty one (then filled with allowed
    # packages only): a grader installed there, or any other package, stays out.
    sites = set()
    for base in ("/usr", "/usr/local", sys.prefix, sys.base_prefix):
        for pattern in ("lib*/python3*/site-packages", "lib*/python3*/dist-packages", "lib/python3/dist-packages"):
            sites.update(os.path.realpath(p) for p in glob.glob(os.path.join(base, pattern)))
    return tuple(sorted(paths)), tuple(sorted(sites))


def filesystem_view(workdir: Path, packages: tuple[str, ...] = WORKER_PACKAGES) -> dict:
    """What the worker's fresh root holds: read-only system and interpreter paths, site folders
    with only ``packages`` (and their requirements) in them, a few devices, an empty /tmp, and
    its own working folder, writable. Nothing else exists for it: not the grader, not solutions
    or expected values wherever they are, not /proc, not other submissions or other /tmp folders."""
    read_only, sites = _interpreter_paths()
    allowed = _site_entries(packages)
    return {"read_only": list(read_only), "devices": [d for d in _DEVICES if os.path.exists(d)],
            "sites": {site: list(allowed.get(site, ())) for site in sorted({*sites, *allowed})},
            "writable": [str(workdir)]}


#: What a pipe between the grader and a worker holds: a stand-in's reply (~90 KB for Dinosaur's
#: ``optimize``) then goes in one write instead of waiting for the worker to drain 64 KB, 77 times a notebook.
PIPE_BYTES = 1 << 20


def widen_pipe(fd: int, size: int = PIPE_BYTES) -> None:
    """Best effort (Linux; a user over the kernel's pipe quota keeps the default 64 KB)."""
    with contextlib.suppress(OSError):
        fcntl.fcntl(fd, getattr(fcntl, "F_SETPIPE_SZ", 1031), size)


def _framed(header: dict, value: Any, extra: Any) -> tuple[dict, list]:
    """A frame's header and blobs: ``value`` and ``extra`` as its payload, unless both are None."""
    if value is None and extra is None:
        return header, []
    tree, blobs = wire.encode({"value": value, "extra": extra})
    return dict(header, payload=tree), blobs


def _dependency_request(header: dict, payload: Any) -> tuple[str, list, dict]:
    """(name, args, kwargs) of a stand-in's call, or ValueError when it is not of that form."""
    name = header.get("name")
    value = payload.get("value") if type(payload) is dict else None
    if type(name) is not str or type(value) not in (list, tuple) or len(value) != 2:
        raise ValueError("malformed dependency call")
    args, kwargs = value
    if type(args) not in (list, tuple) or type(kwargs) is not dict or not all(type(k) is str for k in kwargs):
        raise ValueError("malformed dependency call")
    return name, list(args), dict(kwargs)


# --- reading header fields the worker sent: every one is checked, none is trusted --------------

def header_index(header: dict) -> int | None:
    """A cell index from a worker's header, or None when it is not a plain int."""
    value = header.get("index")
    return value if type(value) is int and 0 <= value < 1 << 31 else None


def header_error(value: Any) -> dict | None:
    """An error report from the worker as a dict of short strings (type, message, traceback, where)."""
    if not value:
        return None
    if type(value) is not dict:
        return {"type": "malformed", "message": "the worker sent a malformed error report", "traceback": "", "where": ""}
    limits = {"type": 80, "message": 2000, "traceback": 20_000, "where": 200}
    return {key: value.get(key)[:limit] if type(value.get(key)) is str else "" for key, limit in limits.items()}


def header_functions(value: Any, names: list[str]) -> dict[str, dict]:
    """What the worker says about the requested names, with the expected field types (others dropped)."""
    functions: dict[str, dict] = {}
    if type(value) is not dict:
        return functions
    for name in names:
        info = value.get(name)
        if type(info) is not dict:
            continue
        params = info.get("params")
        functions[name] = {
            "defined": info.get("defined") is True, "callable": info.get("callable") is True,
            "params": [p[:200] for p in params[:20] if type(p) is str] if type(params) is list else None,
            "cell": info.get("cell")[:80] if type(info.get("cell")) is str else "",
        }
    return functions


def _libc() -> Any:
    return ctypes.CDLL(None, use_errno=True)


def _mount_workdir(path: Path, size: int, uid: int) -> str:
    """Make ``path`` a tmpfs of ``size`` bytes owned by ``uid``; "" or why it could not be."""
    options = f"size={size},nr_inodes={WORKDIR_FILES},mode=0700,uid={uid},gid={uid}".encode()
    if _libc().mount(b"tmpfs", str(path).encode(), b"tmpfs", MS_NOSUID | MS_NODEV, options) != 0:
        return os.strerror(ctypes.get_errno())
    return ""


def _unmount(path: Path) -> None:
    """Detach a worker folder's tmpfs (nothing happens if it is not one)."""
    _libc().umount2(str(path).encode(), MNT_DETACH)


def _copy_regular_file(source: Path, target: Path) -> bool:
    """Copy ``source`` only if it is a regular file when opened: never through a final symbolic link
    (checked when it was chosen, it may have become one since: a link to the secret or a classmate's
    file), and never blocking on a FIFO. False, and nothing copied, otherwise."""
    try:
        descriptor = os.open(source, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError:
        return False
    with open(descriptor, "rb") as handle:
        if not stat.S_ISREG(os.fstat(descriptor).st_mode):
            return False
        with open(target, "wb") as out:
            shutil.copyfileobj(handle, out)
    return True


def _own_cgroup(controller: str) -> Path | None:
    """This process's cgroup folder of a cgroup v1 ``controller`` (``memory``), where one is mounted."""
    try:
        lines = Path("/proc/self/cgroup").read_text().splitlines()
    except OSError:
        return None
    for line in lines:
        _, controllers, path = line.split(":", 2)
        if controller in controllers.split(","):
            folder = Path(f"/sys/fs/cgroup/{controller}{path}")
            return folder if folder.is_dir() else None
    return None


def _memory_cgroup_path(name: str) -> Path | None:
    """Where a worker's memory cgroup ``name`` goes: under ours, where a cgroup v1 memory controller is mounted."""
    parent = _own_cgroup("memory")
    return None if parent is None else parent / name


def _make_memory_cgroup(folder: Path, limit: int) -> bool:
    """A memory cgroup of ``limit`` bytes, for a worker and every process it starts: the
    address-space limit is per process, and 64 processes of 2 GiB each would take the machine's memory
    (the kernel's OOM killer then picks anyone, a classmate's worker or the grader). False where
    cgroups cannot be made (cgroup v2 without delegation, no root): the per-process limits remain."""
    try:
        folder.mkdir()
    except OSError:
        return False
    try:
        (folder / "memory.limit_in_bytes").write_text(str(limit))
    except OSError:
        _remove_cgroup(folder)
        return False
    return True


def _remove_cgroup(folder: Path) -> None:
    """Remove a worker's cgroup once its processes are gone (they may take a moment to exit)."""
    for attempt in range(50):
        try:
            folder.rmdir()
            return
        except FileNotFoundError:
            return
        except OSError:
            time.sleep(0.002 * (attempt + 1))


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


def process_running(pid: int | str) -> bool:
    """Running, not a zombie waiting for a parent that may never reap it."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as handle:
            return handle.read().rsplit(b")", 1)[1].split()[0] != b"Z"
    except (OSError, IndexError):
        return False


def _kill_as(uid: int) -> None:
    """kill(-1, SIGKILL) from a child that has become ``uid``: the kernel signals every process of
    that user id at once, under the lock fork takes, so none can fork its way out between a scan
    of /proc and the kill (a process that forks and exits in a loop changes pid faster than a
    scan). The child does nothing else: it only calls setuid, kill and _exit."""
    try:
        pid = os.fork()
    except OSError:
        return
    if pid == 0:  # pragma: no cover - the child
        code = 1
        try:
            os.setgroups([])
            os.setgid(uid)
            os.setuid(uid)
            for _ in range(3):
                os.kill(-1, signal.SIGKILL)
            code = 0
        except BaseException:
            pass
        os._exit(code)
    try:
        os.waitpid(pid, 0)
    except ChildProcessError:  # pragma: no cover - reaped by someone else
        pass


def _kill_stragglers(uid: int) -> None:
    """After ``_kill_as(uid)``: check that nothing of the worker's private user id still runs, and
    kill what does (zombies stay listed, but are not running)."""
    for attempt in range(5):
        found = False
        for entry in os.listdir("/proc"):
            if not entry.isdigit():
                continue
            try:
                if os.stat(f"/proc/{entry}").st_uid == uid and process_running(entry):
                    os.kill(int(entry), signal.SIGKILL)
                    found = True
            except OSError:
                pass
        if not found:
            return
        time.sleep(0.002 * (attempt + 1))


# --- cleanup on every exit path ----------------------------------------------------------------

#: Every Worker from its first line until its ``close`` has finished. ``close_all_workers`` (run at
#: exit and on SIGTERM/SIGHUP) closes what an exception or a signal left open.
_LIVE: "set[Worker]" = set()
# Reentrant: the SIGTERM handler's close_all_workers may run while this thread holds it (in a close).
_LIVE_LOCK = threading.RLock()
_HOOKS: list[bool] = []
_EXITING: list[int] = []


def close_all_workers() -> None:
    """Kill every live worker (and its user id's processes) and remove its folders."""
    with _LIVE_LOCK:
        workers = list(_LIVE)
    for worker in workers:
        try:
            worker.close()
        except Exception:  # pragma: no cover - keep closing the others
            pass
    Zygote.stop()  # and wait for it to leave: nothing of ours outlives the grader


def _exit_on_signal(number: int, frame: object) -> None:
    """SIGTERM/SIGHUP become SystemExit, so ``finally`` blocks and atexit handlers run. A batch's
    grading processes get the signal too (they clean up the same way); a second signal while
    cleaning up is ignored rather than cutting the cleanup short."""
    if _EXITING:
        return
    _EXITING.append(number)
    if "multiprocessing" in sys.modules:
        import multiprocessing

        if multiprocessing.parent_process() is not None:
            # A batch's grading process: its pool would catch SystemExit as a task's failure and
            # take the next notebook. Clean up and leave at once; the batch records what is done.
            close_all_workers()
            os._exit(128 + number)
        for child in multiprocessing.active_children():
            try:
                child.terminate()
            except OSError:  # pragma: no cover - already gone
                pass
    raise SystemExit(128 + number)


def install_signal_handlers() -> None:
    """Make SIGTERM and SIGHUP an orderly exit (only where they would kill the process outright:
    a handler the embedding program set stays). SIGINT already raises KeyboardInterrupt."""
    if threading.current_thread() is not threading.main_thread():
        return
    for number in (signal.SIGTERM, signal.SIGHUP):
        try:
            if signal.getsignal(number) == signal.SIG_DFL:
                signal.signal(number, _exit_on_signal)
        except (ValueError, OSError):  # pragma: no cover - not the main interpreter
            pass


def _install_cleanup_hooks() -> None:
    if not _HOOKS:
        _HOOKS.append(True)
        atexit.register(close_all_workers)
        if "multiprocessing" in sys.modules and threading.current_thread() is threading.main_thread():
            import multiprocessing

            if multiprocessing.parent_process() is not None:
                from .exiting import leave_with_parent

                # A batch's grading process whose parent died (killed outright) stops like on
                # SIGTERM, instead of grading on with nobody to collect the result.
                leave_with_parent(functools.partial(os.kill, os.getpid(), signal.SIGTERM))
    install_signal_handlers()


class Worker:
    """One sandboxed worker process. Use as a context manager; ``close`` always cleans up.

    A constructor that fails (the worker never says it is ready, a signal) cleans up too."""

    process: Any = None
    _req_w = _resp_r = -1
    _stderr: Any = None
    _logdir: Path | None = None
    _mounted = False
    _cgroup: Path | None = None
    _janitor: Zygote | None = None

    def __init__(self, config: GradeConfig, helper_files: dict[str, Path]) -> None:
        self.config = config
        self.notes: list[str] = []
        self.workdir: Path | None = None
        self._claimed: list[str] = []
        _install_cleanup_hooks()
        with _LIVE_LOCK:
            _LIVE.add(self)
        try:
            self._prepare(helper_files)
            self._start()
        except BaseException:
            self.close()
            raise

    def _claim(self, paths: list[str]) -> None:
        """Tell the zygote (the janitor) of folders about to be made, before making them: a grader
        killed at any moment after this leaves nothing behind (zygote.py)."""
        if self._janitor is not None:
            try:
                self._janitor.claim(paths)
            except OSError:
                self._janitor = None
                return
            self._claimed.extend(paths)

    def _unclaim(self, paths: list[str]) -> None:
        """Claimed paths that are no longer ours to remove: removed already, or never made by us."""
        mine = [path for path in paths if path in self._claimed]
        self._claimed = [path for path in self._claimed if path not in mine]
        if mine and self._janitor is not None:
            try:
                self._janitor.release(mine)
            except OSError:  # a zygote gone or busy: it had nothing of ours left to remove anyway
                self._janitor = None

    def _make_folder(self, prefix: str) -> Path:
        """A new private folder in the temporary folder, as tempfile.mkdtemp makes one, claimed first."""
        while True:
            path = Path(tempfile.gettempdir(), prefix + secrets.token_hex(6))
            self._claim([str(path)])
            try:
                path.mkdir(mode=0o700)
                return path
            except FileExistsError:  # someone else's (48 random bits: practically never)
                self._unclaim([str(path)])

    def _prepare(self, helper_files: dict[str, Path]) -> None:
        self._isolated_uid = os.geteuid() == 0
        self.uid = secrets.randbelow(_UID_RANGE[1] - _UID_RANGE[0]) + _UID_RANGE[0] if self._isolated_uid else None
        self._janitor = Zygote.get() if self.config.use_zygote else None
        self.workdir = self._make_folder("grader-")
        if self.uid is not None:
            size = WORKDIR_BYTES + sum(Path(source).stat().st_size for source in helper_files.values())
            problem = _mount_workdir(self.workdir, size, self.uid)
            self._mounted = not problem
            if problem:
                self.notes.append(f"the working folder is not size-limited ({problem}): it is on the disk")
            # All the worker's processes together: its memory limit, plus its tmpfs folders.
            cgroup = _memory_cgroup_path(f"grader-{self.uid}")
            if cgroup is not None:
                self._claim([str(cgroup)])
                if _make_memory_cgroup(cgroup, self.config.memory_mb * 1024 * 1024 + CGROUP_MARGIN):
                    self._cgroup = cgroup
                else:  # not made, or another grader's
                    self._unclaim([str(cgroup)])
        for name, source in helper_files.items():
            target = self.workdir / name
            target.parent.mkdir(parents=True, exist_ok=True)
            if not _copy_regular_file(Path(source), target):
                self.notes.append(f"{name} was not used: it was not a regular file when it was copied "
                                  "(a link or a pipe?); hand in the file itself")
        self._logdir = self._make_folder("grader-log-")
        if self.uid is not None:
            (self._logdir / "root").mkdir()  # where the worker mounts its fresh root (in its own namespace)
        if self.uid is not None:
            for path in [self.workdir, *self.workdir.rglob("*")]:
                os.chown(path, self.uid, self.uid)
        os.chmod(self.workdir, 0o700)
        self._reader = wire.FrameReader()
        self._stderr = open(self._logdir / "stderr.log", "wb")

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
        packages = KERNEL_PACKAGES if self.config.engine == "kernel" else WORKER_PACKAGES
        return {
            "req_fd": req_fd, "resp_fd": resp_fd, "uid": self.uid, "workdir": str(self.workdir),
            "cgroup": str(self._cgroup) if self._cgroup is not None else None,
            "hide": _hidden_paths(self.config, self.workdir), "limits": limits,
            "view": filesystem_view(self.workdir, packages) if self.uid is not None else None,
            "root": str(self._logdir / "root") if self.uid is not None and self._logdir else None,
            "output_cap": self.config.output_cap,
            "env": {"HOME": str(self.workdir), "PATH": "/usr/bin:/bin", "LANG": "C.UTF-8",
                    "OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1",
                    "MPLBACKEND": "Agg", "GRADER_WORKER": "1", "TMPDIR": str(self.workdir)},
        }

    def _open_pipes(self) -> tuple[int, int]:
        """The request and response pipes, 1 MiB each; the other end's two descriptors (req_r, resp_w)."""
        req_r, self._req_w = os.pipe()
        self._resp_r, resp_w = os.pipe()
        widen_pipe(self._req_w)
        widen_pipe(resp_w)
        return req_r, resp_w

    def _start(self) -> None:
        req_r, resp_w = self._open_pipes()
        config = self._worker_config(req_r, resp_w)
        zygote = Zygote.get() if self.config.use_zygote else None
        if zygote is not None and zygote is not self._janitor:  # the one told of our folders is gone
            claimed, self._claimed, self._janitor = self._claimed, [], zygote
            self._claim(claimed)
        try:
            if zygote is None:
                raise OSError("no zygote")
            # The zygote also cleans up after this worker if the grader dies without doing so.
            self.process = zygote.spawn(config, (req_r, resp_w, self._stderr.fileno()))
        except OSError:
            self.process = subprocess.Popen(
                [sys.executable, "-I", "-B", str(WORKER_SCRIPT), json.dumps(config)],
                stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=self._stderr,
                pass_fds=(req_r, resp_w), cwd=self.workdir, env=launch_environment(), start_new_session=True, close_fds=True,
            )
        os.close(req_r)
        os.close(resp_w)
        header, _ = self.wait_for({"ready"}, time.monotonic() + min(60.0, self.config.notebook_timeout))
        self.notes.extend(str(note) for note in header.get("notes", []))

    def __enter__(self) -> "Worker":
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def kill(self) -> None:
        if self.process is None:
            return
        try:
            os.killpg(self.process.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
        if self.uid is not None:  # while the worker's memory is being freed, not after
            _kill_as(self.uid)
        try:
            self.process.wait(timeout=5)
        except (subprocess.TimeoutExpired, OSError):  # pragma: no cover - a zombie we cannot reap
            pass
        if self.uid is not None:
            _kill_stragglers(self.uid)

    def close(self) -> None:
        # No polite goodbye: everything the worker had to say has been read, and SIGKILL is instant
        # where an interpreter shutdown is not. Whatever it started goes too. Safe to call twice,
        # and on a Worker whose constructor failed half-way.
        self.kill()
        for fd in (self._req_w, self._resp_r):
            if fd >= 0:
                try:
                    os.close(fd)
                except OSError:
                    pass
        self._req_w = self._resp_r = -1
        if self._stderr is not None:
            self._stderr.close()
        if self._mounted and self.workdir is not None:
            _unmount(self.workdir)
            self._mounted = False
        if self._cgroup is not None:
            _remove_cgroup(self._cgroup)
            self._cgroup = None
        for folder in (self.workdir, self._logdir):
            if folder is not None:
                shutil.rmtree(folder, ignore_errors=True)
        self._unclaim(list(self._claimed))
        with _LIVE_LOCK:
            _LIVE.discard(self)

    # -- talking -----------------------------------------------------------------------------

    def send(self, header: dict, value: Any = None, extra: Any = None, *, deadline: float | None = None) -> None:
        """Write one request. A worker that does not take it by ``deadline`` (default: one call's
        time limit from now) is killed: ``WorkerLost("timeout")``."""
        if deadline is None:
            deadline = time.monotonic() + self.config.call_timeout
        self._write(self._packed(*_framed(header, value, extra)), deadline)

    def _packed(self, header: dict, blobs: list) -> bytes:
        try:
            return wire.pack(header, blobs)
        except wire.WireError as error:  # a request we cannot frame (never from student data alone)
            raise WorkerLost("protocol", str(error)) from None

    def _write(self, frame: bytes, deadline: float) -> None:
        try:
            os.set_blocking(self._req_w, False)
            wire.write_packed(self._req_w, frame, deadline=deadline)
        except wire.WireTimeout:
            self.kill()
            raise WorkerLost("timeout", "time limit reached (the worker stopped reading)") from None
        except (OSError, ValueError):  # BrokenPipeError, or the pipe is already closed
            raise WorkerLost("crashed", self._death_note()) from None

    def wait_for(self, ops: set[str], deadline: float,
                 on_dependency: DependencyHandler | None = None,
                 on_event: Callable[[dict], None] | None = None, only: bool = False) -> tuple[dict, Any]:
        """Read frames until one whose op is in ``ops``; serve dependency calls meanwhile.

        Whatever the worker writes, this returns a dict header whose "op" is one of ``ops`` and
        plain data, or raises ``WorkerLost``: "protocol" for malformed frames, "timeout" at the
        deadline, "crashed" when the worker is gone. ``only``: a frame of any other op is returned
        too (with no payload), for a caller to whom it means the protocol was broken. A payload is
        decoded only for a frame that is used: a stream of frames of no use costs reading them."""
        while True:
            try:
                frame = self._reader.next_frame()
            except wire.WireError as error:
                self._lost_protocol(error)
            if frame is not None:
                header, blobs = frame
                op = header.get("op")
                if type(op) is not str:
                    self._lost_protocol("a frame without a valid op")
                digest = None
                if op == "dep" and op not in ops and getattr(on_dependency, "remembers", False):
                    digest = answer_memo.request_digest(header, blobs)
                    if self._replay_dependency(header.get("name"), digest, on_dependency, deadline):
                        continue
                if only and op not in ops:
                    return header, None
                used = op in ops or (op == "dep" and on_dependency is not None)
                try:
                    payload = wire.decode(header["payload"], blobs) if used and "payload" in header else None
                except Exception as error:  # decode is total; this seam keeps a bug there a verdict too
                    self._lost_protocol(error)
                if op in ops:
                    return header, payload
                if op == "dep" and on_dependency is not None:
                    self._serve_dependency(header, payload, on_dependency, deadline, digest)
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
            data = os.read(self._resp_r, wire.READ_SIZE)
            if not data:
                try:  # the pipe closed: usually the worker died; give it a moment to say how
                    self.process.wait(timeout=max(0.0, min(remaining, 2.0)))
                except (subprocess.TimeoutExpired, OSError):
                    pass
                note = self._death_note()
                self.kill()
                raise WorkerLost("crashed", note)
            try:
                self._reader.feed(data)
            except wire.WireError as error:
                self._lost_protocol(error)

    def _lost_protocol(self, error: object) -> NoReturn:
        self.kill()
        raise WorkerLost("protocol", f"the worker sent malformed data ({str(error)[:200]})")

    def _serve_dependency(self, header: dict, payload: Any, handler: DependencyHandler, deadline: float,
                          digest: bytes | None = None) -> None:
        """Answer a stand-in's call with the reference, within the calling function's deadline;
        with the request's ``digest``, offer the reply to the handler's memo (answer_memo)."""
        try:
            name, args, kwargs = _dependency_request(header, payload)
            answer = handler(name, args, kwargs)
            value, args_after = answer
            # Where the result holds the call's own arguments, for the stand-in to give the caller
            # back its own objects (worker.restore_aliases); plain ints and str keys, bounded.
            aliases = getattr(answer, "aliases", [])[:256]
        except Exception as error:  # a malformed request, or our reference refused the student's arguments
            self._refuse_dependency(error, deadline)
            return
        frame = self._packed(*_framed({"op": "dep_result", "aliases": aliases}, value, args_after))
        if digest is not None:  # asked for by wait_for only of a handler that remembers
            handler.remember(name, digest, answer_memo.Reply(frame))
        self._write(frame, deadline)

    def _replay_dependency(self, name: Any, digest: bytes, handler: Any, deadline: float) -> bool:
        """Send the reply once computed for a request of these very bytes (answer_memo); False when
        there is none and the request is to be served as usual."""
        try:
            reply = handler.recall(name, digest)
        except Exception as error:  # the case's budget or deadline is spent: refused as when computed
            self._refuse_dependency(error, deadline)
            return True
        if reply is None:
            return False
        self._write(reply.frame, deadline)
        return True

    def _refuse_dependency(self, error: Exception, deadline: float) -> None:
        self.send({"op": "dep_error", "message": f"{type(error).__name__}: {str(error)[:500]}"}, deadline=deadline)

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
