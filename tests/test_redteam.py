"""A red-team pass on the worker's trust boundary: each attack is a small hostile notebook (or a
hostile class folder) built here and run through the real pipeline or the real ``grade`` command.

What every test asserts, as README's "Security model" promises: what the attack breaks scores zero
(only for its author), the message says what happened, the batch finishes, other students' results
are unchanged, and nothing is left behind (no process, no IPC object, no temporary folder). The
worker sees only what it needs: its two protocol pipes, no state of the zygote or of other workers,
no network, no new namespaces, a private size-limited folder.

Isolation needs root (as on these machines and in CI); those tests skip without it.
"""
from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest

from grader import wire
from grader.config import GradeConfig
from grader.pipeline import grade_notebook
from grader.results import Status
from grader.sandbox import Worker

from conftest import FAST, ROOT, make_notebook, replace_function, solution_cells

ONLY = FAST.with_changes(only=("rnn_cell_forward", "rnn_forward"), hidden_cases=1)
root_only = pytest.mark.skipif(os.geteuid() != 0, reason="private user ids and namespaces need root")


def base_cells() -> list[str]:
    return [c for c in solution_cells("rnn_step_by_step.ipynb") if "rnn_cell_backward" not in c and "lstm" not in c]


def cell_forward(body: str) -> str:
    """A rnn_cell_forward whose body is ``body``."""
    return "# GRADED FUNCTION: rnn_cell_forward\ndef rnn_cell_forward(xt, a_prev, parameters):\n" + \
        textwrap.indent(textwrap.dedent(body).strip("\n"), "    ") + "\n"


def attacker(path: Path, body: str, *extra: str) -> Path:
    """The reference notebook with rnn_cell_forward replaced by ``body``."""
    return make_notebook(path, *replace_function(base_cells(), "rnn_cell_forward", cell_forward(body)), *extra)


def graded(path: Path, config=ONLY) -> dict:
    result = grade_notebook(path, config)
    assert result.graded, result.error
    return {f.name: f for f in result.functions}


def only_cell_forward_lost(functions: dict) -> str:
    """The attack costs rnn_cell_forward only (rnn_forward is judged with the reference cell)."""
    assert functions["rnn_cell_forward"].score == 0
    assert functions["rnn_forward"].score == functions["rnn_forward"].max_score, functions["rnn_forward"].messages
    return " ".join(functions["rnn_cell_forward"].messages)


def probe(tmp_path: Path, body: str, config=ONLY) -> dict:
    """Run ``body`` as rnn_cell_forward; it ends with ``raise RuntimeError('PROBE ' + json.dumps(x))``."""
    functions = graded(attacker(tmp_path / "nb.ipynb", body), config)
    message = only_cell_forward_lost(functions)
    assert "PROBE " in message, message
    return json.JSONDecoder().raw_decode(message.split("PROBE ", 1)[1])[0]


def run_in_worker(body: str, config: GradeConfig = ONLY, helpers: dict[str, Path] | None = None):
    """Call ``def probe(): body`` in a real worker and return what it returned (a long answer: a
    result's message is cut at 500 characters)."""
    source = "def probe():\n" + textwrap.indent(textwrap.dedent(body).strip("\n"), "    ") + "\n"
    with Worker(config.with_changes(call_timeout=60), helpers or {}) as worker:
        deadline = time.monotonic() + 60
        worker.send({"op": "load", "names": ["probe"]}, value=[{"index": 1, "source": source}], deadline=deadline)
        while worker.wait_for({"cell_start", "cell_done", "loaded"}, deadline)[0]["op"] != "loaded":
            pass
        worker.send({"op": "call", "function": "probe", "deps": [], "seed": 0, "nonce": "n", "return_args": False},
                    value=[[], {}], deadline=deadline)
        header, payload = worker.wait_for({"result"}, deadline)
        assert header.get("error") is None, header["error"]
        return payload["value"]


def _state(pid: str) -> tuple[bytes, bytes]:
    """(comm, state letter) of a process, or empty when it is gone."""
    try:
        comm = Path(f"/proc/{pid}/comm").read_bytes().strip()
        return comm, Path(f"/proc/{pid}/stat").read_bytes().rsplit(b")", 1)[1].split()[0]
    except (OSError, IndexError):
        return b"", b""


def running_named(name: bytes) -> list[str]:
    """Processes whose name (prctl PR_SET_NAME, inherited across fork) is ``name`` and that still run."""
    found = []
    for pid in os.listdir("/proc"):
        if pid.isdigit():
            comm, state = _state(pid)
            if comm == name and state not in (b"Z", b"X"):
                found.append(pid)
    return found


def kill_named(name: bytes) -> None:
    """Test hygiene only, after the assertion: never leave an attack running."""
    for pid in running_named(name):
        try:
            os.kill(int(pid), signal.SIGKILL)
        except OSError:
            pass


def set_name(name: bytes) -> str:
    return f"__import__('ctypes').CDLL(None).prctl(15, {name!r}, 0, 0, 0)"


# --- what the worker's own memory and descriptors hold ---------------------------------------

FDS_AND_STATE = r"""
import gc, json, os, stat, sys
fds = {}
for fd in range(4096):
    try:
        fds[fd] = stat.filemode(os.fstat(fd).st_mode)
    except OSError:
        pass
others, secret_seen, frames = [], False, []
frame = sys._getframe()
while frame is not None:
    for name in ("spawned", "statuses", "claimed"):
        if isinstance(frame.f_locals.get(name), (dict, set)) and frame.f_locals[name]:
            others.append(name)
    frames.append(frame.f_code.co_name)
    frame = frame.f_back
for item in gc.get_objects():
    if isinstance(item, dict) and item.get("op") in ("spawn", "claim", "release"):
        others.append("a request to the zygote still held")
    if isinstance(item, (str, bytes)) and MARK in (item if isinstance(item, str) else item.decode("latin-1")):
        secret_seen = True
for value in os.environ.values():
    secret_seen = secret_seen or MARK in value
return json.dumps({"fds": fds, "others": others, "secret": secret_seen, "env": sorted(os.environ)})
"""


def test_the_worker_holds_only_its_own_pipes_and_nothing_of_other_workers(monkeypatch):
    # Another worker is alive while this one looks: the zygote that forked both knows its user id
    # and folders, and the new worker starts life inside the zygote's loop, one frame up.
    mark = "rt-secret-%d" % os.getpid()
    monkeypatch.setenv("GRADER_SECRET", mark)
    with Worker(ONLY, {}):
        seen = json.loads(run_in_worker(FDS_AND_STATE.replace("MARK", repr(mark))))
    # 0 and 1: /dev/null, 2: its own log, and the two protocol pipes: no channel to the zygote, no
    # pipe of another worker, no stray copy of the log.
    assert len(seen["fds"]) == 5, seen["fds"]
    assert sorted(mode[0] for mode in seen["fds"].values()) == ["-", "c", "c", "p", "p"], seen["fds"]
    assert seen["others"] == []
    assert not seen["secret"]
    assert "GRADER_SECRET" not in seen["env"]


def test_without_the_zygote_too(monkeypatch):
    mark = "rt-secret-nz-%d" % os.getpid()
    monkeypatch.setenv("GRADER_SECRET", mark)
    seen = json.loads(run_in_worker(FDS_AND_STATE.replace("MARK", repr(mark)), ONLY.with_changes(use_zygote=False)))
    assert len(seen["fds"]) <= 5, seen["fds"]  # 0, 1, 2 and the two pipes
    assert not seen["secret"] and seen["others"] == []


def test_hidden_inputs_and_the_secret_never_reach_the_worker(tmp_path, monkeypatch):
    # The grading secret is set; the probe looks for it anywhere in its memory, and for the grader's
    # own modules (the reference solutions live there).
    mark = "rt-secret-grade-%d" % os.getpid()
    monkeypatch.setenv("GRADER_SECRET", mark)
    seen = probe(tmp_path, f"""
    import gc, json, sys
    texts = [o for o in gc.get_objects() if isinstance(o, (str, bytes))]
    secret = any({mark!r} in (o if isinstance(o, str) else o.decode('latin-1')) for o in texts)
    modules = sorted(name for name in sys.modules if 'solution' in name or 'reference' in name or name.startswith('grader'))
    raise RuntimeError('PROBE ' + json.dumps({{'secret': secret, 'modules': modules}}))
    """, ONLY.with_changes(hidden_seed=None))
    assert seen == {"secret": False, "modules": []}


# --- processes ------------------------------------------------------------------------------------

@root_only
def test_pid_hopping_daemons_are_all_killed(tmp_path):
    # Each daemon forks and exits in a loop, so its pid changes all the time: a scan of /proc that
    # kills what it listed races with it. Several of them, out of the worker's session.
    name = b"rthop%d" % (os.getpid() % 10**9)
    body = f"""
    import os
    started = 0
    for _ in range(6):
        try:
            child = os.fork()
        except OSError:  # the hoppers' exited parents count against the process limit until reaped
            continue
        started += 1
        if child == 0:
            try:
                os.setsid()
                {set_name(name)}
                while True:
                    try:
                        if os.fork():
                            os._exit(0)
                    except OSError:
                        pass
            finally:
                os._exit(0)
    raise RuntimeError('hoppers started: %d' % started)
    """
    try:
        message = only_cell_forward_lost(graded(attacker(tmp_path / "nb.ipynb", body)))
        assert "hoppers started: " in message  # the notebook's own test cell started the first ones, at load
        assert running_named(name) == []  # found, not waited for: the grader killed them on its way out
    finally:
        kill_named(name)


@root_only
def test_a_child_holding_the_pipe_after_the_worker_dies_is_a_crash_not_a_hang(tmp_path):
    # The worker exits; a child it forked (new session, SIGTERM ignored) keeps the response pipe
    # open and writes nothing. The grader must see the worker gone, say so, and kill the child.
    name = b"rtpipe%d" % (os.getpid() % 10**9)
    body = f"""
    import os, signal, time
    if os.fork() == 0:
        os.setsid()
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        {set_name(name)}
        while True:
            time.sleep(1)
    os._exit(3)
    """
    try:
        functions = graded(attacker(tmp_path / "nb.ipynb", body), ONLY.with_changes(call_timeout=60))
        message = only_cell_forward_lost(functions)
        assert functions["rnn_cell_forward"].status == Status.CRASHED, message
        assert "exit status 3" in message
        assert running_named(name) == []
    finally:
        kill_named(name)


@root_only
def test_signals_atexit_and_finalisers_cannot_delay_the_grader(tmp_path):
    # SIGTERM ignored, an atexit hook and a finaliser that sleep, the grader's pid signalled: the
    # worker is killed outright, nothing waits on it, and the grader's own process is untouched.
    name = b"rtslow%d" % (os.getpid() % 10**9)
    body = f"""
    import atexit, os, signal, time
    {set_name(name)}
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    atexit.register(time.sleep, 10**6)
    class Slow:
        def __del__(self):
            time.sleep(10**6)
    global keep
    if 'keep' not in globals():  # one, collected only when the worker ends
        keep = Slow()
    denied = []
    for target in (os.getppid(), {os.getpid()}, 1):
        try:
            os.kill(target, signal.SIGKILL)
        except OSError as error:
            denied.append(type(error).__name__)
    raise RuntimeError('signals: ' + ' '.join(denied))
    """
    try:
        functions = graded(attacker(tmp_path / "nb.ipynb", body))
        message = only_cell_forward_lost(functions)
        assert "signals: PermissionError PermissionError PermissionError" in message
        assert running_named(name) == []
    finally:
        kill_named(name)


@root_only
def test_sysv_ipc_objects_do_not_outlive_the_worker(tmp_path):
    # A detached shared-memory segment keeps its memory until someone removes it: one per notebook
    # would fill the machine. In the worker's own IPC namespace it goes with the worker.
    key = 0x52540000 + os.getpid() % 0xFFFF
    body = f"""
    import ctypes
    libc = ctypes.CDLL(None, use_errno=True)
    made = [libc.shmget({key}, 1 << 20, 0o1000 | 0o666) >= 0, libc.msgget({key}, 0o1000 | 0o666) >= 0,
            libc.semget({key}, 1, 0o1000 | 0o666) >= 0]
    raise RuntimeError('made ' + repr(made))
    """
    message = only_cell_forward_lost(graded(attacker(tmp_path / "nb.ipynb", body)))
    assert "made [True, True, True]" in message  # the calls work, in a namespace of their own
    for kind in ("shm", "msg", "sem"):
        table = Path(f"/proc/sysvipc/{kind}").read_text().splitlines()[1:]
        assert not [line for line in table if int(line.split()[0]) == key], kind


@root_only
def test_no_new_privileges_no_namespaces_no_tracing(tmp_path):
    seen = probe(tmp_path, """
    import ctypes, errno, json, os, subprocess, threading
    libc = ctypes.CDLL(None, use_errno=True)
    report = {'no_new_privs': libc.prctl(39, 0, 0, 0, 0)}
    for name, flag in (('user', 0x10000000), ('mount', 0x00020000), ('net', 0x40000000), ('pid', 0x20000000)):
        report[name] = libc.unshare(flag) == 0 or errno.errorcode[ctypes.get_errno()]
    child = os.fork()
    if child == 0:
        os._exit(7 if libc.unshare(0x10000000) == 0 else 0)
    report['child_userns'] = os.waitstatus_to_exitcode(os.waitpid(child, 0)[1])
    report['ptrace'] = libc.ptrace(0, 0, 0, 0) == 0 or errno.errorcode[ctypes.get_errno()]
    report['keyctl'] = libc.syscall(250, 0, 0) == 0 or errno.errorcode[ctypes.get_errno()]
    # what honest code does still works: threads, processes, programs
    box = []
    thread = threading.Thread(target=box.append, args=(1,))
    thread.start()
    thread.join()
    report['thread'] = box
    report['program'] = subprocess.run(['true']).returncode
    raise RuntimeError('PROBE ' + json.dumps(report))
    """)
    assert seen == {"no_new_privs": 1, "user": "EPERM", "mount": "EPERM", "net": "EPERM", "pid": "EPERM",
                    "child_userns": 0, "ptrace": "EPERM", "keyctl": "EPERM", "thread": [1], "program": 0}


@root_only
def test_the_working_folder_is_bounded(tmp_path):
    # 40 MiB files until the writes fail: a folder on the machine's disk took as many as the disk held
    # (each file stopped at 64 MiB, RLIMIT_FSIZE, but not their number).
    seen = probe(tmp_path, """
    import json, os
    written, error = 0, ''
    try:
        for number in range(50):
            with open('junk%d' % number, 'wb') as handle:
                for _ in range(40):
                    handle.write(b'0' * (1 << 20))
                    written += 1
    except OSError as problem:
        error = problem.strerror
    helpers = sorted(name for name in os.listdir('.') if not name.startswith('junk'))
    raise RuntimeError('PROBE ' + json.dumps({'mib': written, 'error': error, 'helpers': helpers}))
    """)
    assert seen["error"] == "No space left on device" and seen["mib"] <= 100, seen
    assert "rnn_utils.py" in seen["helpers"]  # the course's files are there, readable


# --- the protocol, from inside the worker -------------------------------------------------------------

FRAME = "b'GRW1' + len(h).to_bytes(4, 'big') + h"


def _raw(header: dict) -> str:
    return f"(lambda h: {FRAME})(json.dumps({header!r}).encode())"


def test_raw_bytes_on_every_descriptor_cost_only_that_function(tmp_path):
    body = """
    import os
    for fd in (1, 2, 3, 4):
        try:
            os.write(fd, b'GRW1\\xff\\xff\\xff\\xff' + bytes(range(256)) * 64)
        except OSError:
            pass
    return None
    """
    message = only_cell_forward_lost(graded(attacker(tmp_path / "nb.ipynb", body)))
    assert "malformed" in message or "should return" in message


@pytest.mark.parametrize("frames, says", [
    # a result for another call (the nonce is fresh per call), then the real one
    ([{"op": "result", "nonce": "0" * 16, "error": None, "blob_sizes": []}], "did not belong to this call"),
    # many tiny frames of no use, then the honest answer: ignored, the answer is judged
    ([{"op": "noise"}] * 20000, None),
    # a dependency call of a function this one may not call: refused inside the student's code
    ([{"op": "dep", "name": "rnn_forward", "payload": None}], None),
])
def test_forged_frames_from_inside_the_worker(tmp_path, frames, says):
    good = [c for c in base_cells() if "def rnn_cell_forward(" in c][0]
    body = f"""
    import json, os
    import fcntl, stat
    fd = [fd for fd in range(3, 64) if fd_is_pipe(fd) and fcntl.fcntl(fd, fcntl.F_GETFL) & os.O_ACCMODE == os.O_WRONLY][0]
    data = b''.join({_raw_list(frames)})
    for start in range(0, len(data), 1 << 16):
        os.write(fd, data[start:start + (1 << 16)])
    return reference_cell_forward(xt, a_prev, parameters)
    """
    helper = ""
    helper += "\ndef fd_is_pipe(fd):\n    try:\n        return __import__('stat').S_ISFIFO(__import__('os').fstat(fd).st_mode)\n    except OSError:\n        return False\n"
    helper += good.replace("def rnn_cell_forward(", "def reference_cell_forward(").replace("# GRADED FUNCTION", "#")
    functions = graded(attacker(tmp_path / "nb.ipynb", body, helper))
    if says:
        message = only_cell_forward_lost(functions)
        assert says in message
    else:  # nothing gained, nothing lost: the frames were noise
        assert all(f.score == f.max_score for f in functions.values()), [f.messages for f in functions.values()]


def _raw_list(frames: list[dict]) -> str:
    unique = {json.dumps(frame) for frame in frames}
    if len(unique) == 1:
        return f"[{_raw(frames[0])}] * {len(frames)}"
    return "[" + ", ".join(_raw(frame) for frame in frames) + "]"


FORGED_ERROR = {"type": "ValueError", "message": "m", "traceback": "X" * 1400, "where": "cell 1, line 1"}


@pytest.mark.parametrize("frames", [
    [{"op": "cell_done", "index": 1, "error": FORGED_ERROR}] * 3000,  # an error per message, each resetting the clock
    [{"op": "cell_done", "index": 0, "error": None}, {"op": "cell_start", "index": 10 ** 6}],  # a cell never sent
    [{"op": "loaded", "functions": {}}],  # loading "finished" before the last cell did
    [{"op": "junk", "error": None}] * 2000,  # frames of no op the protocol has: were read, decoded and ignored
])
def test_cell_messages_forged_while_the_notebook_loads(tmp_path, frames):
    """Code in a cell writes the worker's own loading messages. The grader accepts each cell's start and
    end once, in the order it sent them: the cell that wrote them is left out (the notebook is loaded
    again without it), and nothing it wrote reaches the report. 3,000 forged errors had been 3,000
    cell issues, and a forged end had let the cell run past its timeout."""
    cell = f"""
import json, os, fcntl, stat
def _is_pipe(fd):
    try:
        return stat.S_ISFIFO(os.fstat(fd).st_mode)
    except OSError:
        return False
fd = [fd for fd in range(3, 64) if _is_pipe(fd) and fcntl.fcntl(fd, fcntl.F_GETFL) & os.O_ACCMODE == os.O_WRONLY][0]
data = b''.join({_raw_list(frames)})
for start in range(0, len(data), 1 << 16):
    os.write(fd, data[start:start + (1 << 16)])
"""
    result = grade_notebook(make_notebook(tmp_path / "nb.ipynb", *base_cells(), cell), ONLY)
    assert result.graded, result.error
    assert all(f.score == f.max_score for f in result.functions), [f.messages for f in result.functions]
    without = grade_notebook(make_notebook(tmp_path / "honest.ipynb", *base_cells()), ONLY)
    (issue,) = set(result.cell_issues) - set(without.cell_issues)  # nothing else reached the report
    assert issue.kind == "crashed" and "wrote messages of its own to the grader's channel" in issue.message
    assert issue.cell == len(base_cells()) + 1


REPORT_EVERY_CELL_AT_ONCE = """
import sys
_worker = sys.modules['__main__']
_send = _worker.send
_ends = []
def _early(header, *args, **kwargs):
    if header.get("op") == "cell_start":  # report each later cell's end as it starts, drop the real ones
        _send(header, *args, **kwargs)
        _ends.append(header["index"])
        return _send({"op": "cell_done", "index": header["index"], "error": None})
    if header.get("op") == "cell_done" and _ends:
        return None
    return _send(header, *args, **kwargs)  # this cell's own end goes through
_worker.send = _early
"""


def test_a_cell_that_reports_its_own_end_early_is_still_stopped_on_time(tmp_path):
    """A cell replaced the worker's send so that every later cell "ended" as it started, in the order
    the grader expects: the grader then waited for the next cell with the notebook's whole time, and a
    cell looping forever ran 300 s (the notebook's limit) instead of its 10 s. The gap between cells has
    the cell timeout too, and the cell still running then is the one stopped."""
    config = ONLY.with_changes(cell_timeout=3.0, notebook_timeout=120.0)
    cells = base_cells()
    path = make_notebook(tmp_path / "nb.ipynb", REPORT_EVERY_CELL_AT_ONCE, "while True:\n    pass", *cells)
    result = grade_notebook(path, config)
    assert result.graded, result.error
    (stopped,) = [issue for issue in result.cell_issues if issue.kind == "timeout"]
    assert stopped.cell == 2 and "ran longer than 3s and was stopped" in stopped.message
    assert all(f.score == f.max_score for f in result.functions), [f.messages for f in result.functions]


def test_decoded_booleans_are_canonical_and_odd_shapes_are_plain():
    # A forged frame may carry any byte in a bool array; numpy then holds a "true" that is 2, and
    # comparisons with True disagree. The decoder gives only 0 and 1.
    tree = ["a", "|b1", [4]]
    array = wire.decode(tree, [bytes([0, 1, 2, 255])])
    assert array.dtype == np.bool_ and array.view(np.uint8).tolist() == [0, 1, 1, 1]
    assert (array == True).tolist() == [False, True, True, True]  # noqa: E712 - the point of the test
    empty = wire.decode(["a", "<f8", [1 << 40, 0]], [b""])
    assert type(empty) is np.ndarray and empty.size == 0
    for dtype in ("|O", "|V8", "<M8[s]", "<m8", "|S4", "<U1", "[('a', '<f8')]"):
        assert isinstance(wire.decode(["a", dtype, [1]], [b"\0" * 8]), wire.Opaque)


def test_a_header_that_waits_for_its_arrays_is_parsed_once(monkeypatch):
    # A big header followed by a slowly arriving 64 MiB of arrays: each chunk read must not parse the
    # header again (8 MiB of JSON, 64 times, was seconds of the grader's CPU per frame).
    calls = []
    real = wire.json.loads
    monkeypatch.setattr(wire.json, "loads", lambda text: calls.append(1) or real(text))
    reader = wire.FrameReader()
    frame = wire.pack({"op": "result", "pad": "x" * 100_000}, [b"\0" * (1 << 22)])
    for start in range(0, len(frame), 1 << 16):
        reader.feed(frame[start:start + (1 << 16)])
        got = reader.next_frame()
    assert got is not None and got[1][0] == b"\0" * (1 << 22)
    assert len(calls) == 1


# --- network -----------------------------------------------------------------------------------------

@root_only
def test_no_socket_reaches_the_grader_s_machine(tmp_path):
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(8)
    port = listener.getsockname()[1]
    unix_path = tempfile.mktemp(prefix="rt-", suffix=".sock", dir="/tmp")
    unix = socket.socket(socket.AF_UNIX)
    unix.bind(unix_path)
    unix.listen(8)
    abstract = socket.socket(socket.AF_UNIX)
    abstract.bind(b"\0rt-abstract-%d" % os.getpid())
    abstract.listen(8)
    try:
        seen = probe(tmp_path, f"""
        import json, socket
        report = {{}}
        for name, family, address in (('tcp', socket.AF_INET, ('127.0.0.1', {port})),
                                      ('tcp6', socket.AF_INET6, ('::1', {port})),
                                      ('unix', socket.AF_UNIX, {unix_path!r}),
                                      ('abstract', socket.AF_UNIX, b'\\0rt-abstract-{os.getpid()}'),
                                      ('outside', socket.AF_INET, ('1.1.1.1', 53))):
            try:
                s = socket.socket(family)
                s.settimeout(2)
                s.connect(address)
                report[name] = 'CONNECTED'
            except OSError as error:
                report[name] = type(error).__name__
        raise RuntimeError('PROBE ' + json.dumps(report))
        """)
        assert "CONNECTED" not in seen.values(), seen
        for server in (listener, unix, abstract):
            server.setblocking(False)
            with pytest.raises(BlockingIOError):
                server.accept()  # nobody knocked
    finally:
        for server in (listener, unix, abstract):
            server.close()
        os.unlink(unix_path)


# --- a hostile class, through the real command -------------------------------------------------------

def _grade_class(folder: Path, out: Path, scratch: Path, *extra: str) -> subprocess.CompletedProcess:
    """``grade FOLDER --out OUT --jobs 2`` in a process of its own, its temporary folders in ``scratch``
    (so that what it leaves there is this run's). The timeout only stops a hang."""
    env = dict(os.environ, TMPDIR=str(scratch), GRADER_SECRET="rt-class-secret", NO_COLOR="1")
    command = [sys.executable, "-m", "grader", str(folder), "--out", str(out), "--jobs", "2", "--hidden-cases", "1",
               "--cell-timeout", "5", "--call-timeout", "8", "--timeout", "90", "--only", "rnn_cell_forward",
               "--only", "rnn_forward", *extra]
    return subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=900, stdin=subprocess.DEVNULL)


def _results(out: Path) -> dict[str, dict]:
    return {data["student"]: data for data in
            (json.loads(path.read_text()) for path in (out / "results").glob("*.json"))}


@root_only
def test_a_class_of_attackers_through_the_grade_command(tmp_path):
    folder, out, scratch = tmp_path / "class", tmp_path / "grades", tmp_path / "scratch"
    folder.mkdir()
    scratch.mkdir()
    os.chmod(tmp_path, 0o755)
    name = b"rtcls%d" % (os.getpid() % 10**9)
    attacks = {
        "hopper": f"""
            import os
            if os.fork() == 0:
                os.setsid()
                {set_name(name)}
                while True:
                    try:
                        if os.fork():
                            os._exit(0)
                    except OSError:
                        pass
            return None""",
        "filler": """
            n = 0
            while True:
                open('f%d' % n, 'wb').write(b'0' * (32 << 20))
                n += 1""",
        "ipc": """
            import ctypes
            libc = ctypes.CDLL(None)
            segment = libc.shmget(0, 64 << 20, 0o1000 | 0o600)
            return None""",
        "garbage": """
            import os
            for fd in range(1, 8):
                try:
                    os.write(fd, b'GRW1' + bytes(100))
                except OSError:
                    pass
            return None""",
        "fds": """
            import os
            open_fds = []
            for fd in range(4096):
                try:
                    os.fstat(fd)
                    open_fds.append(fd)
                except OSError:
                    pass
            raise RuntimeError('open descriptors: %d' % len(open_fds))""",
        "stubborn": f"""
            import os, signal, time
            {set_name(name)}
            signal.signal(signal.SIGTERM, signal.SIG_IGN)
            if os.fork() == 0:
                os.setsid()
                while True:
                    time.sleep(1)
            time.sleep(10**6)""",
    }
    for student, body in attacks.items():
        (folder / student).mkdir()
        attacker(folder / student / "nb.ipynb", body)
    for student in ("alice", "bob"):
        (folder / student).mkdir()
        make_notebook(folder / student / "nb.ipynb", *base_cells())
    shm_before = len(Path("/proc/sysvipc/shm").read_text().splitlines())
    try:
        done = _grade_class(folder, out, scratch)
        assert done.returncode == 0, done.stderr[-2000:]
        results = _results(out)
        assert set(results) == {*attacks, "alice", "bob"}
        for student in ("alice", "bob"):
            assert results[student]["score"] == results[student]["max_score"], results[student]
        for student in attacks:
            functions = {f["name"]: f for f in results[student]["functions"]}
            assert functions["rnn_cell_forward"]["score"] == 0, (student, functions["rnn_cell_forward"])
            assert functions["rnn_forward"]["score"] == functions["rnn_forward"]["max_score"], student
        fds = {f["name"]: f for f in results["fds"]["functions"]}["rnn_cell_forward"]
        assert "open descriptors: 5" in " ".join(fds["messages"])  # 0-2 and its own two pipes, in a batch too
        assert running_named(name) == []
        assert os.listdir(scratch) == []  # no worker folder, no log folder left
        assert len(Path("/proc/sysvipc/shm").read_text().splitlines()) <= shm_before
    finally:
        kill_named(name)


def test_files_in_a_class_folder_that_are_not_notebooks(tmp_path):
    # A FIFO named like a notebook or a helper (opening one would block forever), a notebook and a
    # helper module that are symbolic links (to a classmate's file, the secret, /etc/shadow), and
    # names with a newline and terminal escapes: the batch finishes, links are never followed,
    # nothing blocks, and no raw escape reaches the terminal or the gradebook.
    folder, out, scratch = tmp_path / "class", tmp_path / "grades", tmp_path / "scratch"
    folder.mkdir()
    scratch.mkdir()
    (folder / "alice").mkdir()
    make_notebook(folder / "alice" / "nb.ipynb", *base_cells())
    os.mkfifo(folder / "fifo.ipynb")
    (folder / "mallory").mkdir()
    make_notebook(folder / "mallory" / "nb.ipynb", *base_cells())
    os.mkfifo(folder / "mallory" / "rnn_utils.py")
    (folder / "trudy").mkdir()
    (folder / "trudy" / "nb.ipynb").symlink_to(folder / "alice" / "nb.ipynb")
    (folder / "eve").mkdir()
    make_notebook(folder / "eve" / "nb.ipynb", *base_cells())
    (folder / "eve" / "rnn_utils.py").symlink_to("/etc/shadow")
    (tmp_path / "secret").write_text("rt-class-secret\n")
    (folder / "secret-link.ipynb").symlink_to(tmp_path / "secret")
    os.symlink(folder / "alice", folder / "zed")  # a student folder that is a classmate's
    make_notebook(folder / "evil\n\x1b[2J\x1b]0;pwned\x07name.ipynb", *base_cells())
    done = _grade_class(folder, out, scratch)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "\x1b[2J" not in done.stdout + done.stderr and "\x1b]0;" not in done.stdout + done.stderr
    results = _results(out)
    assert results["alice"]["score"] == results["alice"]["max_score"]
    for student in ("mallory", "eve"):
        assert results[student]["score"] == results[student]["max_score"], results[student]
    for student in ("trudy", "secret-link", "fifo"):  # a link is not one's notebook; a FIFO is not read
        assert results[student]["score"] == 0 and "not a regular file" in results[student]["error"], results[student]
    assert "zed" not in results  # a linked folder is not walked
    for path in out.rglob("*"):
        if path.is_file() and path.suffix in (".csv", ".md", ".json", ".txt"):
            text = path.read_text(errors="replace")
            assert "\x1b" not in text and "rt-class-secret" not in text, path
    assert os.listdir(scratch) == []


@pytest.mark.skipif(os.geteuid() != 0, reason="becomes an unprivileged user to try the fallback")
def test_without_root_the_worker_still_has_no_network():
    # The grader run by an ordinary user: no private uid, no view; a user namespace of the worker's
    # own still takes the network away (where the kernel allows one), or the report says it did not.
    import importlib.util

    spec = importlib.util.spec_from_file_location("rt_worker", ROOT / "grader" / "worker.py")
    worker = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(worker)
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(1)
    read, write = os.pipe()
    child = os.fork()
    if child == 0:  # pragma: no cover - the child reports through the pipe
        try:
            os.setgroups([])
            os.setgid(65534)
            os.setuid(65534)
            __import__("ctypes").CDLL(None).prctl(4, 1, 0, 0, 0)  # dumpable, as a process started by that user is
            notes = worker.private_network()
            try:
                client = socket.socket()
                client.settimeout(2)
                client.connect(listener.getsockname())
                outcome = "CONNECTED"
            except OSError as error:
                outcome = type(error).__name__
            os.write(write, json.dumps({"notes": notes, "outcome": outcome}).encode())
        finally:
            os._exit(0)
    os.close(write)
    os.waitpid(child, 0)
    with os.fdopen(read) as handle:
        seen = json.loads(handle.read())
    listener.close()
    assert seen["notes"] and "not run as root" in seen["notes"][0]
    if "no user namespace" not in seen["notes"][0]:
        assert seen["outcome"] != "CONNECTED", seen


ODD_ARRAYS = {
    "object dtype": "np.array([xt[:, 0]], dtype=object)",
    "structured": "np.zeros(3, dtype=[('a', 'f8'), ('b', 'i4')])",
    "void": "np.zeros(3, dtype='V8')",
    "datetime": "np.array(['2024-01-01'], dtype='datetime64[D]')",
    "subclass": "np.ma.masked_array(xt)",
    "matrix": "np.matrix(xt[:, :2])",
    "0-d": "np.array(3.0)",
    "non-contiguous": "np.asfortranarray(xt)[:, ::2]",
    "huge empty": "np.empty((1 << 40, 0))",
    "bytes": "np.array([b'abc'])",
}


@pytest.mark.parametrize("kind", sorted(ODD_ARRAYS))
def test_odd_arrays_returned_or_passed_to_the_reference(tmp_path, kind):
    # Returned by the graded function, and passed by rnn_forward to the rnn_cell_forward the grader
    # answers with its reference: plain data or a refusal, never an exception in the grader, and
    # only the function that did it loses points.
    value = ODD_ARRAYS[kind]
    forward = textwrap.dedent(f"""
    # GRADED FUNCTION: rnn_forward
    def rnn_forward(x, a0, parameters):
        return rnn_cell_forward({value}, a0, parameters)
    """).replace("xt", "x[:, :, 0]")
    cells = replace_function(base_cells(), "rnn_forward", forward)
    cells = replace_function(cells, "rnn_cell_forward", cell_forward(f"return {value}, {value}, ({value},)"))
    result = grade_notebook(make_notebook(tmp_path / "nb.ipynb", *cells), ONLY)
    assert result.graded, result.error
    functions = {f.name: f for f in result.functions}
    for name in ("rnn_cell_forward", "rnn_forward"):
        assert functions[name].score == 0 and functions[name].messages, (name, functions[name])
        assert functions[name].status in (Status.FAILED, Status.ERROR), (name, functions[name].status)


def test_a_file_name_that_is_not_utf8_does_not_crash_the_batch(tmp_path):
    folder, out, scratch = tmp_path / "class", tmp_path / "grades", tmp_path / "scratch"
    folder.mkdir()
    scratch.mkdir()
    make_notebook(folder / "alice.ipynb", *base_cells())
    make_notebook(Path(os.fsdecode(bytes(folder) + b"/bad\xff\xfename.ipynb")), *base_cells())
    done = _grade_class(folder, out, scratch)
    assert done.returncode == 0, done.stderr[-2000:]
    assert (out / "gradebook.csv").is_file()
    assert {"alice", "bad_name"} <= set(_results(out))


def test_a_helper_that_became_a_link_or_a_pipe_is_not_copied(tmp_path):
    # The pipeline chose the student's rnn_utils.py; by the time the worker's folder is filled it is a
    # link to the secret (or a FIFO, which would block the copy forever). Neither is followed.
    secret_file = tmp_path / "secret"
    secret_file.write_text("rt-helper-secret\n")
    link, fifo = tmp_path / "link.py", tmp_path / "fifo.py"
    link.symlink_to(secret_file)
    os.mkfifo(fifo)
    seen = json.loads(run_in_worker("""
    import json, os
    return json.dumps({name: open(name).read() if os.path.exists(name) else None for name in ('rnn_utils.py', 'other.py')})
    """, helpers={"rnn_utils.py": link, "other.py": fifo}))
    assert seen == {"rnn_utils.py": None, "other.py": None}
    with Worker(ONLY, {"rnn_utils.py": link}) as worker:
        assert any("rnn_utils.py was not used" in note for note in worker.notes)


# --- the secret's file ------------------------------------------------------------------------------------

@pytest.mark.parametrize("plant", ["fifo", "dangling link", "world-writable", "someone else's"])
def test_a_planted_secret_file_is_refused_not_used(tmp_path, plant):
    # Whoever can put a file where the secret is kept (a batch's output folder, GRADER_SECRET_FILE)
    # must not choose the secret (then they can compute every hidden case), nor hang the grader.
    from grader import secret

    path = tmp_path / "out" / secret.BATCH_SECRET_NAME
    path.parent.mkdir()
    if plant == "fifo":
        os.mkfifo(path)
    elif plant == "dangling link":
        path.symlink_to(tmp_path / "nothing")
    else:
        path.write_text("known-to-the-attacker\n")
        os.chmod(path, 0o666 if plant == "world-writable" else 0o600)
        if plant == "someone else's":
            if os.geteuid() != 0:
                pytest.skip("giving a file away needs root")
            os.chown(path, 4242, 4242)
    from grader.errors import GraderError

    with pytest.raises(GraderError) as refused:
        secret.load_or_create(path)
    assert "grading secret" in str(refused.value) and ("delete it" in str(refused.value) or "fix that path" in str(refused.value))


# --- student text the grader itself parses ------------------------------------------------------------

@pytest.mark.parametrize("cell", ["x = 1" + "+1" * 300_000, "x = " + "-" * 300_000 + "1"], ids=["long sum", "deep unary"])
def test_a_cell_too_deep_for_the_parser_does_not_crash_the_grader(tmp_path, cell):
    path = make_notebook(tmp_path / "nb.ipynb", *base_cells(), cell)
    result = grade_notebook(path, ONLY)
    assert result.graded, result.error
    assert {f.name: f.score for f in result.functions}["rnn_cell_forward"] > 0


@root_only
def test_empty_files_are_bounded_too(tmp_path):
    # A size limit does not bound empty files; each costs kernel memory (millions in one cell).
    seen = probe(tmp_path, """
    import json, os
    made = {}
    for folder in ('.', '/tmp'):
        count, error = 0, ''
        try:
            for count in range(1, 200001):
                open(os.path.join(folder, 'e%d' % count), 'w').close()
        except OSError as problem:
            error = problem.strerror
        made[folder] = [count, error]
        for number in range(1, count):
            os.unlink(os.path.join(folder, 'e%d' % number))
    raise RuntimeError('PROBE ' + json.dumps(made))
    """, ONLY.with_changes(call_timeout=60, cell_timeout=60))  # the load-time test cell runs it too
    for folder, (count, error) in seen.items():
        assert error == "No space left on device" and count <= 20000, (folder, count, error)


@root_only
@pytest.mark.skipif(not Path("/sys/fs/cgroup/memory").is_dir(), reason="needs the cgroup v1 memory controller")
def test_the_worker_s_processes_share_one_memory_limit(tmp_path):
    # The address-space limit is per process: five children of 400 MB each fit it, and together took
    # 2 GB (64 of them, the machine). Each child says when its memory is touched; the worker's processes
    # share one limit (memory_mb + a margin), so not all five can hold theirs at once.
    seen = probe(tmp_path, """
    import json, os
    ready_r, ready_w = os.pipe()
    release_r, release_w = os.pipe()
    children = []
    for _ in range(5):
        pid = os.fork()
        if pid == 0:
            os.close(ready_r)
            os.close(release_w)
            block = bytearray(400 << 20)
            for offset in range(0, len(block), 4096):
                block[offset] = 1
            os.write(ready_w, b'x')
            os.close(ready_w)
            os.read(release_r, 1)
            os._exit(0)
        children.append(pid)
    os.close(ready_w)
    ready = b''
    while True:
        chunk = os.read(ready_r, 16)
        if not chunk:
            break
        ready += chunk
    os.close(release_w)
    statuses = [os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1]) for pid in children]
    raise RuntimeError('PROBE ' + json.dumps({'held': len(ready), 'statuses': statuses}))
    """, ONLY.with_changes(memory_mb=512, call_timeout=60, cell_timeout=60))  # the load-time test cell runs it too
    assert seen["held"] < 5 and -9 in seen["statuses"], seen


def test_an_answer_after_the_deadline_is_a_timeout_and_never_read_later(tmp_path):
    # The right answer, one second after the call's limit: the worker is gone by then, and the next
    # function is graded by a fresh one that cannot receive it.
    good = [c for c in base_cells() if "def rnn_cell_forward(" in c][0]
    helper = good.replace("def rnn_cell_forward(", "def reference_cell_forward(").replace("# GRADED FUNCTION", "#")
    body = f"""
    import time
    global calls
    calls = globals().get('calls', 0) + 1
    if calls > 1:  # not the notebook's own test cell, which runs while it loads
        time.sleep({ONLY.call_timeout} + 1)
    return reference_cell_forward(xt, a_prev, parameters)
    """
    functions = graded(attacker(tmp_path / "nb.ipynb", body, helper))
    message = only_cell_forward_lost(functions)
    assert functions["rnn_cell_forward"].status == Status.TIMEOUT and "did not finish within" in message, message


def _load_worker_module():
    import importlib.util

    spec = importlib.util.spec_from_file_location("rt_worker_module", ROOT / "grader" / "worker.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _run_bpf(program, arch: int, nr: int, arg0: int = 0) -> int:
    """A classic-BPF interpreter for the few instructions the filter uses."""
    data = {0: nr, 4: arch, 16: arg0 & 0xFFFFFFFF}
    accumulator, pc = 0, 0
    while True:
        code, jt, jf, k = program[pc]
        if code == 0x20:
            accumulator = data[k]
        elif code == 0x06:
            return k
        else:
            taken = {0x15: accumulator == k, 0x35: accumulator >= k, 0x45: bool(accumulator & k)}[code]
            pc += jt if taken else jf
        pc += 1


@pytest.mark.parametrize("machine", ["x86_64", "aarch64"])
def test_the_system_call_filter_refuses_what_it_says_and_allows_the_rest(machine):
    worker = _load_worker_module()
    program = worker.seccomp_program(machine)
    arch, clone, clone3, refused = worker.SYSCALLS[machine]
    allow, eperm, enosys = 0x7FFF0000, 0x00050000 | 1, 0x00050000 | 38
    assert len(program) < 256
    for number in refused.values():
        assert _run_bpf(program, arch, number) == eperm
    assert _run_bpf(program, arch, clone, 0x11 | 0x01000000 | 0x00200000) == allow  # fork: SIGCHLD, tid flags
    assert _run_bpf(program, arch, clone, 0x3D0F00) == allow  # a thread (CLONE_VM | CLONE_THREAD | ...)
    assert _run_bpf(program, arch, clone, 0x11 | 0x10000000) == eperm  # a user namespace
    assert _run_bpf(program, arch, clone, 0x11 | 0x20000000) == eperm  # a PID namespace
    assert _run_bpf(program, arch, clone3) == enosys
    assert _run_bpf(program, 0x40000003, 1) == eperm  # i386 calls on x86_64: refused whatever their number
    for number in (0, 1, 2, 3, 9, 57, 59, 60, 231):  # read, write, open..., mmap, fork, execve, exit
        if number not in refused.values() and number not in (clone, clone3):
            assert _run_bpf(program, arch, number) == allow
    if machine == "x86_64":
        assert _run_bpf(program, arch, 0x40000000 | 272) == eperm  # x32 unshare
    assert worker.seccomp_program("sparc") is None


HOSTILE_NAME = """
class Meta(type):
    @property
    def __name__(cls):
        raise SystemExit("reading my name ends the process")
class Boom(Exception, metaclass=Meta):
    pass
raise Boom("no")
"""


def test_an_exception_whose_type_name_raises_is_an_error_not_a_crash(tmp_path):
    """A metaclass property named __name__ ran when the worker described the error: its SystemExit
    escaped and ended the worker (the student read "crashed"); the name is read from type's own slot."""
    functions = graded(attacker(tmp_path / "nb.ipynb", HOSTILE_NAME))
    cell = functions["rnn_cell_forward"]
    assert cell.status == Status.ERROR and cell.score == 0, (cell.status, cell.messages)
    assert "Boom" in " ".join(cell.messages), cell.messages
    assert functions["rnn_forward"].score == functions["rnn_forward"].max_score, "the worker lived on"


def test_describe_error_never_raises():
    worker = _load_worker_module()

    class Text(str):
        def __getitem__(self, index):
            raise SystemExit("sliced")

    class Unprintable(Exception):
        def __str__(self):
            raise SystemExit("printed")

        @property
        def __traceback__(self):
            raise SystemExit("traced")

    Named = type("Named", (Exception,), {})
    Named.__name__ = Text("Named")
    assert worker.describe_error(Named("x"))["type"] == "Named"
    described = worker.describe_error(Unprintable())
    assert described["type"] == "Unprintable" and described["traceback"] == ""


POLYNOMIAL = ("def rnn_cell_forward(xt, a_prev, parameters):\n",
              "def rnn_cell_forward(xt, a_prev, parameters):\n"
              "    import numpy.polynomial  # a submodule numpy imports lazily, here while the function runs\n"
              "    assert numpy.polynomial.polynomial.polyval(2.0, [1.0, 1.0]) == 3.0\n")


def _polynomial_notebook(path: Path) -> Path:
    cells = [cell.replace(*POLYNOMIAL) for cell in base_cells()]
    assert any(POLYNOMIAL[1] in cell for cell in cells), "the reference's rnn_cell_forward changed: update this test"
    return make_notebook(path, *cells)


@pytest.mark.parametrize("engine", ["worker", "kernel"])
def test_a_lazily_imported_numpy_submodule_works(tmp_path, engine):
    if engine == "kernel":
        pytest.importorskip("nbclient")
        pytest.importorskip("ipykernel")
    function = graded(_polynomial_notebook(tmp_path / "nb.ipynb"), ONLY.with_changes(engine=engine))["rnn_cell_forward"]
    assert function.score == function.max_score, function.messages


@root_only
@pytest.mark.parametrize("engine", ["worker", "kernel"])
def test_a_grader_in_a_venv_under_tmp_grades(engine):
    """worker.build_root mounted the sandbox's /tmp after binding the interpreter and site-packages:
    with numpy installed in a venv under /tmp, `import numpy.polynomial` failed in the worker and the
    kernel did not start. The venv gets its own numpy (a copy), as a grader installed there would."""
    import shutil
    import venv

    if engine == "kernel":
        pytest.importorskip("nbclient")
        pytest.importorskip("ipykernel")
    folder = Path(tempfile.mkdtemp(prefix="grader-venv-", dir="/tmp"))  # tmp_path may be elsewhere (--basetemp)
    try:
        try:
            venv.create(folder / "venv", system_site_packages=True, with_pip=False)
        except Exception as error:  # no venv support in this Python (Debian without python3-venv)
            pytest.skip(f"venv unavailable: {error}")
        python = str(folder / "venv" / "bin" / "python")
        site = Path(subprocess.run([python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                                   capture_output=True, text=True, check=True, timeout=60).stdout.strip())
        installed = Path(np.__file__).parent.parent
        for entry in installed.iterdir():
            if entry.name in ("numpy", "numpy.libs") or (entry.name.startswith("numpy-") and entry.is_dir()):
                shutil.copytree(entry, site / entry.name, symlinks=True)
        where = subprocess.run([python, "-c", "import numpy; print(numpy.__file__)"],
                               capture_output=True, text=True, check=True, timeout=60).stdout
        assert where.startswith(str(folder)), where
        notebook = _polynomial_notebook(folder / "nb.ipynb")
        run = subprocess.run([python, "-m", "grader", str(notebook), "--only", "rnn_cell_forward",
                              "--engine", engine, "--json"], cwd=ROOT, capture_output=True, text=True, timeout=600)
        report = json.loads(run.stdout)
        assert report["graded"] and report["score"] == report["max_score"] > 0, (run.stdout[-2000:], run.stderr[-2000:])
    finally:
        shutil.rmtree(folder, ignore_errors=True)
