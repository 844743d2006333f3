"""Fidelity on the real notebooks of ../shared/corpus beyond what the manifest's ref_eval covers.

ref_eval (tests/test_corpus.py) has verdicts for the required functions only. Here every optional
backward function a corpus notebook implements is held to the verdicts of a review by hand: each
loss below was read in the student's code and is the student's own mistake; every other implemented
backward function must get full credit (no false fail). The wording of each reason is ours."""
from __future__ import annotations

import csv

import pytest

from grader.pipeline import grade_notebook
from grader.results import Status

from conftest import FAST

BACKWARD = ("rnn_cell_backward", "rnn_backward", "lstm_cell_backward", "lstm_backward")
WRONG_LOOP_V4 = "no carry of da_prev/dc_prev; this version printed the corrected expected output (0.00218254 ...)"

#: (notebook, function) -> the student's mistake, after reading the code.
STUDENT_MISTAKES = {
    ("AmirAbaskohi__DeepLearning-Projects__Building_a_Recurrent_Neural_Network_Step_by_Step", "lstm_backward"):
        WRONG_LOOP_V4,
    ("AngelicSage__Deep_Learning__Building_a_Recurrent_Neural_Network_Step_by_Step", "rnn_backward"):
        "da_prev not added to da[:, :, t]; da0 = da (the whole 3-D array)",
    ("AngelicSage__Deep_Learning__Building_a_Recurrent_Neural_Network_Step_by_Step", "lstm_cell_backward"):
        "da_prev and dxt from the weight gradients dW*, not the weights; gate gradients miss terms",
    ("AngelicSage__Deep_Learning__Building_a_Recurrent_Neural_Network_Step_by_Step", "lstm_backward"):
        "da_prev not added to da[:, :, t]",
    ("AsH1605__Deep-Learning-Specialization__Building_a_Recurrent_Neural_Network_Step_by_Step",
     "rnn_cell_backward"): "dtanh uses 1 - tanh(a_next)**2, but a_next already is a tanh",
    ("AsH1605__Deep-Learning-Specialization__Building_a_Recurrent_Neural_Network_Step_by_Step", "rnn_backward"):
        "calls rnn_step_backward, which the notebook does not define",
    ("Frejajaja__DeepLearning-Specialization__Building_a_Recurrent_Neural_Network_Step_by_Step",
     "lstm_cell_backward"): "dc_prev uses it where ot belongs",
    ("Frejajaja__DeepLearning-Specialization__Building_a_Recurrent_Neural_Network_Step_by_Step", "lstm_backward"):
        "da_prev not added to da[:, :, t]",
    ("Hasanmog__Journey-through-Deep-Learning-Specialization-Course__Building_a_Recurrent_Neural_Network_Step_by_Step",
     "lstm_backward"): "da_prev not added to da[:, :, t]",
    ("ItShivani__Sequence-Models__Building_a_Recurrent_Neural_Network_Step_by_Step_v3a", "lstm_cell_backward"):
        "reads the test cell's global parameters_tmp instead of the cache's parameters",
    ("ItShivani__Sequence-Models__Building_a_Recurrent_Neural_Network_Step_by_Step_v3a", "lstm_backward"):
        WRONG_LOOP_V4,
    ("Klo77__Coursera-projects__Building_a_Recurrent_Neural_Network_Step_by_Step", "lstm_backward"): WRONG_LOOP_V4,
    ("Kulbear__deep-learning-coursera__Building_a_Recurrent_Neural_Network_-_Step_by_Step_-_v2",
     "lstm_cell_backward"): "reads the notebook's global Wf, Wi, Wc, Wo instead of the cache's parameters",
    ("MYinthewood__DeepLearning_SequenceModel__Building_a_Recurrent_Neural_Network_Step_by_Step", "lstm_backward"):
        WRONG_LOOP_V4,
    ("MariiaZanchak__Deep-learning__Building_a_Recurrent_Neural_Network_Step_by_Step", "lstm_backward"):
        "da_prev not added to da[:, :, t]",
    ("SilentPlayer__Sequence-Models__Building_a_Recurrent_Neural_Network_Step_by_Step_v3a", "rnn_backward"):
        "da0 = da (the whole 3-D array) instead of the last da_prev",
    ("Tinatally__Deeplearning_AI__Building_a_Recurrent_Neural_Network_Step_by_Step", "lstm_backward"):
        "dWf += dWf + gradients['dWf'] doubles the running sums",
    ("WLH-Nicole__DeepLearning_5_Sequence.Models__Building_a_Recurrent_Neural_Network_-_Step_by_Step_-_v3",
     "rnn_cell_backward"): "dba is a mean over the examples, not a sum (the notebook's own expected output "
                           "says 0.80517166, it printed 0.08051717)",
    ("Yearningyeati1__coursera_deep_learning__Building_a_Recurrent_Neural_Network_Step_by_Step", "lstm_backward"):
        WRONG_LOOP_V4,
    ("amr-07__Sequence-Models__Building_a_Recurrent_Neural_Network_Step_by_Step_v3a", "lstm_backward"):
        WRONG_LOOP_V4,
    ("dharmesh-data__Sequence-Model__Building_a_Recurrent_Neural_Network_Step_by_Step", "lstm_cell_backward"):
        "da_prev and dxt from the weight gradients dW*, not the weights",
    ("dharmesh-data__Sequence-Model__Building_a_Recurrent_Neural_Network_Step_by_Step", "lstm_backward"):
        WRONG_LOOP_V4,
    ("edocym__coursera-sequence-models__Building_a_Recurrent_Neural_Network_Step_by_Step", "lstm_cell_backward"):
        "dc_prev multiplies by dft where ft belongs",
    ("kerryzl77__Sequence-Models__Building_a_Recurrent_Neural_Network_Step_by_Step", "lstm_cell_backward"):
        "da_prev from the gate activations ft, it, cct, ot instead of the weights",
    ("kerryzl77__Sequence-Models__Building_a_Recurrent_Neural_Network_Step_by_Step", "lstm_backward"):
        "da_prev not added to da[:, :, t]",
    ("kobkrit__rnn-buildRNN__Building_a_Recurrent_Neural_Network_-_Step_by_Step_-_v3", "rnn_backward"):
        "passes the whole caches tuple to rnn_cell_backward instead of caches[t] (its own notebook raised too)",
    ("prmishra123__DL-Sequence-Models__Building_a_Recurrent_Neural_Network_Step_by_Step_v3a", "lstm_backward"):
        WRONG_LOOP_V4,
    ("raytroop__Building_a_Recurrent_Neural_Network-Step_by_Step__Building_a_Recurrent_Neural_Network_-_Step_by_Step_-_v3",
     "lstm_cell_backward"): "reads the notebook's global Wf, Wi, Wc, Wo instead of the cache's parameters",
    ("sravz25__Sequence-Models-Deeplearning.ai__Building_a_Recurrent_Neural_Network_Step_by_Step_v3a", "lstm_backward"):
        "da_prev not added to da[:, :, t]",
    ("zabir110__Sequence-Models__Building_a_Recurrent_Neural_Network_Step_by_Step_v3a", "rnn_cell_backward"):
        "a syntax error in its cell (unfinished)",
}

#: Published errata the students reproduced: full credit, with the erratum's note.
PUBLISHED_ERRATA = {
    ("Kulbear__deep-learning-coursera__Building_a_Recurrent_Neural_Network_-_Step_by_Step_-_v2", "lstm_backward"),
    ("WLH-Nicole__DeepLearning_5_Sequence.Models__Building_a_Recurrent_Neural_Network_-_Step_by_Step_-_v3",
     "lstm_backward"),
    ("amanchadha__coursera-deep-learning-specialization__Building_a_Recurrent_Neural_Network_Step_by_Step_v3a",
     "lstm_backward"),
}

#: Forward passes whose caches the student's own loop overwrites through a view (false passes today): the
#: notebooks of test_corpus.KNOWN_DIFFERENCES's _VIEW and _A0_IN_A.
ALIASING_FALSE_PASSES = (
    ("Aliza-Adnan__Sequence_Models__Building_a_Recurrent_Neural_Network_Step_by_Step", "lstm_forward"),
    ("Hasanmog__Journey-through-Deep-Learning-Specialization-Course__Building_a_Recurrent_Neural_Network_Step_by_Step",
     "lstm_forward"),
    ("ItShivani__Sequence-Models__Building_a_Recurrent_Neural_Network_Step_by_Step_v3a", "lstm_forward"),
    ("MariiaZanchak__Deep-learning__Building_a_Recurrent_Neural_Network_Step_by_Step", "lstm_forward"),
    ("dscyrescotti__sequence-models__Building_a_Recurrent_Neural_Network_Step_by_Step", "lstm_forward"),
    ("ShootingSpace__Deep-learning-Coursera__Building_a_Recurrent_Neural_Network_-_Step_by_Step_-_v3", "rnn_forward"),
    ("ShootingSpace__Deep-learning-Coursera__Building_a_Recurrent_Neural_Network_-_Step_by_Step_-_v3", "lstm_forward"),
)

CONFIG = FAST.with_changes(only=BACKWARD, hidden_cases=2, cell_timeout=20, call_timeout=30)


def _rnn_notebooks(shared):
    rows = csv.DictReader(open(shared / "corpus" / "manifest.tsv"), delimiter="\t")
    return [shared / "corpus" / row["file"] for row in rows if row["assignment"] == "rnn"]


def test_every_backward_loss_is_a_reviewed_student_mistake(shared):
    false_fails, unexplained_passes, errata = [], [], []
    for path in _rnn_notebooks(shared):
        result = grade_notebook(path, CONFIG)
        assert result.graded, (path.name, result.error)
        for function in result.functions:
            key = (path.stem, function.name)
            full = function.score == function.max_score
            if function.status == Status.NOT_IMPLEMENTED:
                continue
            if key in STUDENT_MISTAKES:
                if full:
                    unexplained_passes.append(key)
            elif not full:
                false_fails.append((key, function.status.value, function.messages[:1]))
            elif key in PUBLISHED_ERRATA and not any("backpropagation through time" in m for m in function.messages):
                errata.append(key)
    assert not false_fails, "\n".join(map(str, false_fails))
    assert not unexplained_passes, unexplained_passes
    assert not errata, f"a published erratum passes without its note: {errata}"


def test_caches_overwritten_through_a_view_fail(shared):
    corpus = shared / "corpus" / "rnn"
    scores = {(name, function): grade_notebook(corpus / f"{name}.ipynb", FAST.with_changes(
                  only=(function,), cell_timeout=20)).functions[0].score
              for name, function in ALIASING_FALSE_PASSES}
    assert not any(scores.values()), scores
