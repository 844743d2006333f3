"""The class report (grader/classreport/): numbers checked by hand on a tiny class, every student
string escaped, the page still useful without matplotlib, the CLI and the batch hook."""
from __future__ import annotations

import json
import math
import sys
from html.parser import HTMLParser
from pathlib import Path

import pytest

from grader.classreport import build_report, load_records, write_report
from grader.classreport.stats import (attention, common_mistakes, function_stats, overview, point_biserial,
                                      student_from_record)
from grader.cli import main

#: A warning raised from the grader's own code (matplotlib attributes its warnings to the caller) fails the test.
pytestmark = pytest.mark.filterwarnings("error:::grader")

HOSTILE = '<script>window.__pwned=1</script>"\'><img src=x onerror="window.__pwned=2">'


def case(name: str, passed: bool, hidden: bool = False, message: str = "") -> dict:
    return {"name": name, "hidden": hidden, "passed": passed, "message": message or ("" if passed else "wrong")}


def function(name: str, cases: list[dict], max_score: float = 10, status: str | None = None,
             diagnosis: str = "", section: str = "required", messages: list[str] | None = None) -> dict:
    passed = sum(c["passed"] for c in cases)
    score = round(max_score * passed / len(cases), 4) if cases else 0
    status = status or ("passed" if cases and passed == len(cases) else "partial" if passed else "failed")
    return {"name": name, "section": section, "score": score, "max_score": max_score, "status": status,
            "cases_passed": passed, "cases_total": len(cases), "messages": messages or [], "diagnosis": diagnosis,
            "traceback": "", "reference_dependencies": [], "cases": cases}


def record(student: str, functions: list[dict], error: str = "", notebook: str = "", **extra) -> dict:
    required = [f for f in functions if f["section"] == "required"]
    data = {"schema_version": 1, "notebook": notebook or f"/class/{student}.ipynb", "assignment": "rnn_step_by_step",
            "course_version": "v4", "graded": not error, "error": error,
            "score": sum(f["score"] for f in required), "max_score": sum(f["max_score"] for f in required),
            "optional_score": 0, "optional_max_score": 0, "stored_cases_only": False, "duration_seconds": 0.5,
            "notes": [], "cell_issues": [], "functions": functions if not error else [], "student": student,
            "sha256": "x", "fingerprint": "y", "batch_note": ""}
    data.update(extra)
    return data


def two_functions(name: str, f: tuple[bool, bool], g: tuple[bool, bool]) -> dict:
    """A student whose function f passed cases c1, c2 and g cases d1, d2 as given."""
    return record(name, [function("f", [case("c1", f[0]), case("c2", f[1])]),
                         function("g", [case("d1", g[0]), case("d2", g[1])])])


def tiny_class() -> list[dict]:
    """Four students, two functions of 10 points with two cases each (worked by hand in the tests)."""
    return [two_functions("A", (True, True), (True, True)), two_functions("B", (True, False), (True, True)),
            two_functions("C", (True, False), (True, False)), two_functions("D", (False, False), (False, False))]


def students_of(records: list[dict]):
    return [student_from_record(f"s{n}", r) for n, r in enumerate(records, start=1)]


# --- numbers -----------------------------------------------------------------------------------------

def test_item_analysis_matches_a_hand_computed_class():
    stats = {(f.name, item.case): item for f in function_stats(students_of(tiny_class())) for item in f.cases}
    # f/c1: passed by A, B, C; rest of the score (points on g) 10, 10, 5, 0: mean 6.25, population sd
    # sqrt(68.75 / 4) = 4.14578; mean of those who passed 25/3, of those who failed 0;
    # r = (8.33333 - 0) / 4.14578 * sqrt(0.75 * 0.25) = 0.870388
    assert stats["f", "c1"].difficulty == 0.75
    assert stats["f", "c1"].discrimination == pytest.approx(0.870388, abs=1e-5)
    # f/c2: only A passed; means 10 against 5: r = 5 / 4.14578 * sqrt(0.25 * 0.75) = 0.522233
    assert stats["f", "c2"].difficulty == 0.25 and stats["f", "c2"].hard
    assert stats["f", "c2"].discrimination == pytest.approx(0.522233, abs=1e-5)
    # g/c1: rest (points on f) 10, 5, 5, 0: sd sqrt(12.5) = 3.53553; (20/3 - 0) / 3.53553 * 0.433013 = 0.816497
    assert stats["g", "d1"].discrimination == pytest.approx(0.816497, abs=1e-5)
    # g/c2: A and B passed: (7.5 - 2.5) / 3.53553 * 0.5 = 0.707107
    assert stats["g", "d2"].discrimination == pytest.approx(0.707107, abs=1e-5)
    assert not any(item.non_discriminating for item in stats.values())


def test_point_biserial_is_the_pearson_correlation_and_undefined_without_variation():
    passed, rest = [True, False, True, True, False, False], [9.0, 3.0, 7.0, 4.0, 5.0, 1.0]
    n = len(rest)
    x = [float(p) for p in passed]
    mx, my = sum(x) / n, sum(rest) / n
    pearson = sum((a - mx) * (b - my) for a, b in zip(x, rest)) / math.sqrt(
        sum((a - mx) ** 2 for a in x) * sum((b - my) ** 2 for b in rest))
    assert point_biserial(passed, rest) == pytest.approx(pearson)
    assert point_biserial([True, True], [1.0, 2.0]) is None  # everybody passed
    assert point_biserial([True, False], [3.0, 3.0]) is None  # the rest does not vary
    assert point_biserial([False, False, False, True], [10.0, 10.0, 5.0, 0.0]) < 0  # the weakest passes: negative


def test_overview_quartiles_and_reasons():
    records = tiny_class() + [record("E", [], error="/class/E.ipynb: is not UTF-8 text (invalid byte at 3); save it"),
                              record("F", [], error="/class/F.ipynb: is not UTF-8 text (invalid byte at 9); save it")]
    view = overview(students_of(records))
    assert (view.total, view.graded, view.full_marks) == (6, 4, 1)
    # percents 100, 75, 50, 0: mean 56.25, median 62.5, inclusive quartiles 37.5 and 81.25
    assert (view.mean, view.median, view.q1, view.q3) == (56.25, 62.5, 37.5, 81.25)
    assert view.reasons == (("is not UTF-8 text", 2),)


def test_pass_rate_points_and_statuses_per_function():
    f, g = function_stats(students_of(tiny_class()))
    assert (f.name, f.students, f.passed, f.mean_score) == ("f", 4, 1, 5.0)
    assert f.statuses == (("passed", 1), ("partial", 2), ("failed", 1))
    assert f.points == ((10.0, 1), (5.0, 2), (0.0, 1))
    assert g.pass_rate == 0.5


def test_common_mistakes_and_the_notebooks_to_look_at():
    records = [
        record("p", [function("f", [case("c1", False)], diagnosis="uses np.tan instead of np.tanh")]),
        record("q", [function("f", [case("c1", False)], diagnosis="uses np.tan instead of np.tanh")]),
        record("r", [function("f", [case("pub", True), case("hid", False, hidden=True)])]),  # hard-coded?
        record("s", [function("f", [case("c1", False)], status="timeout")]),
        record("t", [function("f", [case("c1", False)], status="crashed")]),
        record("u", [], error="internal grader error: the grading process died"),
        record("v", [function("f", [case("c1", True)])], batch_note="duplicate: maps to student 'p'"),
        *[record(name, [dict(function("f", [case("c1", False)], status="error"),
                             traceback="  cell 3, line 2, in f\n    numpy.ones(3)\n"
                                       "NameError: name 'numpy' is not defined\n")])
          for name in ("w", "x")],
    ]
    students = students_of(records)
    mistakes = common_mistakes(students)
    assert [(m.function, m.diagnosis, [s.name for s in m.students], m.raised) for m in mistakes] == \
        [("f", "uses np.tan instead of np.tanh", ["p", "q"], False),
         ("f", "NameError: name 'numpy' is not defined", ["w", "x"], True)]
    kinds = {(a.student.name, a.kind) for a in attention(students, {"p": ["q"], "q": ["p"]})}
    assert kinds == {("u", "not graded"), ("t", "crashed"), ("s", "timeout"), ("r", "hard-coded?"),
                     ("p", "similarity"), ("q", "similarity"), ("v", "duplicate")}


def test_foreign_records_are_read_with_defaults_never_trusted():
    odd = {"student": 7, "score": "lots", "functions": [{"name": "f", "status": "<b>bad</b>", "cases": "no"}, "junk"]}
    student = student_from_record("s1", odd)
    assert student.name == "7" and student.score == 0.0 and not student.graded
    assert student.functions[0].status == "unknown" and student.functions[0].cases == ()
    build_report([odd, *tiny_class()])  # renders


# --- the page --------------------------------------------------------------------------------------

class Elements(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict]] = []

    def handle_starttag(self, tag: str, attrs: list) -> None:
        self.tags.append((tag, dict(attrs)))


def hostile_class() -> list[dict]:
    evil = function(HOSTILE, [case(HOSTILE, False, message=HOSTILE)], diagnosis="javascript:window.__pwned=3",
                    messages=[f"</pre></ul>{HOSTILE}"])
    return tiny_class() + [
        record(HOSTILE, [evil], notebook=f"/class/{HOSTILE}.ipynb", course_version=HOSTILE, assignment=HOSTILE,
               notes=[HOSTILE], cell_issues=[{"cell": HOSTILE, "kind": HOSTILE, "message": HOSTILE}]),
        record("javascript:window.__pwned=4", [], error=HOSTILE),
    ]


def test_every_student_string_is_escaped():
    text = build_report(hostile_class(), source=HOSTILE)
    parser = Elements()
    parser.feed(text)
    assert [tag for tag, _ in parser.tags].count("script") == 1  # ours, and only ours
    assert not [t for t, attrs in parser.tags if any(name.startswith("on") for name in attrs)]
    assert not [t for t, attrs in parser.tags if t == "img"]
    hrefs = [attrs["href"] for _, attrs in parser.tags if "href" in attrs]
    assert hrefs and all(href.startswith("#") for href in hrefs)
    assert "&lt;script&gt;window.__pwned=1&lt;/script&gt;" in text
    assert "<script>window.__pwned" not in text


def test_the_page_is_self_contained_and_locks_scripts_down():
    text = build_report(tiny_class())
    parser = Elements()
    parser.feed(text)
    fetched = [value for _, attrs in parser.tags for name, value in attrs.items()
               if name in ("src", "href", "xlink:href", "action") and value and not value.startswith("#")]
    assert fetched == [] and "<link" not in text and "url(http" not in text and "@import" not in text
    policy = next(attrs["content"] for _, attrs in parser.tags
                  if attrs.get("http-equiv") == "Content-Security-Policy")
    assert "default-src 'none'" in policy and "script-src 'sha256-" in policy
    for anchor in ("glance", "attention", "items", "heatmap", "mistakes", "similarity", "students", "s1", "s4"):
        assert f'id="{anchor}"' in text


def test_charts_are_inline_svg_when_matplotlib_is_installed():
    pytest.importorskip("matplotlib")
    text = build_report(tiny_class())
    assert text.count("<svg") == 3 and "Chart not drawn" not in text


def test_charts_of_a_class_where_no_case_discriminates_draw_without_warnings():
    pytest.importorskip("matplotlib")
    alike = [two_functions(name, (True, True), (True, False)) for name in ("A", "B", "C")]  # nothing varies
    assert all(item.discrimination is None for f in function_stats(students_of(alike)) for item in f.cases)
    text = build_report(alike)  # a warning here is an error (pytestmark)
    assert text.count("<svg") == 3 and "no case discriminates" in text


def test_without_matplotlib_the_tables_remain_and_the_page_says_what_is_missing(monkeypatch):
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # import matplotlib now raises ImportError
    monkeypatch.setitem(sys.modules, "matplotlib.pyplot", None)
    text = build_report(tiny_class())
    assert "<svg" not in text
    assert text.count("Chart not drawn") == 3 and "rnn-grader[report]" in text
    assert 'id="heatmap"' in text and "discrimination" in text


# --- files, CLI, batch ------------------------------------------------------------------------------

def write_results(out: Path, records: list[dict]) -> Path:
    (out / "results").mkdir(parents=True)
    for data in records:  # results/<student>.json, as a batch writes them
        (out / "results" / f"{data['student']}.json").write_text(json.dumps(data))
    (out / "results" / "junk.json").write_text("{not json")
    return out


def test_grade_report_writes_the_page(tmp_path, capsys):
    out = write_results(tmp_path / "grades", tiny_class())
    assert len(load_records(out)) == 4
    assert main(["report", str(out), "-o", str(tmp_path / "r.html"), "--no-similarity"]) == 0
    assert "Class report" in (tmp_path / "r.html").read_text()
    assert main(["report", str(tmp_path / "nothing")]) == 2
    assert "no results found" in capsys.readouterr().err


def test_report_similarity_section_from_the_recorded_notebooks(tmp_path):
    from conftest import SOLUTIONS

    records = tiny_class()
    for data in records[:2]:
        data["notebook"] = str(SOLUTIONS / "rnn_step_by_step.ipynb")
    out = write_results(tmp_path / "grades", records)
    text = write_report(out).read_text()
    assert "notebooks compared" in text and "No pair above the threshold" in text


def test_a_batch_writes_the_report_and_a_report_failure_keeps_the_gradebook(tmp_path, monkeypatch, capsys):
    from grader import batch, classreport

    out = write_results(tmp_path / "grades", tiny_class())
    batch.write_outputs(out)
    assert (out / "report.html").is_file() and (out / "gradebook.csv").is_file()

    def broken(*args, **kwargs):
        raise RuntimeError("boom")

    monkeypatch.setattr(classreport, "write_report", broken)
    (out / "gradebook.csv").unlink()
    batch.write_outputs(out)
    assert (out / "gradebook.csv").is_file()
    assert "class report could not be written" in capsys.readouterr().err


def test_at_a_batchs_end_a_report_failure_keeps_the_other_outputs_too(tmp_path, monkeypatch, capsys):
    # The end of a batch starts the report first (its charts drawn meanwhile) and writes it last.
    from grader import batch, classreport

    out = write_results(tmp_path / "grades", tiny_class())
    batch.write_outputs(out, batch.Kept())
    first = (out / "report.html").read_bytes()
    batch.write_outputs(out)
    assert (out / "report.html").read_bytes() == first  # the same page as without anything kept

    def broken(*args, **kwargs):
        raise RuntimeError("boom")

    def broken_later(*args, **kwargs):
        return broken

    for failing in (broken, broken_later):  # in the first step, or in the last
        monkeypatch.setattr(classreport, "start_report", failing)
        (out / "gradebook.csv").unlink()
        batch.write_outputs(out, batch.Kept())
        assert (out / "gradebook.csv").is_file() and (out / "results.json").is_file()
        assert "class report could not be written (RuntimeError: boom)" in capsys.readouterr().err


def test_a_real_batch_writes_a_report_of_its_results(tmp_path, capsys):
    """End to end, on the result format the batch writes today: the reference, the starter notebook,
    a broken file and a reference copied under a hostile file name."""
    import shutil

    from conftest import ASSIGNMENTS, SOLUTIONS

    folder = tmp_path / "class"
    folder.mkdir()
    shutil.copyfile(SOLUTIONS / "dinosaur_island.ipynb", folder / "ref.ipynb")
    shutil.copyfile(ASSIGNMENTS / "dinosaur_island.ipynb", folder / "stub.ipynb")
    shutil.copyfile(SOLUTIONS / "dinosaur_island.ipynb", folder / '"><img src=x onerror=alert(1)>.ipynb')
    (folder / "broken.ipynb").write_text('{"cells": [')
    assert main([str(folder), "--out", str(tmp_path / "out"), "--no-color"]) == 0
    text = (tmp_path / "out" / "report.html").read_text()
    parser = Elements()
    parser.feed(text)
    assert not [t for t, _ in parser.tags if t == "img"]
    assert "&lt;img src=x onerror=alert(1)&gt;" in text  # the notebook's path, shown as text
    for student in ("ref", "stub", "broken"):
        assert f">{student}</a>" in text
    assert "not graded" in text and "TODO" in text
    assert "report" not in capsys.readouterr().err  # written without a note


def test_the_similarity_page_escapes_student_code_and_names(tmp_path):
    from conftest import make_notebook, replace_function, solution_cells
    from grader.classreport import similarity_page
    from grader.similarity import similarity

    own = (
        "# GRADED FUNCTION: rnn_cell_forward\n\n"
        "def rnn_cell_forward(xt, a_prev, parameters):\n"
        "    ### START CODE HERE ###\n"
        "    note = '</pre><script>window.__pwned=1</script>'  # </details><img src=x onerror=alert(1)>\n"
        "    pre = parameters['Waa'] @ a_prev + parameters['Wax'] @ xt + parameters['ba']\n"
        "    a_next = np.tanh(pre)\n"
        "    scores = parameters['Wya'] @ a_next + parameters['by']\n"
        "    yt_pred = np.exp(scores) / np.exp(scores).sum(axis=0)\n"
        "    cache = (a_next, a_prev, xt, parameters)\n"
        "    ### END CODE HERE ###\n"
        "    return a_next, yt_pred, cache\n")
    cells = replace_function(solution_cells("rnn_step_by_step.ipynb"), "rnn_cell_forward", own)
    first = make_notebook(tmp_path / "first.ipynb", *cells)
    second = make_notebook(tmp_path / "second.ipynb", *cells)
    result = similarity([(HOSTILE, first), ("javascript:alert(1)", second)])
    assert len(result.pairs) == 1
    text = similarity_page(result, source=HOSTILE)
    parser = Elements()
    parser.feed(text)
    assert [tag for tag, _ in parser.tags].count("script") == 1
    assert not [t for t, _ in parser.tags if t == "img"]
    assert all(attrs["href"].startswith("#") for _, attrs in parser.tags if "href" in attrs)
    assert "&lt;/pre&gt;&lt;script&gt;window.__pwned=1&lt;/script&gt;" in text
    assert "not a verdict" in text


def test_an_overridden_score_shows_beside_the_computed_one_with_the_reason():
    from grader.overrides import Override, apply

    zoe, _ = apply(two_functions("zoe", (True, False), (True, False)),  # computed 5 + 5 = 10 of 20
                   {("zoe", "f"): Override("zoe", "f", 10.0, "case c2 was wrong <b>accepted</b>")})
    [student] = students_of([zoe])
    assert (student.score, student.computed_score) == (15, 10)
    assert (student.function("f").score, student.function("f").computed_score) == (10, 5)
    assert student.function("g").computed_score is None
    text = build_report([zoe, two_functions("amy", (True, True), (True, True))])
    assert "Score 15 / 20 (override; computed 10)" in text
    assert "10/10 (override; computed 5)" in text
    assert "case c2 was wrong &lt;b&gt;accepted&lt;/b&gt;" in text  # the reason, as text
    assert "zoe — 75% (override; computed 50%)" in text
    assert 'title="override; computed 50%"' in text  # the heatmap's score cell
    assert "override" not in build_report([two_functions("amy", (True, True), (True, True))])


def test_failed_cells_are_named_as_the_terminal_report_names_them():
    hung = record("zoe", [function("f", [case("c1", True)])],
                  cell_issues=[{"cell": 7, "kind": "timeout", "message": "did not finish", "label": "defines f"}])
    [found] = [a for a in attention(students_of([hung])) if a.kind == "timeout"]
    assert found.detail == "ran out of time: cell 7 (defines f)"
    assert "<li>cell 7 (defines f) (timeout): did not finish</li>" in build_report([hung])


def test_an_empty_class_and_a_class_nobody_could_grade_still_render():
    assert "No graded notebook" in build_report([])
    text = build_report([record("x", [], error="/c/x.ipynb: is an empty file (0 bytes), not a notebook")])
    assert "is an empty file" in text and "NOT GRADED" in text


def test_the_similarity_page_is_bounded_by_what_a_reader_needs_not_by_the_code_handed_in(tmp_path, monkeypatch):
    """A copied function of thousands of long lines shows its shared lines, at most SHOWN_LINES of
    them, each cut at SHOWN_LINE_CHARS, and says how many were left out; a page of more flagged
    pairs than FRAGMENTS_MAX shows the fragments of the first FRAGMENTS_MAX and lists every pair."""
    from conftest import make_notebook, replace_function, solution_cells
    from grader.classreport import page, similarity_page
    from grader.similarity import similarity

    padding = "".join(f"    v{i} = parameters['Waa'].sum() * {i} + len('{'x' * 180}')\n" for i in range(350))
    own = ("def rnn_cell_forward(xt, a_prev, parameters):\n"
           "    ### START CODE HERE ###\n"
           f"    wide = len('{'y' * 5000}')\n" + padding +
           "    a_next = np.tanh(parameters['Waa'] @ a_prev + parameters['Wax'] @ xt + parameters['ba'])\n"
           "    yt_pred = np.exp(parameters['Wya'] @ a_next)\n"
           "    cache = (a_next, a_prev, xt, parameters)\n"
           "    ### END CODE HERE ###\n"
           "    return a_next, yt_pred, cache\n")
    cells = replace_function(solution_cells("rnn_step_by_step.ipynb"), "rnn_cell_forward", own)
    notebooks = [(f"s{n:02d}", make_notebook(tmp_path / f"s{n:02d}.ipynb", *cells)) for n in range(2)]
    result = similarity(notebooks)
    assert len(result.pairs) == 1
    text = similarity_page(result)
    assert len(text) < 100_000, len(text)  # in full: 215 KB (75 KB of source a side, escaped and marked)
    assert text.count('<span class="ln">') <= 2 * (page.SHOWN_LINES + 2) * len(result.pairs[0].flagged) + 10
    assert "more compared lines not shown" in text
    assert "y" * (page.SHOWN_LINE_CHARS - 20) in text and "y" * (page.SHOWN_LINE_CHARS + 1) not in text

    monkeypatch.setattr(page, "FRAGMENTS_MAX", 2)
    many = similarity([(f"c{n}", notebooks[0][1]) for n in range(3)])  # three pairs of one notebook
    assert len(many.pairs) == 3
    text = similarity_page(many)
    assert text.count('class="pair-detail"') == 2
    assert text.count("<tr>") >= len(many.pairs)
    assert "the table lists every pair" in text
    monkeypatch.setattr(page, "FRAGMENTS_CHARS", 1)  # the first pair's fragments use the page's budget up
    text = similarity_page(many)
    assert text.count('class="pair-detail"') == 1
    assert text.count('href="#pair-') == 1 and 'id="pair-1"' in text
