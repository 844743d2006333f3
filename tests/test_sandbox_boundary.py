"""The worker-side trust boundary as a structure: what the worker can see is an allowlist, every
write to a worker has a deadline, and the grader leaves nothing behind on any exit path.

Each test builds its attack here, inside the suite, and asserts the structure rather than one
known example: the worker walks its whole filesystem and everything it can open must be in the
allowlist; solutions copied to a place nobody listed stay unreadable; a grader stopped by a
signal mid-run leaves no process and no temporary folder."""
from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest

from grader.pipeline import grade_notebook
from grader.results import Status
from grader.sandbox import Worker, WorkerLost, filesystem_view

from conftest import FAST, ROOT, SOLUTIONS, descendants, make_notebook, replace_function, solution_cells

ONLY = FAST.with_changes(only=("rnn_cell_forward", "rnn_forward"), hidden_cases=1)
root_only = pytest.mark.skipif(os.geteuid() != 0, reason="the allowlist view and private user ids need root")


def base_cells() -> list[str]:
    return [c for c in solution_cells("rnn_step_by_step.ipynb") if "rnn_cell_backward" not in c and "lstm" not in c]


def probe(tmp_path: Path, body: str, config=ONLY) -> dict:
    """Run ``body`` as rnn_cell_forward; it must raise RuntimeError('PROBE ' + json), which comes back."""
    source = "# GRADED FUNCTION: rnn_cell_forward\ndef rnn_cell_forward(xt, a_prev, parameters):\n" + \
        textwrap.indent(textwrap.dedent(body).strip("\n"), "    ") + "\n"
    path = make_notebook(tmp_path / "nb.ipynb", *replace_function(base_cells(), "rnn_cell_forward", source))
    result = grade_notebook(path, config)
    assert result.graded, result.error
    functions = {f.name: f for f in result.functions}
    assert functions["rnn_forward"].score == functions["rnn_forward"].max_score
    message = functions["rnn_cell_forward"].messages[0]
    assert "PROBE " in message, message
    return json.loads(message.split("PROBE ", 1)[1].rsplit("}", 1)[0] + "}")


# --- the allowlist view -----------------------------------------------------------------------

WALK = """
import json, os
roots = [r.rstrip('/') or '/' for r in {allowed!r}] + [os.getcwd()]
def allowed(path):
    return any(path == r or path.startswith(r + '/') or r.startswith(path + '/') for r in roots)
opened, bad, seen = 0, [], 0
for top, dirs, files in os.walk('/'):
    for name in dirs + files:
        path = os.path.join(top, name)
        seen += 1
        try:
            os.close(os.open(path, os.O_RDONLY | os.O_NONBLOCK))
        except OSError:
            continue
        opened += 1
        parts = path.split('/')
        if (not allowed(path) or path.endswith('.ipynb') or 'solutions' in parts or 'expected' in parts
                or 'grader' in parts):
            bad.append(path)
    if seen > 400000:
        break
report = {{'opened': opened, 'nbad': len(bad), 'bad': bad[:3], 'proc': os.path.exists('/proc'),
          'tmp': sorted(os.listdir('/tmp')), 'cwd': os.path.basename(os.getcwd())}}
raise RuntimeError('PROBE ' + json.dumps(report))
"""


def _allowlist() -> list[str]:
    view = filesystem_view(Path("/nonexistent"))
    sites = [os.path.join(site, entry) for site, entries in view["sites"].items() for entry in entries]
    return [*view["read_only"], *view["devices"], *sites, "/tmp"]


@root_only
def test_everything_the_worker_can_open_is_in_the_allowlist(tmp_path):
    # The walk also runs in the notebook's own test cell while it loads: that cell gets as long as the
    # call (on a busy machine 3 s was not enough, the function was then taken for a hang and not called).
    seen = probe(tmp_path, WALK.format(allowed=_allowlist()),
                 ONLY.with_changes(call_timeout=120, cell_timeout=120, notebook_timeout=600))
    assert seen["nbad"] == 0, seen["bad"]
    assert seen["opened"] > 100  # the walk did run: numpy and the standard library are there
    assert not seen["proc"]  # no /proc at all: not the grader's command line, not anyone's
    # A private /tmp: at most the worker's own folder, and where the allowlist itself lies under /tmp (a
    # virtual environment made in /tmp) the folders leading to it.
    listed = {Path(path).relative_to("/tmp").parts[0] for path in _allowlist() if path.startswith("/tmp/")}
    assert set(seen["tmp"]) <= {seen["cwd"], *listed}, seen["tmp"]


@root_only
def test_solutions_copied_to_a_place_nobody_listed_are_unreadable(tmp_path):
    # World-readable, outside every folder the grader knows about: only the allowlist protects it.
    places = [Path(tempfile.mkdtemp(prefix="unlisted-", dir=base)) for base in ("/tmp", "/var/tmp")]
    try:
        copies = []
        for place in places:
            os.chmod(place, 0o755)
            shutil.copytree(SOLUTIONS, place / "build" / "solutions")
            for path in [place, *place.rglob("*")]:
                os.chmod(path, 0o755 if path.is_dir() else 0o644)
            copies.append(str(place / "build" / "solutions" / "rnn_step_by_step.ipynb"))
        seen = probe(tmp_path, f"""
        import json, os, sys
        got = []
        for path in {copies!r} + [os.path.join(p, 'grader', 'data', 'solutions') for p in {sys.path!r}]:
            try:
                got.append(open(path).read(40))
            except OSError as error:
                got.append(type(error).__name__)
        raise RuntimeError('PROBE ' + json.dumps({{'got': got}}))
        """)
        assert all(item in ("FileNotFoundError", "IsADirectoryError", "NotADirectoryError") for item in seen["got"]), seen
    finally:
        for place in places:
            shutil.rmtree(place, ignore_errors=True)


# --- bounded writes ----------------------------------------------------------------------------

def test_a_worker_that_stops_reading_is_a_timeout_not_a_hang(tmp_path):
    """A reply the worker never reads (it sleeps instead) must not block the grader: the write has
    the call's deadline, then the worker is killed."""
    with Worker(FAST, {}) as worker:
        worker.send({"op": "load", "names": []}, value=[{"index": 0, "source": "import time\ntime.sleep(10**6)"}])
        worker.wait_for({"cell_start"}, time.monotonic() + 60)
        big = np.zeros(4_000_000)  # 32 MB: far more than a pipe holds
        with pytest.raises(WorkerLost) as lost:  # before, this write blocked for good
            worker.send({"op": "call"}, value=big, deadline=time.monotonic() + 1)
        assert lost.value.kind == "timeout"
        assert worker.process.poll() is not None  # killed


def test_a_dependency_reply_the_worker_never_reads_times_out(tmp_path):
    """The student's function asks the reference for a huge answer, then sleeps instead of reading."""
    body = """
    import os, sys, time
    worker = sys.modules['__main__']
    worker.send({'op': 'dep', 'name': 'rnn_cell_forward'}, value=[[xt, a_prev, parameters], {}])
    time.sleep(10**6)
    """
    source = "# GRADED FUNCTION: rnn_forward\ndef rnn_forward(x, a0, parameters):\n" + \
        textwrap.indent(textwrap.dedent(body).strip("\n").replace("[xt, a_prev, parameters]",
                                                                   "[x[:, :, 0], a0, parameters]"), "    ")
    path = make_notebook(tmp_path / "nb.ipynb", *replace_function(base_cells(), "rnn_forward", source))
    result = grade_notebook(path, ONLY.with_changes(call_timeout=3))
    assert result.graded, result.error
    functions = {f.name: f for f in result.functions}
    assert functions["rnn_forward"].status == Status.TIMEOUT
    assert functions["rnn_cell_forward"].score == functions["rnn_cell_forward"].max_score


def test_a_zygote_that_stops_answering_is_dropped_and_workers_still_start(monkeypatch):
    """The zygote's control channel has a timeout: a stuck zygote is killed, never waited on."""
    from grader import zygote as zygote_module

    monkeypatch.setattr(zygote_module, "ZYGOTE_TIMEOUT", 1.0)
    stuck = zygote_module.Zygote()
    monkeypatch.setattr(zygote_module.Zygote, "_instance", stuck)
    os.kill(stuck.process.pid, signal.SIGSTOP)
    try:
        with Worker(FAST, {}) as worker:  # the spawn request times out; the worker starts without the zygote
            worker.send({"op": "describe", "names": ["x"]})
            header, _ = worker.wait_for({"loaded"}, time.monotonic() + 60)
        assert header["functions"]["x"]["defined"] is False
        assert stuck.process.poll() is not None  # killed, not left stopped
    finally:
        if stuck.process.poll() is None:  # pragma: no cover - only if the test fails
            stuck.process.kill()
            stuck.process.wait()


def test_a_retired_zygote_leaves_and_a_later_worker_gets_a_new_one():
    """The command retires the zygote once its last notebook is graded, so it leaves while the result
    is printed; stop() (at exit) still waits for it, and a worker asked for later still starts fast."""
    from grader.zygote import Zygote, ZygoteChild

    with Worker(FAST, {}) as worker:
        retired = worker.process.zygote
    Zygote.retire()
    assert _wait_until(lambda: retired.process.poll() is not None)  # it saw its channel close and left
    with Worker(FAST, {}) as worker:
        assert isinstance(worker.process, ZygoteChild) and worker.process.zygote is not retired
    Zygote.stop()
    assert retired.process.returncode is not None and not Zygote._retired


def test_closing_workers_from_a_signal_handler_mid_zygote_request_does_not_wait_for_itself():
    """SIGTERM's cleanup (close_all_workers) runs on the thread it interrupted; if that thread was
    asking the zygote something, the cleanup must not wait for the zygote's lock that thread holds
    (a grading process stuck until the batch killed it, 30 s after a Ctrl-C)."""
    import threading

    from grader import zygote as zygote_module
    from grader.sandbox import close_all_workers

    outcome: list[object] = []

    def interrupted_mid_request() -> None:
        try:
            worker = Worker(FAST, {})
            assert isinstance(worker.process, zygote_module.ZygoteChild)
            zygote = worker.process.zygote
            with zygote._lock:  # as _ask holds it while waiting for an answer
                close_all_workers()  # what _exit_on_signal runs
            outcome.append((worker.process.pid, zygote))
        except BaseException as error:  # noqa: BLE001  reported by the main thread
            outcome.append(error)

    thread = threading.Thread(target=interrupted_mid_request, daemon=True)
    thread.start()
    thread.join(120)  # only stops a hang: the cleanup itself takes milliseconds
    assert not thread.is_alive(), "close_all_workers waited for a lock its own thread holds"
    assert outcome and not isinstance(outcome[0], BaseException), outcome
    pid, zygote = outcome[0]
    assert pid not in {live for live, _, _ in _live_processes()}  # the worker is killed all the same
    assert zygote.process.poll() is not None  # and the zygote stopped, as at exit


# --- cleanup on every exit path ------------------------------------------------------------------

HANG = """
import json, os, subprocess, time
daemon = subprocess.Popen(['sleep', '100000', '{marker}'], start_new_session=True,
                          stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
with open('started.tmp', 'w') as handle:
    json.dump({{'pid': os.getpid(), 'uid': os.getuid(), 'daemon': daemon.pid}}, handle)
os.rename('started.tmp', 'started')
time.sleep(10**6)
"""


def _live_processes() -> list[tuple[int, int, str]]:
    """(pid, uid, command line) of every process that is not a zombie."""
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            state = Path(f"/proc/{entry}/stat").read_bytes().rsplit(b")", 1)[1].split()[0]
            uid = os.stat(f"/proc/{entry}").st_uid
            command = Path(f"/proc/{entry}/cmdline").read_bytes().decode(errors="replace")
        except (OSError, IndexError):
            continue
        if state != b"Z":
            found.append((int(entry), uid, command))
    return found


def _wait_until(condition, limit: float = 120.0) -> bool:
    """Poll ``condition`` until it holds; the limit only stops a hang, it decides nothing."""
    give_up = time.monotonic() + limit
    while time.monotonic() < give_up:
        if condition():
            return True
        time.sleep(0.05)
    return condition()


def _stop_mid_run(stop: int, batch: bool) -> None:
    """Start ``grade`` on hanging notebooks, wait until their workers run, send ``stop``, then check
    that no worker, no process of a worker's user id and no temporary folder is left."""
    # A private TMPDIR: every folder the grader makes is in it, and nothing of other tests is.
    tmpdir = Path(tempfile.mkdtemp(prefix="cleanup-test-", dir="/tmp"))
    inputs = Path(tempfile.mkdtemp(prefix="cleanup-input-", dir="/tmp"))
    os.chmod(tmpdir, 0o755)
    marker = f"grader-cleanup-test-{os.getpid()}-{int(stop)}-{int(batch)}"
    students = 3 if batch else 1
    try:
        for number in range(students):
            (inputs / f"s{number}").mkdir()
            make_notebook(inputs / f"s{number}" / "nb.ipynb", *base_cells(), HANG.format(marker=marker))
        target = [str(inputs), "--out", str(inputs / "out"), "--jobs", "2"] if batch else [str(inputs / "s0" / "nb.ipynb")]
        grader = subprocess.Popen([sys.executable, "-m", "grader", *target, "--cell-timeout", "600", "--timeout", "900"],
                                  cwd=ROOT, env=dict(os.environ, TMPDIR=str(tmpdir)),
                                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        running = 2 if batch else 1
        try:
            assert _wait_until(lambda: len(list(tmpdir.glob("grader-*/started"))) >= running or grader.poll() is not None)
            assert grader.poll() is None
            started = [json.loads(path.read_text()) for path in tmpdir.glob("grader-*/started")]
            ours = descendants(grader.pid)  # grading processes, zygotes, the chart drawer, workers
            grader.send_signal(stop)
            grader.wait(timeout=120)
        finally:
            if grader.poll() is None:  # pragma: no cover - only if the test fails
                grader.kill()
                grader.wait()
        assert grader.returncode != 0
        pids = {item["pid"] for item in started}
        uids = {item["uid"] for item in started} if os.geteuid() == 0 else set()

        def nothing_left() -> bool:
            processes = _live_processes()
            return (not any(pid in pids or pid in ours or uid in uids or marker in command
                            for pid, uid, command in processes)
                    and not any(tmpdir.iterdir()))

        assert _wait_until(nothing_left), (list(tmpdir.iterdir()),
                                           [p for p in _live_processes() if marker in p[2] or p[1] in uids or p[0] in ours])
    finally:
        shutil.rmtree(tmpdir, ignore_errors=True)
        shutil.rmtree(inputs, ignore_errors=True)
        for pid, _, command in _live_processes():
            if marker in command:
                os.kill(pid, signal.SIGKILL)


@pytest.mark.parametrize("stop", [signal.SIGTERM, signal.SIGINT, signal.SIGKILL])
def test_a_grader_stopped_mid_run_leaves_nothing_behind(stop):
    _stop_mid_run(stop, batch=False)


@pytest.mark.parametrize("stop", [signal.SIGTERM, signal.SIGKILL])
def test_a_batch_stopped_mid_run_leaves_nothing_behind(stop):
    """Its grading processes clean up too (a pool would otherwise treat SystemExit as a task's failure)."""
    _stop_mid_run(stop, batch=True)


def test_a_failing_constructor_leaves_no_folder(tmp_path, monkeypatch):
    """A worker that never says it is ready: the Worker cleans up before raising."""
    import grader.sandbox as sandbox

    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    monkeypatch.setattr(sandbox.Worker, "_start", lambda self: (_ for _ in ()).throw(WorkerLost("crashed", "x")))
    with pytest.raises(WorkerLost):
        Worker(FAST, {})
    assert not list(tmp_path.iterdir())
    assert not sandbox._LIVE


KILLED_AT = """
import json, os, signal, sys, tempfile
from grader import sandbox
from grader.config import GradeConfig
from grader.zygote import Zygote

def die(worker):
    print(json.dumps({"zygote": Zygote._instance.process.pid, "made": os.listdir(tempfile.gettempdir()),
                      "cgroup": str(worker._cgroup) if worker._cgroup else None}), flush=True)
    os.kill(os.getpid(), signal.SIGKILL)

stage = sys.argv[1]
if stage == "between-folders":  # the working folder made (a tmpfs as root), the log folder not yet
    make_folder = sandbox.Worker._make_folder
    def patched(self, prefix):
        if prefix == "grader-log-":
            die(self)
        return make_folder(self, prefix)
    sandbox.Worker._make_folder = patched
elif stage == "before-start":  # every folder made, the zygote not yet asked for a worker
    sandbox.Worker._start = die
elif stage == "zygote-replaced":  # the zygote told of the folders died; the worker came from a new one
    start = sandbox.Worker._start
    def patched(self):
        Zygote._instance.process.kill()
        Zygote._instance.process.wait()
        start(self)
        die(self)
    sandbox.Worker._start = patched
elif stage == "mid-close":  # the worker killed, its folders not yet removed
    kill = sandbox.Worker.kill
    def patched(self):
        kill(self)
        die(self)
    sandbox.Worker.kill = patched
worker = sandbox.Worker(GradeConfig(), {"helper.py": sys.argv[2]})
worker.close()
"""


@pytest.mark.parametrize("stage", ["between-folders", "before-start", "zygote-replaced", "mid-close"])
def test_a_grader_killed_between_making_a_folder_and_removing_it_leaves_nothing(stage, tmp_path):
    """The zygote removes what a killed grader leaves, and it is told of each folder and cgroup before
    it is made: no moment of a worker's start or end leaves a folder (a tmpfs as root) to no one."""
    tmpdir = Path(tempfile.mkdtemp(prefix="killed-at-test-", dir="/tmp"))
    os.chmod(tmpdir, 0o755)
    helper = tmp_path / "helper.py"
    helper.write_text("VALUE = 1\n")
    try:
        process = subprocess.run([sys.executable, "-c", KILLED_AT, stage, str(helper)], cwd=ROOT, capture_output=True,
                                 text=True, env=dict(os.environ, TMPDIR=str(tmpdir)), timeout=300)
        assert process.returncode == -signal.SIGKILL, process.stderr
        told = json.loads(process.stdout)
        assert told["made"], "the grader died before making any folder: nothing was tested"

        def cleaned() -> bool:
            zygote_alive = any(pid == told["zygote"] for pid, _, _ in _live_processes())
            return not zygote_alive and not any(tmpdir.iterdir())

        assert _wait_until(cleaned), list(tmpdir.iterdir())
        assert str(tmpdir) not in Path("/proc/mounts").read_text()
        if told["cgroup"]:
            assert not os.path.exists(told["cgroup"])
    finally:
        for line in Path("/proc/mounts").read_text().splitlines():  # only if the test fails
            if str(tmpdir) in line:
                subprocess.run(["umount", "-l", line.split()[1]], check=False)
        shutil.rmtree(tmpdir, ignore_errors=True)
