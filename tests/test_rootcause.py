"""A failure's root cause in an earlier cell: the report names the cell that failed to define a name."""
from __future__ import annotations

from grader.pipeline import grade_notebook
from grader.results import CellIssue, FunctionResult, Status
from grader.rootcause import STAR, failed_binders, names_bound, note_failed_cells

from conftest import FAST, make_notebook, solution_cells


def test_names_a_cell_binds_at_top_level_even_when_it_does_not_parse():
    source = ("import numpy as np, os.path\nfrom rnn_utils import softmax as sm, sigmoid)\nfrom x import *\n"
              "a, b = 1, 2\nn_a: int = 5\nif a == b:\n    hidden = 1\ndef f(x):\n    inner = 2\n"
              "class K: pass\nfor t in range(3): pass\nx == 3\n")
    assert names_bound(source) == {"np", "os", "sm", "sigmoid", STAR, "a", "b", "n_a", "f", "K", "t"}


def _failing(name: str, status: Status = Status.ERROR) -> FunctionResult:
    return FunctionResult(name, "required", 0.0, 25.0, status, (), (f"published: raised NameError: name 'np' is not "
                                                                    "defined",), "NameError: name 'np' is not defined")


def test_a_name_error_points_at_the_failed_cell_that_defines_the_name():
    syntax = CellIssue(2, "syntax", "unmatched ')'", "import numpy as np")
    binders = failed_binders([syntax, CellIssue(5, "skipped", "not run")], {2: "import numpy as np\nx = )", 5: "np = 1"})
    assert binders == {"np": syntax, "x": syntax}  # a skipped cell is not a failed one
    [noted] = note_failed_cells([_failing("rnn_forward")], binders, set())
    assert noted.messages[0].startswith("`np` is not defined: cell 2 (import numpy as np), which defines it, did not run")
    assert "Fix that cell first" in noted.messages[0]


def test_no_note_for_a_pass_another_name_or_a_star_import_when_another_cell_binds_the_name():
    star = CellIssue(3, "error", "ModuleNotFoundError", "from helpers import *")
    binders = failed_binders([star], {3: "from helpers import *"})
    passed = _failing("f", Status.PASSED)
    other = FunctionResult("g", "required", 0.0, 25.0, Status.ERROR, (), ("raised NameError: name 'zz' is not defined",))
    assert note_failed_cells([passed], {"np": star}, set()) == [passed]
    assert note_failed_cells([other], binders, {"zz"}) == [other]  # bound by a cell that ran: not the star's fault
    [maybe] = note_failed_cells([other], binders, set())
    assert "may define it (import *)" in maybe.messages[0] and "stopped with an error" in maybe.messages[0]


def test_a_syntax_error_in_the_import_cell_is_named_first_for_every_function_it_breaks(tmp_path):
    cells = solution_cells("rnn_step_by_step.ipynb")
    cells = [cell.replace("import numpy as np", "import numpy as np)", 1) if number == 0 else cell
             for number, cell in enumerate(cells)]
    assert "import numpy as np)" in cells[0]
    path = make_notebook(tmp_path / "broken_import.ipynb", *cells)
    result = grade_notebook(path, FAST.with_changes(only=("rnn_cell_forward", "rnn_forward")))
    assert [f.status for f in result.functions] == [Status.ERROR, Status.ERROR]
    for function in result.functions:
        assert function.messages[0].startswith("`np` is not defined: cell 1 (import numpy as np)"), function.messages


def test_an_own_helper_module_larger_than_the_grader_parses_is_not_used(tmp_path):
    """A helper module is parsed like a cell (a few MB of `a;` took GBs to parse): one larger than
    MAX_HELPER_BYTES is not read, and the course's copy runs the notebook, as for one that does not compile."""
    import shutil

    from conftest import SOLUTIONS

    from grader.pipeline import MAX_HELPER_BYTES

    folder = tmp_path / "student"
    folder.mkdir()
    shutil.copyfile(SOLUTIONS / "rnn_step_by_step.ipynb", folder / "rnn_step_by_step.ipynb")
    (folder / "rnn_utils.py").write_text((SOLUTIONS / "rnn_utils.py").read_text() + "\n" + "a;" * MAX_HELPER_BYTES)
    result = grade_notebook(folder / "rnn_step_by_step.ipynb", FAST.with_changes(only=("rnn_cell_forward",)))
    assert result.score == result.max_score
    assert any(f"your rnn_utils.py is larger than {MAX_HELPER_BYTES:,} bytes" in note and "course's copy was used" in note
               for note in result.notes), result.notes


def test_a_broken_own_helper_module_costs_its_own_functions_only(tmp_path):
    """A syntax error in the student's rnn_utils.py (the Adam exercise) would break the notebook's
    `from rnn_utils import *`, and with it every function that uses softmax: the course's copy runs the
    notebook instead, the module's own functions score 0, and the report says why."""
    import shutil

    from conftest import SOLUTIONS

    folder = tmp_path / "student"
    folder.mkdir()
    shutil.copyfile(SOLUTIONS / "rnn_step_by_step.ipynb", folder / "rnn_step_by_step.ipynb")
    helper = (SOLUTIONS / "rnn_utils.py").read_text() + "\ndef broken(:\n    pass\n"
    (folder / "rnn_utils.py").write_text(helper)
    result = grade_notebook(folder / "rnn_step_by_step.ipynb",
                            FAST.with_changes(only=("rnn_cell_forward", "initialize_adam")))
    by_name = {f.name: f for f in result.functions}
    assert by_name["rnn_cell_forward"].status == Status.PASSED
    assert by_name["initialize_adam"].score == 0
    assert any("your rnn_utils.py does not compile (line" in note and "course's copy was used" in note
               for note in result.notes), result.notes
    # The Adam item says its starter copy was graded, not "replace the None placeholders" (advice for
    # a file the student did change, above the note saying theirs was not used).
    adam = by_name["initialize_adam"].messages
    assert adam[0].startswith("initialize_adam lives in rnn_utils.py, and the course's starter copy was used")
    assert not any("placeholders" in message for message in adam)
