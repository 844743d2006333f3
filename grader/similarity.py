"""Pairwise similarity of what students wrote: evidence for a human to weigh, never a verdict.

Only the code between ``### START CODE HERE ###`` and ``### END CODE HERE ###`` of each graded
function is compared (the whole body when a student removed the markers), because everything else
in a notebook is the course's own text; and the whole of the student's own functions that a graded
function calls, at whatever depth either is defined (a copy nested in ``if True:`` or moved into a
helper is compared all the same). The method is winnowing (Schleimer, Wilkerson and Aiken,
"Winnowing: local algorithms for document fingerprinting", SIGMOD 2003, the algorithm behind MOSS):

1. Tokens (those of Python's ``tokenize``, scanned by one regular expression for speed) are
   normalised: comments, blank lines and indentation dropped, a ``;`` per logical line, every
   identifier becomes ``V`` (renamed variables change nothing), every literal ``N`` or ``S``;
   keywords, operators and attribute names (``np.tanh``) are kept, as renaming a variable never
   changes them and they tell independent solutions apart.
2. Every run of ``K`` consecutive tokens is hashed; in every window of ``WINDOW`` consecutive hashes
   the smallest is kept. Two copies of a stretch of at least ``K + WINDOW - 1`` tokens always share
   a fingerprint, wherever the stretch moved to (reordered statements keep their own fingerprints).
3. Fingerprints of the course's own code are discounted: any k-gram found in ``assignments/`` (the
   starter code) or ``solutions/`` (the reference) is removed, so template code and the textbook
   answer do not make everyone look alike. So are fingerprints shared by more than
   ``common_fraction`` of a class of at least ``COMMON_MIN_CLASS`` (MOSS does the same: what a
   large part of the class writes is the obvious way to write it). Functions still holding the
   starter placeholders are left out.
4. Per pair and per function: Jaccard (shared / union of the two fingerprint sets) and containment
   (shared / the smaller set). A pair is flagged when one function, or all their functions together,
   reach the threshold (or ``CONTAINMENT``) with at least ``min_shared`` fingerprints in common
   (regions are short, and what is left once the course's code is discounted shorter still: a
   whole-notebook copy may share only a few fingerprints per function).

Pure functions apart from ``load_student_code``, ``course_fingerprints`` and ``notebook_key`` (which
read files).

Fingerprinting 200 notebooks takes seconds, so a batch fingerprints each notebook in its grading
process right after grading it (``prints_of``, in parallel) and hands the prints to the class report
(``similarity(..., known=...)``). They are keyed by ``notebook_key``: the notebook's SHA-256 and the
version of this code, so a print is only ever used for exactly the bytes and the code that made it;
any notebook without one (a result kept from an earlier run, ``grade report`` on its own) is read
and fingerprinted here as always.
"""
from __future__ import annotations

import ast
import functools
import hashlib
import importlib.util
import keyword
import os
import re
import stat
import textwrap
import zlib
from collections import defaultdict
from dataclasses import dataclass
from itertools import combinations
from pathlib import Path
from typing import Mapping, NamedTuple

from .errors import GraderError
from .course import ASSIGNMENTS
from .load import (MAX_CODE_CHARS, STATEMENT_BODIES, FunctionSource, code_regions, functions_in_source,
                   module_statements, parse_cell, read_notebook, to_python)

K = 5
"""Tokens per k-gram: shorter runs are too common to mean anything."""
WINDOW = 4
"""Hashes per winnowing window: any shared run of K + WINDOW - 1 = 8 tokens is always detected."""
DEFAULT_THRESHOLD = 0.5
DEFAULT_MIN_SHARED = 6
COMMON_FRACTION = 0.2
COMMON_MIN_CLASS = 20
"""The common-fingerprint filter only applies to classes at least this large."""
MAX_NOTEBOOK_MB = 50
"""Larger notebooks are not read (``read_notebook``'s limit)."""
PRINTS_FORMAT = 5
"""Part of every ``notebook_key``, with the hash of the grader's code: raise it when what
``load_student_code`` keeps changes shape."""



class Token(NamedTuple):
    """A named tuple rather than a frozen dataclass: a class of 300 makes a few hundred thousand."""

    text: str
    """The normalised form: ``V``, ``N``, ``S``, a keyword, an operator or an attribute name."""
    line: int
    """1-based line of the token in the source it was read from."""


@dataclass(frozen=True)
class FunctionPrint:
    """The fingerprints of one graded function of one student."""

    name: str
    source: str
    """The function's source as the student wrote it (shown beside the other student's)."""
    lines: tuple[int, ...]
    """1-based lines of ``source`` that were compared (inside the START/END regions)."""
    prints: dict[int, tuple[int, ...]]
    """Fingerprint hash -> the lines of ``source`` its k-gram covers."""


@dataclass(frozen=True)
class StudentCode:
    student: str
    notebook: str
    functions: dict[str, FunctionPrint]
    problem: str = ""
    """Why nothing could be read (not a notebook, unknown assignment); then ``functions`` is empty."""


@dataclass(frozen=True)
class FunctionMatch:
    name: str
    shared: int
    jaccard: float
    containment: float
    lines_a: tuple[int, ...]
    """Lines of A's function that hold shared fingerprints."""
    lines_b: tuple[int, ...]


@dataclass(frozen=True)
class Pair:
    a: StudentCode
    b: StudentCode
    jaccard: float
    """Over all functions both wrote: shared fingerprints / fingerprints of either."""
    matches: tuple[FunctionMatch, ...]
    """Every function the two share fingerprints in, most similar first."""
    flagged: tuple[str, ...]
    """Functions at or above the threshold (their fragments are shown side by side)."""


@dataclass(frozen=True)
class SimilarityResult:
    students: tuple[StudentCode, ...]
    pairs: tuple[Pair, ...]
    """Flagged pairs, most similar first."""
    threshold: float
    min_shared: int
    discounted: int
    """How many course fingerprints (starter code and reference) were discounted."""
    common: int
    """How many fingerprints were dropped as shared by a large part of the class."""


# --- tokens and fingerprints ------------------------------------------------------------------

def normalise(source: str) -> list[Token]:
    """The normalised tokens of ``source``: the tokens Python's ``tokenize`` gives, comments, blank
    lines and indentation dropped, a ``;`` for each end of a logical line (a test checks the two
    agree on every notebook we have). A regular expression does the scanning: ``tokenize`` is a
    generator in pure Python and was most of the time of a 300-notebook comparison."""
    tokens: list[Token] = []
    add, is_keyword, nesting = tokens.append, keyword.iskeyword, _NESTING.get  # bound once: a hot loop
    line, depth, previous = 1, 0, ""
    for match in _TOKEN.finditer(source):
        kind = match.lastgroup
        if kind == "name":
            text = match.group(kind)
            add(Token(text if previous == "." or is_keyword(text) else "V", line))
        elif kind == "op":
            text = match.group(kind)
            depth = max(0, depth + nesting(text, 0))
            add(Token(text, line))
        elif kind == "newline":
            if depth == 0 and tokens and tokens[-1].text != ";":
                add(Token(";", line))
            line += 1
            continue
        elif kind == "number":
            text = match.group(kind)
            add(Token("N", line))
        elif kind == "string":
            text = match.group(kind)
            add(Token("S", line))
            line += text.count("\n")
        else:  # a comment, a line continuation, or a stray character
            line += match.group().count("\n")
            continue
        previous = text
    if tokens and tokens[-1].text != ";":
        add(Token(";", line))
    return tokens


_NESTING = {"(": 1, "[": 1, "{": 1, ")": -1, "]": -1, "}": -1}
_QUOTE3 = '"' * 3
_TOKEN = re.compile("|".join([
    r"[ \t\f\r]*(?:(?P<comment>#[^\n]*)",
    r"(?P<string>[rRbBuUfF]{0,2}(?:'''(?:\\.|[^\\])*?'''|" + _QUOTE3 + r"(?:\\.|[^\\])*?" + _QUOTE3
    + r"|'(?:\\.|[^\\'\n])*'" + r'|"(?:\\.|[^\\"\n])*"))',
    r"(?P<number>0[xXoObB][0-9a-fA-F_]+|(?:\d[\d_]*(?:\.[\d_]*)?|\.\d[\d_]*)(?:[eE][+-]?\d[\d_]*)?[jJ]?)",
    r"(?P<name>[^\W\d]\w*)",
    r"(?P<newline>\n)",
    r"(?P<op>\*\*=|//=|>>=|<<=|->|:=|\.\.\.|[-+*/%&|^@<>=!]=|\*\*|//|<<|>>|[-+*/%&|^~@<>=.,:;()\[\]{}])",
    r"(?P<other>\\\n|.))",
]), re.DOTALL)  # blanks are skipped in front of every token, not matched on their own


def kgrams(tokens: list[Token], k: int = K) -> list[tuple[int, int, int]]:
    """(hash, first line, last line) of every run of k tokens.

    A rolling polynomial hash over a stable code per token (CRC-32 of its text): the same in every
    run (Python's own string hash is salted per process), and one step per token."""
    if len(tokens) < k:
        return []
    codes = [_code(token.text) for token in tokens]
    top = pow(_BASE, k - 1, _MODULUS)
    value = 0
    for code in codes[:k]:
        value = (value * _BASE + code) % _MODULUS
    grams = [(value, tokens[0].line, tokens[k - 1].line)]
    for start in range(1, len(codes) - k + 1):
        value = ((value - codes[start - 1] * top) * _BASE + codes[start + k - 1]) % _MODULUS
        grams.append((value, tokens[start].line, tokens[start + k - 1].line))
    return grams


_MODULUS = (1 << 61) - 1
_BASE = 1_000_003
_CODES: dict[str, int] = {}


def _code(text: str) -> int:
    code = _CODES.get(text)
    if code is None:
        code = _CODES[text] = zlib.crc32(text.encode()) + 1
    return code


def winnow(grams: list[tuple[int, int, int]], window: int = WINDOW) -> list[tuple[int, int, int]]:
    """The fingerprints: in each window of hashes the smallest (rightmost on ties), each kept once.

    A text shorter than one window keeps its smallest hash, so short regions are not lost."""
    if not grams:
        return []
    # Schleimer et al.'s robust winnowing: the window's minimum is recomputed only when it leaves
    # the window; a new hash at or below it (rightmost on ties) takes its place.
    hashes = [gram[0] for gram in grams]
    first = hashes[:window]
    smallest = len(first) - 1 - first[::-1].index(min(first))
    chosen = [grams[smallest]]
    for end in range(window, len(hashes)):
        start = end - window + 1
        if smallest < start:
            values = hashes[start:end + 1]
            smallest = end - values[::-1].index(min(values))
            chosen.append(grams[smallest])
        elif hashes[end] <= hashes[smallest]:
            smallest = end
            chosen.append(grams[smallest])
    return chosen


def region_lines(source: str) -> tuple[int, ...]:
    """Lines inside the START/END CODE HERE regions; the body after the ``def`` line when there are none,
    or when they hold no statement (a copy whose code was moved out of its markers, an empty pair of
    markers left behind, compared none of it and was left out as untouched)."""
    lines = source.split("\n")
    return _regions_with_code(lines) or tuple(range(2, len(lines) + 1))


def _regions_with_code(lines: list[str]) -> tuple[int, ...]:
    """The lines inside the START/END regions when they hold a statement, else ()."""
    inside = tuple(n for start, end in code_regions(lines) for n in range(start + 1, end))
    written = any(lines[n - 1].strip() and not lines[n - 1].strip().startswith("#") for n in inside)
    return inside if written else ()


def _placeholder_stub(function: FunctionSource) -> bool:
    """An untouched stub: its regions hold statements, mostly ``None`` placeholders (empty regions are
    compared with the whole body instead, whose course code the discount takes out)."""
    return function.looks_untouched and bool(_regions_with_code(function.source.split("\n")))


def region_tokens(source: str, lines: tuple[int, ...]) -> list[Token]:
    """The normalised tokens of ``lines`` of ``source``, read as one piece with indentation stripped
    (regions start at any depth; only they are tokenized, not the whole function). A token's line
    is its position in ``lines``, 1-based."""
    text = source.split("\n")
    return normalise("\n".join(text[number - 1].strip() for number in lines if number <= len(text)))


def function_print(name: str, source: str, discount: frozenset[int] = frozenset(),
                   helpers: tuple[str, ...] = (), memo: dict[str, list] | None = None) -> FunctionPrint:
    """The fingerprints of a graded function's regions, and of the whole of each of ``helpers`` (the
    student's own code it runs: its other definitions, statements binding its name, the functions it
    calls), appended to its source. Each helper is fingerprinted on its own, once per notebook
    (``memo``): a notebook of many helpers used by every graded function costs their size once."""
    lines = region_lines(source)
    found: dict[int, set[int]] = defaultdict(set)
    for value, first, last in winnow(kgrams(region_tokens(source, lines))):
        if value not in discount:
            found[value].update(lines[position - 1] for position in range(first, last + 1))
    offset, texts, extra = source.count("\n") + 1, [source], []
    memo = {} if memo is None else memo
    for helper in helpers:
        if helper not in memo:
            memo[helper] = winnow(kgrams(region_tokens(helper, tuple(range(1, helper.count("\n") + 2)))))
        for value, first, last in memo[helper]:
            if value not in discount:
                found[value].update(range(offset + first, offset + last + 1))
        extra.extend(range(offset + 1, offset + helper.count("\n") + 2))
        texts.append(helper)
        offset += helper.count("\n") + 1
    return FunctionPrint(name, "\n".join(texts), lines + tuple(extra),
                         {value: tuple(sorted(covered)) for value, covered in found.items()})


# --- reading notebooks and the course's own code -------------------------------------------------

def course_fingerprints(folders: list[Path]) -> frozenset[int]:
    """Every k-gram hash of every code cell of the notebooks in ``folders`` (starter code, reference).
    Each notebook's are kept for this process by the SHA-256 of its bytes (a batch reads them while it
    grades, so that its report need not)."""
    hashes: set[int] = set()
    for folder in folders:
        for path in sorted(folder.glob("*.ipynb")):
            key = notebook_key(path)
            found = _COURSE.get(key) if key is not None else None
            if found is None:
                found = _course_notebook(path)
                if key is not None and notebook_key(path) == key:  # unchanged while read
                    _COURSE[key] = found
            hashes.update(found)
    return frozenset(hashes)


_COURSE: dict[str, frozenset[int]] = {}


def _course_notebook(path: Path) -> frozenset[int]:
    try:
        notebook = read_notebook(path, max_mb=MAX_NOTEBOOK_MB)
    except GraderError:
        return frozenset()
    hashes: set[int] = set()
    for kind, text in notebook.cells:
        source = to_python(text)[0] if kind == "code" else None
        if source:
            hashes.update(value for value, _, _ in kgrams(normalise(source)))
    return frozenset(hashes)


def default_course_folders() -> list[Path]:
    """The bundled starter notebooks and, when installed, the reference solutions."""
    from .resources import assignments_dir, solutions_dir

    folders = [assignments_dir()]
    solutions = solutions_dir()
    if solutions is not None and solutions.is_dir():
        folders.append(solutions)
    return folders


GRADED = frozenset(name for spec in ASSIGNMENTS.values() for name in spec.function_names)
_NAMES = "|".join(sorted(GRADED))
#: A cell that may define a function or bind a graded name some other way: ``name = mine``,
#: ``name, _ = ...``, ``globals()["name"] = ...`` (a call such as a test's ``x = name(...)`` is not).
_READ = re.compile(r"\bdef\s|\b(?:" + _NAMES + r")\b[^\n(=]*=(?!=)|['\"](?:" + _NAMES + r")['\"]")


#: The course's helper modules a student may hand in their own copy of (rnn_utils.py, where the Adam
#: exercise lives): a graded function written there runs as the notebook's own do, so it is read too.
MODULES = tuple(sorted({name for spec in ASSIGNMENTS.values() for name in spec.helpers if name.endswith(".py")}))


def student_modules(notebook: Path) -> dict[str, Path]:
    """The helper modules that are the student's own, handed in with ``notebook``: those grading
    runs the notebook with (``pipeline.own_modules``, the same rule: their own folder, or an LMS's
    name carrying their id)."""
    from .pipeline import folder_is_own, own_modules

    return own_modules(notebook, MODULES, folder_is_own(notebook))


def _module_text(path: Path) -> str:
    """A helper module's text as Python reads it, or "" when grading does not run it.

    Python decodes a module by PEP 263 (a ``# -*- coding: ... -*-`` cookie or a BOM, else UTF-8), and
    so does this (``importlib.util.decode_source``): read as UTF-8, a copy behind a UTF-7 cookie held no
    function, though grading ran it like the original (red team). A module grading refuses (too large,
    does not compile, which covers bytes its cookie cannot decode, cannot be read:
    ``pipeline.module_problem``) is not the code grading ran: grading uses the course's copy instead."""
    from .pipeline import MAX_HELPER_BYTES, module_bytes, module_problem

    if module_problem(path):
        return ""
    try:
        data = module_bytes(path)
        if len(data) > MAX_HELPER_BYTES:  # grew since it was checked
            return ""
        return importlib.util.decode_source(data)
    except (OSError, SyntaxError, ValueError, LookupError):  # changed since it was checked
        return ""


@functools.lru_cache(maxsize=None)
def _course_module(name: str) -> str:
    """The course's copies of helper module ``name`` (starter and, when installed, reference), joined."""
    return "\n".join(_module_text(folder / name) for folder in default_course_folders())


def load_student_code(student: str, notebook: Path, discount: frozenset[int] = frozenset(),
                      max_mb: float = MAX_NOTEBOOK_MB, modules: Mapping[str, Path] | None = None) -> StudentCode:
    """The fingerprints of every graded function the notebook wrote (untouched stubs left out).

    What the student may have made the graded name run is compared, however it is written: every
    definition of it that runs with its cell (at top level or inside ``if``/``try``/``with``, so a
    decoy definition never hides the real one), every statement binding the name otherwise
    (``rnn_cell_forward = mine``; of a compound statement, its header: ``_binding_text``), and the
    whole of the student's own functions those use, and so on (``_code_used``). The student's own
    helper modules (``student_modules``, or ``modules``, decoded as Python decodes them, and only those
    grading runs: ``_module_text``) are read as cells of their own, before the notebook's, as the
    notebook imports them. Similarity needs no assignment detection: the graded names of all
    assignments differ."""
    try:
        notebook_data = read_notebook(Path(notebook), max_mb)
    except GraderError as error:
        return StudentCode(student, str(notebook), {}, error.message)
    if modules is None:
        modules = student_modules(Path(notebook))
    ordered = sorted(modules.items())
    cells = [("code", _module_text(path)) for _, path in ordered] + list(notebook_data.cells)
    code = sum(len(text) for kind, text in cells if kind == "code")
    if code > MAX_CODE_CHARS:  # as grading refuses it: reading it would cost time and memory with its size
        return StudentCode(student, str(notebook), {}, f"holds {code:,} characters of code, far more than any "
                                                       f"notebook of the course (at most {MAX_CODE_CHARS:,} are read)")
    defs: dict[str, list[FunctionSource]] = defaultdict(list)
    bindings: dict[str, dict[str, None]] = defaultdict(dict)  # name -> texts, each kept once, in order
    for position, (kind, text) in enumerate(cells, start=1 - len(modules)):  # a module's cell is 0 or less
        if kind != "code" or not _READ.search(text):
            continue
        source, tree = text, parse_cell(text)  # plain Python: parsed once
        if tree is None:  # IPython syntax in the cell: make it Python first
            source = to_python(text)[0] or ""
            tree = parse_cell(source) if source else None
            if tree is None:
                continue
        # A module's code as the course ships it is the course's, not the student's (cllm_utils.py
        # defines an rnn_forward of its own); what they changed or added is theirs.
        course = _course_module(ordered[position - 1 + len(ordered)][0]) if position <= 0 else ""
        for function in functions_in_source(source, position, tree, anywhere=True):
            if not (course and function.source in course):
                defs[function.name].append(function)
        lines = source.split("\n")
        for statement in module_statements(tree.body):
            bound = _bound_names(statement) & GRADED
            if not bound:
                continue
            text = _binding_text(statement, lines)
            if course and text in course:
                continue
            text = textwrap.dedent(text)
            for name in bound:
                bindings[name][text] = None
    uses: dict[str, list[str]] = {}
    memo: dict[str, list] = {}
    functions = {}
    for name in sorted(GRADED & (defs.keys() | bindings.keys())):
        written = [f.source for f in defs.get(name, []) if not _placeholder_stub(f)]
        others = written[:-1] + list(bindings.get(name, ()))
        if not written and not others:
            continue
        primary = written[-1] if written else ""
        helpers = tuple(others) + _code_used([primary, *others], defs, uses, exclude={primary, *others})
        functions[name] = function_print(name, primary, discount, helpers, memo)
    return StudentCode(student, str(notebook), functions)


def _binding_text(statement: ast.stmt, lines: list[str]) -> str:
    """The lines of ``statement`` that ``_bound_names`` reads: a simple statement's own, and of a
    compound one (``if``, ``for``, ``with``...) its header, from its first line up to the line before
    its first body statement (the line itself when the body follows on it), never the body, which is
    read on its own. The whole text of each level of 90 nested ``if (rnn_forward := 0):`` held every
    level below it: a 0.92 MB notebook kept gigabytes (red team). Now a line is in at most three of the
    texts kept for a name (a statement's ending on it, those on it alone, one's starting on it), as a
    text kept twice for a name (``clip = 0; clip = 0``, each the whole line) is kept once: what is kept
    is linear in the code."""
    last = statement.end_lineno or statement.lineno
    starts = [_first_line(body[0]) for field in STATEMENT_BODIES if (body := getattr(statement, field, None))]
    if starts:
        last = max(statement.lineno, min(starts) - 1)
    return "\n".join(lines[statement.lineno - 1:last])


def _first_line(node: ast.AST) -> int:
    """The first line of a statement (its decorators'), an ``except`` clause or a ``case``."""
    if isinstance(node, ast.match_case):
        node = node.pattern
    return min([node.lineno, *(decorator.lineno for decorator in getattr(node, "decorator_list", ()))])


def _bound_names(statement: ast.stmt) -> set[str]:
    """Names a statement may bind, read from the statement itself, not from the statements in its
    body (those are read on their own): assignment and loop or ``with`` targets, ``:=``, keyword
    arguments (``globals().update(x=...)``) and strings (``globals()["x"] = ...``, ``setattr``)."""
    if isinstance(statement, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
        return set()
    names = set()
    for field, value in ast.iter_fields(statement):
        if field in STATEMENT_BODIES:
            continue
        for part in value if isinstance(value, list) else [value]:
            if not isinstance(part, ast.AST):
                continue
            for node in ast.walk(part):
                if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
                    names.add(node.id)
                elif isinstance(node, ast.keyword) and node.arg:
                    names.add(node.arg)
                elif isinstance(node, ast.Constant) and isinstance(node.value, str):
                    names.add(node.value)
    return names


#: Every word of code that could name a function: identifiers, and words inside strings
#: (``globals()["impl"]``) or comments, a few more than used, never fewer.
_WORD = re.compile(r"[A-Za-z_]\w*")


def _code_used(sources: list[str], defs: dict[str, list[FunctionSource]], uses: dict[str, list[str]],
               exclude: set[str]) -> tuple[str, ...]:
    """The sources of the student's own functions that ``sources`` use, and those they use in turn,
    nearest first (graded ones excepted: they are compared under their own names). A name used is any
    word of the code (``_WORD``): a string naming a function (``globals()["impl"]``) counts, and so may
    a comment. ``uses``: each source's words, read once per notebook. Every definition of a name is
    taken, so a decoy hides none; the total is what the notebook holds, at most ``load.MAX_CODE_CHARS``."""
    found, seen, queue = [], set(exclude), list(sources)
    while queue:
        current = queue.pop(0)
        if current not in uses:
            uses[current] = list(dict.fromkeys(_WORD.findall(current)))  # in the order they appear
        for name in uses[current]:
            if name in GRADED:
                continue
            for helper in defs.get(name, ()):
                if helper.source not in seen:
                    seen.add(helper.source)
                    found.append(helper.source)
                    queue.append(helper.source)
    return tuple(found)


# --- comparing -----------------------------------------------------------------------------------

def _drop_common(students: list[StudentCode], fraction: float) -> tuple[list[StudentCode], int]:
    """Remove fingerprints that more than ``fraction`` of the students writing a function share."""
    writers: dict[str, int] = defaultdict(int)
    counts: dict[tuple[str, int], int] = defaultdict(int)
    for student in students:
        for name, function in student.functions.items():
            writers[name] += 1
            for value in function.prints:
                counts[name, value] += 1
    common = {key for key, count in counts.items()
              if writers[key[0]] >= COMMON_MIN_CLASS and count > fraction * writers[key[0]]}
    if not common:
        return students, 0
    kept = []
    for student in students:
        functions = {name: FunctionPrint(f.name, f.source, f.lines,
                                         {v: lines for v, lines in f.prints.items() if (name, v) not in common})
                     for name, f in student.functions.items()}
        kept.append(StudentCode(student.student, student.notebook, functions, student.problem))
    return kept, len(common)


def _match(name: str, a: FunctionPrint, b: FunctionPrint) -> FunctionMatch | None:
    shared = a.prints.keys() & b.prints.keys()
    if not shared:
        return None
    union = len(a.prints) + len(b.prints) - len(shared)
    lines_a = sorted({line for value in shared for line in a.prints[value]})
    lines_b = sorted({line for value in shared for line in b.prints[value]})
    return FunctionMatch(name, len(shared), len(shared) / union, len(shared) / min(len(a.prints), len(b.prints)),
                         tuple(lines_a), tuple(lines_b))


#: A function whose fingerprints lie almost all inside the other's is close whatever its Jaccard:
#: padding a copy with code of one's own (a long dead helper) lowers Jaccard, never containment. On
#: the 123 corpus notebooks no function pair reaches it below the Jaccard threshold.
CONTAINMENT = 0.9


def _close(jaccard: float, containment: float, threshold: float) -> bool:
    """One function's match, or a pair's graded code as a whole, is close enough to flag."""
    return jaccard >= threshold or containment >= max(threshold, CONTAINMENT)


def compare(students: list[StudentCode], *, threshold: float = DEFAULT_THRESHOLD,
            min_shared: int = DEFAULT_MIN_SHARED, common_fraction: float = COMMON_FRACTION,
            discounted: int = 0) -> SimilarityResult:
    """Every pair that shares fingerprints is scored; those at the threshold are returned.

    Candidate pairs come from an inverted index (fingerprint -> students), so pairs with nothing in
    common cost nothing."""
    students, common = _drop_common(students, common_fraction)
    index: dict[tuple[str, int], list[int]] = defaultdict(list)
    for number, student in enumerate(students):
        for name, function in student.functions.items():
            for value in function.prints:
                index[name, value].append(number)
    candidates: set[tuple[int, int]] = set()
    for holders in index.values():
        candidates.update(combinations(holders, 2))
    pairs = []
    for i, j in sorted(candidates):
        a, b = students[i], students[j]
        matches = [m for name in a.functions.keys() & b.functions.keys()
                   if (m := _match(name, a.functions[name], b.functions[name])) is not None]
        both = a.functions.keys() & b.functions.keys()
        shared = sum(m.shared for m in matches)
        union = sum(len(a.functions[n].prints) + len(b.functions[n].prints) for n in both) - shared
        overall = shared / union if union else 0.0
        smaller = min(sum(len(a.functions[n].prints) for n in both), sum(len(b.functions[n].prints) for n in both))
        contained = shared / smaller if smaller else 0.0
        one_function = any(_close(m.jaccard, m.containment, threshold) and m.shared >= min_shared for m in matches)
        if not one_function and not (_close(overall, contained, threshold) and shared >= min_shared):
            continue
        matches.sort(key=lambda m: (-m.jaccard, m.name))
        # fragments worth reading: a function that shares one fingerprint says little on its own
        close = [m for m in matches if _close(m.jaccard, m.containment, threshold)]
        flagged = tuple(m.name for m in close if m.shared >= max(2, min_shared // 2)) or tuple(m.name for m in close)
        pairs.append(Pair(a, b, overall, tuple(matches), flagged))
    pairs.sort(key=lambda p: (-len(p.flagged), -p.jaccard, p.a.student, p.b.student))
    return SimilarityResult(tuple(students), tuple(pairs), threshold, min_shared, discounted, common)


#: A notebook that holds, by containment only, the code of this many classmates or more is the one to
#: read: one notebook carrying many solutions (the public ones, say) contains every classmate who wrote
#: one of them, and those classmates did nothing but write it.
HUB = 3


def _containing_side(pair: Pair, threshold: float) -> tuple[str, str] | None:
    """(container, contained) of a pair flagged by containment alone (no flagged function, and not the
    pair as a whole, reaches the Jaccard threshold), else None: the side with more fingerprints in
    the flagged functions holds the other's."""
    if pair.jaccard >= threshold or any(m.jaccard >= threshold for m in pair.matches if m.name in pair.flagged):
        return None
    size_a = sum(len(pair.a.functions[name].prints) for name in pair.flagged)
    size_b = sum(len(pair.b.functions[name].prints) for name in pair.flagged)
    return (pair.a.student, pair.b.student) if size_a >= size_b else (pair.b.student, pair.a.student)


def resemblance(result: SimilarityResult) -> dict[str, list[str]]:
    """Student -> the classmates they resemble, for the list of notebooks a human should open. A
    pair counts both ways, except a pair flagged by containment alone whose container holds at
    least ``HUB`` classmates that way: then only the container is listed (with all of them), not
    each classmate it contains. Every pair stays in the pairs table either way."""
    sides = [(pair, _containing_side(pair, result.threshold)) for pair in result.pairs]
    held: dict[str, int] = defaultdict(int)
    for _, side in sides:
        if side is not None:
            held[side[0]] += 1
    links: dict[str, list[str]] = defaultdict(list)
    for pair, side in sides:
        if side is not None and held[side[0]] >= HUB:
            links[side[0]].append(side[1])
        else:
            links[pair.a.student].append(pair.b.student)
            links[pair.b.student].append(pair.a.student)
    return dict(links)


# --- prints kept from grading --------------------------------------------------------------------

def notebook_key(notebook: Path, modules: Mapping[str, Path] | None = None) -> str | None:
    """What a print of this notebook is kept under: the version of the fingerprinting code and the
    SHA-256 of the notebook's bytes as they are now, and of the student's own helper ``modules``
    read with it; None for anything but a regular file of at most ``MAX_NOTEBOOK_MB``
    (``read_notebook`` then says why, when it is fingerprinted the ordinary way)."""
    try:
        info = os.lstat(notebook)
        if not stat.S_ISREG(info.st_mode) or not 0 < info.st_size <= MAX_NOTEBOOK_MB * 1024 * 1024:
            return None
        with open(notebook, "rb") as handle:
            digest = hashlib.sha256(handle.read())
    except OSError:
        return None
    for name, path in sorted((modules or {}).items()):
        text = _module_text(path).encode()
        digest.update(b"\0" + name.encode() + b"\0" + len(text).to_bytes(8, "little") + text)
    return f"{_code_version()}:{digest.hexdigest()}"


@functools.lru_cache(maxsize=None)
def _code_version() -> str:
    """The version of the fingerprinting: PRINTS_FORMAT and the hash of the grader's code (as in every
    result's fingerprint), so a print made by other code than this is never used."""
    from .fingerprint import grader_identity  # cached once per process

    return f"{PRINTS_FORMAT}-{K}-{WINDOW}-{grader_identity()[1]}"


def prints_of(notebook: Path) -> tuple[str, dict[str, FunctionPrint]] | None:
    """(``notebook_key``, the graded functions' prints, nothing discounted) of a notebook that could
    be read, or None. Our own code reading the student's bytes, as ``load_student_code`` always did:
    no student code runs. The key is taken before and after reading: a notebook that changed
    meanwhile gets no print (it is fingerprinted when the report is written)."""
    modules = student_modules(notebook)
    key = notebook_key(notebook, modules)
    if key is None:
        return None
    code = load_student_code("", notebook, modules=modules)
    if code.problem or notebook_key(notebook, modules) != key:
        return None
    return key, code.functions


def _discounted(function: FunctionPrint, discount: frozenset[int]) -> FunctionPrint:
    """``function`` less the ``discount`` hashes: what ``function_print`` gives with that discount, as
    each fingerprint's lines come from its own k-grams only."""
    if not discount:
        return function
    return FunctionPrint(function.name, function.source, function.lines,
                         {value: lines for value, lines in function.prints.items() if value not in discount})


def _student_code(student: str, notebook: Path | str, discount: frozenset[int],
                  known: Mapping[str, dict[str, FunctionPrint]]) -> StudentCode:
    modules = student_modules(Path(notebook))
    key = notebook_key(Path(notebook), modules) if known else None
    functions = known.get(key) if key is not None else None
    if functions is None:
        return load_student_code(student, notebook, discount, modules=modules)
    return StudentCode(student, str(notebook), {name: _discounted(f, discount) for name, f in functions.items()})


def similarity(notebooks: list[tuple[str, Path]], *, threshold: float = DEFAULT_THRESHOLD,
               min_shared: int = DEFAULT_MIN_SHARED, course_folders: list[Path] | None = None,
               known: Mapping[str, dict[str, FunctionPrint]] | None = None) -> SimilarityResult:
    """Read every (student, notebook), discount the course's own code, and compare all pairs.
    ``known``: prints made while grading (``prints_of``), by ``notebook_key``; a notebook whose
    current bytes have none is read and fingerprinted here."""
    discount = course_fingerprints(default_course_folders() if course_folders is None else course_folders)
    students = [_student_code(student, path, discount, known or {}) for student, path in notebooks]
    return compare(students, threshold=threshold, min_shared=min_shared, discounted=len(discount))
