"""Where the bundled course material lives: assignments/, expected/ and solutions/.

In a source checkout they sit at the repository's top level, next to this package; in an
installed wheel they are package data under grader/data/. solutions/ may be missing on purpose
(a student-facing install); callers get ``None`` and grade with the stored cases only.
"""
from __future__ import annotations

import functools
import hashlib
import os
from pathlib import Path
from typing import Any

_PACKAGE = Path(__file__).resolve().parent

#: Set to a directory to use other reference solutions, or to "none" to grade without any.
SOLUTIONS_ENV = "GRADER_SOLUTIONS"


def _bundled(name: str) -> Path | None:
    for candidate in (_PACKAGE.parent / name, _PACKAGE / "data" / name):
        if candidate.is_dir() and any(candidate.iterdir()):
            return candidate
    return None


def _home(assignment: Any) -> Path | None:
    """An assignment installed apart from the grader brings its own folders (AssignmentSpec.home)."""
    return getattr(assignment, "home", None)


def assignments_dir(assignment: Any = None) -> Path:
    if _home(assignment) is not None:
        return _home(assignment) / "assignments"
    found = _bundled("assignments")
    if found is None:  # pragma: no cover - a broken install
        raise RuntimeError("the grader's assignments/ folder is missing: reinstall the package")
    return found


def expected_dir(assignment: Any = None) -> Path:
    if _home(assignment) is not None:
        return _home(assignment) / "expected"
    found = _bundled("expected")
    if found is None:  # pragma: no cover - a broken install
        raise RuntimeError("the grader's expected/ folder is missing: reinstall the package")
    return found


def solutions_dir(assignment: Any = None) -> Path | None:
    """The reference solutions, or None when this install has none (stored cases only)."""
    override = os.environ.get(SOLUTIONS_ENV)
    if override and override.lower() == "none":
        return None
    if _home(assignment) is not None:
        own = _home(assignment) / "solutions"
        return own if own.is_dir() else None
    if override:
        return Path(override)
    return _bundled("solutions")


def repo_root() -> Path | None:
    """The source checkout holding this package, if it is one (used by the instructor commands)."""
    root = _PACKAGE.parent
    return root if (root / "pyproject.toml").is_file() and (root / "solutions").is_dir() else None


def private_dirs() -> list[Path]:
    """Folders student code must never see: this package, the expected values, the solutions."""
    from .course import ASSIGNMENTS  # here: the assignments import this module

    found = [_PACKAGE, _bundled("expected"), _bundled("solutions"), solutions_dir()]
    found += [folder for spec in ASSIGNMENTS.values() if _home(spec) is not None
              for folder in (_home(spec) / "expected", _home(spec) / "solutions")]
    return [path for path in found if path is not None]


def digest(folder: Path) -> str:
    """A short SHA-256 of every file under ``folder`` (relative names and bytes; caches left out).

    It names the solutions and expected values a run used, in reports and ``grade --version``."""
    return _digest(folder, file_signature(folder))


def file_signature(folder: Path) -> tuple[tuple[str, int, int], ...]:
    """(relative name, size, mtime in ns) of every file under ``folder``, caches left out: what
    Python itself checks to tell a stale .pyc, read without opening a file."""
    found = []
    for root, dirs, files in os.walk(folder):
        dirs[:] = [name for name in dirs if name not in ("__pycache__", ".ipynb_checkpoints")]
        for name in files:
            path = os.path.join(root, name)
            try:
                status = os.stat(path)
            except OSError:
                continue
            found.append((os.path.relpath(path, folder), status.st_size, status.st_mtime_ns))
    return tuple(sorted(found, key=lambda item: item[0].split(os.sep)))  # the order of sorted Paths


@functools.lru_cache(maxsize=32)
def _digest(folder: Path, signature: tuple) -> str:
    sha = hashlib.sha256()
    for name, _, _ in signature:
        sha.update(name.encode() + b"\0" + (folder / name).read_bytes() + b"\0")
    return sha.hexdigest()[:12]


def materials(use_solutions: bool = True, assignment: Any = None) -> dict[str, dict[str, str] | None]:
    """The course material a run uses: {"solutions": {"path", "sha256"} or None, "expected": {...}}."""
    solutions = solutions_dir(assignment) if use_solutions else None
    expected = expected_dir(assignment)
    return {
        "solutions": {"path": str(solutions), "sha256": digest(solutions)} if solutions and solutions.is_dir() else None,
        "expected": {"path": str(expected), "sha256": digest(expected)},
    }


def describe_materials(found: dict[str, dict[str, str] | None]) -> str:
    """One line for people: "solutions /x/solutions (3f2a9c1d0b7e), expected /x/expected (a1b2...)"."""
    parts = []
    for name in ("solutions", "expected"):
        item = found.get(name)
        parts.append(f"{name} {item['path']} ({item['sha256']})" if item else f"{name}: none")
    return ", ".join(parts)
