"""A class graded on a Dask ``distributed`` cluster: each notebook is one Dask task.

    DaskRunner("tcp://host:8786")   or   DaskRunner("local:4")   ->  grade_batch(..., runner=...)

The Dask worker only carries the task: it writes the notebook's bytes (they travel with the task, so
workers need not share a file system) into a private folder and grades them with ``grade_notebook``,
the same sandboxed engine as a local batch (a fresh locked-down worker process per notebook). It
sends back the plain JSON result. The driver alone writes results, through the same ``finished``
step as a local batch, so resuming, ``--force``, the gradebook and every export are shared code.

- Idempotent: the Dask key is the student, the notebook's hash and the options' fingerprint, and the
  driver writes a result once per finished key, so a task retried after its worker died never
  writes twice.
- Nothing hangs: a task whose worker dies is retried by the scheduler; one that keeps failing, or
  that gives no answer within the notebook timeout plus a margin, is recorded as not graded with
  the reason, and the batch goes on.
- Same grading everywhere: the task carries a digest of what grades (grader code, numpy version,
  options and expected values, reference solutions); a worker whose own digest differs refuses the
  task, and the notebook is left ungraded (rerunning grades it) instead of graded differently.

``distributed`` is an optional dependency (``pip install 'rnn-grader[dask]'``), imported only here.
"""
from __future__ import annotations

import collections
import contextlib
import functools
import hashlib
import os
import shutil
import socket
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, cast

from .batch import Entry, fingerprint
from .config import GradeConfig
from .errors import UsageError
from .pipeline import folder_is_own, module_beside, module_bytes
from .records import as_result
from .results import NotebookResult

#: Seconds a task may run past the notebook timeout before the driver gives up on it (a hung Dask
#: worker); the grading itself already stops at the notebook timeout.
DEADLINE_MARGIN = 60.0
#: The Dask event each task logs as it begins on its worker. A worker takes tasks ahead of its threads
#: (worker-saturation), so "assigned to a worker" is not "running": a task queued there behind a slow
#: one would be charged its wait.
STARTED_TOPIC = "grader-task-started"
#: How often the driver looks at what the scheduler is running (progress and deadlines).
POLL_SECONDS = 0.5
#: Extra attempts for a task that raised; a worker that died counts against the scheduler's own
#: ``distributed.scheduler.allowed-failures`` instead.
RETRIES = 2
INSTALL_HINT = "Dask support is an optional extra: pip install 'rnn-grader[dask]'"

Finished = Callable[[Entry, str, NotebookResult], None]
OnEvent = Callable[[str, Entry], None] | None


@dataclass(frozen=True)
class Parcel:
    """Everything a Dask worker needs to grade one notebook."""
    name: str
    """The notebook's file name (its folder on the driver is not sent)."""
    notebook: bytes
    helpers: tuple[tuple[str, bytes], ...]
    """The helper modules found beside the notebook (the Adam exercise is in one)."""
    folder_is_own: bool
    """Whether the notebook is alone in its folder on the driver (``batch.folder_is_own``): only then
    are those helper modules the student's and graded; otherwise the worker leaves them out and says
    so, as a local batch does. Carried apart from ``config``, which both sides digest as it is."""
    original: str
    """The notebook's path on the driver: the result names it, as a local batch's would."""
    config: GradeConfig
    environment: tuple[tuple[str, str], ...]
    """What grades on the driver (see ``environment``); the worker refuses when its own differs."""


# --- on the Dask worker ---------------------------------------------------------------------

def _tree_digest(folder: Path | None, pattern: str) -> str:
    if folder is None or not folder.is_dir():
        return "none"
    digest = hashlib.sha256()
    for path in sorted(p for p in folder.rglob(pattern) if p.is_file() and "__pycache__" not in p.parts):
        digest.update(str(path.relative_to(folder)).encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()[:16]


@functools.lru_cache(maxsize=8)
def environment(config: GradeConfig) -> tuple[tuple[str, str], ...]:
    """A digest of each thing besides the notebook that decides a grade, computed where it runs."""
    import numpy

    from . import resources

    solutions = resources.solutions_dir() if config.use_solutions else None
    return (("grader code", _tree_digest(Path(__file__).resolve().parent, "*.py")),
            ("numpy", numpy.__version__),
            ("options and expected values", fingerprint(config)),
            ("reference solutions", _tree_digest(solutions, "*")))


def _task_root() -> Path:
    # One folder for every task on this machine, hidden as a whole from each sandboxed worker, so a
    # notebook never sees another one being graded next to it. Private to this user.
    root = Path(tempfile.gettempdir()).resolve() / f"grader-dask-{os.getuid()}"
    root.mkdir(mode=0o700, exist_ok=True)
    return root


def remove_orphans(root: Path | None = None) -> None:
    """Task folders of Dask worker processes that died mid-task (killed, out of memory): each is
    named after the process that made it, and that process would have removed it. Without this,
    every killed worker leaves a student's notebook on the machine for good."""
    from .sandbox import process_running

    root = _task_root() if root is None else root
    for folder in root.iterdir():
        pid = folder.name.split("-", 1)[0]
        if pid.isdigit() and not process_running(pid):
            shutil.rmtree(folder, ignore_errors=True)


def _relocate(value: Any, old: str, new: str) -> Any:
    """The result with the worker's temporary paths replaced by the driver's (messages name files)."""
    if isinstance(value, str):
        return value.replace(old, new)
    if isinstance(value, list):
        return [_relocate(item, old, new) for item in value]
    if isinstance(value, dict):
        return {key: _relocate(item, old, new) for key, item in value.items()}
    return value


def _say_started() -> None:
    """Tell the driver (through the scheduler's event log) that this task now runs."""
    try:
        from distributed import get_worker

        worker = get_worker()
        worker.log_event(STARTED_TOPIC, {"key": str(worker.get_current_task())})
    except Exception:  # noqa: BLE001  not on a Dask worker (called directly): nobody to tell
        pass


def grade_parcel(parcel: Parcel) -> dict:
    """The Dask task: grade one notebook here, return its JSON result (or a refusal)."""
    from .pipeline import grade_notebook

    _say_started()

    mine = dict(environment(parcel.config))
    differing = [name for name, value in parcel.environment if mine.get(name) != value]
    if differing:
        return {"refused": f"Dask worker on {socket.gethostname()} grades with a different "
                           f"{', '.join(differing)} than the driver: install the same grader version, solutions "
                           f"and numpy on every worker (the same checkout's wheel, with its [dask] extra), then rerun"}
    root = _task_root()
    remove_orphans(root)
    with tempfile.TemporaryDirectory(dir=root, prefix=f"{os.getpid()}-") as folder:
        path = Path(folder) / parcel.name
        path.write_bytes(parcel.notebook)
        for name, content in parcel.helpers:
            (Path(folder) / name).write_bytes(content)
        config = parcel.config.with_changes(hide_paths=(*parcel.config.hide_paths, str(root)),
                                            folder_is_own=parcel.folder_is_own,
                                            remember_answers=True)  # a Dask worker grades notebook after notebook
        result = grade_notebook(path, config).to_json()
    original = Path(parcel.original)
    return _relocate(_relocate(result, str(path), str(original)), folder, str(original.parent))


# --- on the driver --------------------------------------------------------------------------

@functools.lru_cache(maxsize=1)
def _helper_names() -> frozenset[str]:
    from .course import ASSIGNMENTS

    return frozenset(name for spec in ASSIGNMENTS.values() for name in spec.helpers
                     if name.endswith(".py") and "/" not in name)


def make_parcel(entry: Entry, config: GradeConfig, environment_: tuple[tuple[str, str], ...]) -> Parcel | None:
    """The notebook as bytes, or None when the driver should grade it itself (not a regular file,
    unreadable, too large, an odd name): those fail fast, with the local batch's exact message."""
    path = entry.path
    name = path.name
    try:
        if name in ("", ".", "..") or path.is_symlink() or not path.is_file() \
                or path.stat().st_size > config.max_notebook_mb * 1024 * 1024:
            return None
        content = path.read_bytes()
    except OSError:
        return None
    own_folder = folder_is_own(path)
    helpers = []
    for helper in sorted(_helper_names()):
        # The module beside the notebook, sent even from a shared folder (the worker then leaves it out and
        # notes it, as a local batch does), and the one an LMS named with the student's id, sent under
        # that name: the worker's folder then holds what the local batch's rule (module_beside) reads.
        for beside in sorted({path.parent / helper, module_beside(path, helper, own_folder)[0]}):
            try:
                if beside.is_file() and not beside.is_symlink():
                    helpers.append((beside.name, module_bytes(beside)))
            except OSError:
                continue
    return Parcel(name, content, tuple(helpers), own_folder, str(path), config, environment_)


class Received:
    """A result graded on a Dask worker: its JSON exactly as the worker's grader wrote it (so the file
    on disk is the local batch's, whatever fields the schema gains), and for everything else the
    NotebookResult read back from it (which also checks its structure)."""

    def __init__(self, data: dict) -> None:
        self._data, self._parsed = data, as_result(data)

    def to_json(self) -> dict:
        return dict(self._data)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._parsed, name)


def _crashed(entry: Entry, reason: str) -> NotebookResult:
    return NotebookResult(str(entry.path), None, None, error=f"crashed: {reason}")


def parse_scheduler(text: str) -> int | str:
    """``local:N`` -> N workers on this machine; anything else is a scheduler address."""
    if text.startswith("local:"):
        try:
            count = int(text[len("local:"):])
        except ValueError:
            count = 0
        if count < 1:
            raise UsageError(f"--scheduler {text}: write local:N with N the number of workers, e.g. local:4")
        return count
    if text == "local":
        return os.cpu_count() or 1
    return text


class _TaskTimes:
    """When each running task was assigned to a Dask worker (seen by the driver's polls) and when its
    worker began it (its STARTED_TOPIC event, received on the client's own thread)."""

    def __init__(self) -> None:
        self.assigned: dict[str, float] = {}
        self.started: dict[str, float] = {}

    def began(self, event: Any) -> None:
        message = event[1] if isinstance(event, (tuple, list)) and len(event) == 2 else None  # (time, message)
        key = message.get("key") if isinstance(message, dict) else None
        if isinstance(key, str):
            self.started[key] = time.monotonic()  # a retry elsewhere begins again: the latest counts

    def forget(self, key: str) -> None:
        self.assigned.pop(key, None)
        self.started.pop(key, None)


class DaskRunner:
    """Grades the pending entries of a batch on a Dask cluster (a ``grade_batch`` runner)."""

    def __init__(self, scheduler: Any, *, retries: int = RETRIES, margin: float = DEADLINE_MARGIN) -> None:
        """``scheduler``: "tcp://host:port", "local:N", or an existing ``distributed.Client``."""
        if isinstance(scheduler, str):
            parse_scheduler(scheduler)  # a mistyped local:N is refused before anything starts
        self.scheduler, self.retries, self.margin = scheduler, retries, margin

    def _connect(self) -> tuple[Any, Callable[[], None]]:
        try:
            import distributed
        except ImportError:
            raise UsageError(INSTALL_HINT) from None
        if isinstance(self.scheduler, distributed.Client):
            return self.scheduler, lambda: None
        target = parse_scheduler(str(self.scheduler))
        if isinstance(target, int):
            # Processes, one thread each: a task's grading is CPU-bound Python in the Dask worker.
            cluster = distributed.LocalCluster(n_workers=target, threads_per_worker=1, processes=True,
                                               dashboard_address="127.0.0.1:0")
            client = distributed.Client(cluster)

            def close() -> None:
                client.close()
                cluster.close()
                # Its workers are gone (after Ctrl-C, mid-task): what they held is on this machine.
                with contextlib.suppress(OSError):
                    remove_orphans()

            return client, close
        try:
            client = distributed.Client(target, timeout="20s")
        except (OSError, TimeoutError) as error:
            raise UsageError(f"cannot reach the Dask scheduler at {target} ({error}); start one with "
                             f"`dask scheduler` and workers with `dask worker {target}`") from None
        return client, client.close

    def __call__(self, pending: list[tuple[Entry, str]], config: GradeConfig, others: list[str],
                 finished: Finished, on_event: OnEvent) -> list[str]:
        client, close = self._connect()
        try:
            return self._run(client, pending, config, others, finished, on_event)
        finally:
            close()

    def _run(self, client: Any, pending: list[tuple[Entry, str]], config: GradeConfig, others: list[str],
             finished: Finished, on_event: OnEvent) -> list[str]:
        from distributed import wait
        from distributed.client import FutureCancelledError
        from distributed.scheduler import KilledWorker

        from .pipeline import grade_notebook

        config = config.with_changes(hide_paths=config.hide_paths + tuple(others))
        ours = environment(config)
        print_ = fingerprint(config)
        problems = self._check_workers(client, config, ours)
        deadline = config.notebook_timeout + self.margin
        waiting = collections.deque(pending)
        running: dict[Any, tuple[Entry, str]] = {}
        times = _TaskTimes()
        client.subscribe_topic(STARTED_TOPIC, times.began)
        announced: set[str] = set()

        def done_with(entry: Entry, digest: str, result: NotebookResult | None) -> None:
            if on_event and entry.student not in announced:
                announced.add(entry.student)
                on_event("started", entry)
            if result is not None:
                finished(entry, digest, result)

        try:
            while waiting or running:
                # A bounded window: a class of thousands does not sit in memory as bytes at once.
                window = max(8, 4 * sum(client.nthreads().values()))
                while waiting and len(running) < window:
                    entry, digest = waiting.popleft()
                    parcel = make_parcel(entry, config, ours)
                    if parcel is None:
                        own = folder_is_own(entry.path)
                        done_with(entry, digest, grade_notebook(entry.path, config.with_changes(folder_is_own=own)))
                        continue
                    key = f"grade-{entry.student}-{digest[:16]}-{print_}"
                    running[client.submit(grade_parcel, parcel, key=key, retries=self.retries, pure=False)] = \
                        (entry, digest)
                if not running:
                    continue
                try:
                    done, _ = wait(list(running), timeout=POLL_SECONDS, return_when="FIRST_COMPLETED")
                except TimeoutError:
                    done = set()
                for future in done:
                    entry, digest = running.pop(future)
                    times.forget(future.key)
                    try:
                        data = future.result()
                        if "refused" in data:
                            problems.append(f"{entry.student}: not graded: {data['refused']}")
                            done_with(entry, digest, None)
                            if on_event:
                                on_event("failed", entry)
                            continue
                        # Read like a NotebookResult (its attributes), written as the worker's JSON.
                        result = cast(NotebookResult, Received(data))
                    except KilledWorker as error:
                        result = _crashed(entry, f"the Dask worker died while grading it, on every attempt ({error})")
                    except FutureCancelledError:
                        result = _crashed(entry, "the Dask task was cancelled (scheduler restarted?)")
                    except Exception as error:  # a grader bug on the worker must not lose the batch
                        result = _crashed(entry, f"internal grader error on the Dask worker: {error!r}")
                    done_with(entry, digest, result)
                self._watch(client, running, times, announced, deadline, on_event, done_with)
        except KeyboardInterrupt:
            client.cancel(list(running))
            raise
        finally:
            with contextlib.suppress(Exception):
                client.unsubscribe_topic(STARTED_TOPIC)
        try:  # what workers that died mid-task left on their machines (a task's start sweeps too)
            client.run(remove_orphans)
        except Exception:  # noqa: BLE001  best effort: the grades are written already
            pass
        return problems

    def _watch(self, client: Any, running: dict, times: "_TaskTimes", announced: set[str], deadline: float,
               on_event: OnEvent, done_with: Callable) -> None:
        """Progress (which tasks a worker runs) and the per-task deadline. A task has ``deadline``
        seconds from when its worker began it; one assigned to a worker that never begins it (the
        worker's threads held by a notebook that hung) is given up after twice that, counted from
        its assignment: a task queued behind one that ran its whole time still starts well before."""
        processing = {key for keys in client.processing().values() for key in keys}
        now = time.monotonic()
        for future, (entry, digest) in list(running.items()):
            key = future.key
            if key not in processing:
                times.forget(key)  # queued, or back in the queue after its worker died
                continue
            assigned = times.assigned.setdefault(key, now)
            began = times.started.get(key)
            if began is not None and on_event and entry.student not in announced:
                announced.add(entry.student)
                on_event("started", entry)
            if began is not None and now - began > deadline:
                reason = f"no answer from the Dask worker within {deadline:.0f} s of starting it"
            elif began is None and now - assigned > 2 * deadline:
                reason = (f"its Dask worker did not start it within {2 * deadline:.0f} s (busy with a notebook "
                          f"that hung?): rerun the batch to grade it")
            else:
                continue
            client.cancel([future])
            running.pop(future)
            times.forget(key)
            done_with(entry, digest, _crashed(entry, reason))

    @staticmethod
    def _check_workers(client: Any, config: GradeConfig, ours: tuple[tuple[str, str], ...]) -> list[str]:
        """Refuse the batch up front when a connected worker would grade differently."""
        try:
            theirs = client.run(environment, config)
        except Exception as error:  # the per-task check still protects the grades
            return [f"could not check the Dask workers' grader versions ({error!r})"]
        wrong = {}
        for address, reported in theirs.items():
            reported = tuple(tuple(pair) for pair in reported)  # the wire may turn tuples into lists
            if reported != ours:
                wrong[address] = [name for (name, mine), pair in zip(ours, reported) if pair != (name, mine)]
        if wrong:
            details = "; ".join(f"{address}: {', '.join(names)}" for address, names in sorted(wrong.items()))
            raise UsageError(f"Dask workers grade with a different grader than this one ({details}): install the "
                             f"same grader version, solutions and numpy everywhere (the same checkout's wheel, with its [dask] extra)")
        return []
