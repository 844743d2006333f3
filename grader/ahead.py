"""The hidden cases' expectations, computed ahead in a forked copy of the grader.

Grading one notebook, the grader and its worker mostly take turns: while the worker runs the
student's code the grader waits, so on two cores one is idle. The hidden cases' expectations (the
reference run on each case's inputs: ~60 ms for Dinosaur Island, whose ``sample`` is run four times
per case and ``model`` trains, ~10 ms for RNN) depend on nothing the worker says, so a copy of the
grader, forked before the worker starts, computes them meanwhile and hands each function's over
when its turn comes. A batch does not do this: its grading processes keep every core busy already.

The copy gets the grader's own data only (recipes drawn from the secret's generator, the reference
solutions, the course's specs); nothing the student wrote reaches it, so what it sends back is read
with pickle like any of the grader's values. Everything else falls back to computing in the
grader, as before: a copy that could not start, failed, died or was too slow, and a function whose
published form (``Judge.input_form``) the worker reports otherwise than its source suggested.
"""
from __future__ import annotations

import ast
import contextlib
import os
import pickle
import select
import signal
import struct
import threading
import time
from typing import Sequence

from .course.spec import Expectation, FunctionSpec, References
from .expected import compute_expectation
from .judges import judge_for
from .load import Submission
from .sandbox import PIPE_BYTES, widen_pipe

#: The length prefix of one message (a function's expectations) on the pipe.
_LENGTH = struct.Struct("<Q")
#: A message longer than this is not ours (the pipe is private; it guards against a bug only).
_LARGEST = 1 << 30
#: Seconds the grader waits for the copy's next message before computing itself: the copy runs at
#: the lowest priority, so on a machine kept busy by others it may get little CPU (here ~0.1 s in all).
PATIENCE = 2.0
_PR_SET_PDEATHSIG = 1


def compute_all(spec: FunctionSpec, recipes: Sequence[dict], references: References,
                form: str | None) -> list[Expectation]:
    """The expectation of each recipe, computed here."""
    return [compute_expectation(spec, recipe, references, form) for recipe in recipes]


def declared_params(submission: Submission, name: str) -> list[str] | None:
    """The parameter names of ``name``'s definition in the notebook's source (what the worker
    reports once it ran it, unless the notebook redefines it in some other way)."""
    function = submission.functions.get(name)
    if function is None:
        return None
    try:
        tree = ast.parse(function.source)
    except (SyntaxError, ValueError):
        return None
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and node.name == name:
            arguments = node.args
            names = [a.arg for a in (*arguments.posonlyargs, *arguments.args)]
            names += [arguments.vararg.arg] if arguments.vararg else []
            names += [a.arg for a in arguments.kwonlyargs]
            names += [arguments.kwarg.arg] if arguments.kwarg else []
            return names
    return None


class ExpectationsAhead:
    """``with ExpectationsAhead(jobs, references, deadline) as ahead: ahead.expectations(...)``.

    ``jobs``: (spec, recipes, form) per function, in the order the grader will ask for them. On
    leaving, the copy is killed if still running and always reaped: no process outlives a grading."""

    def __init__(self, jobs: Sequence[tuple[FunctionSpec, Sequence[dict], str | None]], references: References,
                 deadline: float) -> None:
        self.jobs = [(spec, list(recipes), form) for spec, recipes, form in jobs if recipes]
        self.references, self.deadline = references, deadline
        self._pid: int | None = None
        self._read_fd: int | None = None
        self._pending = b""
        self._heard = 0.0
        """When the copy last sent something (or started)."""
        self._received: dict[str, tuple[str | None, list[Expectation] | None]] = {}
        self.used = 0
        """How many functions' expectations came from the copy (for tests and benches)."""

    def __enter__(self) -> "ExpectationsAhead":
        # fork() copies the calling thread only: with another thread running (a Dask worker's, a
        # progress display's) a lock it holds would stay held forever in the copy.
        if self.jobs and threading.active_count() == 1:
            self._start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def expectations(self, spec: FunctionSpec, recipes: Sequence[dict], references: References,
                     form: str | None) -> list[Expectation]:
        """The copy's expectations for ``spec`` if it computed them for this form, else computed here."""
        found = self._wait_for(spec.name)
        if found is not None and found[0] == form and found[1] is not None and len(found[1]) == len(recipes):
            self.used += 1
            return found[1]
        return compute_all(spec, recipes, references, form)

    def close(self) -> None:
        if self._read_fd is not None:
            with contextlib.suppress(OSError):
                os.close(self._read_fd)
            self._read_fd = None
        if self._pid is not None:
            with contextlib.suppress(OSError):
                os.kill(self._pid, signal.SIGKILL)
            with contextlib.suppress(OSError):
                os.waitpid(self._pid, 0)
            self._pid = None

    # -- the grader's side ------------------------------------------------------------------------

    def _start(self) -> None:
        read_fd, write_fd = os.pipe()
        widen_pipe(write_fd)  # the copy need not wait for the grader to read
        parent = os.getpid()
        try:
            pid = os.fork()
        except OSError:
            os.close(read_fd)
            os.close(write_fd)
            return
        if pid == 0:  # the copy: never returns
            _compute_in_copy(write_fd, parent, self.jobs, self.references)
        os.close(write_fd)
        self._pid, self._read_fd, self._heard = pid, read_fd, time.monotonic()

    def _wait_for(self, name: str) -> tuple[str | None, list[Expectation] | None] | None:
        """The copy's message for ``name``; None once the copy is done without one, is gone, sends
        something unreadable, or sends nothing for PATIENCE seconds or until the notebook's deadline."""
        while name not in self._received and self._read_fd is not None:
            remaining = min(self.deadline, self._heard + PATIENCE) - time.monotonic()
            if remaining <= 0:
                self.close()
                break
            ready, _, _ = select.select([self._read_fd], [], [], remaining)
            if not ready:
                continue
            try:
                data = os.read(self._read_fd, PIPE_BYTES)
            except OSError:
                data = b""
            if not data:
                self.close()
                break
            self._pending += data
            self._heard = time.monotonic()
            self._take_messages()
        return self._received.get(name)

    def _take_messages(self) -> None:
        while len(self._pending) >= _LENGTH.size:
            (size,) = _LENGTH.unpack_from(self._pending)
            if size > _LARGEST:
                self.close()
                return
            if len(self._pending) < _LENGTH.size + size:
                return
            message = self._pending[_LENGTH.size:_LENGTH.size + size]
            self._pending = self._pending[_LENGTH.size + size:]
            try:
                name, form, expectations = pickle.loads(message)
            except Exception:  # a bug of ours, not an attack (see the module's docstring)
                self.close()
                return
            self._received[name] = (form, expectations)


def _compute_in_copy(write_fd: int, parent: int, jobs: list, references: References) -> None:
    """The forked copy's whole life: compute, send each function's expectations, leave."""
    try:
        for number in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
            signal.signal(number, signal.SIG_DFL)  # not the grader's handlers (they remove its workers)
        with contextlib.suppress(Exception):
            import ctypes

            ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)
        if os.getppid() != parent:  # the grader left before the line above took effect
            os._exit(0)
        # Idle time only: while the grader and the worker both run (the worker starting, the cells
        # loading) the copy would slow them down; once they take turns, a core is free for it.
        os.nice(19)
        # Hold no descriptor of the grader's (the zygote's channel above all: the zygote notices the
        # grader leaving when the last copy of it closes), and write nothing where `--json` prints.
        null = os.open(os.devnull, os.O_WRONLY)
        os.dup2(null, 1)
        os.closerange(3, write_fd)
        os.closerange(write_fd + 1, os.sysconf("SC_OPEN_MAX"))
        for spec, recipes, form in jobs:
            try:
                result: list[Expectation] | None = compute_all(spec, recipes, references, form)
                message = pickle.dumps((spec.name, form, result), protocol=pickle.HIGHEST_PROTOCOL)
            except BaseException:  # the grader computes it again and meets the error itself
                message = pickle.dumps((spec.name, form, None), protocol=pickle.HIGHEST_PROTOCOL)
            _write_all(write_fd, _LENGTH.pack(len(message)) + message)
    finally:
        os._exit(0)


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view):]


def jobs_for(functions: Sequence[FunctionSpec], recipes: dict[str, list[dict]],
             submission: Submission) -> list[tuple[FunctionSpec, list[dict], str | None]]:
    """(spec, recipes, form) for every function with hidden cases, the form read from the source."""
    return [(spec, recipes[spec.name], judge_for(spec).input_form(declared_params(submission, spec.name)))
            for spec in functions if recipes.get(spec.name)]

