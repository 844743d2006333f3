"""The class report as one self-contained HTML page, from ClassStats values. No I/O.

Every piece of text that came from a result file or a notebook (student names, paths, messages,
diagnoses, code) goes through ``esc``; links point only at ``#s<number>`` anchors made here,
never at anything a student wrote.
"""
from __future__ import annotations

import re
from typing import Callable, Collection, Iterable

from ..textsafe import html as safe_html
from ..similarity import K, WINDOW, Pair, SimilarityResult
from . import charts
from .assets import CSS, JS, content_security_policy
from .stats import (DISCRIMINATING_FROM, HARD_BELOW, STATUS_LABELS, STATUSES, Attention, CaseItem, Function,
                    FunctionStats, Mistake, Overview, Student)


def esc(value: object) -> str:
    """``textsafe.html``: escaped, and no control characters or bidi overrides. A page of 300 students
    escapes tens of thousands of strings, most of them names and words that need nothing: those are
    given back as they are (``textsafe.html`` would return them unchanged)."""
    if type(value) is str and _PLAIN(value):
        return value
    return safe_html(value)


_PLAIN = re.compile(r"[\t\n !#-%(-;=?-~]*").fullmatch
"""Printable ASCII, tab and newline, without ``" & ' < >``: what ``textsafe.html`` leaves as it is."""


def _pct(value: float | None) -> str:
    return "–" if value is None else f"{value:.1f}%"


def _points(value: float) -> str:
    return f"{value:g}"


def override_note(computed: float | None, unit: str = "") -> str:
    """"override; computed 65": shown beside a score a TA overrode (``grade override``), so that both
    are in sight; "" for a score the grader's own."""
    if computed is None:
        return ""
    return f"override; computed {f'{computed:.0f}' if unit == '%' else _points(computed)}{unit}"


def _total_note(s: Student, unit: str = "") -> str:
    """The override note of a student's total, when an override moved it (one on an optional item does not)."""
    if s.computed_score is None or abs(s.computed_score - s.score) < 1e-9:
        return ""
    return override_note(s.computed_percent if unit == "%" else s.computed_score, unit)


def badge(status: str) -> str:
    label = STATUS_LABELS.get(status, status.upper() or "?")
    return f'<span class="st s-{esc(status if status in STATUSES else "unknown")}">{esc(label)}</span>'


def student_link(student: Student) -> str:
    return f'<a href="#{student.key}">{esc(student.name)}</a>'


def chart(draw: Callable[[], str], what: str) -> str:
    """A chart, or a line saying why it is missing (the tables carry the same numbers)."""
    try:
        return f'<figure aria-label="{esc(what)}">{draw()}</figure>'
    except charts.ChartsUnavailable as missing:
        return f'<p class="warn">Chart not drawn ({esc(what)}): {esc(missing)}. The tables below have the numbers.</p>'


def shell(title: str, subtitle: str, nav: list[tuple[str, str]], body: str) -> str:
    links = "".join(f'<a href="#{anchor}">{esc(label)}</a>' for anchor, label in nav)
    return (
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
        f'<meta http-equiv="Content-Security-Policy" content="{esc(content_security_policy(JS))}">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{esc(title)}</title><style>{CSS}</style></head><body>"
        f"<header><h1>{esc(title)}</h1><p>{subtitle}</p></header>"
        f"<nav>{links}</nav><main>{body}</main><script>{JS}</script></body></html>\n")


# --- sections --------------------------------------------------------------------------------------

def glance_section(view: Overview, histogram: Callable[[], str] | None = None) -> str:
    """``histogram``: the chart's SVG when called (``charts.Drawer``: drawn in a process of its own);
    by default drawn here."""
    cards = [("students", str(view.total)), ("graded", str(view.graded)),
             ("not graded", str(view.total - view.graded)), ("mean", _pct(view.mean)),
             ("median", _pct(view.median)), ("quartiles", f"{_pct(view.q1)} – {_pct(view.q3)}"),
             ("full marks", str(view.full_marks))]
    html_cards = "".join(f'<div class="card"><b>{esc(value)}</b><span>{esc(label)}</span></div>'
                         for label, value in cards)
    reasons = ""
    if view.reasons:
        items = "".join(f"<li>{count} × {esc(reason)}</li>" for reason, count in view.reasons)
        reasons = f"<h3>Why notebooks could not be graded</h3><ul class=\"compact\">{items}</ul>"
    assignments = ", ".join(f"{esc(name)} ({count})" for name, count in view.assignments)
    drawn = histogram or (lambda: charts.score_histogram(list(view.percents), view.mean, view.median))
    histogram_html = chart(drawn, "score histogram") if view.percents else '<p class="note">No graded notebook.</p>'
    return (f'<section id="glance"><h2>The class at a glance</h2><div class="cards">{html_cards}</div>'
            f'<div class="row"><div>{histogram_html}</div><div><p>Assignments: {assignments or "–"}</p>'
            f"<p class=\"note\">Scores are the required part, in % of its points; quartiles are the 25th and 75th "
            f"percentiles of the graded notebooks.</p>{reasons}</div></div></section>")


def attention_section(items: list[Attention]) -> str:
    if not items:
        return ('<section id="attention"><h2>Notebooks to look at</h2><p>None: every notebook was graded, nothing '
                'timed out or crashed, no sign of hard-coding or copying.</p></section>')
    rows = "".join(f'<tr><td data-v="{esc(a.kind)}"><span class="flag hard">{esc(a.kind)}</span></td>'
                   f"<td>{student_link(a.student)}</td><td>{esc(a.detail[:400])}</td></tr>" for a in items)
    return ('<section id="attention"><h2>Notebooks to look at</h2>'
            '<p class="note">Could not be graded, ran out of time, killed its worker, passed the published cases '
            'but no hidden one (a sign of hard-coded answers), or resembles another notebook.</p>'
            '<table class="sortable wide"><thead><tr><th class="sort">why</th><th class="sort">student</th>'
            f"<th>detail</th></tr></thead><tbody>{rows}</tbody></table></section>")


def _status_bar(stats: FunctionStats) -> str:
    parts = "".join(f'<i style="width:{100 * count / max(stats.students, 1):.2f}%;'
                    f'background:{charts.STATUS_COLOURS.get(status, "#333")}" title="{esc(status)}: {count}"></i>'
                    for status, count in stats.statuses)
    return f'<span class="bar">{parts}</span>'


def _flags(item: CaseItem) -> str:
    flags = []
    if item.hard:
        flags.append('<span class="flag hard">hard</span>')
    if item.discrimination is not None and item.discrimination < 0:
        flags.append('<span class="flag neg">negative</span>')
    elif item.non_discriminating:
        flags.append('<span class="flag flat">non-discriminating</span>')
    return "".join(flags)


def _function_row(f: FunctionStats) -> str:
    optional = "<br><span class=note>(optional)</span>" if f.section == "optional" else ""
    statuses = " ".join(f"{badge(status)}&nbsp;{count}" for status, count in f.statuses)
    points = "<br>".join(f"<span class=nowrap>{_points(value)} pts × {count}</span>" for value, count in f.points)
    return (f"<tr><td class=nowrap>{esc(f.name)}{optional}</td>"
            f'<td class="num">{_points(f.max_points)}</td><td class="num">{f.students}</td>'
            f'<td class="num" data-v="{f.pass_rate:.4f}">{100 * f.pass_rate:.0f}%</td>'
            f'<td class="num" data-v="{f.mean_score:.4f}">{f.mean_score:.1f}</td>'
            f"<td>{_status_bar(f)} {statuses}</td><td>{points}</td></tr>")


def _case_row(i: CaseItem) -> str:
    shown = "n/a" if i.discrimination is None else f"{i.discrimination:.2f}"
    order = -9 if i.discrimination is None else i.discrimination  # n/a sorts below every value
    return (f"<tr><td class=nowrap>{esc(i.function)}</td><td class=nowrap>{esc(i.case)}</td>"
            f"<td class=nowrap>{'hidden' if i.hidden else 'published'}</td>"
            f'<td class="num">{i.students}</td><td class="num" data-v="{i.difficulty:.4f}">{i.difficulty:.2f}</td>'
            f'<td class="num" data-v="{order:.4f}">{shown}</td><td>{_flags(i)}</td></tr>')


def items_section(functions: list[FunctionStats], bars: Callable[[], str] | None = None,
                  scatter: Callable[[], str] | None = None) -> str:
    """``bars``, ``scatter``: the charts' SVG when called (as ``glance_section``'s histogram)."""
    rows = "".join(_function_row(f) for f in functions)
    items = [item for f in functions for item in f.cases]
    case_rows = "".join(_case_row(i) for i in items)
    bars_html = chart(bars or (lambda: charts.status_bars(functions)), "status per function") if functions else ""
    scatter_html = chart(scatter or (lambda: charts.item_scatter(items)), "item analysis") if items else ""
    return (
        '<section id="items"><h2>Graded items</h2>'
        '<table class="sortable wide"><thead><tr><th class="sort">function</th><th class="sort num">points</th>'
        '<th class="sort num">students</th><th class="sort num">pass rate</th><th class="sort num">mean score</th>'
        f"<th>status</th><th>points earned</th></tr></thead><tbody>{rows}</tbody></table>"
        f'<div class="row"><div>{bars_html}</div><div>{scatter_html}</div></div>'
        '<h3 id="item-analysis">Item analysis per case</h3>'
        f'<p class="note">Difficulty: share of the students who passed the case; <span class="flag hard">hard</span> '
        f"below {HARD_BELOW:.0%}. Discrimination: point-biserial correlation between passing the case and the "
        f"points earned on the other functions; <span class=\"flag flat\">non-discriminating</span> below "
        f"{DISCRIMINATING_FROM}, <span class=\"flag neg\">negative</span> when stronger students fail it more often "
        "(check the case). n/a: everybody or nobody passed it, so it cannot discriminate.</p>"
        '<table class="sortable wide"><thead><tr><th class="sort">function</th><th class="sort">case</th>'
        '<th class="sort">kind</th><th class="sort num">students</th><th class="sort num">difficulty</th>'
        f'<th class="sort num">discrimination</th><th class="sort">flags</th></tr></thead><tbody>{case_rows}</tbody>'
        "</table></section>")


def heatmap_section(students: list[Student], names: list[str], optional: Collection[str] = ()) -> str:
    header = "".join(f'<th class="sort" data-fn="{esc(n)}"{" title=optional" if n in optional else ""}>{esc(n)}'
                     f'{"<sup>opt</sup>" if n in optional else ""}</th>' for n in names)
    several = len({s.assignment for s in students if s.graded}) > 1

    def assignment(s: Student) -> str:
        return f"<td>{esc(s.assignment)}</td>" if several else ""

    rows = []
    for s in students:
        cells = []
        for name in names:
            f = s.function(name) if s.graded else None
            if f is None:  # another assignment's function, or not graded
                cells.append('<td data-v="-1"></td>')
            else:  # the cell is coloured by its status; a row is kept small (300 students, 12 functions)
                rank = f.score / f.max_score if f.max_score else 0
                label = STATUS_LABELS.get(f.status, "?")
                if f.computed_score is None:
                    cells.append(f'<td class="s-{esc(f.status)}" data-v="{rank:.3g}">{esc(label)}</td>')
                else:  # the grader's status, the TA's points: marked, both in the tooltip
                    title = f"{_points(f.score)} points ({override_note(f.computed_score)}): {f.override}"
                    cells.append(f'<td class="s-{esc(f.status)}" data-v="{rank:.3g}" title="{esc(title)}">'
                                 f"{esc(label)}<sup>TA</sup></td>")
        score = f'<td class="num" data-v="{s.percent:.3f}">{s.percent:.0f}%</td>' if s.graded else \
            '<td class="num" data-v="-1"><span class="st s-ng">NOT GRADED</span></td>'
        if s.graded and _total_note(s):
            score = (f'<td class="num" data-v="{s.percent:.3f}" title="{esc(_total_note(s, "%"))}">'
                     f"{s.percent:.0f}%<sup>TA</sup></td>")
        rows.append(f'<tr data-name="{esc(s.name.lower())}" data-graded="{1 if s.graded else 0}">'
                    f'<td class="name" title="{esc(s.name)}">{student_link(s)}</td>{assignment(s)}{score}'
                    f'{"".join(cells)}</tr>')
    status_options = "".join(f'<option value="{s}">{STATUS_LABELS[s]} ({s.replace("_", " ")})</option>'
                             for s in STATUSES)
    function_options = "".join(f'<option value="{esc(n)}">{esc(n)}</option>' for n in names)
    return (
        '<section id="heatmap-section"><h2>Students × functions</h2><div class="controls">'
        '<label>status <select id="hm-status"><option value="">any</option>'
        f'{status_options}<option value="not_graded">not graded</option></select></label>'
        f'<label>in <select id="hm-function"><option value="">any function</option>{function_options}</select></label>'
        '<label>student <input id="hm-search" type="search" placeholder="name contains"></label>'
        '<span id="hm-count" class="note"></span></div>'
        '<p class="note">Click a column to sort (scores, then status by points earned); click a name for the '
        'student\'s report.</p><div class="scroll"><table id="heatmap" class="heat sortable"><thead><tr>'
        f'<th class="sort">student</th>{"<th class=sort>assignment</th>" if several else ""}'
        f'<th class="sort num">score</th>{header}</tr></thead>'
        f"<tbody>{''.join(rows)}</tbody></table></div></section>")


def _mistake_text(m: Mistake) -> str:
    return f"<span class=note>raised </span><code>{esc(m.diagnosis)}</code>" if m.raised else esc(m.diagnosis)


def mistakes_section(mistakes: list[Mistake]) -> str:
    if not mistakes:
        return ('<section id="mistakes"><h2>Common mistakes</h2><p>No failing function matched a known mistake '
                "or raised an error.</p></section>")
    rows = "".join(f'<tr><td class=nowrap>{esc(m.function)}</td><td class="num">{len(m.students)}</td>'
                   f"<td>{_mistake_text(m)}</td>"
                   f"<td>{', '.join(student_link(s) for s in m.students)}</td></tr>" for m in mistakes)
    return ('<section id="mistakes"><h2>Common mistakes</h2><p class="note">The diagnosis the grader gave when one '
            "known mistake reproduces the wrong output exactly, then the errors no diagnosis explains, by the "
            "exception raised; grouped per function.</p>"
            '<table class="sortable wide"><thead><tr><th class="sort">function</th><th class="sort num">students</th>'
            f"<th class=\"sort\">likely mistake</th><th>who</th></tr></thead><tbody>{rows}</tbody></table></section>")


def _student_body(s: Student) -> str:
    parts = [f'<p class="note">{esc(s.notebook)}</p>']
    if not s.graded:
        parts.append(f'<p><b>Could not be graded:</b> {esc(s.error)}</p>')
        return "".join(parts)
    version = f" (course version {esc(s.course_version)})" if s.course_version else ""
    total = f" ({_total_note(s)})" if _total_note(s) else ""
    parts.append(f"<p>Assignment {esc(s.assignment)}{version}. <b>Score {_points(s.score)} / {_points(s.max_score)}"
                 f"{total}</b> ({s.percent:.0f}%)" + (f"; optional part {_points(s.optional_score)} / "
                                                      f"{_points(s.optional_max_score)}" if s.optional_max_score else "")
                 + "</p>")

    def points(f: Function) -> str:
        note = f" ({override_note(f.computed_score)})" if f.computed_score is not None else ""
        return f"{_points(f.score)}/{_points(f.max_score)}{note}"

    # closing tags of cells and rows left out (valid HTML): 300 students' tables add up
    rows = "".join(f"<tr><td>{esc(f.name)}{' (optional)' if f.section == 'optional' else ''}"
                   f'<td class="s-{esc(f.status)}">{esc(STATUS_LABELS.get(f.status, "?"))}'
                   f"<td class=num>{points(f)}"
                   f"<td class=num>{sum(c.passed for c in f.cases)}/{len(f.cases)}" for f in s.functions)
    parts.append(f'<table class="card-table"><thead><tr><th>function<th>status<th>points<th>cases<tbody>{rows}</table>')
    changed = [f for f in s.functions if f.computed_score is not None]
    if changed:  # why, in the TA's words (text a TA typed: escaped like everything else)
        items = "".join(f"<li>{esc(f.name)}: {_points(f.score)} points, computed {_points(f.computed_score or 0)}: "
                        f"{esc(f.override) or '(no reason given)'}</li>" for f in changed)
        parts.append(f"<p>Score changed by a TA (<code>grade override</code>):</p><ul class=\"compact\">{items}</ul>")
    todo = [f.name for f in s.functions if f.status == "not_implemented"]
    if todo:
        parts.append(f"<p>TODO (not implemented yet): {esc(', '.join(todo))}.</p>")
    for f in s.functions:
        if f.status == "not_implemented" or (f.status == "passed" and not f.messages):
            continue
        detail = [f"<h4>{esc(f.name)}: {badge(f.status)}</h4>"]
        if f.diagnosis:
            detail.append(f"<p><b>Likely mistake:</b> {esc(f.diagnosis)}</p>")
        bullets = [esc(m) for m in f.messages]
        if not bullets:  # the messages already name the failing cases when there are any
            bullets = [f"case {esc(c.name)}: {esc(c.message)}" for c in f.cases if not c.passed and c.message][:4]
        if bullets:
            detail.append("<ul class=\"compact msgs\">" + "".join(f"<li>{b}</li>" for b in bullets) + "</ul>")
        if f.traceback:
            detail.append(f"<pre>{esc(f.traceback)}</pre>")
        parts.append("".join(detail))
    if s.cell_issues:
        issues = "".join(f"<li>{esc(where)} ({esc(kind)}): {esc(_last_line(message))}</li>"
                         for where, kind, message in s.cell_issues)
        parts.append(f"<p>Cells that failed while the notebook loaded:</p><ul class=\"compact\">{issues}</ul>")
    parts.extend(f'<p class="note">note: {esc(note)}</p>' for note in s.notes)
    if s.batch_note:
        parts.append(f'<p class="note">{esc(s.batch_note)}</p>')
    return "".join(parts)


def _last_line(message: str) -> str:
    return message.strip().splitlines()[-1] if message.strip() else ""


def _summary_score(s: Student) -> str:
    if not s.graded:
        return "not graded"
    note = _total_note(s, "%")
    return f"{s.percent:.0f}%" + (f" ({note})" if note else "")


def students_section(students: list[Student]) -> str:
    blocks = "".join(
        f'<details class="student" id="{s.key}"><summary>{esc(s.name)} — '
        f"{_summary_score(s)}</summary>{_student_body(s)}</details>" for s in students)
    return ('<section id="students"><h2>Students</h2><p class="note">The report each student sees. '
            '<button type="button" data-details="open">open all</button> '
            f'<button type="button" data-details="close">close all</button></p>{blocks}</section>')


# --- similarity ------------------------------------------------------------------------------------

#: What one side of a flagged function shows at most: the shared lines first, then the others in order,
#: each line cut at a width no line of the corpus's real notebooks reaches (286 at most). A function is
#: as long as its notebook lets it be (1,000,000 characters), and a page of a few hundred such pairs in
#: full reached hundreds of megabytes; the reader needs the shared fragments and the notebook for the rest.
SHOWN_LINES = 120
SHOWN_LINE_CHARS = 400
#: Pairs whose fragments one page shows at most, and the characters their fragments may take in all
#: (a pair of notebooks defining every graded name of every assignment shows up to 17 functions a side);
#: the table lists every pair.
FRAGMENTS_MAX = 200
FRAGMENTS_CHARS = 16_000_000


def _shown_lines(lines: Iterable[int], marked: set[int]) -> tuple[list[int], int]:
    """The lines to show (at most SHOWN_LINES, shared ones first, then in order) and how many are left out."""
    compared = list(lines)
    if len(compared) <= SHOWN_LINES:
        return compared, 0
    chosen = [number for number in compared if number in marked][:SHOWN_LINES]
    if len(chosen) < SHOWN_LINES:
        taken = set(chosen)
        chosen += [number for number in compared if number not in taken][:SHOWN_LINES - len(chosen)]
    return sorted(chosen), len(compared) - len(chosen)


def _code(source: str, lines: Iterable[int], marked: set[int]) -> str:
    text = source.split("\n")
    shown, left_out = _shown_lines((number for number in lines if number <= len(text)), marked)
    out, previous = [], None
    for number in shown:
        if previous is not None and number != previous + 1:
            out.append('<span class="ln">   …</span>')
        content = text[number - 1]
        if len(content) > SHOWN_LINE_CHARS:
            content = content[:SHOWN_LINE_CHARS - 1] + "…"
        line = f'<span class="ln">{number:4d}</span> {esc(content)}'
        out.append(f"<mark>{line}</mark>" if number in marked else line)
        previous = number
    if left_out:
        out.append(f'<span class="ln">   …</span> {left_out} more compared lines not shown: read them in the notebook')
    return "<pre class=\"code\">" + "\n".join(out) + "</pre>"


def _flagged_functions(pair: Pair) -> str:
    return ", ".join(f"{m.name} {m.jaccard:.2f} ({m.shared})" for m in pair.matches if m.name in pair.flagged)


def _pair_block(number: int, pair: Pair, name_of: Callable[[str], str]) -> str:
    blocks = []
    for match in pair.matches:
        if match.name not in pair.flagged:
            continue
        a, b = pair.a.functions[match.name], pair.b.functions[match.name]
        blocks.append(f"<h4>{esc(match.name)}: Jaccard {match.jaccard:.2f}, containment {match.containment:.2f}, "
                      f"{match.shared} shared fingerprints</h4><div class=\"pair\"><div>{name_of(pair.a.student)}"
                      f"{_code(a.source, a.lines, set(match.lines_a))}</div><div>{name_of(pair.b.student)}"
                      f"{_code(b.source, b.lines, set(match.lines_b))}</div></div>")
    return (f'<details class="pair-detail" id="pair-{number}"><summary>{esc(pair.a.student)} ↔ {esc(pair.b.student)} '
            f"({pair.jaccard:.2f})</summary>{''.join(blocks)}</details>")


def similarity_section(result: SimilarityResult | None, keys: dict[str, str] | None = None, why_missing: str = "",
                       fragments: int | None = None) -> str:
    """Flagged pairs with their shared fragments (of the first ``fragments`` pairs when given: the
    class report stays small, `grade similarity` shows them all); ``keys`` maps student names to
    their report anchors."""
    head = ('<section id="similarity"><h2>Similarity</h2><p class="warn">Evidence for a human to weigh, not a '
            "verdict: short exercises leave few ways to write them, and students may have worked from the same "
            "source. Read the fragments before drawing any conclusion.</p>")
    if result is None:
        return head + f"<p>{esc(why_missing)}</p></section>"

    def name_of(student: str) -> str:
        key = (keys or {}).get(student)
        return f'<a href="#{key}">{esc(student)}</a>' if key else f"<b>{esc(student)}</b>"

    compared = [s for s in result.students if s.functions]
    unreadable = [s for s in result.students if s.problem]
    settings = (f"{len(compared)} notebooks compared on the code between START/END CODE HERE of each graded function; "
                f"winnowing over normalised tokens (k = {K}, window = {WINDOW}); "
                f"{result.discounted} fingerprints of the "
                f"starter code and reference solution discounted"
                + (f", {result.common} shared by a large part of the class ignored" if result.common else "")
                + f"; flagged when a function, or the notebook's graded code as a whole, reaches Jaccard ≥ "
                  f"{result.threshold:.2f} with at least {result.min_shared} shared fingerprints.")
    body = [f'<p class="note">{esc(settings)}</p>']
    if unreadable:
        body.append("<p>Not compared: "
                    + ", ".join(f"{name_of(s.student)} ({esc(s.problem[:120])})" for s in unreadable)
                    + "</p>")
    if not result.pairs:
        body.append("<p>No pair above the threshold.</p>")
    else:
        blocks, size = [], 0  # the fragments first: the table links to those shown
        for n, p in enumerate(result.pairs[:FRAGMENTS_MAX if fragments is None else min(fragments, FRAGMENTS_MAX)],
                              start=1):
            if size > FRAGMENTS_CHARS:
                break
            blocks.append(_pair_block(n, p, name_of))
            size += len(blocks[-1])
        shown = result.pairs[:len(blocks)]
        rows = "".join(
            f'<tr><td>{name_of(p.a.student)}</td><td>{name_of(p.b.student)}</td>'
            f'<td class="num" data-v="{p.jaccard:.4f}">{p.jaccard:.2f}</td>'
            f"<td>{esc(_flagged_functions(p))}</td>"
            + (f'<td class="nowrap"><a href="#pair-{n}">fragments</a></td></tr>' if n <= len(shown) else "<td></td></tr>")
            for n, p in enumerate(result.pairs, start=1))
        body.append('<table class="sortable wide"><thead><tr><th class="sort">student A</th>'
                    '<th class="sort">student B</th><th class="sort num">overall</th>'
                    '<th>flagged functions: Jaccard (shared)</th><th></th></tr></thead>'
                    f"<tbody>{rows}</tbody></table>")
        body.extend(blocks)
        if len(shown) < len(result.pairs) and fragments is not None:
            body.append(f'<p class="note">Fragments of the first {len(shown)} pairs shown; '
                        f"`grade similarity SUBMISSIONS/ -o similarity.html` shows those of the first "
                        f"{FRAGMENTS_MAX}.</p>")
        elif len(shown) < len(result.pairs):
            body.append(f'<p class="note">Fragments of the first {len(shown)} pairs shown (the most similar); '
                        "the table lists every pair. Compare fewer notebooks at a time to see the others' "
                        "fragments.</p>")
    return head + "".join(body) + "</section>"
