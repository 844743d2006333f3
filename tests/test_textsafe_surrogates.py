"""A file name that is not UTF-8 reaches the grader as surrogate escapes; every output shows them as text."""
from __future__ import annotations

import csv
import io
import os

from grader import textsafe

NAME = os.fsdecode(b"/class/bad\xff\xfename.ipynb")  # "\udcff\udcfe": what Python makes of those bytes


def test_surrogate_escapes_become_the_bytes_they_stand_for():
    assert textsafe.clean(NAME) == "/class/bad\\xff\\xfename.ipynb"
    assert textsafe.clean("a\ud800b") == "a\\ud800b"  # a surrogate no byte stands for
    assert textsafe.clean("é ok") == "é ok"


def test_every_medium_can_be_written_as_utf8():
    written = [textsafe.csv_cell(NAME), textsafe.md_inline(NAME), textsafe.md_code_block(NAME), textsafe.html(NAME),
               textsafe.markup(NAME), textsafe.terminal(NAME).plain]
    for text in written:
        assert "xff" in text
        text.encode("utf-8")  # raised UnicodeEncodeError before
    buffer = io.StringIO()
    csv.writer(buffer).writerow([textsafe.csv_cell(NAME)])
    buffer.getvalue().encode("utf-8")
