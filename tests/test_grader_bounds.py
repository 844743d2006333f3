"""Nothing a student controls runs unbounded in the grader (issue 10, class 2).

When a student's function calls another graded function, the grader answers with the reference
solution in its own process, on the student's inputs. These tests build such attacks (huge arrays,
broadcasting bombs, millions of calls, a loop that swallows the refusals) and check that the
grader's own peak memory stays under a stated bound, measured in a child process that grades, that
the function gets 0 with a clear message, and that the other functions keep their points. The
envelope itself is checked against every call the reference solutions make on their own cases, so
honest code is never refused.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

from grader.course import ASSIGNMENTS
from grader.course.recipes import build_call
from grader.course.reference import REFERENCE_LOCK, load_reference
from grader.dependency_limits import CaseLimits, DependencyRefused, envelope_for
from grader.results import Status

from conftest import FAST, ROOT, SOLUTIONS, make_notebook, replace_function, solution_cells

#: The grader's peak resident memory while grading one attack notebook, in MiB. Measured here: an
#: honest notebook 60 MiB, the 48 MB argument (the most one frame carries) 180 MiB, the broadcasting
#: bomb 60 MiB; without the limits that bomb took 6 GiB and 70 s.
PEAK_RSS_BOUND_MB = 400

FUNCTIONS = ("rnn_cell_forward", "rnn_forward", "lstm_cell_forward")
CONFIG = FAST.with_changes(only=FUNCTIONS, hidden_cases=1)

CHILD = """
import json, resource, sys
from grader.config import GradeConfig
from grader.pipeline import grade_notebook
config = GradeConfig(**json.loads(sys.argv[2]))
result = grade_notebook(sys.argv[1], config)
print(json.dumps({"peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, "graded": result.graded,
                  "error": result.error, "functions": {f.name: [f.score, f.max_score, f.status.value, list(f.messages)]
                                                       for f in result.functions}}))
"""


def grade_in_child(path: Path, config=CONFIG) -> dict:
    """Grade in a fresh interpreter and return its result and its own peak RSS (VmHWM)."""
    options = {"only": list(config.only), "hidden_cases": config.hidden_cases, "hidden_seed": config.hidden_seed,
               "cell_timeout": config.cell_timeout, "call_timeout": config.call_timeout,
               "notebook_timeout": config.notebook_timeout, "engine": config.engine}
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    done = subprocess.run([sys.executable, "-c", CHILD, str(path), json.dumps(options)], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


def attack(tmp_path: Path, body: str) -> Path:
    """The reference RNN notebook whose rnn_forward is ``body`` (it may call rnn_cell_forward)."""
    source = "# GRADED FUNCTION: rnn_forward\nimport numpy as np\ndef rnn_forward(x, a0, parameters):\n" + \
        textwrap.indent(textwrap.dedent(body).strip("\n"), "    ") + "\n"
    cells = [cell for cell in solution_cells("rnn_step_by_step.ipynb") if "rnn_forward(" not in cell
             or "def rnn_forward(" in cell]  # no top-level test calls: the attack runs when graded
    return make_notebook(tmp_path / "attack.ipynb", *replace_function(cells, "rnn_forward", source))


def assert_contained(outcome: dict, *phrases: str) -> None:
    assert outcome["graded"], outcome["error"]
    assert outcome["peak_mb"] < PEAK_RSS_BOUND_MB, outcome["peak_mb"]
    functions = outcome["functions"]
    score, _, status, messages = functions["rnn_forward"]
    assert score == 0 and status in (Status.ERROR.value, Status.FAILED.value), functions["rnn_forward"]
    text = " ".join(messages)
    assert "DependencyRefused" in text and all(phrase in text for phrase in phrases), text
    for other in ("rnn_cell_forward", "lstm_cell_forward"):  # classmates in the same notebook keep their points
        assert functions[other][0] == functions[other][1], functions[other]


BROADCAST_BOMB = """
N = 30000  # (N, 1) + (1, N) inside the reference: 7 GB from inputs of a few hundred kB
p = {"Waa": np.ones((N, 1)), "Wax": np.ones((N, 1)), "Wya": np.ones((2, N)), "ba": np.ones((N, 1)),
     "by": np.ones((2, 1))}
rnn_cell_forward(np.ones((1, N)), np.ones((1, N)), p)
"""

WIRE_SIZED = """
big = np.ones((2000, 3000))  # 48 MB: as much as one frame may carry
rnn_cell_forward(big, big[:5], parameters)
"""


OVER_THE_CAP = """
rnn_cell_forward(np.ones((5000, 5000)), a0, parameters)  # 200 MB: more than a frame may carry
"""


@pytest.mark.parametrize("body, phrase", [(BROADCAST_BOMB, "an array of shape (1, 30000)"),
                                          (WIRE_SIZED, "an array of shape (2000, 3000)"),
                                          (OVER_THE_CAP, "a value of type ndarray that cannot be sent to the grader (too large)")])
def test_huge_dependency_inputs_are_refused_before_computing(tmp_path, body, phrase):
    outcome = grade_in_child(attack(tmp_path, body))
    assert_contained(outcome, "rnn_cell_forward was called with " + phrase, "in xt")


def test_a_million_dependency_calls_stop_at_the_case_budget(tmp_path):
    outcome = grade_in_child(attack(tmp_path, """
        for _ in range(10**6):
            rnn_cell_forward(x[:, :, 0], a0, parameters)
    """))
    assert_contained(outcome, "called rnn_cell_forward more than", "times on one test case")


def test_swallowing_the_refusals_only_costs_the_call_deadline(tmp_path):
    # Refused calls are cheap, and the call's deadline ends the loop: a timeout for this function only.
    outcome = grade_in_child(attack(tmp_path, """
        while True:
            try:
                rnn_cell_forward(np.ones((1, 30000)), a0, parameters)
            except RuntimeError:
                pass
    """))
    assert outcome["peak_mb"] < PEAK_RSS_BOUND_MB
    functions = outcome["functions"]
    assert functions["rnn_forward"][0] == 0 and functions["rnn_forward"][2] == Status.TIMEOUT.value
    assert functions["rnn_cell_forward"][0] == functions["rnn_cell_forward"][1]


def test_deep_nesting_and_huge_ints_are_refused(tmp_path):
    outcome = grade_in_child(attack(tmp_path, """
        try:
            rnn_cell_forward(x[:, :, 0], a0, dict(parameters, Waa=[[[[[[[1.0]]]]]]]))
        except RuntimeError as error:
            nested = str(error)
        try:
            rnn_cell_forward(x[:, :, 0], 10**30, parameters)
        except RuntimeError as error:
            raise RuntimeError(nested + " / " + str(error))
    """))
    assert_contained(outcome, "values nested more than", "an integer too large for a 64-bit int in a_prev")


def test_kernel_engine_is_bounded_the_same_way(tmp_path):
    pytest.importorskip("nbclient")
    pytest.importorskip("ipykernel")
    outcome = grade_in_child(attack(tmp_path, BROADCAST_BOMB), CONFIG.with_changes(engine="kernel"))
    assert_contained(outcome, "shape (1, 30000)")


# --- the envelope, without a worker -------------------------------------------------------------

def _limits(args, kwargs, clock=lambda: 0.0, deadline=1.0) -> CaseLimits:
    params = {"rnn_cell_forward": ("xt", "a_prev", "parameters")}
    return CaseLimits(envelope_for(args, kwargs), deadline, "rnn_forward", params, clock)


def _rnn_case():
    spec = ASSIGNMENTS["rnn_step_by_step"].function("rnn_forward")
    return build_call(spec.published[0][1], None)


def test_the_envelope_is_drawn_from_the_case_itself():
    args, kwargs = _rnn_case()  # n_x 3, n_a 5, n_y 2, m 10, T_x 4
    envelope = envelope_for(args, kwargs)
    assert envelope.max_dim == 2 * 10 + 8 and envelope.max_ndim == 3
    assert envelope.max_calls == 4 * 10 + 64
    x, a0, parameters = args
    limits = _limits(args, kwargs)
    for t in range(x.shape[2]):  # what the reference does
        limits.admit("rnn_cell_forward", [x[:, :, t], a0, parameters], {})
    with pytest.raises(DependencyRefused, match=r"shape \(29, 10\) in xt"):
        limits.admit("rnn_cell_forward", [np.zeros((29, 10)), a0, parameters], {})
    with pytest.raises(DependencyRefused, match=r"in parameters\['Waa'\]"):
        limits.admit("rnn_cell_forward", [x[:, :, 0], a0, dict(parameters, Waa=np.zeros((5, 5, 5, 5)))], {})
    with pytest.raises(DependencyRefused, match="list of 500 items"):
        limits.admit("rnn_cell_forward", [list(range(500)), a0, parameters], {})


def test_the_call_count_and_the_deadline_stop_answering():
    args, kwargs = _rnn_case()
    x, a0, parameters = args
    limits = _limits(args, kwargs)
    for _ in range(limits.envelope.max_calls):
        limits.admit("rnn_cell_forward", [x[:, :, 0], a0, parameters], {})
    with pytest.raises(DependencyRefused, match="more than 104 times"):
        limits.admit("rnn_cell_forward", [x[:, :, 0], a0, parameters], {})
    now = [0.0]
    late = _limits(args, kwargs, clock=lambda: now[0], deadline=5.0)
    late.admit("rnn_cell_forward", [x[:, :, 0], a0, parameters], {})
    now[0] = 5.0  # the call's deadline has come: nothing more is answered, whatever the count
    with pytest.raises(DependencyRefused, match="ran out of time"):
        late.admit("rnn_cell_forward", [x[:, :, 0], a0, parameters], {})


def _cases(spec, count=3):
    recipes = [recipe for _, recipe in spec.published]
    return recipes + (spec.hidden(count, np.random.default_rng(7)) if spec.hidden else [])


@pytest.mark.parametrize("assignment, function", [
    (assignment.name, spec.name) for assignment in ASSIGNMENTS.values() for spec in assignment.functions
    if spec.depends_on])
def test_the_reference_itself_stays_inside_every_envelope(assignment, function):
    """Every dependency call the reference makes on published and hidden cases is admitted."""
    spec_of = ASSIGNMENTS[assignment]
    spec = spec_of.function(function)
    references = load_reference(spec_of, SOLUTIONS)
    caller = references[function]
    for recipe in _cases(spec):
        for form in (["data_x"] if "variants" in recipe else [None]):  # the reference's own signature
            args, kwargs = build_call(recipe, references.get, form)
            limits = CaseLimits(envelope_for(args, kwargs), float("inf"), function,
                                {name: spec_of.function(name).params for name in spec.depends_on})
            originals = {name: caller.__globals__[name] for name in spec.depends_on}

            def admitted(name):
                def call(*a, **k):
                    limits.admit(name, a, k)
                    return originals[name](*a, **k)
                return call

            with REFERENCE_LOCK:
                try:
                    caller.__globals__.update({name: admitted(name) for name in spec.depends_on})
                    caller(*args, **kwargs)
                finally:
                    caller.__globals__.update(originals)
            assert 0 < limits.calls <= limits.envelope.max_calls


def test_cells_of_code_built_to_bloat_the_parser_stay_within_the_bound(tmp_path):
    """Python's parser takes ~900 bytes per character of `a;a;...`: each cell's tree is let go once read
    (nine cells just under MAX_CELL_CHARS were kept together: 410 MB), and longer cells are not parsed."""
    from grader.load import MAX_CELL_CHARS

    bloat = "a;" * (MAX_CELL_CHARS // 2 - 8)
    path = make_notebook(tmp_path / "bloat.ipynb", *solution_cells("rnn_step_by_step.ipynb"), *[bloat] * 9)
    outcome = grade_in_child(path)
    assert outcome["graded"], outcome["error"]
    # One tree at a time: about one cell's tree beside the grader (~170 MB here), all of them 410 MB.
    assert outcome["peak_mb"] < min(300, PEAK_RSS_BOUND_MB), outcome["peak_mb"]
    assert all(score == most for score, most, _, _ in outcome["functions"].values()), outcome["functions"]


def test_a_notebook_the_grader_itself_never_finishes_is_given_up_alone(tmp_path, monkeypatch, capsys):
    """`grade nb.ipynb` had no bound on the grader's own work (a batch did): a notebook built to be slow
    to read held the command for ever. Past --timeout plus a margin it is given up with a message and
    its worker closed."""
    import time

    import grader.pipeline as pipeline
    from grader import sandbox
    from grader.cli import main

    stuck, honest = tmp_path / "stuck" / "stuck.ipynb", tmp_path / "honest" / "honest.ipynb"
    for path in (stuck, honest):
        path.parent.mkdir()
        path.write_text((SOLUTIONS / "rnn_step_by_step.ipynb").read_text())
    real = pipeline.grade_function
    seen_workers = []

    def never_ends_on_stuck(function, session, submission, *args, **kwargs):
        if submission.path.name == "stuck.ipynb":  # a worker is running: the give-up must close it
            seen_workers.append(session.worker)
            while True:
                time.sleep(0.05)
        return real(function, session, submission, *args, **kwargs)

    monkeypatch.setattr(pipeline, "grade_function", never_ends_on_stuck)
    monkeypatch.setattr(pipeline, "GRADER_GRACE", 0.0)
    code = main([str(stuck), "--timeout", "8", "--only", "rnn_cell_forward", "--json"])
    out, err = capsys.readouterr()
    assert code == 2
    assert json.loads(out)["error"].startswith("grading this notebook took the grader itself longer than 8 s")
    assert "grade: error: grading this notebook took the grader itself longer than 8 s" in err
    assert seen_workers and seen_workers[0].process is not None and seen_workers[0].workdir is not None
    assert not seen_workers[0].workdir.exists() and seen_workers[0] not in sandbox._LIVE
    assert signal_alarm_is_off()
    # The same process grades the next notebook as usual.
    result = pipeline.grade_notebook(honest, CONFIG.with_changes(only=("rnn_cell_forward",)))
    assert result.graded and result.score == result.max_score


def signal_alarm_is_off() -> bool:
    import signal

    return signal.getitimer(signal.ITIMER_REAL) == (0.0, 0.0) and signal.getsignal(signal.SIGALRM) in (
        signal.SIG_DFL, signal.SIG_IGN, None)


def test_a_timeout_too_long_for_a_timer_is_no_bound_not_a_crash():
    """setitimer refuses more than time_t holds: --timeout 1e12 (a TA's "no limit") raised OverflowError."""
    from grader.overdue import bounded

    with bounded(1e12 + 60):
        assert signal_alarm_is_off() is False
    assert signal_alarm_is_off()


def test_an_alarm_the_embedding_program_set_is_left_alone():
    """A test runner's timeout (SIGALRM) around grading: the bound neither replaces its handler nor
    cancels its timer; the grader then relies on the runner's alarm."""
    import signal

    from grader.overdue import bounded

    fired = []
    previous = signal.signal(signal.SIGALRM, lambda number, frame: fired.append(number))
    try:
        signal.setitimer(signal.ITIMER_REAL, 300)
        with bounded(5):
            assert signal.getitimer(signal.ITIMER_REAL)[0] > 200
        assert signal.getitimer(signal.ITIMER_REAL)[0] > 200 and not fired
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


class _NeverListed(np.ndarray):
    """An answer the judge must size before converting: listing it is the cost the test forbids."""

    def tolist(self):  # noqa: D401
        raise AssertionError("converted a far too long answer to Python objects")


def test_a_far_too_long_sample_answer_is_judged_by_its_length_alone():
    """sample's judge turned any 1-D integer answer into a Python list before looking at its length:
    60 million uint8 (60 MB on the wire) took the grader to 1 GB and a minute of CPU per case."""
    from grader.course.dino.judges import SampleJudge
    from grader.course.spec import Expectation, Tolerance

    judge = SampleJudge()
    answer = np.zeros(10_000_000, np.uint8).view(_NeverListed)
    expectation = Expectation(value=[3, 0], stable_prefix=2)
    (mismatch,) = judge.mismatches(None, expectation, answer, None, Tolerance())
    assert mismatch.kind == "length" and "10,000,000 indices" in mismatch.message

    class Outcome:
        value = answer

    assert judge.reproduces(None, expectation, [3, 0], [], Outcome(), Tolerance()) is False
    # A few draws too many are still judged in full: the student hears every problem.
    near = judge.mismatches(None, expectation, list(range(1, 27)) * 2 + [0], None, Tolerance())
    assert {m.kind for m in near} == {"length", "values"}


def test_what_a_notebook_makes_its_result_say_is_bounded_and_its_points_kept(tmp_path):
    """60 failing cells of long messages and a kernel name of a megabyte: the result keeps the first
    MAX_CELL_ISSUES cells (each message cut), says how many more there were, cuts the kernel's
    name, and the graded functions keep their full marks (red team: 9,500 such cells made a 19 MB
    class report; a 20 MB kernel name an 84 MB one)."""
    import dataclasses

    from grader.pipeline import grade_notebook
    from grader.results import ISSUE_CHARS, MAX_CELL_ISSUES, MAX_NOTES, NOTE_CHARS

    noisy = [f"raise ValueError('<' * 5000 + ' cell {n}')" for n in range(60)]
    path = make_notebook(tmp_path / "nb.ipynb", *solution_cells("rnn_step_by_step.ipynb"), *noisy,
                         metadata={"kernelspec": {"name": "python3", "language": "<" * 1_000_000}})
    config = dataclasses.replace(FAST, assignment="rnn_step_by_step", only=("rnn_cell_forward",))
    result = grade_notebook(path, config)
    assert result.graded and result.score == result.max_score > 0
    assert len(result.cell_issues) == MAX_CELL_ISSUES
    assert all(len(issue.message) <= ISSUE_CHARS for issue in result.cell_issues)
    assert any(f"{60 - MAX_CELL_ISSUES} more cells had problems" in note for note in result.notes)
    assert len(result.notes) <= MAX_NOTES and all(len(note) <= NOTE_CHARS for note in result.notes)
    assert any("kernel says" in note for note in result.notes)
    assert len(json.dumps(result.to_json())) < 200_000
