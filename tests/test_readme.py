"""README cannot drift from the product: every fenced `bash` command of the user sections is run here
(in README's order, against bundled notebooks in a temporary folder) and must exit as README says.

Placeholders are files this test makes (``my_notebook.ipynb``, ``submissions/``, ``canvas_export.csv``,
``submissions.zip``, ...). A command that cannot run here is listed in ``NOT_RUN`` with the reason; a
command README gains is run automatically, so a new one that cannot run fails until it is listed.
Sections not covered: "On a cluster: Dask" (Dask scheduler and workers on several machines; the batch
with ``--scheduler`` is tested in tests/test_dask_batch.py).
"""
from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

from conftest import ASSIGNMENTS, ROOT, SOLUTIONS

SECTIONS = ("Quick start", "For students", "For TAs", "Class report and similarity", "With your LMS",
            "For instructors")

NOT_RUN = {
    "pip install .": "installs into this environment (CI does it: `pip install '.[test]'`)",
    "pip install '.[test]'": "installs into this environment (CI does it)",
    "python -m pytest -q": "the test suite itself",
    "pip install 'rnn-grader[report]'": "installs into this environment (CI installs the test extra)",
}

#: Exit codes other than 0 that README documents for a command.
EXIT_CODES = {
    # 1 when another engineer's solutions/ edit is not released yet: README says "exit 1 if any".
    "grade release --check": (0, 1),
}

ROSTER = "id,name\nzoe,Zoe\n12345,John Smith\n"
CANVAS = ("Student,ID,SIS User ID,SIS Login ID,Section,RNN step by step (98765),Current Score\n"
          "    Points Possible,,,,,100.00,(read only)\n"
          '"Smith, John",12345,S001,smithj,Section A,,\n"Zoe, Z",zoe,S002,zoe,Section A,,\n')
MOODLE = ("Identifier,Full name,Email address,Status,Grade,Maximum Grade,Grade can be changed,"
          "Last modified (submission),Last modified (grade),Feedback comments\n"
          "Participant 12345,John Smith,john@example.edu,Submitted for grading,,10.00,Yes,-,-,\n")


def readme_commands() -> list[tuple[str, str]]:
    """(section, command) for every line of every fenced bash block of SECTIONS, comments removed,
    ``a && b`` split into two commands."""
    text = (ROOT / "README.md").read_text()
    found = []
    for part in re.split(r"(?m)^## ", text)[1:]:
        title = part.splitlines()[0]
        if not title.startswith(SECTIONS):
            continue
        for block in re.findall(r"```bash\n(.*?)```", part, re.S):
            for line in block.splitlines():
                pieces: list[list[str]] = [[]]
                for word in shlex.split(line, comments=True):
                    if word == "&&":
                        pieces.append([])
                    else:
                        pieces[-1].append(word)
                found.extend((title, " ".join(shlex.quote(word) for word in piece)) for piece in pieces if piece)
    return found


def _workspace(folder: Path) -> None:
    """The files README's commands name, made from the bundled notebooks."""
    shutil.copyfile(SOLUTIONS / "rnn_step_by_step.ipynb", folder / "my_notebook.ipynb")
    (folder / "submissions").mkdir()
    shutil.copyfile(SOLUTIONS / "rnn_step_by_step.ipynb", folder / "submissions" / "zoe.ipynb")
    shutil.copyfile(ASSIGNMENTS / "rnn_step_by_step.ipynb", folder / "submissions" / "12345.ipynb")
    (folder / "canvas_export.csv").write_text(ROSTER)
    (folder / "overrides.csv").write_text("student,item,points,reason\nzoe,rnn_forward,20,checked by hand\n")
    (folder / "roster.csv").write_text(CANVAS)
    (folder / "worksheet.csv").write_text(MOODLE)
    with zipfile.ZipFile(folder / "submissions.zip", "w") as archive:  # as Canvas names a download
        archive.write(SOLUTIONS / "rnn_step_by_step.ipynb", "smithj_12345_67890_rnn.ipynb")


def _checkout_copy(folder: Path) -> Path:
    """A copy of the grader's checkout, for `grade release` (it rewrites assignments/ and expected/)."""
    copy = folder / "checkout"
    ignore = shutil.ignore_patterns("__pycache__", ".git", "build", "*.egg-info", ".pytest_cache", ".hypothesis")
    for name in ("grader", "solutions", "assignments", "expected"):
        shutil.copytree(ROOT / name, copy / name, ignore=ignore)
    shutil.copyfile(ROOT / "pyproject.toml", copy / "pyproject.toml")
    return copy


def test_every_readme_command_is_run_or_listed_with_a_reason():
    commands = [command for _, command in readme_commands()]
    assert any(command.startswith("grade ") for command in commands)  # the extraction itself works
    for command in commands:
        assert command.startswith("grade ") or command in NOT_RUN, f"README command neither run nor listed: {command}"
    assert set(NOT_RUN) <= set(commands), "NOT_RUN lists a command README no longer has"


def test_readme_commands_run_as_documented(tmp_path):
    _workspace(tmp_path)
    checkout = None
    env = {**os.environ, "PYTHONPATH": str(ROOT)}  # the working tree's grader, not an older installed one
    failures = []
    for section, command in readme_commands():
        if command in NOT_RUN:
            continue
        words = shlex.split(command)
        cwd = tmp_path
        if words[:2] == ["grade", "release"]:  # "run it inside the grader's source checkout"
            if "--check" in words:
                cwd = ROOT  # read-only
            else:
                checkout = checkout or _checkout_copy(tmp_path)
                cwd = checkout
        run = subprocess.run([sys.executable, "-m", "grader", *words[1:]], cwd=cwd, env=env,
                             capture_output=True, text=True, timeout=900)
        if run.returncode not in EXIT_CODES.get(command, (0,)):
            failures.append(f"[{section}] {command}: exit {run.returncode}\n{run.stderr[-2000:]}")
    assert not failures, "\n\n".join(failures)
    # What the commands left behind is what README says they write.
    grades = tmp_path / "grades"
    assert (grades / "gradebook.csv").is_file() and (grades / "report.html").is_file()
    assert json.loads((grades / "overrides.json").read_text())["overrides"]
    assert (tmp_path / "canvas.csv").is_file() and (tmp_path / "moodle.csv").is_file()
    assert (tmp_path / "report.html").is_file() and (tmp_path / "similarity.html").is_file()
