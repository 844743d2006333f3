"""The class report: one self-contained HTML page from the results a batch wrote.

    grade report grades/ -o report.html        (every batch also writes grades/report.html)
    grade similarity submissions/ -o similarity.html

``stats.py`` computes (pure), ``charts.py`` draws (matplotlib, optional), ``page.py`` writes HTML
(pure, everything escaped), this module reads the result files and writes the page.
"""
from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Mapping

from ..records import checked_record, read_json, read_text
from ..similarity import (DEFAULT_MIN_SHARED, DEFAULT_THRESHOLD, FunctionPrint, SimilarityResult, resemblance,
                          similarity)
from . import charts, page
from .stats import (FunctionStats, Overview, Student, attention, common_mistakes, function_order, function_stats,
                    overview, student_from_record)

FRAGMENTS_SHOWN = 40
"""Pairs whose shared fragments the class report shows (the similarity page shows those of the first
page.FRAGMENTS_MAX, the most similar)."""

__all__ = ["Ahead", "build_report", "charts_ahead", "load_records", "report_similarity", "similarity_page",
           "start_report", "write_report"]


def load_records(out: Path) -> list[dict[str, Any]]:
    """Every result record under ``out/results`` (or ``out/results.json``), each checked as a batch
    checks it (``records``); files that are not the grader's are passed over."""
    records = _parse(_result_texts(out))
    if not records and (out / "results.json").is_file():
        try:
            data = read_json(out / "results.json")
        except (OSError, ValueError):
            data = {}
        records = []
        for item in (data.get("results") if isinstance(data, dict) else None) or []:
            try:
                records.append(checked_record(item, item.get("student") if isinstance(item, dict) else ""))
            except ValueError:
                continue
    return records


def _result_texts(out: Path) -> list[tuple[str, str]]:
    """(file name, text) of every result file in ``out/results``: regular files of bounded size only
    (``records.read_text``)."""
    texts = []
    for path in sorted((out / "results").glob("*.json")):
        try:
            texts.append((path.name, read_text(path)))
        except (OSError, ValueError):
            continue
    return texts


def _parse(texts: list[tuple[str, str]]) -> list[dict[str, Any]]:
    """The records among ``texts``, each checked as a batch checks it (``records.checked_record``)."""
    records = []
    for name, text in texts:
        try:
            records.append(checked_record(json.loads(text), Path(name).stem))
        except ValueError:
            continue
    return records


def report_similarity(records: list[dict[str, Any]], *, threshold: float = DEFAULT_THRESHOLD,
                      min_shared: int = DEFAULT_MIN_SHARED,
                      known_prints: Mapping[str, dict[str, FunctionPrint]] | None = None,
                      ) -> tuple[SimilarityResult | None, str]:
    """Similarity of the graded notebooks still at their recorded paths, or None and why not.
    ``known_prints``: fingerprints made while grading (``similarity.similarity``'s ``known``)."""
    notebooks = []
    for data in records:
        path = data.get("notebook")
        if data.get("graded") is True and isinstance(path, str) and os.path.isfile(path):
            notebooks.append((str(data.get("student")), Path(path)))
    if len(notebooks) < 2:
        return None, ("Not computed: fewer than two graded notebooks are still at the paths the results record. "
                      "Run `grade similarity SUBMISSIONS/ -o similarity.html` on the submissions folder.")
    return similarity(notebooks, threshold=threshold, min_shared=min_shared, known=known_prints), ""


@dataclass(frozen=True)
class _Class:
    """The class's statistics, and its charts being drawn (``charts.Drawer``) or to draw here."""

    students: list[Student]
    view: Overview
    functions: list[FunctionStats]
    charts: dict[str, Callable[[], str] | None]


def _prepare(records: list[dict[str, Any]], drawer: charts.Drawer | None) -> _Class:
    ordered = sorted(records, key=lambda d: str(d.get("student", "")))
    students = [student_from_record(f"s{number}", data) for number, data in enumerate(ordered, start=1)]
    view = overview(students)
    functions = function_stats(students)
    drawn: dict[str, Callable[[], str] | None] = {name: None for name in charts.CHARTS}
    if drawer is not None:  # started now, so that they are drawn while the rest of the page is built
        items = [item for f in functions for item in f.cases]
        if view.percents:
            drawn["score_histogram"] = drawer.draw("score_histogram", list(view.percents), view.mean, view.median)
        if functions:
            drawn["status_bars"] = drawer.draw("status_bars", functions)
        if items:
            drawn["item_scatter"] = drawer.draw("item_scatter", items)
    return _Class(students, view, functions, drawn)


def build_report(records: list[dict[str, Any]], *, title: str = "Class report", source: str = "",
                 similar: SimilarityResult | None = None, similarity_note: str = "",
                 drawer: charts.Drawer | None = None) -> str:
    """The report page for these result records (the charts drawn by ``drawer``, or here)."""
    return _page(_prepare(records, drawer), title=title, source=source, similar=similar,
                 similarity_note=similarity_note)


def _page(prepared: _Class, *, title: str, source: str, similar: SimilarityResult | None,
          similarity_note: str) -> str:
    students, view = prepared.students, prepared.view
    names = function_order(students)
    keys = {s.name: s.key for s in students}
    resembling = resemblance(similar) if similar is not None else {}
    optional = {f.name for s in students for f in s.functions if f.section == "optional"}
    # The sections with charts are built last, so that charts drawn elsewhere have the most time.
    attention_html = page.attention_section(attention(students, resembling))
    heatmap_html = page.heatmap_section(students, names, optional)
    mistakes_html = page.mistakes_section(common_mistakes(students))
    similarity_html = page.similarity_section(similar, keys, similarity_note or "Not computed.",
                                              fragments=FRAGMENTS_SHOWN)
    students_html = page.students_section(students)
    drawn = prepared.charts
    body = "".join([
        page.glance_section(view, drawn["score_histogram"]),
        attention_html,
        page.items_section(prepared.functions, drawn["status_bars"], drawn["item_scatter"]),
        heatmap_html,
        mistakes_html,
        similarity_html,
        students_html,
    ])
    subtitle = f"{view.graded} of {view.total} notebooks graded" + (f" · from {page.esc(source)}" if source else "")
    nav = [("glance", "Overview"), ("attention", "Look at"), ("items", "Items"), ("heatmap-section", "Heatmap"),
           ("mistakes", "Mistakes"), ("similarity", "Similarity"), ("students", "Students")]
    return page.shell(title, subtitle, nav, body)


def write_report(out: Path, output: Path | None = None, *, with_similarity: bool = True,
                 threshold: float = DEFAULT_THRESHOLD,
                 known_prints: Mapping[str, dict[str, FunctionPrint]] | None = None,
                 drawer: charts.Drawer | None = None) -> Path:
    """Write the report of the batch folder ``out`` (default ``out/report.html``); returns its path.
    ``known_prints``, ``drawer``: the similarity fingerprints a batch made while grading and the
    process it started to draw the charts (``batch.Kept``)."""
    records = load_records(out)
    prepared = _prepare(records, drawer)  # the charts first: they are drawn while similarity is computed
    similar, note = report_similarity(records, threshold=threshold, known_prints=known_prints) if with_similarity \
        else (None, "Not computed (--no-similarity).")
    text = _page(prepared, title="Class report", source=str(out), similar=similar, similarity_note=note)
    target = output if output is not None else out / "report.html"
    _atomic_write(target, text)
    return target


@dataclass(frozen=True)
class Ahead:
    """The charts of a class started from its result files as they were (``charts_ahead``)."""

    texts: list[tuple[str, str]]
    """The result files (name, text) they were drawn from: used only for the very same files."""
    records: list[dict[str, Any]]
    prepared: _Class


def charts_ahead(out: Path, drawer: charts.Drawer) -> Ahead:
    """Start drawing the class's charts now, from the result files as they are (a batch does so as its
    last result arrives, while its grading processes leave): ``start_report`` uses them when the
    files are still the same then, and draws them again otherwise."""
    texts = _result_texts(out)
    records = _parse(texts)
    return Ahead(texts, records, _prepare(records, drawer))


def start_report(out: Path, *, known_prints: Mapping[str, dict[str, FunctionPrint]] | None = None,
                 drawer: charts.Drawer | None = None, ahead: Ahead | None = None) -> Callable[[], Path]:
    """``write_report(out, ...)`` in two steps, for a batch's end: now the result files are read and the
    charts started in ``drawer``'s process (or taken from ``ahead``, when drawn from the same records);
    the returned function writes the page (call it once the other outputs are written: the charts are
    drawn meanwhile). When ``out/results`` holds no record, all is left to that function
    (``load_records`` then reads ``results.json``, which the batch rewrites in between)."""
    texts = _result_texts(out)
    if ahead is not None and ahead.texts == texts:  # the same files: the same records, statistics and charts
        records, prepared = ahead.records, ahead.prepared
    else:
        records = _parse(texts)
        prepared = _prepare(records, drawer) if records else None
    if not records or prepared is None:
        return lambda: write_report(out, known_prints=known_prints, drawer=drawer)

    def finish() -> Path:
        similar, note = report_similarity(records, known_prints=known_prints)
        text = _page(prepared, title="Class report", source=str(out), similar=similar, similarity_note=note)
        _atomic_write(out / "report.html", text)
        return out / "report.html"
    return finish


def similarity_page(result: SimilarityResult, source: str = "") -> str:
    subtitle = f"{len([s for s in result.students if s.functions])} notebooks compared" + \
        (f" · {page.esc(source)}" if source else "")
    return page.shell("Similarity", subtitle, [("similarity", "Pairs")], page.similarity_section(result))


def _atomic_write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    temporary.write_text(text, encoding="utf-8")
    os.replace(temporary, path)
