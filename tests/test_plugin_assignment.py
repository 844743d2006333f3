"""The seam between the pipeline and the assignments is real: a toy assignment written here, in the
test suite, with its own notebook, folders, recipe step, judge and mistake model, is registered at
test time and graded end to end, without touching a file of the grader."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from grader.cli import main
from grader.compare import Mismatch
from grader.course import Mistake, get_assignment, register, unregister
from grader.course.recipes import build_call, course_data, register_step, set_path
from grader.course.reference import load_reference
from grader.course.spec import AssignmentSpec, FunctionSpec, Tolerance
from grader.expected import generate, render
from grader.judges import ValuesJudge
from grader.pipeline import grade_notebook
from grader.release import student_notebook
from grader.results import Status

from conftest import FAST, make_notebook

SOLUTION_CELLS = [
    "import numpy as np",
    "# GRADED FUNCTION: scale\n\ndef scale(x, factor):\n    ### START CODE HERE ###\n    scaled = x * factor\n"
    "    ### END CODE HERE ###\n    return scaled",
    "# GRADED FUNCTION: largest_two\n\ndef largest_two(values):\n    ### START CODE HERE ###\n"
    "    ordered = sorted(values)\n    top = ordered[-2:]\n    ### END CODE HERE ###\n    return top",
    "print(scale(np.ones(3), 2.0), largest_two([3, 1, 2]))",
]


class UnorderedJudge(ValuesJudge):
    """The toy's own judge: the two largest values, in any order."""

    name = "unordered"

    def mismatches(self, spec, expectation, value, args_after, tol, form=None):
        if not isinstance(value, (list, tuple)) or sorted(value) != sorted(expectation.value):
            return [Mismatch("top", "values", f"expected the two largest values, in any order; got {value!r:.40}")]
        return []


def _values_step(step: list, env: dict) -> None:  # the toy's own recipe step: a shuffled range, scaled by its data
    scale = int(course_data("toy_scale.txt", get_assignment("toy_scaling")).read_text())
    set_path(env, step[1], [scale * int(v) for v in np.random.RandomState(step[2]).permutation(step[3])])


def scale_recipe(seed, n=4):
    return {"seed": seed, "steps": [["draw", "x", [n, 2]], ["value", "factor", 3.0]], "args": ["x", "factor"]}


def top_recipe(seed, n=6):
    return {"seed": seed, "steps": [["toy_values", "values", seed, n]], "args": ["values"]}


def toy_spec(home: Path) -> AssignmentSpec:
    return AssignmentSpec(
        name="toy_scaling", title="A toy assignment from the test suite", notebook="toy.ipynb", helpers=(),
        home=home, title_words=("toy",),
        functions=(
            FunctionSpec("scale", ("x", "factor"), ("scaled",), 60,
                         published=(("published (seed 0)", scale_recipe(0)),),
                         hidden=lambda count, rng: [scale_recipe(int(rng.integers(1000)), int(rng.integers(2, 9)))
                                                    for _ in range(count)],
                         tolerance=Tolerance(1e-9, 1e-12),
                         mistakes=(Mistake("added", "the factor is added, not multiplied: x * factor.",
                                           lambda x, factor: x + factor),)),
            FunctionSpec("largest_two", ("values",), ("top",), 40, judge=UnorderedJudge(),
                         published=(("published (seed 1)", top_recipe(1)),),
                         hidden=lambda count, rng: [top_recipe(int(rng.integers(1000)), int(rng.integers(3, 12)))
                                                    for _ in range(count)]),
        ),
    )


@pytest.fixture
def toy(tmp_path):
    """The toy's home (solutions/, assignments/, expected/), released with the grader's own functions."""
    home = tmp_path / "toy_course"
    for folder in ("solutions", "assignments", "expected"):
        (home / folder).mkdir(parents=True)
    solution = make_notebook(home / "solutions" / "toy.ipynb", *SOLUTION_CELLS)
    (home / "assignments" / "toy.ipynb").write_text(student_notebook(solution))
    (home / "assignments" / "toy_scale.txt").write_text("7")  # course data its recipe step reads
    register_step("toy_values", _values_step)
    spec = register(toy_spec(home))
    try:
        references = load_reference(spec, home / "solutions")
        (home / "expected" / "toy_scaling.json").write_text(render(generate(spec, references)))
        yield spec
    finally:
        unregister(spec.name)


def test_a_registered_assignment_is_graded_end_to_end(toy, tmp_path):
    assert get_assignment("toy_scaling") is toy
    solved = grade_notebook(toy.home / "solutions" / "toy.ipynb", FAST)
    assert solved.graded and solved.assignment == "toy_scaling"
    assert solved.score == solved.max_score == 100
    assert all(len(f.cases) == 1 + FAST.hidden_cases for f in solved.functions)

    blank = grade_notebook(toy.home / "assignments" / "toy.ipynb", FAST)
    assert blank.score == 0 and {f.status for f in blank.functions} == {Status.NOT_IMPLEMENTED}


def test_its_recipe_steps_read_course_data_from_its_own_home(toy):
    assert course_data("toy_scale.txt", toy) == toy.home / "assignments" / "toy_scale.txt"
    assert not course_data("toy_scale.txt").exists()  # not among the grader's bundled files
    (values,), _ = build_call(top_recipe(1), None)
    assert sorted(values) == [7 * v for v in range(6)]


def test_its_judge_and_mistake_models_are_used(toy, tmp_path):
    cells = [cell.replace("scaled = x * factor", "scaled = x + factor")
                 .replace("top = ordered[-2:]", "top = [ordered[-1], ordered[-2]]") for cell in SOLUTION_CELLS]
    graded = {f.name: f for f in grade_notebook(make_notebook(tmp_path / "toy.ipynb", *cells), FAST).functions}
    assert graded["scale"].score == 0
    assert graded["scale"].diagnosis == "the factor is added, not multiplied: x * factor."
    assert graded["largest_two"].status == Status.PASSED  # any order is right, says the toy's judge


def test_it_is_detected_and_listed(toy, tmp_path, capsys):
    other_name = make_notebook(tmp_path / "homework.ipynb", *SOLUTION_CELLS)  # detected by what it defines
    assert grade_notebook(other_name, FAST).assignment == "toy_scaling"
    assert main(["--list-assignments"]) == 0
    listing = capsys.readouterr().out
    assert "toy_scaling" in listing and "bptt_by_hand" in listing


def test_it_is_gone_once_unregistered(tmp_path):
    path = make_notebook(tmp_path / "toy.ipynb", *SOLUTION_CELLS)
    result = grade_notebook(path, FAST)
    assert not result.graded and "cannot tell which assignment" in result.error
