"""The recipe step BPTT by hand adds: the LSTM cell's forward step, which its backward exercise
needs a cache from. It is given code (bptt_utils.py, shipped to students), run in the grader:

    ["lstm_cell_forward", ["xt", "a_prev", "c_prev", "parameters"], ["a_next", "c_next", "yt", "cache"]]
"""
from __future__ import annotations

import copy
import importlib.util
from types import ModuleType

from ..recipes import course_data, get_path, register_step, set_path

_LOADED: dict[str, ModuleType] = {}


def given_helpers() -> ModuleType:
    """bptt_utils.py as students get it (from solutions/ while a release computes expected values)."""
    path = course_data("bptt_utils.py")
    key = str(path)
    if key not in _LOADED:
        spec = importlib.util.spec_from_file_location("grader_bptt_utils", path)
        module = importlib.util.module_from_spec(spec)
        assert spec.loader is not None
        spec.loader.exec_module(module)
        _LOADED[key] = module
    return _LOADED[key]


def _lstm_forward_step(step: list, env: dict) -> None:
    inputs = copy.deepcopy([get_path(env, path) for path in step[1]])
    for path, value in zip(step[2], given_helpers().lstm_cell_forward(*inputs)):
        set_path(env, path, value)


register_step("lstm_cell_forward", _lstm_forward_step)
