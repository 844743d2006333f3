"""The kernel engine's driver: the only process that talks to the IPython kernel (``--engine kernel``).

    python -I -B kernel_driver.py CONFIG_JSON

kernel_engine.KernelWorker starts it in place of worker.py, and it speaks the worker's protocol on
the two pipes it is given, so the grader treats a kernel exactly like a worker: same deadlines per
cell, per call and per notebook, same kill of the process group and of the private user id.

    ready -> once the locked-down kernel (kernel_boot.py) answers
    load  -> each cell runs through nbclient; cell_start / cell_done go back as the worker sends
             them; then the kernel starts the worker's serve loop on two named pipes, and from
             then on the driver relays bytes between those pipes and the grader's.

Why a process of its own: everything the kernel sends over ZeroMQ (outputs, replies, anything a
student writes to its sockets) is under the student's control. It lands here, in a process with
its own memory and CPU limits that keeps a few capped outputs and drops the rest; the grader never
holds a socket to the kernel. The driver polls the kernel: when it dies (exit, signal, rlimit),
the driver writes how to ``kernel.status`` and exits, so the grader sees its pipe close at once.
"""
import asyncio
import importlib
import importlib.util
import json
import os
import re
import resource
import select
import signal
import stat
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import wire  # noqa: E402  (a sibling file, as for the worker)
del sys.path[0]

KERNEL_BOOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "kernel_boot.py")
STATUS_FILE = "kernel.status"
NOTES_FILE = ".grader-lockdown.json"
_ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")
#: ZeroMQ bounds on what the kernel can make the driver hold: one frame of a message (larger ones
#: cut the connection, which ZeroMQ re-opens), and messages queued before the driver reads them.
MAX_FRAME_BYTES = 16 * 1024 * 1024
QUEUED_MESSAGES = 64
#: Outputs kept per cell (their text is capped at the worker's output cap, all together).
MAX_OUTPUTS = 100
#: How often the driver looks whether the kernel still lives.
POLL_SECONDS = 0.1
#: Bytes in flight in each direction of the relay before the driver stops reading that side.
RELAY_BUFFER = 4 * 1024 * 1024


def limit_self(config):
    """The driver's own limits: whatever the kernel sends, it can only cost this process.

    Soft limits (the driver never raises them): the kernel inherits them and sets its own, which a
    hard limit here would cap after its switch of user id."""
    for name, value in config.get("limits", {}).items():
        which = getattr(resource, name)
        try:
            resource.setrlimit(which, (value, resource.getrlimit(which)[1]))
        except (ValueError, OSError):  # pragma: no cover - a limit the platform refuses
            pass


def send(fd, header):
    wire.write_frame(fd, header)


def receive(fd, reader):
    header, blobs = wire.read_frame_blocking(fd, reader)
    if "payload" in header:
        header["payload"] = wire.decode(header["payload"], blobs)
    return header


def exit_description(code):
    """How a process ended, in the words Worker._death_note uses for workers."""
    if code is None:
        return "the kernel stopped answering"
    if code < 0:
        try:
            name = signal.Signals(-code).name
        except ValueError:
            name = "signal %d" % -code
        if name == "SIGXCPU":
            return "the CPU time limit was reached"
        if name == "SIGKILL":
            return "the process was killed (SIGKILL: often the memory limit)"
        return "the process crashed (%s)" % name
    return "the kernel exited (exit status %d)" % code


class Kernel:
    """The kernel process: started locked down, watched, killed with everything it started."""

    def __init__(self, config):
        import zmq.asyncio
        from jupyter_client.kernelspec import KernelSpec, KernelSpecManager
        from jupyter_client.manager import AsyncKernelManager

        self.config = config
        self.workdir = config["workdir"]
        boot = [sys.executable, "-I", "-B", KERNEL_BOOT, json.dumps(config["kernel"])]

        class OneSpec(KernelSpecManager):
            """Our kernel only: the stock lookup imports ipykernel here, which costs half a second."""

            def get_kernel_spec(self, kernel_name):
                return KernelSpec(argv=boot, display_name="grader", language="python")

        class Sandboxed(AsyncKernelManager):
            def format_kernel_cmd(self, extra_arguments=None):  # jupyter_client hook
                return [*boot, "-f", self.connection_file]

        context = zmq.asyncio.Context()
        # Defaults for every socket the client opens: bounded frames, bounded queues.
        context.setsockopt(zmq.MAXMSGSIZE, MAX_FRAME_BYTES)
        context.setsockopt(zmq.RCVHWM, QUEUED_MESSAGES)
        self.context = context
        self.manager = Sandboxed(transport="ipc", ip=os.path.join(self.workdir, "ipc"), context=context,
                                 connection_file=os.path.join(self.workdir, "kernel.json"),
                                 kernel_spec_manager=OneSpec())
        self.process = None
        self.client = None

    async def start(self):
        self.manager.write_connection_file()
        self._give(self.manager.connection_file)
        env = dict(self.config["env"])
        await self.manager.start_kernel(cwd=self.workdir, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                        env=env)
        self.process = self.manager.provisioner.process
        self.client = self.manager.client(context=self.context)
        self.client.start_channels(stdin=False)  # input() raises at once, as in the worker
        for name in ("nbformat", "nbclient"):  # imported while the kernel boots: the two overlap
            importlib.import_module(name)
        await self.client.wait_for_ready(timeout=60)

    def lockdown_notes(self):
        """What kernel_boot.py could not lock down; read once the kernel is ready, before any cell."""
        path = os.path.join(self.workdir, NOTES_FILE)
        try:
            with open(path, "rb") as handle:
                notes = json.loads(handle.read(64 * 1024))
            os.unlink(path)
        except (OSError, ValueError):
            return []
        return [str(note)[:300] for note in notes[:20]] if isinstance(notes, list) else []

    def _give(self, path):
        uid = self.config["kernel"].get("uid")
        if uid is not None:
            os.chown(path, uid, uid)

    def exit_code(self):
        return None if self.process is None else self.process.poll()

    def record_death(self, reason=None):
        """Tell the grader how the kernel ended: a file in the grader's own log folder, which the
        kernel can neither see nor forge."""
        path = os.path.join(self.config["logdir"], STATUS_FILE)
        with open(path + ".tmp", "w") as handle:
            handle.write(reason or exit_description(self.exit_code()))
        os.replace(path + ".tmp", path)

    def kill(self):
        """The kernel's whole process group (it runs in a session of its own)."""
        if self.process is None:
            return
        try:
            os.killpg(self.process.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
        try:
            self.process.wait(timeout=5)
        except (subprocess.TimeoutExpired, OSError):  # pragma: no cover
            pass

    def make_fifos(self):
        return make_fifos(self.workdir, self.config["kernel"].get("uid"))


FIFO_NAMES = ("requests.fifo", "responses.fifo")


def make_fifos(folder, uid=None):
    """The two named pipes the kernel's serve loop uses, made and opened before the kernel starts:
    ``folder`` is the kernel's working folder, which student code can write, so the driver never
    makes or opens a path there once a cell has run (a planted ``requests.fifo`` crashed it; a
    link could have pointed it anywhere). Returns (paths, fds); the fds are the driver's ends,
    O_RDWR so that opening never blocks, whichever side comes first. A student who later removes or
    replaces a path only cuts its own kernel off: the driver's ends stay on the pipes made here."""
    paths, fds = [], []
    for name in FIFO_NAMES:
        path = os.path.join(folder, name)
        os.mkfifo(path, 0o600)  # fails on anything already there, a link included (never followed)
        fd = os.open(path, os.O_RDWR | os.O_NOFOLLOW | os.O_CLOEXEC)
        if not stat.S_ISFIFO(os.fstat(fd).st_mode):  # pragma: no cover (made just above)
            os.close(fd)
            raise OSError("%s is not the pipe the driver made" % path)
        if uid is not None:
            os.fchown(fd, uid, uid)  # the kernel's user opens it by path; fchown: no path followed
        paths.append(path)
        fds.append(fd)
    return tuple(paths), tuple(fds)


def capped_client_class():
    """nbclient's NotebookClient, keeping at most ``output_cap`` characters of output per cell and
    dropping every other message type (comms, display updates): memory stays bounded."""
    from nbclient import NotebookClient
    from nbclient.exceptions import CellExecutionComplete
    from nbformat import NotebookNode

    class CappedClient(NotebookClient):
        output_cap = 20_000

        def process_message(self, msg, cell, cell_index):
            msg_type = msg.get("msg_type") or msg.get("header", {}).get("msg_type")
            content = msg.get("content") or {}
            if msg_type == "status" and content.get("execution_state") == "idle":
                raise CellExecutionComplete()
            if msg_type == "stream":
                text = str(content.get("text", ""))
            elif msg_type in ("execute_result", "display_data"):
                data = content.get("data") if isinstance(content.get("data"), dict) else {}
                text = str(data.get("text/plain", ""))
            elif msg_type == "error":
                text = "\n".join(str(line) for line in content.get("traceback", [])[:200])
            else:
                return None
            kept = sum(len(output.get("text", "")) for output in cell.outputs)
            room = self.output_cap - kept
            if room <= 0 or not text or len(cell.outputs) >= MAX_OUTPUTS:  # empty ones count too
                return None
            output = NotebookNode(output_type="stream", name=msg_type, text=text[:room])
            cell.outputs.append(output)
            return output

    return CappedClient


def error_report(content):
    """The worker's error dict, from an execute_reply in error (whose text the student controls)."""
    ename = str(content.get("ename", "Error"))[:80]
    lines = content.get("traceback") if isinstance(content.get("traceback"), list) else []
    trace = _ANSI.sub("", "\n".join(str(line)[:5000] for line in lines[-50:]))[-1500:]
    evalue = str(content.get("evalue", ""))[:500]
    return {"type": "SyntaxError" if ename in ("SyntaxError", "IndentationError") else ename,
            "message": evalue, "traceback": trace or "%s: %s" % (ename, evalue), "where": ""}


async def run_cells(kernel, request, req_fd, resp_fd, output_cap, kernel_out=None):
    """Run the cells one by one. None when all ran, else why the kernel's run ended."""
    import nbformat

    cells = request["payload"]["value"]
    notebook = nbformat.v4.new_notebook()
    notebook.cells = [nbformat.v4.new_code_cell(str(cell["source"])) for cell in cells]
    errors = {}

    def on_cell_error(cell, cell_index, execute_reply):
        errors[cell_index] = error_report(execute_reply.get("content") or {})

    client = capped_client_class()(notebook, km=kernel.manager, timeout=None, allow_errors=True,
                                   kernel_name="python3", on_cell_error=on_cell_error)
    client.output_cap = output_cap
    client.kc = kernel.client
    for position, cell in enumerate(cells):
        send(resp_fd, {"op": "cell_start", "index": cell["index"]})
        task = asyncio.ensure_future(client.async_execute_cell(notebook.cells[position], position))
        # The grader enforces every time limit; the driver only watches for the kernel's death,
        # more often than nbclient (once a second) and whatever nbclient is waiting for.
        while not task.done():
            await asyncio.wait({task}, timeout=POLL_SECONDS)
            if not task.done() and kernel.exit_code() is not None:
                task.cancel()
                await asyncio.wait({task}, timeout=1)
                break
            if grader_gone(req_fd):
                raise EOFError("the grader went away")
        # Anything but a normal end (the kernel died, or it sent what nbclient cannot take) ends
        # the kernel's run here: the grader reports this cell as having crashed it.
        if kernel.exit_code() is not None:
            return exit_description(kernel.exit_code())
        if not task.done() or task.cancelled():
            return "the kernel stopped answering"
        if task.exception() is not None:
            return "the kernel sent what nbclient could not process (%s)" % type(task.exception()).__name__
        notebook.cells[position].outputs = []  # nothing is kept between cells
        done = {"op": "cell_done", "index": cell["index"], "error": errors.pop(position, None)}
        if kernel_out is not None and _discard(kernel_out):
            done["wrote_channel"] = True  # the grader leaves the cell out; what it wrote never reaches it
        send(resp_fd, done)
    return None


def relay(kernel, grader_in, grader_out, kernel_in, kernel_out):
    """Copy bytes both ways until the kernel dies (True) or the grader closes its pipe (False).

    Non-blocking on every side, so a kernel that stops reading cannot keep the driver from
    noticing its death; each direction holds at most RELAY_BUFFER bytes."""
    for fd in (grader_in, grader_out, kernel_in, kernel_out):
        os.set_blocking(fd, False)
    to_kernel, to_grader = bytearray(), bytearray()
    while True:
        if kernel.exit_code() is not None:
            _drain(kernel_out, to_grader)
            os.set_blocking(grader_out, True)
            try:
                os.write(grader_out, bytes(to_grader))
            except OSError:
                pass
            return True
        readers = [fd for fd, pending in ((grader_in, to_kernel), (kernel_out, to_grader)) if len(pending) < RELAY_BUFFER]
        writers = [fd for fd, pending in ((kernel_in, to_kernel), (grader_out, to_grader)) if pending]
        readable, writable, _ = select.select(readers, writers, [], POLL_SECONDS)
        for fd in readable:
            try:
                data = os.read(fd, 1 << 16)
            except BlockingIOError:
                continue
            if fd == grader_in:
                if not data:
                    return False
                to_kernel += data
            else:
                to_grader += data
        for fd in writable:
            pending = to_kernel if fd == kernel_in else to_grader
            try:
                written = os.write(fd, pending)
            except BlockingIOError:
                continue
            except BrokenPipeError:
                return False
            del pending[:written]


def _discard(fd):
    """Whether the kernel wrote to its answer pipe while a cell ran, emptying it. Nothing but the
    serve loop, started after the last cell, may write there: bytes now are the cell's own, which
    would reach the grader as the worker's messages. Bounded: a cell writing on meanwhile is caught
    by the next look, or by the grader's order of messages."""
    os.set_blocking(fd, False)
    written = bytearray()
    _drain(fd, written)  # at most RELAY_BUFFER bytes, then dropped
    os.set_blocking(fd, True)
    return bool(written)


def grader_gone(fd):
    """The grader sends nothing while cells run: a readable request pipe means it was closed."""
    readable, _, _ = select.select([fd], [], [], 0)
    return bool(readable)


def _drain(fd, into):
    """What the kernel wrote just before it died (a last complete answer, perhaps)."""
    while len(into) < RELAY_BUFFER:
        try:
            data = os.read(fd, 1 << 16)
        except (BlockingIOError, OSError):
            return
        if not data:
            return
        into += data


async def drive(config):
    req_fd, resp_fd = config["req_fd"], config["resp_fd"]
    kernel = Kernel(config)
    try:
        # Before the kernel starts, so before any student code: see make_fifos.
        (request_path, response_path), (kernel_in, kernel_out) = kernel.make_fifos()
        await kernel.start()
        send(resp_fd, {"op": "ready", "notes": kernel.lockdown_notes(), "pid": os.getpid(),
                       "kernel_pid": kernel.process.pid})
        reader = wire.FrameReader()
        request = receive(req_fd, reader)
        if request.get("op") != "load":
            return
        ended = await run_cells(kernel, request, req_fd, resp_fd, int(config.get("output_cap", 20_000)), kernel_out)
        if ended is not None:
            kernel.record_death(ended)
            return
        kernel.client.execute("import sys as _s; _s.modules['grader_worker'].serve_fifos(%r, %r, get_ipython().user_ns)"
                              % (request_path, response_path), store_history=False)
        # The worker's describe step, then the kernel answers whatever the grader asks.
        wire.write_frame(kernel_in, {"op": "describe", "names": list(request.get("names", []))})
        if relay(kernel, req_fd, resp_fd, kernel_in, kernel_out):
            kernel.record_death()
    finally:
        if kernel.exit_code() is not None and not os.path.exists(os.path.join(config["logdir"], STATUS_FILE)):
            kernel.record_death()
        kernel.kill()


def clean_up_for_the_grader(config):
    """The grader was killed before it could close us: remove what it would have removed (the
    kernel's processes of its private user id, its folder, a tmpfs when the grader runs as root, its
    log folder and memory cgroup), as the zygote does for a worker, with the worker's own code.
    Runs after the kernel's process group is killed."""
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    try:
        import worker  # a sibling file, as wire is (numpy with it: only on this rare path)
    finally:
        del sys.path[0]
    kernel = config.get("kernel", {})
    uid = kernel.get("uid")
    worker.kill_user_ids({uid} if type(uid) is int else set())
    worker.remove_folders([folder for folder in (config.get("workdir"), config.get("logdir"), kernel.get("cgroup"))
                           if isinstance(folder, str) and folder])


def main():
    config = json.loads(sys.argv[1])
    grader = os.getppid()
    limit_self(config)
    missing = [name for name in ("ipykernel", "nbclient", "jupyter_client", "zmq") if importlib.util.find_spec(name) is None]
    if missing:  # the grader shows this last line: say what to install
        sys.stderr.write("the kernel engine needs %s: pip install 'rnn-grader[kernel]' (or use --engine worker)\n"
                         % ", ".join(missing))
        sys.stderr.flush()
        os._exit(2)
    try:
        asyncio.run(drive(config))
    except MemoryError:
        sys.stderr.write("the kernel sent more than the grader keeps for it (the driver's memory limit)\n")
        sys.stderr.flush()
        os._exit(3)
    except (EOFError, BrokenPipeError):  # the grader went away
        pass
    finally:
        if os.getppid() != grader:  # the grader is gone (killed): nobody else will clean up
            try:
                clean_up_for_the_grader(config)
            except Exception:  # noqa: BLE001  best effort, never a traceback instead of an exit
                pass
    os._exit(0)


if __name__ == "__main__":
    main()
