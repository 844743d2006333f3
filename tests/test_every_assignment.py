"""Every bundled assignment, whatever it is: released files up to date, its solution scores full marks,
its student notebook scores 0, and each of its mistake models is recognised by the diagnosis. A new
assignment registered in grader/course/registry.py is tested here without new test code."""
from __future__ import annotations

import copy
import random

import numpy as np
import pytest

from grader.course import ASSIGNMENTS
from grader.course.recipes import build_call
from grader.course.reference import REFERENCE_LOCK, load_reference
from grader.diagnose import diagnose
from grader.execute import CallOutcome
from grader.expected import compute_expectation
from grader.judges import judge_for
from grader.pipeline import grade_notebook
from grader.release import plan, staleness
from grader.results import Status

from conftest import ASSIGNMENTS as ASSIGNMENTS_DIR, FAST, ROOT, SOLUTIONS

BUNDLED = [spec for spec in ASSIGNMENTS.values() if spec.home is None]


@pytest.fixture(scope="module")
def released():
    return plan(SOLUTIONS, ASSIGNMENTS_DIR, ROOT / "expected")


@pytest.mark.parametrize("spec", BUNDLED, ids=lambda spec: spec.name)
def test_released_files_are_up_to_date(spec, released):
    mine = [item for item in released
            if item.path.name in (spec.notebook, f"{spec.name}.json", *(h.split("/")[-1] for h in spec.helpers))]
    assert {item.path.name for item in mine} >= {spec.notebook, f"{spec.name}.json"}
    assert [(item.path.name, staleness(item)) for item in mine if staleness(item)] == []


@pytest.mark.parametrize("spec", BUNDLED, ids=lambda spec: spec.name)
def test_solution_scores_full_marks(spec):
    result = grade_notebook(SOLUTIONS / spec.notebook, FAST)
    assert result.assignment == spec.name
    assert [(f.name, f.status) for f in result.functions if f.status != Status.PASSED] == []
    assert result.score == result.max_score


@pytest.mark.parametrize("spec", BUNDLED, ids=lambda spec: spec.name)
def test_student_notebook_scores_zero(spec):
    result = grade_notebook(ASSIGNMENTS_DIR / spec.notebook, FAST)
    assert result.assignment == spec.name
    required = [f for f in result.functions if f.section == "required"]
    assert required and all(f.score == 0 for f in required)
    assert all(f.status == Status.NOT_IMPLEMENTED for f in required)


MISTAKES = [(spec, item, mistake) for spec in BUNDLED for item in spec.functions for mistake in item.mistakes]


@pytest.mark.parametrize("spec,item,mistake", MISTAKES,
                         ids=[f"{spec.name}-{item.name}-{mistake.key}" for spec, item, mistake in MISTAKES])
def test_every_mistake_model_is_recognised(spec, item, mistake):
    """A student whose output is the mistake's own output is diagnosed with it (or with an earlier
    mistake of the list that gives the very same output on that case: the first match is named)."""
    references = load_reference(spec, SOLUTIONS)
    judge = judge_for(item)
    form = judge.input_form(list(item.params))
    recipes = [recipe for _, recipe in item.published]
    if item.hidden is not None:
        recipes += item.hidden(2, np.random.default_rng(7))
    for recipe in recipes:
        args, kwargs = build_call(recipe, references.get, form)
        expectation = compute_expectation(item, recipe, references, form)
        call_args = copy.deepcopy(args)
        earlier = [m.message for m in item.mistakes[:item.mistakes.index(mistake) + 1]]
        try:
            with REFERENCE_LOCK:  # seeded as the grader seeds the worker before every call
                np.random.seed(recipe.get("seed", 0))
                random.seed(recipe.get("seed", 0))
                produced = judge.invoke(mistake.variant, call_args, copy.deepcopy(kwargs))
        except Exception as error:  # a mistake that makes the code raise: its error pattern must name it
            outcome = CallOutcome(error={"type": type(error).__name__, "message": str(error)})
            found = diagnose(item, args, kwargs, recipe.get("seed", 0), expectation, outcome, item.tolerance)
            assert found in earlier, (found, mistake.message)
            return
        if not judge.differs(item, expectation, produced, call_args, item.tolerance):
            continue  # invisible on this case: try the next one
        outcome = CallOutcome(value=produced, args_after=call_args if item.check_args_after else None)
        found = diagnose(item, args, kwargs, recipe.get("seed", 0), expectation, outcome, item.tolerance)
        assert found in earlier, (found, mistake.message)
        return
    pytest.fail(f"{mistake.key} makes no difference on any case of {item.name}: no case can reveal it")
