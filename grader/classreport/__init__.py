"""The class report: one self-contained HTML page from the results a batch wrote.

    grade report grades/ -o report.html        (every batch also writes grades/report.html)
    grade similarity submissions/ -o similarity.html

``stats.py`` computes (pure), ``charts.py`` draws (matplotlib, optional), ``page.py`` writes HTML
(pure, everything escaped), this module reads the result files and writes the page.
"""
from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from ..similarity import DEFAULT_MIN_SHARED, DEFAULT_THRESHOLD, SimilarityResult, similarity
from . import page
from .stats import attention, common_mistakes, function_order, function_stats, overview, student_from_record

FRAGMENTS_SHOWN = 40
"""Pairs whose shared fragments the class report shows (the similarity page shows every pair's)."""

__all__ = ["build_report", "load_records", "report_similarity", "similarity_page", "write_report"]


def load_records(out: Path) -> list[dict[str, Any]]:
    """Every result record under ``out/results`` (or ``out/results.json``); foreign files passed over."""
    records = []
    for path in sorted((out / "results").glob("*.json")):
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        if isinstance(data, dict):
            data.setdefault("student", path.stem)
            records.append(data)
    if not records and (out / "results.json").is_file():
        try:
            data = json.loads((out / "results.json").read_text(encoding="utf-8"))
        except (OSError, ValueError):
            data = {}
        records = [r for r in (data.get("results") if isinstance(data, dict) else None) or [] if isinstance(r, dict)]
    return records


def report_similarity(records: list[dict[str, Any]], *, threshold: float = DEFAULT_THRESHOLD,
                      min_shared: int = DEFAULT_MIN_SHARED) -> tuple[SimilarityResult | None, str]:
    """Similarity of the graded notebooks still at their recorded paths, or None and why not."""
    notebooks = []
    for data in records:
        path = data.get("notebook")
        if data.get("graded") is True and isinstance(path, str) and os.path.isfile(path):
            notebooks.append((str(data.get("student")), Path(path)))
    if len(notebooks) < 2:
        return None, ("Not computed: fewer than two graded notebooks are still at the paths the results record. "
                      "Run `grade similarity SUBMISSIONS/ -o similarity.html` on the submissions folder.")
    return similarity(notebooks, threshold=threshold, min_shared=min_shared), ""


def build_report(records: list[dict[str, Any]], *, title: str = "Class report", source: str = "",
                 similar: SimilarityResult | None = None, similarity_note: str = "") -> str:
    """The report page for these result records."""
    ordered = sorted(records, key=lambda d: str(d.get("student", "")))
    students = [student_from_record(f"s{number}", data) for number, data in enumerate(ordered, start=1)]
    names = function_order(students)
    keys = {s.name: s.key for s in students}
    resembling: dict[str, list[str]] = {}
    if similar is not None:
        for pair in similar.pairs:
            resembling.setdefault(pair.a.student, []).append(pair.b.student)
            resembling.setdefault(pair.b.student, []).append(pair.a.student)
    view = overview(students)
    optional = {f.name for s in students for f in s.functions if f.section == "optional"}
    body = "".join([
        page.glance_section(view),
        page.attention_section(attention(students, resembling)),
        page.items_section(function_stats(students)),
        page.heatmap_section(students, names, optional),
        page.mistakes_section(common_mistakes(students)),
        page.similarity_section(similar, keys, similarity_note or "Not computed.", fragments=FRAGMENTS_SHOWN),
        page.students_section(students),
    ])
    subtitle = f"{view.graded} of {view.total} notebooks graded" + (f" · from {page.esc(source)}" if source else "")
    nav = [("glance", "Overview"), ("attention", "Look at"), ("items", "Items"), ("heatmap-section", "Heatmap"),
           ("mistakes", "Mistakes"), ("similarity", "Similarity"), ("students", "Students")]
    return page.shell(title, subtitle, nav, body)


def write_report(out: Path, output: Path | None = None, *, with_similarity: bool = True,
                 threshold: float = DEFAULT_THRESHOLD) -> Path:
    """Write the report of the batch folder ``out`` (default ``out/report.html``); returns its path."""
    records = load_records(out)
    similar, note = report_similarity(records, threshold=threshold) if with_similarity else \
        (None, "Not computed (--no-similarity).")
    text = build_report(records, source=str(out), similar=similar, similarity_note=note)
    target = output if output is not None else out / "report.html"
    _atomic_write(target, text)
    return target


def similarity_page(result: SimilarityResult, source: str = "") -> str:
    subtitle = f"{len([s for s in result.students if s.functions])} notebooks compared" + \
        (f" · {page.esc(source)}" if source else "")
    return page.shell("Similarity", subtitle, [("similarity", "Pairs")], page.similarity_section(result))


def _atomic_write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    temporary.write_text(text, encoding="utf-8")
    os.replace(temporary, path)
