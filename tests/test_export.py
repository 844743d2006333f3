"""Grades out to the LMS: Canvas's gradebook import and Moodle's grading worksheet, built from
small fixtures in the layouts the LMSs export; nobody dropped silently; no formula survives."""
from __future__ import annotations

import csv
import io
import json
import os
import re
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from grader.batch import load_results
from grader.cli import main
from grader.errors import UsageError
from grader.export import (CANVAS_POINTS_ROW, MOODLE_COLUMNS, LatePolicy, canvas_csv, cell, grades_from,
                           moodle_csv)

# As Canvas exports a gradebook (Grades > Export): identity columns, assignments "Name (id)",
# read-only totals, and a "Points Possible" row under the header.
CANVAS_ROSTER = (
    "Student,ID,SIS User ID,SIS Login ID,Section,RNN step by step (98765),Current Score,Final Score\n"
    "    Points Possible,,,,,100.00,(read only),(read only)\n"
    '"Smith, John",12345,S001,smithj,Section A,,,\n'
    '"Doe, Jane",777,S002,doej,Section A,,,\n'
    '"=HYPERLINK(""http://x"")",4242,S003,evil,Section B,,,\n'
    '"Student, Test",99999,,,,,,\n'
)

# As Moodle writes an assignment's offline grading worksheet.
MOODLE_WORKSHEET = (
    "\ufeffIdentifier,Full name,Email address,Status,Grade,Maximum Grade,Grade can be changed,"
    "Last modified (submission),Last modified (grade),Feedback comments\n"
    'Participant 4321,Jane Doe,jane@example.edu,Submitted for grading,,10.00,Yes,'
    '"Thursday, 20 November 2026, 11:02 PM",-,\n'
    "Participant 88,Bo Li,bo@example.edu,No submission,,10.00,Yes,-,-,\n"
    'Participant 5,Locked Person,lp@example.edu,Submitted for grading,7.00,10.00,No,'
    '"Friday, 21 November 2026, 9:00 AM","Saturday, 22 November 2026, 9:00 AM",Good\n'
    "Participant 6,Al Bee,al@example.edu,Submitted for grading,,10.00,Yes,-,-,\n"
)


def _result(out: Path, student: str, score: float, *, graded: bool = True, error: str = "",
            failing: str = "", notebook: Path | None = None) -> None:
    functions = [{"name": "rnn_forward", "section": "required", "score": 0 if failing else 25, "max_score": 25,
                  "status": "failed" if failing else "passed", "messages": [failing] if failing else []}]
    record = {"student": student, "notebook": str(notebook or out / f"{student}.ipynb"), "score": score,
              "max_score": 100, "graded": graded, "error": error, "functions": functions if graded else []}
    (out / "results").mkdir(parents=True, exist_ok=True)
    (out / "results" / f"{student}.json").write_text(json.dumps(record))


def _rows(text: str) -> list[list[str]]:
    return list(csv.reader(io.StringIO(text)))


@pytest.fixture
def out(tmp_path) -> Path:
    out = tmp_path / "grades"
    _result(out, "12345", 75, failing="=cmd|' /C calc'!A0")       # Canvas user id (from a Canvas download)
    _result(out, "777", 0, graded=False, error="not a notebook: JSON parse error")
    _result(out, "evil", 100)                                        # filed under a SIS login
    _result(out, "ghost", 50)                                        # nobody on the roster
    return out


def test_canvas_import_csv(out):
    text, report = canvas_csv(CANVAS_ROSTER, grades_from(load_results(out)), "RNN step by step (98765)")
    rows = _rows(text)
    assert rows[0] == ["Student", "ID", "SIS User ID", "SIS Login ID", "Section", "RNN step by step (98765)"]
    assert rows[1] == [CANVAS_POINTS_ROW, "", "", "", "", "100"]
    body = {row[1]: row for row in rows[2:]}
    assert body["12345"] == ["Smith, John", "12345", "S001", "smithj", "Section A", "75"]
    assert body["777"][-1] == "0" and body["4242"][-1] == "100" and body["99999"][-1] == ""
    assert body["4242"][0].startswith("'=")                          # the formula is text now
    assert report.exported == 3 and report.not_in_roster == ["ghost"] and report.not_graded == ["777"]
    assert report.no_result == ["Student, Test (99999)"]
    assert any("ghost" in line for line in report.lines())
    assert text.endswith("\r\n")


def test_moodle_worksheet(tmp_path):
    out = tmp_path / "grades"
    _result(out, "4321", 80, failing="@SUM(1+1)*cmd")
    _result(out, "5", 100)
    _result(out, "al@example.edu", 50)                              # filed under the email address
    text, report = moodle_csv(MOODLE_WORKSHEET, grades_from(load_results(out)))
    rows = _rows(text)
    assert rows[0] == list(MOODLE_COLUMNS)
    body = {row[0]: dict(zip(rows[0], row)) for row in rows[1:]}
    jane = body["Participant 4321"]
    assert jane["Grade"] == "8.00" and jane["Maximum Grade"] == "10.00" and jane["Last modified (grade)"] == "-"
    assert jane["Feedback comments"].startswith("Autograder: 80 / 100") and "rnn_forward FAIL" in jane["Feedback comments"]
    assert jane["Last modified (submission)"] == "Thursday, 20 November 2026, 11:02 PM"
    assert body["Participant 88"]["Grade"] == "" and body["Participant 6"]["Grade"] == "5.00"
    locked = body["Participant 5"]
    assert locked["Grade"] == "7.00" and locked["Feedback comments"] == "Good"    # Moodle says not changeable
    assert report.unchangeable == ["Locked Person (Participant 5)"] and report.no_result == ["Bo Li (Participant 88)"]


def test_moodle_feedback_is_text_in_its_html_and_names_no_server_folder(tmp_path):
    """Moodle stores imported feedback comments as HTML: a file name the student chose (`<a href=...>`)
    reached it as markup, with the grading machine's folders around it."""
    out = tmp_path / "grades"
    notebook = tmp_path / "srv" / "class" / "Jane Doe_4321_assignsubmission_file_" / "<a href=https:evil>Regrade<b>.ipynb"
    _result(out, "4321", 0, graded=False, notebook=notebook, error=f"{notebook}: is not a readable Jupyter notebook")
    text, _ = moodle_csv(MOODLE_WORKSHEET, grades_from(load_results(out)))
    rows = _rows(text)
    feedback = {row[0]: dict(zip(rows[0], row)) for row in rows[1:]}["Participant 4321"]["Feedback comments"]
    assert "<a" not in feedback and "&lt;a href=https:evil&gt;Regrade&lt;b&gt;.ipynb: is not a readable" in feedback
    assert str(tmp_path) not in feedback and "srv" not in feedback


def test_moodle_late_policy_uses_the_worksheet_submission_time(tmp_path):
    out = tmp_path / "grades"
    due = datetime(2026, 11, 20, 22, 0).astimezone()
    files = {}
    for student in ("4321", "6"):
        files[student] = tmp_path / f"{student}.ipynb"
        files[student].write_text("{}")
        later = (due + timedelta(days=3)).timestamp()
        os.utime(files[student], (later, later))
    _result(out, "4321", 80, notebook=files["4321"])  # file 3 days late, but Moodle says 20 November, 23:02
    _result(out, "6", 80, notebook=files["6"])        # no time in the worksheet: the file's time
    policy = LatePolicy(due, per_day=5)
    text, report = moodle_csv(MOODLE_WORKSHEET, grades_from(load_results(out), policy), policy)
    body = {row[0]: dict(zip(_rows(text)[0], row)) for row in _rows(text)[1:]}
    assert body["Participant 4321"]["Grade"] == "8.00" and body["Participant 4321"]["Late-adjusted grade"] == "7.60"
    assert "Late by 1 day(s): 5% penalty (7.60 if applied)" in body["Participant 4321"]["Feedback comments"]
    assert report.late == ["4321 (1 day(s), -5%, by the LMS's submission time)", "6 (3 day(s), -15%, by the file's modification time)"]


def test_cells_are_neutralised_against_formulas():
    assert [cell(v) for v in ["=1+1", "+1+1", "-2+3", "@SUM(A1)", "\tx", "\rx", "-", "-3.5", "+4", "plain"]] == [
        "'=1+1", "'+1+1", "'-2+3", "'@SUM(A1)", "'\tx", "'\rx", "-", "-3.5", "+4", "plain"]
    assert cell(-3) == -3 and cell(None) == ""


def test_late_policy_is_a_column_beside_the_raw_score(tmp_path):
    out = tmp_path / "grades"
    due = datetime(2026, 11, 20, 23, 59, tzinfo=timezone.utc)
    on_time, late = tmp_path / "a.ipynb", tmp_path / "b.ipynb"
    for path, when in ((on_time, due - timedelta(hours=1)), (late, due + timedelta(days=1, hours=2))):
        path.write_text("{}")
        os.utime(path, (when.timestamp(), when.timestamp()))
    _result(out, "12345", 80, notebook=on_time)
    _result(out, "777", 80, notebook=late)
    policy = LatePolicy(due, per_day=10, cap=15)
    text, report = canvas_csv(CANVAS_ROSTER, grades_from(load_results(out), policy), "RNN", policy)
    rows = _rows(text)
    assert rows[0][-2:] == ["RNN", "RNN (late-adjusted)"] and rows[1][-2:] == ["100", "100"]
    body = {row[1]: row for row in rows[2:]}
    assert body["12345"][-2:] == ["80", "80"]
    assert body["777"][-2:] == ["80", "68"]                          # 2 days started: 20%, capped at 15%
    assert report.late == ["777 (2 day(s), -15%, by the file's modification time)"]  # the source is named
    canvas_late = tmp_path / "doej_late_777_600_rnn.ipynb"
    canvas_late.write_text("{}")
    _result(out, "777", 80, notebook=canvas_late)
    _, report = canvas_csv(CANVAS_ROSTER, grades_from(load_results(out)), "RNN")
    assert report.late == ["777 (marked late by the LMS; no --due policy applied)"]
    assert LatePolicy(due, 10).penalty(None) == (0, 0.0)


def test_export_command(out, tmp_path, capsys):
    roster = tmp_path / "roster.csv"
    roster.write_text(CANVAS_ROSTER)
    assert main(["export", str(out), "--canvas", str(roster), "-o", str(tmp_path / "canvas.csv"),
                 "--column", "RNN (98765)", "--no-color"]) == 0
    printed = capsys.readouterr().out
    assert "ghost" in printed and "Student, Test" in printed
    assert _rows((tmp_path / "canvas.csv").read_text())[0][-1] == "RNN (98765)"
    worksheet = tmp_path / "worksheet.csv"
    worksheet.write_text("Name,Score\nx,1\n")
    assert main(["export", str(out), "--moodle", str(worksheet)]) == 2
    assert "Download grading worksheet" in capsys.readouterr().err
    assert main(["export", str(tmp_path / "nothing"), "--canvas", str(roster)]) == 2


def test_default_column_is_the_graded_assignment():
    from grader.export import default_column

    assert default_column([{"assignment": "rnn_step_by_step"}, {"assignment": None},
                           {"assignment": "rnn_step_by_step"}, {"assignment": "dinosaur_island"}]) == \
        "rnn_step_by_step (autograder)"
    assert default_column([{"assignment": None}]) == "Autograder"


def test_a_roster_without_ids_is_refused():
    with pytest.raises(UsageError, match="no ID column"):
        canvas_csv("Student,Section\nA,B\n", [], "X")


def test_the_feedback_column_speaks_as_the_report_and_shows_overrides():
    """Moodle's feedback said "not_implemented" and "timeout" (the JSON's words), and kept saying a
    function timed out after the TA had set its points."""
    from grader.export import _summary

    data = {"graded": True, "score": 87, "max_score": 100, "functions": [
        {"name": "rnn_cell_forward", "section": "required", "status": "not_implemented", "score": 0},
        {"name": "lstm_cell_forward", "section": "required", "status": "timeout", "score": 12, "computed_score": 0,
         "override": {"reason": "ran locally"}}]}
    assert _summary(data) == "Autograder: 87 / 100 (rnn_cell_forward TODO; lstm_cell_forward set to 12 by your TA)"


# --- one result per row, one row per result ----------------------------------------------------

STEAL_ROSTER = (
    "Student,ID,SIS User ID,SIS Login ID,Section,RNN (55)\n"
    "    Points Possible,,,,,100\n"
    '"Real, Alice",1001,A-0001,alice,S1,\n'
    '"Real, Bob",1002,A-0002,bob,S1,\n'
    '"Evil, Mallory",1003,A-0003,mallory,S1,\n'
)


def test_a_notebook_named_after_a_classmates_canvas_id_fills_no_row(tmp_path):
    """Plain file names (alice.ipynb -> alice): Mallory named hers 1001.ipynb, Alice's Canvas ID. The row
    was filled from the first key any result had (ID before SIS Login ID): Mallory's 0 went into Alice's
    row, and Alice's 100 was listed as "no roster row" although her SIS Login ID is on that very row."""
    out = tmp_path / "grades"
    _result(out, "alice", 100)
    _result(out, "bob", 100)
    _result(out, "1001", 0, failing="not implemented")  # Mallory's
    text, report = canvas_csv(STEAL_ROSTER, grades_from(load_results(out)), "RNN (55)")
    body = {row[1]: row for row in _rows(text)[2:]}
    assert body["1001"][-1] == "" and body["1002"][-1] == "100"   # Alice's row left blank, Bob's filled
    assert report.ambiguous == ["Real, Alice (1001) is matched by 2 results: 1001 (its ID), alice (its SIS Login ID)"]
    assert report.not_in_roster == [] and report.no_result == ["Evil, Mallory (1003)"]
    assert report.exported == 1
    assert report.lines()[0].startswith("roster rows left blank: more than one result matches them")


def test_a_result_matching_two_rows_fills_neither(tmp_path):
    """One id that is one row's ID and another row's SIS Login ID went to whichever row came first."""
    roster = STEAL_ROSTER.replace("A-0002,bob", "A-0002,1001")   # Bob's login is Alice's ID
    out = tmp_path / "grades"
    _result(out, "1001", 100)
    _result(out, "mallory", 50)
    text, report = canvas_csv(roster, grades_from(load_results(out)), "RNN (55)")
    body = {row[1]: row for row in _rows(text)[2:]}
    assert body["1001"][-1] == "" and body["1002"][-1] == "" and body["1003"][-1] == "50"
    assert report.ambiguous == ["result 1001 matches 2 rows: Real, Alice (1001) (its ID), Real, Bob (1002) (its SIS Login ID)"]
    assert report.no_result == [] and report.not_in_roster == [] and report.exported == 1


def test_moodle_row_matched_by_participant_id_and_email_is_left_blank(tmp_path, capsys):
    out = tmp_path / "grades"
    _result(out, "4321", 80)
    _result(out, "jane@example.edu", 10)
    text, report = moodle_csv(MOODLE_WORKSHEET, grades_from(load_results(out)))
    body = {row[0]: dict(zip(_rows(text)[0], row)) for row in _rows(text)[1:]}
    assert body["Participant 4321"]["Grade"] == "" and body["Participant 4321"]["Feedback comments"] == ""
    assert report.ambiguous == ["Jane Doe (Participant 4321) is matched by 2 results: 4321 (its Identifier), "
                                "jane@example.edu (its Email address)"]
    assert "Jane Doe (Participant 4321)" not in report.no_result and report.not_in_roster == []
    worksheet = tmp_path / "worksheet.csv"
    worksheet.write_text(MOODLE_WORKSHEET)
    assert main(["export", str(out), "--moodle", str(worksheet), "-o", str(tmp_path / "m.csv"), "--no-color"]) == 0
    printed = " ".join(capsys.readouterr().out.split())
    assert "warning: roster rows left blank" in printed and "4321 (its Identifier)" in printed
    assert "jane@example.edu (its Email address)" in printed


# --- formulas after a separator ---------------------------------------------------------------

def _formula_cells(text: str) -> list[str]:
    """The cells a spreadsheet reading ``text`` with ``,``, ``;`` or tab as separator would run."""
    number = re.compile(r"[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?")
    found = []
    for delimiter in (",", ";", "\t"):
        for row in csv.reader(io.StringIO(text), delimiter=delimiter):
            for value in row:
                head = value.strip(" ")
                if head[:1] in ("=", "+", "-", "@") and head != "-" and not number.fullmatch(head):
                    found.append(value)
    return found


def test_formula_starts_after_a_separator_are_neutralised():
    """Only a cell's first character was looked at: a `;` (Excel's separator in de/fr/nl), a tab or a line
    break inside a field starts a new cell for some readers, and `=1+1` after it ran. Ordinary names and
    numbers after a separator stay as they are."""
    from grader.textsafe import csv_cell

    table = [("rnn;=1+1;.ipynb", "rnn;'=1+1;.ipynb"),
             ("rnn\t=2+3\t.ipynb", "rnn\t'=2+3\t.ipynb"),
             ("a, @SUM(A1)", "a, '@SUM(A1)"),
             ("line\n+cmd", "line\n'+cmd"),
             ("x\r-2+3", "x\r'-2+3"),
             ("x;  =1", "x;  '=1"),
             ("score 3; -2 late, +4", "score 3; '-2 late, +4"),
             ("Smith, John", "Smith, John"),
             ("a, -2; -", "a, -2; -")]
    assert [cell(text) for text, _ in table] == [expected for _, expected in table]
    assert [csv_cell(text) for text, _ in table] == [expected.replace("\r", "\n") for _, expected in table]


def test_no_formula_in_the_gradebook_or_moodle_csv_whatever_the_separator(tmp_path):
    """The red team's file names (a folder per student names the student, the file name is free) read
    with `;` or tab as the separator: each `=` after one was a formula cell."""
    from grader.batch import gradebook_csv

    out = tmp_path / "grades"
    names = {"zoe": "rnn;=1+1;.ipynb", "amy": 'rnn;=HYPERLINK("http://evil.example/x","open");.ipynb',
             "bob": "rnn\t=2+3\t.ipynb", "dan": "x;=5+5;.ipynb"}
    for student, name in names.items():
        _result(out, student, 100, notebook=tmp_path / "class" / student / name)
    _result(out, "4321", 0, graded=False, notebook=tmp_path / "Jane Doe_4321_assignsubmission_file_" / "x;=7+7;.ipynb",
            error=f"{tmp_path}/x;=7+7;.ipynb: is not a readable Jupyter notebook; =4+4")
    results = load_results(out)
    gradebook = gradebook_csv(results)
    assert _formula_cells(gradebook) == []
    assert "rnn;'=1+1;.ipynb" in gradebook and "rnn\t'=2+3\t.ipynb" in gradebook
    moodle, _ = moodle_csv(MOODLE_WORKSHEET, grades_from(results))
    assert _formula_cells(moodle) == []
    assert "x;'=7+7;.ipynb" in moodle


def test_export_quotes_every_text_cell_and_no_number(out):
    text, _ = canvas_csv(CANVAS_ROSTER, grades_from(load_results(out)), "RNN step by step (98765)")
    lines = text.split("\r\n")
    assert lines[0] == '"Student","ID","SIS User ID","SIS Login ID","Section","RNN step by step (98765)"'
    assert lines[1] == '"    Points Possible","","","","",100'
    assert '"Smith, John","12345","S001","smithj","Section A",75' in lines
