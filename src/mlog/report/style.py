"""The one stylesheet and page shell of every HTML page mlog writes: report, diff, model card.

Pages are self-contained: the CSS below and any script are inline, and nothing refers to a
URL, so a page opens the same from a laptop, a CI artifact or an e-mail, with no network.
Tables are plain HTML, so a page reads without JavaScript; a small inline script only makes
tables marked ``sortable`` sort when a header is clicked.
"""

from __future__ import annotations

import html
import math
from collections.abc import Iterable, Sequence
from typing import Any

CSS = """
:root{--fg:#1f2328;--muted:#656d76;--line:#d0d7de;--soft:#f6f8fa;--accent:#0969da;
--good:#1a7f37;--bad:#cf222e;--warn:#9a6700;--champion:#bf8700}
*{box-sizing:border-box}
body{font:14px/1.5 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;color:var(--fg);
margin:0;background:#fff}
header.top{background:#24292f;color:#fff;padding:1rem 2rem}
header.top h1{margin:0;font-size:1.4rem;font-weight:600}
header.top p{margin:.2rem 0 0;color:#c9d1d9}
main{max-width:90rem;margin:0 auto;padding:1rem 2rem 3rem}
h1{font-size:1.6rem;margin:1rem 0 .5rem}
h2{font-size:1.2rem;margin:2rem 0 .6rem;padding-bottom:.3rem;border-bottom:1px solid var(--line)}
h3{font-size:1rem;margin:1.2rem 0 .4rem}
p.note,.muted{color:var(--muted)}
.summary{display:flex;flex-wrap:wrap;gap:.8rem;margin:.6rem 0 1rem}
.summary div{border:1px solid var(--line);border-radius:6px;padding:.5rem .9rem;
background:var(--soft)}
.summary b{display:block;font-size:1.2rem}
.scroll{overflow:auto;max-height:32rem;border:1px solid var(--line);border-radius:6px}
table{border-collapse:collapse;margin:.4rem 0 1rem;font-size:13px}
.scroll table{margin:0;width:100%}
th,td{border:1px solid var(--line);padding:.3rem .6rem;text-align:left;vertical-align:top}
.scroll th,.scroll td{border-width:0 0 1px;white-space:nowrap}
th{background:var(--soft);font-weight:600;position:sticky;top:0}
td.num{text-align:right;font-variant-numeric:tabular-nums}
table.sortable th{cursor:pointer;user-select:none}
table.sortable th[aria-sort=ascending]::after{content:" \\25B2"}
table.sortable th[aria-sort=descending]::after{content:" \\25BC"}
tr.champion td{background:#fff8c5}
code,.mono{font-family:ui-monospace,SFMono-Regular,Menlo,monospace;font-size:12px}
.badge{display:inline-block;padding:0 .45rem;border-radius:1rem;font-size:12px;
border:1px solid var(--line);background:var(--soft);white-space:nowrap}
.improved,.added,.succeeded{color:var(--good);border-color:#aceebb}
.regressed,.failed,.removed{color:var(--bad);border-color:#ffcecb}
.missing,.interrupted,.changed,.upgraded,.downgraded{color:var(--warn);border-color:#f5e0a0}
.within_tolerance,.same,.no_champion,.no_metrics{color:var(--muted)}
.new{color:var(--accent)}
.star{color:var(--champion)}
.warning{background:#fff8c5;border-left:4px solid #d4a72c;padding:.6rem 1rem;border-radius:4px}
.grid{display:grid;grid-template-columns:repeat(auto-fill,minmax(34rem,1fr));gap:1rem}
.chart{border:1px solid var(--line);border-radius:6px;padding:.4rem;min-width:0}
noscript p{color:var(--muted)}
"""

SORT_SCRIPT = """
document.querySelectorAll("table.sortable").forEach(function (table) {
  table.querySelectorAll("th").forEach(function (th, column) {
    th.addEventListener("click", function () {
      var down = th.getAttribute("aria-sort") === "ascending";
      table.querySelectorAll("th").forEach(function (h) { h.removeAttribute("aria-sort"); });
      th.setAttribute("aria-sort", down ? "descending" : "ascending");
      var body = table.tBodies[0], rows = Array.prototype.slice.call(body.rows);
      function key(row) {
        var cell = row.cells[column], raw = cell ? cell.getAttribute("data-sort") : null;
        var text = raw !== null ? raw : (cell ? cell.textContent : "");
        var number = parseFloat(text);
        return isNaN(number) || raw === null && !/^-?[0-9.]+(e[-+]?[0-9]+)?$/i.test(text.trim())
          ? [1, text] : [0, number];
      }
      rows.sort(function (a, b) {
        var x = key(a), y = key(b), order = x[0] - y[0] ||
          (x[1] < y[1] ? -1 : x[1] > y[1] ? 1 : 0);
        return down ? -order : order;
      });
      rows.forEach(function (row) { body.appendChild(row); });
    });
  });
});
"""


def esc(value: Any) -> str:
    return html.escape(str(value), quote=True)


def shown(value: Any) -> str:
    """A value as a table shows it: numbers to 6 significant digits, ``-`` for nothing."""
    if value is None:
        return "-"
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, float):
        return f"{value:.6g}" if math.isfinite(value) else str(value)
    if isinstance(value, list):
        return " ".join(str(item) for item in value)
    return str(value)


def badge(text: str, kind: str | None = None) -> str:
    """A small label coloured by its kind (a verdict, a status, a change)."""
    return f'<span class="badge {esc(kind or text)}">{esc(text.replace("_", " "))}</span>'


Cell = str | tuple[str, Any]
"""Escaped HTML, or (escaped HTML, sort key) for a cell whose order is not its text."""


def table(
    headers: Sequence[str],
    rows: Iterable[Sequence[Cell]],
    *,
    sortable: bool = False,
    numeric: Sequence[int] = (),
    row_classes: Sequence[str] = (),
) -> str:
    """An HTML table of already-escaped cells; ``row_classes[i]`` styles row ``i``."""
    head = "".join(f"<th>{esc(h)}</th>" for h in headers)
    classes = list(row_classes)
    body = "".join(
        _row(cells, numeric, classes[i] if i < len(classes) else "") for i, cells in enumerate(rows)
    )
    css = ' class="sortable"' if sortable else ""
    return f"<table{css}><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _row(cells: Sequence[Cell], numeric: Sequence[int], css: str) -> str:
    tds = []
    for column, cell in enumerate(cells):
        text, key = cell if isinstance(cell, tuple) else (cell, None)
        attrs = ' class="num"' if column in numeric else ""
        if key is not None:
            attrs += f' data-sort="{esc(key)}"'
        tds.append(f"<td{attrs}>{text}</td>")
    klass = f' class="{esc(css)}"' if css else ""
    return f"<tr{klass}>{''.join(tds)}</tr>"


def page(title: str, body: str, *, subtitle: str = "", head: str = "", tail: str = "") -> str:
    """A whole HTML document: the stylesheet, ``head`` and ``tail`` HTML (scripts), all inline.

    The table sorter comes only with a sortable table, so a page of plain tables (a model
    card) carries no script at all.
    """
    sub = f"<p>{esc(subtitle)}</p>" if subtitle else ""
    if 'class="sortable"' in body:
        tail = f"<script>{SORT_SCRIPT}</script>\n{tail}"
    return (
        '<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        '<meta name="viewport" content="width=device-width,initial-scale=1">\n'
        f"<title>{esc(title)}</title>\n<style>{CSS}</style>\n{head}</head>\n<body>\n"
        f'<header class="top"><h1>{esc(title)}</h1>{sub}</header>\n<main>\n{body}\n</main>\n'
        f"{tail}</body>\n</html>\n"
    )
