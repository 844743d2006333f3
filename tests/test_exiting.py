"""grader/exiting.py: a process that leaves without the interpreter's teardown still runs its exit
handlers and flushes what it printed (a batch's grading processes, the grade command)."""
from __future__ import annotations

import multiprocessing
import subprocess
import sys
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

from grader.exiting import leave_at_process_exit


def _register_exit_handler(marker: str) -> int:
    import atexit

    atexit.register(lambda: Path(marker).write_text("exit handler ran"))
    print("printed, not yet flushed", end="")
    return 7


def test_a_pool_process_that_leaves_quickly_still_runs_its_exit_handlers(tmp_path):
    marker = tmp_path / "marker"
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max_workers=1, mp_context=context, initializer=leave_at_process_exit) as pool:
        assert pool.submit(_register_exit_handler, str(marker)).result() == 7
        processes = list(pool._processes.values())
    for process in processes:
        process.join(30)
        assert process.exitcode == 0
    assert marker.read_text() == "exit handler ran"


def test_leave_flushes_and_keeps_the_exit_status(tmp_path):
    marker = tmp_path / "marker"
    code = (f"import atexit, sys, pathlib\n"
            f"atexit.register(lambda: pathlib.Path({str(marker)!r}).write_text('ran'))\n"
            f"sys.stdout.write('kept' * 1000)\n"
            f"from grader.exiting import leave\n"
            f"leave(3)\n")
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60,
                         cwd=Path(__file__).resolve().parents[1])
    assert run.returncode == 3 and run.stdout == "kept" * 1000 and marker.read_text() == "ran"


def test_leave_waits_for_the_resource_tracker_a_spawn_pool_started(tmp_path):
    # The tracker leaves when the last holder of its pipe is gone; without leave() stopping it, it
    # outlived the command by a moment (a survivor after Ctrl-C on a batch).
    code = ("import multiprocessing\n"
            "from concurrent.futures import ProcessPoolExecutor\n"
            "from multiprocessing import resource_tracker\n"
            "with ProcessPoolExecutor(1, mp_context=multiprocessing.get_context('spawn')) as pool:\n"
            "    pool.submit(int).result()\n"
            "print(resource_tracker._resource_tracker._pid, flush=True)\n"
            "from grader.exiting import leave\n"
            "leave(0)\n")
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60,
                         cwd=Path(__file__).resolve().parents[1])
    assert run.returncode == 0, run.stderr
    tracker = int(run.stdout)
    assert not Path(f"/proc/{tracker}").exists()  # reaped by leave(), not only exiting
