"""``--engine kernel``: load the notebook through nbclient into a real IPython kernel, then grade in it.

The kernel is started from kernel_boot.py, so it is locked down exactly like the default worker
(and talks to nbclient over Unix sockets, which work inside its own network namespace). Cells run
through nbclient with full Jupyter semantics (IPython display hooks, ``get_ipython()``); shell
escapes and demo calls are removed beforehand, as for the default engine. Once loaded, the kernel
runs the worker's serve loop on two named pipes, so calls, judging and scoring are the same code.
"""
from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import nbformat

from .config import GradeConfig
from .results import CellIssue
from .sandbox import Worker, WorkerLost
from .zygote import launch_environment

KERNEL_BOOT = Path(__file__).with_name("kernel_boot.py")
_ANSI = re.compile(r"\x1b\[[0-9;]*m")


class KernelWorker(Worker):
    """A Worker whose process is an IPython kernel driven by nbclient."""

    def _start(self) -> None:
        from jupyter_client.manager import KernelManager

        config = self._worker_config(req_fd=-1, resp_fd=-1)
        boot = [sys.executable, "-I", "-B", str(KERNEL_BOOT), json.dumps(config)]

        class Sandboxed(KernelManager):
            def format_kernel_cmd(self, extra_arguments=None):  # noqa: D401 - jupyter_client hook
                return [*boot, "-f", self.connection_file]

        self.km = Sandboxed(transport="ipc", ip=str(self.workdir / "ipc"),
                            connection_file=str(self.workdir / "kernel.json"))
        self.km.write_connection_file()
        self._give_to_worker(self.workdir / "kernel.json")
        self.km.start_kernel(cwd=str(self.workdir), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                             env=launch_environment())
        self.process = self.km.provisioner.process  # type: ignore[union-attr]
        self._req_w = self._resp_r = -1

    def _give_to_worker(self, path: Path) -> None:
        if self.uid is not None:
            os.chown(path, self.uid, self.uid)

    def run_cells(self, cells: list[tuple[int, str]], cell_timeout: float, deadline: float) -> tuple[list[CellIssue], tuple[int, str] | None]:
        """Run cells through nbclient. Returns the issues, and (cell, kind) of a cell that killed or hung the kernel."""
        from nbclient import NotebookClient
        from nbclient.exceptions import CellTimeoutError, DeadKernelError

        nb = nbformat.v4.new_notebook()
        nb.cells = [nbformat.v4.new_code_cell(source) for _, source in cells]
        client = NotebookClient(nb, km=self.km, timeout=int(max(1, cell_timeout)), allow_errors=True,
                                interrupt_on_timeout=False, startup_timeout=60, kernel_name="python3")
        self.client = client
        issues: list[CellIssue] = []
        client.kc = self.km.client()
        client.kc.start_channels()
        client.kc.wait_for_ready(timeout=60)
        for position, ((index, _), cell) in enumerate(zip(cells, nb.cells)):
            if time.monotonic() >= deadline:
                return issues, (index, "deadline")
            try:
                client.execute_cell(cell, position)
            except CellTimeoutError:
                return issues, (index, "timeout")
            except DeadKernelError:
                return issues, (index, "crashed")
            for output in cell.outputs:
                if output.get("output_type") == "error":
                    trace = _ANSI.sub("", "\n".join(output.get("traceback", [])))[-1500:]
                    kind = "syntax" if output.get("ename") in ("SyntaxError", "IndentationError") else "error"
                    issues.append(CellIssue(index, kind, trace or f"{output.get('ename')}: {output.get('evalue')}"))
        return issues, None

    def start_serving(self) -> None:
        """Switch the kernel to the worker protocol, over two named pipes in its folder."""
        request, response = self.workdir / "requests.fifo", self.workdir / "responses.fifo"
        for path in (request, response):
            os.mkfifo(path, 0o600)
            self._give_to_worker(path)
        # O_RDWR: opening never blocks, whichever side comes first; death is noticed via poll().
        self._req_w = os.open(request, os.O_RDWR)
        self._resp_r = os.open(response, os.O_RDWR)
        self.client.kc.execute(f"import sys as _s; _s.modules['grader_worker'].serve_fifos("
                               f"{str(request)!r}, {str(response)!r}, get_ipython().user_ns)", store_history=False)
        header, _ = self.wait_for({"ready"}, time.monotonic() + 30)

    def kill(self) -> None:
        try:
            self.client.kc.stop_channels()  # type: ignore[attr-defined]
        except Exception:
            pass
        super().kill()

    def close(self) -> None:
        try:
            self.km.cleanup_resources()
        except Exception:
            pass
        super().close()


def load_with_kernel(worker: KernelWorker, cells: list[tuple[int, str]], names: list[str], config: GradeConfig,
                     deadline: float) -> tuple[list[CellIssue], tuple[int, str] | None, dict]:
    issues, fatal = worker.run_cells(cells, config.cell_timeout, deadline)
    if fatal is not None:
        return issues, fatal, {}
    try:
        worker.start_serving()
        worker.send({"op": "describe", "names": names})
        header, _ = worker.wait_for({"loaded"}, min(deadline, time.monotonic() + 30))
    except WorkerLost as lost:
        return issues, (cells[-1][0] if cells else 0, lost.kind), {}
    return issues, None, dict(header.get("functions", {}))
