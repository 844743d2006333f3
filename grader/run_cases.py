"""Stage 3: run one graded function on its cases (stored and hidden) and judge each call.

Inputs are built here, in the grader's process, from the case recipes; the worker only receives
them as plain data. Graded functions this one calls are answered by the reference solution
(through the worker's stand-ins), so a bug costs points once, where it is.
"""
from __future__ import annotations

import ast
import difflib
import functools
import json
import random
import re
import time
from pathlib import Path
from typing import Any, Callable

import numpy as np

from .ahead import compute_all
from .answer_memo import ANSWERS, AnswerMemo, Reply
from .course.recipes import RecipeError, build_call
from .course.reference import call_reference
from .course.spec import AssignmentSpec, FunctionSpec, Tolerance
from .dependency_limits import CaseLimits, envelope_for
from .diagnose import diagnose
from . import resources
from .execute import CELL_TIMED_OUT, CallOutcome, Session, graded_names_run
from .expected import Expectation, StoredCase
from .judges import judge, judge_for
from .load import Submission, functions_in_source, parse_cell, to_python
from .results import OUT_OF_TIME, CaseResult, CellIssue, FunctionResult, Status
from .score import score_cases, status_of

References = dict[str, Callable[..., Any]]
#: (spec, recipes, references, form) -> the recipes' expectations (ahead.compute_all, or a copy's).
ExpectationSource = Callable[[FunctionSpec, list, References, "str | None"], list[Expectation]]


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, np.ndarray) or isinstance(b, np.ndarray):
        # Unchanged means the same bytes (a NaN left alone is unchanged too); one C-level comparison.
        return isinstance(a, np.ndarray) and isinstance(b, np.ndarray) and a.shape == b.shape \
            and a.dtype == b.dtype and a.tobytes() == b.tobytes()
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_same(a[k], b[k]) for k in a)
    if isinstance(a, (list, tuple)) and isinstance(b, (list, tuple)):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b))
    try:
        return bool(a == b)
    except Exception:
        return False


def _snapshot(value: Any) -> Any:
    """A copy deep enough to notice in-place changes (arrays copied, containers rebuilt)."""
    if isinstance(value, np.ndarray):
        return value.copy()
    if isinstance(value, dict):
        return {key: _snapshot(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return type(value)(_snapshot(item) for item in value)
    return value


def dependency_handler(references: References, allowed: list[str], limits: CaseLimits | None = None,
                       memo: AnswerMemo | None = None) -> "DependencyHandler":
    """Answer the worker's calls of ``allowed`` functions with the reference solution.

    The inputs are the student's: ``limits`` (one per graded call) checks each call against the
    case's envelope, count and deadline before the reference runs, and refuses it otherwise
    (DependencyRefused, which the student's code sees as an exception with the reason). ``memo``:
    where answers are kept by the call's bytes (answer_memo; ``GradeConfig.remember_answers``), None
    to compute every one."""
    return DependencyHandler(references, allowed, limits, memo)


class DependencyHandler:
    """See ``dependency_handler``. Called with (name, args, kwargs) for a DependencyAnswer; with a
    memo (``remembers``), the worker's side (sandbox.Worker) also asks ``recall`` first and offers
    the encoded reply to ``remember`` after a computed one."""

    def __init__(self, references: References, allowed: list[str], limits: CaseLimits | None,
                 memo: AnswerMemo | None) -> None:
        self.references, self.allowed, self.limits, self.memo = references, allowed, limits, memo
        self.memorable = False
        """Whether the last computed answer depends on its arguments alone (set by ``__call__``)."""

    def __call__(self, name: str, args: list, kwargs: dict) -> "DependencyAnswer":
        self.memorable = False
        if name not in self.allowed:
            raise RuntimeError(f"{name} is not available here")
        if self.limits is not None:
            self.limits.admit(name, args, kwargs)
        before = _snapshot(args)
        states = _random_states() if self.memo is not None else None  # ~0.1 ms: only when it may be kept
        value = call_reference(self.references[name], args, kwargs)
        # A reference that drew from (or seeded) a global random state answered from more than its
        # arguments, or changed what the next one draws: such an answer is never replayed.
        self.memorable = states is not None and _random_states() == states
        changed = [after if not _same(after, old) else None for after, old in zip(args, before)]
        return DependencyAnswer(value, changed if any(item is not None for item in changed) else None,
                                alias_paths(value, args))

    @property
    def remembers(self) -> bool:
        """Whether requests are worth their digest: only with a memo to look them up in."""
        return self.memo is not None

    def _key(self, name: str, digest: bytes) -> tuple:
        envelope = self.limits.envelope if self.limits is not None else None
        return digest, name, envelope

    def recall(self, name: Any, digest: bytes) -> Reply | None:
        """The reply once computed for a request of these very bytes, the call counted against the
        case's budget and deadline (DependencyRefused when it is over); None to compute it."""
        if self.memo is None or type(name) is not str or name not in self.allowed or name not in self.references:
            return None
        reply = self.memo.get(self._key(name, digest), self.references[name])
        if reply is not None and self.limits is not None:
            self.limits.count(name)
        return reply

    def remember(self, name: str, digest: bytes, reply: Reply) -> None:
        """Keep the reply of the answer just computed, if it depends on its arguments alone."""
        if self.memo is not None and self.memorable and name in self.references:
            self.memo.put(self._key(name, digest), self.references[name], reply)


def _random_states() -> tuple:
    """numpy's and Python's global random states, comparable with ==."""
    kind, keys, position, has_gauss, gauss = np.random.get_state()
    return kind, keys.tobytes(), position, has_gauss, gauss, random.getstate()


class DependencyAnswer(tuple):
    """(value, args_after), the reference's answer to a stand-in's call, plus ``aliases``
    (``alias_paths``), for the worker to give the caller back its own objects. A 2-tuple, so that a
    reader unpacking two values works whether or not it sends the aliases on (sandbox.py)."""

    aliases: list

    def __new__(cls, value: Any, args_after: list | None, aliases: list) -> "DependencyAnswer":
        answer = super().__new__(cls, (value, args_after))
        answer.aliases = aliases
        return answer


def alias_paths(value: Any, args: list, depth: int = 4) -> list[list[list]]:
    """Where the reference's result holds one of its own arguments (a cell's cache keeps a_prev, c_prev,
    xt and parameters themselves): [path in the result, path in the arguments] pairs, paths of tuple,
    list and dict indices. The worker's stand-in, putting the caller's own objects there, would give
    the caller what a real cell gives it: a ``c_next = c[:, :, 0]`` view then changes the first cache
    as it does in the student's notebook (tests/test_fidelity_stand_ins.py)."""
    owners: dict[int, list] = {}
    for index, arg in enumerate(args):
        if isinstance(arg, (np.ndarray, dict, list)):
            owners[id(arg)] = [index]
        if isinstance(arg, dict):
            for key, item in arg.items():
                if isinstance(key, str) and isinstance(item, np.ndarray):
                    owners.setdefault(id(item), [index, key])
    found: list[list[list]] = []

    def walk(node: Any, path: list, level: int) -> None:
        if id(node) in owners:  # the whole result too (a function that returns its argument)
            found.append([path, owners[id(node)]])
            return
        if level >= depth:
            return
        if isinstance(node, (tuple, list)):
            for number, item in enumerate(node):
                walk(item, [*path, number], level + 1)
        elif isinstance(node, dict):
            for key, item in node.items():
                if isinstance(key, str):
                    walk(item, [*path, key], level + 1)

    walk(value, [], 0)
    return found


def _call_deadline(session: Session) -> float:
    """When the call about to be made must end (as Session.call reckons it): answering its
    dependency calls stops then too."""
    return min(session.deadline, time.monotonic() + session.config.call_timeout)


def _missing_result(spec: FunctionSpec, submission: Submission, issues: list[CellIssue]) -> FunctionResult:
    message = f"{spec.name} is not defined in the notebook."
    source = submission.functions.get(spec.name)
    culprit = next((issue for issue in issues if source and issue.cell == source.cell), None)
    if culprit is None:
        culprit = next((issue for issue in issues if issue.kind in ("syntax", "timeout", "crashed")
                        and f"def {spec.name}" in _cell_source(submission, issue.cell)), None)
    if culprit is not None:
        message = (f"{spec.name} could not be defined: {culprit.where}, where it is written, "
                   f"{'has a syntax error' if culprit.kind == 'syntax' else culprit.message.split(';')[0]}.")
    else:
        close = difflib.get_close_matches(spec.name, submission.defined_names, n=1, cutoff=0.75)
        if close:
            message += f" Did you mean `{close[0]}`? The function must be named `{spec.name}`."
        else:
            message += f" Keep the `# GRADED FUNCTION: {spec.name}` cell and its `def {spec.name}(...)` line."
    return FunctionResult(spec.name, spec.section, 0.0, spec.points, Status.MISSING, messages=(message,))


def _cell_source(submission: Submission, index: int) -> str:
    return next((cell.source for cell in submission.cells if cell.index == index), "")


def known_hang(spec: FunctionSpec, session: Session, issues: list[CellIssue], own_dependencies: bool) -> str:
    """Why calling ``spec`` again would only wait out the call timeout, or "" when that is not certain.

    Certain enough: a cell ran out of its own time (not the notebook's) while the notebook loaded, and
    that cell runs this function and no other graded one, and defines nothing. When the grader's calls
    swap a graded helper it uses for the reference (``own_dependencies`` False), the hang may have
    been in the student's helper instead, so each such helper must have finished in a cell of its own."""
    timed_out = [issue for issue in issues if issue.kind == "timeout" and issue.message.startswith(CELL_TIMED_OUT)]
    culprit = next((issue for issue in timed_out if session.hang_suspect(issue.cell) == spec.name), None)
    if culprit is None:
        return ""
    if spec.depends_on and not own_dependencies:
        names = list(session.submission.assignment.function_names)
        finished = set().union(*[graded_names_run(cell.source, names) for cell in session.submission.cells
                                 if cell.index not in {issue.cell for issue in issues}])
        if not set(spec.depends_on) <= finished:
            return ""
    return (f"not called: {culprit.where}, which runs {spec.name}, did not finish within "
            f"{session.config.cell_timeout:g}s while the notebook loaded, so {spec.name} most likely never returns "
            "(a loop that does not end?). It was not run again, to spare another wait: fix it and grade again.")


def grade_function(spec: FunctionSpec, session: Session, submission: Submission, stored: list[StoredCase],
                   references: References | None, hidden: list[dict], issues: list[CellIssue],
                   bundled_module: str = "", expectations: ExpectationSource = compute_all) -> FunctionResult:
    """``hidden``: the recipes of the hidden cases (none without references). ``bundled_module``: the
    course's helper module this function was taken from, when it lives in one and the student did not
    hand in their own copy. ``expectations``: what gives the hidden cases' expectations (ahead.py)."""
    info = session.report.functions.get(spec.name, {})
    if session.out_of_time:
        return FunctionResult(spec.name, spec.section, 0.0, spec.points, Status.TIMEOUT, messages=(
            f"{OUT_OF_TIME} ({session.config.notebook_timeout:g}s) ran out first.",))
    if not info.get("defined"):
        return _missing_result(spec, submission, issues)
    if not info.get("callable"):
        return FunctionResult(spec.name, spec.section, 0.0, spec.points, Status.ERROR,
                              messages=(f"{spec.name} is defined but is not a function.",))
    hang = known_hang(spec, session, issues, own_dependencies=references is None)
    if hang:
        return FunctionResult(spec.name, spec.section, 0.0, spec.points, Status.TIMEOUT, messages=(hang,))
    plan: list[tuple[str, bool, dict, Expectation, Tolerance]] = [
        (item.case.name, False, item.case.recipe, item.expectation, item.tolerance) for item in stored]
    notes: list[str] = []
    # Items whose signature changed between published versions: the student's own parameters say which.
    form = judge_for(spec).input_form(info.get("params"))
    erratum = published_erratum(spec, submission)
    if references is not None and hidden:
        computed = expectations(spec, hidden, references, form)
        for number, (recipe, expectation) in enumerate(zip(hidden, computed), start=1):
            plan.append((f"hidden #{number}", True, recipe, expectation, spec.tolerance))
    deps = [name for name in spec.depends_on if references is not None and name in references]
    dep_params = {name: spec_of.params for name in deps
                  for spec_of in submission.assignment.functions if spec_of.name == name}
    results: list[CaseResult] = []
    failure_kind, traceback_text, output = "", "", ""
    diagnosis, diagnosed = "", False
    for number, (name, hidden, recipe, expectation, tolerance) in enumerate(plan):
        try:
            args, kwargs = build_call(recipe, references.get if references else None, form)
        except RecipeError as error:
            notes.append(f"case {name!r} skipped: {error}")
            continue
        handler = None
        if deps and references is not None:  # a fresh budget per call, drawn from this case's inputs
            session.ready()  # a worker restarted after a crash must not eat into the call's clock
            limits = CaseLimits(envelope_for(args, kwargs), _call_deadline(session), spec.name, dep_params)
            handler = dependency_handler(references, deps, limits,
                                         memo=ANSWERS if session.config.remember_answers else None)
        outcome: CallOutcome = session.call(spec.name, args, kwargs, deps=deps, seed=recipe.get("seed", 0),
                                            return_args=bool(spec.check_args_after), on_dependency=handler,
                                            drive=judge_for(spec).drives)
        if outcome.error and outcome.error.get("type") == "signature":
            expected = ", ".join(spec.params)
            return FunctionResult(spec.name, spec.section, 0.0, spec.points, Status.ERROR, messages=(
                f"{spec.name} has the wrong parameters: expected ({expected}, ...); "
                f"calling it failed with: {outcome.error.get('message')}",))
        if erratum is not None:  # what this notebook's version printed as expected output is accepted too
            expectation = erratum.expecting(expectation, args, kwargs)
        results.append(judge(spec, name, hidden, expectation, outcome, tolerance, erratum.form if erratum else form))
        if not results[-1].passed and not diagnosed:
            diagnosed = True  # one attempt, on the first failing case
            diagnosis = diagnose(spec, args, kwargs, recipe.get("seed", 0), expectation, outcome, tolerance)
        unexpected = [spec.params[i] for i in outcome.changed_args
                      if i < len(spec.params) and i not in spec.check_args_after]
        unexpected = [name for name in unexpected if name not in template_changes(submission.assignment, spec.name)]
        if unexpected and not spec.may_change_args:
            # Information, not a fault (the course never asks for fresh inputs): it explains a notebook
            # whose later cells see changed values, and says plainly that it cost nothing.
            notes.append(f"No points lost: {spec.name} changes {', '.join(unexpected)} in place. The grader gives "
                         "every call fresh copies; in your notebook, code that uses them after the call sees the "
                         "changed values.")
        if not results[-1].passed and not failure_kind:
            output = outcome.output
            if outcome.lost:
                failure_kind = outcome.lost
            elif outcome.error:
                failure_kind = "error"
                traceback_text = str(outcome.error.get("traceback", ""))
        if outcome.lost:  # it would most likely hang or crash again: stop here...
            # ...and the cases not run count as failed: crashing at the first failure must not earn
            # more than failing every case (a hard-coded published answer, then a crash, earned half).
            what = {"timeout": "timed out"}.get(outcome.lost, "crashed")
            results.extend(CaseResult(later, later_hidden, False, f"not run: {spec.name} {what} on case {name!r} before it")
                           for later, later_hidden, *_ in plan[number + 1:])
            break
    return finish(spec, submission, results, failure_kind, with_cell_labels(traceback_text, session), deps, notes,
                  output, diagnosis, bundled_module)


def published_erratum(spec: FunctionSpec, submission: Submission) -> Any:
    """The published erratum of ``spec`` that this notebook's course version printed as its expected
    output, or None. An item's judge may carry one (``judge.erratum``, course/rnn/errata.py): a student
    of that version who reproduces it did what the version asked, and passes with a note; the
    notebook's version and its own "Expected Output" markdown say whether it was published so."""
    erratum = getattr(judge_for(spec), "erratum", None)
    if erratum is None or not erratum.printed_in(submission.course_version, submission.markdown):
        return None
    return erratum


def with_cell_labels(traceback_text: str, session: Session) -> str:
    """The student's traceback lines say "cell N, line M"; add what finds cell N in Jupyter."""
    lines = []
    for line in traceback_text.splitlines():
        head, sep, rest = line.partition(", line ")
        number = head.strip().removeprefix("cell ")
        if sep and head.strip().startswith("cell ") and number.isdigit():
            label = session.cell_label_of(int(number))
            line = f"{head} ({label}){sep}{rest}" if label else line
        lines.append(line)
    return "\n".join(lines)


@functools.lru_cache(maxsize=32)
def _template_sources(folder: str, notebook: str, helpers: tuple[str, ...]) -> tuple[str, ...]:
    """The code of the course's starter notebook and helper modules (what students start from)."""
    sources: list[str] = []
    try:
        cells = json.loads((Path(folder) / notebook).read_text(encoding="utf-8")).get("cells", [])
        sources += ["".join(c["source"]) if isinstance(c.get("source"), list) else str(c.get("source", ""))
                    for c in cells if c.get("cell_type") == "code"]
    except (OSError, ValueError, AttributeError):
        pass
    for name in helpers:
        if name.endswith(".py") and (Path(folder) / name).is_file():
            sources.append((Path(folder) / name).read_text(errors="replace"))
    return tuple(sources)


@functools.lru_cache(maxsize=256)
def _template_function(folder: str, notebook: str, helpers: tuple[str, ...], name: str) -> str:
    """The starter code's source of function (or class) ``name`` (its first definition), or "". Only the cells
    that define it are parsed: parsing the whole starter notebook cost a `grade` ~20 ms."""
    defines = re.compile(rf"\b(?:def|class)\s+{re.escape(name)}\b")
    for source in _template_sources(folder, notebook, helpers):
        if not defines.search(source):
            continue
        text, _ = to_python(source)
        try:
            found = [function.source for function in functions_in_source(text or "", cell=0) if function.name == name]
        except (SyntaxError, ValueError):
            continue
        if found:
            return found[0]
    return ""


def template_changes(assignment: AssignmentSpec, name: str) -> frozenset[str]:
    """The parameters the course's own starter code for ``name`` changes in place (``v[key] = ...``,
    ``params["W"] -= ...``, ``grads.update(...)``): a student doing the same only follows the template."""
    try:
        source = _template_function(str(resources.assignments_dir(assignment)), assignment.notebook,
                                    tuple(assignment.helpers), name)
    except (RuntimeError, SyntaxError, ValueError):
        return frozenset()
    return _changed_in_place(source)


@functools.lru_cache(maxsize=256)
def _changed_in_place(source: str) -> frozenset[str]:
    """The names ``source`` changes in place (cached: asked for every case of every notebook)."""
    tree = parse_cell(source)
    if tree is None:
        return frozenset()
    changed = set()
    for node in ast.walk(tree):
        targets = (node.targets if isinstance(node, ast.Assign) else [node.target]
                   if isinstance(node, (ast.AugAssign, ast.AnnAssign)) else [])
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr in MUTATORS:
            targets = [node.func]
        for target in targets:
            while isinstance(target, (ast.Subscript, ast.Attribute)):
                target = target.value
                if isinstance(target, ast.Name):
                    changed.add(target.id)
    return frozenset(changed)


MUTATORS = frozenset({"update", "append", "extend", "insert", "pop", "clear", "setdefault", "fill", "sort", "remove"})


def finish(spec: FunctionSpec, submission: Submission, results: list[CaseResult], failure_kind: str,
           traceback_text: str, deps: list[str], notes: list[str], output: str, diagnosis: str = "",
           bundled_module: str = "") -> FunctionResult:
    source = submission.functions.get(spec.name)
    untouched = bool(source and source.looks_untouched)
    score = score_cases(spec.points, results)
    status = status_of(results, failure_kind, untouched)
    messages = list(dict.fromkeys(notes))
    if status == Status.NOT_IMPLEMENTED and not bundled_module:
        messages.insert(0, f"{spec.name} is not implemented yet: replace the `None` placeholders between "
                           "### START CODE HERE ### and ### END CODE HERE ###.")
    elif score == 0 and status == Status.PARTIAL:
        status = Status.FAILED
        messages.insert(0, "Passes the published example but none of the randomized cases: look for sizes or "
                           "values written into the code instead of taken from the inputs.")
    elif status not in (Status.PASSED, Status.NOT_IMPLEMENTED):
        failed = [case for case in results if not case.passed]
        if failed:
            messages.insert(0, f"{failed[0].name}: {failed[0].message}")
        messages.extend(f"also fails {case.name}: {case.message.splitlines()[0]}" for case in failed[1:3])
        if spec.hint:
            messages.append(f"Hint: {spec.hint}")
    if bundled_module and status != Status.PASSED:
        # The student never saw these placeholders: they did not hand in the module that holds the function.
        messages.insert(0, f"{spec.name} lives in {bundled_module}, and the course's starter copy was used, not one of "
                           f"yours{' (the starter one is still unfinished)' if untouched else ''}. To have yours graded, "
                           f"hand in a {bundled_module} that compiles and imports, beside the notebook, in a folder of "
                           "its own, and grade again.")
    case_notes = sorted({case.message for case in results if case.passed and case.message})
    messages.extend(case_notes[:2])
    if output and status != Status.PASSED:
        messages.append("It printed: " + output.strip()[:300])
    if status in (Status.PASSED, Status.NOT_IMPLEMENTED):
        diagnosis = ""  # nothing to explain, or the starter code is the explanation
    return FunctionResult(spec.name, spec.section, score, spec.points, status, tuple(results), tuple(messages),
                          traceback_text, tuple(deps), diagnosis)
