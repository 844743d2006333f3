"""The worker: the only place student code runs. Started by sandbox.py as a plain script
(``python -I worker.py CONFIG_JSON``), never imported by the grader itself.

Before it reads any student code it locks itself in: resource limits, and when started as root,
a private mount and network namespace (no network; a fresh root folder holding only what grading
needs, see build_root) and a switch to an unprivileged user id of its own. Then it serves
requests on a pipe:

    load  -> runs the notebook's cells one by one in one namespace, reporting each cell
    call  -> calls a graded function on decoded inputs and sends back its raw outputs
    exit

It only ever sends plain data (wire.py); every verdict is computed by the grader.
"""
import builtins
import ctypes
import hashlib
import inspect
import io
import json
import linecache
import os
import random
import resource
import signal
import socket
import sys
import tempfile
import traceback

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import wire  # noqa: E402  (a sibling file, loaded before the package folder is hidden)
import drive  # noqa: E402  (the same: drives graded classes through a script)
del sys.path[0]
import numpy as np  # noqa: E402
# Modules notebooks commonly use, loaded while the interpreter's files are surely readable.
import copy, math, pprint, string, collections, itertools, functools, numpy.random, numpy.linalg  # noqa: E401,E402
PRELOADED = (copy, math, pprint, string, collections, itertools, functools)

# Set by configure(): from the command line (main) or by the kernel bootstrap (kernel_boot.py).
CONFIG = {}
REQ_FD = RESP_FD = -1
OUTPUT_CAP = 20_000
READER = wire.FrameReader()


def configure(config, req_fd, resp_fd):
    global CONFIG, REQ_FD, RESP_FD, OUTPUT_CAP, READER
    CONFIG, REQ_FD, RESP_FD = config, req_fd, resp_fd
    OUTPUT_CAP = config.get("output_cap", 20_000)
    READER = wire.FrameReader(config.get("max_bytes", wire.DEFAULT_MAX_BYTES) * 2)

CLONE_NEWNS = 0x00020000
CLONE_NEWNET = 0x40000000
#: SysV shared memory, semaphores, message queues and POSIX queues live in the IPC namespace: in a
#: private one they go with the worker instead of outliving it (a detached segment kept its memory).
CLONE_NEWIPC = 0x08000000
#: Every namespace flag clone() takes (mount, cgroup, UTS, IPC, user, PID, network): a worker needs to
#: make none (a user namespace is kernel attack surface). The low byte is the exit signal.
CLONE_NEW_ANY = 0x00020000 | 0x02000000 | 0x04000000 | 0x08000000 | 0x10000000 | 0x20000000 | 0x40000000
MS_RDONLY, MS_NOSUID, MS_NODEV, MS_REMOUNT, MS_BIND, MS_REC, MS_PRIVATE = 1, 2, 4, 32, 4096, 16384, 1 << 18
MNT_DETACH = 2
UMOUNT_NOFOLLOW = 8
#: pivot_root has no libc wrapper; where its number is unknown, chroot does the job.
SYS_PIVOT_ROOT = {"x86_64": 155, "aarch64": 41, "riscv64": 41, "ppc64le": 203, "s390x": 217}


def _mount(libc, source, target, fstype, flags, data):
    if libc.mount(source, target.encode(), fstype, flags, data) != 0:
        error = ctypes.get_errno()
        raise OSError(error, "mount %s: %s" % (target, os.strerror(error)))


def _bind(libc, root, path, writable=False, device=False):
    """Make ``path`` of the current filesystem appear at the same path under ``root``."""
    target = root + path
    if os.path.islink(path):  # /lib -> usr/lib: the same link, resolved inside the new root
        os.makedirs(os.path.dirname(target), exist_ok=True)
        if not os.path.lexists(target):
            os.symlink(os.readlink(path), target)
        return
    if os.path.isdir(path):
        os.makedirs(target, exist_ok=True)
    else:
        os.makedirs(os.path.dirname(target), exist_ok=True)
        if not os.path.exists(target):
            os.close(os.open(target, os.O_CREAT | os.O_WRONLY, 0o644))
    _mount(libc, path.encode(), target, None, MS_BIND | MS_REC, None)
    flags = MS_REMOUNT | MS_BIND | MS_NOSUID | (0 if writable else MS_RDONLY) | (0 if device else MS_NODEV)
    _mount(libc, None, target, None, flags, None)


def _under(path, folders):
    return any(path == folder or path.startswith(folder.rstrip("/") + "/") for folder in folders)


def build_root(libc, view, root):
    """Fill ``root`` (an empty folder) with an allowlist view, then make it the root folder.

    A tmpfs gets read-only binds of the interpreter, its standard library, the system libraries
    and a few devices; each site-packages folder is replaced by an empty tmpfs holding only the
    allowed packages; /tmp is a fresh small tmpfs; the worker's own folder is bound writable.
    Then pivot_root (or chroot) into it and detach the old root: nothing else of the machine
    is reachable from this mount namespace, including /proc."""
    mask = os.umask(0o022)  # folders made here must be traversable by the worker's user id
    try:
        _mount(libc, b"tmpfs", root, b"tmpfs", MS_NOSUID | MS_NODEV, b"size=1m,mode=0755")
        # /tmp first: mounted after the binds, it would hide an interpreter or site-packages that
        # live under /tmp (a venv there), and numpy's lazily imported submodules with them.
        os.makedirs(root + "/tmp", exist_ok=True)
        # nr_inodes: the size limit does not bound empty files, each of which costs kernel memory.
        _mount(libc, b"tmpfs", root + "/tmp", b"tmpfs", MS_NOSUID | MS_NODEV, b"size=16m,nr_inodes=4096,mode=1777")
        bound = []
        for path in sorted(view.get("read_only", [])):
            if os.path.lexists(path) and not _under(path, bound):
                _bind(libc, root, path)
                bound.append(path)
        for device in view.get("devices", []):
            _bind(libc, root, device, device=True)
        for site, entries in sorted(view.get("sites", {}).items()):
            if not entries and not os.path.isdir(root + site):
                continue  # not visible anyway
            if not _under(site, bound):
                os.makedirs(root + site, exist_ok=True)
            _mount(libc, b"tmpfs", root + site, b"tmpfs", MS_NOSUID | MS_NODEV, b"size=64k,mode=0755")
            for entry in entries:
                if os.path.lexists(os.path.join(site, entry)):
                    _bind(libc, root, os.path.join(site, entry))
            _mount(libc, None, root + site, None, MS_REMOUNT | MS_RDONLY | MS_NOSUID | MS_NODEV, None)
        for path in view.get("writable", []):
            _bind(libc, root, path, writable=True)
        old = root + "/.old-root"
        os.mkdir(old)
        number = SYS_PIVOT_ROOT.get(os.uname().machine)
        if number is not None and libc.syscall(number, root.encode(), old.encode()) == 0:
            os.chdir("/")
            libc.umount2(b"/.old-root", MNT_DETACH)
            os.rmdir("/.old-root")
        else:
            os.chroot(root)
            os.chdir("/")
            os.rmdir("/.old-root")
        libc.mount(None, b"/", None, MS_REMOUNT | MS_RDONLY | MS_NOSUID | MS_NODEV, None)
    finally:
        os.umask(mask)


def _ancestors(path):
    parts = path.split(os.sep)
    return [os.sep + os.path.join(*parts[1:i]) if i > 1 else os.sep for i in range(1, len(parts) + 1)]


def expose_python(libc):
    """Keep the interpreter reachable after the switch to an unprivileged user id.

    Python may live under a folder others cannot enter (/root/.pyenv under a 0700 /root). In our
    private mount namespace, such a folder is covered by an empty tmpfs into which only the
    interpreter's own folders are bind-mounted back: the rest of it stays out of reach.
    """
    needed = {os.path.realpath(p) for p in [sys.prefix, sys.base_prefix, sys.exec_prefix, *sys.path] if p}
    needed = sorted(p for p in needed if os.path.isdir(p))
    blocked = {}
    for path in needed:
        for ancestor in _ancestors(path)[:-1]:
            if not os.stat(ancestor).st_mode & 0o001:
                blocked.setdefault(ancestor, []).append(path)
                break
    for ancestor, paths in blocked.items():
        roots = [p for p in paths if not any(p != q and p.startswith(q + os.sep) for q in paths)]
        stage = tempfile.mkdtemp(prefix="grader-stage-")
        staged = []
        for number, path in enumerate(roots):
            target = os.path.join(stage, str(number))
            os.mkdir(target)
            if libc.mount(path.encode(), target.encode(), None, MS_BIND | MS_REC, None) == 0:
                staged.append((path, target))
        if libc.mount(b"tmpfs", ancestor.encode(), b"tmpfs", MS_NOSUID | MS_NODEV, b"size=64k,mode=0755") == 0:
            for path, target in staged:
                os.makedirs(path, mode=0o755, exist_ok=True)
                libc.mount(target.encode(), path.encode(), None, MS_BIND | MS_REC, None)
        for path, target in staged:
            libc.umount2(target.encode(), MNT_DETACH)
            os.rmdir(target)
        os.rmdir(stage)


def hide_known_folders(libc, notes):
    """The fallback when no fresh root can be built: cover the folders the grader names."""
    expose_python(libc)
    for path in CONFIG.get("hide", []):
        if os.path.isdir(path):
            if libc.mount(b"tmpfs", path.encode(), b"tmpfs", MS_RDONLY | MS_NOSUID | MS_NODEV, b"size=4k,mode=0555") != 0:
                notes.append("could not hide %s" % path)


CLONE_NEWUSER = 0x10000000


def private_network():
    """Without root: no network all the same, in a user namespace of our own (where the kernel lets
    an unprivileged user make one) that maps our user id to itself, with an empty network and IPC
    namespace. Files are seen as before, as the grader's user. Returns notes (the fallback)."""
    if not sys.platform.startswith("linux"):
        return ["not run as root, and not on Linux: the worker has the network and reads what the grader's user "
                "can (README, Security model)"]
    uid, gid = os.getuid(), os.getgid()
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.unshare(CLONE_NEWUSER | CLONE_NEWNET | CLONE_NEWIPC) != 0:
        return ["not run as root and no user namespace (errno %d): the worker has the network and reads what "
                "the grader's user can (README, Security model)" % ctypes.get_errno()]
    try:
        for name, text in (("setgroups", "deny"), ("uid_map", "%d %d 1" % (uid, uid)), ("gid_map", "%d %d 1" % (gid, gid))):
            with open("/proc/self/" + name, "w") as handle:
                handle.write(text)
    except OSError as error:
        return ["not run as root: user namespace without its id map (%s)" % error.strerror]
    return ["not run as root: no network, but the worker reads what the grader's user can (README, Security model)"]


def lock_down():
    """Limits first, then (as root) namespaces and a new user id. Failures of the optional
    parts are reported to the grader, which notes them; the limits are not optional."""
    notes = []
    uid = CONFIG.get("uid")
    if CONFIG.get("cgroup") and os.geteuid() == 0:
        # Before anything else: every process this one starts is in it too (memory of all together).
        try:
            with open(os.path.join(CONFIG["cgroup"], "cgroup.procs"), "w") as handle:
                handle.write(str(os.getpid()))
        except OSError as error:
            notes.append("no memory limit for all the worker's processes together (%s)" % error.strerror)
    if uid is not None and os.geteuid() == 0:
        libc = ctypes.CDLL(None, use_errno=True)
        if libc.unshare(CLONE_NEWNS | CLONE_NEWNET | CLONE_NEWIPC) != 0:
            notes.append("no private namespaces (errno %d): network and grader files not hidden" % ctypes.get_errno())
        else:
            libc.mount(b"none", b"/", None, MS_REC | MS_PRIVATE, None)
            viewed = False
            if CONFIG.get("view") and CONFIG.get("root"):
                try:
                    build_root(libc, CONFIG["view"], CONFIG["root"])
                    viewed = True
                except OSError as error:  # then hide what we know of, as without a view
                    libc.umount2(CONFIG["root"].encode(), MNT_DETACH)
                    notes.append("no allowlist view (%s): only the grader's known folders are hidden" % error)
            if not viewed:
                hide_known_folders(libc, notes)
        os.setgroups([])
        os.setgid(uid)
        os.setuid(uid)
    else:
        notes.extend(private_network())
    limits = CONFIG.get("limits", {})
    for name, value in limits.items():
        which = getattr(resource, name)
        try:
            resource.setrlimit(which, (value, value))
        except (ValueError, OSError) as error:
            notes.append("limit %s not set: %s" % (name, error))
    notes.extend(restrict_syscalls())
    # Writing past RLIMIT_FSIZE should fail the write, not kill the worker.
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    os.chdir(CONFIG["workdir"])
    os.environ.clear()
    os.environ.update(CONFIG.get("env", {}))
    sys.path.insert(0, CONFIG["workdir"])
    return notes


# --- system calls no worker needs (seccomp) ----------------------------------------------------

PR_SET_NO_NEW_PRIVS, PR_SET_SECCOMP, SECCOMP_MODE_FILTER = 38, 22, 2
EPERM, ENOSYS = 1, 38
#: (audit arch, clone, clone3, {name: number} refused with EPERM) per machine. Refused: new
#: namespaces (user namespaces above all: a private root inside one is the usual first step of a
#: kernel exploit), joining another's, tracing or reading other processes, kernel keyrings, BPF,
#: perf, userfaultfd, io_uring, mounts, module loading.
SYSCALLS = {
    "x86_64": (0xC000003E, 56, 435, {
        "unshare": 272, "setns": 308, "ptrace": 101, "process_vm_readv": 310, "process_vm_writev": 311,
        "keyctl": 250, "add_key": 248, "request_key": 249, "bpf": 321, "perf_event_open": 298,
        "userfaultfd": 323, "io_uring_setup": 425, "mount": 165, "umount2": 166, "pivot_root": 155,
        "chroot": 161, "open_by_handle_at": 304, "init_module": 175, "finit_module": 313, "kexec_load": 246,
        "fsopen": 430, "fsmount": 432, "open_tree": 428, "move_mount": 429}),
    "aarch64": (0xC00000B7, 220, 435, {
        "unshare": 97, "setns": 268, "ptrace": 117, "process_vm_readv": 270, "process_vm_writev": 271,
        "keyctl": 219, "add_key": 217, "request_key": 218, "bpf": 280, "perf_event_open": 241,
        "userfaultfd": 282, "io_uring_setup": 425, "mount": 40, "umount2": 39, "pivot_root": 41,
        "chroot": 51, "open_by_handle_at": 265, "init_module": 105, "finit_module": 273, "kexec_load": 104,
        "fsopen": 430, "fsmount": 432, "open_tree": 428, "move_mount": 429}),
}
X32_BIT = 0x40000000


def seccomp_program(machine):
    """The classic-BPF filter for ``machine`` as (code, jt, jf, k) tuples, or None when unknown.

    A call from another ABI (i386 or x32 on x86_64) is refused outright, else it could name the
    same system calls by other numbers; clone may not make namespaces; clone3 says ENOSYS, as on
    an older kernel (its flags sit in memory a filter cannot read), and the C library falls back
    to clone."""
    if machine not in SYSCALLS:
        return None
    arch, clone, clone3, refused = SYSCALLS[machine]
    load, jeq, jge, jset, ret = 0x20, 0x15, 0x35, 0x45, 0x06
    allow, deny = 0x7FFF0000, 0x00050000 | EPERM
    program = [(load, 0, 0, 4), (jeq, 1, 0, arch), (ret, 0, 0, deny), (load, 0, 0, 0)]
    if machine == "x86_64":
        program += [(jge, 0, 1, X32_BIT), (ret, 0, 0, deny)]
    for number in sorted(refused.values()):
        program += [(jeq, 0, 1, number), (ret, 0, 0, deny)]
    program += [(jeq, 0, 1, clone3), (ret, 0, 0, 0x00050000 | ENOSYS)]
    program += [(jeq, 0, 3, clone), (load, 0, 0, 16), (jset, 0, 1, CLONE_NEW_ANY), (ret, 0, 0, deny)]
    program.append((ret, 0, 0, allow))
    return program


def restrict_syscalls():
    """No new privileges (set-user-id programs stay unprivileged), then the seccomp filter.
    Returns notes for what could not be done."""
    if not sys.platform.startswith("linux"):
        return ["no system call filter: not on Linux"]
    try:
        libc = ctypes.CDLL(None, use_errno=True)
    except OSError:  # pragma: no cover - not Linux
        return ["no system call filter: no C library"]
    if libc.prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0:
        return ["no system call filter (errno %d)" % ctypes.get_errno()]
    program = seccomp_program(os.uname().machine)
    if program is None:
        return ["no system call filter for this machine (%s)" % os.uname().machine]

    class Filter(ctypes.Structure):
        _fields_ = [("code", ctypes.c_ushort), ("jt", ctypes.c_ubyte), ("jf", ctypes.c_ubyte), ("k", ctypes.c_uint)]

    class Program(ctypes.Structure):
        _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.POINTER(Filter))]

    filters = (Filter * len(program))(*[Filter(*instruction) for instruction in program])
    fprog = Program(len(program), filters)
    if libc.prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, ctypes.byref(fprog), 0, 0) != 0:
        return ["no system call filter (errno %d)" % ctypes.get_errno()]
    return []


class CappedWriter(io.TextIOBase):
    """Stands in for sys.stdout/stderr: keeps the first OUTPUT_CAP characters, counts the rest."""

    def __init__(self):
        self.parts, self.size, self.dropped = [], 0, 0

    def writable(self):
        return True

    def write(self, text):
        text = str(text)
        room = OUTPUT_CAP - self.size
        if room > 0:
            self.parts.append(text[:room])
            self.size += min(len(text), room)
        self.dropped += max(0, len(text) - max(room, 0))
        return len(text)

    def text(self):
        out = "".join(self.parts)
        if self.dropped:
            out += "\n[... %d more characters of output cut]" % self.dropped
        return out


MAIN_PID = os.getpid()


def only_the_worker_speaks():
    """A process the student forked must never take part in the protocol: it leaves at once."""
    if os.getpid() != MAIN_PID:
        os._exit(0)


def send(header, value=None, extra=None):
    only_the_worker_speaks()
    blobs = []
    if value is not None or extra is not None:
        tree, blobs = wire.encode({"value": value, "extra": extra}, CONFIG.get("max_bytes", wire.DEFAULT_MAX_BYTES))
        header = dict(header, payload=tree)
    wire.write_frame(RESP_FD, header, blobs)


def receive():
    only_the_worker_speaks()
    header, blobs = wire.read_frame_blocking(REQ_FD, READER)
    if "payload" in header:
        header["payload"] = wire.decode(header["payload"], blobs)
    return header


def type_name(value, limit=80):
    """The name of value's type, read without running the student's code: ``type(x).__name__``
    runs a metaclass's property of that name, which may raise anything (SystemExit too), and a
    class's __name__ may be a str subclass with methods of its own."""
    name = type.__dict__["__name__"].__get__(type(value))
    return str.__getitem__(name, slice(0, limit))


def safe_str(value, limit=2000):
    try:
        text = str(value)
    except BaseException:  # a hostile __str__
        text = "<unprintable %s>" % type_name(value)
    return str.__getitem__(text, slice(0, limit))


def _cell_label(filename):
    """"cell N" for our cells; IPython (kernel engine) names its cell files /tmp/ipykernel_<pid>/<n>.py."""
    if filename.startswith("<cell "):
        return filename[1:-1]
    if "ipykernel_" in filename or filename.startswith("<ipython-input-"):
        return "a notebook cell"
    return None


def describe_error(error):
    """The student's frames only (code from notebook cells), then the exception line.

    Never raises: whatever the exception's type, text or traceback do, the worker must live to
    report it (an escape here would end it, and the student would read "crashed")."""
    try:
        return _describe_error(error)
    except BaseException:
        try:
            name = type_name(error)
        except BaseException:
            name = "Exception"
        return {"type": name, "message": "(the error could not be described: its text raised an error)",
                "traceback": "", "where": ""}


def _describe_error(error):
    frames = [frame for frame in traceback.extract_tb(error.__traceback__) if _cell_label(frame.filename)]
    lines = []
    for frame in frames[-8:]:
        lines.append("  %s, line %d, in %s" % (_cell_label(frame.filename), frame.lineno, frame.name))
        if frame.line:
            lines.append("    " + frame.line.strip())
    name, message = type_name(error), safe_str(error, 500)
    lines.append("%s: %s" % (name, message))
    last = frames[-1] if frames else None
    return {
        "type": name,
        "message": message,
        "traceback": "\n".join(lines),
        "where": "%s, line %d" % (_cell_label(last.filename), last.lineno) if last else "",
    }


def run_captured(function):
    """Run function() with stdout/stderr captured; return (value, error dict or None, output)."""
    writer = CappedWriter()
    saved = sys.stdout, sys.stderr
    sys.stdout = sys.stderr = writer
    try:
        return function(), None, writer
    except BaseException as error:  # SystemExit and KeyboardInterrupt too: they are the student's
        return None, describe_error(error), writer
    finally:
        sys.stdout, sys.stderr = saved


def display(*objects, **kwargs):
    """Stand-in for IPython's display() so notebooks that call it keep going."""
    for obj in objects:
        print(repr(obj))


def load(request, namespace):
    for cell in request["payload"]["value"]:
        index, source = cell["index"], cell["source"]
        filename = "<cell %d>" % index
        linecache.cache[filename] = (len(source), None, source.splitlines(True), filename)
        send({"op": "cell_start", "index": index})
        try:
            code = compile(source, filename, "exec")
        except SyntaxError as error:
            send({"op": "cell_done", "index": index, "error": {
                "type": "SyntaxError", "message": safe_str(error.msg),
                "traceback": "  %s, line %s\n%s" % (filename[1:-1], error.lineno, safe_str(error)),
                "where": "%s, line %s" % (filename[1:-1], error.lineno)}})
            continue
        _, error, _ = run_captured(lambda: exec(code, namespace))
        send({"op": "cell_done", "index": index, "error": error})
    describe(request, namespace)


def describe(request, namespace):
    """Tell the grader which of the requested names the notebook defines, and how."""
    functions = {}
    for name in request["names"]:
        obj = namespace.get(name)
        info = {"defined": name in namespace, "callable": callable(obj), "params": None, "cell": ""}
        if callable(obj):
            try:
                info["params"] = [str(p) for p in inspect.signature(obj).parameters][:20]
            except (TypeError, ValueError):
                pass
            code = getattr(obj, "__code__", None)
            info["cell"] = getattr(code, "co_filename", "")[1:-1] if code else ""
        functions[name] = info
    send({"op": "loaded", "functions": functions})


def update_in_place(original, after):
    """Make the caller's objects see what a reference dependency changed in place."""
    if isinstance(original, dict) and isinstance(after, dict):
        for key, value in after.items():
            old = original.get(key)
            if isinstance(old, np.ndarray) and isinstance(value, np.ndarray) and old.shape == value.shape:
                old[...] = value
            else:
                original[key] = value
    elif isinstance(original, np.ndarray) and isinstance(after, np.ndarray) and original.shape == after.shape:
        original[...] = after


#: Bounds on the grader's alias paths (run_cases.alias_paths): a few levels of a cache tuple.
MAX_ALIASES = 256
MAX_ALIAS_PATH = 16


def restore_aliases(value, args, aliases):
    """Put the caller's own objects back where the reference's result held its arguments.

    ``aliases`` is a list of [path in value, path in args] pairs (tuple/list indices and dict
    keys). Over the wire the result came back as copies; a real cell's cache holds a_prev, xt and
    parameters themselves, and a student's view bug shows only if ours does too. Total: a pair
    that does not fit the value or the arguments is skipped."""
    if type(aliases) is not list:
        return value
    for pair in aliases[:MAX_ALIASES]:
        try:
            value_path, arg_path = pair
            if (type(value_path) is not list or type(arg_path) is not list or not arg_path
                    or len(value_path) > MAX_ALIAS_PATH or len(arg_path) > MAX_ALIAS_PATH):
                continue
            target = args
            for step in arg_path:
                target = _step(target, step)
            value = _put(value, value_path, target)
        except (IndexError, KeyError, TypeError, ValueError):
            continue
    return value


def _step(node, step):
    """node[step] for plain containers only: a student's own type would run its own __getitem__."""
    if type(node) in (list, tuple) and type(step) is int and 0 <= step < len(node):
        return node[step]
    if type(node) is dict and type(step) is str:
        return node[step]
    raise TypeError("not a plain container step")


def _put(node, path, item):
    """``node`` with ``item`` at ``path`` (tuples rebuilt, lists and dicts changed in place)."""
    if not path:
        return item
    step = path[0]
    child = _put(_step(node, step), path[1:], item)
    if type(node) is tuple:
        return node[:step] + (child,) + node[step + 1:]
    node[step] = child
    return node


def make_proxy(name):
    def proxy(*args, **kwargs):
        send({"op": "dep", "name": name}, value=[list(args), kwargs])
        reply = receive()
        if reply.get("op") != "dep_result":
            raise RuntimeError(reply.get("message", "the reference %s could not run" % name))
        value, args_after = reply["payload"]["value"], reply["payload"]["extra"]
        if args_after:
            for original, after in zip(args, args_after):
                if after is not None:
                    update_in_place(original, after)
        return restore_aliases(value, args, reply.get("aliases"))
    proxy.__name__ = proxy.__qualname__ = name
    return proxy


def fingerprint(value, depth=0):
    """A digest of the arguments, to notice a function changing its inputs in place."""
    digest = hashlib.sha256()
    stack = [(value, 0)]
    while stack:
        item, level = stack.pop()
        if level > 8:
            continue
        if type(item) is np.ndarray:
            digest.update(str(item.shape).encode() + item.tobytes())
        elif type(item) in (list, tuple):
            digest.update(b"[%d" % len(item))
            stack.extend((child, level + 1) for child in item)
        elif type(item) is dict:
            digest.update(b"{%d" % len(item))
            for key in item:
                digest.update(repr(key).encode())
                stack.append((item[key], level + 1))
        else:
            digest.update(repr(type(item)).encode() + safe_str(item, 200).encode())
    return digest.hexdigest()


def call(request, namespace):
    name = request["function"]
    args, kwargs = request["payload"]["value"]
    function = namespace.get(name)
    nonce = request.get("nonce")
    if not callable(function):
        send({"op": "result", "nonce": nonce, "error": {"type": "missing", "message": name, "traceback": "", "where": ""}})
        return
    driven = bool(request.get("drive"))  # a graded class: args[0] is the script (drive.py checks each step)
    try:
        if not driven:
            inspect.signature(function).bind(*args, **kwargs)
    except TypeError as error:
        send({"op": "result", "nonce": nonce,
              "error": {"type": "signature", "message": safe_str(error), "traceback": "", "where": ""}})
        return
    except ValueError:
        pass
    saved = {dep: namespace.get(dep) for dep in request.get("deps", [])}
    for dep in saved:
        namespace[dep] = make_proxy(dep)
    before = [fingerprint(arg) for arg in args]
    seed = request.get("seed")
    if seed is not None:
        np.random.seed(seed)
        random.seed(seed)
    try:
        if driven:
            value, error, writer = run_captured(lambda: drive.drive(function, args[0]))
        else:
            value, error, writer = run_captured(lambda: function(*args, **kwargs))
    finally:
        for dep, original in saved.items():
            namespace[dep] = original
    nonce = request.get("nonce")
    try:
        changed = [index for index, arg in enumerate(args) if fingerprint(arg) != before[index]]
        extra = {"output": writer.text(), "args_after": list(args) if request.get("return_args") else None,
                 "changed": changed}
        send({"op": "result", "nonce": nonce, "error": error}, value=value, extra=extra)
    except Exception as problem:  # a value that cannot even be encoded (hostile attributes)
        send({"op": "result", "nonce": nonce,
              "error": {"type": "unsendable", "message": safe_str(problem), "traceback": "", "where": ""}})


def serve(namespace):
    """Answer requests until told to stop (or the grader goes away)."""
    while True:
        try:
            request = receive()
        except EOFError:
            return
        op = request.get("op")
        if op == "load":
            load(request, namespace)
        elif op == "describe":
            describe(request, namespace)
        elif op == "call":
            call(request, namespace)
        else:
            return


def serve_fifos(request_path, response_path, namespace):
    """The kernel engine's entry point: the same protocol over two named pipes."""
    global MAIN_PID
    MAIN_PID = os.getpid()
    configure(CONFIG, os.open(request_path, os.O_RDONLY), os.open(response_path, os.O_WRONLY))
    send({"op": "ready", "notes": [], "pid": os.getpid()})
    serve(namespace)


def run_worker(config):
    configure(config, config["req_fd"], config["resp_fd"])
    notes = lock_down()
    namespace = {"__name__": "__main__", "__builtins__": builtins, "display": display}
    send({"op": "ready", "notes": notes, "pid": os.getpid()})
    serve(namespace)


def zygote(control_fd):
    """Fork ready-made workers on request: numpy is imported once, not once per notebook.

    Runs no student code itself. Each request carries a worker's config and its three file
    descriptors (request pipe, response pipe, stderr log); the child starts a new session, locks
    itself down and serves. The zygote reaps its children and reports their exit status (never
    blocking: the grader polls). The grader claims its folders and cgroups before making them and
    releases them once removed (no answer to either). When the grader's end of the channel closes
    (the grader exited or was killed), it removes whatever is left: its workers' processes, their
    user ids' processes and every folder still claimed; the grader normally did that already."""
    global MAIN_PID
    channel = socket.socket(fileno=control_fd)
    statuses = {}
    spawned = {}  # pid -> private uid or None
    claimed = set()  # folders and cgroups the grader made (or is about to make) and has not removed
    while True:
        try:
            message, fds, _, _ = socket.recv_fds(channel, 1 << 20, 3)
        except OSError:
            message = b""
        if not message:
            clean_up_after(spawned, claimed)
            os._exit(0)
        request = json.loads(message)
        if request["op"] == "claim":
            claimed.update(path for path in request["paths"] if type(path) is str and os.path.isabs(path))
        elif request["op"] == "release":
            claimed.difference_update(request["paths"])
        elif request["op"] == "spawn":
            pid = os.fork()
            if pid == 0:
                try:
                    channel.close()
                    os.setsid()
                    # What the zygote knows of other workers (their user ids, folders, requests) is
                    # none of this one's business: student code can walk up to this frame.
                    spawned.clear()
                    statuses.clear()
                    claimed.clear()
                    message = None
                    request_fd, response_fd, log_fd = fds
                    null = os.open(os.devnull, os.O_RDWR)
                    os.dup2(null, 0)
                    os.dup2(null, 1)
                    os.dup2(log_fd, 2)
                    # Only 0, 1, 2 and the two protocol pipes stay open.
                    for fd in {null, log_fd} - {0, 1, 2}:
                        os.close(fd)
                    MAIN_PID = os.getpid()
                    config = dict(request["config"], req_fd=request_fd, resp_fd=response_fd)
                    request = None
                    run_worker(config)
                finally:
                    os._exit(0)
            for fd in fds:
                os.close(fd)
            spawned[pid] = request["config"].get("uid")
            channel.sendall(json.dumps({"pid": pid}).encode() + b"\n")
        elif request["op"] == "status":
            pid = request["pid"]
            if pid not in statuses:
                try:
                    done, status = os.waitpid(pid, os.WNOHANG)
                    if done:
                        statuses[pid] = os.waitstatus_to_exitcode(status)
                except ChildProcessError:
                    statuses[pid] = -9
            code = statuses.pop(pid, None)
            if code is not None:
                spawned.pop(pid, None)
            channel.sendall(json.dumps({"code": code}).encode() + b"\n")


def kill_as(uid):
    """kill(-1, SIGKILL) as ``uid``, from a child: every process of that id at once, none can fork
    its way out between a scan of /proc and the kill (sandbox._kill_as is the grader's copy)."""
    pid = os.fork()
    if pid == 0:
        try:
            os.setgroups([])
            os.setgid(uid)
            os.setuid(uid)
            for _ in range(3):
                os.kill(-1, signal.SIGKILL)
        finally:
            os._exit(0)
    os.waitpid(pid, 0)


def clean_up_after(spawned, claimed):
    """The zygote's last act: kill its workers and every process of their private user ids, then
    remove the folders and cgroups the grader claimed."""
    for pid in spawned:
        try:
            os.killpg(pid, signal.SIGKILL)
        except OSError:
            pass
    kill_user_ids({uid for uid in spawned.values() if uid is not None})
    remove_folders(sorted(claimed))


def kill_user_ids(uids):
    """Every process of these private user ids (kill_as, then a check: zombies stay listed, but
    nothing of those ids still runs). Also used by the kernel driver when the grader is gone."""
    for uid in uids:
        kill_as(uid)
    for attempt in range(5):
        found = False
        for entry in os.listdir("/proc") if uids else ():
            if entry.isdigit():
                try:
                    if os.stat("/proc/" + entry).st_uid in uids:
                        os.kill(int(entry), signal.SIGKILL)
                        found = True
                except OSError:
                    pass
        if not found:
            break
        __import__("time").sleep(0.002 * (attempt + 1))


def remove_folders(folders):
    """Worker folders (a tmpfs as root: unmounted first), log folders and memory cgroups (removed
    once the killed processes have left them)."""
    import shutil

    libc = ctypes.CDLL(None, use_errno=True)
    for folder in folders:
        if os.path.islink(folder):
            continue  # never ours: the grader makes folders; a link in their place is left alone
        # A worker folder is a tmpfs (sandbox.py); else a no-op.
        libc.umount2(folder.encode(), MNT_DETACH | UMOUNT_NOFOLLOW)
        shutil.rmtree(folder, ignore_errors=True)
        for attempt in range(50):  # a cgroup's files cannot be removed, only the emptied folder itself
            if not os.path.lexists(folder):
                break
            try:
                os.rmdir(folder)
            except OSError:
                __import__("time").sleep(0.002 * (attempt + 1))


def main():
    if sys.argv[1] == "--zygote":
        zygote(int(sys.argv[2]))
    run_worker(json.loads(sys.argv[1]))


if __name__ == "__main__":
    main()
