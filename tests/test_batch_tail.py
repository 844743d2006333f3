"""The end of a batch is cheap because the batch did the work while grading: each notebook's similarity
fingerprints made in its grading process, each student's feedback/ and gradescope/ files written as
their result arrived, the charts drawn by a process started before grading. None of it may change a
byte of what the TA gets: the outputs are those of the same results written with nothing kept."""
from __future__ import annotations

import json
import shutil
from pathlib import Path

from grader.batch import RESULT_SCHEMA_VERSION, Kept, discover, grade_batch, results_json, write_outputs
from grader.classreport import charts
from grader.classreport.stats import function_stats, student_from_record

from conftest import ASSIGNMENTS, FAST, SOLUTIONS, make_notebook, replace_function, solution_cells
from test_similarity import OWN_RNN_CELL as OWN_CELL  # a student's own rnn_cell_forward, not the reference's

CONFIG = FAST.with_changes(hidden_cases=1, assignment="rnn_step_by_step")



def _class(folder: Path) -> None:
    folder.mkdir()
    cells = replace_function(solution_cells("rnn_step_by_step.ipynb"), "rnn_cell_forward", OWN_CELL)
    make_notebook(folder / "ann.ipynb", *cells)
    make_notebook(folder / "ben.ipynb", *cells)  # the same own code as ann's: a flagged pair
    shutil.copyfile(SOLUTIONS / "rnn_step_by_step.ipynb", folder / "cleo.ipynb")
    shutil.copyfile(ASSIGNMENTS / "rnn_step_by_step.ipynb", folder / "dan.ipynb")
    (folder / "eve.ipynb").write_text('{"cells": [')  # not graded: no files of its own, no fingerprint


def _files(out: Path) -> dict[str, bytes]:
    return {str(path.relative_to(out)): path.read_bytes() for path in sorted(out.rglob("*")) if path.is_file()}


def _rewritten_with_nothing_kept(out: Path) -> dict[str, bytes]:
    """Every output written again from the results alone (as `grade report`, an override or the
    grader before the tail was made cheap do)."""
    for derived in ("feedback", "gradescope"):
        shutil.rmtree(out / derived)
    for name in ("report.html", "gradebook.csv", "results.json"):
        (out / name).unlink()
    write_outputs(out)
    return _files(out)


def test_the_end_of_a_batch_writes_the_same_files_with_what_grading_kept(tmp_path):
    _class(tmp_path / "class")
    out = tmp_path / "out"
    entries, _ = discover([str(tmp_path / "class")])
    drawer = charts.Drawer.start()  # as batch_main: None without matplotlib
    try:
        summary = grade_batch(entries, out, CONFIG, jobs=2, kept=Kept(drawer=drawer))
        kept = summary.kept
        assert len(kept.prints) == 4  # made by the grading processes: ann, ben, cleo, dan (eve was not graded)
        assert sorted(kept.exported) == ["ann", "ben", "cleo", "dan", "eve"]
        assert (out / "feedback" / "ann.md").is_file()  # written as ann's result arrived, before the end
        assert (kept.ahead is not None and kept.ahead.value() is not None) == (drawer is not None)  # started as the
        # last result arrived
        write_outputs(out, kept)
    finally:
        if drawer is not None:
            drawer.close()
    at_the_end = _files(out)
    report = at_the_end["report.html"].decode()
    assert "ann" in report and "ben" in report and ("<svg" in report) == (kept.drawer is not None)
    assert 'class="pair"' in report  # ann and ben, flagged from the fingerprints the grading processes made
    assert _rewritten_with_nothing_kept(out) == at_the_end


def test_a_record_changed_after_its_files_were_written_is_written_again(tmp_path):
    _class(tmp_path / "class")
    out = tmp_path / "out"
    entries, _ = discover([str(tmp_path / "class")])
    drawer = charts.Drawer.start()
    try:
        summary = grade_batch(entries, out, CONFIG, jobs=2, kept=Kept(drawer=drawer))
        # Between the result's arrival and the end (a TA's override, a regrade's note): the record moves on,
        # and with it what was started ahead (feedback, charts).
        path = out / "results" / "dan.json"
        data = json.loads(path.read_text())
        data["functions"][0]["messages"] = ["changed after the early export"]
        data["functions"][0]["status"] = "crashed"  # the status chart changes too
        path.write_text(json.dumps(data, indent=1))
        write_outputs(out, summary.kept)
    finally:
        if drawer is not None:
            drawer.close()
    assert "changed after the early export" in (out / "feedback" / "dan.md").read_text()
    (out / "gradescope" / "ann.json").unlink()  # a file gone since: written again too
    write_outputs(out, summary.kept)
    at_the_end = _files(out)
    assert "gradescope/ann.json" in at_the_end
    assert _rewritten_with_nothing_kept(out) == at_the_end


def test_kept_prints_for_other_bytes_are_not_used(tmp_path):
    _class(tmp_path / "class")
    out = tmp_path / "out"
    entries, _ = discover([str(tmp_path / "class")])
    summary = grade_batch(entries, out, CONFIG, jobs=2)
    # ben's notebook is replaced by the reference after grading: the report compares what is there now
    shutil.copyfile(SOLUTIONS / "rnn_step_by_step.ipynb", tmp_path / "class" / "ben.ipynb")
    write_outputs(out, summary.kept)
    assert _rewritten_with_nothing_kept(out) == _files(out)


def test_the_drawing_process_draws_what_this_process_draws(tmp_path):
    records = [{"student": f"s{n}", "graded": True, "score": n * 10, "max_score": 100, "functions": [
        {"name": "rnn_forward", "section": "required", "score": n, "max_score": 10, "status": "passed" if n > 4 else
         "failed", "cases": [{"name": "c1", "hidden": False, "passed": n > 4, "message": ""},
                             {"name": "c2", "hidden": True, "passed": n > 6, "message": ""}]}]} for n in range(10)]
    students = [student_from_record(f"s{n}", data) for n, data in enumerate(records)]
    functions = function_stats(students)
    items = [item for f in functions for item in f.cases]
    drawer = charts.Drawer.start()
    if drawer is None:  # matplotlib not installed: nothing to draw anywhere
        return
    try:
        bars, scatter = drawer.draw("status_bars", functions), drawer.draw("item_scatter", items)
        histogram = drawer.draw("score_histogram", [10.0, 55.0, 90.0], 51.7, 55.0)
        assert bars() == charts.status_bars(functions)
        assert scatter() == charts.item_scatter(items)
        assert histogram() == charts.score_histogram([10.0, 55.0, 90.0], 51.7, 55.0)
    finally:
        drawer.close()
    assert drawer.draw("status_bars", functions)() == charts.status_bars(functions)  # closed: drawn here


def test_results_json_from_each_records_text_is_what_json_dumps_writes():
    records = [{"student": "a", "score": 0, "functions": [{"name": "f", "messages": ["x\ny", "é \u202e"], "cases": []}],
                "notes": [], "nested": {"empty": {}, "list": [[], [1, 2.5, None, True]]}},
               {"student": "b", "score": 0.0, "error": "not graded: \"quoted\"", "functions": []}]
    for chosen in ([], records[:1], records):
        expected = json.dumps({"schema_version": RESULT_SCHEMA_VERSION, "results": chosen}, indent=1)
        assert results_json([json.dumps(record, indent=1) for record in chosen]) == expected
