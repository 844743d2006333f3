"""The page's own style and script, inlined into every report (it must open offline).

The script is allowed by its hash in the page's Content-Security-Policy and nothing else may run:
even a string that escaped escaping could not execute. It uses no inline handlers for that reason.
"""
from __future__ import annotations

import base64
import hashlib

CSS = """
:root{--ink:#1f2430;--dim:#6b7280;--line:#e5e7eb;--bg:#f7f8fa;--card:#fff;--accent:#4a7bd0}
*{box-sizing:border-box}
body{margin:0;font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,"DejaVu Sans",sans-serif;color:var(--ink);
background:var(--bg)}
header{background:#1f2a44;color:#fff;padding:18px 28px}
header h1{margin:0;font-size:22px}
header p{margin:4px 0 0;color:#c9d3e6}
nav{position:sticky;top:0;z-index:5;background:#fff;border-bottom:1px solid var(--line);padding:8px 28px}
nav a{margin-right:16px;color:var(--accent);text-decoration:none;font-weight:600}
main{padding:18px 28px;max-width:1400px}
[id]{scroll-margin-top:48px}
section{background:var(--card);border:1px solid var(--line);border-radius:8px;padding:16px 20px;margin:0 0 18px}
h2{margin:0 0 10px;font-size:18px}
h3{font-size:15px;margin:16px 0 6px}
.cards{display:flex;flex-wrap:wrap;gap:10px;margin-bottom:12px}
.card{border:1px solid var(--line);border-radius:8px;padding:8px 14px;min-width:120px;background:#fbfcfe}
.card b{display:block;font-size:20px}
.card span{color:var(--dim);font-size:12px}
.row{display:flex;flex-wrap:wrap;gap:24px;align-items:flex-start}
.row>div{flex:1 1 420px;min-width:0}
.row th{position:static}  /* a sticky header inside a scrolling box would cover its first rows */
svg{max-width:100%;height:auto}
table{border-collapse:collapse;font-size:13px}
table.wide{width:100%}
td{overflow-wrap:anywhere}
.nowrap{white-space:nowrap}
th,td{border-bottom:1px solid var(--line);padding:4px 8px;text-align:left;vertical-align:top}
th{background:#f1f3f7;position:sticky;top:37px;z-index:1}
th.sort{cursor:pointer;user-select:none;white-space:nowrap}
th.sort:after{content:" \\2195";color:#9aa3b2}
th.asc:after{content:" \\2191";color:var(--ink)}
th.desc:after{content:" \\2193";color:var(--ink)}
td.num,th.num{text-align:right;font-variant-numeric:tabular-nums}
.note{color:var(--dim)}
.warn{background:#fff3cd;border:1px solid #f0d98c;border-radius:6px;padding:8px 12px}
.flag{display:inline-block;white-space:nowrap;border-radius:4px;padding:0 6px;font-size:11px;font-weight:700;
margin-right:4px}
.flag.hard{background:#f8d7da;color:#842029}
.flag.flat{background:#fff3cd;color:#7a5a00}
.flag.neg{background:#842029;color:#fff}
.st{display:inline-block;min-width:58px;text-align:center;border-radius:4px;padding:1px 6px;font-size:11px;
font-weight:700}
.s-passed{background:#2e9d5b;color:#fff}.s-partial{background:#e9b949;color:#3b2f00}
.s-failed{background:#d9534f;color:#fff}
.s-error{background:#b23b3b;color:#fff}.s-timeout{background:#8e6cc0;color:#fff}
.s-crashed{background:#5a3e8c;color:#fff}
.s-not_implemented{background:#b9bec7;color:#222}.s-missing{background:#6c757d;color:#fff}
.s-unknown{background:#333;color:#fff}
.s-ng{background:#222;color:#fff}
table.heat td[class^="s-"]{text-align:center;font-size:11px;font-weight:700;border:1px solid #fff;padding:3px 6px}
table.heat th,table.heat td{white-space:nowrap}
table.heat td.name a{display:inline-block;max-width:360px;overflow:hidden;text-overflow:ellipsis;
vertical-align:bottom}
table.card-table td[class^="s-"]{text-align:center;font-size:11px;font-weight:700;border:1px solid #fff}
.controls{display:flex;flex-wrap:wrap;gap:10px;align-items:center;margin-bottom:8px}
.controls select,.controls input{font:inherit;padding:3px 6px}
.scroll{overflow:auto;max-height:70vh;border:1px solid var(--line);border-radius:6px}
.scroll th{top:0}
details.student{border:1px solid var(--line);border-radius:6px;margin:6px 0;padding:4px 10px;background:#fff}
details.student[open]{background:#fbfcfe;box-shadow:0 0 0 2px #c9d8f5}
details>summary{cursor:pointer;font-weight:600}
pre{background:#f4f5f7;border-radius:6px;padding:8px;overflow:auto;font-size:12px;white-space:pre-wrap;
word-break:break-word}
.pair{display:grid;grid-template-columns:minmax(0,1fr) minmax(0,1fr);gap:12px}
.pair pre{white-space:pre;margin:4px 0}
.pair mark{background:#ffe08a}
.code .ln{color:#9aa3b2;user-select:none}
a{color:var(--accent)}
ul.compact{margin:4px 0;padding-left:20px}
ul.msgs li{white-space:pre-wrap}  /* expected/got excerpts are aligned on lines */
.bar{display:inline-flex;width:160px;height:12px;border-radius:3px;overflow:hidden;vertical-align:middle;
background:#eee}
.bar i{display:block;height:100%}
"""

JS = """
(function(){
  'use strict';
  function value(cell){
    var v = cell.getAttribute('data-v');
    if (v === null) v = cell.textContent.trim();
    var n = parseFloat(v);
    return (v !== '' && !isNaN(n) && isFinite(v)) ? n : v.toLowerCase();
  }
  function sortBy(th){
    var table = th.closest('table'), body = table.tBodies[0];
    var index = Array.prototype.indexOf.call(th.parentNode.children, th);
    var ascending = !th.classList.contains('asc');
    table.querySelectorAll('th.sort').forEach(function(h){ h.classList.remove('asc', 'desc'); });
    th.classList.add(ascending ? 'asc' : 'desc');
    var rows = Array.prototype.slice.call(body.rows);
    rows.sort(function(a, b){
      var x = value(a.cells[index]), y = value(b.cells[index]);
      if (typeof x !== typeof y) { x = String(x); y = String(y); }
      return (x < y ? -1 : x > y ? 1 : 0) * (ascending ? 1 : -1);
    });
    rows.forEach(function(r){ body.appendChild(r); });
  }
  document.querySelectorAll('th.sort').forEach(function(th){
    th.addEventListener('click', function(){ sortBy(th); });
  });

  var status = document.getElementById('hm-status'), fn = document.getElementById('hm-function');
  var search = document.getElementById('hm-search'), count = document.getElementById('hm-count');
  // heatmap columns: the function cells start after the student's own columns
  var columns = Object.create(null), first = 0;  // function names are student-reachable data: no prototype
  document.querySelectorAll('#heatmap thead th').forEach(function(th, index){
    var name = th.getAttribute('data-fn');
    if (name !== null) { columns[name] = index; if (!first) first = index; }
  });
  function filter(){
    var table = document.getElementById('heatmap');
    if (!table) return;
    var s = status.value, f = fn.value, q = search.value.trim().toLowerCase(), shown = 0;
    Array.prototype.forEach.call(table.tBodies[0].rows, function(row){
      var ok = row.getAttribute('data-name').indexOf(q) >= 0;
      if (ok && s === 'not_graded') ok = row.getAttribute('data-graded') === '0';
      else if (ok && s) {
        var cells = f ? [row.cells[columns[f]]] : Array.prototype.slice.call(row.cells, first);
        ok = cells.some(function(c){ return c && c.classList.contains('s-' + s); });
      }
      row.hidden = !ok;
      if (ok) shown++;
    });
    count.textContent = shown + ' of ' + table.tBodies[0].rows.length + ' students';
  }
  if (status) {
    [status, fn].forEach(function(e){ e.addEventListener('change', filter); });
    search.addEventListener('input', filter);
    filter();
  }

  function openTarget(){
    var id = decodeURIComponent(location.hash.slice(1));
    var target = id && document.getElementById(id);
    if (target && target.tagName === 'DETAILS') { target.open = true; target.scrollIntoView(); }
  }
  window.addEventListener('hashchange', openTarget);
  openTarget();
  document.querySelectorAll('button[data-details]').forEach(function(b){
    b.addEventListener('click', function(){
      var open = b.getAttribute('data-details') === 'open';
      document.querySelectorAll('details.student').forEach(function(d){ d.open = open; });
    });
  });
})();
"""


def script_hash(script: str) -> str:
    """The CSP source that allows exactly this inline script."""
    return "'sha256-" + base64.b64encode(hashlib.sha256(script.encode()).digest()).decode() + "'"


def content_security_policy(script: str) -> str:
    return (f"default-src 'none'; style-src 'unsafe-inline'; img-src data:; script-src {script_hash(script)}; "
            "base-uri 'none'; form-action 'none'")
