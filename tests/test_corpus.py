"""Every real student notebook in ../shared/corpus is graded without a crash, by both engines with
the same scores, and each function's verdict agrees with the manifest's ref_eval (pass <-> full
credit), apart from the differences below, each checked by hand in the student's code."""
from __future__ import annotations

import csv

from grader.course import ASSIGNMENTS
from grader.pipeline import grade_notebook

from conftest import FAST

#: function -> its mistake models (the function names of the two course assignments do not collide).
MISTAKES = {spec.name: spec.mistakes for name in ("rnn_step_by_step", "dinosaur_island")
            for spec in ASSIGNMENTS[name].functions}

#: (notebook file, function) -> why our verdict differs from ref_eval, after reading the code.
_VIEW = ("stricter: `c_next = c[:, :, 0]` is a view of c (the v3a and v4 notebooks say not to), so the loop's "
         "c[:, :, 0] = c_next overwrites the first cache's c_prev; the course tests never read it")
_A0_IN_A = ("stricter: a0 is kept in a[:, :, -1] and each step gets the view a[:, :, t-1], so the last step "
            "overwrites the first cache's a_prev with a<T_x>; the course tests never read it")

KNOWN_DIFFERENCES = {
    ("rnn/AsH1605__Deep-Learning-Specialization__Building_a_Recurrent_Neural_Network_Step_by_Step.ipynb",
     "rnn_forward"): "stricter: the loop does `caches.append(None)`, so caches hold None instead of the cell "
                     "caches the backward pass needs; the course test only checked len(caches[0]).",
    # The next ones show because the reference stand-in gives the student's own objects back
    # (run_cases.alias_paths, worker.restore_aliases; tests/test_fidelity_stand_ins.py).
    ("rnn/Aliza-Adnan__Sequence_Models__Building_a_Recurrent_Neural_Network_Step_by_Step.ipynb", "lstm_forward"): _VIEW,
    ("rnn/Hasanmog__Journey-through-Deep-Learning-Specialization-Course__Building_a_Recurrent_Neural_Network_Step_by_Step"
     ".ipynb", "lstm_forward"): _VIEW,
    ("rnn/ItShivani__Sequence-Models__Building_a_Recurrent_Neural_Network_Step_by_Step_v3a.ipynb", "lstm_forward"): _VIEW,
    ("rnn/MariiaZanchak__Deep-learning__Building_a_Recurrent_Neural_Network_Step_by_Step.ipynb", "lstm_forward"): _VIEW,
    ("rnn/dscyrescotti__sequence-models__Building_a_Recurrent_Neural_Network_Step_by_Step.ipynb", "lstm_forward"): _VIEW,
    ("rnn/ShootingSpace__Deep-learning-Coursera__Building_a_Recurrent_Neural_Network_-_Step_by_Step_-_v3.ipynb",
     "rnn_forward"): _A0_IN_A,
    ("rnn/ShootingSpace__Deep-learning-Coursera__Building_a_Recurrent_Neural_Network_-_Step_by_Step_-_v3.ipynb",
     "lstm_forward"): _A0_IN_A,
}


#: (notebook file, function) -> the diagnosis it must get (a mistake model's key, or an error pattern).
CORPUS_DIAGNOSES = {
    ("rnn/Subangkar__Sequence-Models-Deeplearning.ai-Coursera-Assignments__Building_a_Recurrent_Neural_Network_Step_by_Step_v3a.ipynb",
     "rnn_forward"): "reuse-a0",
    ("rnn/Subangkar__Sequence-Models-Deeplearning.ai-Coursera-Assignments__Building_a_Recurrent_Neural_Network_Step_by_Step_v3a.ipynb",
     "lstm_forward"): "skip-first",
    ("rnn/AsH1605__Deep-Learning-Specialization__Building_a_Recurrent_Neural_Network_Step_by_Step.ipynb",
     "rnn_forward"): "none-caches",
    ("dino/JasonSCFu__Coursera-Deep-Learning-Exercise__Dinosaurus_Island_Character_level_language_model.ipynb",
     "sample"): "imports numpy as np",
    ("rnn/Sujay8070__Sequence-Models__Building_a_Recurrent_Neural_Network_Step_by_Step.ipynb",
     "lstm_cell_forward"): "takes the arrays as one tuple",
}


def _diagnosis_matches(function: str, diagnosis: str, expected: str) -> bool:
    models = {m.key: m.message for m in MISTAKES.get(function, [])}
    return diagnosis == models[expected] if expected in models else expected in diagnosis


def test_whole_corpus_agrees_with_reference_evaluation(shared):
    rows = list(csv.DictReader(open(shared / "corpus" / "manifest.tsv"), delimiter="\t"))
    assert len(rows) > 100
    disagreements, crashes, engines_differ, wrong_diagnoses = [], [], [], []
    config = FAST.with_changes(cell_timeout=20, call_timeout=30)
    for row in rows:
        result = grade_notebook(shared / "corpus" / row["file"], config)
        in_kernel = grade_notebook(shared / "corpus" / row["file"], config.with_changes(engine="kernel"))
        if [(f.name, f.score) for f in result.functions] != [(f.name, f.score) for f in in_kernel.functions]:
            engines_differ.append(row["file"])
        if not result.graded:
            crashes.append((row["file"], result.error))
            continue
        by_name = {f.name: f for f in result.functions}
        for function in result.functions:
            wanted = CORPUS_DIAGNOSES.get((row["file"], function.name))
            if wanted is not None and not _diagnosis_matches(function.name, function.diagnosis, wanted):
                wrong_diagnoses.append((row["file"], function.name, function.diagnosis, wanted))
            if function.score == function.max_score and function.diagnosis:
                wrong_diagnoses.append((row["file"], function.name, "diagnosis on a passing function", function.diagnosis))
        for item in filter(None, row["ref_eval"].split(",")):
            name, verdict = item.split(":", 1)
            function = by_name[name]
            full = function.score == function.max_score
            if full != (verdict == "pass") and (row["file"], name) not in KNOWN_DIFFERENCES:
                disagreements.append((row["file"], name, verdict, function.status.value, function.messages[:1]))
    assert not crashes, crashes
    assert not engines_differ, engines_differ
    assert not wrong_diagnoses, wrong_diagnoses
    assert not disagreements, "\n".join(map(str, disagreements))


def test_assignment_and_course_version_are_detected(shared):
    from grader.load import load_submission

    rows = list(csv.DictReader(open(shared / "corpus" / "manifest.tsv"), delimiter="\t"))
    names = {"rnn": "rnn_step_by_step", "dino": "dinosaur_island"}
    versions = {"v4_2021": "v4", "pre-v3(learners)": "pre-v3 (learners)"}
    wrong = []
    for row in rows:
        submission = load_submission(shared / "corpus" / row["file"], 50)
        if (submission.assignment.name, submission.course_version) != (names[row["assignment"]],
                                                                       versions.get(row["version"], row["version"])):
            wrong.append((row["file"], row["version"], submission.course_version))
    assert not wrong, wrong
