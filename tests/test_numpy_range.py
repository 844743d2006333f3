"""The oldest numpy pyproject.toml supports: the release drift tests pass there too, and an
installed grader run inside the checkout finds it and reports no stale file.

The newest numpy is what the rest of the suite runs on (CI installs the latest release). This test
builds a virtual environment that sees this environment's packages but has the oldest supported
numpy installed over them, so only numpy differs. It is skipped without the venv module or without
a package index to fetch that numpy from.
"""
from __future__ import annotations

import os
import re
import shutil
import subprocess
import venv
from pathlib import Path

import pytest

from conftest import ROOT

pytestmark = pytest.mark.oldest_numpy

#: Generous limits that only stop a hang (a download or a build), never decide the outcome.
INSTALL_LIMIT = 600
RUN_LIMIT = 600


def oldest_numpy() -> str:
    """The lower bound of numpy in pyproject.toml's dependencies, e.g. "1.24"."""
    match = re.search(r'"numpy\s*>=\s*([0-9.]+)', (ROOT / "pyproject.toml").read_text())
    assert match, "pyproject.toml must state the oldest supported numpy as numpy>=X.Y"
    return match.group(1)


def _copy_checkout(target: Path) -> Path:
    """The files a build needs, copied: building in the shared checkout would leave build/ there."""
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc", "build", "*.egg-info")
    for folder in ("grader", "solutions", "assignments", "expected", "tests"):
        shutil.copytree(ROOT / folder, target / folder, ignore=ignore)
    for name in ("pyproject.toml", "setup.py", "README.md"):
        shutil.copy2(ROOT / name, target / name)
    return target


def _run(command: list[str], cwd: Path, limit: float) -> subprocess.CompletedProcess:
    env = {key: value for key, value in os.environ.items() if not key.startswith(("PYTHON", "GRADER_"))}
    return subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True, timeout=limit)


@pytest.fixture(scope="module")
def old_python(tmp_path_factory) -> Path:
    if os.environ.get("GRADER_IN_OLDEST_NUMPY"):
        pytest.skip("already inside the oldest-numpy environment")
    folder = tmp_path_factory.mktemp("oldest-numpy")
    try:
        venv.EnvBuilder(system_site_packages=True, with_pip=True).create(folder / "venv")
    except Exception as error:  # no ensurepip on some distributions
        pytest.skip(f"cannot create a virtual environment: {error}")
    python = folder / "venv" / "bin" / "python"
    wanted = oldest_numpy()
    installed = _run([str(python), "-m", "pip", "install", "-q", "--disable-pip-version-check",
                      f"numpy=={wanted}.*"], folder, INSTALL_LIMIT)
    if installed.returncode != 0:
        text = installed.stderr + installed.stdout
        if re.search(r"No matching distribution|Could not find a version|connection|Network|resolve", text, re.I):
            pytest.skip(f"numpy {wanted} cannot be downloaded here: {text.strip().splitlines()[-1]}")
        pytest.fail(f"installing numpy {wanted} failed:\n{text}")
    version = _run([str(python), "-c", "import numpy; print(numpy.__version__)"], folder, RUN_LIMIT).stdout.strip()
    assert version.startswith(wanted + "."), f"the environment has numpy {version}, not {wanted}"
    return python


def test_release_drift_tests_pass_on_the_oldest_numpy(old_python, tmp_path):
    checkout = _copy_checkout(tmp_path / "checkout")
    env_note = {"GRADER_IN_OLDEST_NUMPY": "1"}
    result = subprocess.run([str(old_python), "-m", "pytest", "-q", "-p", "no:cacheprovider", "tests/test_release.py"],
                            cwd=checkout, env={**os.environ, **env_note}, capture_output=True, text=True,
                            timeout=RUN_LIMIT)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-2000:]


def test_installed_release_check_finds_the_checkout_on_the_oldest_numpy(old_python, tmp_path):
    """README's instructor command, as README runs it: `pip install .` then `grade release --check`
    in the checkout (here: a folder below it)."""
    checkout = _copy_checkout(tmp_path / "checkout")
    installed = _run([str(old_python), "-m", "pip", "install", "-q", "--no-deps", "--no-build-isolation",
                      "--disable-pip-version-check", "."], checkout, INSTALL_LIMIT)
    assert installed.returncode == 0, installed.stderr[-3000:]
    shutil.rmtree(checkout / "build", ignore_errors=True)
    grade = old_python.parent / "grade"
    result = _run([str(grade), "release", "--check"], checkout / "solutions", RUN_LIMIT)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-2000:]
    assert f"checkout: {checkout}" in result.stdout and "up to date" in result.stdout
