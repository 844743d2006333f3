"""What a TA does with a class (issue 16, "TA"): interrupt a batch, see the ids before grading, read the
gradebook, remove a notebook, override a score, watch the ETA."""
from __future__ import annotations

import csv
import json
import os
import shutil
import signal
import subprocess
import sys
import time

from conftest import ROOT, SOLUTIONS, descendants, make_notebook, solution_cells


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as handle:
            return handle.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def _command_line(pid: int) -> str:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as handle:
            line = handle.read().replace(b"\0", b" ").decode(errors="replace").strip()
        with open(f"/proc/{pid}/stat") as handle:
            return f"{line or '(exiting)'}: {handle.read()[:80]}"
    except OSError:
        return "(gone)"


def _processes_of_uid(uid: int) -> list[int]:
    pids = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                if os.stat(f"/proc/{entry}").st_uid == uid and _alive(int(entry)):
                    pids.append(int(entry))
            except OSError:
                continue
    return pids


def _interruptible() -> None:
    """SIGINT as in a terminal, even when this test runs where it is ignored (a background job)."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def test_ctrl_c_stops_every_process_removes_folders_and_keeps_the_finished_part(tmp_path):
    folder = tmp_path / "class"
    folder.mkdir()
    # With one job the notebooks are graded in name order: s0-s2 finish, s3 loops in its first cell
    # far longer than the test waits, so the interrupt always lands while s3's worker runs. s4, already
    # queued to the grading process, hangs too: the interrupt must not wait for it either.
    for number in range(6):
        if number in (3, 4):
            make_notebook(folder / "s3.ipynb", "while True:\n    pass", *solution_cells("dinosaur_island.ipynb"))
        else:
            shutil.copyfile(SOLUTIONS / "dinosaur_island.ipynb", folder / f"s{number}.ipynb")
    out, temporary = tmp_path / "grades", tmp_path / "tmp"
    temporary.mkdir()
    temporary.chmod(0o777)  # the worker's private user creates nothing here, but may need to traverse it
    command = [sys.executable, "-m", "grader", str(folder), "--out", str(out), "--jobs", "1", "--seed", "0",
               "--hidden-cases", "1", "--cell-timeout", "600", "--timeout", "900"]
    # A private TMPDIR: the run's /tmp/grader-* folders are told apart from other runs on this machine.
    process = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                               start_new_session=True, env={**os.environ, "TMPDIR": str(temporary)},
                               preexec_fn=_interruptible)
    deadline = time.monotonic() + 300  # only stops a hang: three results and s3's worker always come
    seen: set[int] = set()
    uids: set[int] = set()
    while time.monotonic() < deadline and process.poll() is None:
        done = len(list((out / "results").glob("*.json"))) if (out / "results").is_dir() else 0
        seen |= descendants(process.pid)
        workdirs = [path for path in temporary.glob("grader-*") if not path.name.startswith("grader-log-")]
        if done == 3 and workdirs:
            uids |= {path.stat().st_uid for path in workdirs} - {os.getuid()}
            break
        time.sleep(0.05)
    assert process.poll() is None, process.stderr.read().decode()
    seen |= descendants(process.pid)
    os.killpg(process.pid, signal.SIGINT)  # what a terminal's Ctrl-C does: the whole foreground group
    try:
        process.wait(timeout=120)
    finally:
        if process.poll() is None:  # pragma: no cover - the failure below says why
            os.killpg(process.pid, signal.SIGKILL)
    stderr = process.stderr.read().decode()
    assert process.returncode == 130, stderr
    assert "interrupted" in stderr
    survivors = [pid for pid in seen if _alive(pid)]
    assert not survivors, [(pid, _command_line(pid)) for pid in survivors]
    for uid in uids:  # the worker's private user id
        assert not _processes_of_uid(uid)
    assert not list(temporary.glob("grader-*")), list(temporary.iterdir())
    # The finished part is kept and has a gradebook.
    assert sorted(path.name for path in (out / "results").glob("*.json")) == ["s0.json", "s1.json", "s2.json"]
    rows = list(csv.DictReader(open(out / "gradebook.csv")))
    assert [row["student"] for row in rows] == ["s0", "s1", "s2"]
    assert all(float(row["score"]) == 100 for row in rows)


def test_dry_run_lists_ids_by_the_documented_rules_and_grades_nothing(tmp_path, capsys):
    from grader.batch import discover
    from grader.cli import main

    classroom = tmp_path / "c"
    notebooks = ["section1/zoe.ipynb", "section1/amy.ipynb", "section2/zoe.ipynb", "bob/rnn.ipynb", "flat.ipynb",
                 "nb/submitted/kim/week1/rnn.ipynb", "nb/submitted/lee/week1/rnn.ipynb"]
    for name in notebooks:
        (classroom / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(SOLUTIONS / "rnn_step_by_step.ipynb", classroom / name)
    entries, problems = discover([str(classroom)])
    ids = {str(entry.path.relative_to(classroom)): entry.student for entry in entries}
    # Every subfolder is its student's, however many notebooks it holds (one entry, its other notebooks
    # candidates); a notebook directly in the folder given is named by its file; nbgrader's layout is read
    # at the top of the folder given (below, nb/ is one student's folder: a submitted/ folder deeper down
    # may be one student's own).
    assert ids["section1/amy.ipynb"] == "section1" and "section1/zoe.ipynb" not in ids
    assert ids["section2/zoe.ipynb"] == "section2" and ids["bob/rnn.ipynb"] == "bob" and ids["flat.ipynb"] == "flat"
    assert ids["nb/submitted/kim/week1/rnn.ipynb"] == "nb" and len(ids) == 5
    entries, problems = discover([str(classroom / "nb")])  # nbgrader's course folder: its student folders are ids
    assert sorted(entry.student for entry in entries) == ["kim", "lee"] and not problems
    # The two zoe notebooks given as two sections' folders: one id, so both are marked and listed.
    entries, problems = discover([str(classroom / "section1"), str(classroom / "section2")])
    assert sorted(entry.student.split("~")[0] for entry in entries) == ["amy", "zoe", "zoe"]
    assert len(problems) == 2 and all("ambiguous" in problem for problem in problems)
    out = tmp_path / "grades"
    capsys.readouterr()
    assert main([str(classroom), "--out", str(out), "--dry-run", "--no-color"]) == 0
    shown = capsys.readouterr().out
    assert "assignment: rnn_step_by_step" in shown and "nothing graded" in shown
    assert all(student in shown for student in ("section1", "section2", "bob", "flat", "nb"))
    assert "note: student section1: 2 notebooks handed in; graded the newest of rnn_step_by_step" in " ".join(shown.split())
    assert "give that folder itself" in " ".join(shown.split())
    assert not out.exists()  # nothing graded, nothing written
    import zipfile  # an LMS download as a zip: unpacked aside, shown with the LMS's ids, nothing left behind

    with zipfile.ZipFile(tmp_path / "download.zip", "w") as archive:
        archive.write(SOLUTIONS / "rnn_step_by_step.ipynb", "smithj_12345_67890_rnn.ipynb")
    assert main([str(tmp_path / "download.zip"), "--out", str(out), "--dry-run", "--no-color"]) == 0
    assert "12345" in capsys.readouterr().out and not out.exists()


def _record(student: str, functions: dict[str, tuple[float, str]], graded: bool = True, error: str = "") -> dict:
    score = sum(points for points, _ in functions.values())
    return {"student": student, "notebook": f"{student}.ipynb", "assignment": "rnn_step_by_step", "graded": graded,
            "error": error, "score": score if graded else 0, "max_score": 60 if graded else 0,
            "optional_score": 0.0, "optional_max_score": 10.0,
            "functions": [{"name": name, "section": "required", "score": points, "max_score": 10, "status": status}
                          for name, (points, status) in functions.items()]}


def test_gradebook_has_fixed_columns_empty_cells_one_number_format_and_the_reports_words():
    from grader.batch import gradebook_csv
    from grader.course import get_assignment

    items = list(get_assignment("rnn_step_by_step").function_names)
    # The first student's items come in another order, and a second student lacks one: the columns
    # still follow the assignment, whatever order the results come in.
    first = _record("amy", {items[2]: (10.0, "passed"), items[0]: (3.3333333, "partial"), items[1]: (0, "not_implemented")})
    second = _record("bob", {items[0]: (10, "passed")})
    broken = _record("cy", {}, graded=False, error="JSON parse error: fix the notebook")
    for results in ([first, second, broken], [broken, second, first]):
        rows = list(csv.reader(gradebook_csv(results, ["dee"]).splitlines()))
        header = rows[0]
        assert header[9:-2] == items and header[-2:] == ["overrides", "message"]
        table = {row[0]: dict(zip(header, row)) for row in rows[1:]}
        assert table["amy"]["score"] == "13.33" and table["amy"]["percent"] == "22.22"
        assert table["amy"][items[0]] == "3.33" and table["amy"][items[1]] == "0" and table["amy"][items[2]] == "10"
        assert table["amy"]["optional_score"] == "0" and table["amy"]["optional_max_score"] == "10"
        assert table["amy"][items[3]] == ""  # not in that result
        assert f"{items[1]}: TODO" in table["amy"]["message"] and "not_implemented" not in table["amy"]["message"]
        assert f"{items[0]}: PART" in table["amy"]["message"]
        assert table["bob"]["score"] == "10" and table["bob"]["max_score"] == "60"
        # Not graded: every number empty (an LMS reads missing, not 0), the reason in message.
        assert all(table["cy"][column] == "" for column in header[4:-1]) and "JSON" in table["cy"]["message"]
        assert table["dee"]["status"] == "no submission"


def test_a_removed_notebook_leaves_the_outputs_and_its_result_is_moved_aside(tmp_path, capsys):
    from grader.cli import main

    folder, out = tmp_path / "class", tmp_path / "grades"
    folder.mkdir()
    for student in ("ann", "ben", "cat"):
        shutil.copyfile(SOLUTIONS / "dinosaur_island.ipynb", folder / f"{student}.ipynb")
    command = [str(folder), "--out", str(out), "--jobs", "1", "--seed", "0", "--hidden-cases", "0", "--only", "clip"]
    assert main(command) == 0
    assert (out / "feedback" / "ben.md").exists()
    (folder / "ben.ipynb").unlink()
    capsys.readouterr()
    assert main(command + ["--no-color"]) == 0
    shown = " ".join(capsys.readouterr().out.split())
    assert "ben" in shown and "no longer in the class" in shown
    rows = list(csv.DictReader(open(out / "gradebook.csv")))
    assert [row["student"] for row in rows] == ["ann", "cat"]
    assert [d["student"] for d in json.loads((out / "results.json").read_text())["results"]] == ["ann", "cat"]
    kept = json.loads((out / "results" / "removed" / "ben.json").read_text())  # moved, never deleted
    assert kept["student"] == "ben" and not (out / "results" / "ben.json").exists()
    assert not (out / "feedback" / "ben.md").exists() and not (out / "gradescope" / "ben.json").exists()
    # Grading one notebook by name prunes nobody else.
    assert main([str(folder / "ann.ipynb")] + command[1:]) == 0
    assert sorted(path.name for path in (out / "results").glob("*.json")) == ["ann.json", "cat.json"]


def test_an_override_is_kept_across_regrades_and_shown_beside_the_computed_score(tmp_path, capsys):
    from grader.cli import main

    folder, out = tmp_path / "class", tmp_path / "grades"
    folder.mkdir()
    shutil.copyfile(SOLUTIONS / "dinosaur_island.ipynb", folder / "ann.ipynb")
    shutil.copyfile(ROOT / "assignments" / "dinosaur_island.ipynb", folder / "ben.ipynb")  # the stub: clip is 0
    batch = [str(folder), "--out", str(out), "--jobs", "1", "--seed", "0", "--hidden-cases", "0", "--only", "clip"]
    assert main(batch) == 0
    assert main(["override", str(out), "ben", "clip", "30", "--reason", "x"]) == 2  # above the item's points
    assert main(["override", str(out), "ben", "clip", "4"]) == 2  # a reason is required
    assert main(["override", str(out), "nobody", "clip", "4", "--reason", "x"]) == 2
    assert main(["override", str(out), "ben", "clip", "4", "--reason", "clip=1 typo, accepted"]) == 0

    def shown() -> tuple[dict, dict, str]:
        rows = {row["student"]: row for row in csv.DictReader(open(out / "gradebook.csv"))}
        record = json.loads((out / "results" / "ben.json").read_text())  # what the class report reads
        return rows["ben"], record, (out / "feedback" / "ben.md").read_text()

    for rerun in ([], batch + ["--force"], ["regrade", str(out), "ben", "--reason", "fix"]):
        if rerun:
            assert main(rerun) == 0  # a regrade writes the computed score again; the override is re-applied
        row, record, feedback = shown()
        assert row["score"] == "4" and row["clip"] == "4" and row["overrides"] == "clip: 4 (computed 0; clip=1 typo, accepted)"
        assert record["score"] == 4 and record["computed_score"] == 0
        assert record["overrides"][0]["reason"] == "clip=1 typo, accepted"
        assert [f["score"] for f in record["functions"] if f["name"] == "clip"] == [4]
        assert "Score changed by your TA" in feedback and "computed: 0" in feedback
        # The Gradescope file is the bundle's (one builder), with the override said and counted.
        gradescope = json.loads((out / "gradescope" / "ben.json").read_text())
        assert gradescope["score"] == 4 and sum(test["score"] for test in gradescope["tests"]) == 4
        assert "Score changed by your TA:\nclip: 4 points (computed: 0). Reason: clip=1 typo, accepted" in gradescope["output"]
        aggregated = {d["student"]: d for d in json.loads((out / "results.json").read_text())["results"]}
        assert aggregated["ben"]["score"] == 4 and aggregated["ann"]["score"] == 25
    kept = json.loads((out / "overrides.json").read_text())["overrides"]
    assert [(o["student"], o["item"], o["points"]) for o in kept] == [("ben", "clip", 4.0)]
    # A file of overrides, then clearing one: back to the computed score, history kept.
    sheet = tmp_path / "overrides.csv"
    sheet.write_text("student,item,points,reason\nann,clip,20,late penalty\n")
    assert main(["override", str(out), "--file", str(sheet)]) == 0
    assert main(["override", str(out), "ben", "clip", "--clear", "--reason", "withdrawn"]) == 0
    assert "cleared: ben clip counts its computed score again" in capsys.readouterr().out
    rows = {row["student"]: row for row in csv.DictReader(open(out / "gradebook.csv"))}
    assert rows["ann"]["score"] == "20" and rows["ben"]["score"] == "0" and rows["ben"]["overrides"] == ""
    assert "computed_score" not in json.loads((out / "results" / "ben.json").read_text())
    assert len(json.loads((out / "overrides.json").read_text())["overrides"]) == 3
    # Clearing what is not in force says so (and records nothing); a file with one bad line names the
    # line and applies none of it.
    assert main(["override", str(out), "ben", "clip", "--clear", "--reason", "again"]) == 2
    assert "no override to clear" in capsys.readouterr().err
    sheet.write_text("student,item,points,reason\nann,clip,10,ok\nzoe,clip,5,no such student\n")
    assert main(["override", str(out), "--file", str(sheet)]) == 2
    err = capsys.readouterr().err
    assert "line 3: zoe: no result" in err and "nothing was applied" in err
    assert len(json.loads((out / "overrides.json").read_text())["overrides"]) == 3


def test_eta_comes_from_time_per_notebook_and_a_hanging_one_counts_up_to_its_timeout():
    from grader.batch import estimate_remaining

    assert estimate_remaining([], [3.0], queued=5, jobs=2, timeout=300) is None  # nothing finished: no guess
    # Ten notebooks of 2 s left, two jobs: 10 s, whatever the count of notebooks done.
    assert estimate_remaining([2.0, 2.0], [], queued=10, jobs=2, timeout=300) == 10
    assert estimate_remaining([2.0], [0.5], queued=0, jobs=2, timeout=300) == 1.5
    # The last notebook hangs: 0.3 s per notebook so far, it has run 5 s of its 38 s limit: 33 s, not "1 s".
    assert estimate_remaining([0.3] * 9, [5.0], queued=0, jobs=2, timeout=38) == 33


def test_applying_overrides_is_idempotent_and_clearing_restores_the_computed_record():
    from grader.overrides import Override, apply, in_force

    record = _record("amy", {"rnn_forward": (3.0, "partial"), "clip": (10.0, "passed")})
    record["functions"].append({"name": "initialize_adam", "section": "optional", "score": 0, "max_score": 5,
                                "status": "failed"})
    overrides = in_force([Override("amy", "rnn_forward", 2, "first"), Override("amy", "rnn_forward", 9, "looked again"),
                          Override("amy", "initialize_adam", 5, "ok"), Override("bob", "clip", 1, "not amy")])
    once, problems = apply(record, overrides)
    twice, _ = apply(once, overrides)
    assert once == twice and not problems
    assert once["score"] == 19 and once["computed_score"] == 13 and once["optional_score"] == 5
    assert [(o["item"], o["points"], o["computed_score"]) for o in once["overrides"]] == [
        ("initialize_adam", 5, 0), ("rnn_forward", 9, 3.0)]
    cleared, _ = apply(twice, in_force([Override("amy", "rnn_forward", None, "withdrawn")]))
    assert cleared == record  # back to exactly what the grader computed
    _, problems = apply({**record, "graded": False}, overrides)
    assert len(problems) == 2 and all("not graded" in problem for problem in problems)


def test_regrade_takes_ids_after_item_names_the_known_ids_and_shows_scores_as_the_gradebook_does(tmp_path, capsys):
    from grader.cli import main

    folder, out = tmp_path / "class", tmp_path / "grades"
    folder.mkdir()
    shutil.copyfile(SOLUTIONS / "dinosaur_island.ipynb", folder / "ann.ipynb")
    shutil.copyfile(ROOT / "assignments" / "dinosaur_island.ipynb", folder / "ben.ipynb")  # the stub: clip is 0
    assert main([str(folder), "--out", str(out), "--jobs", "1", "--seed", "0", "--hidden-cases", "0",
                 "--only", "clip"]) == 0
    assert main(["override", str(out), "ben", "clip", "4", "--reason", "accepted"]) == 0
    capsys.readouterr()

    # A name that is not an id (the file's name, once a roster gave LMS ids): the ids there are, not "grade first".
    assert main(["regrade", str(out), "benjamin"]) == 2
    error = capsys.readouterr().err
    assert "no result for student 'benjamin'" in error and "there are: ann, ben" in error and "first" not in error

    # Ids after --item, as a TA types them; the table shows the score the gradebook shows (override in).
    assert main(["regrade", str(out), "--item", "clip", "ben", "--reason", "case fixed"]) == 0
    table = capsys.readouterr().out
    row = next(line for line in table.splitlines() if line.lstrip().startswith("ben "))
    assert row.replace("│", " ").split()[-2:] == ["4", "4"] and "TA overrides in force" in table and "ann" not in table
    assert main(["regrade", str(out), "ben", "--reason", "again"]) == 0
    row = next(line for line in capsys.readouterr().out.splitlines() if line.lstrip().startswith("ben "))
    assert row.replace("│", " ").split()[-2:] == ["4", "4"]
    history = json.loads((out / "results" / "ben.json").read_text())["regrades"]
    assert [entry["reason"] for entry in history] == ["case fixed", "again"] and history[0]["item"] == "clip"


def test_a_late_penalty_without_a_deadline_is_refused_not_dropped(tmp_path, capsys):
    from grader.cli import main

    for option in (["--late-penalty", "10"], ["--late-cap=50"]):
        assert main(["export", str(tmp_path), "--canvas", str(tmp_path / "roster.csv"), *option]) == 2
        assert "need --due DATETIME" in capsys.readouterr().err
    assert not list(tmp_path.iterdir())  # nothing written


def test_regrade_from_another_folder_refuses_instead_of_replacing_results_by_no_such_file(tmp_path, monkeypatch,
                                                                                       capsys):
    from grader.cli import main

    (tmp_path / "class").mkdir()
    (tmp_path / "elsewhere").mkdir()
    shutil.copyfile(SOLUTIONS / "dinosaur_island.ipynb", tmp_path / "class" / "ann.ipynb")
    monkeypatch.chdir(tmp_path)
    assert main(["class", "--out", "grades", "--jobs", "1", "--seed", "0", "--hidden-cases", "0", "--only", "clip"]) == 0
    before = (tmp_path / "grades" / "results" / "ann.json").read_text()
    assert json.loads(before)["notebook"] == "class/ann.ipynb"  # as the batch was given it

    monkeypatch.chdir(tmp_path / "elsewhere")
    for command in (["regrade", "../grades", "ann", "--reason", "x"], ["regrade", "../grades", "--item", "clip"]):
        assert main(command) == 2
        error = capsys.readouterr().err
        assert "nothing regraded: notebooks not found from here: ann (class/ann.ipynb)" in error
        assert "grade SUBMISSIONS --out ../grades --student ann" in error
    assert (tmp_path / "grades" / "results" / "ann.json").read_text() == before
    monkeypatch.chdir(tmp_path)
    assert main(["regrade", "grades", "ann", "--reason", "from the batch's folder"]) == 0


def test_regrade_takes_the_batchs_grading_options_and_says_when_the_earlier_result_was_graded_otherwise(
        tmp_path, capsys):
    from grader.cli import main
    from grader.config import DEFAULT_HIDDEN_CASES

    folder, out = tmp_path / "class", tmp_path / "grades"
    folder.mkdir()
    shutil.copyfile(SOLUTIONS / "dinosaur_island.ipynb", folder / "ann.ipynb")
    options = ["--hidden-cases", "0", "--only", "clip"]
    assert main([str(folder), "--out", str(out), "--jobs", "1", *options]) == 0
    cases = json.loads((out / "results" / "ann.json").read_text())["functions"][0]["cases_total"]
    capsys.readouterr()

    assert main(["regrade", str(out), "ann", *options]) == 0  # as the batch graded: the same cases, no note
    assert "note: graded before" not in capsys.readouterr().out
    assert json.loads((out / "results" / "ann.json").read_text())["functions"][0]["cases_total"] == cases

    assert main(["regrade", str(out), "ann"]) == 0  # the defaults: two hidden cases more, every function
    assert "note: graded before with other options" in " ".join(capsys.readouterr().out.split())
    regraded = json.loads((out / "results" / "ann.json").read_text())["functions"]
    assert len(regraded) == 4 and regraded[0]["cases_total"] == cases + DEFAULT_HIDDEN_CASES


def test_a_late_penalty_out_of_0_to_100_is_refused(tmp_path, capsys):
    """--late-penalty -10 gave 160 of 100 in the late-adjusted column."""
    import pytest

    from grader.cli import main

    for option in (["--late-penalty", "-10"], ["--late-cap", "150"]):
        with pytest.raises(SystemExit) as stop:
            main(["export", str(tmp_path), "--canvas", str(tmp_path / "r.csv"), "--due", "2026-11-20T23:59", *option])
        assert stop.value.code == 2 and "give a percentage from 0 to 100" in capsys.readouterr().err
