"""Stage 1: read a notebook defensively and turn it into a ``Submission`` (no student code runs).

- The file must be a regular file (not a folder, not a symbolic link), below the size cap,
  UTF-8 (a BOM is fine) and JSON; nbformat reads v3 and v4 and upgrades to v4.
- IPython syntax becomes plain Python: line magics and shell escapes (``!pip install``,
  ``files = !ls``) become no-ops and are never executed; ``%%time``-style cell magics run their
  body; other cell magics (``%%bash``, ``%%writefile``) skip the cell.
- Cells that call the assignment's long demos at top level (``model(...)``, 35,000 training
  iterations) are not run: grading calls the functions itself, so the score cannot depend on them.
- The assignment is recognised from the graded functions a notebook defines (markers, function
  names, file name), and the course version from the details that tell versions apart.
"""
from __future__ import annotations

import ast
import json
import os
import re
import stat
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Iterator

from .course import ASSIGNMENTS, AssignmentSpec, get_assignment
from .errors import NotebookError, UnknownAssignment

SAFE_CELL_MAGICS = {"time", "timeit", "capture", "prun", "memit"}
START_MARK = "### START CODE HERE"
END_MARK = "### END CODE HERE"


def code_regions(lines: list[str]) -> list[tuple[int, int]]:
    """(start, end) line numbers (1-based, exclusive of the markers) of every START/END region."""
    regions, start = [], None
    for number, line in enumerate(lines, start=1):
        text = line.strip()
        if text.startswith(START_MARK) or text.startswith("#### START CODE HERE"):
            start = number
        elif (text.startswith(END_MARK) or text.startswith("#### END CODE HERE")) and start is not None:
            regions.append((start, number))
            start = None
    return regions



@dataclass(frozen=True)
class CodeCell:
    index: int
    """Position of the cell in the notebook, 1-based, counting every cell."""
    source: str
    """What the worker runs (IPython syntax replaced, demo calls skipped)."""
    notes: tuple[str, ...] = ()
    refused: str = ""
    """Why the cell is not run at all (the parser cannot read it); empty when it runs."""


@dataclass(frozen=True)
class FunctionSource:
    name: str
    cell: int
    """The defining cell's position, 1-based, counting every cell (as ``CodeCell.index``); 0: a helper module."""
    source: str
    looks_untouched: bool
    """Its START/END CODE HERE regions still hold mostly ``None`` placeholders."""


@dataclass(frozen=True)
class Submission:
    path: Path
    assignment: AssignmentSpec
    course_version: str | None
    cells: tuple[CodeCell, ...]
    functions: dict[str, FunctionSource]
    """The last top-level definition of every name defined in the notebook."""
    warnings: tuple[str, ...] = ()
    markdown: str = ""
    """The notebook's markdown cells joined: what its published version printed as expected output
    (a judge may accept a published erratum the notebook shows, see run_cases.published_erratum)."""

    @property
    def defined_names(self) -> list[str]:
        """Names the student's notebook itself defines (not the helper modules' functions that
        ``pipeline.with_helper_functions`` adds with cell 0): "did you mean" suggests only these."""
        return [name for name, function in self.functions.items() if function.cell > 0]


def read_notebook(path: Path, max_mb: float) -> "Notebook":
    """The notebook at ``path``, upgraded to v4, or a NotebookError saying what is wrong."""
    try:
        info = os.lstat(path)
    except FileNotFoundError:
        raise NotebookError(f"{path}: no such file") from None
    except OSError as error:
        raise NotebookError(f"{path}: cannot be read ({error.strerror})") from None
    if stat.S_ISLNK(info.st_mode):
        raise NotebookError(f"{path}: is a symbolic link, not a regular file; it was not read")
    if stat.S_ISDIR(info.st_mode):
        raise NotebookError(f"{path}: is a folder, not a notebook file")
    if not stat.S_ISREG(info.st_mode):
        raise NotebookError(f"{path}: is not a regular file")
    if info.st_size == 0:
        raise NotebookError(f"{path}: is an empty file (0 bytes), not a notebook")
    if info.st_size > max_mb * 1024 * 1024:
        raise NotebookError(f"{path}: is {info.st_size / 1024 / 1024:.0f} MB, above the {max_mb:g} MB limit "
                            f"(clear the outputs in Jupyter, or raise --max-notebook-mb)")
    try:
        with open(path, "rb") as handle:
            data = handle.read()
    except OSError as error:
        raise NotebookError(f"{path}: cannot be read ({error.strerror})") from None
    if data.startswith(b"\xef\xbb\xbf"):
        data = data[3:]
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as error:
        raise NotebookError(f"{path}: is not UTF-8 text (invalid byte at position {error.start}); "
                            f"save it again from Jupyter") from None
    limit = int(max_mb * VALUES_PER_MB)
    if len(text) >= limit:  # a shorter text cannot hold more values (each takes a character at least)
        values = json_values(text)
        if values > limit:
            raise NotebookError(f"{path}: holds about {values:,} JSON values (lists, numbers and the like), far more "
                                f"than a notebook of its size (at most {limit:,} are read): hand in the "
                                "assignment's notebook itself, with its outputs cleared")
    try:
        raw = json.loads(text)
    except json.JSONDecodeError as error:
        raise NotebookError(f"{path}: is not a valid notebook: JSON parse error at line {error.lineno}, "
                            f"column {error.colno} ({error.msg}); the file may be truncated or not a notebook") from None
    except RecursionError:
        raise NotebookError(f"{path}: is not a valid notebook: its JSON is nested too deeply to read (a "
                            "notebook's is a few levels deep)") from None
    if not isinstance(raw, dict) or not ("cells" in raw or "worksheets" in raw):
        raise NotebookError(f"{path}: is JSON but not a Jupyter notebook (it has no cells)")
    cells = _cell_count(raw)
    if cells > MAX_CELLS:  # before nbformat's conversion, which took minutes and GBs on 200,000 cells
        raise NotebookError(f"{path}: has {cells} cells, far more than any notebook of the course (at most "
                            f"{MAX_CELLS} are read): hand in the assignment's notebook itself")
    if raw.get("nbformat") == 4 or ("cells" in raw and "worksheets" not in raw):
        notebook = _plain_notebook(raw)  # the common case, read without nbformat's schema machinery
        if notebook is not None:
            return notebook
    try:
        import nbformat  # only for older formats: its import is slow

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            converted = nbformat.reads(text, as_version=4)
        notebook = _plain_notebook(json.loads(nbformat.writes(converted)))
    except Exception as error:  # nbformat raises many kinds on odd structures
        raise NotebookError(f"{path}: is not a readable Jupyter notebook "
                            f"({type(error).__name__}: {str(error)[:160]})") from None
    if notebook is None:
        raise NotebookError(f"{path}: is not a readable Jupyter notebook (no list of cells)")
    return notebook


#: Cells read from one notebook: the course's have a few hundred at most.
MAX_CELLS = 10_000
#: JSON values read per MB of the size limit (--max-notebook-mb). Parsing builds an object per value:
#: 46 MB of empty lists (23 million) took 1.3 GB. Real notebooks hold ~20,000 per MB, so at the
#: default 50 MB limit a notebook may hold 4 million, about 250 MB once parsed at the very worst.
VALUES_PER_MB = 80_000
#: A JSON string, escapes included; possessive, so a long one is matched without backtracking state.
_JSON_STRING = re.compile(r'"(?:[^"\\]++|\\.)*+"', re.DOTALL)


def json_values(text: str) -> int:
    """About how many values (arrays, objects, and the elements and members in them) parsing the
    JSON ``text`` builds, never fewer, counted in linear time without parsing: the commas and opening
    brackets outside strings (a bracket or comma inside a string, escaped quotes included, is not
    counted)."""
    outside = _JSON_STRING.sub("", text)
    return outside.count(",") + outside.count("[") + outside.count("{") + 1


def _cell_count(raw: dict) -> int:
    """Cells of a v4 notebook, or of every worksheet of an older one."""
    if isinstance(raw.get("cells"), list):
        return len(raw["cells"])
    sheets = raw.get("worksheets")
    if not isinstance(sheets, list):
        return 0
    return sum(len(sheet["cells"]) for sheet in sheets if isinstance(sheet, dict) and isinstance(sheet.get("cells"), list))


@dataclass(frozen=True)
class Notebook:
    """What grading needs of a notebook: its cells (kind, source text) and its metadata."""

    cells: tuple[tuple[str, str], ...]
    metadata: dict


def _plain_notebook(raw: dict) -> Notebook | None:
    """Cells and metadata of a v4-shaped notebook, tolerating odd metadata, ids and cell types."""
    cells = raw.get("cells")
    if not isinstance(cells, list):
        return None
    plain = []
    for cell in cells:
        if not isinstance(cell, dict):
            continue
        source = cell.get("source", "")
        source = "".join(str(part) for part in source) if isinstance(source, list) else str(source)
        plain.append((str(cell.get("cell_type", "")), source))
    metadata = raw.get("metadata") if isinstance(raw.get("metadata"), dict) else {}
    return Notebook(tuple(plain), metadata)


# --- IPython syntax ----------------------------------------------------------------------------

#: Why a cell the parser cannot read is not run (the worker's compile would fail the same way).
TOO_DEEP = ("too long or too deeply nested for Python's parser to read, so it was not run: "
            "split it into smaller statements")
#: Characters of one code cell (or helper module) the grader parses. Python's parser takes up to ~900
#: bytes of memory per character (3 MB of "a;" took 2.7 GB); the course's cells have a few thousand.
MAX_CELL_CHARS = 100_000
#: Why a longer cell is not run.
TOO_LONG = (f"longer than the grader reads ({MAX_CELL_CHARS:,} characters, where the course's cells have a few "
            "thousand), so it was not run: split it into smaller cells")
#: Characters of code in one notebook, all cells together: the course's notebooks have ~30,000.
MAX_CODE_CHARS = 1_000_000


def parse_or_reason(source: str) -> ast.Module | str:
    """``source`` parsed, or why not: "syntax" (a syntax error, or a NUL byte), ``TOO_DEEP`` or
    ``TOO_LONG``. Student text may be too deep for the parser: a 300,000-term sum raises
    RecursionError, a 300,000-deep unary chain MemoryError; to the grader that is a cell that does not
    parse, never a crash. Text longer than MAX_CELL_CHARS is not parsed at all (memory)."""
    if len(source) > MAX_CELL_CHARS:
        return TOO_LONG
    try:
        return ast.parse(source)
    except (SyntaxError, ValueError):
        return "syntax"
    except (RecursionError, MemoryError):
        return TOO_DEEP


def parse_cell(source: str) -> ast.Module | None:
    """``source`` parsed, or None when it does not parse (see ``parse_or_reason``). Every parse of
    student text goes through here."""
    tree = parse_or_reason(source)
    return tree if isinstance(tree, ast.Module) else None


#: What may stand left of ``= !command``: names, commas, brackets, attributes. Matched alone, with no
#: neighbour to share its characters with: overlapping runs of spaces cost time cubic in a line's
#: length (a student's line of 25,000 spaces held the grader for hours, before any deadline exists).
_SHELL_TARGETS = re.compile(r"[\w\s,\[\]().]+")
_MAGIC_LINE = re.compile(r"^(\s*)[!%].*$")
_HELP_LINE = re.compile(r"^(\s*)[\w.]+\?\??\s*$")


def _shell_assignment(line: str) -> tuple[str, str] | None:
    """(indent, targets) of a line ``targets = !command`` (or ``= %magic``), else None: the first
    ``=`` splits it, in time linear in the line's length."""
    head, equals, tail = line.partition("=")
    if not equals or not tail.lstrip().startswith(("!", "%")):
        return None
    targets = head.strip()
    if not targets or not _SHELL_TARGETS.fullmatch(targets):
        return None
    return head[:len(head) - len(head.lstrip())], targets


def to_python(source: str) -> tuple[str | None, list[str]]:
    """Plain Python for a cell's source, or None when the cell must not run at all."""
    if parse_cell(source) is not None:
        return source, []
    lines = source.split("\n")
    first = next((line.strip() for line in lines if line.strip()), "")
    notes = []
    if first.startswith("%%"):
        magic = first[2:].split()[0] if first[2:].split() else ""
        if magic not in SAFE_CELL_MAGICS:
            return None, [f"cell magic %%{magic} not run"]
        position = next(n for n, line in enumerate(lines) if line.strip())
        lines[position] = ""
    out = []
    for line in lines:
        if (assigned := _shell_assignment(line)) and not line.strip().startswith(("#", "!", "%")):
            out.append(f"{assigned[0]}{assigned[1]} = []")
            notes.append("shell escape not run")
        elif match := _MAGIC_LINE.match(line):
            out.append(f"{match.group(1)}pass")
            notes.append("shell escape not run" if line.strip().startswith("!") else "magic ignored")
        elif match := _HELP_LINE.match(line):
            out.append(f"{match.group(1)}pass")
        else:
            out.append(line)
    return "\n".join(out), sorted(set(notes))


# --- what the notebook defines ----------------------------------------------------------------

def _looks_untouched(function_source: str) -> bool:
    lines = function_source.splitlines()
    regions = code_regions(lines)
    if not regions:
        return False
    statements = [line for start, end in regions for line in lines[start:end - 1]
                  if line.strip() and not line.strip().startswith("#")]
    if not statements:
        return True
    with_none = sum("None" in line for line in statements)
    return with_none * 2 >= len(statements)


def module_statements(nodes: Iterable[ast.AST]) -> Iterator[ast.stmt]:
    """The statements that run when a cell runs, in order: those at top level and inside compound
    statements (``if True:``, ``try:``, ``with``, loops), not those inside a function or class body."""
    for node in nodes:
        if isinstance(node, ast.stmt):
            yield node
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                continue
        for field in STATEMENT_BODIES:  # only statements hold statements: expressions are not walked
            yield from module_statements(getattr(node, field, None) or ())


#: The fields of compound statements (and of ``except`` and ``case`` clauses) that hold statements.
STATEMENT_BODIES = ("body", "orelse", "finalbody", "handlers", "cases")


def functions_in_source(source: str, cell: int, tree: ast.Module | None = None,
                        anywhere: bool = False) -> list[FunctionSource]:
    """The top-level functions and classes a piece of code defines (the last definition of a name
    wins); ``anywhere``: also those inside compound statements (``if True:``, ``try:``), in order
    (``module_statements``)."""
    if tree is None:
        tree = parse_cell(source)
        if tree is None:
            return []
    found = []
    lines = source.split("\n")
    nodes = module_statements(tree.body) if anywhere else tree.body
    for node in nodes:
        if isinstance(node, (ast.FunctionDef, ast.ClassDef)):  # graded items may be classes
            first = min([node.lineno] + [decorator.lineno for decorator in node.decorator_list]) if anywhere \
                else node.lineno  # a decorator may replace the function with code of its own
            text = "\n".join(lines[first - 1:node.end_lineno])
            found.append(FunctionSource(node.name, cell, text, _looks_untouched(text)))
    return found


def _top_level_calls(tree: ast.Module, source: str, watched: frozenset[str]) -> frozenset[str]:
    """The names of ``watched`` a cell calls at top level (not inside a definition): a call of a
    long demo (``AssignmentSpec.skip_calls``) keeps the cell from being run. A cell whose text
    holds none of those words calls none of them, and is not walked (walking every cell's tree
    was a tenth of a batch's grading CPU)."""
    if not any(re.search(rf"\b{re.escape(name)}\b", source) for name in watched):
        return frozenset()
    called = set()
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef, ast.Import, ast.ImportFrom)):
            continue
        called.update(n.func.id for n in ast.walk(node) if isinstance(n, ast.Call) and isinstance(n.func, ast.Name))
    return frozenset(called & watched)


#: A graded marker comment. A match begins only at the first ``#`` of a run, and the run is taken
#: whole (possessive): a line of 40,000 ``#`` took 46 s when every ``#`` of it was tried as a start.
_GRADED_MARKER = re.compile(r"(?<!#)#++\s*+(?:UN)?GRADED (?:FUNCTION|CLASS):\s*+(\w+)")


def _graded_markers(source: str) -> list[str]:
    return _GRADED_MARKER.findall(source)


def defined_and_marked(code: list[str]) -> tuple[set[str], set[str]]:
    """The names code cells define at top level (functions, classes) and those their graded markers name."""
    defined = {name for text in code for name in re.findall(r"^(?:def|class)\s+(\w+)\s*[(:]", text, re.MULTILINE)}
    return defined, {name for text in code for name in _graded_markers(text)}


def assignment_scores(defined: set[str], markers: set[str]) -> dict[str, int]:
    """How many graded functions of each assignment a notebook defines or marks."""
    return {name: len(set(spec.required_names()) & (defined | markers)) for name, spec in ASSIGNMENTS.items()}


#: The start of the reason a notebook of another assignment is not graded (batch.py counts them).
WRONG_ASSIGNMENT = "wrong assignment"


def detect_assignment(path: Path, defined: set[str], markers: set[str], metadata: dict) -> AssignmentSpec:
    """The assignment whose graded functions the notebook defines. The notebook's metadata and file
    name are hints that only break a tie: a student can write them, so they never override the code."""
    scores = assignment_scores(defined, markers)
    best = max(scores.values())
    candidates = [name for name, score in scores.items() if score == best]
    if best > 0 and len(candidates) == 1:
        return ASSIGNMENTS[candidates[0]]
    tagged = (metadata.get("grader") or {}).get("assignment") if isinstance(metadata.get("grader"), dict) else None
    if tagged in candidates:
        return ASSIGNMENTS[tagged]
    filename = path.name.lower()
    for name in candidates:
        if any(word in filename for word in ASSIGNMENTS[name].title_words):
            return ASSIGNMENTS[name]
    known = "; ".join(f"{spec.name} ({', '.join(spec.required_names())})" for spec in ASSIGNMENTS.values())
    raise UnknownAssignment(f"{path}: cannot tell which assignment this is: it defines none of the graded "
                            f"functions of {known}. Use --assignment NAME.")


def check_assignment(path: Path, wanted: AssignmentSpec, defined: set[str], markers: set[str]) -> None:
    """Refuse a notebook that is plainly another assignment than the one being graded (it defines
    more of that one's graded functions): it is never graded against the one it claims to be."""
    scores = assignment_scores(defined, markers)
    other = max(scores, key=lambda name: scores[name])
    if scores[other] > scores[wanted.name]:
        raise UnknownAssignment(f"{WRONG_ASSIGNMENT}: {path} is {other} (it defines "
                                f"{', '.join(sorted(set(ASSIGNMENTS[other].required_names()) & (defined | markers)))}), "
                                f"not {wanted.name}; it was not graded. Grade it with --assignment {other}.")


def scan_assignment(path: Path, max_mb: float) -> str | None:
    """The assignment a notebook is, for choosing a batch's assignment before grading; None when it
    cannot be read or told. Cheap: no IPython conversion, only the function definitions it holds."""
    try:
        nb = read_notebook(path, max_mb)
    except NotebookError:
        return None
    code = [text for kind, text in nb.cells if kind == "code"]
    defined, markers = defined_and_marked(code)
    try:
        return detect_assignment(path, defined, markers, nb.metadata).name
    except UnknownAssignment:
        return None


def detect_version(assignment: AssignmentSpec, path: Path, sources: list[str], metadata: dict,
                   markdown: str = "") -> str | None:
    """The published version of the course a notebook is: what its file name or "Updates" markdown
    says, weighed by its assignment's clues in the code. A metadata tag is a hint from the
    assignment's fixed list of versions; what reaches a report never is free text."""
    tag = metadata.get("grader")
    if isinstance(tag, dict) and tag.get("version") in assignment.versions:
        return str(tag["version"])
    name = path.name.lower()
    named = None
    match = re.search(r"v(3a|3b|[1-4])(?![0-9])", name)
    # v3a and v3b say so in their "Updates" markdown
    updates = re.search(r"(?:updates for|current notebook is version)\W*(3a|3b)", markdown, re.IGNORECASE)
    if "learners" in name:
        named = "pre-v3 (learners)"
    elif match:
        named = "v" + match.group(1)
    elif updates:
        named = "v" + updates.group(1).lower()
    found = assignment.version_clues("\n".join(sources), named) if assignment.version_clues else named
    return found if found in assignment.versions else None


#: ``--course-version detect``: each notebook's own version, whatever a batch kept (batch.class_version).
DETECT_VERSION = "detect"


def published_versions() -> set[str]:
    """Every course version an assignment knows (what ``--course-version`` may name, besides detect)."""
    return {version for spec in ASSIGNMENTS.values() for version in spec.versions}


def settle_version(spec: AssignmentSpec, detected: str | None, pinned: str | None) -> tuple[str | None, list[str]]:
    """The version a notebook is graded as, and a note when the class's pinned version (the TA's
    --course-version) is not what the notebook itself looks like. The notebook's claim is all in the
    student's hands (its file name, metadata, markdown): a pinned version always wins."""
    if pinned is None or pinned == DETECT_VERSION:
        return detected, []
    if pinned not in spec.versions:
        raise NotebookError(f"--course-version {pinned} is not a published version of {spec.name} "
                            f"({', '.join(spec.versions)}): give one of these, or leave it out to detect each notebook's")
    if detected is None or detected == pinned:
        return pinned, []
    return pinned, [f"this notebook looks like course version {detected}; it was graded as {pinned}, "
                    f"the version the class was given"]


def load_submission(path: Path, max_mb: float, assignment: str | None = None,
                    course_version: str | None = None) -> Submission:
    nb = read_notebook(path, max_mb)
    notes: list[str] = []
    kernelspec = nb.metadata.get("kernelspec") if isinstance(nb.metadata.get("kernelspec"), dict) else {}
    language = str(kernelspec.get("language", "python") or "python")
    if language.lower() != "python":  # the student's text: a name's worth of it is shown
        shown = language if len(language) <= 40 else language[:39] + "…"
        notes.append(f"the notebook's kernel says {shown!r}; its cells are run as Python")
    code = sum(len(text) for kind, text in nb.cells if kind == "code")
    if code > MAX_CODE_CHARS:  # before any parsing: its time and memory grow with the text
        raise NotebookError(f"{path}: holds {code:,} characters of code, far more than any notebook of the course "
                            f"(at most {MAX_CODE_CHARS:,} are read): hand in the assignment's notebook itself")
    # Each cell's tree is used here and let go (a tree takes many times its text's memory).
    parsed: list[tuple[int, str, frozenset[str], list[str], str]] = []
    demos = frozenset(name for spec in ASSIGNMENTS.values() for name in spec.skip_calls)  # before the assignment is known
    markers: set[str] = set()
    functions: dict[str, FunctionSource] = {}
    for position, (kind, original) in enumerate(nb.cells, start=1):
        if kind != "code":
            continue
        markers.update(_graded_markers(original))
        parsed_or_reason = parse_or_reason(original)  # most cells are plain Python: parsed once
        source, cell_notes, refused = original, [], ""
        if parsed_or_reason in (TOO_DEEP, TOO_LONG):
            refused = parsed_or_reason  # IPython syntax cannot make it shallower or shorter
        elif not isinstance(parsed_or_reason, ast.Module):
            source, cell_notes = to_python(original)
            if source is None:
                notes.extend(f"cell {position}: {note}" for note in cell_notes)
                continue
            parsed_or_reason = parse_or_reason(source)
            refused = parsed_or_reason if parsed_or_reason in (TOO_DEEP, TOO_LONG) else ""
        calls: frozenset[str] = frozenset()
        if isinstance(parsed_or_reason, ast.Module):
            functions.update({f.name: f for f in functions_in_source(source, position, parsed_or_reason)})
            calls = _top_level_calls(parsed_or_reason, source, demos)
        parsed.append((position, source, calls, cell_notes, refused))
    if assignment:
        spec = get_assignment(assignment)
        check_assignment(path, spec, set(functions), markers)
    else:
        spec = detect_assignment(path, set(functions), markers, nb.metadata)
    cells = []
    for position, source, calls, cell_notes, refused in parsed:
        if calls & set(spec.skip_calls):
            notes.append(f"cell {position} not run: it calls {'/'.join(spec.skip_calls)}() (a long demo; "
                         "the grader calls the function itself)")
            continue
        cells.append(CodeCell(position, source, tuple(cell_notes), refused))
    markdown = "\n".join(text for kind, text in nb.cells if kind == "markdown")
    detected = detect_version(spec, path, [source for _, source, _, _, _ in parsed], nb.metadata, markdown)
    version, version_notes = settle_version(spec, detected, course_version)
    return Submission(path, spec, version, tuple(cells), functions, tuple(notes + version_notes), markdown)
