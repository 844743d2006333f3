"""Package layout lives here rather than in pyproject.toml for one reason: a student-facing
wheel must be buildable without the reference solutions (``GRADER_STUDENT_BUILD=1 pip install .``),
neither as notebooks nor as the mistake models written from them.

The repository keeps assignments/, expected/ and solutions/ at top level; in the wheel they
become grader/data/<name>/ (see grader/resources.py).
"""
import glob
import os
import shutil

from setuptools import find_packages, setup
from setuptools.command.build_py import build_py

STUDENT_BUILD = bool(os.environ.get("GRADER_STUDENT_BUILD"))
DATA = {"assignments": ["*.ipynb", "*.py", "datasets/*.txt"], "expected": ["*.json"]}
if not STUDENT_BUILD:
    DATA["solutions"] = ["*.ipynb", "*.py", "datasets/*.txt"]
else:  # pip builds in the source tree: drop solutions an earlier build left in build/
    shutil.rmtree(os.path.join("build", "lib", "grader", "data", "solutions"), ignore_errors=True)
    for stale in glob.glob(os.path.join("build", "lib", "grader", "course", "*", "mistakes.py")):
        os.remove(stale)


class BuildPy(build_py):
    """A student build also leaves out each assignment's mistake models (grader/course/*/mistakes.py):
    every one is the reference with a switch for one mistake, so with the switches off it is the
    solution. The grader then gives no "Likely mistake" diagnosis (course/spec.py, mistake_models)."""

    def find_package_modules(self, package, package_dir):
        modules = super().find_package_modules(package, package_dir)
        if not STUDENT_BUILD:
            return modules
        return [item for item in modules if not (package.startswith("grader.course.") and item[1] == "mistakes")]


setup(
    cmdclass={"build_py": BuildPy},
    # every subpackage of grader/ (each assignment is one under grader/course/), then the data folders
    packages=find_packages(include=["grader", "grader.*"]) + [f"grader.data.{name}" for name in DATA],
    package_dir={"grader": "grader", **{f"grader.data.{name}": name for name in DATA}},
    package_data={"grader": ["py.typed"], **{f"grader.data.{name}": globs for name, globs in DATA.items()}},
)
