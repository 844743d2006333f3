"""Instructor commands: make assignments/ and expected/ from solutions/ (the one source of truth).

``release(check=False)`` rewrites both folders; with ``check=True`` it only lists what is stale.
A student notebook is the reference notebook with every statement between
``### START CODE HERE ###`` and ``### END CODE HERE ###`` replaced by a ``name = None``-style
placeholder (loop and branch headers stay, comments stay), and outputs cleared. Helper modules
get the same treatment, so the Adam exercise in rnn_utils.py is stubbed too.
"""
from __future__ import annotations

import ast
import json
import shutil
from dataclasses import dataclass
from pathlib import Path

import nbformat

from .course import ASSIGNMENTS
from .course.recipes import DATA_ROOT_OVERRIDE
from .consistency import demo_mismatches
from .course.reference import load_reference
from .drift import differences
from .errors import CourseMaterialError, GraderError
from .expected import generate, render
from .load import code_regions


def stub_source(source: str) -> str:
    """Replace the student's part of ``source`` by placeholders (see the module docstring)."""
    lines = source.splitlines(keepends=True)
    regions = code_regions(lines)
    if not regions:
        return source
    tree = ast.parse(source)
    replacements: dict[int, str | None] = {}

    def inside(node: ast.stmt) -> bool:
        return any(start < node.lineno and (node.end_lineno or node.lineno) < end for start, end in regions)

    def placeholder(node: ast.stmt) -> str:
        indent = lines[node.lineno - 1][: node.col_offset]
        if isinstance(node, (ast.Assign, ast.AugAssign, ast.AnnAssign)):
            target = node.targets[0] if isinstance(node, ast.Assign) else node.target
            return f"{indent}{ast.get_source_segment(source, target)} = None\n"
        if isinstance(node, ast.Return):
            return f"{indent}return None\n"
        return f"{indent}None\n"

    def visit(body: list[ast.stmt]) -> None:
        for node in body:
            nested = [getattr(node, name, None) for name in ("body", "orelse", "finalbody")]
            if any(isinstance(part, list) and part for part in nested) and not isinstance(node, ast.FunctionDef):
                for part in nested:
                    if isinstance(part, list):
                        visit(part)
                for handler in getattr(node, "handlers", []):
                    visit(handler.body)
            elif isinstance(node, ast.FunctionDef):
                visit(node.body)
            elif inside(node):
                replacements[node.lineno] = placeholder(node)
                for number in range(node.lineno + 1, (node.end_lineno or node.lineno) + 1):
                    replacements[number] = None

    visit(tree.body)
    out = []
    for number, line in enumerate(lines, start=1):
        if number in replacements:
            replacement = replacements[number]
            if replacement is not None:
                out.append(replacement)
        else:
            out.append(line)
    return "".join(out)


def student_notebook(solution: Path) -> str:
    nb = nbformat.read(str(solution), as_version=4)
    for cell in nb.cells:
        if cell.cell_type == "code":
            cell.source = stub_source(cell.source)
            cell.outputs = []
            cell.execution_count = None
    return nbformat.writes(nb) + "\n"


@dataclass(frozen=True)
class Planned:
    path: Path
    content: bytes


@dataclass(frozen=True)
class Stale:
    """A file of assignments/ or expected/ that is not what solutions/ makes now, and why."""

    path: Path
    reason: str
    needs_you: bool = False
    """Regenerating cannot fix it (a notebook and its recipe disagree, a notebook no assignment
    names): the instructor changes the course first, and ``release`` refuses until then."""


def bundled_assignments() -> list:
    """The assignments released from this checkout (one that brings its own folders is released there)."""
    return [spec for spec in ASSIGNMENTS.values() if spec.home is None]


def plan(solutions: Path, assignments: Path, expected: Path) -> list[Planned]:
    """Every file release would write, with its content."""
    planned = []
    for source in sorted(solutions.rglob("*")):
        if source.is_dir() or "__pycache__" in source.parts:
            continue
        relative = source.relative_to(solutions)
        if source.suffix == ".ipynb":
            content = student_notebook(source).encode()
        elif source.suffix == ".py":
            content = stub_source(source.read_text()).encode()
        else:
            content = source.read_bytes()
        planned.append(Planned(assignments / relative, content))
    DATA_ROOT_OVERRIDE.append(solutions)  # expected values come from the course data being released
    try:
        for spec in bundled_assignments():
            references = load_reference(spec, solutions)
            planned.append(Planned(expected / f"{spec.name}.json", render(generate(spec, references)).encode()))
    finally:
        DATA_ROOT_OVERRIDE.pop()
    return planned


def staleness(item: Planned) -> str | None:
    """Why the file on disk is not ``item`` (None: it is up to date).

    Student notebooks and helpers must be identical. Expected values are stale only when a stored
    value moved beyond its case's tolerance, or the cases themselves changed (``drift.py``): a
    file written by another numpy, or on another machine, is not stale."""
    if not item.path.is_file():
        return "missing"
    current = item.path.read_bytes()
    if current == item.content:
        return None
    if item.path.suffix != ".json" or item.path.parent.name != "expected":
        return "differs from what solutions/ makes"
    try:
        stored = json.loads(current)
    except ValueError as error:
        return f"unreadable ({error})"
    found = differences(stored, json.loads(item.content))
    return "; ".join(found) if found else None


def find_root(start: Path) -> Path | None:
    """The grader's source checkout holding ``start`` (itself or a parent): where `grade release` works."""
    for folder in (start.resolve(), *start.resolve().parents):
        if (folder / "solutions").is_dir() and (folder / "pyproject.toml").is_file() and (folder / "grader").is_dir():
            return folder
    return None


def unregistered_notebooks(solutions: Path) -> list[Stale]:
    """Notebooks of ``solutions/`` that no bundled assignment names: release would give them a student
    copy but no expected values, so a new assignment would seem released while nothing can grade it."""
    known = {spec.notebook for spec in bundled_assignments()}
    return [Stale(path, "no assignment of this grader has this notebook: add its AssignmentSpec to ASSIGNMENTS in "
                        "grader/course/registry.py (README, Adding an assignment); an installed grade sees a "
                        "new assignment only after `pip install .`, so run `python -m grader release` in the checkout",
                  needs_you=True)
            for path in sorted(solutions.glob("*.ipynb")) if path.name not in known]


def code_differences(root: Path, running: Path | None = None) -> list[str]:
    """The checkout's grader/ modules that the running grader (``running``, by default this package)
    does not have as they are (an installed copy from before an edit): expected values would be
    computed with the running code, not these."""
    running, checkout = (running or Path(__file__).parent).resolve(), (root / "grader").resolve()
    if running == checkout or not checkout.is_dir():
        return []
    changed = []
    for source in sorted(checkout.rglob("*.py")):
        twin = running / source.relative_to(checkout)
        if "__pycache__" not in source.parts and (not twin.is_file() or twin.read_bytes() != source.read_bytes()):
            changed.append(source.relative_to(root).as_posix())
    return changed


def release(root: Path, check: bool = False) -> list[Stale]:
    """Regenerate assignments/ and expected/ under ``root``; return the files that were (or are) stale.

    Only stale files are written, so regenerating on another machine leaves expected values that
    agree within tolerance untouched (and their recorded numpy version with them)."""
    solutions = root / "solutions"
    if not solutions.is_dir():
        raise GraderError(f"no solutions/ folder in {root}: run `grade release` inside the grader's source "
                          f"checkout (the folder with pyproject.toml and solutions/), or pass --root CHECKOUT")
    # The notebook's demo cells and the course module's published recipes must agree first:
    # regenerating cannot fix that, only the instructor can (in one or the other).
    mismatched = [Stale(solutions / spec.notebook, problem, needs_you=True) for spec in bundled_assignments()
                  for problem in demo_mismatches(spec, solutions / spec.notebook)] + unregistered_notebooks(solutions)
    if mismatched and not check:
        raise CourseMaterialError("nothing regenerated: " + "; ".join(f"{item.path.name}: {item.reason}"
                                                                      if item.path.name not in item.reason else
                                                                      item.reason for item in mismatched))
    planned = plan(solutions, root / "assignments", root / "expected")
    stale = mismatched + [Stale(item.path, reason) for item in planned if (reason := staleness(item)) is not None]
    wanted = {item.path for item in planned}
    extra = [Stale(path, "not made from solutions/ (release removes it)")
             for folder in ("assignments", "expected") for path in sorted((root / folder).rglob("*"))
             if path.is_file() and path not in wanted and "__pycache__" not in path.parts]
    if not check:
        rewrite = {item.path for item in stale}
        for item in planned:
            if item.path in rewrite:
                item.path.parent.mkdir(parents=True, exist_ok=True)
                item.path.write_bytes(item.content)
        for gone in extra:
            gone.path.unlink()
        shutil.rmtree(root / "assignments" / "__pycache__", ignore_errors=True)
    return stale + extra
