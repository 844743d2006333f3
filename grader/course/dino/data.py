"""Dinosaur Island's data: the 27-character vocabulary and the names data set, and the two recipe
steps that put them into a case:

    ["vocabulary", "char_to_ix", "ix_to_char"]  the course's 27-character maps
    ["names", "data", "text" | "split", N]      the names data set, lower-cased (optionally its first N names)
"""
from __future__ import annotations

import string

from ..recipes import course_data, register_step, set_path

NAMES_FILE = "datasets/dinos.txt"


def vocabulary() -> tuple[dict[str, int], dict[int, str]]:
    chars = ["\n", *string.ascii_lowercase]
    return {ch: i for i, ch in enumerate(chars)}, {i: ch for i, ch in enumerate(chars)}


def names_text() -> str:
    return course_data(NAMES_FILE).read_text()


def _vocabulary_step(step: list, env: dict) -> None:
    char_to_ix, ix_to_char = vocabulary()
    set_path(env, step[1], char_to_ix)
    set_path(env, step[2], ix_to_char)


def _names_step(step: list, env: dict) -> None:
    text = names_text().lower()
    if len(step) > 3:  # only the first N names: a short run then wraps around the data set
        text = "".join(text.splitlines(keepends=True)[: step[3]])
    set_path(env, step[1], text.split("\n") if step[2] == "split" else text)


register_step("vocabulary", _vocabulary_step)
register_step("names", _names_step)


#: What a model without the leading None in X is told: by its diagnosis (mistakes.py) and, in a build
#: without the mistake models, by the KeyError it raises (the assignment's error patterns).
NO_LEADING_NONE = ("X misses the leading None (the zero vector that starts every name): "
                   "X = [None] + [char_to_ix[ch] for ch in the name].")
