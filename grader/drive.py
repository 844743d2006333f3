"""Driving a graded class: build instances and call their methods in a fixed order, keeping results.

A graded function is judged on one call; a graded class on a sequence: construct it with given
weights, call it step by step, call ``backward`` in reverse time, read what it accumulated. A
*script* (plain data, built by the grader from a case recipe) says what to do:

    {"new": [args...]}                              a fresh instance (the previous one is dropped)
    {"call": "__call__" | "method", "args": [...], "keep": "hidden"}
    {"get": "attribute", "keep": "dW_ih"}

An argument is a value, or ``{"kept": name, "at": index}``: something kept earlier (the hidden
state the previous step returned, say). ``drive`` returns ``{keep name: [values in order]}``.

The same code drives the reference in the grader and the student's class in the worker, which
imports this file on its own (like wire.py), so it depends on nothing but the standard library.

What is kept is a snapshot taken at once (an instance may change an array it returned later on),
made without running any of the student's code: plain containers are rebuilt and exact numpy arrays
copied; anything else is kept as it is and crosses the wire as a bare type name (``wire.Opaque``),
which the grader refuses. (``copy.deepcopy`` would call the student's ``__deepcopy__``, and fails outright
on a generator, which read as if the student's method had raised.)
"""
from __future__ import annotations

import inspect
from typing import Any

#: Deeper than wire.py sends anyway; bounds the snapshot of a list that contains itself.
MAX_DEPTH = 16
_MISSING = object()


class ScriptError(Exception):
    """The student's class cannot be driven as the assignment describes (missing method, arity)."""


def _argument(value: Any, kept: dict[str, list]) -> Any:
    if type(value) is dict and set(value) == {"kept", "at"}:
        # a copy: a method writing into its argument (prev_hidden) must not rewrite what was kept
        return snapshot(kept[value["kept"]][value["at"]])
    return value


def snapshot(value: Any, depth: int = 0) -> Any:
    """``value`` as it is now: the containers wire.py sends rebuilt, exact numpy arrays copied."""
    kind = type(value)
    if depth > MAX_DEPTH:
        return value
    if kind is list or kind is tuple:
        return kind(snapshot(item, depth + 1) for item in value)
    if kind is dict:
        return {key: snapshot(item, depth + 1) for key, item in value.items()}
    if kind.__name__ == "ndarray" and kind.__module__ == "numpy":  # exactly numpy.ndarray: its own copy
        return value.copy()
    return value


def _check_arity(target: Any, args: list, what: str) -> None:
    try:
        signature = inspect.signature(target)
    except (TypeError, ValueError):  # none to read (a builtin, a __getattr__ answering __signature__):
        return                       # let the call itself say what is wrong
    try:
        signature.bind(*args)
    except TypeError as error:
        raise ScriptError(f"{what} cannot take {len(args)} argument(s): {error}") from None


def drive(cls: Any, script: list) -> dict[str, list]:
    """Run ``script`` against instances of ``cls`` (see the module docstring)."""
    name = getattr(cls, "__name__", "the class")
    if not isinstance(cls, type):
        raise ScriptError(f"{name} should be a class (class {name}: ...), not a {type(cls).__name__}")
    kept: dict[str, list] = {}
    instance = None
    for step in script:
        if "new" in step:
            args = [_argument(value, kept) for value in step["new"]]
            _check_arity(cls, args, f"{name}(...)")
            instance = cls(*args)
            continue
        if instance is None:
            raise ScriptError(f"{name}: the script uses an instance before creating one")
        if "get" in step:
            attribute = step["get"]
            value = getattr(instance, attribute, _MISSING)  # read once: a property may answer differently
            if value is _MISSING:
                raise ScriptError(f"{name} has no attribute {attribute!r} after the calls above; "
                                  f"keep it on self (self.{attribute} = ...)")
            kept.setdefault(step["keep"], []).append(snapshot(value))
            continue
        method_name = step["call"]
        if method_name == "__call__":
            method, what = instance, f"{name} instance (its __call__)"
            if not callable(instance):
                raise ScriptError(f"{name} instances cannot be called: define __call__(self, ...)")
        else:
            method, what = getattr(instance, method_name, None), f"{name}.{method_name}"
            if not callable(method):
                raise ScriptError(f"{name} has no method {method_name!r}: define {method_name}(self, ...)")
        args = [_argument(value, kept) for value in step.get("args", [])]
        _check_arity(method, args, what)
        result = method(*args)
        if step.get("keep"):  # a copy: the instance may change what it returned later on
            kept.setdefault(step["keep"], []).append(snapshot(result))
    return kept
