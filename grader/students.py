"""Who is who in a batch: student ids for discovered notebooks, and the roster join (pure, no grading).

    safe_id(text)                 -> an id usable as a file name everywhere
    read_roster(path)             -> Roster (a CSV as an LMS exports it)
    assign_ids(found, roster)     -> Identified per notebook, and what the TA must look at

Rules (README, "For TAs"):
- Ids are unique ignoring case, so result files never collide on case-insensitive file systems
  (macOS, Windows): ``Alice`` and ``alice`` are one id.
- When several notebooks map to one id, a notebook named exactly that id (or matching the roster
  exactly) keeps it; the others, or all of them when none or several match exactly, are marked
  ambiguous: each gets an id of its own, ``ID~ambiguous-`` and 12 hex digits (from its path, so the order in which
  files sort never matters), and is listed for the TA. Nobody's result is filed under someone else.
- With a roster, ids come from it: a notebook name matching an id or login column exactly, else
  after normalising (case, punctuation), gets that row's id; notebooks matching no row and rows with
  no notebook are listed.
"""
from __future__ import annotations

import csv
import hashlib
import io
import re
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from .errors import UsageError

#: Roster columns that identify a student, by preference for the id the gradebook uses (compared
#: ignoring case and spaces): what Canvas, Moodle, Blackboard and nbgrader exports call them.
ID_COLUMNS = ("id", "studentid", "sisuserid", "sisloginid", "login", "loginid", "username", "userid",
              "student", "email", "emailaddress")
_WINDOWS_RESERVED = {"con", "prn", "aux", "nul", *(f"com{n}" for n in range(1, 10)), *(f"lpt{n}" for n in range(1, 10))}


#: The longest id kept whole. Its result file's temporary name adds ~40 characters, and a file name may
#: have 255: a notebook named with 240 characters stopped the whole batch (File name too long).
MAX_ID_CHARS = 100


def safe_id(text: str) -> str:
    """``text`` with anything but letters, digits and ``_.@+-`` replaced: a file name on every system.
    A longer one is cut, with a digest of the whole name after it (two long names stay two ids)."""
    value = re.sub(r"[^A-Za-z0-9_.@+-]+", "_", text).strip("._") or "student"
    if len(value) > MAX_ID_CHARS:
        value = value[:MAX_ID_CHARS - 13].rstrip("._") + "-" + hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()[:12]
    if value.split(".")[0].lower() in _WINDOWS_RESERVED:
        value += "_"
    return value


def _key(text: str) -> str:
    """What two ids must differ in to be two students: case and punctuation do not count."""
    return safe_id(text).casefold()


@dataclass(frozen=True)
class Roster:
    ids: tuple[str, ...]
    """The gradebook id of each row, in the roster's order."""
    keys: tuple[tuple[str, ...], ...]
    """Every identifying value of each row (id, login, e-mail, ...), for matching notebook names."""
    source: str = ""


def parse_roster(text: str, source: str = "roster") -> Roster:
    """A roster from CSV text; at least one identifying column (``ID_COLUMNS``) is needed."""
    rows = list(csv.reader(io.StringIO(text.lstrip("\ufeff"))))
    if not rows:
        raise UsageError(f"{source}: the roster is empty; export it from the LMS with a header row")
    header = [re.sub(r"[\s_-]+", "", name).lower() for name in rows[0]]
    columns = [header.index(name) for name in ID_COLUMNS if name in header]
    if not columns:
        raise UsageError(f"{source}: no id column in the roster header ({', '.join(rows[0])}); "
                         f"name one of: id, SIS User ID, SIS Login ID, login, username, student, email")
    ids, keys = [], []
    for row in rows[1:]:
        values = [row[i].strip() if i < len(row) else "" for i in columns]
        if not values[0]:  # e.g. Canvas's "Points Possible" row, or a blank line
            continue
        ids.append(values[0])
        keys.append(tuple(dict.fromkeys(v for v in values if v)))
    return Roster(tuple(ids), tuple(keys), source)


def read_roster(path: Path) -> Roster:
    try:
        return parse_roster(path.read_text(encoding="utf-8-sig", errors="replace"), str(path))
    except OSError as error:
        raise UsageError(f"--roster {path}: cannot be read ({error.strerror})") from None


@dataclass(frozen=True)
class Identified:
    student: str
    path: Path
    note: str = ""
    ambiguous: bool = False


def _indexes(roster: Roster) -> tuple[dict[str, set[str]], dict[str, set[str]]]:
    """Roster ids by each identifying value, as it is and normalised."""
    exact: dict[str, set[str]] = {}
    loose: dict[str, set[str]] = {}
    for student, keys in zip(roster.ids, roster.keys):
        for key in keys:
            exact.setdefault(key, set()).add(student)
            loose.setdefault(_key(key), set()).add(student)
    return exact, loose


def _match(name: str, indexes: tuple[dict[str, set[str]], dict[str, set[str]]]) -> tuple[str | None, bool, str]:
    """The roster id a notebook name belongs to, whether the match is exact, and a note."""
    exact, loose = indexes[0].get(name, set()), indexes[1].get(_key(name), set())
    if len(exact) == 1:
        return next(iter(exact)), True, ""
    if len(exact) > 1 or len(loose) > 1:
        return None, False, f"matches several roster rows ({', '.join(sorted(exact or loose))})"
    if loose:
        return next(iter(loose)), False, ""
    return None, False, "matches no roster entry"


def assign_ids(found: list[tuple[str, Path]], roster: Roster | None = None,
               named_by_file: frozenset[Path] = frozenset()) -> tuple[list[Identified], list[str]]:
    """Ids for ``(name, path)`` pairs (name as the layout gives it, before any normalising), and the
    problems a TA must look at. The result does not depend on the order of ``found``.

    ``named_by_file``: the paths whose name is their own file name, which whoever saved the file chose
    (a student may save one as a classmate); the others were named by a folder or an LMS. When several
    map to one id and some were named by a folder or an LMS, only those may keep it."""
    problems: list[str] = []
    claims: list[tuple[str, bool, str, Path, str]] = []  # (id, exact, name, path, note)
    indexes = _indexes(roster) if roster is not None else ({}, {})
    for name, path in found:
        if roster is None:
            claims.append((safe_id(name), safe_id(name) == name, name, path, ""))
            continue
        matched, exact, note = _match(name, indexes)
        if matched is None:
            problems.append(f"{path}: {note}; graded as {safe_id(name)!r}")
            claims.append((safe_id(name), False, name, path, note))
        else:
            claims.append((safe_id(matched), exact, name, path, ""))
    groups: dict[str, list[tuple[str, bool, str, Path, str]]] = {}
    for claim in claims:
        groups.setdefault(_key(claim[0]), []).append(claim)
    tags = _ambiguity_tags([claim[3] for group in groups.values() if len(group) > 1 for claim in group])
    result: list[Identified] = []
    for group in groups.values():
        if len(group) == 1:
            student, _, _, path, note = group[0]
            result.append(Identified(student, path, note))
            continue
        strong = [claim for claim in group if claim[3] not in named_by_file]
        exact = [claim for claim in (strong or group) if claim[1]]
        if len(strong) == 1:  # the only one a folder or an LMS named: it keeps the id
            winner, how = strong[0], "named by a folder or an LMS, the others by their own file names"
        else:  # among names of one kind
            winner, how = (exact[0] if len(exact) == 1 else None), "exact match"
        for student, _, name, path, note in group:
            others = ", ".join(sorted(str(claim[3]) for claim in group if claim[3] != path))  # not itself
            if winner is not None and path == winner[3]:
                result.append(Identified(student, path, f"also claimed by {others}; kept: {how}"))
                continue
            tag = tags[path]
            kept = "matches it exactly and keeps it" if how == "exact match" else \
                "is named so by a folder or an LMS and keeps it (a file's own name never takes such an id)"
            reason = (f"ambiguous id: {path} maps to {student!r} like {others}"
                      + (f"; {winner[3]} {kept}" if winner else
                         "; several match it exactly" if len(exact) > 1 else "; none matches exactly")
                      + (f"; {note}" if note else ""))
            result.append(Identified(f"{student}~ambiguous-{tag}", path, reason, ambiguous=True))
            problems.append(reason)
    result.sort(key=lambda item: (item.student.casefold(), str(item.path)))
    return result, problems


def _ambiguity_tags(paths: list[Path]) -> dict[Path, str]:
    """A tag per path, fixed by the path and distinct ignoring case: 12 hex digits of its digest, all
    64 for paths whose 12 meet (a student who names a file to meet a classmate's tag would otherwise
    take the classmate's result file: 6 digits were found by brute force in seconds)."""
    digests = {path: hashlib.sha256(str(path).encode("utf-8", "surrogatepass")).hexdigest() for path in paths}
    short = Counter(digest[:12] for digest in digests.values())
    return {path: digest if short[digest[:12]] > 1 else digest[:12] for path, digest in digests.items()}


def missing_from(roster: Roster, students: list[str]) -> list[str]:
    """Roster ids with no notebook (an ambiguous claim, ``ID~ambiguous-...``, counts as one: the TA
    settles it, the student is not missing)."""
    present = {_key(student.split("~")[0]) for student in students}
    return [student for student in roster.ids if _key(student) not in present]
