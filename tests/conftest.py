"""Shared fixtures: repository paths, ../shared (skipped when absent), a tiny-notebook factory."""
from __future__ import annotations

import dataclasses
import os
from pathlib import Path

import nbformat
import pytest

from grader.config import GradeConfig

ROOT = Path(__file__).resolve().parent.parent
SHARED = ROOT.parent / "shared"
SOLUTIONS = ROOT / "solutions"
ASSIGNMENTS = ROOT / "assignments"

#: Short limits so hostile tests finish fast; hidden cases fixed for reproducibility.
FAST = GradeConfig(cell_timeout=3, call_timeout=4, notebook_timeout=60, hidden_seed=0)


@pytest.fixture
def shared() -> Path:
    if not SHARED.is_dir():
        pytest.skip("../shared is not available")
    return SHARED


def make_notebook(path: Path, *cells: str, metadata: dict | None = None) -> Path:
    """Write a v4 notebook whose code cells are ``cells`` (strings starting with '#md ' are markdown)."""
    nb = nbformat.v4.new_notebook()
    nb.metadata = metadata if metadata is not None else {"kernelspec": {"name": "python3", "display_name": "Python 3",
                                                                    "language": "python"}}
    for source in cells:
        if source.startswith("#md "):
            nb.cells.append(nbformat.v4.new_markdown_cell(source[4:]))
        else:
            nb.cells.append(nbformat.v4.new_code_cell(source))
    nbformat.write(nb, str(path))
    return path


def solution_cells(name: str) -> list[str]:
    """The code cells of a reference notebook, to build variants of it in tests."""
    nb = nbformat.read(str(SOLUTIONS / name), as_version=4)
    return [cell.source for cell in nb.cells if cell.cell_type == "code"]


def replace_function(cells: list[str], name: str, new_source: str) -> list[str]:
    """Swap the cell defining ``name`` for ``new_source``."""
    return [new_source if f"def {name}(" in cell and "GRADED FUNCTION" in cell else cell for cell in cells]


def descendants(root: int) -> set[int]:
    """Every live descendant of ``root`` (by /proc's parent links)."""
    parents: dict[int, int] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as handle:
                    parents[int(entry)] = int(handle.read().rsplit(")", 1)[1].split()[1])
            except (OSError, ValueError, IndexError):
                continue
    found: set[int] = set()
    frontier = {root}
    while frontier:
        frontier = {pid for pid, parent in parents.items() if parent in frontier} - found
        found |= frontier
    return found


def without_timings(result) -> dict:
    """A notebook's result as plain data without its timings: two gradings of one notebook compare equal."""
    def strip(value):
        if isinstance(value, dict):
            return {key: strip(item) for key, item in value.items() if key != "duration"}
        if isinstance(value, list):
            return [strip(item) for item in value]
        return value
    return strip(dataclasses.asdict(result))
