"""Has a stored expected value drifted? A pure comparison of two expected/<assignment>.json trees.

The stored file and the one ``grade release`` would write now are compared field by field:

- structure, names, points, judges, tolerances and case recipes (seeds, draw order, shapes) must
  be identical: changing any of them changes what students are graded on;
- computed numbers (expected outputs, arguments after the call, model variants, and the reference
  results recorded inside a recipe) may differ by the case's own stored tolerance, the one the
  grader uses to judge students: a different numpy, BLAS or CPU moves the last bits, and that is
  not a change of the expected values;
- ``sample`` draws are compared on the stored stable prefix only: later draws are chaotic
  (see ``expected._sample_stable_prefix``) and are never demanded of a student;
- ``numpy_version`` is information about the machine that wrote the file, never a difference.
"""
from __future__ import annotations

import math
from typing import Any

import numpy as np

#: Top-level fields that describe where a file was made, not what it contains.
INFORMATIONAL = frozenset({"numpy_version"})
#: How many differences to describe per file (the first ones say enough).
MAX_REPORTED = 5

Tol = tuple[float, float] | None  # (rtol, atol); None: exact


def differences(stored: dict, fresh: dict) -> list[str]:
    """Human-readable differences between a stored expected file and a fresh one (empty: not drifted)."""
    found: list[str] = []
    top_keys = (set(stored) | set(fresh)) - INFORMATIONAL
    for key in sorted(top_keys - {"functions"}):
        _walk(stored.get(key), fresh.get(key), key, None, found)
    stored_functions, fresh_functions = stored.get("functions") or {}, fresh.get("functions") or {}
    for name in sorted(set(stored_functions) ^ set(fresh_functions)):
        found.append(f"{name}: {'no longer graded' if name in stored_functions else 'new graded function'}")
    for name in [n for n in fresh_functions if n in stored_functions]:
        _function(stored_functions[name], fresh_functions[name], name, found)
    return found[:MAX_REPORTED] + ([f"... and {len(found) - MAX_REPORTED} more"] if len(found) > MAX_REPORTED else [])


def _function(stored: dict, fresh: dict, name: str, found: list[str]) -> None:
    for key in sorted((set(stored) | set(fresh)) - {"cases"}):
        _walk(stored.get(key), fresh.get(key), f"{name}.{key}", None, found)
    old_cases, new_cases = stored.get("cases") or [], fresh.get("cases") or []
    if [c.get("name") for c in old_cases] != [c.get("name") for c in new_cases]:
        found.append(f"{name}: cases {[c.get('name') for c in old_cases]} became {[c.get('name') for c in new_cases]}")
        return
    for old, new in zip(old_cases, new_cases):
        _case(old, new, f"{name} / {old.get('name')}", found)


def _case(stored: dict, fresh: dict, where: str, found: list[str]) -> None:
    if stored.get("tolerance") != fresh.get("tolerance"):
        found.append(f"{where}: tolerance {stored.get('tolerance')} became {fresh.get('tolerance')}")
        return
    tolerance = stored.get("tolerance") or {}
    tol = (float(tolerance.get("rtol", 0.0)), float(tolerance.get("atol", 0.0)))
    _recipe(stored.get("recipe"), fresh.get("recipe"), f"{where}: recipe", tol, found)
    prefix = stored.get("stable_prefix")
    for key in sorted((set(stored) | set(fresh)) - {"name", "tolerance", "recipe", "stable_prefix"}):
        old, new = stored.get(key), fresh.get(key)
        if key == "expected" and prefix is not None and isinstance(old, list) and isinstance(new, list):
            old, new = old[:prefix], new[:prefix]  # sample: only the stable prefix is ever judged
        _walk(old, new, f"{where}: {key}", tol, found)
    if (prefix is None) != (fresh.get("stable_prefix") is None):
        found.append(f"{where}: stable_prefix {prefix} became {fresh.get('stable_prefix')}")


def _recipe(stored: Any, fresh: Any, where: str, tol: Tol, found: list[str]) -> None:
    """Recipes are exact, except the reference results a "reference" step records (its 5th element)."""
    if not (isinstance(stored, dict) and isinstance(fresh, dict)):
        _walk(stored, fresh, where, None, found)
        return
    for key in sorted(set(stored) | set(fresh)):
        old, new = stored.get(key), fresh.get(key)
        if key == "steps" and isinstance(old, list) and isinstance(new, list) and len(old) == len(new):
            for number, (a, b) in enumerate(zip(old, new)):
                recorded = isinstance(a, list) and isinstance(b, list) and a[:1] == ["reference"] == b[:1]
                if recorded and len(a) == len(b) == 5:
                    _walk(a[:4], b[:4], f"{where}.steps[{number}]", None, found)
                    _walk(a[4], b[4], f"{where}.steps[{number}] (recorded result)", tol, found)
                else:
                    _walk(a, b, f"{where}.steps[{number}]", None, found)
        else:
            _walk(old, new, f"{where}.{key}", None, found)


def _walk(stored: Any, fresh: Any, where: str, tol: Tol, found: list[str]) -> None:
    if isinstance(stored, dict) and isinstance(fresh, dict):
        if "array" in stored and "array" in fresh:
            _array(stored, fresh, where, tol, found)
            return
        if set(stored) != set(fresh):
            found.append(f"{where}: fields {sorted(stored)} became {sorted(fresh)}")
            return
        for key in stored:
            _walk(stored[key], fresh[key], f"{where}.{key}", tol, found)
    elif isinstance(stored, list) and isinstance(fresh, list):
        if len(stored) != len(fresh):
            found.append(f"{where}: length {len(stored)} became {len(fresh)}")
            return
        for number, (a, b) in enumerate(zip(stored, fresh)):
            _walk(a, b, f"{where}[{number}]", tol, found)
    elif _is_number(stored) and _is_number(fresh) and (isinstance(stored, float) or isinstance(fresh, float)):
        if not _close(float(stored), float(fresh), tol):
            found.append(f"{where}: {_plain(stored)} became {_plain(fresh)}{_beyond(tol)}")
    elif type(stored) is not type(fresh) or stored != fresh:
        found.append(f"{where}: {_short(stored)} became {_short(fresh)}")


def _array(stored: dict, fresh: dict, where: str, tol: Tol, found: list[str]) -> None:
    if stored.get("dtype") != fresh.get("dtype") or stored.get("shape") != fresh.get("shape"):
        found.append(f"{where}: array {stored.get('dtype')}{stored.get('shape')} became "
                     f"{fresh.get('dtype')}{fresh.get('shape')}")
        return
    old = np.asarray(stored["array"], dtype=object if stored.get("dtype") == "object" else None)
    new = np.asarray(fresh["array"], dtype=old.dtype)
    if old.dtype.kind not in "fc" or tol is None:
        if not np.array_equal(old, new):
            found.append(f"{where}: array values changed")
        return
    rtol, atol = tol
    if not np.allclose(new, old, rtol=rtol, atol=atol, equal_nan=True):
        gap = np.abs(new - old)
        index = tuple(int(i) for i in np.unravel_index(int(np.nanargmax(gap)), old.shape)) if old.shape else ()
        found.append(f"{where}: largest change {float(np.nanmax(gap)):.3g} at {list(index)} "
                     f"({_plain(old[index])} became {_plain(new[index])}){_beyond(tol)}")


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _close(old: float, new: float, tol: Tol) -> bool:
    if math.isnan(old) or math.isnan(new):
        return math.isnan(old) and math.isnan(new)
    if tol is None:
        return old == new
    rtol, atol = tol
    return abs(new - old) <= atol + rtol * abs(old)


def _beyond(tol: Tol) -> str:
    return "" if tol is None else f", beyond the case's tolerance (rtol={tol[0]:g}, atol={tol[1]:g})"


def _plain(value: Any) -> str:
    """A number as the instructor reads it (0.5), never numpy's repr of its scalar (np.float64(0.5))."""
    return repr(value.item() if isinstance(value, np.generic) else value)


def _short(value: Any) -> str:
    text = _plain(value)
    return text if len(text) <= 60 else text[:57] + "..."
