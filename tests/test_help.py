"""`grade --help` documents every option (with its default), the commands and the exit codes; the
kernel engine, an optional extra, is refused with the command that installs it."""
from __future__ import annotations

import importlib.util
import io
import re
import sys
from contextlib import redirect_stdout

import pytest

from grader import cli

from conftest import ROOT


def test_every_option_has_help_and_defaults_are_shown():
    parser = cli._parser()
    undocumented = [action.option_strings or action.dest for action in parser._actions if not action.help]
    assert undocumented == []
    text = parser.format_help()
    for option, default in (("--cell-timeout", "10"), ("--call-timeout", "20"), ("--timeout", "300"),
                            ("--memory-mb", "2048"), ("--hidden-cases", "2"), ("--max-notebook-mb", "50")):
        position = text.index("\n  " + option + " ")
        assert f"(default: {default})" in " ".join(text[position:position + 300].split()), option
    assert "grade release [--check]" in text and "exit codes" in text and "130 interrupted" in text


def test_release_has_its_own_help():
    out = io.StringIO()
    with redirect_stdout(out), pytest.raises(SystemExit) as stop:
        cli.main(["release", "--help"])
    assert stop.value.code == 0 and "--check" in out.getvalue() and "pip install ." in out.getvalue()


def test_kernel_engine_without_its_extra_says_how_to_install_it(monkeypatch, tmp_path, capsys):
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "ipykernel" else real(name, *a))
    notebook = tmp_path / "nb.ipynb"
    notebook.write_text("{}")
    assert cli.main([str(notebook), "--engine", "kernel"]) == 2
    assert "pip install 'rnn-grader[kernel]'" in capsys.readouterr().err


def test_json_with_a_batch_is_refused_not_ignored(tmp_path, capsys):
    assert cli.main([str(tmp_path), "--out", str(tmp_path / "out"), "--json"]) == 2
    assert "results.json" in capsys.readouterr().err and not (tmp_path / "out").exists()


#: Commands main() dispatches to, each with its own parser. Options still without help text, with who
#: owns the parser (reported, not edited here): the list only shrinks.
COMMANDS = ("release", "gradescope", "report", "similarity", "export", "regrade", "override")
KNOWN_UNDOCUMENTED: set[tuple[str, str]] = set()


def _undocumented(help_text: str) -> list[str]:
    """Entries of the argument sections with no help text (argparse puts it on the entry's line after two
    spaces or more, or on the next line, indented deeper)."""
    lines, found, in_arguments = help_text.splitlines(), [], False
    for number, line in enumerate(lines):
        if line and not line.startswith(" "):
            in_arguments = line.endswith(":") and not line.startswith(("usage", "exit codes", "commands"))
            continue
        if not in_arguments or not line.startswith("  ") or line.startswith("   "):
            continue
        entry = line.strip()
        following = lines[number + 1] if number + 1 < len(lines) else ""
        if not re.search(r"\S {2,}\S", entry) and not (following.startswith(" " * 6) and following.strip()):
            found.append(entry)
    return found


@pytest.mark.parametrize("command", COMMANDS)
def test_every_command_has_help_for_every_argument_and_is_in_the_overview_and_readme(command):
    out = io.StringIO()
    with redirect_stdout(out), pytest.raises(SystemExit) as stop:
        cli.main([command, "--help"])
    assert stop.value.code == 0 and f"usage: grade {command}" in out.getvalue()
    assert {(command, entry) for entry in _undocumented(out.getvalue())} <= KNOWN_UNDOCUMENTED, out.getvalue()
    assert f"grade {command} " in cli._parser().format_help()
    assert f"grade {command} " in (ROOT / "README.md").read_text()


def test_the_overview_names_every_bundled_assignment():
    text = " ".join(cli._parser().format_help().split())
    assert all(title in text for title in ("RNN step by step", "Dinosaur Island", "BPTT by hand", "--list-assignments"))


def test_list_assignments_with_other_options_still_lists(capsys):
    assert cli.main(["--list-assignments", "--no-color"]) == 0
    listing = capsys.readouterr().out
    assert "rnn_step_by_step" in listing and "update_parameters_with_adam (5, optional)" in listing


@pytest.mark.parametrize("argv, expected", [
    ([], "grade my_notebook.ipynb"),
    (["my_notebok.ipynb"], "did you mean my_notebook.ipynb?"),
    (["my", "folder/my", "notebook.ipynb"], 'one path with spaces, quote it: grade "my folder/my notebook.ipynb"'),
    (["rnn_utils.py"], "is a Python file, not a notebook: grade the .ipynb"),
    (["starter"], "is a folder: to grade one notebook, name it (e.g. grade starter/a.ipynb)"),
    (["nowhere/a.ipynb"], "the folder nowhere does not exist either"),
])
def test_a_students_slips_are_named_with_what_to_do(argv, expected, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "my_notebook.ipynb").write_text("{}")
    (tmp_path / "rnn_utils.py").write_text("import numpy as np\n")
    (tmp_path / "starter").mkdir()
    (tmp_path / "starter" / "a.ipynb").write_text("{}")
    assert cli.main(argv) == 2
    error = capsys.readouterr().err
    assert error.startswith("grade: error: ") and expected in error and error.count("\n") == 1


@pytest.mark.parametrize("argv, expected", [
    (["nb.ipynb", "--timeout", "-3"], "argument --timeout: -3 is out of range"),
    (["nb.ipynb", "--jobs", "0"], "argument --jobs: 0 is out of range"),
    (["nb.ipynb", "--timeout", "inf"], "argument --timeout: inf is out of range"),  # int(inf) in the limits
    (["nb.ipynb", "--bogus"], "unrecognized arguments: --bogus"),
])
def test_an_option_slip_is_one_line_too(argv, expected, capsys):
    with pytest.raises(SystemExit) as stopped:
        cli.main(argv)
    assert stopped.value.code == 2
    error = capsys.readouterr().err
    assert error.startswith(f"grade: error: {expected}") and error.count("\n") == 1 and "usage:" not in error


def test_a_reader_that_leaves_early_gets_no_traceback(tmp_path):
    """`grade nb.ipynb --json | head -1`: the pipe's reader is gone before the JSON is written."""
    import os
    import subprocess

    from conftest import SOLUTIONS

    read, write = os.pipe()
    os.close(read)  # every write to the pipe now fails (EPIPE), deterministically
    try:
        run = subprocess.run([sys.executable, "-m", "grader", str(SOLUTIONS / "dinosaur_island.ipynb"), "--json",
                              "--only", "clip", "--hidden-cases", "0"], stdout=write, stderr=subprocess.PIPE,
                             text=True, cwd=ROOT, timeout=300)
    finally:
        os.close(write)
    assert run.returncode == 0 and "Traceback" not in run.stderr and "BrokenPipe" not in run.stderr, run.stderr


@pytest.mark.parametrize("option, value, expected", [
    ("--timeout", "-5", "give a number of seconds above 0"),  # every function was reported TIMEOUT
    ("--cell-timeout", "nan", "give a number of seconds above 0"),
    ("--jobs", "0", "give a whole number from 1"),
    ("--hidden-cases", "-1", "give a whole number from 0"),
    ("--fail-under", "150", "give a percentage from 0 to 100"),
    ("--memory-mb", "0", "give a whole number of MB above 0"),
    ("--max-notebook-mb", "ten", "'ten' is not a number of MB"),
])
def test_an_option_out_of_range_is_refused_before_anything_runs(option, value, expected, tmp_path, capsys):
    with pytest.raises(SystemExit) as stop:
        cli.main([str(tmp_path / "nb.ipynb"), option, value])
    error = capsys.readouterr().err
    assert stop.value.code == 2 and f"argument {option}: " in error and expected in error


def test_an_option_after_the_double_dash_is_refused_not_graded_as_a_file(tmp_path, capsys):
    """`grade --out grades/ -- *.ipynb --dry-run` used to grade the class for real (and note a missing file)."""
    (tmp_path / "a.ipynb").write_text("{}")
    out = tmp_path / "grades"
    assert cli.main(["--out", str(out), "--", str(tmp_path / "a.ipynb"), "--dry-run"]) == 2
    assert "--dry-run comes after --, so it is read as a file name" in capsys.readouterr().err
    assert not out.exists()


def test_the_demo_without_solutions_says_why_it_scores_0(monkeypatch, capsys):
    """A student build: README's "each scores 100/100" cannot hold, and the command says so first."""
    monkeypatch.setenv("GRADER_SOLUTIONS", "none")
    assert cli.main(["--demo", "--no-color", "--hidden-cases", "0"]) == 0
    out = " ".join(capsys.readouterr().out.split())
    assert out.startswith("note: no reference solutions here") and "each scores 0" in out


def test_the_command_leaves_quickly_yet_cleans_up_and_keeps_its_exit_status(tmp_path):
    """`grade` skips the interpreter's teardown (cli.run): its exit handlers still remove the worker's
    folders and stop the zygote, its output is complete, and the exit status is main()'s."""
    import json
    import os
    import subprocess

    from conftest import SOLUTIONS

    scratch = tmp_path / "tmp"
    scratch.mkdir()
    env = dict(os.environ, TMPDIR=str(scratch))
    command = [sys.executable, "-m", "grader", str(SOLUTIONS / "dinosaur_island.ipynb"), "--only", "clip",
               "--hidden-cases", "0"]
    graded = subprocess.run([*command, "--json"], capture_output=True, text=True, cwd=ROOT, env=env, timeout=300)
    assert graded.returncode == 0, graded.stderr
    assert json.loads(graded.stdout)["functions"][0]["name"] == "clip"  # every byte of the JSON was flushed
    starter = ROOT / "assignments" / "dinosaur_island.ipynb"  # graded, scores 0
    low = subprocess.run([sys.executable, "-m", "grader", str(starter), "--only", "clip", "--hidden-cases", "0",
                          "--fail-under", "50"], capture_output=True, text=True, cwd=ROOT, env=env, timeout=300)
    missing = subprocess.run([sys.executable, "-m", "grader", str(tmp_path / "none.ipynb")], capture_output=True,
                             text=True, cwd=ROOT, env=env, timeout=300)
    assert (low.returncode, missing.returncode) == (1, 2), (low.stderr, missing.stderr)
    assert sorted(path.name for path in scratch.iterdir()) == []  # no worker folder, no log folder left
