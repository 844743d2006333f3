"""A class from an LMS zip, graded with the real command; one item regraded for everyone (the other
functions kept); then one student regraded after a fix: only that student's result changes (with its
history), everyone else's file stays byte for byte."""
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
    assert set(book) == {"12345", "777"} and book["12345"]["score"] == "100" and book["777"]["score"] == "0"
    assert (out / "submissions" / "submissions" / "doej_late_777_600_rnn.ipynb").is_file()

    # One item for everyone: only rnn_forward is graded again and put into each result, the rest kept.
    shutil.copyfile(SOLUTION, out / "submissions" / "submissions" / "doej_late_777_600_rnn.ipynb")
    assert main(["regrade", str(out), "--item", "rnn_forward", "--reason", "rnn_forward cases fixed"]) == 0
    record = json.loads((out / "results" / "777.json").read_text())
    statuses = {f["name"]: f["status"] for f in record["functions"]}
    assert record["score"] == 25 and statuses["rnn_forward"] == "passed" and statuses["lstm_forward"] != "passed"
    assert record["regrades"] == [{"at": record["regrades"][0]["at"], "reason": "rnn_forward cases fixed",
                                   "previous_score": 0, "previous_max_score": 100, "score": 25,
                                   "item": "rnn_forward"}]
    assert json.loads((out / "results" / "12345.json").read_text())["score"] == 100
    assert _gradebook(out)["777"]["score"] == "25" and not (out / ".regrade-item").exists()
    assert main(["regrade", str(out), "--item", "no_such_function"]) == 2

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
    assert [(r["previous_score"], r["score"], r["reason"]) for r in record["regrades"]][-1] == (25, 100, "regraded")
    assert _gradebook(out)["777"]["score"] == "100"
    assert "100" in (out / "feedback" / "777.md").read_text()

    # The same from the results alone, with a reason; the history grows.
    assert main(["regrade", str(out), "777", "--reason", "hidden case fixed", "--no-color"]) == 0
    record = json.loads((out / "results" / "777.json").read_text())
    assert [r["reason"] for r in record["regrades"]] == ["rnn_forward cases fixed", "regraded", "hidden case fixed"]
    assert (other.read_bytes(), other.stat().st_mtime_ns) == before

    assert main([str(folder), "--out", str(out), "--student", "nobody"]) == 2
    assert "no submission with that id" in capsys.readouterr().err
    assert main(["regrade", str(out), "nobody"]) == 2


def test_select_takes_lists_and_names_the_ids_there_are(tmp_path):
    import pytest

    from grader.batch import Entry
    from grader.errors import UsageError
    from grader.regrade import select

    entries = [Entry(name, tmp_path / f"{name}.ipynb") for name in ("a", "b", "c")]
    assert [e.student for e in select(entries, ["a,c"])] == ["a", "c"]
    with pytest.raises(UsageError, match=r"--student zz: no submission with that id \(there are: a, b, c\)"):
        select(entries, ["b", "zz"])


def test_merge_item_replaces_one_function_and_recomputes_totals():
    from grader.regrade import merge_item, with_history

    def function(name: str, score: float, section: str = "required") -> dict:
        return {"name": name, "section": section, "score": score, "max_score": 25 if section == "required" else 5,
                "status": "passed" if score else "failed"}

    old = {"graded": True, "score": 25, "max_score": 50, "optional_score": 0, "optional_max_score": 5,
           "functions": [function("a", 25), function("b", 0), function("adam", 0, "optional")]}
    new = {"graded": True, "score": 25, "functions": [function("b", 25)]}
    merged = merge_item(old, new, "b")
    assert merged["score"] == 50 and [f["score"] for f in merged["functions"]] == [25, 25, 0]
    assert merge_item(old, {"graded": False, "functions": []}, "b") is None
    assert merge_item({"graded": False}, new, "b") is None and merge_item(old, new, "c") is None
    history = with_history(merged, {**old, "regrades": [{"reason": "first"}]}, "why", "2026-11-26T00:00:00Z", "b")
    assert history["regrades"][-1] == {"at": "2026-11-26T00:00:00Z", "reason": "why", "previous_score": 25,
                                       "previous_max_score": 50, "score": 50, "item": "b"}
    assert history["regrades"][0] == {"reason": "first"}
