"""`grade --help` documents every option (with its default), the commands and the exit codes; the
kernel engine, an optional extra, is refused with the command that installs it."""
from __future__ import annotations

import importlib.util
import io
from contextlib import redirect_stdout

import pytest

from grader import cli


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
