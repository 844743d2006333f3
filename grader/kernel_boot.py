"""Start an IPython kernel that has locked itself in first (the ``--engine kernel`` worker).

    python -I kernel_boot.py CONFIG_JSON -f CONNECTION_FILE

It loads worker.py (as module ``grader_worker``), applies the same lock-down as the default
worker (limits, namespaces, private user id), then hands over to ipykernel. kernel_driver.py,
its parent, later runs ``grader_worker.serve_fifos(...)`` inside the kernel to call the graded
functions.

Two things differ from a stock kernel, both to keep output bounded at its source: printed output
is cut at the worker's cap per cell (the rest is counted, not sent), and output written straight
to file descriptors 1 and 2 is not forwarded (it goes to /dev/null). The driver bounds what a
student sends past these anyway; this keeps honest floods from costing anything.
"""
import ctypes
import importlib.util
import io
import json
import os
import signal
import sys

config = json.loads(sys.argv[1])
arguments = sys.argv[2:]
spec = importlib.util.spec_from_file_location("grader_worker", os.path.join(os.path.dirname(os.path.abspath(__file__)), "worker.py"))
worker = importlib.util.module_from_spec(spec)
sys.modules["grader_worker"] = worker
spec.loader.exec_module(worker)

from ipykernel.kernelapp import IPKernelApp  # noqa: E402  (imported while its files are surely readable)

PR_SET_PDEATHSIG = 1


class CappedStream(io.TextIOBase):
    """Wraps ipykernel's stdout/stderr stream: passes on at most ``cap`` characters per cell."""

    def __init__(self, stream, cap):
        self._stream, self._cap = stream, cap
        self.room, self.dropped = cap, 0

    def writable(self):
        return True

    def write(self, text):
        text = str(text)
        if self.room > 0:
            self._stream.write(text[:self.room])
        self.dropped += max(0, len(text) - max(self.room, 0))
        self.room -= len(text)
        return len(text)

    def flush(self):
        self._stream.flush()

    def new_cell(self, *args):
        self.room, self.dropped = self._cap, 0

    def end_cell(self, *args):
        if self.dropped:
            self._stream.write("\n[... %d more characters of output cut]\n" % self.dropped)
            self.dropped = 0

    def __getattr__(self, name):  # fileno, encoding, isatty... as the real stream
        return getattr(self._stream, name)


def die_with_parent():
    """If the driver dies (even by SIGKILL), so does the kernel. Set after the switch of user id,
    which clears it."""
    try:
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
    except (OSError, AttributeError):  # pragma: no cover - not Linux
        return
    if os.getppid() == 1:  # the driver was already gone
        os._exit(1)


worker.configure(config, -1, -1)
notes = worker.lock_down()
die_with_parent()
# What the lock-down could not do, for the grader's report: the driver reads this before any
# student code runs in the kernel (NOTES_FILE in kernel_driver.py).
with open(os.path.join(config["workdir"], ".grader-lockdown.json"), "w") as handle:
    json.dump([str(note)[:300] for note in notes[:20]], handle)
app = IPKernelApp.instance(capture_fd_output=False)
app.initialize(arguments)
for name in ("stdout", "stderr"):
    stream = CappedStream(getattr(sys, name), worker.OUTPUT_CAP)
    setattr(sys, name, stream)
    app.shell.events.register("pre_run_cell", stream.new_cell)
    app.shell.events.register("post_run_cell", stream.end_cell)
app.start()
