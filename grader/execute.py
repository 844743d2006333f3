"""Stage 2, the notebook side: load a submission into a worker and call its functions.

``Session`` keeps one loaded worker. When a cell hangs or kills the worker while the notebook
loads, that cell is recorded, left out, and the notebook is loaded again without it, so only
what that cell defines is lost. When a call hangs or kills the worker, the call fails and the
next call gets a freshly loaded worker.
"""
from __future__ import annotations

import ast
import functools
import secrets
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from .config import GradeConfig
from .errors import GraderError
from .load import Submission, parse_cell
from .results import CellIssue
from .sandbox import DependencyHandler, Worker, WorkerLost, header_error, header_functions, header_index

MAX_RELOADS = 8

#: How a cell that ran out of its own time (not the notebook's) is described; run_cases recognises it.
CELL_TIMED_OUT = "ran longer than"


@functools.lru_cache(maxsize=1024)
def cell_label(source: str) -> str:
    """A few words that find a cell again in Jupyter, whose own numbers (In [N]) are not ours: the
    function it defines, else its first non-empty line (shortened). Not parsed when it does not parse."""
    tree = parse_cell(source)
    names = [node.name for node in (tree.body if tree is not None else [])
             if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef))]
    if names:
        return f"defines {', '.join(names[:2])}{', ...' if len(names) > 2 else ''}"
    line = next((line.strip() for line in source.splitlines() if line.strip()), "")
    return line if len(line) <= 60 else line[:57] + "..."


def graded_names_run(source: str, names: list[str]) -> set[str]:
    """The graded functions a cell runs when it runs: named in its top-level statements, called or
    handed to a test (``rnn_forward_test(rnn_forward)``), leaving out what sits in loops, definitions
    and lambdas (a loop may make a quick function slow; a definition runs nothing)."""
    tree = parse_cell(source)
    if tree is None:
        return set()
    found: set[str] = set()
    skip = (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef, ast.Lambda, ast.For, ast.AsyncFor, ast.While,
            ast.ListComp, ast.SetComp, ast.DictComp, ast.GeneratorExp)
    pending: list[ast.AST] = list(tree.body)
    while pending:
        node = pending.pop()
        if isinstance(node, skip):
            continue
        if isinstance(node, ast.Name) and node.id in names:
            found.add(node.id)
        pending.extend(ast.iter_child_nodes(node))
    return found


def changed_positions(changed: list, count: int) -> tuple[int, ...]:
    """The worker's list of changed arguments, kept only where it names one of the ``count``
    arguments sent: the worker is untrusted, and a negative index would name another argument."""
    return tuple(sorted({i for i in changed if type(i) is int and 0 <= i < count}))


@dataclass(frozen=True)
class CallOutcome:
    value: Any = None
    args_after: list | None = None
    output: str = ""
    error: dict | None = None
    """From the worker: type, message, traceback, where. type "missing"/"signature" are ours."""
    lost: str = ""
    """"timeout", "crashed" or "protocol" when the worker did not survive the call."""
    lost_detail: str = ""
    changed_args: tuple[int, ...] = ()
    """Positions of the arguments the function changed in place."""


@dataclass
class LoadReport:
    issues: list[CellIssue] = field(default_factory=list)
    functions: dict[str, dict] = field(default_factory=dict)
    sandbox_notes: list[str] = field(default_factory=list)


#: Seconds the worker has, after its last cell, to say what the notebook defined (at least the cell
#: timeout): the kernel engine starts its serve loop in the kernel first, slow on a busy machine.
LOADED_WITHIN = 30.0


class Session:
    def __init__(self, submission: Submission, config: GradeConfig, helper_files: dict[str, Path],
                 names: list[str], deadline: float, while_loading: Callable[[], Any] | None = None) -> None:
        self.submission = submission
        #: The grader's own preparation, run once while the worker runs the cells (both sides busy at
        #: once); ``prepared`` holds what it returned. An exception from it ends the session.
        self._while_loading = while_loading
        self.prepared: Any = None
        self.config = config
        self.helper_files = helper_files
        self.names = names
        self.deadline = deadline
        # A cell the parser cannot read is not sent: the worker's compile would fail on it the same way.
        self.excluded: dict[int, CellIssue] = {
            cell.index: CellIssue(cell.index, "syntax", f"  cell {cell.index}\n{cell.refused}", cell_label(cell.source))
            for cell in submission.cells if cell.refused}
        self.report = LoadReport()
        self.worker: Worker | None = None
        self.out_of_time = False
        """The notebook's overall time limit ran out: nothing more can run."""

    def __enter__(self) -> "Session":
        try:
            self.load()
        except BaseException:  # `with` calls __exit__ only once __enter__ has returned
            self.__exit__()
            raise
        return self

    def prepare(self) -> Any:
        """What ``while_loading`` returned; run now if loading never got as far as the cells."""
        if self._while_loading is not None:
            work, self._while_loading = self._while_loading, None
            self.prepared = work()
        return self.prepared

    def __exit__(self, *exc_info: object) -> None:
        if self.worker is not None:
            self.worker.close()
            self.worker = None

    # -- loading --------------------------------------------------------------------------------

    def load(self) -> LoadReport:
        """Start a worker and run the notebook's cells, leaving out cells that kill it."""
        for _ in range(MAX_RELOADS + 1):
            if self.worker is not None:
                self.worker.close()
                self.worker = None
            if time.monotonic() >= self.deadline:
                self.out_of_time = True
                self.report.issues = sorted(self.excluded.values(), key=lambda issue: issue.cell)
                return self.report
            try:
                if self.config.engine == "kernel":
                    from .kernel_engine import KernelWorker

                    self.worker = KernelWorker(self.config, self.helper_files)
                else:
                    self.worker = Worker(self.config, self.helper_files)
            except WorkerLost as error:
                raise GraderError(f"the grading worker could not start: {error.detail}") from None
            self.report.sandbox_notes = list(self.worker.notes)
            issues = self._run_cells()  # the kernel engine's driver speaks the worker's protocol
            if issues is not None:
                self.report.issues = sorted([*self.excluded.values(), *issues], key=lambda issue: issue.cell)
                return self.report
        raise GraderError("the notebook kept killing the grading worker while loading")

    def _run_cells(self) -> list[CellIssue] | None:
        assert self.worker is not None
        cells = [{"index": cell.index, "source": cell.source}
                 for cell in self.submission.cells if cell.index not in self.excluded]
        sent = False  # the request goes inside the loop: a worker that does not read it is handled there
        issues: list[CellIssue] = []
        current = None
        # The cells must start and finish in the order sent, each once: the student's code runs in the
        # worker and can write to its channel too, and a forged "cell_done" had reset the cell's clock
        # (a cell ran past its timeout) and added an error to the report per message (gigabytes).
        order = [cell["index"] for cell in cells]
        started = 0  # how many of them have started
        last = None  # the cell finished last: a second "cell_done" for it is its own code's
        # And all of loading has at most each cell's timeout in turn: code that writes in-order messages
        # for cells not yet run (a thread, to restart the clock) can lend a slow cell the time of the
        # cells after it, never more. The worker reports its own progress; only the kernel engine's
        # driver, a process of its own, sees which cell really runs.
        load_deadline = self.deadline
        while True:
            try:
                if not sent:
                    sent = True
                    self.worker.send({"op": "load", "names": self.names}, value=cells, deadline=self.deadline)
                    self.prepare()  # the grader's own work: not counted against the cells
                    load_deadline = min(self.deadline, time.monotonic() + len(cells) * self.config.cell_timeout + 1.0)
                # A cell has the cell timeout, and so has the gap after it, before the next cell starts
                # (or loading ends), which the worker fills in milliseconds: a cell whose code reports
                # its own end early (or drops the worker's) is still stopped on time.
                if current is None and started == len(order):  # the cells have run: the worker describes
                    # them (the kernel engine first starts its serve loop), slower than a cell's end
                    limit = min(self.deadline, time.monotonic() + max(self.config.cell_timeout, LOADED_WITHIN))
                else:
                    limit = min(load_deadline, time.monotonic() + self.config.cell_timeout)
                header, _ = self.worker.wait_for({"cell_start", "cell_done", "loaded"}, limit, only=True)
            except WorkerLost as lost:
                if lost.kind == "timeout" and current is None and time.monotonic() >= self.deadline:
                    self.out_of_time = True
                    return issues
                if current is None and lost.kind == "timeout" and last is not None:
                    current = last  # it said it had ended, and the worker never went on: it was still running
                if current is None:  # died between cells: nothing to blame, treat as fatal
                    raise GraderError(f"the grading worker failed while loading the notebook: {lost.detail}") from None
                if lost.kind == "timeout" and time.monotonic() >= self.deadline:
                    kind, message = "timeout", "the notebook's time limit ran out while this cell ran"
                elif lost.kind == "timeout":
                    kind, message = "timeout", f"{CELL_TIMED_OUT} {self.config.cell_timeout:g}s and was stopped"
                else:
                    kind, message = "crashed", f"killed the worker: {lost.detail}"
                self.excluded[current] = CellIssue(current, kind, message + "; the notebook was loaded again without it",
                                                   self.cell_label_of(current))
                if kind == "timeout" and message.startswith(CELL_TIMED_OUT):
                    self._skip_cells_running(current)
                return None
            op = header["op"]
            index = header_index(header)
            if op == "ready" and current is None and started == len(order):
                continue  # the kernel engine's serve loop greets once the cells have run
            if op not in ("cell_start", "cell_done", "loaded"):  # nothing else is sent while cells run
                return self._forged(current if current is not None else last)
            if op == "cell_start":
                if current is not None or index is None or started == len(order) or index != order[started]:
                    return self._forged(current if current is not None else last)
                current, started = index, started + 1
            elif op == "cell_done":
                if current is None or index != current or header.get("wrote_channel") is True:
                    return self._forged(current if current is not None else last)
                error = header_error(header.get("error"))
                if error:
                    kind = "syntax" if error["type"] == "SyntaxError" else "error"
                    issues.append(CellIssue(index, kind, error["traceback"][-1500:], self.cell_label_of(index)))
                current, last = None, current
            else:
                if current is not None or started < len(order):
                    return self._forged(current if current is not None else last)
                self.report.functions = header_functions(header.get("functions"), self.names)
                return issues

    def _forged(self, current: int | None) -> None:
        """A message out of the protocol's order came from the worker: code the notebook ran wrote it.
        The cell running then (or the one that finished last) is left out and the notebook loaded again
        without it, as for a cell that kills the worker."""
        if current is None:  # before any cell ran: the notebook's code cannot have written it
            raise GraderError("the grading worker broke its protocol before the notebook's first cell")
        self.excluded[current] = CellIssue(current, "crashed", "wrote messages of its own to the grader's channel "
                                           "(only the grading worker may); the notebook was loaded again without it",
                                           self.cell_label_of(current))
        return None

    def _cell_source(self, index: int) -> str:
        return next((cell.source for cell in self.submission.cells if cell.index == index), "")

    def cell_label_of(self, index: int) -> str:
        return cell_label(self._cell_source(index))

    def hang_suspect(self, index: int) -> str | None:
        """The one graded function a cell that timed out runs, when it runs exactly one and defines
        nothing: that function hung (or its own helpers did, which run_cases checks). None otherwise."""
        source = self._cell_source(index)
        if cell_label(source).startswith("defines "):
            return None
        used = graded_names_run(source, list(self.submission.assignment.function_names))
        return next(iter(used)) if len(used) == 1 else None

    def _skip_cells_running(self, timed_out: int) -> None:
        """After a cell timed out running one graded function, later cells that define nothing and run
        that function outside loops (a test cell, or another function's test that builds its inputs
        with it) are left out rather than waited on again: each would cost a full cell timeout."""
        suspect = self.hang_suspect(timed_out)
        if suspect is None:
            return
        names = list(self.submission.assignment.function_names)
        for cell in self.submission.cells:
            if cell.index > timed_out and cell.index not in self.excluded \
                    and not cell_label(cell.source).startswith("defines ") and suspect in graded_names_run(cell.source, names):
                self.excluded[cell.index] = CellIssue(
                    cell.index, "skipped", f"not run: it runs {suspect}, which did not finish in cell {timed_out} "
                                           f"({self.cell_label_of(timed_out)}); it would most likely hang here too",
                    self.cell_label_of(cell.index))

    # -- calling --------------------------------------------------------------------------------

    def ready(self) -> None:
        """A loaded worker for the next call (a fresh one after a call that hung or crashed), unless the
        notebook's time is up. Callers that start a call's clock do so after this."""
        if self.worker is None and not self.out_of_time:
            self.load()

    def call(self, function: str, args: list, kwargs: dict, *, deps: list[str], seed: int | None,
             return_args: bool, on_dependency: DependencyHandler | None, drive: bool = False) -> CallOutcome:
        """Call ``function`` in the worker; with ``drive``, it is a class and ``args[0]`` the script (drive.py)."""
        self.ready()
        if self.worker is None or time.monotonic() >= self.deadline:
            return CallOutcome(lost="timeout", lost_detail="the notebook's overall time limit ran out")
        deadline = min(self.deadline, time.monotonic() + self.config.call_timeout)
        # A fresh unguessable id per call: a frame forged by student code for a later call is refused.
        nonce = secrets.token_hex(8)
        try:
            self.worker.send({"op": "call", "function": function, "deps": deps, "seed": seed, "nonce": nonce,
                              "return_args": return_args, "drive": drive}, value=[args, kwargs], deadline=deadline)
            header, payload = self.worker.wait_for({"result"}, deadline, on_dependency=on_dependency)
            if header.get("nonce") != nonce:
                self.worker.kill()
                raise WorkerLost("protocol", "the worker's answer did not belong to this call (forged output?)")
        except WorkerLost as lost:
            self.worker.close()
            self.worker = None
            detail = lost.detail
            if lost.kind == "timeout":
                detail = (f"did not finish within {self.config.call_timeout:g}s" if time.monotonic() < self.deadline
                          else "the notebook's overall time limit ran out")
            return CallOutcome(lost=lost.kind, lost_detail=detail)
        payload = payload if isinstance(payload, dict) else {}
        extra = payload.get("extra") if isinstance(payload.get("extra"), dict) else {}
        changed = extra.get("changed") if isinstance(extra.get("changed"), list) else []
        return CallOutcome(value=payload.get("value"), args_after=extra.get("args_after"),
                           output=str(extra.get("output", "")), error=header_error(header.get("error")),
                           changed_args=changed_positions(changed, len(args)))
