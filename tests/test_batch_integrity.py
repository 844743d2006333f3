"""Batch integrity (issue 17; issue 10, item 9): the TA decides the assignment and who is who, and no
string a student controls can trick the gradebook, the feedback, Gradescope or the terminal."""
from __future__ import annotations

import csv
import io
import json
import re
import shutil
from pathlib import Path

import pytest

from grader import textsafe
from grader.errors import UsageError
from grader.batch import discover, grade_batch, gradebook_csv, load_results, settle_candidates, write_outputs
from grader.cli import main
from grader.load import detect_assignment, load_submission
from grader.students import assign_ids, parse_roster

from conftest import ASSIGNMENTS, FAST, SOLUTIONS, make_notebook, solution_cells

CONFIG = FAST.with_changes(hidden_cases=0)
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
CONTROL = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f]")


def copy(source: Path, target: Path, metadata: dict | None = None) -> Path:
    target.parent.mkdir(parents=True, exist_ok=True)
    if metadata is None:
        shutil.copyfile(source, target)
    else:
        nb = json.loads(source.read_text())
        nb["metadata"] = metadata
        target.write_text(json.dumps(nb))
    return target


def csv_rows(out: Path) -> list[list[str]]:
    return list(csv.reader(io.StringIO((out / "gradebook.csv").read_text())))


# --- 1. the TA picks the assignment ------------------------------------------------------------

def test_a_notebook_of_another_assignment_is_not_graded_against_it(tmp_path, capsys):
    folder = tmp_path / "class"
    copy(SOLUTIONS / "rnn_step_by_step.ipynb", folder / "alice.ipynb")
    copy(ASSIGNMENTS / "rnn_step_by_step.ipynb", folder / "bob.ipynb")
    # Mallory hands in the (finished) other assignment and says, in its metadata, that it is this one.
    copy(SOLUTIONS / "dinosaur_island.ipynb", folder / "mallory.ipynb",
         metadata={"grader": {"assignment": "rnn_step_by_step", "version": "v4"}})
    out = tmp_path / "out"
    assert main([str(folder), "--out", str(out), "--hidden-cases", "0", "--seed", "0", "--no-color",
                 "--only", "rnn_cell_forward"]) == 0
    text = capsys.readouterr().out
    assert text.index("assignment: rnn_step_by_step (most notebooks are: 2 of 3)") < text.index("Submissions")
    assert "rnn_step_by_step (most notebooks are: 2 of 3); 1 of another assignment not graded" in " ".join(text.split())
    results = {d["student"]: d for d in load_results(out)}
    assert results["alice"]["score"] == 25 and results["bob"]["score"] == 0
    mallory = results["mallory"]
    assert not mallory["graded"] and mallory["score"] == 0 and mallory["error"].startswith("wrong assignment")
    assert "dinosaur_island" in mallory["error"] and "--assignment dinosaur_island" in mallory["error"]
    row = next(r for r in csv.DictReader(open(out / "gradebook.csv")) if r["student"] == "mallory")
    assert row["status"] == "not graded" and row["message"].startswith("wrong assignment")
    # Regrading Mallory alone keeps the class's assignment (her notebook is the majority of one).
    entries, _ = discover([str(folder)])
    summary = grade_batch([e for e in entries if e.student == "mallory"], out, CONFIG, jobs=1, force=True)
    assert summary.assignment == "rnn_step_by_step"
    assert {d["student"]: d for d in load_results(out)}["mallory"]["error"].startswith("wrong assignment")


def test_the_ta_can_name_the_assignment_and_the_majority_does_not_override_it(tmp_path):
    folder = tmp_path / "class"
    copy(SOLUTIONS / "rnn_step_by_step.ipynb", folder / "alice.ipynb")
    copy(SOLUTIONS / "rnn_step_by_step.ipynb", folder / "bob.ipynb")
    copy(SOLUTIONS / "dinosaur_island.ipynb", folder / "carol.ipynb")
    entries, _ = discover([str(folder)])
    summary = grade_batch(entries, tmp_path / "out", CONFIG.with_changes(assignment="dinosaur_island", only=("clip",)),
                          jobs=2)
    assert (summary.assignment, summary.assignment_reason) == ("dinosaur_island", "chosen with --assignment")
    results = {d["student"]: d for d in load_results(tmp_path / "out")}
    assert results["carol"]["score"] == 25
    assert all(results[s]["error"].startswith("wrong assignment") for s in ("alice", "bob"))
    # The folder now holds Dinosaur Island's results: grading it as another assignment would replace
    # every one of them, so it is refused unless the TA says --force.
    before = {path.name: path.read_bytes() for path in (tmp_path / "out" / "results").glob("*.json")}
    with pytest.raises(UsageError, match="holds the results of dinosaur_island; grading it as rnn_step_by_step"):
        grade_batch(entries, tmp_path / "out", CONFIG.with_changes(assignment="rnn_step_by_step", only=("rnn_cell_forward",)),
                    jobs=2)
    assert before == {path.name: path.read_bytes() for path in (tmp_path / "out" / "results").glob("*.json")}
    summary = grade_batch(entries, tmp_path / "out", CONFIG.with_changes(assignment="rnn_step_by_step",
                                                                         only=("rnn_cell_forward",)), jobs=2, force=True)
    assert summary.assignment == "rnn_step_by_step"


@pytest.mark.parametrize("layout", ["folder per student", "nbgrader"])
def test_copies_in_one_students_folder_neither_outvote_the_class_nor_count_as_classmates(tmp_path, layout, capsys):
    """Mallory put twelve copies of the other assignment's notebook in her own folder: each was a student
    of its own (named by file), so they outvoted the class and every classmate was "wrong assignment".
    Her folder is one student, who votes once per assignment handed in, and is graded on the newest
    notebook of the class's assignment; the TA is told what was left out."""
    import os

    folder = tmp_path / "class"
    where = (lambda student: folder / "submitted" / student / "rnn") if layout == "nbgrader" else \
        (lambda student: folder / student)
    for student in ("alice", "bob", "carol"):
        copy(SOLUTIONS / "rnn_step_by_step.ipynb", where(student) / "rnn.ipynb")
    own = copy(SOLUTIONS / "rnn_step_by_step.ipynb", where("mallory") / "rnn.ipynb")
    extras = [copy(SOLUTIONS / "dinosaur_island.ipynb", where("mallory") / "extra" / f"dino{n}.ipynb")
              for n in range(12)]
    os.utime(own, (1_700_000_000, 1_700_000_000))  # her copies are newer than the notebook that counts
    entries, problems = discover([str(folder)])
    assert sorted(entry.student for entry in entries) == ["alice", "bob", "carol", "mallory"] and not problems
    out = tmp_path / "out"
    assert main([str(folder), "--out", str(out), "--hidden-cases", "0", "--seed", "0", "--no-color",
                 "--only", "rnn_cell_forward"]) == 0
    text = " ".join(capsys.readouterr().out.split())
    assert "assignment: rnn_step_by_step (most notebooks are: 4 of 4)" in text
    results = {d["student"]: d for d in load_results(out)}
    assert set(results) == {"alice", "bob", "carol", "mallory"}
    assert all(d["score"] == 25 for d in results.values())
    assert results["mallory"]["notebook"] == str(own)
    assert "13 notebooks handed in; graded the newest of rnn_step_by_step, rnn.ipynb" in results["mallory"]["batch_note"]
    assert str(extras[0]) in results["mallory"]["batch_note"] and "and 7 more" in results["mallory"]["batch_note"]
    assert "student mallory: 13 notebooks" in text


@pytest.mark.parametrize("honest_multi", [1, 2, 4])
def test_an_extra_notebook_named_after_a_classmate_never_takes_their_id(tmp_path, honest_multi):
    """The layout decides: with folders read as sections once half of them held several notebooks, one
    student's extra notebook `mallory/dave.ipynb` tipped the class, took Dave's id (graded 0 in his row),
    and left Dave's own notebooks under their file names. Every folder is now its student's."""
    folder = tmp_path / "class"
    students = ["alice", "bob", "carol", "dave", "erin", "mallory"]
    for number, student in enumerate(students):
        copy(SOLUTIONS / "rnn_step_by_step.ipynb", folder / student / "rnn.ipynb")
        if number < honest_multi:
            copy(SOLUTIONS / "rnn_step_by_step.ipynb", folder / student / "rnn-Copy1.ipynb")
    copy(ASSIGNMENTS / "rnn_step_by_step.ipynb", folder / "mallory" / "dave.ipynb")
    entries, problems = discover([str(folder)])
    assert sorted(entry.student for entry in entries) == students and not problems
    by_id = {entry.student: entry for entry in entries}
    mallory = by_id["mallory"]
    assert by_id["dave"].path.parent == folder / "dave" and folder / "mallory" / "dave.ipynb" in (mallory.path, *mallory.candidates)


def test_section_folders_given_themselves_name_each_notebook_by_its_file(tmp_path):
    folder = tmp_path / "class"
    for section, students in (("section1", ("zoe", "amy")), ("section2", ("cy", "dan"))):
        for student in students:
            copy(ASSIGNMENTS / "rnn_step_by_step.ipynb", folder / section / f"{student}.ipynb")
    entries, _ = discover([str(folder / "section1"), str(folder / "section2")])
    assert sorted(entry.student for entry in entries) == ["amy", "cy", "dan", "zoe"]
    assert not any(entry.candidates for entry in entries)
    entries, _ = discover([str(folder)])  # from the folder above: each section is one student, and said so
    settled, notes = settle_candidates(entries, "rnn_step_by_step", 50)
    assert sorted(entry.student for entry in settled) == ["section1", "section2"]
    assert all("give that folder itself" in note for note in notes) and len(notes) == 2


def test_similarity_compares_one_notebook_per_student(tmp_path, capsys):
    """Copies in one student's folder counted as classmates for the common-code filter: enough of them
    made a real copy's code "what the class writes", and the pair was no longer flagged."""
    folder = tmp_path / "class"
    for student in ("alice", "bob", "carol"):
        copy(SOLUTIONS / "rnn_step_by_step.ipynb", folder / student / "rnn.ipynb")
    for n in range(5):
        copy(SOLUTIONS / "rnn_step_by_step.ipynb", folder / "mallory" / f"copy{n}.ipynb")
    assert main(["similarity", str(folder), "-o", str(tmp_path / "similarity.html"), "--no-color"]) == 0
    text = " ".join(capsys.readouterr().out.split())
    assert "among 4 notebooks" in text and "student mallory: 5 notebooks handed in" in text


def test_metadata_is_a_hint_never_an_override(tmp_path):
    path = copy(SOLUTIONS / "dinosaur_island.ipynb", tmp_path / "rnn_step_by_step.ipynb",
                metadata={"grader": {"assignment": "rnn_step_by_step", "version": "=HYPERLINK(\"http://e\",\"x\")"}})
    submission = load_submission(path, 50)
    assert submission.assignment.name == "dinosaur_island"  # its code, not its metadata or its name
    assert submission.course_version in submission.assignment.versions  # a fixed list, never free text
    # With nothing to go on, the hint decides.
    assert detect_assignment(path, set(), set(), {"grader": {"assignment": "dinosaur_island"}}).name == "dinosaur_island"


def test_an_even_split_asks_the_ta(tmp_path, capsys):
    folder = tmp_path / "class"
    copy(SOLUTIONS / "rnn_step_by_step.ipynb", folder / "a.ipynb")
    copy(SOLUTIONS / "dinosaur_island.ipynb", folder / "b.ipynb")
    assert main([str(folder), "--out", str(tmp_path / "out")]) == 2
    assert "--assignment" in capsys.readouterr().err


def test_the_ta_names_the_course_version_and_a_notebook_claiming_another_is_flagged(tmp_path, capsys):
    """Without --course-version each notebook is graded as the version it looks like (all in the
    student's hands), and the summary names the few that differ from the class; with it, the TA's
    version is every notebook's, and the student is told."""
    folder = tmp_path / "class"
    for student in ("alice", "bob"):
        copy(SOLUTIONS / "rnn_step_by_step.ipynb", folder / f"{student}.ipynb",
             metadata={"grader": {"assignment": "rnn_step_by_step", "version": "v4"}})
    copy(SOLUTIONS / "rnn_step_by_step.ipynb", folder / "mallory.ipynb",
         metadata={"grader": {"assignment": "rnn_step_by_step", "version": "v2"}})
    options = ["--hidden-cases", "0", "--seed", "0", "--no-color", "--only", "rnn_cell_forward"]
    assert main([str(folder), "--out", str(tmp_path / "out"), *options]) == 0
    text = " ".join(capsys.readouterr().out.split())
    assert "course versions differ: most notebooks look like v4 (2); v2: mallory." in text
    assert "grade again with --course-version VERSION" in text
    assert main([str(folder), "--out", str(tmp_path / "out"), "--course-version", "v4", *options]) == 0
    text = " ".join(capsys.readouterr().out.split())
    assert "course versions differ" not in text and "graded 3" in text  # a new version regrades everyone
    results = {d["student"]: d for d in load_results(tmp_path / "out")}
    assert {d["course_version"] for d in results.values()} == {"v4"}
    assert any("looks like course version v2; it was graded as v4" in note for note in results["mallory"]["notes"])
    assert not any("course version" in note for note in results["alice"]["notes"])
    # Kept for later runs and regrades; `detect` goes back to each notebook's own.
    assert main([str(folder), "--out", str(tmp_path / "out"), *options]) == 0
    assert "skipped (unchanged) 3" in " ".join(capsys.readouterr().out.split())
    assert main(["regrade", str(tmp_path / "out"), "mallory", "--hidden-cases", "0", "--seed", "0",
                 "--only", "rnn_cell_forward", "--no-color"]) == 0
    assert {d["student"]: d for d in load_results(tmp_path / "out")}["mallory"]["course_version"] == "v4"
    assert main([str(folder), "--out", str(tmp_path / "out"), "--course-version", "detect", *options]) == 0
    assert {d["student"]: d for d in load_results(tmp_path / "out")}["mallory"]["course_version"] == "v2"
    capsys.readouterr()
    assert main([str(folder), "--out", str(tmp_path / "out"), "--course-version", "v7"]) == 2
    assert "--course-version 'v7' is not a published course version" in capsys.readouterr().err


# --- 2. who is who -------------------------------------------------------------------------

@pytest.mark.parametrize("order", [1, -1])
def test_an_exact_name_keeps_the_id_whatever_sorts_first(order):
    found = [("Alice_Smith", Path("x/Alice_Smith.ipynb")), ("Alice Smith", Path("x/Alice Smith.ipynb"))][::order]
    identified, problems = assign_ids(found)
    ids = {item.path.name: item for item in identified}
    assert ids["Alice_Smith.ipynb"].student == "Alice_Smith" and not ids["Alice_Smith.ipynb"].ambiguous
    assert ids["Alice Smith.ipynb"].student.startswith("Alice_Smith~ambiguous-") and ids["Alice Smith.ipynb"].ambiguous
    assert len(problems) == 1 and "Alice Smith.ipynb" in problems[0]


@pytest.mark.parametrize("carol_folder, plant", [("Carol Smith", "Carol_Smith"), ("carol", "carol"), ("carol", "Carol")])
def test_a_notebook_saved_under_a_classmates_name_never_takes_their_folders_id(tmp_path, carol_folder, plant):
    """Bob's folder held a second notebook, saved as Carol's name: a folder of several notebooks named
    them by file, and an exact file name beat Carol's own folder ("Carol Smith" is not exactly
    Carol_Smith), or left both ambiguous (Carol's row gone). Every notebook in Bob's folder is now Bob's."""
    copy(SOLUTIONS / "rnn_step_by_step.ipynb", tmp_path / "class" / carol_folder / "rnn.ipynb")
    copy(ASSIGNMENTS / "rnn_step_by_step.ipynb", tmp_path / "class" / "bob" / "bob.ipynb")
    copy(ASSIGNMENTS / "rnn_step_by_step.ipynb", tmp_path / "class" / "bob" / "old" / f"{plant}.ipynb")
    copy(ASSIGNMENTS / "rnn_step_by_step.ipynb", tmp_path / "class" / "dave" / "rnn.ipynb")  # most hold one
    entries, problems = discover([str(tmp_path / "class")])
    by_path = {entry.path.relative_to(tmp_path / "class").as_posix(): entry for entry in entries}
    carol = by_path[f"{carol_folder}/rnn.ipynb"]
    assert not carol.student.count("~") and carol.student.casefold() == carol_folder.replace(" ", "_").casefold()
    assert f"bob/old/{plant}.ipynb" not in by_path and len(entries) == 3 and not problems
    bob = by_path["bob/bob.ipynb"]
    assert bob.student == "bob" and bob.candidates == (tmp_path / "class" / "bob" / "old" / f"{plant}.ipynb",)


@pytest.mark.parametrize("order", [1, -1])
def test_between_names_of_one_kind_the_exact_one_still_wins(order):
    found = [("Alice_Smith", Path("x/Alice_Smith.ipynb")), ("Alice Smith", Path("x/Alice Smith.ipynb"))][::order]
    by_file = frozenset(path for _, path in found)
    identified, _ = assign_ids(found, named_by_file=by_file)
    assert {item.path.name: item.student for item in identified}["Alice_Smith.ipynb"] == "Alice_Smith"


def test_a_notebook_named_at_the_file_systems_length_limit_is_graded_and_the_batch_ends(tmp_path):
    """A 240-character file name became a 240-character id, and writing its result file (a temporary name
    longer still) stopped the whole batch with a traceback, no gradebook, on every rerun."""
    from grader.students import MAX_ID_CHARS

    long_name = "x" * 240
    copy(SOLUTIONS / "rnn_step_by_step.ipynb", tmp_path / "class" / f"{long_name}.ipynb")
    copy(SOLUTIONS / "rnn_step_by_step.ipynb", tmp_path / "class" / f"{long_name}y.ipynb")
    copy(SOLUTIONS / "rnn_step_by_step.ipynb", tmp_path / "class" / "bob.ipynb")
    out = tmp_path / "out"
    assert main([str(tmp_path / "class"), "--out", str(out), "--only", "rnn_cell_forward"]) == 0
    rows = list(csv.DictReader((out / "gradebook.csv").open()))
    assert len(rows) == 3 and all(row["status"] == "graded" and row["score"] == row["max_score"] for row in rows)
    longs = sorted(row["student"] for row in rows if row["student"] != "bob")
    assert all(len(student) <= MAX_ID_CHARS and student.startswith("x" * 80) for student in longs)
    assert longs[0] != longs[1]  # cut alike, told apart by the digest of the whole name


def test_ambiguity_tags_cannot_be_made_to_meet(monkeypatch):
    """Two ambiguous ids met when their 6-digit tags did (a file name brute-forced in seconds): one result
    file then held both. Tags are longer, and paths whose tags still meet get the whole digest."""
    import grader.students as students

    found = [("Bob Smith", Path("class/Bob Smith.ipynb")), ("Bob Smith!", Path("class/Bob Smith!.ipynb"))]
    real = students.hashlib.sha256

    class SameStart:  # every path's digest begins alike, as a brute-forced name's would
        def __init__(self, data: bytes) -> None:
            self.digest = real(data).hexdigest()

        def hexdigest(self) -> str:
            return "0" * 12 + self.digest[12:]

    monkeypatch.setattr(students.hashlib, "sha256", SameStart)
    identified, _ = assign_ids(found)
    ids = [item.student for item in identified]
    assert all("~ambiguous-" in student for student in ids) and len({student.casefold() for student in ids}) == 2


@pytest.mark.parametrize("pair", [("alice", "Alice"), ("Alice Smith", "Alice  Smith!"), ("bob.", "Bob?")])
def test_no_exact_match_marks_both_ambiguous_in_either_order(pair):
    found = [(name, Path(f"x/{name}.ipynb")) for name in pair]
    first, problems = assign_ids(found)
    second, _ = assign_ids(found[::-1])
    assert [(i.student, i.path) for i in first] == [(i.student, i.path) for i in second]  # order does not matter
    assert all(item.ambiguous and "~ambiguous-" in item.student for item in first) and len(problems) == 2
    assert len({item.student.casefold() for item in first}) == 2  # distinct even on a case-insensitive system
    for item in first:  # each names the other notebook it clashes with, not itself
        assert item.note.split(" like ")[1].split(";")[0] == str(next(other.path for other in first if other is not item))


def test_colliding_pair_in_a_batch_files_and_rows(tmp_path):
    for order, names in enumerate([("Alice_Smith", "Alice Smith"), ("Alice Smith", "Alice_Smith")]):
        folder = tmp_path / f"class{order}"
        # the exact one is the honest reference; the other one a stub (whatever the sort order)
        copy(SOLUTIONS / "dinosaur_island.ipynb", folder / "Alice_Smith.ipynb")
        copy(ASSIGNMENTS / "dinosaur_island.ipynb", folder / "Alice Smith.ipynb")
        copy(ASSIGNMENTS / "dinosaur_island.ipynb", folder / "alice_smith.ipynb")  # differs only in case
        out = tmp_path / f"out{order}"
        entries, problems = discover([str(folder / f"{names[0]}.ipynb"), str(folder / f"{names[1]}.ipynb"),
                                      str(folder / "alice_smith.ipynb")])
        grade_batch(entries, out, CONFIG.with_changes(only=("clip",)), jobs=2)
        results = {d["student"]: d for d in write_outputs(out)}
        files = [p.name for p in (out / "results").glob("*.json")]
        assert len({name.casefold() for name in files}) == len(files) == 3
        for kind in ("feedback", "gradescope"):
            names_ = [p.name.casefold() for p in (out / kind).iterdir()]
            assert len(set(names_)) == len(names_) == 3
        # "Alice_Smith" and "alice_smith" are both exact but differ only in case: neither keeps the id.
        assert not any(s.casefold() == "alice_smith" for s in results)
        assert all("~ambiguous-" in s for s in results) and len(problems) == 3


def test_roster_maps_ids_and_lists_the_unmatched(tmp_path, capsys):
    roster = tmp_path / "roster.csv"
    roster.write_text("Student,ID,SIS User ID,SIS Login ID,Section\n"
                      "    Points Possible,,,,\n"
                      "\"Smith, Alice\",1001,S1001,asmith,A\n"
                      "\"Jones, Bob\",1002,S1002,bjones,A\n"
                      "\"Wu, Carol\",1003,S1003,cwu,A\n")
    folder = tmp_path / "class"
    copy(SOLUTIONS / "dinosaur_island.ipynb", folder / "asmith.ipynb")  # exact login
    copy(SOLUTIONS / "dinosaur_island.ipynb", folder / "BJones.ipynb")  # normalised login
    copy(SOLUTIONS / "dinosaur_island.ipynb", folder / "zed.ipynb")  # nobody
    out = tmp_path / "out"
    assert main([str(folder), "--out", str(out), "--roster", str(roster), "--only", "clip", "--hidden-cases", "0",
                 "--seed", "0", "--no-color"]) == 0
    text = " ".join(capsys.readouterr().out.split())
    rows = {r["student"]: r for r in csv.DictReader(open(out / "gradebook.csv"))}
    assert rows["1001"]["notebook"].endswith("asmith.ipynb") and rows["1002"]["notebook"].endswith("BJones.ipynb")
    assert float(rows["zed"]["score"]) == 25 and rows["1003"]["status"] == "no submission"
    assert "zed.ipynb: matches no roster entry" in text and "in the roster, no notebook: 1003" in text
    # The roster stays with the outputs: a rerun without --roster keeps the same ids.
    assert main([str(folder), "--out", str(out), "--only", "clip", "--hidden-cases", "0", "--seed", "0"]) == 0
    assert {r["student"] for r in csv.DictReader(open(out / "gradebook.csv"))} == {"1001", "1002", "1003", "zed"}


def test_roster_columns_are_read_liberally():
    for header in ("id", "ID", "SIS User ID", "SIS Login ID", "login", "student", "Username"):
        assert parse_roster(f"Name,{header}\nAlice,a1\n").ids == ("a1",)
    with pytest.raises(Exception, match="no id column"):
        parse_roster("Name,Section\nAlice,A\n")


# --- 3. outputs no student string can trick ---------------------------------------------------

MARKUP_NAME = "[bold red]x[link=javascript:alert(1)]y"
FORMULA_NAME = "@SUM(A1) [x](javascript:alert(1))"


def hostile_class(folder: Path) -> None:
    folder.mkdir(parents=True)
    nasty = ("\x1b]0;pwned\x07\x1b[2J[bold red]boom[/] <script>alert(1)</script> # Heading\n"
             "=HYPERLINK(\"http://evil\",\"click\") | a | b | [link](http://evil) ![img](http://evil/i.png)")
    cells = solution_cells("rnn_step_by_step.ipynb")
    cells.insert(0, f"print({nasty!r})")
    cells.append("# GRADED FUNCTION: rnn_cell_forward\ndef rnn_cell_forward(xt, a_prev, parameters):\n"
                 f"    raise ValueError({nasty!r})")
    cells.append(f"raise RuntimeError({nasty!r})")
    metadata = {"kernelspec": {"name": "python3", "language": "[bold red]py\x1b[2J"},
                "grader": {"assignment": "[bold red]x", "version": "=HYPERLINK(\"http://evil\",\"x\")"}}
    make_notebook(folder / f"{FORMULA_NAME}.ipynb", *cells, metadata=metadata)
    (folder / f"{MARKUP_NAME}.ipynb").write_text("{\"cells\": [")  # cannot be graded: its name is in the reason
    copy(SOLUTIONS / "rnn_step_by_step.ipynb", folder / "-honest.ipynb")


def test_student_text_is_data_in_every_output(tmp_path, capsys, monkeypatch):
    folder = tmp_path / "class"
    hostile_class(folder)
    out = tmp_path / "out"
    monkeypatch.chdir(folder)
    code = main(["--out", str(out), "--only", "rnn_cell_forward", "--hidden-cases", "0", "--seed", "0",
                 "--no-color", "--", "-honest.ipynb", f"{FORMULA_NAME}.ipynb", f"{MARKUP_NAME}.ipynb"])
    captured = capsys.readouterr()
    assert code == 0  # the batch finishes
    terminal = captured.out + captured.err
    assert "\x1b" not in terminal and "\x07" not in terminal and not CONTROL.search(terminal.replace("\n", ""))
    flat = " ".join(terminal.replace("│", " ").split())  # table cells wrap
    assert "[bold red]x[link=javascript:alert(1)]y.ipynb" in flat  # shown as text, not as a style

    # CSV: no cell a spreadsheet would run
    rows = csv_rows(out)
    for row in rows:
        for cell in row:
            assert not cell.startswith(FORMULA_STARTS), cell
            assert not CONTROL.search(cell.replace("\n", "").replace("\t", "")), cell
    students = {row[0] for row in rows[1:]}
    assert {"'-honest", "'@SUM_A1_x_javascript_alert_1"} <= students
    results = {d["student"]: d for d in load_results(out)}
    hostile = results["@SUM_A1_x_javascript_alert_1"]
    assert hostile["course_version"] != "=HYPERLINK(\"http://evil\",\"x\")" and hostile["assignment"] == "rnn_step_by_step"
    assert results["-honest"]["score"] == 25

    # Markdown: rendered with a CommonMark library, a reader sees the score first and the student's
    # text as text: no heading, link, image, HTML or table they wrote.
    markdown_it = pytest.importorskip("markdown_it")
    renderer = markdown_it.MarkdownIt("commonmark").enable("table")
    for path in (out / "feedback").glob("*.md"):
        source = path.read_text()
        page = renderer.render(source)
        assert "<script" not in page and "<img" not in page and "<a " not in page, path.name
        assert page.count("<h1>") == 1 and "<h1>Feedback</h1>" in page
        assert not re.search(r"<h[1-6]>[^<]*Heading", page)
        assert "\x1b" not in page and "\x07" not in page
        first_student_text = min((page.find(s) for s in ("SUM", "bold red", "honest", "script")
                                  if page.find(s) >= 0), default=len(page))
        graded = "Could not be graded" not in page
        anchor = page.find("Score:") if graded else page.find("Could not be graded")
        assert 0 <= anchor < first_student_text, path.name
    page = renderer.render((out / "feedback" / "@SUM_A1_x_javascript_alert_1.md").read_text())
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page  # what a reader sees: the text itself
    assert "=HYPERLINK" in page and "[link](http://evil)" in page

    # Gradescope: plain text, no control characters
    for path in (out / "gradescope").glob("*.json"):
        data = json.loads(path.read_text())
        outputs = [data["output"]] + [t["output"] for t in data["tests"]]
        assert data["output_format"] == "text" and all(t["output_format"] == "text" for t in data["tests"])
        assert not any(CONTROL.search(o.replace("\n", "").replace("\t", "")) for o in outputs)


def test_single_notebook_report_escapes_student_text(tmp_path, capsys):
    folder = tmp_path / "class"
    hostile_class(folder)
    code = main([str(folder / f"{FORMULA_NAME}.ipynb"), "--only", "rnn_cell_forward", "--hidden-cases", "0",
                 "--no-color"])
    text = capsys.readouterr().out
    assert code == 0 and "\x1b" not in text and "\x07" not in text
    assert "[bold red]boom[/]" in text  # Rich markup in the student's error shows as text
    code = main([str(folder / f"{MARKUP_NAME}.ipynb"), "--no-color"])
    captured = capsys.readouterr()
    assert code == 2 and "[bold red]x[link=javascript:alert(1)]y" in " ".join((captured.out + captured.err).split())


def test_textsafe_units():
    assert textsafe.clean("a\x1b]0;pwned\x07b\x1b[2Jc\x1b]8;;http://e\x1b\\d\x9b31me") == "abcde"
    assert textsafe.clean("unterminated \x1b]0;title") == "unterminated "
    assert textsafe.clean("tab\tnew\nline\r\nx\ry\u202eevil") == "tab\tnew\nline\nx\nyevil"
    assert [textsafe.csv_cell(v) for v in ("=1+1", "+1", "-1", "@x", "\tx", "\rx", "ok", 5, -5.0)] == \
        ["'=1+1", "'+1", "'-1", "'@x", "'\tx", "'\nx", "ok", 5, -5.0]
    assert textsafe.markup("[bold]x[/]") == "\\[bold]x\\[/]"
    assert textsafe.md_code_block("```\nbreak out").startswith("````")
    assert textsafe.html("<b>&\x1b[2J") == "&lt;b&gt;&amp;"
    assert textsafe.one_line("a\nb\tc\x1b[2J").plain == "a\\nb\\tc"


def test_a_newline_in_a_file_name_never_prints_a_line_of_its_own(tmp_path, capsys):
    """A file named "x\nnote: student bob: ..." printed a line that passed for the grader's own in
    --dry-run and the summary's notes; one-line texts (names, notes) show it as \\n."""
    folder = tmp_path / "class"
    copy(SOLUTIONS / "rnn_step_by_step.ipynb", folder / "alice.ipynb")
    copy(SOLUTIONS / "rnn_step_by_step.ipynb", folder / "mallory" / "rnn.ipynb")
    copy(ASSIGNMENTS / "rnn_step_by_step.ipynb", folder / "mallory" / "x\nnote: student bob: FAKE.ipynb")
    assert main([str(folder), "--out", str(tmp_path / "out"), "--dry-run", "--no-color"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert not any(line.lstrip().startswith("note: student bob") for line in lines), lines
    assert any("x\\nnote: student bob: FAKE" in line for line in lines)


# --- 4. file names are not options -----------------------------------------------------------

def test_a_dash_named_file_is_refused_with_a_hint_then_graded_after_double_dash(tmp_path, capsys, monkeypatch):
    folder = tmp_path / "class"
    copy(SOLUTIONS / "dinosaur_island.ipynb", folder / "-x.ipynb")
    copy(SOLUTIONS / "dinosaur_island.ipynb", folder / "y.ipynb")
    monkeypatch.chdir(folder)
    out = tmp_path / "out"
    assert main(["-x.ipynb", "y.ipynb", "--out", str(out)]) == 2
    error = capsys.readouterr().err
    assert "'-x.ipynb'" in error and "--" in error and "grade submissions/ --out" in error
    assert not out.exists()
    options = ["--only", "clip", "--hidden-cases", "0", "--seed", "0", "--no-color"]
    assert main(["--out", str(out), *options, "--", "-x.ipynb", "y.ipynb"]) == 0
    assert {r["student"] for r in csv.DictReader(open(out / "gradebook.csv"))} == {"'-x", "y"}
    assert main([str(folder), "--out", str(tmp_path / "out2"), *options]) == 0  # the folder form
    assert gradebook_csv(load_results(tmp_path / "out2")).count("\n") == 3


def test_summary_shows_markup_and_escapes_as_text():
    """Rich markup that would crash a markup string ("[/]" closes nothing) and terminal escapes, in
    every student string the summary shows: it renders, literally, with no escape sequence."""
    from rich.console import Console

    from grader.batch import BatchSummary, summary_renderable

    nasty = "[/][bold red]x[/bold red][link=http://evil]y[/link]\x1b]0;pwned\x07\x1b[2J"
    results = [{"student": f"s{n}{nasty}", "notebook": f"{nasty}.ipynb", "graded": n == 0, "error": "" if n == 0
                else f"wrong assignment: {nasty}", "score": 10, "max_score": 100,
                "functions": [{"name": nasty, "status": "failed", "section": "required", "score": 0, "max_score": 25}]}
               for n in range(2)]
    summary = BatchSummary(total=2, graded=1, failed=1, problems=[f"note {nasty}"], durations={f"s0{nasty}": 1.0},
                           assignment="rnn_step_by_step", assignment_reason="chosen with --assignment")
    buffer = io.StringIO()
    Console(file=buffer, width=400, color_system=None).print(summary_renderable(results, summary))
    text = buffer.getvalue()
    assert "\x1b" not in text and "\x07" not in text
    assert "[/][bold red]x[/bold red][link=http://evil]y[/link]" in text


# --- what OUT holds is checked before it is used (red team 9) --------------------------------------

def _graded_class(tmp_path: Path) -> tuple[Path, Path]:
    folder = tmp_path / "class"
    for student in ("s1", "s2"):
        copy(SOLUTIONS / "rnn_step_by_step.ipynb", folder / f"{student}.ipynb")
    out = tmp_path / "out"
    assert main([str(folder), "--out", str(out), "--jobs", "1", "--hidden-cases", "0", "--no-color"]) == 0
    return folder, out


def test_planted_or_malformed_result_files_are_passed_over_named_and_never_followed(tmp_path, capsys):
    """A result file the grader did not write (OUT may sit in a shared folder) is checked field by
    field before anything uses it: a "student" that is not its file's name (a path: the outputs were
    written there), wrong types, a NaN score, a FIFO (the read blocked forever) are each passed over
    and named; the rerun finishes and every real student keeps their row."""
    import os

    folder, out = _graded_class(tmp_path)
    good = json.loads((out / "results" / "s1.json").read_text())
    escaped = tmp_path / "escaped"
    planted = {
        "zz_path": dict(good, student=str(escaped / "pwned"), notebook="/etc/hostname"),
        "zz_other": dict(good, student="s2"),
        "zz_error": dict(good, student="zz_error", error=5),
        "zz_functions": dict(good, student="zz_functions", functions=[1]),
        "zz_status": dict(good, student="zz_status", functions=[{k: v for k, v in good["functions"][0].items()
                                                                   if k != "status"}]),
        "zz_name": dict(good, student="zz_name", functions=[dict(good["functions"][0], name=["x"])]),
    }
    for name, data in planted.items():
        (out / "results" / f"{name}.json").write_text(json.dumps(data))
    (out / "results" / "zz_nan.json").write_text(json.dumps(dict(good, student="zz_nan")).replace(
        '"score": 100', '"score": NaN', 1))
    os.mkfifo(out / "results" / "zz_fifo.json")
    capsys.readouterr()

    assert main([str(folder), "--out", str(out), "--jobs", "1", "--hidden-cases", "0", "--no-color"]) == 0
    err = capsys.readouterr().err
    assert not escaped.exists()
    students = [row[0] for row in csv_rows(out)[1:]]
    assert sorted(students) == ["s1", "s2"]
    for name in (*planted, "zz_nan", "zz_fifo"):
        assert f"results/{name}.json was passed over" in err, name
    assert [r["student"] for r in load_results(out)] == ["s1", "s2"]
    assert main(["report", str(out), "-o", str(tmp_path / "r.html"), "--no-similarity"]) == 0


def test_a_pinned_course_version_that_is_not_published_is_refused_like_the_option(tmp_path, capsys):
    """OUT/assignment.json pins the class's course version for reruns; one that names no published
    version regraded every student as 'not graded' and said nothing (red team 9)."""
    folder, out = _graded_class(tmp_path)
    saved = json.loads((out / "assignment.json").read_text())
    (out / "assignment.json").write_text(json.dumps(dict(saved, course_version="v99")))
    before = (out / "results" / "s1.json").read_text()
    capsys.readouterr()
    assert main([str(folder), "--out", str(out), "--jobs", "1", "--hidden-cases", "0", "--no-color", "--force"]) == 2
    assert "pins course version 'v99'" in capsys.readouterr().err
    assert (out / "results" / "s1.json").read_text() == before  # nothing regraded as an unknown version


def test_a_huge_own_module_is_never_read_whole(tmp_path):
    """Grading refuses an own module over MAX_HELPER_BYTES (the course's copy is used), yet the resume
    digest and the hidden cases' seed read it whole: a 3 GiB sparse rnn_utils.py (nothing on disk)
    took 6.3 GB (red team 9). Both now read what grading can use; run here under a 1 GiB address
    space, where reading it whole cannot succeed."""
    import subprocess
    import sys

    student = tmp_path / "ann"
    copy(SOLUTIONS / "rnn_step_by_step.ipynb", student / "ann.ipynb")
    with open(student / "rnn_utils.py", "wb") as handle:
        handle.truncate(3 << 30)
    script = (
        "import resource, sys\n"
        "from pathlib import Path\n"
        "from grader.batch import Entry, _submission_digest\n"
        "from grader.course import get_assignment\n"
        "from grader.config import GradeConfig\n"
        "from grader.pipeline import hidden_seed\n"
        "resource.setrlimit(resource.RLIMIT_AS, (1 << 30, 1 << 30))\n"
        "path = Path(sys.argv[1])\n"
        "digest = _submission_digest(Entry('ann', path), get_assignment('rnn_step_by_step'), True)\n"
        "seed = hidden_seed(path, GradeConfig(), {'rnn_utils.py': path.parent / 'rnn_utils.py'})\n"
        "print(digest, seed)\n")
    done = subprocess.run([sys.executable, "-c", script, str(student / "ann.ipynb")], capture_output=True, text=True,
                          cwd=Path(__file__).resolve().parents[1], timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]


def test_feedback_written_from_a_checked_record_is_what_it_was(tmp_path):
    """records.py rebuilds each result read back; a student's feedback written from it does not name
    the solutions' paths on the TA's machine (the record keeps them, as before)."""
    folder, out = _graded_class(tmp_path)
    record = json.loads((out / "results" / "s1.json").read_text())
    assert record["materials"]  # kept in the record
    feedback = (out / "feedback" / "s1.md").read_text()
    assert "graded with" not in feedback and str(SOLUTIONS) not in feedback
    assert main(["report", str(out), "-o", str(tmp_path / "r.html"), "--no-similarity"]) == 0
    assert json.loads((out / "results" / "s1.json").read_text()) == record
