"""README cannot drift from the product: every fenced `bash` command of the user sections is run here
(in README's order, against bundled notebooks in a temporary folder) and must exit as README says.

Placeholders are files this test makes (``my_notebook.ipynb``, ``submissions/``, ``canvas_export.csv``,
``submissions.zip``, ...). A command that cannot run here is listed in ``NOT_RUN`` with the reason; a
command README gains is run automatically, so a new one that cannot run fails until it is listed.
``CHECKS`` then checks, right after a command ran, what README says it does (the files it writes, the
gradebook cells it changes, what it prints), not only that it exits as documented.
Sections not covered: "On a cluster: Dask" (Dask scheduler and workers on several machines; the batch
with ``--scheduler`` is tested in tests/test_dask_batch.py).
"""
from __future__ import annotations

import csv
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path
from typing import Callable

from conftest import ASSIGNMENTS, ROOT, SOLUTIONS

SECTIONS = ("Quick start", "For students", "For TAs", "Class report and similarity", "With your LMS",
            "For instructors")

NOT_RUN = {
    "pip install .": "installs into this environment (CI does it: `pip install '.[test]'`)",
    "pip install '.[test]'": "installs into this environment (CI does it)",
    "python -m pytest -q": "the test suite itself",
    "pip install '.[report]'": "installs into this environment (CI installs the test extra)",
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


def _gradebook(folder: Path) -> dict[str, dict[str, str]]:
    with open(folder / "grades" / "gradebook.csv", newline="") as handle:
        return {row["student"]: row for row in csv.DictReader(handle)}


def _result(folder: Path, student: str) -> dict:
    return json.loads((folder / "grades" / "results" / f"{student}.json").read_text())


def _csv_rows(path: Path) -> list[dict[str, str]]:
    with open(path, newline="") as handle:
        return list(csv.DictReader(handle))


#: What README says a command does, checked right after it ran (folder: the workspace; out: its stdout).
#: A command README gains is run by the test above without a check here; add one when it writes something.
CHECKS: dict[str, Callable[[Path, str], bool]] = {
    "grade --demo": lambda folder, out: out.count("100 / 100") == len(list(SOLUTIONS.glob("*.ipynb"))),
    "grade my_notebook.ipynb": lambda folder, out: "100 / 100" in out and "lstm_forward" in out,
    "grade my_notebook.ipynb --only rnn_forward":
        lambda folder, out: "25 / 25" in out and "rnn_forward" in out and "lstm_forward" not in out,
    "grade submissions/ --out grades/ --dry-run":  # every notebook, its id and the assignment; nothing written
        lambda folder, out: not (folder / "grades").exists() and "rnn_step_by_step" in out
        and all(f"submissions/{name}.ipynb" in out for name in ("zoe", "12345")),
    "grade submissions/ --out grades/":
        lambda folder, out: _gradebook(folder)["zoe"]["score"] == "100" and _gradebook(folder)["12345"]["score"] == "0"
        and all((folder / "grades" / name).exists() for name in
                ("results.json", "results/zoe.json", "feedback/zoe.md", "gradescope/zoe.json", "assignment.json",
                 "report.html", ".grader-secret"))
        and json.loads((folder / "grades" / "results.json").read_text())["schema_version"] == 2,
    "grade submissions/ --out grades/ --assignment rnn_step_by_step --roster canvas_export.csv":
        lambda folder, out: (folder / "grades" / "roster.csv").read_text() == ROSTER
        and set(_gradebook(folder)) == {"zoe", "12345"},
    "grade override grades/ zoe rnn_forward 8 --reason 'off-by-one in the test, accepted'":
        lambda folder, out: _gradebook(folder)["zoe"]["rnn_forward"] == "8" and _gradebook(folder)["zoe"]["score"] == "83"
        and _gradebook(folder)["zoe"]["overrides"] == "rnn_forward: 8 (computed 25; off-by-one in the test, accepted)"
        and _result(folder, "zoe")["computed_score"] == 100
        and "Score changed by your TA" in (folder / "grades" / "feedback" / "zoe.md").read_text(),
    "grade override grades/ --file overrides.csv": lambda folder, out: _gradebook(folder)["zoe"]["rnn_forward"] == "20",
    "grade override grades/ zoe rnn_forward --clear --reason withdrawn":
        lambda folder, out: _gradebook(folder)["zoe"]["overrides"] == "" and _gradebook(folder)["zoe"]["score"] == "100"
        and len(json.loads((folder / "grades" / "overrides.json").read_text())["overrides"]) == 3,  # history kept
    "grade report grades/ -o report.html":
        lambda folder, out: "<html" in (folder / "report.html").read_text()[:500].lower(),
    "grade similarity submissions/ -o similarity.html":
        lambda folder, out: "<html" in (folder / "similarity.html").read_text()[:500].lower(),
    "grade submissions.zip --out grades/":  # unpacked into grades/submissions/<zip name>/, the LMS id as student
        lambda folder, out: (folder / "grades" / "submissions" / "submissions" / "smithj_12345_67890_rnn.ipynb").is_file()
        and "smithj_12345_67890_rnn.ipynb" in _gradebook(folder)["12345"]["notebook"],
    "grade export grades/ --canvas roster.csv -o canvas.csv --column 'RNN step by step (98765)'":
        lambda folder, out: [row["RNN step by step (98765)"] for row in _csv_rows(folder / "canvas.csv")
                             if row["ID"] in ("", "12345") or row["Student"].strip() == "Points Possible"]
        == ["100", "100"],
    "grade export grades/ --moodle worksheet.csv -o moodle.csv":
        lambda folder, out: [(row["Grade"], bool(row["Feedback comments"])) for row in _csv_rows(folder / "moodle.csv")]
        == [("10.00", True)],
    "grade submissions/ --out grades/ --student 12345":
        lambda folder, out: _gradebook(folder)["12345"]["notebook"] == "submissions/12345.ipynb"
        and _result(folder, "12345")["regrades"] and _gradebook(folder)["zoe"]["score"] == "100",
    "grade regrade grades/ 12345 --reason 'new notebook accepted'":
        lambda folder, out: _result(folder, "12345")["regrades"][-1]["reason"] == "new notebook accepted",
    "grade regrade grades/ --item rnn_forward --reason 'case fixed'":
        lambda folder, out: all(_result(folder, student)["regrades"][-1]["item"] == "rnn_forward"
                                for student in ("zoe", "12345")),
}


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
    assert set(CHECKS) <= set(commands), "CHECKS has a command README no longer has"


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
        elif command in CHECKS and not CHECKS[command](cwd, run.stdout):
            failures.append(f"[{section}] {command}: did not do what README says (CHECKS)\n{run.stdout[-2000:]}")
    assert not failures, "\n\n".join(failures)
    # What the commands left behind is what README says they write.
    grades = tmp_path / "grades"
    assert (grades / "gradebook.csv").is_file() and (grades / "report.html").is_file()
    assert json.loads((grades / "overrides.json").read_text())["overrides"]
    assert (tmp_path / "canvas.csv").is_file() and (tmp_path / "moodle.csv").is_file()
    assert (tmp_path / "report.html").is_file() and (tmp_path / "similarity.html").is_file()
