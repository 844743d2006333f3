"""Benchmark: the wire format (grader/wire.py) per frame, a baseline beside this checkout's in one run.

    python bench/wire.py [--before REV] [--repeat 15]

The baseline is ``grader/wire.py`` as of REV (default: the commit before the compact format, f3d44c3~1;
``--before HEAD`` measures uncommitted changes), loaded from ``git show`` into a module of its own.
Both are loaded as plain files, the way the worker imports wire.py.

Frames are the ones grading an RNN notebook sends by the hundred (shapes of its published cases:
n_x=3, n_a=5, n_y=2, m=10): a stand-in's dependency call with its arguments (worker -> grader), the
reference's answer with its cache and the arguments' state after the call (grader -> worker), and a
graded function's result with its caches (worker -> grader), and the reference's answer of
Dinosaur Island's rnn_backward (n_a=100, 27 characters: ~420 KB, more than a pipe holds). For each,
the CPU time of

  encode   wire.encode + wire.pack (what the sending side pays)
  decode   FrameReader.feed + next_frame + wire.decode (what the receiving side pays)
  pipe     both through an OS pipe: encode, write_frame, read_frame_blocking, decode (one process)

A notebook of ``rnn_step_by_step`` sends ~117 frames each way, ~2,000 arrays in all.
"""
from __future__ import annotations

import argparse
import importlib.util
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from types import ModuleType
from typing import Callable

import numpy as np

ROOT = Path(__file__).resolve().parent.parent


def load(name: str, path: Path) -> ModuleType:
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # dataclasses look their module up
    spec.loader.exec_module(module)
    return module


def load_revision(revision: str, folder: Path) -> ModuleType:
    source = subprocess.run(["git", "show", f"{revision}:grader/wire.py"], cwd=ROOT, check=True,
                            capture_output=True).stdout
    path = folder / "wire_before.py"
    path.write_bytes(source)
    return load("wire_before", path)


def frames() -> dict[str, dict]:
    rng = np.random.default_rng(1)
    n_x, n_a, n_y, m, t_x = 3, 5, 2, 10, 4

    def draw(*shape: int) -> np.ndarray:
        return rng.standard_normal(shape)

    def parameters() -> dict:
        return {"Waa": draw(n_a, n_a), "Wax": draw(n_a, n_x), "Wya": draw(n_y, n_a), "ba": draw(n_a, 1),
                "by": draw(n_y, 1)}

    xt, a_prev, params = draw(n_x, m), draw(n_a, m), parameters()
    a_next, yt = np.tanh(draw(n_a, m)), draw(n_y, m)
    x, a0 = draw(n_x, m, t_x), draw(n_a, m)
    caches = [(draw(n_a, m), draw(n_a, m), x[:, :, t].copy(), params) for t in range(t_x)]
    dino_a, vocab, steps = 100, 27, 12  # Dinosaur Island's character model: a name of 12 letters
    dino = {"Wax": draw(dino_a, vocab), "Waa": draw(dino_a, dino_a), "Wya": draw(vocab, dino_a),
            "b": draw(dino_a, 1), "by": draw(vocab, 1)}
    gradients = {"d" + key: value for key, value in dino.items()} | {"da_next": draw(dino_a, 1)}
    states = {t: draw(dino_a, 1) for t in range(-1, steps)}
    return {
        "dep call rnn_cell_forward (5 arrays)": {"value": [[xt, a_prev, params], {}], "extra": None},
        "dep answer with cache (15 arrays)": {"value": (a_next, yt, (a_next, a_prev, xt, params)),
                                              "extra": [xt, a_prev, params]},
        "result rnn_forward (43 arrays)": {"value": (draw(n_a, m, t_x), draw(n_y, m, t_x), (caches, x)),
                                           "extra": {"args_after": [x, a0, params], "output": "",
                                                     "mutated": [], "seconds": 0.0012}},
        "dep answer rnn_backward, Dinosaur Island": {
            "value": (gradients, states),
            "extra": [list(range(steps)), list(range(1, steps + 1)), dino, (states, states, states, dino)]},
    }


def encode_side(wire: ModuleType, value: object) -> bytes:
    tree, blobs = wire.encode(value)
    return wire.pack({"op": "result", "nonce": "0123456789abcdef", "payload": tree}, blobs)


def decode_side(wire: ModuleType, data: bytes) -> object:
    """Fed 64 KiB at a time, as reads of a pipe come."""
    reader = wire.FrameReader()
    for start in range(0, len(data), 1 << 16):
        reader.feed(data[start:start + (1 << 16)])
    header, blobs = reader.next_frame()
    return wire.decode(header["payload"], blobs)


def through_pipe(wire: ModuleType, value: object, pipe: tuple[int, int]) -> object:
    """Both sides at once, the way the grader and its worker talk: encode, write to a pipe, read, decode.
    (One process: only for frames that fit in the pipe's 64 KiB.)"""
    tree, blobs = wire.encode(value)
    wire.write_frame(pipe[1], {"op": "result", "nonce": "0123456789abcdef", "payload": tree}, blobs)
    header, blobs = wire.read_frame_blocking(pipe[0], wire.FrameReader())
    return wire.decode(header["payload"], blobs)


def per_call(actions: dict[str, Callable[[], object]], repeat: int, budget: float = 0.03) -> dict[str, float]:
    """CPU seconds of one call of each action: the best of ``repeat`` rounds, the actions taking turns
    in each round (so that both see the same machine), each round as many calls as fit in ``budget``."""
    calls = {}
    for label, action in actions.items():
        started, calls[label] = time.process_time(), 0
        while time.process_time() - started < budget:
            action()
            calls[label] += 1
    best = dict.fromkeys(actions, float("inf"))
    for _ in range(repeat):
        for label, action in actions.items():
            started = time.process_time()
            for _ in range(calls[label]):
                action()
            best[label] = min(best[label], (time.process_time() - started) / calls[label])
    return best


def same(a: object, b: object) -> bool:
    if type(b) is np.ndarray:
        return type(a) is np.ndarray and a.dtype == b.dtype and a.shape == b.shape and np.array_equal(a, b)
    if type(b) in (list, tuple):
        return type(a) is type(b) and len(a) == len(b) and all(same(x, y) for x, y in zip(a, b))
    if type(b) is dict:
        return type(a) is dict and list(a) == list(b) and all(same(a[k], b[k]) for k in b)
    return type(a) is type(b) and a == b


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--before", default="f3d44c3~1",
                        help="git revision of the baseline wire.py (default: before the compact format)")
    parser.add_argument("--repeat", type=int, default=15)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        before = load_revision(args.before, Path(folder))
    after = load("wire_after", ROOT / "grader" / "wire.py")
    print(f"wire.py at {args.before} (before) and in this checkout (after); CPU microseconds per frame, "
          f"best of {args.repeat} rounds taking turns")
    print(f"{'frame':40} {'side':7} {'before':>8} {'after':>8} {'speed-up':>9}   header bytes before/after")
    totals = {"before": 0.0, "after": 0.0}
    piped = {"before": 0.0, "after": 0.0}
    pipe = os.pipe()  # every frame here fits in a pipe's 64 KiB: written whole before it is read
    for name, value in frames().items():
        data = {label: encode_side(wire, value) for label, wire in (("before", before), ("after", after))}
        for label, wire in (("before", before), ("after", after)):
            assert same(decode_side(wire, data[label]), value), f"{label} does not round-trip {name}"
        sizes = "/".join(str(int.from_bytes(data[label][4:8], "big")) for label in ("before", "after"))
        for side in ("encode", "decode", "pipe") if len(data["before"]) < 60_000 else ("encode", "decode"):
            if side == "encode":
                times = per_call({"before": lambda: encode_side(before, value),
                                  "after": lambda: encode_side(after, value)}, args.repeat)
            elif side == "decode":
                times = per_call({"before": lambda: decode_side(before, data["before"]),
                                  "after": lambda: decode_side(after, data["after"])}, args.repeat)
            else:
                times = per_call({"before": lambda: through_pipe(before, value, pipe),
                                  "after": lambda: through_pipe(after, value, pipe)}, args.repeat)
            for label in totals:
                (piped if side == "pipe" else totals)[label] += times[label]
            print(f"{name:40} {side:7} {times['before'] * 1e6:8.1f} {times['after'] * 1e6:8.1f} "
                  f"{times['before'] / times['after']:8.2f}x   {sizes if side == 'encode' else ''}")
    print(f"{'all, encode + decode':48} {totals['before'] * 1e6:8.1f} {totals['after'] * 1e6:8.1f} "
          f"{totals['before'] / totals['after']:8.2f}x")
    print(f"{'all but the last, through a pipe':48} {piped['before'] * 1e6:8.1f} {piped['after'] * 1e6:8.1f} "
          f"{piped['before'] / piped['after']:8.2f}x")


if __name__ == "__main__":
    sys.exit(main())
