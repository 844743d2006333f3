"""Charts as inline SVG, drawn by matplotlib (the optional extra ``rnn-grader[report]``).

Each function returns an SVG string ready to paste into the page, or raises ChartsUnavailable when
matplotlib is not installed; the page then says what it could not draw. matplotlib is imported on
first use only: commands that never draw a chart never pay for it; a batch draws them in a ``Drawer``
process started before grading, which has imported it by the end. Text in the SVG is escaped by
matplotlib's own writer; mathtext is turned off so a ``$`` in a name is just a dollar sign.
"""
from __future__ import annotations

import contextlib
import functools
import importlib.util
import io
import re
from typing import Any, Callable, Iterator

from .stats import CaseItem, DISCRIMINATING_FROM, HARD_BELOW, FunctionStats, STATUSES

STATUS_COLOURS = {"passed": "#2e9d5b", "partial": "#e9b949", "failed": "#d9534f", "error": "#b23b3b",
                  "timeout": "#8e6cc0", "crashed": "#5a3e8c", "not_implemented": "#b9bec7", "missing": "#6c757d",
                  "unknown": "#333333"}
INSTALL_HINT = "pip install 'rnn-grader[report]'"


class ChartsUnavailable(Exception):
    """matplotlib is not installed."""


def _pyplot() -> Any:
    try:
        import matplotlib
    except ImportError:
        raise ChartsUnavailable(f"matplotlib is not installed ({INSTALL_HINT} draws the charts)") from None
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    plt.rcParams.update({"svg.fonttype": "none", "svg.hashsalt": "grader", "text.parse_math": False,
                         "font.size": 9, "axes.spines.top": False, "axes.spines.right": False})
    return plt


CHARTS = ("score_histogram", "status_bars", "item_scatter")
DRAWER_WAIT = 120.0
"""Seconds a chart may take in the drawing process before it is drawn here instead."""


class Drawer:
    """A process of our own that draws the charts, started ahead (a batch starts it before grading):
    matplotlib is imported there meanwhile, and at the end the charts (half a second) are drawn there
    while this process builds the rest of the page. Only plain values go in (the class's numbers and
    names) and SVG text comes back; a chart it cannot deliver is drawn here as before.

        drawer = Drawer.start()       # None without matplotlib
        svg = drawer.draw("status_bars", functions)   # started now; svg() waits for it
        drawer.close()
    """

    def __init__(self, pool: Any) -> None:
        self._pool = pool

    @classmethod
    def start(cls) -> Drawer | None:
        if importlib.util.find_spec("matplotlib") is None:
            return None
        import multiprocessing
        from concurrent.futures import ProcessPoolExecutor

        try:
            pool = ProcessPoolExecutor(max_workers=1, mp_context=multiprocessing.get_context("spawn"),
                                       initializer=_drawer_set_up)
            pool.submit(int)  # start it now (processes start on demand), so its imports run ahead
        except Exception:  # noqa: BLE001  no process to be had: the charts are drawn here
            return None
        return cls(pool)

    @classmethod
    @contextlib.contextmanager
    def running(cls) -> Iterator[Drawer | None]:
        """``start`` then ``close``: for a command that grades or computes while matplotlib imports
        (a regrade, ``grade report``) and writes the report last."""
        drawer = cls.start()
        try:
            yield drawer
        finally:
            if drawer is not None:
                drawer.close()

    def draw(self, name: str, *args: Any) -> Callable[[], str]:
        """Start drawing the chart ``name`` (one of CHARTS) of ``args``; the returned function gives its
        SVG (or raises ChartsUnavailable), drawing it here if the process could not."""
        here = functools.partial(globals()[name], *args)
        try:
            future = self._pool.submit(_draw, name, *args)
        except Exception:  # noqa: BLE001  closed or broken: here then
            return here

        def result() -> str:
            try:
                return future.result(timeout=DRAWER_WAIT)
            except ChartsUnavailable:
                raise
            except Exception:  # noqa: BLE001  the process died or hung: the page still gets its chart
                return here()
        return result

    def close(self) -> None:
        """Stop the process at once: it holds nothing but what it drew, and leaving the ordinary way
        (its interpreter's teardown, matplotlib loaded) took a sixth of a second at the batch's end."""
        processes = list((getattr(self._pool, "_processes", None) or {}).values())  # no public handle
        for process in processes:
            try:
                process.terminate()
            except (OSError, ValueError):  # already gone, or already closed
                pass
        # then the pool's own thread is joined: `grade` leaves without the interpreter's teardown only
        # when no other thread is left (cli.run)
        self._pool.shutdown(wait=True, cancel_futures=True)


def _drawer_set_up() -> None:
    """In the drawing process: a Ctrl-C is for the command, which closes us (no traceback here)."""
    import signal

    signal.signal(signal.SIGINT, signal.SIG_IGN)
    from ..exiting import leave_with_parent

    leave_with_parent()  # a batch killed outright cannot close us
    try:
        _pyplot()
    except Exception:  # noqa: BLE001  each chart then says why it cannot be drawn
        pass


def _draw(name: str, *args: Any) -> str:
    if name not in CHARTS:
        raise ValueError(f"no chart {name!r}")
    return globals()[name](*args)


def _svg(figure: Any, prefix: str) -> str:
    buffer = io.StringIO()
    figure.savefig(buffer, format="svg", bbox_inches="tight", metadata={"Date": None, "Creator": None})
    import matplotlib.pyplot as plt

    plt.close(figure)
    text = buffer.getvalue()
    text = text[text.index("<svg"):]
    text = re.sub(r"<metadata>.*?</metadata>", "", text, flags=re.S)  # creator and licence: bytes only
    # several figures share one page: give each its own ids so their clip paths cannot collide
    text = re.sub(r'id="([^"]+)"', rf'id="{prefix}-\1"', text)
    text = re.sub(r'url\(#([^)]+)\)', rf'url(#{prefix}-\1)', text)
    return re.sub(r'href="#([^"]+)"', rf'href="#{prefix}-\1"', text)


def score_histogram(percents: list[float], mean: float | None, median: float | None) -> str:
    plt = _pyplot()
    figure, axes = plt.subplots(figsize=(6.4, 2.6))
    axes.hist(percents, bins=[i * 10 for i in range(11)], color="#4a7bd0", edgecolor="white")
    if mean is not None:
        axes.axvline(mean, color="#d9534f", linestyle="--", linewidth=1.2, label=f"mean {mean:.1f}%")
    if median is not None:
        axes.axvline(median, color="#222222", linestyle=":", linewidth=1.2, label=f"median {median:.1f}%")
    axes.set_xlim(0, 100)
    axes.set_xlabel("score (% of the required points)")
    axes.set_ylabel("students")
    axes.yaxis.get_major_locator().set_params(integer=True)
    if mean is not None:
        axes.legend(frameon=False, loc="upper left")
    return _svg(figure, "hist")


def status_bars(functions: list[FunctionStats]) -> str:
    plt = _pyplot()
    figure, axes = plt.subplots(figsize=(6.4, 0.45 * len(functions) + 0.9))
    names = [f.name + (" (optional)" if f.section == "optional" else "") for f in functions][::-1]
    left = [0.0] * len(functions)
    for status in (*STATUSES, "unknown"):
        counts = [dict(f.statuses).get(status, 0) / max(f.students, 1) * 100 for f in functions][::-1]
        if any(counts):
            axes.barh(names, counts, left=left, color=STATUS_COLOURS[status], label=status.replace("_", " "))
            left = [a + b for a, b in zip(left, counts)]
    axes.set_xlim(0, 100)
    axes.set_xlabel("% of graded students")
    if any(left):  # a bar was drawn (a function nobody was graded on has none): else no legend to show
        axes.legend(frameon=False, ncol=4, loc="upper center",
                    bbox_to_anchor=(0.5, -0.35 if len(functions) < 4 else -0.2))
    return _svg(figure, "status")


def item_scatter(items: list[CaseItem]) -> str:
    """Difficulty against discrimination, one dot per case; the weak regions shaded."""
    plt = _pyplot()
    figure, axes = plt.subplots(figsize=(6.4, 3.2))
    axes.axvspan(0, HARD_BELOW, color="#f8d7da", alpha=0.6, linewidth=0)
    axes.axhspan(-1, DISCRIMINATING_FROM, color="#fff3cd", alpha=0.6, linewidth=0)
    names = sorted({item.function for item in items}, key=[i.function for i in items].index)
    markers = "osD^v<>ph*"
    drawn = 0
    for number, name in enumerate(names):
        mine = [i for i in items if i.function == name and i.discrimination is not None]
        if mine:
            axes.scatter([i.difficulty for i in mine], [i.discrimination for i in mine], s=28, alpha=0.85,
                         marker=markers[number % len(markers)], label=name)
            drawn += 1
    axes.set_xlim(0, 1.02)
    axes.set_ylim(-1, 1)
    axes.set_xlabel("difficulty (share that passed)")
    axes.set_ylabel("discrimination")
    axes.text(0.01, 0.95, "hard", color="#a94442", transform=axes.transAxes, va="top")
    axes.text(0.99, 0.03, "non-discriminating", color="#8a6d3b", transform=axes.transAxes, ha="right")
    # A legend only for dots drawn: a case everybody (or nobody) passed has no discrimination and no dot.
    if drawn:
        axes.legend(frameon=False, fontsize=7, loc="center left", bbox_to_anchor=(1.0, 0.5))
    else:
        axes.text(0.5, 0.5, "no case discriminates: each was passed by everybody or by nobody",
                  transform=axes.transAxes, ha="center", va="center", color="#555555")
    return _svg(figure, "items")
