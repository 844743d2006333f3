"""Package layout lives here rather than in pyproject.toml for one reason: a student-facing
wheel must be buildable without the reference solutions (``GRADER_STUDENT_BUILD=1 pip install .``).

The repository keeps assignments/, expected/ and solutions/ at top level; in the wheel they
become grader/data/<name>/ (see grader/resources.py).
"""
import os
import shutil

from setuptools import find_packages, setup

DATA = {"assignments": ["*.ipynb", "*.py", "datasets/*.txt"], "expected": ["*.json"]}
if not os.environ.get("GRADER_STUDENT_BUILD"):
    DATA["solutions"] = ["*.ipynb", "*.py", "datasets/*.txt"]
else:  # pip builds in the source tree: drop solutions an earlier build left in build/
    shutil.rmtree(os.path.join("build", "lib", "grader", "data", "solutions"), ignore_errors=True)

setup(
    # every subpackage of grader/ (each assignment is one under grader/course/), then the data folders
    packages=find_packages(include=["grader", "grader.*"]) + [f"grader.data.{name}" for name in DATA],
    package_dir={"grader": "grader", **{f"grader.data.{name}": name for name in DATA}},
    package_data={"grader": ["py.typed"], **{f"grader.data.{name}": globs for name, globs in DATA.items()}},
)
