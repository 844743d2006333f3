"""Placeholders some course notebooks import; the checks themselves are done by ``grade``."""


def _placeholder(name):
    def check(*args, **kwargs):
        print(f"{name}: run `grade <notebook>` or `from grader import check` for the verdict.")
    check.__name__ = name
    return check


for _name in ("rnn_cell_forward_test", "rnn_forward_test", "lstm_cell_forward_test", "lstm_forward_test",
              "rnn_cell_backward_test", "rnn_backward_test", "lstm_cell_backward_test", "lstm_backward_test",
              "clip_test", "sample_test", "optimize_test", "model_test"):
    globals()[_name] = _placeholder(_name)
