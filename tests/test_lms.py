"""LMS bulk downloads: Canvas and Moodle names give the student id, the latest of two submissions is
graded (the other reported), and a class zip is unpacked without ever leaving its folder."""
from __future__ import annotations

import io
import os
import shutil
import stat
import zipfile
from pathlib import Path, PurePosixPath

import pytest

from grader.batch import discover
from grader.errors import GraderError
from grader.lms import ArchiveError, Limits, extract_zip, keep_latest, parse_name, unpack_archives

from conftest import ASSIGNMENTS


@pytest.mark.parametrize("name, lms, student, submission, resubmission, late, filename", [
    ("smithj_12345_67890_rnn.ipynb", "canvas", "12345", 67890, 0, False, "rnn.ipynb"),
    ("smithj_late_12345_67890_rnn.ipynb", "canvas", "12345", 67890, 0, True, "rnn.ipynb"),
    ("smithj_12345_67890_rnn_step_by_step-2.ipynb", "canvas", "12345", 67890, 2, False, "rnn_step_by_step-2.ipynb"),
    ("vanderberg2_7_99_Week 1 RNN.ipynb", "canvas", "7", 99, 0, False, "Week 1 RNN.ipynb"),
    ("Jane Doe_4321_assignsubmission_file_/rnn.ipynb", "moodle", "4321", 0, 0, False, "rnn.ipynb"),
    ("Jane_Ann Doe_4321_assignsubmission_file_/work/deep/rnn.ipynb", "moodle", "4321", 0, 0, False, "rnn.ipynb"),
    ("Jane Doe_4321_assignsubmission_file_rnn.ipynb", "moodle", "4321", 0, 0, False, "rnn.ipynb"),
    # a full name made to hold a classmate's mark: the id is the mark Moodle appended, at the folder's end
    ("Alice Real_11111_assignsubmission_file_x_22222_assignsubmission_file_/rnn.ipynb", "moodle", "22222", 0, 0,
     False, "rnn.ipynb"),
])
def test_lms_names(name, lms, student, submission, resubmission, late, filename):
    parsed = parse_name(PurePosixPath(name))
    assert parsed is not None
    assert (parsed.lms, parsed.student, parsed.submission, parsed.resubmission, parsed.late, parsed.filename) == (
        lms, student, submission, resubmission, late, filename)


@pytest.mark.parametrize("name", ["alice.ipynb", "alice/rnn.ipynb", "smithj_12345_rnn.ipynb", "a_b_c_d.ipynb",
                                  "submitted/bob/week1/rnn.ipynb",
                                  # Moodle ends a folder with its mark; this one is a name after a mark
                                  "Alice Real_11111_assignsubmission_file_x/rnn.ipynb",
                                  # without folders, two marks: the full name or the uploaded name holds one
                                  "Mallory_22222_assignsubmission_file_x_11111_assignsubmission_file_rnn.ipynb",
                                  "Alice Real_11111_assignsubmission_file_x_22222_assignsubmission_file_rnn.ipynb"])
def test_plain_names_are_not_lms(name):
    assert parse_name(PurePosixPath(name)) is None


def _notebook(path: Path, mtime: float | None = None) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(ASSIGNMENTS / "rnn_step_by_step.ipynb", path)
    if mtime is not None:
        os.utime(path, (mtime, mtime))
    return path


def test_canvas_folder_keeps_the_latest_submission_and_reports_the_other(tmp_path):
    folder = tmp_path / "canvas"
    _notebook(folder / "smithj_12345_500_rnn.ipynb")
    _notebook(folder / "smithj_late_12345_612_rnn.ipynb")     # a later submission, late
    _notebook(folder / "doej_777_600_rnn.ipynb")
    _notebook(folder / "doej_777_600_rnn-1.ipynb")             # the same file uploaded again
    _notebook(folder / "alice.ipynb")                          # not from an LMS: untouched
    entries, problems = discover([str(folder)])
    chosen = {entry.student: entry.path.name for entry in entries}
    assert chosen == {"12345": "smithj_late_12345_612_rnn.ipynb", "777": "doej_777_600_rnn-1.ipynb",
                      "alice": "alice.ipynb"}
    assert len(problems) == 2
    assert any("smithj_12345_500_rnn.ipynb" in p and "earlier submission of student 12345" in p for p in problems)
    assert any(p.startswith(str(folder / "doej_777_600_rnn.ipynb")) for p in problems)


def test_moodle_folders_give_participant_ids_and_the_newest_file_wins(tmp_path):
    folder = tmp_path / "moodle"
    _notebook(folder / "Jane Doe_4321_assignsubmission_file_" / "rnn.ipynb", mtime=1_700_000_000)
    _notebook(folder / "Jane Doe_4321_assignsubmission_file_" / "rnn (final).ipynb", mtime=1_700_000_500)
    _notebook(folder / "Bo Li_88_assignsubmission_file_" / "sub" / "my_rnn.ipynb")
    entries, problems = discover([str(folder)])
    assert {entry.student: entry.path.name for entry in entries} == {"4321": "rnn (final).ipynb", "88": "my_rnn.ipynb"}
    assert len(problems) == 1 and "rnn.ipynb" in problems[0] and "student 4321" in problems[0]


@pytest.mark.parametrize("planted", ["Alice Smith_12345_assignsubmission_file_rnn.ipynb",  # Moodle's flat naming
                                     "Alice Smith_12345_assignsubmission_file_/rnn.ipynb",  # a folder of Moodle's form
                                     "asmith_12345_999_rnn.ipynb"])  # Canvas's naming
def test_a_name_inside_a_moodle_folder_never_takes_a_classmates_id(tmp_path, planted):
    """What a student names inside their own submission folder is theirs: it does not replace a
    classmate's submission (as that student's latest) nor take their id."""
    folder = tmp_path / "moodle"
    _notebook(folder / "Alice Smith_12345_assignsubmission_file_" / "rnn.ipynb", mtime=1_700_000_000)
    _notebook(folder / "Bob Jones_67890_assignsubmission_file_" / "rnn.ipynb", mtime=1_700_000_000)
    _notebook(folder / "Bob Jones_67890_assignsubmission_file_" / planted, mtime=1_700_000_900)  # uploaded later
    entries, problems = discover([str(folder)])
    ids = {entry.student: entry.path for entry in entries}
    assert ids["12345"] == folder / "Alice Smith_12345_assignsubmission_file_" / "rnn.ipynb"
    assert ids["67890"].is_relative_to(folder / "Bob Jones_67890_assignsubmission_file_")
    assert set(ids) == {"12345", "67890"}
    assert not any("student 12345" in problem for problem in problems)


def test_a_full_name_holding_a_classmates_moodle_mark_takes_only_its_own_id(tmp_path):
    """Moodle names a folder FULLNAME_ID_assignsubmission_file_, and a student may edit their full name:
    "Alice Real_11111_assignsubmission_file_x" made the folder read as participant 11111 (the first mark),
    and the later upload replaced Alice's own submission as "an earlier submission of student 11111"."""
    folder = tmp_path / "moodle"
    alice = _notebook(folder / "Alice Real_11111_assignsubmission_file_" / "rnn.ipynb", mtime=1_700_000_000)
    mallory = _notebook(folder / "Alice Real_11111_assignsubmission_file_x_22222_assignsubmission_file_" / "rnn.ipynb",
                        mtime=1_700_000_900)
    entries, problems = discover([str(folder)])
    assert {entry.student: entry.path for entry in entries} == {"11111": alice, "22222": mallory}
    assert not problems


def test_two_names_under_one_lms_id_are_both_kept_ambiguous_and_named(tmp_path):
    """An LMS gives one id one name: two folders claiming participant 11111 under different names (two
    downloads merged, or a forged name) are not one student's later and earlier submissions. The newest
    replaced the other silently; now neither is taken, both are graded under ambiguous ids and both are
    named to the TA. The same name twice is still one student's resubmission (the latest graded)."""
    folder = tmp_path / "moodle"
    alice = _notebook(folder / "Alice Real_11111_assignsubmission_file_" / "rnn.ipynb", mtime=1_700_000_000)
    other = _notebook(folder / "Mallory Evil_11111_assignsubmission_file_" / "rnn.ipynb", mtime=1_700_000_900)
    older = _notebook(folder / "Mallory Evil_11111_assignsubmission_onlinetext_" / "rnn.ipynb", mtime=1_600_000_000)
    entries, problems = discover([str(folder)])
    ids = {entry.path: entry.student for entry in entries}
    assert set(ids) == {alice, other}
    assert ids[alice].startswith("11111~ambiguous-") and ids[other].startswith("11111~ambiguous-")
    assert ids[alice] != ids[other]
    (claim,) = [problem for problem in problems if "claimed under 2 names" in problem]
    assert "Moodle participant 11111" in claim and f"'Alice Real' ({alice})" in claim
    assert f"'Mallory Evil' ({other})" in claim
    assert any(problem.startswith(f"{older}: an earlier submission of student 11111") for problem in problems)
    assert not any(problem.startswith((f"{alice}:", f"{other}:")) for problem in problems)  # neither left out
    assert any("several match it exactly" in problem for problem in problems)


def test_two_names_under_one_id_stay_ambiguous_with_a_roster(tmp_path):
    from grader.students import parse_roster

    folder = tmp_path / "moodle"
    _notebook(folder / "Alice Real_11111_assignsubmission_file_" / "rnn.ipynb", mtime=1_700_000_000)
    _notebook(folder / "Mallory Evil_11111_assignsubmission_file_" / "rnn.ipynb", mtime=1_700_000_900)
    entries, _ = discover([str(folder)], parse_roster("Identifier,ID\nParticipant 11111,11111\n"))
    assert len(entries) == 2 and all(entry.student.startswith("11111~ambiguous-") for entry in entries)


def test_a_flat_moodle_name_with_two_marks_takes_no_ones_id(tmp_path):
    """Without folders Moodle writes FULLNAME_ID_assignsubmission_file_FILENAME: a second mark in the full
    name or in the uploaded file's name cannot be told from Moodle's, so neither id is taken; the TA is told."""
    folder = tmp_path / "moodle"
    alice = _notebook(folder / "Alice Real_11111_assignsubmission_file_rnn.ipynb", mtime=1_700_000_000)
    _notebook(folder / "Bob Real_33333_assignsubmission_file_rnn.ipynb")
    _notebook(folder / "Carl Real_44444_assignsubmission_file_rnn.ipynb")
    forged = {"by file name": "Mallory_22222_assignsubmission_file_x_11111_assignsubmission_file_rnn.ipynb",
              "by full name": "Alice Real_11111_assignsubmission_file_x_22222_assignsubmission_file_rnn.ipynb"}
    for name in forged.values():
        _notebook(folder / name, mtime=1_700_000_900)
    entries, problems = discover([str(folder)])
    ids = {entry.path.name: entry.student for entry in entries}
    assert ids[alice.name] == "11111" and ids["Bob Real_33333_assignsubmission_file_rnn.ipynb"] == "33333"
    assert all(ids[name] not in ("11111", "22222") and "~" not in ids[name] for name in forged.values())
    assert not any("earlier submission" in problem for problem in problems)
    assert sorted(problem.split(": its name holds")[0] for problem in problems) == sorted(
        str(folder / name) for name in forged.values())
    assert all("2 Moodle participant ids" in problem for problem in problems)


@pytest.mark.parametrize("depth", [1, 3, 5])
def test_a_name_however_deep_in_a_moodle_folder_never_takes_a_classmates_id(tmp_path, depth):
    """Moodle was read only three folders up: nested deeper, a student's own Canvas-shaped name (with a
    huge submission id) became a classmate's latest submission and replaced it."""
    folder = tmp_path / "moodle"
    _notebook(folder / "Alice Smith_111_assignsubmission_file_" / "rnn.ipynb")
    bob = _notebook(folder / "Bob Jones_222_assignsubmission_file_" / "rnn.ipynb")
    deep = Path(*["d"] * depth)
    _notebook(folder / "Alice Smith_111_assignsubmission_file_" / deep / "bob_222_999999999_rnn.ipynb")
    entries, problems = discover([str(folder)])
    ids = {entry.student: entry.path for entry in entries}
    assert ids["222"] == bob and set(ids) == {"111", "222"}
    assert not any("student 222" in problem for problem in problems)


@pytest.mark.parametrize("layout", ["flat of plain names", "in a student's own folder"])
def test_a_canvas_shaped_name_where_no_lms_wrote_it_names_no_one_else(tmp_path, layout):
    """Canvas names every file of its download; a class folder of plain names (student numbers) or a
    student's own folder is not one: an uploaded `x_12345_1_rnn.ipynb` took student 12345's id."""
    folder = tmp_path / "class"
    if layout == "flat of plain names":
        bob = _notebook(folder / "12345.ipynb")
        _notebook(folder / "67890.ipynb")
        planted = _notebook(folder / "x_12345_1_rnn.ipynb")
    else:
        bob = _notebook(folder / "12345" / "rnn.ipynb")
        planted = _notebook(folder / "alice" / "x_12345_1_rnn.ipynb")
    entries, problems = discover([str(folder)])
    ids = {entry.path: entry.student for entry in entries}
    assert ids[bob] == "12345" and ids[planted] != "12345" and "~" not in ids[planted]
    assert not problems


def test_a_download_given_from_the_folder_above_it_is_named_to_the_ta(tmp_path):
    """LMS ids are read at the top of the folder given; a TA who gives the folder holding the download
    is told to give the download itself, instead of getting ids from file names without a word."""
    _notebook(tmp_path / "downloads" / "canvas" / "smithj_12345_500_rnn.ipynb")
    _notebook(tmp_path / "downloads" / "canvas" / "doej_777_600_rnn.ipynb")
    entries, problems = discover([str(tmp_path / "downloads")])
    assert not any(entry.student in ("12345", "777") for entry in entries)
    assert len(problems) == 1 and f"give {tmp_path / 'downloads' / 'canvas'} itself" in problems[0]
    entries, problems = discover([str(tmp_path / "downloads" / "canvas")])
    assert sorted(entry.student for entry in entries) == ["12345", "777"] and not problems


def test_a_submitted_folder_inside_a_students_folder_is_that_students(tmp_path):
    """nbgrader's layout is read only at the top of the class folder: a student's own
    ``submitted/<classmate>/`` subfolder does not name the classmate."""
    folder = tmp_path / "class"
    _notebook(folder / "Alice_Smith" / "rnn.ipynb")
    _notebook(folder / "bob" / "submitted" / "Alice_Smith" / "x" / "rnn.ipynb")
    _notebook(folder / "nbgrader" / "submitted" / "carol" / "ps1" / "rnn.ipynb")
    entries, problems = discover([str(folder)])
    assert {entry.student: entry.path.relative_to(folder).parts[0] for entry in entries} == \
        {"Alice_Smith": "Alice_Smith", "bob": "bob", "nbgrader": "nbgrader"}
    assert not problems
    entries, _ = discover([str(folder / "nbgrader")])  # the course folder itself: nbgrader's ids
    assert [entry.student for entry in entries] == ["carol"]


def test_keep_latest_leaves_other_ids_alone(tmp_path):
    first = _notebook(tmp_path / "smithj_1_10_a.ipynb")
    found = [("renamed", first), ("bob", tmp_path / "bob.ipynb")]
    assert keep_latest(found, {first: parse_name(first)}) == (found, [])


# --- zips -----------------------------------------------------------------------------------

def _zip(path: Path, entries: dict[str, bytes], *, links: dict[str, str] | None = None,
         compression: int = zipfile.ZIP_DEFLATED) -> Path:
    with zipfile.ZipFile(path, "w", compression) as archive:
        for name, data in entries.items():
            archive.writestr(name, data)
        for name, target in (links or {}).items():
            info = zipfile.ZipInfo(name)
            info.external_attr = (stat.S_IFLNK | 0o777) << 16
            archive.writestr(info, target)
    return path


NOTEBOOK = (ASSIGNMENTS / "rnn_step_by_step.ipynb").read_bytes()


def test_canvas_zip_unpacks_into_the_output_folder(tmp_path):
    archive = _zip(tmp_path / "submissions.zip", {
        "smithj_12345_67890_rnn.ipynb": NOTEBOOK, "doej_late_777_600_rnn.ipynb": NOTEBOOK,
        "__MACOSX/._smithj_12345_67890_rnn.ipynb": b"junk"})
    paths, notes = unpack_archives([str(archive), "other/"], tmp_path / "out" / "submissions")
    folder = tmp_path / "out" / "submissions" / "submissions"
    assert paths == [str(folder), "other/"] and notes == []
    assert sorted(p.name for p in folder.glob("*.ipynb")) == ["doej_late_777_600_rnn.ipynb",
                                                              "smithj_12345_67890_rnn.ipynb"]
    assert not (folder / "__MACOSX").exists()
    entries, _ = discover(paths[:1])
    assert sorted(e.student for e in entries) == ["12345", "777"]
    again, _ = unpack_archives([str(archive)], tmp_path / "out" / "submissions")  # a rerun replaces it
    assert again == paths[:1] and (folder / "smithj_12345_67890_rnn.ipynb").read_bytes() == NOTEBOOK


def test_two_zips_of_one_name_are_both_kept(tmp_path):
    first, second = tmp_path / "a" / "submissions.zip", tmp_path / "b" / "submissions.zip"
    for path, name in ((first, "smithj_1_10_rnn.ipynb"), (second, "doej_2_20_rnn.ipynb")):
        path.parent.mkdir()
        _zip(path, {name: NOTEBOOK})
    paths, _ = unpack_archives([str(first), str(second)], tmp_path / "out")
    assert [Path(p).name for p in paths] == ["submissions", "submissions~2"]
    entries, _ = discover(paths)
    assert sorted(e.student for e in entries) == ["1", "2"]


def test_unsafe_entries_are_left_out_with_a_note(tmp_path):
    archive = _zip(tmp_path / "evil.zip", {
        "../escape.ipynb": b"x", "/abs/path.ipynb": b"x", "ok/..\\..\\win.ipynb": b"x", "C:/drive.ipynb": b"x",
        "fine/a.ipynb": NOTEBOOK}, links={"fine/link.ipynb": "/etc/passwd"})
    notes = extract_zip(archive, tmp_path / "dest")
    assert (tmp_path / "dest" / "fine" / "a.ipynb").read_bytes() == NOTEBOOK
    assert not (tmp_path / "dest" / "fine" / "link.ipynb").exists()
    assert not (tmp_path / "escape.ipynb").exists() and not (tmp_path / "win.ipynb").exists()
    assert sorted(p.relative_to(tmp_path / "dest").as_posix() for p in (tmp_path / "dest").rglob("*")
                  if p.is_file()) == ["fine/a.ipynb"]
    assert len(notes) == 5 and sum("a link" in n for n in notes) == 1


def test_zip_bomb_and_caps_are_refused_whole(tmp_path):
    bomb = _zip(tmp_path / "bomb.zip", {"a.ipynb": NOTEBOOK, "big.ipynb": b"\0" * (20 * 2**20)})
    with pytest.raises(ArchiveError, match="zip bomb"):
        unpack_archives([str(bomb)], tmp_path / "out")
    assert not (tmp_path / "out" / "bomb").exists()
    many = _zip(tmp_path / "many.zip", {f"n{i}.ipynb": b"{}" for i in range(5)})
    with pytest.raises(ArchiveError, match="5 files"):
        extract_zip(many, tmp_path / "many", Limits(max_files=4))
    large = _zip(tmp_path / "large.zip", {"a.ipynb": NOTEBOOK}, compression=zipfile.ZIP_STORED)
    with pytest.raises(ArchiveError, match="MiB"):
        extract_zip(large, tmp_path / "large", Limits(max_total_bytes=1000))
    assert issubclass(ArchiveError, GraderError)


def test_a_zip_whose_directory_lies_is_stopped_while_copying(tmp_path, monkeypatch):
    """Declared sizes can lie: the bytes really produced are counted as they are written."""
    archive = _zip(tmp_path / "liar.zip", {"a.ipynb": b"A" * 5000}, compression=zipfile.ZIP_STORED)
    monkeypatch.setattr("grader.lms.check_archive", lambda infos, limits: None)  # as if the directory lied
    with pytest.raises(ArchiveError, match="size limit"):
        extract_zip(archive, tmp_path / "dest", Limits(max_file_bytes=4000))
    assert not (tmp_path / "dest" / "a.ipynb").exists()


def test_not_a_zip_and_a_foreign_destination(tmp_path):
    fake = tmp_path / "class.zip"
    fake.write_bytes(b"not a zip")
    with pytest.raises(ArchiveError, match="not a readable zip"):
        unpack_archives([str(fake)], tmp_path / "out")
    real = _zip(tmp_path / "real.zip", {"a.ipynb": NOTEBOOK})
    (tmp_path / "out" / "real").mkdir(parents=True)
    with pytest.raises(ArchiveError, match="not unpacked by grade"):
        unpack_archives([str(real)], tmp_path / "out")


def test_a_zip_without_out_says_what_to_add(tmp_path, capsys):
    from grader.cli import main

    archive = _zip(tmp_path / "submissions.zip", {"smithj_12345_67890_rnn.ipynb": NOTEBOOK})
    assert main([str(archive)]) == 2
    assert "add --out DIR" in capsys.readouterr().err


def test_a_helper_module_in_a_flat_canvas_download_is_its_uploaders(tmp_path):
    """Canvas puts every file of every student in one folder, each named with its uploader's id: a
    student's rnn_utils.py (the optional Adam exercise) is theirs by that id, not no one's, and the
    latest upload counts. A loose one without an id still belongs to no one."""
    from grader.batch import folder_is_own, helper_files, loose_modules
    from grader.course import get_assignment

    folder = tmp_path / "canvas"
    folder.mkdir()
    _notebook(folder / "smitha_1001_500_rnn_step_by_step.ipynb")
    _notebook(folder / "doej_1002_501_rnn_step_by_step.ipynb")
    stub = (ASSIGNMENTS / "rnn_utils.py").read_bytes()
    (folder / "smitha_1001_500_rnn_utils.py").write_bytes(stub)
    os.utime(folder / "smitha_1001_500_rnn_utils.py", (1_700_000_000, 1_700_000_000))
    (folder / "smitha_1001_500_rnn_utils-1.py").write_bytes(stub + b"\n# the one handed in last\n")
    (folder / "rnn_utils.py").write_bytes(stub)  # no id: no one's
    spec = get_assignment("rnn_step_by_step")
    mine = folder / "smitha_1001_500_rnn_step_by_step.ipynb"
    assert not folder_is_own(mine)
    helpers = helper_files(spec, mine, folder_is_own=False)
    assert helpers.own == {"rnn_utils.py": folder / "smitha_1001_500_rnn_utils-1.py"}
    assert any("uploaded as smitha_1001_500_rnn_utils-1.py" in note for note in helpers.notes)
    other = helper_files(spec, folder / "doej_1002_501_rnn_step_by_step.ipynb", folder_is_own=False)
    assert other.own == {} and any("belongs to no one" in note for note in other.notes)
    entries, _ = discover([str(folder)])
    (problem,) = loose_modules(entries)
    assert "rnn_utils.py lie(s)" in problem and "smitha" not in problem


def test_a_module_named_after_a_canvas_shaped_notebook_among_plain_names_is_no_ones(tmp_path):
    """Where no LMS named the files (a class folder of student numbers), a Canvas-shaped notebook name is
    one its student chose, and a classmate can upload a module named to match it: that module is not
    graded with the notebook (discovery's rule for names, ``lms.names_at_top``, applied to helpers)."""
    from grader.batch import helper_files, loose_modules
    from grader.course import get_assignment

    folder = tmp_path / "class"
    victim = _notebook(folder / "x_12345_1_rnn.ipynb")
    _notebook(folder / "67890.ipynb")
    _notebook(folder / "13579.ipynb")
    (folder / "x_12345_1_rnn_utils.py").write_text("raise SystemExit('planted by a classmate')\n")
    helpers = helper_files(get_assignment("rnn_step_by_step"), victim, folder_is_own=False)
    assert helpers.own == {} and helpers.files["rnn_utils.py"] == ASSIGNMENTS / "rnn_utils.py"
    entries, _ = discover([str(folder)])
    (problem,) = loose_modules(entries)  # and the TA is told it was used by no one
    assert "x_12345_1_rnn_utils.py lie(s)" in problem
