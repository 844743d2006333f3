"""Trips a new TA or instructor hit walking through README.md from a clean install ("For TAs", "Class
report and similarity", "With your LMS", "For instructors"): each is said plainly now."""
from __future__ import annotations

import io
import re
import zipfile
from contextlib import redirect_stdout
from pathlib import Path

import pytest

from grader.cli import main

from conftest import SOLUTIONS


def _one_line(text: str) -> str:
    return " ".join(text.split())


@pytest.mark.parametrize("dry_run", [False, True])
def test_no_notebooks_says_what_discovery_found(tmp_path, monkeypatch, capsys, dry_run):
    """`grade nosuch/ --out g/` said only "no notebooks found"; the path that does not exist is the answer."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "empty").mkdir()
    assert main(["nosuch/", "--out", "g/"] + (["--dry-run"] if dry_run else [])) == 2
    error = capsys.readouterr().err
    assert "no notebooks found in nosuch/" in error and "no such file or folder: nosuch/" in error
    assert main(["empty/", "x*.ipynb", "--out", "g/"] + (["--dry-run"] if dry_run else [])) == 2
    error = capsys.readouterr().err
    assert "nothing matches x*.ipynb" in error and "no such file" not in error
    assert not (tmp_path / "g").exists()


def _zip(path: Path, members: dict[str, Path]) -> Path:
    with zipfile.ZipFile(path, "w") as archive:
        for name, source in members.items():
            archive.write(source, name)
    return path


def test_a_dry_run_of_a_zip_names_notebooks_inside_the_zip_not_a_temporary_folder(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    _zip(tmp_path / "class.zip", {"smithj_12345_67890_rnn.ipynb": SOLUTIONS / "rnn_step_by_step.ipynb",
                                  "doej_54321_67891_rnn.ipynb": SOLUTIONS / "rnn_step_by_step.ipynb"})
    assert main(["class.zip", "--out", "g", "--dry-run", "--no-color"]) == 0
    shown = capsys.readouterr().out
    assert "class.zip/smithj_12345_67890_rnn.ipynb" in shown and "class.zip/doej_54321_67891_rnn.ipynb" in shown
    assert "grader-" not in shown and "/tmp" not in shown and not (tmp_path / "g").exists()
