"""Resume never keeps a stale result: changing any grading option, the grader or its course data
regrades; rerunning with nothing changed skips (issue 11, section 2)."""
from __future__ import annotations

import dataclasses
import shutil
import typing
from pathlib import Path

import pytest

from grader import fingerprint as fingerprint_module
from grader.batch import discover, grade_batch
from grader.config import GradeConfig
from grader.errors import UsageError
from grader.fingerprint import NOT_SCORING, fingerprint, tree_digest

from conftest import ASSIGNMENTS, FAST

# One cheap notebook: the Dinosaur starter, only clip, no hidden cases.
BASE = FAST.with_changes(assignment="dinosaur_island", only=("clip",), hidden_cases=0)

# Values a field is changed to when its type alone does not give a valid one.
SPECIAL = {
    "assignment": "rnn_step_by_step",
    "only": ("clip", "sample"),
    "engine": "kernel",
}


def another_value(field: dataclasses.Field, value: object) -> object:
    """A different, valid value for a config field; a new field of a new type must be taught here."""
    if field.name in SPECIAL:
        return SPECIAL[field.name]
    if isinstance(value, bool):
        return not value
    if isinstance(value, (int, float)):
        return value + 1
    if isinstance(value, str):
        return value + "x"
    if isinstance(value, bytes):
        return value + b"x"
    if isinstance(value, tuple):
        return (*value, "/nonexistent-grader-test-path")
    if value is None:
        hint = str(typing.get_type_hints(GradeConfig)[field.name])
        for name, candidate in (("int", 12345), ("str", "x" * 32), ("bytes", b"x" * 32)):
            if name in hint:
                return candidate
    raise AssertionError(f"teach this test how to change GradeConfig.{field.name} ({value!r})")


SCORING = [f for f in dataclasses.fields(GradeConfig) if f.name not in NOT_SCORING]


def test_every_scoring_field_changes_the_fingerprint():
    seen = {fingerprint(BASE)}
    for field in SCORING:
        changed = BASE.with_changes(**{field.name: another_value(field, getattr(BASE, field.name))})
        value = fingerprint(changed)
        assert value not in seen, f"changing {field.name} leaves the fingerprint as it was"
        seen.add(value)
    for name in NOT_SCORING:  # the explicit exclusions, and only they, leave it alone
        field = next(f for f in dataclasses.fields(GradeConfig) if f.name == name)
        assert fingerprint(BASE.with_changes(**{name: another_value(field, getattr(BASE, name))})) == fingerprint(BASE)


def test_a_secret_enters_only_as_its_hash(monkeypatch):
    secret_fields = [f.name for f in dataclasses.fields(GradeConfig) if not f.repr]
    if not secret_fields:
        pytest.skip("GradeConfig has no secret field")
    seen = []
    real = fingerprint_module.json.dumps
    monkeypatch.setattr(fingerprint_module.json, "dumps", lambda value, **kw: seen.append(real(value, **kw)) or seen[-1])
    for name in secret_fields:
        first, second = (fingerprint(BASE.with_changes(**{name: value})) for value in ("s3cr3t-one", "s3cr3t-two"))
        assert first != second, f"another {name} regrades"
    assert seen and not any("s3cr3t" in text for text in seen), "the secret itself is never hashed in the open"


@pytest.fixture
def one_notebook(tmp_path):
    folder = tmp_path / "class"
    folder.mkdir()
    shutil.copyfile(ASSIGNMENTS / "dinosaur_island.ipynb", folder / "alice.ipynb")
    entries, _ = discover([str(folder)])
    return entries, tmp_path / "out"


def test_changing_each_option_regrades_and_no_change_skips(one_notebook):
    entries, out = one_notebook
    assert grade_batch(entries, out, BASE, jobs=1).skipped == 0
    again = grade_batch(entries, out, BASE, jobs=1)
    assert again.skipped == 1 and again.graded + again.failed == 0, "nothing changed: kept"
    # One option changes per run, from the previous run's options (the costly ones last, where the
    # notebook is already of the wrong assignment and cheap to grade).
    config = BASE
    for field in sorted(SCORING, key=lambda f: f.name in ("assignment", "engine")):
        config = config.with_changes(**{field.name: another_value(field, getattr(config, field.name))})
        if field.name == "assignment":  # a folder graded as another assignment is regraded only with --force
            with pytest.raises(UsageError, match="holds the results of"):
                grade_batch(entries, out, config, jobs=1)
            summary = grade_batch(entries, out, config, jobs=1, force=True)
        else:
            summary = grade_batch(entries, out, config, jobs=1)
        assert summary.skipped == 0 and summary.graded + summary.failed == 1, f"{field.name} changed: regraded"
    for name in NOT_SCORING:
        field = next(f for f in dataclasses.fields(GradeConfig) if f.name == name)
        same = grade_batch(entries, out, config.with_changes(**{name: another_value(field, getattr(config, name))}),
                           jobs=1)
        assert same.skipped == 1, f"{name} cannot change a score: kept"


def test_changed_course_data_regrades(one_notebook, tmp_path, monkeypatch):
    entries, out = one_notebook
    grade_batch(entries, out, BASE, jobs=1)
    # The grader's own code is pinned: other work may touch it while this test runs.
    monkeypatch.setattr(fingerprint_module, "grader_identity", lambda: ["1.0", "code"])
    before = fingerprint(BASE)
    for name in ("expected_dir", "solutions_dir", "assignments_dir"):
        original = getattr(fingerprint_module.resources, name)()
        copy = tmp_path / f"copy-{name}"
        shutil.copytree(original, copy)
        monkeypatch.setattr(fingerprint_module.resources, name, lambda *_, copy=copy: copy)
        assert fingerprint(BASE) == before, f"an identical copy of {name}() is the same data"
        # a file the digest reads (a __pycache__ left by loading the reference is not one)
        victim = sorted(p for p in copy.rglob("*") if p.is_file() and "__pycache__" not in p.parts)[0]
        victim.write_bytes(victim.read_bytes() + b" ")
        tree_digest.cache_clear()
        assert fingerprint(BASE) != before, f"a changed file in {name}() regrades"
        monkeypatch.setattr(fingerprint_module.resources, name, lambda *_, original=original: original)
        tree_digest.cache_clear()
    monkeypatch.setattr(fingerprint_module, "grader_identity", lambda: ["1.1", "code"])
    assert fingerprint(BASE) != before, "another grader version regrades"
    monkeypatch.setattr(fingerprint_module, "grader_identity", lambda: ["1.0", "changed code"])
    assert fingerprint(BASE) != before, "changed grader code regrades"


def test_no_solutions_is_not_the_same_as_solutions(monkeypatch):
    before = fingerprint(BASE)
    monkeypatch.setenv("GRADER_SOLUTIONS", "none")
    assert fingerprint(BASE) != before


def test_fingerprint_reads_the_config_only(tmp_path: Path):
    """Nothing but the config and the grader's data: the same value twice gives the same print."""
    assert fingerprint(BASE) == fingerprint(GradeConfig(**{f.name: getattr(BASE, f.name)
                                                           for f in dataclasses.fields(GradeConfig)}))


# --- what the resume check reads besides the fingerprint: the submission itself ------------------
# A result is kept when the notebook's bytes and the fingerprint are unchanged (batch._already_done).
# What a notebook is graded with also includes the student's own helper module beside it, used only
# while the folder is the student's own (pipeline.helper_files): both must be part of what is checked.

@pytest.mark.parametrize("path", ["expected/rnn_step_by_step.json", "solutions/rnn_step_by_step.ipynb",
                                  "solutions/rnn_utils.py", "assignments/rnn_utils.py",
                                  "assignments/datasets/dinos.txt", "assignments/utils.py"])
def test_each_course_file_a_grade_depends_on_is_in_the_fingerprint(path, tmp_path, monkeypatch):
    """The expected values, the reference, the bundled helper modules and the data file, one by one."""
    monkeypatch.setattr(fingerprint_module, "grader_identity", lambda: ["1.0", "code"])
    folder, relative = path.split("/", 1)
    getter = {"expected": "expected_dir", "solutions": "solutions_dir", "assignments": "assignments_dir"}[folder]
    copy = tmp_path / folder
    shutil.copytree(getattr(fingerprint_module.resources, getter)(), copy)
    monkeypatch.setattr(fingerprint_module.resources, getter, lambda *_: copy)
    tree_digest.cache_clear()
    before = fingerprint(BASE)
    (copy / relative).write_bytes((copy / relative).read_bytes() + b"\n")
    tree_digest.cache_clear()
    assert fingerprint(BASE) != before, f"a changed {path} regrades"
    tree_digest.cache_clear()


@pytest.fixture
def own_folder(tmp_path):
    """One student in a folder of their own, with their own rnn_utils.py (the Adam exercise)."""
    folder = tmp_path / "class" / "alice"
    folder.mkdir(parents=True)
    shutil.copyfile(ASSIGNMENTS / "rnn_step_by_step.ipynb", folder / "alice.ipynb")
    shutil.copyfile(ASSIGNMENTS.parent / "solutions" / "rnn_utils.py", folder / "rnn_utils.py")
    return folder, tmp_path / "out"


OWN_HELPER = FAST.with_changes(assignment="rnn_step_by_step", only=("initialize_adam",), hidden_cases=0)


def test_a_changed_own_helper_module_regrades(own_folder):
    folder, out = own_folder
    entries, _ = discover([str(folder.parent)])
    assert grade_batch(entries, out, OWN_HELPER, jobs=1).graded == 1
    helper = folder / "rnn_utils.py"
    helper.write_text(helper.read_text() + "\n\ndef initialize_adam(parameters):\n    return None, None\n")
    again = grade_batch(entries, out, OWN_HELPER, jobs=1)
    assert again.skipped == 0 and again.graded == 1, "the student's helper changed: regraded"


def test_a_classmate_joining_the_folder_regrades(own_folder):
    """Once the folder holds another notebook, the helper module there is no longer anyone's."""
    folder, out = own_folder
    entries, _ = discover([str(folder / "alice.ipynb")])
    assert grade_batch(entries, out, OWN_HELPER, jobs=1).graded == 1
    shutil.copyfile(folder / "alice.ipynb", folder / "bob.ipynb")
    again = grade_batch(entries, out, OWN_HELPER, jobs=1)
    assert again.skipped == 0 and again.graded == 1, "alice's helper is no longer used: regraded"


def test_an_unchanged_own_helper_module_skips(own_folder):
    folder, out = own_folder
    entries, _ = discover([str(folder.parent)])
    assert grade_batch(entries, out, OWN_HELPER, jobs=1).graded == 1
    assert grade_batch(entries, out, OWN_HELPER, jobs=1).skipped == 1


def test_another_numpy_regrades(monkeypatch):
    import numpy

    before = fingerprint(BASE)
    monkeypatch.setattr(numpy, "__version__", numpy.__version__ + ".post1")
    assert fingerprint(BASE) != before


def test_a_changed_file_of_an_assignment_with_its_own_home_regrades(tmp_path):
    from grader.course import register, unregister
    from grader.course.spec import AssignmentSpec

    for folder in ("expected", "solutions", "assignments"):
        (tmp_path / folder).mkdir()
        (tmp_path / folder / "data.txt").write_text("1")
    register(AssignmentSpec(name="fingerprint_home_toy", title="toy", functions=(), notebook="toy.ipynb",
                            helpers=(), home=tmp_path))
    try:
        config = BASE.with_changes(assignment="fingerprint_home_toy")
        before = fingerprint(config)
        (tmp_path / "expected" / "data.txt").write_text("2")
        tree_digest.cache_clear()
        assert fingerprint(config) != before
    finally:
        unregister("fingerprint_home_toy")
        tree_digest.cache_clear()
