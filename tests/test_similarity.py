"""Similarity (grader/similarity.py): winnowing over normalised tokens of the START/END CODE HERE
regions, the course's own code discounted. A planted copy is found; independent work and the
starter template are not."""
from __future__ import annotations

import io
import json
import keyword
import os
import re
import subprocess
import sys
import textwrap
import tokenize
from pathlib import Path

import pytest

from conftest import ASSIGNMENTS, ROOT, SOLUTIONS, make_notebook, replace_function, solution_cells
from grader.similarity import (K, WINDOW, FunctionPrint, compare, course_fingerprints, function_print, kgrams,
                               load_student_code, normalise, notebook_key, prints_of, similarity, winnow)

RENAMES = {"a_next": "h_new", "yt_pred": "y_hat", "concat": "stacked", "ft": "forget_g", "it": "input_g",
           "cct": "cand", "c_next": "c_new", "ot": "out_g", "a_prev": "h_old", "xt": "x_now"}


OWN_RNN_CELL = '''# GRADED FUNCTION: rnn_cell_forward

def rnn_cell_forward(xt, a_prev, parameters):
    ### START CODE HERE ###
    Wax, Waa, Wya = parameters["Wax"], parameters["Waa"], parameters["Wya"]
    pre_activation = Waa @ a_prev + Wax @ xt + parameters["ba"]
    a_next = np.tanh(pre_activation)
    scores = Wya @ a_next + parameters["by"]
    yt_pred = np.exp(scores - scores.max(axis=0)) / np.exp(scores - scores.max(axis=0)).sum(axis=0)
    cache = (a_next, a_prev, xt, parameters)
    ### END CODE HERE ###
    return a_next, yt_pred, cache
'''


def plant_copy(source: str) -> str:
    """A disguised copy: variables renamed, two independent lines swapped, comments rewritten and added."""
    for old, new in RENAMES.items():
        source = re.sub(rf"\b{old}\b", new, source)
    lines = source.split("\n")
    for number in range(len(lines) - 1):
        if lines[number].strip().startswith("forget_g =") and lines[number + 1].strip().startswith("input_g ="):
            lines[number], lines[number + 1] = lines[number + 1], lines[number]
            break
    out = []
    for line in lines:
        if line.strip().startswith("#") and "CODE HERE" not in line and "GRADED FUNCTION" not in line:
            out.append(line[:len(line) - len(line.lstrip())] + "# my own notes on this step")
        elif re.match(r"\s+\w+ = ", line):
            out.append(line + "  # done")
        else:
            out.append(line)
    return "\n".join(out)


def copy_notebook(source: Path, target: Path, transform) -> Path:
    data = json.loads(source.read_text(encoding="utf-8"))
    for cell in data["cells"]:
        if cell.get("cell_type") == "code":
            text = "".join(cell["source"]) if isinstance(cell["source"], list) else cell["source"]
            cell["source"] = transform(text)
    target.write_text(json.dumps(data), encoding="utf-8")
    return target


# --- tokens and fingerprints -------------------------------------------------------------------

def test_renamed_variables_and_comments_do_not_change_the_tokens():
    a = "x = np.tanh(np.dot(W, h) + b)  # step\ny = softmax(x)\n"
    b = "# mine\nresult = np.tanh(np.dot(Weights, hidden) + bias)\n\nout = softmax(result)  # done\n"
    assert [t.text for t in normalise(a)] == [t.text for t in normalise(b)]
    assert "tanh" in [t.text for t in normalise(a)]  # attribute names are kept: they tell solutions apart
    assert [t.text for t in normalise("z = 3.5 + 'text'")] == ["V", "=", "N", "+", "S", ";"]


def tokenize_reference(source: str) -> list[str]:
    """What normalise must give, computed with Python's own tokenize (slower; kept here as the reference)."""
    dropped = {tokenize.COMMENT, tokenize.NL, tokenize.INDENT, tokenize.DEDENT, tokenize.ENCODING, tokenize.ENDMARKER}
    start, end = getattr(tokenize, "FSTRING_START", -1), getattr(tokenize, "FSTRING_END", -1)  # Python 3.12+
    out, previous, inside = [], "", 0
    for token in tokenize.generate_tokens(io.StringIO(source).readline):
        if token.type == start:
            if not inside:
                out.append("S")
            inside += 1
        if token.type == end:
            inside -= 1
        if token.type in dropped or inside or token.type == end:  # an f-string is one string, as before 3.12
            continue
        if token.type == tokenize.NAME:
            out.append(token.string if keyword.iskeyword(token.string) or previous == "." else "V")
        else:
            normal = {tokenize.NUMBER: "N", tokenize.STRING: "S", tokenize.NEWLINE: ";"}
            out.append(normal.get(token.type, token.string))
        previous = token.string
    return out


def graded_sources(shared_folder: Path | None) -> list[str]:
    from grader.load import functions_in_source, read_notebook, to_python
    from grader.similarity import GRADED

    folders = [SOLUTIONS, ASSIGNMENTS] + ([shared_folder / "corpus" / "rnn", shared_folder / "corpus" / "dino"]
                                          if shared_folder is not None else [])
    sources = []
    for folder in folders:
        for path in sorted(folder.glob("*.ipynb")):
            for kind, text in read_notebook(path, 50).cells:
                python = to_python(text)[0] if kind == "code" else None
                sources += [f.source for f in functions_in_source(python, 0) if f.name in GRADED] if python else []
    return sources


def test_the_fast_scanner_gives_the_tokens_of_pythons_tokenize():
    shared_folder = ROOT.parent / "shared"
    sources = graded_sources(shared_folder if shared_folder.is_dir() else None)
    assert len(sources) > 10
    for source in sources:
        assert [t.text for t in normalise(source)] == tokenize_reference(source)
    tricky = ("s = f'{a}' + b'x' + '''multi\nline''' + 0x1F + 1e-3 + .5j\n"
              "t = a ** -b // c @ d if e else (f,\n  g)  # done\n\nu = \\\n  v.w\n")
    assert [t.text for t in normalise(tricky)] == tokenize_reference(tricky)


def test_a_long_enough_shared_stretch_always_shares_a_fingerprint():
    shared = "q = np.maximum(0, np.dot(W1, x) + b1)\nr = np.sum(q, axis=0, keepdims=True)\n"
    left = normalise("u = 1\nfor i in range(3):\n    u += i\n" + shared)
    right = normalise("while v < 10:\n    v = v * 2 + 1\n" + shared + "w = v\n")
    assert len(normalise(shared)) >= K + WINDOW - 1
    assert {h for h, _, _ in winnow(kgrams(left))} & {h for h, _, _ in winnow(kgrams(right))}


def test_fingerprints_are_the_same_from_run_to_run():
    # Python's own str hash is salted per process: the fingerprints must not be, or the same class
    # would give another report each time
    script = ("from grader.similarity import kgrams, normalise; "
              "print(kgrams(normalise('a = np.dot(W, x) + b')))")
    runs = {subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True, cwd=ROOT,
                           env={**os.environ, "PYTHONHASHSEED": seed}).stdout for seed in ("1", "2")}
    assert len(runs) == 1 and str(kgrams(normalise("a = np.dot(W, x) + b"))) in runs.pop()


def test_winnowing_keeps_the_rightmost_minimum_of_every_window():
    import random

    generator = random.Random(5)
    for _ in range(300):
        hashes = [generator.randrange(6) for _ in range(generator.randrange(1, 40))]  # many ties
        grams = [(value, position, position) for position, value in enumerate(hashes)]
        expected, last = [], -1
        for start in range(max(1, len(hashes) - WINDOW + 1)):
            window = hashes[start:start + WINDOW]
            position = start + len(window) - 1 - window[::-1].index(min(window))
            if position != last:
                expected.append(grams[position])
                last = position
        assert winnow(grams) == expected


def test_only_the_code_here_regions_are_compared():
    source = ("def f(x):\n    y = np.exp(x) * 2 + np.log(x)\n    ### START CODE HERE ###\n"
              "    z = np.tanh(np.dot(W, y) + b)\n    ### END CODE HERE ###\n    return z\n")
    printed = function_print("f", source)
    assert printed.lines == (4,)
    assert all(lines == (4,) for lines in printed.prints.values())


# --- whole notebooks -------------------------------------------------------------------------------

def rnn_corpus(shared: Path, name: str) -> Path:
    found = sorted((shared / "corpus" / "rnn").glob(f"{name}*"))
    if not found:
        pytest.skip(f"corpus notebook {name} not found")
    return found[0]


def test_a_planted_copy_of_a_corpus_notebook_is_flagged_with_its_fragments(shared, tmp_path):
    original = rnn_corpus(shared, "AsH1605__Deep-Learning-Specialization__Building")
    copy = copy_notebook(original, tmp_path / "copy.ipynb", plant_copy)
    other = rnn_corpus(shared, "ChrisRosales")
    result = similarity([("original", original), ("copy", copy), ("other", other)])
    pairs = {(p.a.student, p.b.student): p for p in result.pairs}
    assert set(pairs) == {("original", "copy")}
    pair = pairs["original", "copy"]
    # this notebook is close to the reference, so little is left per function once it is discounted:
    # the copy is caught on the graded code as a whole, every function it shares alike
    assert pair.jaccard == 1.0
    assert {"rnn_cell_forward", "lstm_cell_forward"} <= {m.name for m in pair.matches if m.jaccard == 1.0}
    match = next(m for m in pair.matches if m.name == pair.flagged[0])
    assert match.shared >= 3 and match.lines_a and match.lines_b
    copied = pair.b.functions[match.name].source.split("\n")
    # the fragment shown on the copy's side is the renamed code
    assert any(re.search(rf"\b({'|'.join(RENAMES.values())})\b", copied[line - 1]) for line in match.lines_b)


def move_code_out_of_its_markers(source: str) -> str:
    """The copier's disguise: the real START/END markers become plain comments, and an empty pair is put
    right after each `def` line (comments only: the grade does not change)."""
    lines = []
    for line in source.split("\n"):
        text = line.strip()
        if text.startswith("### START CODE HERE") or text.startswith("### END CODE HERE"):
            line = line.replace("###", "#", 1).replace("CODE HERE", "here", 1)
        lines.append(line)
        if text.startswith("def "):
            indent = " " * (len(line) - len(line.lstrip()) + 4)
            lines += [f"{indent}### START CODE HERE ###", f"{indent}### END CODE HERE ###"]
    return "\n".join(lines)


def test_a_copy_whose_code_was_moved_out_of_its_markers_is_still_compared(shared, tmp_path):
    """Only the START/END regions were compared, and a function whose regions held no statement was left
    out as untouched: a copy with its markers made plain comments and an empty pair added was in no pair."""
    original = rnn_corpus(shared, "AsH1605__Deep-Learning-Specialization__Building")
    copy = copy_notebook(original, tmp_path / "copy.ipynb", lambda source: move_code_out_of_its_markers(plant_copy(source)))
    other = rnn_corpus(shared, "ChrisRosales")
    result = similarity([("original", original), ("copy", copy), ("other", other)])
    assert {(p.a.student, p.b.student) for p in result.pairs} == {("original", "copy")}
    assert "rnn_cell_forward" in load_student_code("copy", copy).functions


def wrap_in_if_true(source: str) -> str:
    """One line above each cell that defines a function, the rest indented: the grade does not change."""
    if "def " not in source:
        return source
    return "if True:\n" + "\n".join("    " + line for line in source.split("\n"))


def move_bodies_into_helpers(source: str) -> str:
    """Each graded function's body becomes a helper of the copier's own, which the graded function calls."""
    match = re.search(r"^def (\w+)\((.*?)\):", source, re.MULTILINE)
    if match is None or "# GRADED FUNCTION" not in source:
        return source
    name, params = match.group(1), match.group(2)
    helper = source.replace(f"def {name}(", f"def _my_{name}(", 1)
    call = ", ".join(part.split("=")[0].strip() for part in params.split(",") if part.strip())
    return f"{helper}\n\ndef {name}({params}):\n    return _my_{name}({call})\n"


@pytest.mark.parametrize("disguise", [wrap_in_if_true, move_bodies_into_helpers])
def test_a_copy_whose_functions_are_nested_or_moved_into_helpers_is_still_compared(shared, tmp_path, disguise):
    """Only top-level definitions were read: one `if True:` line above a copied cell left the copy out of
    every pair (red team), and so did moving each body into a helper the graded function calls."""
    original = rnn_corpus(shared, "AsH1605__Deep-Learning-Specialization__Building")
    copy = copy_notebook(original, tmp_path / "copy.ipynb", lambda source: disguise(plant_copy(source)))
    other = rnn_corpus(shared, "ChrisRosales")
    result = similarity([("original", original), ("copy", copy), ("other", other)])
    assert {(p.a.student, p.b.student) for p in result.pairs} == {("original", "copy")}
    assert {"rnn_cell_forward", "lstm_forward"} <= set(load_student_code("copy", copy).functions)


def test_independent_correct_solutions_are_not_flagged(shared):
    # both pass every required function; written independently (different course versions and styles)
    a = rnn_corpus(shared, "AsH1605__Deep-Learning-Specialization__Building")
    b = rnn_corpus(shared, "ChrisRosales")
    result = similarity([("a", a), ("b", b)])
    assert result.pairs == ()
    assert all(s.functions for s in result.students)


def test_notebooks_equal_to_the_reference_or_the_starter_code_are_not_flagged(tmp_path):
    # the course's own code is discounted: two students who both wrote the textbook answer look alike
    # only because of it, and an untouched template has nothing of its own
    first = tmp_path / "first.ipynb"
    second = tmp_path / "second.ipynb"
    first.write_bytes((SOLUTIONS / "rnn_step_by_step.ipynb").read_bytes())
    second.write_bytes((SOLUTIONS / "rnn_step_by_step.ipynb").read_bytes())
    blank = tmp_path / "blank.ipynb"
    blank.write_bytes((ASSIGNMENTS / "rnn_step_by_step.ipynb").read_bytes())
    result = similarity([("first", first), ("second", second), ("blank", blank), ("blank2", blank)])
    assert result.pairs == ()
    assert result.discounted > 0
    blank_code = next(s for s in result.students if s.student == "blank")
    assert blank_code.functions == {}  # every graded function still holds the starter placeholders


def test_the_blank_template_against_a_completed_notebook_shares_next_to_nothing():
    discount = course_fingerprints([ASSIGNMENTS, SOLUTIONS])
    template = load_student_code("blank", ASSIGNMENTS / "rnn_step_by_step.ipynb")
    completed = load_student_code("done", SOLUTIONS / "rnn_step_by_step.ipynb")
    assert not template.functions  # left out: nothing but placeholders
    # even compared by force, template code shares nothing once the course's code is discounted
    forced = compare([_forced(ASSIGNMENTS, discount), load_student_code("done", SOLUTIONS / "rnn_step_by_step.ipynb",
                                                                        discount)], threshold=0.01, min_shared=1)
    assert forced.pairs == ()
    assert completed.functions


def _forced(folder: Path, discount: frozenset[int]):
    """The template's functions fingerprinted as if they were a student's own work."""
    from grader.load import load_submission
    from grader.similarity import StudentCode

    submission = load_submission(folder / "rnn_step_by_step.ipynb", 50)
    functions = {name: function_print(name, f.source, discount) for name, f in submission.functions.items()
                 if name in submission.assignment.function_names}
    return StudentCode("blank", str(folder), functions)


def test_without_the_discount_the_reference_makes_two_students_look_alike(tmp_path):
    first = tmp_path / "a.ipynb"
    first.write_bytes((SOLUTIONS / "rnn_step_by_step.ipynb").read_bytes())
    second = tmp_path / "b.ipynb"
    second.write_bytes((SOLUTIONS / "rnn_step_by_step.ipynb").read_bytes())
    assert similarity([("a", first), ("b", second)], course_folders=[]).pairs  # why the discount exists


def test_an_own_rewrite_is_not_flagged_against_the_reference_but_its_copy_is(tmp_path):
    own = OWN_RNN_CELL
    cells = solution_cells("rnn_step_by_step.ipynb")
    mine = make_notebook(tmp_path / "mine.ipynb", *replace_function(cells, "rnn_cell_forward", own))
    reference = make_notebook(tmp_path / "reference.ipynb", *cells)
    copied = make_notebook(tmp_path / "copied.ipynb", *replace_function(cells, "rnn_cell_forward", plant_copy(own)))
    result = similarity([("mine", mine), ("reference", reference), ("copied", copied)])
    assert [(p.a.student, p.b.student, p.flagged) for p in result.pairs] == [("mine", "copied", ("rnn_cell_forward",))]


def test_unreadable_notebooks_are_reported_not_compared(tmp_path):
    broken = tmp_path / "broken.ipynb"
    broken.write_text("{not json")
    result = similarity([("broken", broken), ("ok", SOLUTIONS / "rnn_step_by_step.ipynb")])
    student = next(s for s in result.students if s.student == "broken")
    assert student.problem and not student.functions


def test_grade_similarity_writes_the_page(tmp_path, capsys):
    from grader.cli import main

    folder = tmp_path / "class"
    folder.mkdir()
    cells = solution_cells("rnn_step_by_step.ipynb")
    own = OWN_RNN_CELL
    make_notebook(folder / "mine.ipynb", *replace_function(cells, "rnn_cell_forward", own))
    make_notebook(folder / "copied.ipynb", *replace_function(cells, "rnn_cell_forward", plant_copy(own)))
    make_notebook(folder / "reference.ipynb", *cells)
    assert main(["similarity", str(folder), "-o", str(tmp_path / "similarity.html")]) == 0
    assert "1 pair(s) flagged among 3 notebooks" in capsys.readouterr().out
    page = (tmp_path / "similarity.html").read_text()
    assert "copied" in page and "mine" in page and "not a verdict" in page
    assert main(["similarity", str(folder / "mine.ipynb"), "-o", str(tmp_path / "x.html")]) == 2
    assert "at least two notebooks" in capsys.readouterr().err


def test_prints_kept_from_grading_give_the_same_comparison_and_only_for_the_same_bytes(tmp_path):
    # A batch fingerprints each notebook in its grading process (prints_of) and the class report
    # uses those prints (similarity(known=...)) instead of reading every notebook again at the end.
    own = OWN_RNN_CELL
    cells = solution_cells("rnn_step_by_step.ipynb")
    mine = make_notebook(tmp_path / "mine.ipynb", *replace_function(cells, "rnn_cell_forward", own))
    copied = make_notebook(tmp_path / "copied.ipynb", *replace_function(cells, "rnn_cell_forward", plant_copy(own)))
    blank = tmp_path / "blank.ipynb"
    blank.write_bytes((ASSIGNMENTS / "rnn_step_by_step.ipynb").read_bytes())
    class_ = [("mine", mine), ("copied", copied), ("blank", blank), ("reference", SOLUTIONS / "rnn_step_by_step.ipynb")]
    known = dict(print_ for _, path in class_ if (print_ := prints_of(path)) is not None)
    assert len(known) == 4
    assert similarity(class_, known=known) == similarity(class_)  # every print used, the discount applied after

    # A notebook changed since it was fingerprinted: its print is not used; its bytes now are read.
    copy_notebook(mine, copied, lambda source: source + "\n# mine now")
    assert notebook_key(copied) not in known
    assert similarity(class_, known=known) == similarity(class_)

    # A print only counts under the key of these very bytes and this code: under another key it is never used.
    planted = {name: FunctionPrint(name, "planted", (1,), {1: (1,)}) for name in ("rnn_cell_forward",)}
    version, digest = notebook_key(mine).rsplit(":", 1)
    foreign = {f"0-other-code:{digest}": planted, f"{version}:{'0' * 64}": planted}
    assert similarity(class_, known=foreign) == similarity(class_)
    assert similarity(class_, known={notebook_key(mine): planted}) != similarity(class_)  # (the key is what decides)


def test_unreadable_notebooks_get_no_print(tmp_path):
    broken = tmp_path / "broken.ipynb"
    broken.write_text("{not json")
    link = tmp_path / "link.ipynb"
    link.symlink_to(SOLUTIONS / "rnn_step_by_step.ipynb")
    assert prints_of(broken) is None and prints_of(link) is None and prints_of(tmp_path / "gone.ipynb") is None
    assert notebook_key(link) is None  # read_notebook refuses a link: so does the key, and the report says why


def test_each_helper_is_fingerprinted_once_per_notebook(tmp_path, monkeypatch):
    """Every graded function calling a chain of the student's helpers made each of them fingerprint
    the whole chain again (20,000 chained helpers: 3.5 s per graded function)."""
    import grader.similarity as similarity_module

    calls = []
    real_winnow = similarity_module.winnow
    monkeypatch.setattr(similarity_module, "winnow", lambda grams, *a: calls.append(1) or real_winnow(grams, *a))
    chain = "".join(f"def h{n}(x):\n    return h{n + 1}(x) * {n} + np.tanh(x)\n" for n in range(30)) + "def h30(x):\n    return x\n"
    graded = [OWN_RNN_CELL.replace("    ### START CODE HERE ###", "    ### START CODE HERE ###\n    h0(1)", 1)
              .replace("rnn_cell_forward", name) for name in ("rnn_cell_forward", "rnn_forward", "lstm_forward")]
    code = load_student_code("x", make_notebook(tmp_path / "chain.ipynb", *graded, chain))
    assert all("def h30(" in code.functions[name].source for name in ("rnn_cell_forward", "rnn_forward", "lstm_forward"))
    assert len(calls) <= 3 + 31  # each graded function's regions, and each helper once


def _decoy_after(source: str) -> str:
    names = re.findall(r"^def (\w+)\s*\(", source, re.MULTILINE)
    return source + "".join(f"\nif False:\n    def {name}(*args, **kwargs):\n        return 0\n" for name in names)


def _bound_through(template: str):
    def disguise(source: str) -> str:
        match = re.search(r"^def (\w+)\s*\(", source, re.MULTILINE)
        if match is None or "# GRADED FUNCTION" not in source:
            return source
        name = match.group(1)
        return source.replace(f"def {name}(", f"def _my_{name}(", 1) + "\n" + template.format(name=name) + "\n"
    return disguise


DEAD_PAD = "def _pad():\n" + "".join(f"    v{n} = np.dot(v{n - 1}, {n}) + np.tanh({n})\n" for n in range(1, 300)) + "    return 0\n"


def _padded(source: str) -> str:
    helper = _bound_through("def {name}(*args, **kwargs):\n    if False:\n        _pad()\n    return _my_{name}(*args, **kwargs)")
    moved = helper(source)
    return moved if moved == source else moved + "\n" + DEAD_PAD


@pytest.mark.parametrize("disguise", [
    _decoy_after,  # a definition that never runs, after the real one
    _bound_through("{name} = lambda *a, **k: _my_{name}(*a, **k)"),
    _bound_through("globals()['{name}'] = _my_{name}  # keep"),
    _bound_through("def {name}(*args, **kwargs):\n    return globals()['_my_{name}'](*args, **kwargs)"),
    _bound_through("def _make():\n    return _my_{name}\n{name} = _make()"),
    _padded,  # a long dead helper that dilutes the shared fraction (Jaccard), never the containment
    _bound_through("({name} := _my_{name})"),
    _bound_through("for {name} in [_my_{name}]:\n    pass"),
    _bound_through("globals().update({name}=_my_{name})"),
    _bound_through("@(lambda f: _my_{name})\ndef {name}(*args, **kwargs):\n    pass"),
], ids=["decoy", "lambda", "globals", "globals-lookup", "factory", "padded", "walrus", "for", "update", "decorator"])
def test_other_disguises_that_keep_the_grade_are_still_compared(shared, tmp_path, disguise):
    original = rnn_corpus(shared, "AsH1605__Deep-Learning-Specialization__Building")
    copy = copy_notebook(original, tmp_path / "copy.ipynb", lambda source: disguise(plant_copy(source)))
    other = rnn_corpus(shared, "ChrisRosales")
    result = similarity([("original", original), ("copy", copy), ("other", other)])
    assert {(p.a.student, p.b.student) for p in result.pairs} == {("original", "copy")}


def test_a_function_defined_inside_another_is_not_read_as_the_graded_one(tmp_path):
    """Only definitions that run with their cell count: one nested in a function body that is never
    called was a decoy, and 95 nested levels each kept a copy of the innermost body (1.4 GB)."""
    nested = "def outer():\n" + "\n".join("    " + line for line in OWN_RNN_CELL.split("\n"))
    code = load_student_code("x", make_notebook(tmp_path / "nested.ipynb", nested))
    assert "rnn_cell_forward" not in code.functions


def _kept(code) -> int:
    """Characters of everything a notebook's graded functions keep (their regions and helpers)."""
    return sum(len(function.source) for function in code.functions.values())


def test_a_compound_statement_binding_a_graded_name_keeps_its_header_not_its_body(tmp_path):
    """Every statement binding a graded name was kept whole, and a compound statement's text holds its
    body: each level of nested `if (rnn_forward := 0) or (clip := 0):` kept every level below it, once
    per name (90 levels, 0.92 MB of code: 60 s and 2.5 GB, red team). The header is what binds; the
    body is read on its own. What is kept stays within the code (it was 54 times the code here)."""
    depth, body = 40, "".join(f"x{n} = np.tanh({n}) + {n}\n" for n in range(500))
    cells = ["".join(" " * level + f"if (rnn_forward := {level}) or (\n{' ' * level}        clip := {cell}):\n"
                     for level in range(depth)) + textwrap.indent(body, " " * depth) for cell in range(3)]
    cells.append("if (clip := _mine): pass\ndef _mine(x):\n    return np.clip(x, -5, 5) * 2 + np.tanh(x)\n")
    code = load_student_code("x", make_notebook(tmp_path / "nested.ipynb", *cells))
    assert _kept(code) <= sum(map(len, cells))
    forward, clip = code.functions["rnn_forward"].source, code.functions["clip"].source
    assert all(f"(rnn_forward := {level})" in forward for level in range(depth))  # every header binds it
    assert "clip := 2)" in clip and "if (clip := _mine): pass" in clip and "def _mine(x):" in clip
    assert "np.tanh(7)" not in forward + clip  # no body statement binds a graded name


def test_statements_sharing_a_line_keep_it_once(tmp_path):
    """Each statement kept its whole lines: 1,000 `clip = 0;` on one line kept that line 1,000 times."""
    line = "; ".join(["clip = 0"] * 1_000) + "\n"
    code = load_student_code("x", make_notebook(tmp_path / "line.ipynb", line))
    assert "clip" in code.functions and _kept(code) <= len(line)


def test_a_notebook_with_more_code_than_any_of_the_course_is_not_compared(tmp_path):
    from grader.load import MAX_CODE_CHARS

    cells = [f"# {n}\n" + "x = 1\n" * 15_000 for n in range(MAX_CODE_CHARS // 90_000 + 1)]
    code = load_student_code("x", make_notebook(tmp_path / "big.ipynb", OWN_RNN_CELL, *cells))
    assert not code.functions and "far more than any notebook of the course" in code.problem


def _with_own_module(folder: Path, cells: list[str], module_text: str | None, name: str = "rnn_utils.py") -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    if module_text is not None:
        (folder / name).write_text(module_text)
    return make_notebook(folder / "submission.ipynb", *cells)


def test_graded_code_moved_into_the_students_own_helper_module_is_compared(tmp_path):
    """Grading runs a student's own rnn_utils.py handed in with the notebook in their own folder
    (``from rnn_utils import *``), so similarity reads it too; a shared folder's loose module is no
    one's, as for grading; and a print kept from grading is the notebook's and its module's bytes."""
    own = OWN_RNN_CELL + "\n" + "\n".join(
        f"def lstm_cell_forward_{n}(xt):\n    return np.tanh(xt) * {n}\n" for n in range(2))
    course = (ASSIGNMENTS / "rnn_utils.py").read_text()
    cells = replace_function(solution_cells("rnn_step_by_step.ipynb"), "rnn_cell_forward",
                             "from rnn_utils import *")
    mine = _with_own_module(tmp_path / "mine", cells, course + "\n" + own)
    copied = _with_own_module(tmp_path / "copied", cells, course + "\n" + plant_copy(own))
    result = similarity([("mine", mine), ("copied", copied)])
    assert [sorted(pair.flagged) for pair in result.pairs] == [["rnn_cell_forward"]]

    # The course's own module, handed in unchanged, is the course's code (its graded names too).
    for module in ("rnn_utils.py", "cllm_utils.py"):
        unchanged = [_with_own_module(tmp_path / f"{module}-{n}", cells, (ASSIGNMENTS / module).read_text(), module)
                     for n in range(2)]
        assert not similarity([("a", unchanged[0]), ("b", unchanged[1])]).pairs

    shared_folder = tmp_path / "flat"
    shared_folder.mkdir()
    (shared_folder / "rnn_utils.py").write_text(course + "\n" + own)
    flat = [make_notebook(shared_folder / f"{who}.ipynb", *cells) for who in ("a", "b")]
    assert not similarity([("a", flat[0]), ("b", flat[1])]).pairs

    key, functions = prints_of(mine)
    assert "rnn_cell_forward" in functions
    (tmp_path / "mine" / "rnn_utils.py").write_text(course)
    assert prints_of(mine)[0] != key  # the same notebook with another module is another print
    assert "rnn_cell_forward" not in prints_of(mine)[1]


def _utf7(text: str) -> bytes:
    """``text`` behind a UTF-7 coding cookie, every character in UTF-7's base64 form (red team)."""
    import base64

    return b"# -*- coding: utf-7 -*-\n+" + base64.b64encode(text.encode("utf-16-be")).rstrip(b"=") + b"-\n"


def test_an_own_module_is_read_as_python_reads_it(tmp_path):
    """Python decodes a module by its coding cookie (PEP 263), and grading ran a copied module behind
    `# -*- coding: utf-7 -*-` like the original; similarity read it as UTF-8 and found no function."""
    own = (ASSIGNMENTS / "rnn_utils.py").read_text() + "\n" + OWN_RNN_CELL
    cells = replace_function(solution_cells("rnn_step_by_step.ipynb"), "rnn_cell_forward", "from rnn_utils import *")
    mine = _with_own_module(tmp_path / "mine", cells, own)
    copied = _with_own_module(tmp_path / "copied", cells, None)
    (tmp_path / "copied" / "rnn_utils.py").write_bytes(_utf7(plant_copy(own)))
    namespace: dict = {}
    exec(compile((tmp_path / "copied" / "rnn_utils.py").read_bytes(), "rnn_utils.py", "exec"), namespace)
    assert "rnn_cell_forward" in namespace  # what grading imports
    result = similarity([("mine", mine), ("copied", copied)])
    assert [sorted(pair.flagged) for pair in result.pairs] == [["rnn_cell_forward"]]


def test_an_own_module_grading_refuses_is_not_compared(tmp_path):
    """A module that does not compile (here an IPython line, which similarity turned into Python as it
    does a cell's) is not run by grading, which uses the course's copy: so it is not the student's code."""
    from grader.pipeline import module_problem

    own = (ASSIGNMENTS / "rnn_utils.py").read_text() + "\n" + OWN_RNN_CELL
    cells = replace_function(solution_cells("rnn_step_by_step.ipynb"), "rnn_cell_forward", "from rnn_utils import *")
    mine = _with_own_module(tmp_path / "mine", cells, own)
    refused = _with_own_module(tmp_path / "refused", cells, "%matplotlib inline\n" + plant_copy(own))
    assert "does not compile" in module_problem(tmp_path / "refused" / "rnn_utils.py")
    assert "rnn_cell_forward" not in load_student_code("x", refused).functions
    assert not similarity([("mine", mine), ("refused", refused)]).pairs


SHAPES = ["v{i} = np.{f}(a_prev {o} xt[{k}]).{g}() {o} {k}", "v{i} = [np.{f}(w).{g} for w in parameters][{k}]",
          "v{i} = ({k}, np.{f}(xt).{g}, a_prev[{k}:])", "if v{j} {c} {k}:\n        v{i} = v{j}.{g} {o} {k}",
          "v{i} = {{'{k}': np.{f}(a_prev).{g}, 'x': xt}}", "v{i} = sum(np.{f}(q).{g} {o} {k} for q in (xt, a_prev))"]
FUNCTIONS = ["tanh", "exp", "abs", "sqrt", "sum", "mean", "max", "min", "log", "sin", "cos", "dot", "outer", "clip",
             "roll", "flip", "ravel", "argmax", "cumsum", "diff"]
OTHER_SHAPES = ["while v{j} {c} {k}:\n        break", "try:\n        v{i} = -v{j}\n    except KeyError:\n        pass",
                "with open('x') as v{i}:\n        pass", "v{i} = lambda q: q ** {k} % {k}",
                "v{i} = not v{j} and {k} is None", "assert v{j} != {k}, v{j}"]


def _own_style(seed: int, name: str = "rnn_cell_forward", params: str = "xt, a_prev, parameters",
               shapes: list[str] = SHAPES) -> str:
    """A body of its own: statements drawn from a seeded mix of shapes (tokens are normalised, so the
    shapes and their order are what tells two bodies apart)."""
    import random

    rng = random.Random(seed)
    lines = ["    v0 = xt"]
    for i in range(1, 25):
        lines.append("    " + rng.choice(shapes).format(i=i, j=rng.randrange(i), k=rng.randrange(9),
                                                       f=rng.choice(FUNCTIONS), g=rng.choice(FUNCTIONS),
                                                       o=rng.choice(["+", "-", "*", "/", "@"]),
                                                       c=rng.choice(["<", ">", "=="])))
    return f"def {name}({params}):\n" + "\n".join(lines) + "\n    return v1, v2, v3\n"


def test_one_notebook_holding_many_classmates_code_is_listed_not_each_classmate(tmp_path):
    """A notebook whose graded function carries several classmates' solutions as helpers contains
    each of them: the pairs are all flagged and listed, but the notebooks to open are the container's,
    not those of the classmates who only wrote their own (red team). A copy flagged by Jaccard still
    lists both."""
    from grader.similarity import HUB, resemblance

    cells = solution_cells("rnn_step_by_step.ipynb")
    honest = {f"honest{n}": _own_style(n) for n in range(HUB + 1)}
    notebooks = [(who, make_notebook(tmp_path / f"{who}.ipynb", *replace_function(cells, "rnn_cell_forward", code)))
                 for who, code in honest.items()]
    sources = [*range(HUB + 1), *range(50, 56)]  # the honest classmates' and others'
    carried = "\n".join(_own_style(n, f"carried_{n}") for n in sources)
    hub = carried + "\ndef rnn_cell_forward(xt, a_prev, parameters):\n    return " + \
        " or ".join(f"carried_{n}(xt, a_prev, parameters)" for n in sources) + "\n"
    notebooks.append(("collector", make_notebook(tmp_path / "collector.ipynb",
                                                 *replace_function(cells, "rnn_cell_forward", hub))))
    copier = _own_style(100, shapes=OTHER_SHAPES)
    notebooks += [(who, make_notebook(tmp_path / f"{who}.ipynb", *replace_function(cells, "rnn_cell_forward", copier)))
                  for who in ("twin_a", "twin_b")]
    result = similarity(notebooks)
    flagged = {frozenset((pair.a.student, pair.b.student)) for pair in result.pairs}
    assert flagged == {frozenset(("collector", who)) for who in honest} | {frozenset(("twin_a", "twin_b"))}
    links = resemblance(result)
    assert sorted(links["collector"]) == sorted(honest)
    assert not any(who in links for who in honest)
    assert links["twin_a"] == ["twin_b"] and links["twin_b"] == ["twin_a"]
