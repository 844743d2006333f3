"""Every limit holds in the kernel engine too (``--engine kernel``): hangs are stopped at the cell,
call and notebook limits, a dead kernel is a "crashed" verdict at once, nothing it started
survives, output floods cost the grader nothing, and a batch with a hanging notebook completes.

The hostile-notebook tests of the worker engine (tests/test_hostile.py) are run here again, as
they are, with the engine switched to the kernel. Limits are short where a test exercises them
(cell 3 s, call 4 to 15 s, notebook 5 to 20 s) and roomy elsewhere: they stop hangs, and no test
asserts how long grading took (beyond test_hostile's own bound on its 5 s notebook limit).
"""
from __future__ import annotations

import csv
import json
import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

import test_hostile as hostile
from grader.pipeline import grade_notebook
from grader.results import Status

from conftest import ROOT, make_notebook

pytest.importorskip("nbclient")
pytest.importorskip("ipykernel")

KERNEL = hostile.ONLY.with_changes(engine="kernel", notebook_timeout=180.0)


#: The worker engine's limits stay, with more room where a test does not exercise them: a kernel
#: takes seconds to start again after a crash, and a call's dependency answers are budgeted from
#: before that restart (so a 4 s call limit could run out while the kernel restarts).
ROOMY = {"call_timeout": 30.0, "notebook_timeout": 180.0}
#: Where a call must hang until its limit: long enough to cover the kernel's restart (see above).
HANGING_CALL = {"call_timeout": 15.0, "notebook_timeout": 180.0}

#: (test in test_hostile, its parameters, limits changed): hangs, crashes, exits, limits, forks, floods.
#: Not repeated: the recursion bomb (in a kernel it is one more call that hangs until its limit, as
#: Python 3.11 frames grow on the heap) and the tests of reading files and return values.
HOSTILE_CASES = [
    ("test_infinite_loop_in_function_times_out_alone", {}, HANGING_CALL),
    ("test_infinite_loop_at_top_level_is_left_out", {}, ROOMY),
    ("test_memory_bomb", {"bomb": "np.ones((10**6, 10**6))"}, ROOMY),
    ("test_memory_bomb", {"bomb": "x = []\nwhile True:\n    x.append(bytearray(10**8))"}, ROOMY),
    ("test_fork_bomb_at_load", {}, ROOMY),
    ("test_orphaned_background_process_is_killed", {}, ROOMY),
    ("test_output_flood_is_cut", {}, ROOMY),
    ("test_disk_fill_is_stopped", {}, ROOMY),
    ("test_segfault_in_a_function", {}, ROOMY),
    ("test_segfault_at_load_loses_only_that_cell", {}, ROOMY),
    ("test_thread_spam", {}, ROOMY),
    ("test_exiting_early_costs_only_that_function", {"exit_call": "import sys\nsys.exit(0)"}, ROOMY),
    ("test_exiting_early_costs_only_that_function", {"exit_call": "import os\nos._exit(0)"}, ROOMY),
    ("test_exiting_early_costs_only_that_function",
     {"exit_call": "import os, signal\nos.kill(os.getpid(), signal.SIGKILL)"}, ROOMY),
    ("test_exiting_at_load_costs_only_that_cell", {}, ROOMY),
    ("test_forged_result_frames_are_refused", {}, ROOMY),
    ("test_overall_notebook_time_limit", {}, {}),  # sets its own 5 s notebook limit
    ("test_grader_process_cannot_be_signalled_or_read", {}, ROOMY),
]


@pytest.mark.parametrize("name, params, limits", HOSTILE_CASES,
                         ids=[f"{name[5:]}-{i}" for i, (name, _, _) in enumerate(HOSTILE_CASES)])
def test_hostile_notebooks_with_the_kernel_engine(name, params, limits, tmp_path, monkeypatch):
    def kernel_grade(path, config):
        return grade_notebook(path, config.with_changes(engine="kernel", **limits))

    monkeypatch.setattr(hostile, "grade_notebook", kernel_grade)
    test = getattr(hostile, name)
    for mark in getattr(test, "pytestmark", []):  # e.g. root only
        if mark.name == "skipif" and mark.args and mark.args[0]:
            pytest.skip(mark.kwargs.get("reason", ""))
    test(tmp_path, **params) if "tmp_path" in test.__code__.co_varnames else test(**params)


def test_input_is_refused_and_sleep_times_out(tmp_path):  # C4: the kernel refuses input() its own way
    path = hostile.notebook(tmp_path, "name = input('your name? ')",
                            replace={"rnn_cell_forward": hostile.cell_forward("import time\ntime.sleep(10**6)")})
    result = grade_notebook(path, KERNEL.with_changes(**HANGING_CALL))
    functions = {f.name: f for f in result.functions}
    assert any("input" in issue.message for issue in result.cell_issues if issue.kind == "error")
    hostile.assert_only_cell_forward_lost(functions, Status.TIMEOUT)


# --- a dead kernel is a crash, at once -----------------------------------------------------------------

CPU_LIMIT = ("import resource, time\nused = int(time.process_time())\n"
             "resource.setrlimit(resource.RLIMIT_CPU, (used + 1, used + 60))\nwhile True:\n    pass")
PATIENT = KERNEL.with_changes(cell_timeout=120, call_timeout=120, notebook_timeout=300)
"""Limits far beyond what a crash takes to notice: a crash reported as a timeout fails the test."""


def test_kernel_killed_by_its_cpu_limit_while_loading_is_a_crashed_cell(tmp_path):
    result = grade_notebook(hostile.notebook(tmp_path, CPU_LIMIT), PATIENT)
    assert result.graded and result.score == result.max_score
    issue = next(issue for issue in result.cell_issues if issue.kind != "error")
    assert issue.kind == "crashed" and "CPU time limit" in issue.message, result.cell_issues


def test_kernel_killed_by_its_cpu_limit_in_a_call_is_a_crashed_function(tmp_path):
    path = hostile.notebook(tmp_path, replace={"rnn_cell_forward": hostile.cell_forward(CPU_LIMIT)})
    # the notebook's own test cell calls the function while loading: it is left out there first
    functions = {f.name: f for f in grade_notebook(path, PATIENT).functions}
    assert functions["rnn_cell_forward"].status == Status.CRASHED, functions["rnn_cell_forward"].messages
    assert "CPU time limit" in " ".join(functions["rnn_cell_forward"].messages)
    hostile.assert_only_cell_forward_lost(functions)


# --- nothing survives the kernel --------------------------------------------------------------------------

def _processes_with(marker: str) -> list[str]:
    alive = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
            state = Path(f"/proc/{pid}/stat").read_bytes().rsplit(b")", 1)[1].split()[0]
        except (OSError, IndexError):
            continue
        if marker.encode() in cmdline and state != b"Z":
            alive.append(pid)
    return alive


def test_a_hanging_cell_leaves_no_process_behind(tmp_path):
    """A busy child in the kernel's own process group, and the kernel looping: both are killed."""
    marker = f"grader-kernel-busy-{os.getpid()}"
    cell = (f"import subprocess\nsubprocess.Popen(['sh', '-c', 'while :; do :; done', '{marker}'])\n"
            "while True:\n    pass")
    result = grade_notebook(hostile.notebook(tmp_path, cell), KERNEL)
    assert result.score == result.max_score and any(issue.kind == "timeout" for issue in result.cell_issues)
    assert not _processes_with(marker)
    assert not _processes_with(str(tmp_path))  # no kernel or driver of this run either


GRADE_ONE = """
import sys
from grader.config import GradeConfig
from grader.pipeline import grade_notebook
grade_notebook(sys.argv[1], GradeConfig(engine="kernel", cell_timeout=600, notebook_timeout=900))
"""


def _wait_until(condition, seconds: float) -> bool:
    """Poll ``condition`` until it holds; False if it still does not after ``seconds`` (a hang stopper)."""
    import time

    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.2)
    return condition()


def test_a_killed_grader_leaves_no_kernel_behind(tmp_path):
    """SIGKILL the grader while a cell hangs: its driver, kernel and the kernel's children go too
    (the driver sees its pipe close and kills the kernel's group; the kernel dies with the driver)."""
    marker = f"grader-kernel-orphan-{os.getpid()}"
    cell = (f"import subprocess\nsubprocess.Popen(['sh', '-c', 'while :; do :; done', '{marker}'])\n"
            "while True:\n    pass")
    path = hostile.notebook(tmp_path, cell)
    temporary = tmp_path / "tmp"  # the run's folders, told apart from other runs on this machine
    temporary.mkdir()
    temporary.chmod(0o777)
    grader = subprocess.Popen([sys.executable, "-c", GRADE_ONE, str(path)], cwd=ROOT,
                              env=dict(os.environ, PYTHONPATH=str(ROOT), TMPDIR=str(temporary)))
    try:
        assert _wait_until(lambda: _processes_with(marker), 300), "the hanging cell never started"
        kernel = _parent(_processes_with(marker)[0])
        driver = _parent(kernel)
        assert "kernel_driver.py" in Path(f"/proc/{driver}/cmdline").read_text(errors="replace")
    finally:
        grader.kill()
        grader.wait()
    assert _wait_until(lambda: not _processes_with(marker), 60), "the kernel's child survived the grader"
    for what, pid in (("the kernel", kernel), ("the driver", driver)):
        assert _wait_until(lambda: not _alive(pid), 60), f"{what} survived the grader"
    # and the folders the grader would have removed (the kernel's, a tmpfs as root; its log folder)
    assert not list(temporary.glob("grader-*")), list(temporary.iterdir())
    assert str(temporary) not in Path("/proc/mounts").read_text()


def _parent(pid: str) -> str:
    return Path(f"/proc/{pid}/stat").read_bytes().rsplit(b")", 1)[1].split()[1].decode()


def _alive(pid: str) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_bytes().rsplit(b")", 1)[1].split()[0] != b"Z"
    except (OSError, IndexError):
        return False


# --- output is bounded: the grader's memory does not grow with it -----------------------------------------

MEASURE = """
import json, sys
from grader.config import GradeConfig
from grader.pipeline import grade_notebook

def peak_kb():
    for line in open("/proc/self/status"):
        if line.startswith("VmHWM:"):
            return int(line.split()[1])

config = GradeConfig(**json.loads(sys.argv[3]))
grade_notebook(sys.argv[1], config)          # warm up: every module imported, one kernel run
before = peak_kb()
result = grade_notebook(sys.argv[2], config)
print(json.dumps({"growth_kb": peak_kb() - before, "score": result.score, "max_score": result.max_score,
                  "issues": [[issue.kind, issue.message[:300]] for issue in result.cell_issues]}))
"""
#: What grading a flooding notebook may add to the grader's peak memory. The floods below send
#: hundreds of megabytes (nbclient alone used to keep them all); a normal run adds a few MB.
GROWTH_BOUND_MB = 60


@pytest.mark.parametrize("flood", [
    "while True:\n    print('flood ' * 1000)",                                  # prints without end
    "print('x' * 100_000_000)",                                                 # one huge string
    "from IPython.display import display\ndisplay({'text/plain': 'y' * 100_000_000}, raw=True)",  # past stdout
    "'z' * 30_000_000",                                                         # as the cell's result
])
def test_output_floods_do_not_grow_the_grader(tmp_path, flood):
    honest = hostile.notebook(tmp_path, name="honest.ipynb")
    flooding = hostile.notebook(tmp_path, flood, name="flood.ipynb")
    limits = {"engine": "kernel", "cell_timeout": 3, "call_timeout": 4, "notebook_timeout": 60, "hidden_seed": 0,
              "hidden_cases": 1, "only": ["rnn_cell_forward", "rnn_forward"]}
    run = subprocess.run([sys.executable, "-c", MEASURE, str(honest), str(flooding), json.dumps(limits)],
                         capture_output=True, text=True, cwd=ROOT, timeout=600,
                         env=dict(os.environ, PYTHONPATH=str(ROOT)))
    assert run.returncode == 0, run.stderr[-2000:]
    measured = json.loads(run.stdout.strip().splitlines()[-1])
    assert measured["score"] == measured["max_score"], measured
    assert measured["growth_kb"] < GROWTH_BOUND_MB * 1024, measured


# --- a batch with a hanging notebook completes -----------------------------------------------------------

def test_batch_with_hanging_notebooks_completes(tmp_path):
    """`grade class/ --out grades/ --engine kernel --timeout 20`: a notebook that hangs at load and one
    that hangs in a graded function cost only themselves; the gradebook is written."""
    folder, out = tmp_path / "class", tmp_path / "grades"
    folder.mkdir()
    hostile.notebook(folder, name="honest1.ipynb")
    hostile.notebook(folder, name="honest2.ipynb")
    hostile.notebook(folder, "while True:\n    pass", name="hangs_at_load.ipynb")
    make_notebook(folder / "hangs_in_call.ipynb", *hostile.base_cells()[:1],
                  hostile.cell_forward("while True:\n    pass"))
    command = [sys.executable, "-m", "grader", str(folder), "--out", str(out), "--engine", "kernel",
               "--timeout", "20", "--cell-timeout", "3", "--call-timeout", "3", "--jobs", "2", "--seed", "0",
               "--only", "rnn_cell_forward", "--only", "rnn_forward", "--hidden-cases", "1", "--no-color"]
    run = subprocess.run(command, capture_output=True, text=True, cwd=tmp_path, timeout=900,
                         env=dict(os.environ, PYTHONPATH=str(ROOT)))
    assert run.returncode == 0, run.stdout[-2000:] + run.stderr[-2000:]
    rows = {row["student"]: row for row in csv.DictReader(open(out / "gradebook.csv"))}
    assert set(rows) == {"honest1", "honest2", "hangs_at_load", "hangs_in_call"}
    for student in ("honest1", "honest2", "hangs_at_load"):
        assert float(rows[student]["score"]) == float(rows[student]["max_score"]) > 0, rows[student]
    assert float(rows["hangs_in_call"]["score"]) < float(rows["hangs_in_call"]["max_score"])
    assert not _processes_with(str(folder))


# --- the driver's named pipes are not the student's ------------------------------------------------------

PLANT_PIPES = """
import os
for name, plant in (('requests.fifo', os.mkfifo), ('responses.fifo', lambda path: os.symlink('/etc/passwd', path))):
    try:
        plant(name)
    except OSError:
        pass
"""


def test_pipes_planted_by_a_cell_do_not_crash_the_driver(tmp_path):
    """A cell made requests.fifo before the driver did, after the cells ran: the driver crashed. It
    makes and opens its pipes before the kernel starts, so a cell finds them taken."""
    result = grade_notebook(hostile.notebook(tmp_path, PLANT_PIPES), KERNEL.with_changes(**ROOMY))
    assert result.graded, result.error
    functions = {f.name: f for f in result.functions}
    for name in ("rnn_cell_forward", "rnn_forward"):
        assert functions[name].score == functions[name].max_score > 0, (name, functions[name].messages)


def test_the_driver_never_follows_what_is_already_there(tmp_path):
    from grader import kernel_driver

    (tmp_path / "requests.fifo").symlink_to(tmp_path / "elsewhere")
    with pytest.raises(FileExistsError):
        kernel_driver.make_fifos(str(tmp_path))
    assert not (tmp_path / "elsewhere").exists()
    fresh = tmp_path / "fresh"
    fresh.mkdir()
    paths, fds = kernel_driver.make_fifos(str(fresh))
    try:
        assert [Path(path).name for path in paths] == list(kernel_driver.FIFO_NAMES)
        assert all(stat.S_ISFIFO(os.fstat(fd).st_mode) for fd in fds)
    finally:
        for fd in fds:
            os.close(fd)


FORGE_FROM_THE_KERNEL = """
import json, os, struct
def _frame(header):
    text = json.dumps(dict(header, blob_sizes=[])).encode()
    return b"GRW1" + struct.pack(">I", len(text)) + text
_fd = os.open(os.path.join(os.getcwd(), "responses.fifo"), os.O_WRONLY | os.O_NONBLOCK)
for _ in range(30):
    try:
        os.write(_fd, _frame({"op": "cell_done", "index": 1, "error": {"type": "ValueError", "message": "m",
                                                                      "traceback": "X" * 1400, "where": ""}}))
    except BlockingIOError:
        break
"""


def test_a_cell_writing_the_workers_messages_from_the_kernel_is_the_one_left_out(tmp_path):
    """The kernel's answer pipe is read by the driver only after the last cell: frames a cell wrote
    there reached the grader then, and the last cell was blamed, then the one before it, until the
    notebook was not graded at all. The driver now looks after every cell and says which one wrote."""
    honest = grade_notebook(hostile.notebook(tmp_path, name="honest.ipynb"), KERNEL.with_changes(**ROOMY))
    after = "harmless = 1"  # the cell after it, which finished last, was blamed first
    result = grade_notebook(hostile.notebook(tmp_path, FORGE_FROM_THE_KERNEL, after), KERNEL.with_changes(**ROOMY))
    assert result.graded, result.error
    assert all(f.score == f.max_score for f in result.functions), [f.messages for f in result.functions]
    (issue,) = set(result.cell_issues) - set(honest.cell_issues)
    assert issue.cell == len(hostile.base_cells()) + 1 and "wrote messages of its own" in issue.message
