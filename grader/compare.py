"""Stage 4: compare what a function returned with what was expected. Pure functions, no I/O.

``compare(expected, actual, tolerance)`` walks both values together and lists every ``Mismatch``
(up to a few), checking in this order, so the first message is the most useful one:

1. type: an ndarray must be exactly ``numpy.ndarray`` (no subclass, no look-alike object);
   a tuple may also be a list of the same length; a dict must have every expected key
   (extra keys are allowed); numbers may be Python or numpy scalars or size-1 arrays.
2. shape, then dtype (real numbers only: bool, complex and object arrays are refused).
3. finiteness: NaN or inf where a finite value is expected never passes.
4. values, with ``numpy.allclose(rtol, atol)``; NaN passes only where the expected value is NaN
   too; integers (an expected integer dtype or int) must be equal, not close.

Both sides may be anything wire.py decodes (the shared-state check of a graded class compares two
of the student's own values): every rule reads a value only after checking its exact type, and no
rule raises, whatever the two values are. A float answer narrower than float64 passes when it is
within the item's tolerance (float32 rounding is within a relative 1e-6); when it fails, the
message says the dtype lacks the digits.

Inside caches (paths naming a cache) a value that broadcasts to the expected array and equals it
(``c_next = 0`` instead of zeros for the first step) is accepted with a "note": the backward pass
computes the same with it. Everywhere else shapes must match exactly.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from .course.spec import Tolerance
from .wire import Opaque

MAX_MISMATCHES = 2


@dataclass(frozen=True)
class Mismatch:
    path: str
    """Where, in Python syntax: ``result[2]['Wax']``."""
    kind: str
    """"type", "length", "keys", "shape", "dtype", "nonfinite", "values", a judge's own ("instances":
    a graded class's two instances disagree), or "note" (not a failure)."""
    message: str


def printable(text: str) -> str:
    """A type name or reason from the worker (the student names their classes) on one printable line."""
    return "".join(char if char.isprintable() else "?" for char in str(text)[:80])


def describe_type(value: Any) -> str:
    if isinstance(value, Opaque):
        name, reason = printable(value.type_name), printable(value.reason)
        if reason == "ndarray subclass":
            return f"{name} (an ndarray subclass: return np.asarray(...) of it)"
        if reason.startswith("dtype "):  # an object, string or datetime array: it did not cross
            return f"{name} of {reason} (numbers are needed: int or float)"
        return f"{name} ({reason})" if reason != "unsupported type" else name
    if isinstance(value, np.ndarray):
        return f"ndarray of shape {value.shape}"
    if isinstance(value, (tuple, list)):
        return f"{type(value).__name__} of length {len(value)}"
    return type(value).__name__


def _is_number(value: Any) -> bool:
    return (isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, bool)) or (
        isinstance(value, np.ndarray) and value.size == 1 and value.dtype.kind in "iuf")


def _is_integer(value: Any) -> bool:
    """An integer number (``_is_number``): compared exactly, never within a tolerance."""
    item = value.reshape(-1)[0] if isinstance(value, np.ndarray) else value
    return isinstance(item, (int, np.integer)) and not isinstance(item, bool)


def _real(value: Any) -> float:
    """A number (``_is_number``) as a float; an integer or long double beyond float64 becomes ±inf
    (a Python int of 400 digits crosses the wire: ``float()`` of it would raise)."""
    item = value.reshape(-1)[0] if isinstance(value, np.ndarray) else value
    if isinstance(item, int):
        try:
            return float(item)
        except OverflowError:
            return float("inf") if item > 0 else float("-inf")
    with np.errstate(over="ignore"):
        return float(np.float64(item))


def _same_integer(expected: Any, actual: Any) -> bool:
    want = expected.reshape(-1)[0] if isinstance(expected, np.ndarray) else expected
    got = actual.reshape(-1)[0] if isinstance(actual, np.ndarray) else actual
    if _is_integer(got):
        return int(got) == int(want)
    return _real(got) == _real(want)  # a float holding the integer exactly (3.0 for 3) is the same number


def excerpt(array: np.ndarray, limit: int = 4, start: int = 0) -> str:
    """``limit`` values of the flattened array from ``start`` (… marks values left out either side)."""
    flat = np.asarray(array).ravel()
    start = max(0, min(start, flat.size - limit))
    text = np.array2string(flat[start:start + limit], precision=6, separator=" ", max_line_width=200)
    if start + limit < flat.size:
        text = text[:-1] + " …]"
    return "[… " + text[1:] if start > 0 else text


def window_start(flat_index: int, size: int, limit: int = 4) -> int:
    """Where an excerpt around ``flat_index`` begins: one value before it, so the first difference shows
    with the value before it (which matches) rather than a run of leading values that all agree."""
    return max(0, min(flat_index - 1, size - limit))


def shape_hint(expected: tuple, got: tuple) -> str:
    if got == expected[::-1] and len(got) > 1:
        return " (transposed?)"
    if len(got) == len(expected) + 1 and 1 in got:
        return " (an extra dimension of size 1?)"
    if len(got) + 1 == len(expected) and 1 in expected:
        return " (a dimension of size 1 is missing: keepdims=True, or reshape to a column?)"
    if got == () and expected != ():
        return " (a single number where an array is expected)"
    return ""


def _broadcast_equal(expected: np.ndarray, actual: Any, tol: Tolerance) -> bool:
    """A number or real array that broadcasts to ``expected`` and equals it there (finite values only)."""
    if type(actual) is np.ndarray and actual.dtype.kind in "iuf":
        with np.errstate(over="ignore"):  # a long double beyond float64: inf, refused below
            got = actual.astype(np.float64)
    elif _is_number(actual):
        got = np.array(_real(actual))
    else:
        return False
    if not np.isfinite(got).all():
        return False
    try:
        got = np.broadcast_to(got, expected.shape)
    except ValueError:
        return False
    with np.errstate(all="ignore"):
        return bool(np.allclose(got, expected.astype(np.float64), rtol=tol.rtol, atol=tol.atol))


def _precision_hint(actual: np.ndarray) -> str:
    """Why a float16 or float32 answer may fail a tolerance that float64 meets."""
    if actual.dtype.kind != "f" or actual.dtype.itemsize >= 8:
        return ""
    return (f" (it is {actual.dtype}, which keeps about {np.finfo(actual.dtype).precision} significant digits: "
            "compute and return float64)")


def _compare_arrays(path: str, expected: np.ndarray, actual: Any, tol: Tolerance) -> list[Mismatch]:
    if "cache" in path and getattr(actual, "shape", None) != expected.shape and expected.dtype.kind in "iuf" \
            and _broadcast_equal(expected, actual, tol):
        return [Mismatch(path, "note", f"{path} is {describe_type(actual)} where an array of shape {expected.shape} "
                                       "is expected; it gives the same results here, but store full arrays")]
    if isinstance(actual, Opaque) or type(actual) is not np.ndarray:
        return [Mismatch(path, "type", f"{path} should be a numpy array of shape {expected.shape}, "
                                       f"got {describe_type(actual)}")]
    if actual.shape != expected.shape:
        return [Mismatch(path, "shape", f"{path} has shape {actual.shape}, expected {expected.shape}"
                                        f"{shape_hint(expected.shape, actual.shape)}")]
    if actual.dtype.kind not in "iuf" and expected.dtype.kind in "iuf":
        return [Mismatch(path, "dtype", f"{path} has dtype {actual.dtype}, expected real numbers ({expected.dtype})")]
    if expected.dtype.kind not in "iuf":  # bools or complex numbers: the same kind, the same values
        if actual.dtype.kind != expected.dtype.kind:
            return [Mismatch(path, "dtype", f"{path} has dtype {actual.dtype}, expected {expected.dtype}")]
        if not np.array_equal(actual, expected, equal_nan=expected.dtype.kind == "c"):
            unequal = np.flatnonzero(np.asarray(actual).ravel() != np.asarray(expected).ravel())
            start = window_start(int(unequal[0]), expected.size) if unequal.size else 0
            return [Mismatch(path, "values", f"{path} differs: expected {excerpt(expected, start=start)}, "
                                             f"got {excerpt(actual, start=start)}")]
        return []
    if expected.dtype.kind in "iu":
        tol = Tolerance(0.0, 0.0)  # integers are counts and indices: equal, or wrong
    with np.errstate(all="ignore"):  # long doubles beyond float64 become inf, and are refused as such
        got = actual.astype(np.float64)
        want = expected.astype(np.float64)
    bad_finite = ~np.isfinite(got) & np.isfinite(want)
    if bad_finite.any():
        index = tuple(int(i) for i in np.argwhere(bad_finite)[0])
        start = window_start(int(np.flatnonzero(bad_finite.ravel())[0]), want.size)
        return [Mismatch(path, "nonfinite", f"{path} holds NaN or inf (first at index {index}); "
                                            f"expected finite values like {excerpt(want, start=start)}")]
    # NaN is right only where the reference has NaN (a finite value there is wrong, and NaN where a
    # finite value is expected was refused above)
    with np.errstate(all="ignore"):
        close = np.isclose(got, want, rtol=tol.rtol, atol=tol.atol, equal_nan=True)
        if close.all():
            return []
        index = tuple(int(i) for i in np.argwhere(~close)[0]) if got.ndim else ()
        abs_error = np.abs(got - want)
        rel_error = abs_error / np.maximum(np.abs(want), 1e-300)
    where = f"[{', '.join(map(str, index))}]" if index else ""
    # The excerpts show the first difference and its neighbours (flattened, C order), not the array's start.
    start = window_start(int(np.flatnonzero(~close.ravel())[0]), close.size)
    around = f"; values from flat position {start}:" if start else ""
    return [Mismatch(path, "values",
                     f"{path} has wrong values{_precision_hint(actual)}: {int((~close).sum())} of {close.size} "
                     f"differ, first at {path}{where} "
                     f"(expected {want[index]:.8g}, got {got[index]:.8g}); max abs error {abs_error.max():.3g}, "
                     f"max rel error {rel_error.max():.3g}{around}\n    expected {excerpt(want, start=start)}"
                     f"\n    got      {excerpt(got, start=start)}")]


def conforms(expected: Any, actual: Any, depth: int = 0) -> bool:
    """``actual`` has ``expected``'s whole structure: the same containers and lengths, every expected
    key, arrays of the same shape and real dtype where real arrays are expected, numbers where numbers
    are. Comparing two values that both conform to one expected value costs what comparing with it does,
    however large what else the student sent."""
    if depth > 64:
        return False
    if type(expected) is np.ndarray:
        return type(actual) is np.ndarray and actual.shape == expected.shape and (
            actual.dtype.kind in "iuf" if expected.dtype.kind in "iuf" else actual.dtype == expected.dtype)
    if isinstance(expected, (tuple, list)):
        return isinstance(actual, (tuple, list)) and len(actual) == len(expected) and all(
            conforms(want, got, depth + 1) for want, got in zip(expected, actual))
    if isinstance(expected, dict):
        return isinstance(actual, dict) and all(
            key in actual and conforms(want, actual[key], depth + 1) for key, want in expected.items())
    if _is_number(expected):
        return _is_number(actual)
    return type(actual) is type(expected)


def compare(expected: Any, actual: Any, tol: Tolerance, path: str = "result") -> list[Mismatch]:
    """Every way ``actual`` differs from ``expected`` (at most MAX_MISMATCHES failures, else notes)."""
    if all_close_fast(expected, actual, tol):
        return []
    mismatches: list[Mismatch] = []
    _walk(expected, actual, tol, path, mismatches)
    return most_telling(mismatches)


def most_telling(mismatches: list[Mismatch], limit: int = MAX_MISMATCHES) -> list[Mismatch]:
    """The first ``limit`` failures, or when there is none the first notes: a note never crowds out a
    failure (two broadcast cache entries then a wrong array must fail)."""
    failed = [mismatch for mismatch in mismatches if mismatch.kind != "note"]
    return (failed or mismatches)[:limit]


def all_close_fast(expected: Any, actual: Any, tol: Tolerance) -> bool:
    """True only when ``compare`` would find nothing: same structure, every array exactly an ndarray of
    the expected shape and a real dtype, and all values close (finite, within the tolerance).

    The common verdict of an honest submission, decided with one vectorised test over every array of
    the value instead of one ``allclose`` per array (a cache holds a hundred). Anything else, including
    every way of failing, returns False and goes through the detailed walk, which names the mismatch."""
    pairs: list[tuple[np.ndarray, np.ndarray]] = []
    if not _same_structure(expected, actual, tol, pairs, 0):
        return False
    if not pairs:
        return True
    with np.errstate(all="ignore"):  # an overflow (a long double, a difference) is "not close": the walk says why
        want = np.concatenate([w.ravel() for w, _ in pairs], dtype=np.float64) if len(pairs) > 1 \
            else pairs[0][0].ravel().astype(np.float64)
        got = np.concatenate([g.ravel() for _, g in pairs], dtype=np.float64) if len(pairs) > 1 \
            else pairs[0][1].ravel().astype(np.float64)
        error = np.abs(got - want)
        bound = np.abs(want) * tol.rtol + tol.atol
        # allclose's own formula; NaN compares False and an infinite error (an inf on either side) is
        # refused, so a NaN or inf never passes here
        return bool(((error <= bound) & (error < np.inf)).all())


def _same_structure(expected: Any, actual: Any, tol: Tolerance, pairs: list, depth: int) -> bool:
    if depth > 64:
        return False
    if type(expected) is np.ndarray:
        if type(actual) is not np.ndarray or actual.shape != expected.shape \
                or actual.dtype.kind not in "iuf" or expected.dtype.kind != "f":  # integers: exact, in the walk
            return False
        pairs.append((expected, actual))
        return True
    if isinstance(expected, (tuple, list)):
        return isinstance(actual, (tuple, list)) and len(actual) == len(expected) and all(
            _same_structure(want, got, tol, pairs, depth + 1) for want, got in zip(expected, actual))
    if isinstance(expected, dict):
        return isinstance(actual, dict) and all(
            key in actual and _same_structure(want, actual[key], tol, pairs, depth + 1) for key, want in expected.items())
    leaf: list[Mismatch] = []  # numbers, strings, None: the walk's own rule, which is cheap for them
    _walk(expected, actual, tol, "result", leaf)
    return not leaf


def _walk(expected: Any, actual: Any, tol: Tolerance, path: str, out: list[Mismatch]) -> None:
    # notes do not count towards the cap on failures, and are capped apart: ``out`` stays this short
    if sum(mismatch.kind != "note" for mismatch in out) >= MAX_MISMATCHES:
        return
    if isinstance(expected, np.ndarray):
        for mismatch in _compare_arrays(path, expected, actual, tol):
            if mismatch.kind != "note" or sum(found.kind == "note" for found in out) < MAX_MISMATCHES:
                out.append(mismatch)
    elif isinstance(expected, (tuple, list)):
        if not isinstance(actual, (tuple, list)):
            out.append(Mismatch(path, "type", f"{path} should be a {type(expected).__name__} of "
                                              f"{len(expected)} values, got {describe_type(actual)}"))
        elif len(actual) != len(expected):
            out.append(Mismatch(path, "length", f"{path} should hold {len(expected)} values, got {len(actual)}"))
        else:
            for number, (want, got) in enumerate(zip(expected, actual)):
                _walk(want, got, tol, f"{path}[{number}]", out)
    elif isinstance(expected, dict):
        if not isinstance(actual, dict):
            out.append(Mismatch(path, "type", f"{path} should be a dict with keys {sorted(map(str, expected))}, "
                                              f"got {describe_type(actual)}"))
            return
        missing = [key for key in expected if key not in actual]
        if missing:
            out.append(Mismatch(path, "keys", f"{path} is missing the key(s) {', '.join(map(repr, missing))}"))
        for key in expected:
            if key in actual:
                _walk(expected[key], actual[key], tol, f"{path}[{key!r}]", out)
    elif _is_number(expected):
        if not _is_number(actual):
            out.append(Mismatch(path, "type", f"{path} should be a number, got {describe_type(actual)}"))
            return
        want, got = _real(expected), _real(actual)
        if not np.isfinite(got) and np.isfinite(want):
            out.append(Mismatch(path, "nonfinite", f"{path} is {got}, expected {want!r}"))
        elif _is_integer(expected):
            if not _same_integer(expected, actual):
                out.append(Mismatch(path, "values", f"{path} is {_short(actual)}, expected {_short(expected)}"))
        elif not np.isclose(got, want, rtol=tol.rtol, atol=tol.atol, equal_nan=True):
            out.append(Mismatch(path, "values", f"{path} is {got!r}, expected {want!r}"))
    elif isinstance(expected, str):
        if type(actual) is not str or actual != expected:
            out.append(Mismatch(path, "values", f"{path} is {_short(actual)}, expected {_short(expected)}"))
    elif expected is None:
        if actual is not None:
            out.append(Mismatch(path, "type", f"{path} should be None, got {describe_type(actual)}"))
    elif isinstance(expected, (bool, np.bool_)):
        if not isinstance(actual, (bool, np.bool_)) or bool(actual) != bool(expected):
            out.append(Mismatch(path, "values", f"{path} is {_short(actual)}, expected {bool(expected)!r}"))
    elif not _same_leaf(expected, actual):  # the rest (complex numbers, values that did not cross): as sent
        out.append(Mismatch(path, "values", f"{path} is {_short(actual)}, expected {_short(expected)}"))


def _same_leaf(expected: Any, actual: Any) -> bool:
    """Two values of a kind no rule above covers are the same when of one type and equal; only plain
    scalars get here (arrays and containers do not), but nothing they do may stop the comparison."""
    if type(expected) is not type(actual):
        return False
    try:
        return bool(expected == actual)
    except Exception:  # noqa: BLE001 (an equality that does not say yes is a no)
        return False


def _short(value: Any) -> str:
    if isinstance(value, str):
        return repr(value[:80])
    if isinstance(value, (int, float, bool, np.bool_, np.number)) and not isinstance(value, np.ndarray):
        text = repr(value)  # a 400-digit int: cut, a number of this length says nothing more
        return text if len(text) <= 40 else text[:37] + "..."
    return describe_type(value)
