"""A class from an LMS zip, graded with the real command; then one student regraded after a fix:
only that student's result changes (with its history), everyone else's file stays byte for byte."""
from __future__ import annotations

import csv
import json
import shutil
import zipfile
from pathlib import Path

from grader.cli import main

from conftest import ASSIGNMENTS, SOLUTIONS

SOLUTION = SOLUTIONS / "rnn_step_by_step.ipynb"
STUB = ASSIGNMENTS / "rnn_step_by_step.ipynb"


def _gradebook(out: Path) -> dict[str, dict[str, str]]:
    with open(out / "gradebook.csv", newline="") as handle:
        return {row["student"]: row for row in csv.DictReader(handle)}


def test_canvas_zip_then_regrade_one_student(tmp_path, capsys):
    archive = tmp_path / "submissions.zip"
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as handle:
        handle.write(SOLUTION, "smithj_12345_500_rnn.ipynb")
        handle.write(STUB, "doej_late_777_600_rnn.ipynb")
        handle.write(STUB, "doej_777_580_rnn.ipynb")                 # an earlier submission: left out
    out = tmp_path / "grades"
    assert main([str(archive), "--out", str(out), "--jobs", "1", "--no-color"]) == 0
    printed = capsys.readouterr().out
    assert "doej_777_580_rnn.ipynb" in printed and "earlier submission" in printed
    book = _gradebook(out)
    assert set(book) == {"12345", "777"} and book["12345"]["score"] == "100.0" and book["777"]["score"] == "0.0"
    assert (out / "submissions" / "submissions" / "doej_late_777_600_rnn.ipynb").is_file()

    # A fix for student 777 (say a TA accepts a corrected notebook): regrade that student only.
    folder = tmp_path / "class"
    folder.mkdir()
    shutil.copyfile(SOLUTION, folder / "smithj_12345_500_rnn.ipynb")
    shutil.copyfile(SOLUTION, folder / "doej_late_777_600_rnn.ipynb")
    other = out / "results" / "12345.json"
    before = (other.read_bytes(), other.stat().st_mtime_ns)
    assert main([str(folder), "--out", str(out), "--student", "777", "--no-color"]) == 0
    assert (other.read_bytes(), other.stat().st_mtime_ns) == before
    record = json.loads((out / "results" / "777.json").read_text())
    assert record["score"] == 100 and record["notebook"] == str(folder / "doej_late_777_600_rnn.ipynb")
    assert [(r["previous_score"], r["score"], r["reason"]) for r in record["regrades"]] == [(0, 100, "regraded")]
    assert _gradebook(out)["777"]["score"] == "100.0"
    assert "100" in (out / "feedback" / "777.md").read_text()

    # The same from the results alone, with a reason; the history grows.
    assert main(["regrade", str(out), "777", "--reason", "hidden case fixed", "--no-color"]) == 0
    record = json.loads((out / "results" / "777.json").read_text())
    assert [r["reason"] for r in record["regrades"]] == ["regraded", "hidden case fixed"]
    assert (other.read_bytes(), other.stat().st_mtime_ns) == before

    assert main([str(folder), "--out", str(out), "--student", "nobody"]) == 2
    assert "no submission with that id" in capsys.readouterr().err
    assert main(["regrade", str(out), "nobody"]) == 2
