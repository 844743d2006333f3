"""Where the bundled course material lives: assignments/, expected/ and solutions/.

In a source checkout they sit at the repository's top level, next to this package; in an
installed wheel they are package data under grader/data/. solutions/ may be missing on purpose
(a student-facing install); callers get ``None`` and grade with the stored cases only.
"""
from __future__ import annotations

import os
from pathlib import Path

_PACKAGE = Path(__file__).resolve().parent

#: Set to a directory to use other reference solutions, or to "none" to grade without any.
SOLUTIONS_ENV = "GRADER_SOLUTIONS"


def _bundled(name: str) -> Path | None:
    for candidate in (_PACKAGE.parent / name, _PACKAGE / "data" / name):
        if candidate.is_dir() and any(candidate.iterdir()):
            return candidate
    return None


def assignments_dir() -> Path:
    found = _bundled("assignments")
    if found is None:  # pragma: no cover - a broken install
        raise RuntimeError("the grader's assignments/ folder is missing: reinstall the package")
    return found


def expected_dir() -> Path:
    found = _bundled("expected")
    if found is None:  # pragma: no cover - a broken install
        raise RuntimeError("the grader's expected/ folder is missing: reinstall the package")
    return found


def solutions_dir() -> Path | None:
    """The reference solutions, or None when this install has none (stored cases only)."""
    override = os.environ.get(SOLUTIONS_ENV)
    if override:
        return None if override.lower() == "none" else Path(override)
    return _bundled("solutions")


def repo_root() -> Path | None:
    """The source checkout holding this package, if it is one (used by the instructor commands)."""
    root = _PACKAGE.parent
    return root if (root / "pyproject.toml").is_file() and (root / "solutions").is_dir() else None


def private_dirs() -> list[Path]:
    """Folders student code must never see: this package, the expected values, the solutions."""
    found = [_PACKAGE, _bundled("expected"), _bundled("solutions"), solutions_dir()]
    return [path for path in found if path is not None]
