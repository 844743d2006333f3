"""Pairwise similarity of what students wrote: evidence for a human to weigh, never a verdict.

Only the code between ``### START CODE HERE ###`` and ``### END CODE HERE ###`` of each graded
function is compared (the whole body when a student removed the markers), because everything else
in a notebook is the course's own text. The method is winnowing (Schleimer, Wilkerson and Aiken,
"Winnowing: local algorithms for document fingerprinting", SIGMOD 2003, the algorithm behind MOSS):

1. Tokens are normalised with Python's ``tokenize``: comments and blank lines dropped, every
   identifier becomes ``V`` (renamed variables change nothing), every literal ``N`` or ``S``;
   keywords, operators and attribute names (``np.tanh``) are kept, as renaming a variable never
   changes them and they tell independent solutions apart.
2. Every run of ``K`` consecutive tokens is hashed; in every window of ``WINDOW`` consecutive hashes
   the smallest is kept. Two copies of a stretch of at least ``K + WINDOW - 1`` tokens always share
   a fingerprint, wherever the stretch moved to (reordered statements keep their own fingerprints).
3. Fingerprints of the course's own code are discounted: any k-gram found in ``assignments/`` (the
   starter code) or ``solutions/`` (the reference) is removed, so template code and the textbook
   answer do not make everyone look alike. So are fingerprints shared by more than
   ``common_fraction`` of a large class (MOSS does the same: what half the class writes is the
   obvious way to write it). Functions still holding the starter placeholders are left out.
4. Per pair and per function: Jaccard (shared / union of the two fingerprint sets) and containment
   (shared / the smaller set). A pair is flagged when one function, or all their functions together,
   reach the threshold with at least ``min_shared`` fingerprints in common (regions are short, and
   what is left once the course's code is discounted shorter still: a whole-notebook copy may share
   only a few fingerprints per function).

Pure functions apart from ``load_student_code`` and ``course_fingerprints`` (which read files).
"""
from __future__ import annotations

import hashlib
import io
import keyword
import tokenize
from collections import defaultdict
from dataclasses import dataclass
from itertools import combinations
from pathlib import Path

from .errors import GraderError
from .load import code_regions, load_submission

K = 5
"""Tokens per k-gram: shorter runs are too common to mean anything."""
WINDOW = 4
"""Hashes per winnowing window: any shared run of K + WINDOW - 1 = 8 tokens is always detected."""
DEFAULT_THRESHOLD = 0.5
DEFAULT_MIN_SHARED = 6
COMMON_FRACTION = 0.2
COMMON_MIN_CLASS = 20
"""The common-fingerprint filter only applies to classes at least this large."""

_DROPPED = {tokenize.COMMENT, tokenize.NL, tokenize.INDENT, tokenize.DEDENT, tokenize.ENCODING, tokenize.ENDMARKER}
_STRING_PARTS = {getattr(tokenize, name) for name in ("FSTRING_MIDDLE", "FSTRING_END") if hasattr(tokenize, name)}
_STRING_START = getattr(tokenize, "FSTRING_START", None)


@dataclass(frozen=True)
class Token:
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

def normalise(source: str, lines: set[int] | None = None) -> list[Token]:
    """The normalised tokens of ``source`` (only those starting on ``lines`` when given).

    A source that does not tokenize to the end (an unfinished string) gives the tokens before it."""
    tokens: list[Token] = []
    previous = ""
    try:
        for token in tokenize.generate_tokens(io.StringIO(source).readline):
            kind, text, line = token.type, token.string, token.start[0]
            if kind in _DROPPED or kind in _STRING_PARTS:
                continue
            if kind == tokenize.NAME:
                normal = text if keyword.iskeyword(text) or previous == "." else "V"
            elif kind == tokenize.NUMBER:
                normal = "N"
            elif kind == tokenize.STRING or kind == _STRING_START:
                normal = "S"
            elif kind == tokenize.NEWLINE:
                normal = ";"
            else:
                normal = text
            previous = text
            if lines is None or line in lines:
                tokens.append(Token(normal, line))
    except (tokenize.TokenError, SyntaxError):
        pass
    return tokens


def kgrams(tokens: list[Token], k: int = K) -> list[tuple[int, int, int]]:
    """(hash, first line, last line) of every run of k tokens."""
    return [(_hash(" ".join(t.text for t in tokens[i:i + k])), tokens[i].line, tokens[i + k - 1].line)
            for i in range(len(tokens) - k + 1)]


def _hash(text: str) -> int:
    # Stable across runs (Python's own str hash is salted per process): the same class gives the same report.
    return int.from_bytes(hashlib.blake2b(text.encode(), digest_size=8).digest(), "big")


def winnow(grams: list[tuple[int, int, int]], window: int = WINDOW) -> list[tuple[int, int, int]]:
    """The fingerprints: in each window of hashes the smallest (rightmost on ties), each kept once.

    A text shorter than one window keeps its smallest hash, so short regions are not lost."""
    if not grams:
        return []
    if len(grams) <= window:
        return [min(grams, key=lambda g: g[0])]
    chosen: list[tuple[int, int, int]] = []
    last = -1
    for start in range(len(grams) - window + 1):
        position = min(range(start, start + window), key=lambda i: (grams[i][0], -i))
        if position != last:
            chosen.append(grams[position])
            last = position
    return chosen


def region_lines(source: str) -> tuple[int, ...]:
    """Lines inside the START/END CODE HERE regions; the body after the ``def`` line when there are none."""
    lines = source.split("\n")
    regions = code_regions(lines)
    if regions:
        return tuple(n for start, end in regions for n in range(start + 1, end))
    return tuple(range(2, len(lines) + 1))


def function_print(name: str, source: str, discount: frozenset[int] = frozenset()) -> FunctionPrint:
    lines = region_lines(source)
    found: dict[int, set[int]] = defaultdict(set)
    for value, first, last in winnow(kgrams(normalise(source, set(lines)))):
        if value not in discount:
            found[value].update(range(first, last + 1))
    return FunctionPrint(name, source, lines, {value: tuple(sorted(covered)) for value, covered in found.items()})


# --- reading notebooks and the course's own code -------------------------------------------------

def course_fingerprints(folders: list[Path]) -> frozenset[int]:
    """Every k-gram hash of every code cell of the notebooks in ``folders`` (starter code, reference)."""
    from .load import read_notebook, to_python

    hashes: set[int] = set()
    for folder in folders:
        for path in sorted(folder.glob("*.ipynb")):
            try:
                notebook = read_notebook(path, max_mb=50)
            except GraderError:
                continue
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


def load_student_code(student: str, notebook: Path, discount: frozenset[int] = frozenset(),
                      max_mb: float = 50) -> StudentCode:
    """The fingerprints of every graded function the notebook wrote (untouched stubs left out)."""
    try:
        submission = load_submission(Path(notebook), max_mb)
    except GraderError as error:
        return StudentCode(student, str(notebook), {}, error.message)
    functions = {}
    for name in submission.assignment.function_names:
        found = submission.functions.get(name)
        if found is not None and not found.looks_untouched:
            functions[name] = function_print(name, found.source, discount)
    return StudentCode(student, str(notebook), functions)


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
        one_function = any(m.jaccard >= threshold and m.shared >= min_shared for m in matches)
        if not one_function and not (overall >= threshold and shared >= min_shared):
            continue
        matches.sort(key=lambda m: (-m.jaccard, m.name))
        flagged = tuple(m.name for m in matches if m.jaccard >= threshold)
        pairs.append(Pair(a, b, overall, tuple(matches), flagged))
    pairs.sort(key=lambda p: (-len(p.flagged), -p.jaccard, p.a.student, p.b.student))
    return SimilarityResult(tuple(students), tuple(pairs), threshold, min_shared, discounted, common)


def similarity(notebooks: list[tuple[str, Path]], *, threshold: float = DEFAULT_THRESHOLD,
               min_shared: int = DEFAULT_MIN_SHARED, course_folders: list[Path] | None = None) -> SimilarityResult:
    """Read every (student, notebook), discount the course's own code, and compare all pairs."""
    discount = course_fingerprints(default_course_folders() if course_folders is None else course_folders)
    students = [load_student_code(student, path, discount) for student, path in notebooks]
    return compare(students, threshold=threshold, min_shared=min_shared, discounted=len(discount))
