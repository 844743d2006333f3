"""What a batch reads back from its OUT folder, checked before any stage uses it.

OUT may sit in a folder others can write to, and a result file may be an older version's, truncated,
or planted. So every file is read the same way: a regular file only (a FIFO named ``results/x.json``
would block the read forever), of bounded size, as JSON. A result record is then rebuilt field by
field into a ``NotebookResult`` and written back out as the grader itself writes one: the student is
the file's own name (a record's ``"student"`` becomes file names and gradebook rows), every number is
finite, every text a string and cut as the grader cuts its own. A record that fails any of that is
passed over with its reason, never half-used.
"""
from __future__ import annotations

import json
import math
import os
import stat
from pathlib import Path
from typing import Any

from .results import CaseResult, CellIssue, FunctionResult, NotebookResult, Status, cut

#: The largest OUT file read (a result of 17 functions and their cases is tens of KB; results.json
#: of a class, a few MB).
MAX_FILE_BYTES = 64 * 1024 * 1024
#: What a record's function keeps of its texts, as run_cases writes them.
MAX_MESSAGES, MESSAGE_CHARS, TRACEBACK_CHARS, MAX_CASES = 50, 2_000, 20_000, 500


class BadRecord(ValueError):
    """A file of OUT that is not what the grader writes there; the message says what is wrong."""


def read_text(path: Path, max_bytes: int = MAX_FILE_BYTES) -> str:
    """The text of ``path``, a regular file of at most ``max_bytes``: OSError when it cannot be read
    or is something else (a FIFO, a device, a folder, a link), BadRecord when it is too large or not
    UTF-8."""
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_NOFOLLOW | os.O_CLOEXEC)
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise OSError(f"{path.name} is not a regular file")
        if info.st_size > max_bytes:
            raise BadRecord(f"{path.name} is larger than {max_bytes:,} bytes")
        chunks, size = [], 0
        while chunk := os.read(fd, 1 << 20):  # to its end, as it grows too
            chunks.append(chunk)
            size += len(chunk)
            if size > max_bytes:
                raise BadRecord(f"{path.name} is larger than {max_bytes:,} bytes")
        data = b"".join(chunks)
    finally:
        os.close(fd)
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        raise BadRecord(f"{path.name} is not UTF-8 text") from None


def read_json(path: Path, max_bytes: int = MAX_FILE_BYTES) -> Any:
    """The JSON in ``path`` (``read_text``); BadRecord when it is not JSON."""
    text = read_text(path, max_bytes)
    try:
        return json.loads(text)
    except ValueError as error:
        raise BadRecord(f"{path.name} is not JSON ({error})") from None


def read_record(path: Path) -> dict[str, Any]:
    """The result record in ``path`` (``results/<student>.json``), checked (``checked_record``)."""
    return checked_record(read_json(path), path.stem)


def _text(value: Any, field: str, limit: int | None = None) -> str:
    if not isinstance(value, str):
        raise BadRecord(f"{field} is not text")
    return cut(value, limit) if limit else value


def _number(value: Any, field: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise BadRecord(f"{field} is not a finite number")
    return value


def _list(value: Any, field: str) -> list:
    if not isinstance(value, list):
        raise BadRecord(f"{field} is not a list")
    return value


def _dict(value: Any, field: str) -> dict:
    if not isinstance(value, dict):
        raise BadRecord(f"{field} is not an object")
    return value


def _case(data: Any, where: str) -> CaseResult:
    data = _dict(data, where)
    hidden, passed = data.get("hidden"), data.get("passed")
    if not isinstance(hidden, bool) or not isinstance(passed, bool):
        raise BadRecord(f"{where}: hidden and passed are not true or false")
    return CaseResult(_text(data.get("name"), f"{where} name", 200), hidden, passed,
                      _text(data.get("message", ""), f"{where} message", MESSAGE_CHARS))


def _function(data: Any, number: int) -> FunctionResult:
    data = _dict(data, f"function {number}")
    name = _text(data.get("name"), f"function {number} name", 200)
    try:
        status = Status(data.get("status"))
    except ValueError:
        raise BadRecord(f"{name}: status {str(data.get('status'))[:40]!r} is not one the grader gives") from None
    cases = _list(data.get("cases", []), f"{name} cases")[:MAX_CASES]
    return FunctionResult(
        name, _text(data.get("section", "required"), f"{name} section", 40),
        _number(data.get("score"), f"{name} score"), _number(data.get("max_score"), f"{name} max_score"), status,
        tuple(_case(case, f"{name} case {index}") for index, case in enumerate(cases)),
        tuple(_text(m, f"{name} message", MESSAGE_CHARS) for m in _list(data.get("messages", []),
                                                                         f"{name} messages")[:MAX_MESSAGES]),
        _text(data.get("traceback", ""), f"{name} traceback", TRACEBACK_CHARS),
        tuple(_text(d, f"{name} reference dependency", 200)
              for d in _list(data.get("reference_dependencies", []), f"{name} reference_dependencies")),
        _text(data.get("diagnosis", ""), f"{name} diagnosis", MESSAGE_CHARS))


def _issue(data: Any, number: int) -> CellIssue:
    data = _dict(data, f"cell issue {number}")
    cell = data.get("cell")
    if isinstance(cell, bool) or not isinstance(cell, int):
        raise BadRecord(f"cell issue {number}: its cell is not a number")
    return CellIssue(cell, _text(data.get("kind"), f"cell issue {number} kind", 40),
                     _text(data.get("message", ""), f"cell issue {number} message"),
                     _text(data.get("label", ""), f"cell issue {number} label"))


def _optional_text(value: Any, field: str) -> str | None:
    return None if value is None else _text(value, field, 200)


def as_result(data: Any, with_materials: bool = False) -> NotebookResult:
    """The NotebookResult a record (``NotebookResult.to_json``) holds; BadRecord when any field is
    not of the type and range the grader writes (its texts are cut as the grader cuts its own).
    ``with_materials``: with the paths of the solutions and expected values it was graded with, which
    a record keeps and a student's feedback written from it does not show."""
    data = _dict(data, "the record")
    functions = tuple(_function(f, n) for n, f in enumerate(_list(data.get("functions", []), "functions"), start=1))
    issues = tuple(_issue(i, n) for n, i in enumerate(_list(data.get("cell_issues", []), "cell_issues"), start=1))
    notes = tuple(_text(note, "a note") for note in _list(data.get("notes", []), "notes"))
    stored = data.get("stored_cases_only", False)
    materials = data.get("materials", {})
    if not isinstance(stored, bool) or not isinstance(materials, dict) or len(json.dumps(materials)) > 10_000:
        raise BadRecord("stored_cases_only or materials is not what the grader writes")
    return NotebookResult(_text(data.get("notebook"), "notebook"), _optional_text(data.get("assignment"), "assignment"),
                          _optional_text(data.get("course_version"), "course_version"), functions, issues, notes,
                          _text(data.get("error", ""), "error"), _number(data.get("duration_seconds", 0.0), "duration"),
                          stored, materials=materials if with_materials else {})


def checked_record(data: Any, student: str) -> dict[str, Any]:
    """The record of ``student`` (its file's name) rebuilt from ``data`` as the grader writes one, with
    the batch's own fields (``batch._record``) and a regrade history kept when they are of their
    type; BadRecord says what is wrong."""
    data = _dict(data, "the record")
    named = data.get("student", student)
    if named != student or not student or student in (".", ".."):
        raise BadRecord(f"{student}.json holds the result of {str(named)[:80]!r}: a record's student is its "
                        "file's name")
    record = as_result(data, with_materials=True).to_json()
    for key in ("score", "max_score", "optional_score", "optional_max_score"):  # as the file has them (overrides)
        if key in data:
            record[key] = _number(data[key], key)
    record["student"] = student
    for key in ("sha256", "fingerprint"):
        if key in data:
            record[key] = _text(data[key], key, 200)
    record["batch_note"] = _text(data.get("batch_note", ""), "batch_note", 2_000)
    _keep_overrides(data, record)
    if isinstance(data.get("regrades"), list):
        record["regrades"] = [entry for entry in data["regrades"][:100] if isinstance(entry, dict)
                              and len(json.dumps(entry)) < 2_000]
    return record


def _keep_overrides(data: dict, record: dict[str, Any]) -> None:
    """A TA's overrides as ``overrides.apply`` leaves them in a record (so that the next application
    can undo them): each item's ``computed_score`` and ``override``, the record's ``overrides`` and
    ``computed_score``; checked like the rest."""
    for source, function in zip(data.get("functions", []), record["functions"]):
        if "computed_score" in source:
            function["computed_score"] = _number(source["computed_score"], f"{function['name']} computed_score")
        if "override" in source:
            function["override"] = _text(source["override"], f"{function['name']} override", 2_000)
    if "overrides" in data:
        record["overrides"] = [
            {"item": _text(o.get("item"), "an override's item", 200), "points": _number(o.get("points"), "points"),
             "computed_score": _number(o.get("computed_score"), "an override's computed score"),
             "reason": _text(o.get("reason", ""), "an override's reason", 2_000), "at": _text(o.get("at", ""), "at", 40)}
            for o in (_dict(o, "an override") for o in _list(data["overrides"], "overrides")[:200])]
    if "computed_score" in data:
        record["computed_score"] = _number(data["computed_score"], "computed_score")
