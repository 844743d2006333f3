"""Student text as data: one place that makes a string a student controls safe for each output.

File and folder names, notebook metadata, error messages and printed output all come from
students. Every output escapes them with the function for its medium, never with ad-hoc replaces:

    clean(text)       control characters and terminal escape sequences removed (the base of all below)
    terminal(text)    a Rich ``Text`` (never parsed as markup), cleaned
    markup(text)      cleaned and Rich-markup-escaped, for the rare place that needs a markup string
    csv_cell(value)   cleaned, and every formula start neutralised (OWASP "CSV injection": ``no_formulas``)
    no_formulas(text) a ``'`` before ``= + - @`` (tab, CR) at the start and after every ``, ;`` tab or newline
    md_inline(text)   cleaned, one line, every Markdown/HTML metacharacter backslash-escaped (CommonMark)
    md_code_block(t)  a fenced block no content can close early
    html(text)        cleaned and HTML-escaped
"""
from __future__ import annotations

import html as _html
import re

from rich.markup import escape as _rich_escape
from rich.text import Text

# Whole escape sequences first, so that their parameters do not survive as visible garbage:
# OSC/DCS/SOS/PM/APC strings (up to BEL or ST, or the end when unterminated: a terminal would
# swallow everything after it), CSI sequences, then two-byte ESC sequences; the 8-bit C1 forms too.
_SEQUENCES = re.compile(
    r"(?:\x1b[\]PX^_]|[\x90\x98\x9d\x9e\x9f]).*?(?:\x07|\x1b\\|\x9c|$)"  # string controls
    r"|(?:\x1b\[|\x9b)[0-?]*[ -/]*[@-~]?"                                 # CSI
    r"|\x1b[ -/]*[0-~]?",                                                 # other ESC sequences
    re.DOTALL,
)
# What is left: C0 controls except tab and newline, DEL, C1 controls, and the Unicode
# bidirectional overrides that make a terminal or editor show text in another order than it is.
_CONTROLS = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u200e\u200f\u202a-\u202e\u2066-\u2069]")


_SURROGATES = re.compile("[\ud800-\udfff]")


def visible_surrogates(value: str) -> str:
    """``value`` with each lone surrogate shown as text: a file name that is not UTF-8 arrives with
    its bytes as surrogate escapes (``\\udcff`` for 0xff), which no UTF-8 file or terminal can hold
    (writing one raises UnicodeEncodeError). Such a byte becomes ``\\xff``, any other surrogate ``\\udXXX``."""
    found = _SURROGATES.findall(value)
    if not found:
        return value
    if all("\udc80" <= surrogate <= "\udcff" for surrogate in found):  # surrogate escapes: one byte each
        # surrogateescape gives the undecodable bytes back, backslashreplace shows them as \xNN
        return value.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")
    return value.encode("utf-8", "backslashreplace").decode("utf-8")


def clean(text: object) -> str:
    """``text`` as a string with no control characters or terminal escape sequences (tab and
    newline stay; a CR-LF becomes a newline, a lone CR a newline too: it would overwrite the line),
    and no lone surrogates (shown as ``\\xNN``: see ``visible_surrogates``)."""
    value = visible_surrogates(str(text)).replace("\r\n", "\n").replace("\r", "\n")
    return _CONTROLS.sub("", _SEQUENCES.sub("", value))


def terminal(text: object, style: str = "") -> Text:
    """A Rich Text for student text: Text is never parsed as markup, and it is cleaned first."""
    return Text(clean(text), style=style)


def one_line(text: object, style: str = "") -> Text:
    """``terminal`` for text that is one line, such as a file name or a note naming files: a newline or
    tab in it (a file name may hold them) is shown as ``\\n`` or ``\\t``, never as a line of its own
    that would pass for the grader's."""
    return Text(clean(text).replace("\n", "\\n").replace("\t", "\\t"), style=style)


def markup(text: object) -> str:
    """Cleaned and escaped for a Rich markup string (``[bold]`` shows as text)."""
    return _rich_escape(clean(text))


#: OWASP, "CSV Injection": cells starting with these are run as formulas by spreadsheets.
_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
#: Where a spreadsheet may start a new cell inside one field: at a separator some locale or import dialog
#: uses (``,`` in English, ``;`` in de/fr/nl Excel, tab) or a line break. Quotes do not stop it: a quote
#: counts only at a field's start, and a field read with another separator starts elsewhere.
_CELL_BREAKS = re.compile(r"([,;\t\r\n])")
#: A number, which a spreadsheet reads as one, never as a formula (``-3.5``, ``+4``, ``1e-3``).
_NUMBER = re.compile(r"[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?")


def no_formulas(text: str, *, signed_numbers: bool = True) -> str:
    """``text`` with a ``'`` before every formula start a spreadsheet could see in it (OWASP: ``= + - @``;
    a cell starting with tab or CR too): at its start, and at the start of every part after a separator
    or line break inside it (``rnn;=1+1;.ipynb`` is three cells to a ``;`` reader), spaces skipped. Text is
    kept readable: nothing else changes, and a part that is a number (``x, -2``) or a lone ``-`` is left as
    it is. ``signed_numbers=False``: a whole text starting with ``+`` or ``-`` gets the quote even so."""
    parts = _CELL_BREAKS.split(text)  # text, separator, text, separator, ..., text
    for index in range(0, len(parts), 2):
        part = parts[index]
        head = part.lstrip(" ")
        if not head or head[0] not in "=+-@":
            continue
        plain = head[0] in "+-" and (head.rstrip(" ") == "-" or _NUMBER.fullmatch(head.rstrip(" ")) is not None)
        if plain and (index > 0 or signed_numbers):
            continue
        parts[index] = part[:len(part) - len(head)] + "'" + head
    value = "".join(parts)
    return "'" + value if text.startswith(("\t", "\r")) else value


def csv_cell(value: object) -> object:
    """A gradebook cell: numbers as they are; text cleaned, with a ``'`` before every formula start
    (``no_formulas``; at the start, a sign too: ``'-1``)."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return value
    # Checked on the raw text too: a leading CR is a formula start that clean() turns into a newline.
    raw = str(value)
    text = no_formulas(clean(raw), signed_numbers=False)
    return "'" + text if raw.startswith(_FORMULA_STARTS) and not text.startswith("'") else text


# Every ASCII punctuation character may be backslash-escaped in CommonMark and then stands for
# itself: escaping them all turns emphasis, links, images, autolinks, raw HTML, entities, table
# pipes, headings and list markers into plain characters.
_MD_PUNCTUATION = re.compile(r"([!-/:-@\[-`{-~])")


def md_inline(text: object, limit: int | None = None) -> str:
    """Student text for one Markdown line (a table cell, a list item, a heading): cleaned, on one
    line, every metacharacter escaped; cut to ``limit`` characters first when given."""
    value = " ".join(clean(text).split())
    if limit is not None and len(value) > limit:
        value = value[:limit - 1] + "…"
    return _MD_PUNCTUATION.sub(r"\\\1", value)


def md_code_block(text: object) -> str:
    """A fenced code block holding ``text`` verbatim: the fence is longer than any run of
    backticks inside, so the content cannot close it; code blocks show HTML as text."""
    value = clean(text)
    longest = max((len(run) for run in re.findall(r"`+", value)), default=0)
    fence = "`" * max(3, longest + 1)
    return f"{fence}text\n{value}\n{fence}"


def html(text: object) -> str:
    """Cleaned and escaped for HTML text or a quoted attribute."""
    return _html.escape(clean(text), quote=True)
