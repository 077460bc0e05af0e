"""The report and two-run diff pages: tables in plain HTML, charts from :mod:`mlog.report.plots`.

The page reads without JavaScript: every number a chart draws is also in a table (runs,
diff, registry events), and a ``<noscript>`` note says the charts need scripts.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from mlog.report import data, plots
from mlog.report.style import badge, esc, page, shown, table

NOSCRIPT = (
    "<noscript><p>Charts need JavaScript; every table on this page reads without it.</p></noscript>"
)


@dataclass
class ReportInput:
    """Everything a report shows, read from the store beforehand (see ``mlog.api.report``)."""

    records: list[dict[str, Any]]
    points: dict[str, list[dict[str, Any]]]
    champions: dict[str, dict[str, Any]]
    metric_config: Mapping[str, Mapping[str, Any]]
    events: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    diff: dict[str, Any] | None = None
    lineage: list[dict[str, Any]] = field(default_factory=list)
    """Producer → consumer links between runs of the selection (``mlog lineage``'s edges)."""
    title: str = "mlog report"
    subtitle: str = ""
    warnings: list[str] = field(default_factory=list)


class _Charts:
    """Figures of one page: each leaves a marker in the body, filled by one embedding call."""

    def __init__(self) -> None:
        self.figures: list[Any] = []

    def slot(self, figure: Any) -> str:
        self.figures.append(figure)
        return f"<!--mlog-chart-{len(self.figures) - 1}-->"

    def page(self, given: ReportInput, body: str) -> str:
        if not self.figures:
            return page(given.title, body, subtitle=given.subtitle)
        script, divs = plots.embed(self.figures)
        for index, div in enumerate(divs):
            body = body.replace(f"<!--mlog-chart-{index}-->", div, 1)
        head = plots.scripts()
        return page(given.title, body, subtitle=given.subtitle, head=head, tail=script)


def report_page(given: ReportInput) -> str:
    """The whole report: summary, runs table, series, metrics, diff, registry timeline."""
    plots.require()
    charts = _Charts()
    champion_ids = {m: str(r.get("id")) for m, r in given.champions.items()}
    series = data.series_charts(given.records, given.points, given.champions, given.metric_config)
    metrics = data.metric_charts(given.records, given.champions, given.metric_config)
    aliases = {str(r.get("id")): data.alias(r) for r in given.records}
    aliases.update({str(r.get("id")): data.alias(r) for r in given.champions.values()})
    events = data.timeline(given.events, aliases)
    body = [
        _warnings(given.warnings),
        _summary(given),
        "<h2>Runs</h2>",
        _runs(data.runs_table(given.records, champion_ids)),
        _charts("Series over steps",
                [(f"series:{c.name}", charts.slot(plots.series_figure(c))) for c in series],
                "No run of this selection logged a series with a step."),
        _charts("Final metrics across runs",
                [(f"metric:{c.name}", charts.slot(plots.metric_figure(c))) for c in metrics],
                "No run of this selection has a numeric metric."),
    ]  # fmt: skip
    if given.diff is not None:
        body.append(diff_body(given.diff, heading="h2"))
    body.append(_lineage(given.lineage))
    body.append(_timeline(events, charts))
    return charts.page(given, "\n".join(body))


def diff_page(result: Mapping[str, Any], given: ReportInput) -> str:
    """``mlog diff A B --html``: every difference in tables, and both runs' series overlaid."""
    plots.require()
    charts = _Charts()
    series = data.series_charts(given.records, given.points, {}, given.metric_config)
    body = [
        _warnings(given.warnings),
        diff_body(result, heading="h2", title=False),
        _charts("Series over steps",
                [(f"series:{c.name}", charts.slot(plots.series_figure(c))) for c in series],
                "Neither run logged a series with a step."),
    ]  # fmt: skip
    return charts.page(given, "\n".join(body))


# -- summary and runs -------------------------------------------------------------------------
def _warnings(warnings: Sequence[str]) -> str:
    return "".join(f'<p class="warning">{esc(w)}</p>' for w in warnings)


def _verdict(record: Mapping[str, Any]) -> Any:
    return (record.get("validation") or {}).get("verdict")


def _summary(given: ReportInput) -> str:
    newest = given.records[-1] if given.records else {}
    verdict = _verdict(newest)
    champions = ", ".join(
        f"{esc(model)}: {esc(data.alias(record))}" for model, record in given.champions.items()
    )
    tiles = [
        ("runs", esc(len(given.records))),
        ("models", esc(len({str(r.get("model")) for r in given.records}))),
        ("champion", champions or "none"),
        ("newest run", esc(data.alias(newest)) if newest else "-"),
        ("its verdict", badge(verdict) if verdict else "-"),
        ("runs that regressed", esc(sum(_verdict(r) == "regressed" for r in given.records))),
    ]
    return '<div class="summary">' + "".join(
        f"<div><span class='muted'>{label}</span><b>{value}</b></div>" for label, value in tiles
    ) + "</div>"  # fmt: skip


def _runs(runs: data.RunsTable) -> str:
    headers = ["run", "model", "status", "started (UTC)", "commit",
               *runs.param_keys, *runs.metric_keys, "verdict"]  # fmt: skip
    first_number = 5 + len(runs.param_keys)
    numeric = range(5, first_number + len(runs.metric_keys))
    rows, classes = [], []
    for row in runs.rows:
        star = ' <span class="star" title="champion">★</span>' if row.champion else ""
        if not row.intact:
            star += " " + badge("hash mismatch", "regressed")
        rows.append(
            [(esc(row.alias) + star, _alias_number(row.alias)), esc(row.model),
             badge(row.status), esc(row.started_at.replace("T", " ")[:19]),
             f"<code>{esc(row.commit)}</code>",
             *(_value_cell(row.params[key]) for key in runs.param_keys),
             *(_value_cell(row.metrics[key]) for key in runs.metric_keys),
             badge(row.verdict) if row.verdict else "-"]
        )  # fmt: skip
        classes.append("champion" if row.champion else "")
    grid = table(headers, rows, sortable=True, numeric=numeric, row_classes=classes)
    note = (
        "<p class='note'>Click a column header to sort. ★ marks a model's champion; "
        "<em>hash mismatch</em>, a record edited since it was written (see `mlog check`).</p>"
    )
    return f'<div class="scroll">{grid}</div>{note}'


def _alias_number(alias: str) -> Any:
    return int(alias[1:]) if alias[:1] == "v" and alias[1:].isdigit() else alias


def _value_cell(value: Any) -> Any:
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return (esc(shown(value)), value)
    return esc(shown(value))


def _charts(title: str, slots: Sequence[tuple[str, str]], empty: str) -> str:
    """A grid of charts, each in a ``<div class="chart" data-chart="KIND:NAME">``."""
    if not slots:
        return f"<h2>{esc(title)}</h2><p class='note'>{esc(empty)}</p>"
    cells = "".join(f'<div class="chart" data-chart="{esc(n)}">{slot}</div>' for n, slot in slots)
    return f'<h2>{esc(title)}</h2>{NOSCRIPT}<div class="grid">{cells}</div>'


# -- the two-run diff --------------------------------------------------------------------------
def _side(side: Mapping[str, Any]) -> str:
    return str(side.get("alias") or side.get("id"))


def diff_body(result: Mapping[str, Any], *, heading: str = "h2", title: bool = True) -> str:
    """The diff as HTML tables: params, metrics, series, data files, packages, code."""
    a, b = _side(result["a"]), _side(result["b"])
    parts = [f"<{heading}>Diff {esc(a)} → {esc(b)}</{heading}>"] if title else []
    parts.append(_identity(result))
    sub = "h3"
    parts += [
        _pairs("Params", result["params"], a, b, sub),
        _metrics(result["metrics"], a, b, sub),
        _series(result["series"], a, b, sub),
        _data(result["data"], a, b, sub),
        _packages(result["packages"], sub),
        _code(result["code"], sub),
        _pairs("Environment", result["environment"], a, b, sub),
        _pairs("Command", result["command"], a, b, sub),
    ]
    if not result.get("differs"):
        parts.append("<p class='note'>No differences besides time and resources.</p>")
    return "\n".join(part for part in parts if part)


def _identity(result: Mapping[str, Any]) -> str:
    rows = [
        [esc(label), esc(_side(side)), esc(side.get("model")), badge(str(side.get("status"))),
         f"<code>{esc(str(side.get('commit') or '')[:10])}</code>", esc(side.get("started_at"))]
        for label, side in (("A", result["a"]), ("B", result["b"]))
    ]  # fmt: skip
    return table(["", "run", "model", "status", "commit", "started (UTC)"], rows)


def _pairs(title: str, entries: Sequence[Mapping[str, Any]], a: str, b: str, tag: str) -> str:
    if not entries:
        return ""
    rows = [
        [esc(e["key"]), esc(shown(e["old"])), esc(shown(e["new"])), badge(e["change"])]
        for e in entries
    ]
    return f"<{tag}>{esc(title)}</{tag}>" + table(["key", a, b, "change"], rows)


def _delta(entry: Mapping[str, Any]) -> str:
    if entry.get("delta") is None:
        return ""
    relative = entry.get("relative")
    return f"{entry['delta']:+.6g}" + (f" ({relative:+.1%})" if relative is not None else "")


def _metrics(entries: Sequence[Mapping[str, Any]], a: str, b: str, tag: str) -> str:
    if not entries:
        return ""
    rows = []
    for e in entries:
        goal = ("↑" if e["goal"] == "maximize" else "↓") + ("?" if e["guessed"] else "")
        rows.append(
            [f"{esc(e['key'])} {goal}", esc(shown(e["old"])), esc(shown(e["new"])),
             esc(_delta(e)), esc(shown(e.get("tolerance"))), badge(e["verdict"])]
        )  # fmt: skip
    return f"<{tag}>Metrics</{tag}>" + table(
        ["metric", a, b, "Δ", "tolerance", "verdict"], rows, numeric=(1, 2, 3, 4)
    )


def _series(entries: Sequence[Mapping[str, Any]], a: str, b: str, tag: str) -> str:
    if not entries:
        return ""

    def cell(summary: Any) -> str:
        if not isinstance(summary, Mapping):
            return "-"
        return " / ".join(shown(summary.get(key)) for key in ("best", "last", "steps"))

    rows = [[esc(e["key"]), esc(cell(e["old"])), esc(cell(e["new"]))] for e in entries]
    return f"<{tag}>Series (best / last / steps)</{tag}>" + table(["series", a, b], rows)


def _data(entries: Sequence[Mapping[str, Any]], a: str, b: str, tag: str) -> str:
    if not entries:
        return ""
    rows = []
    for e in entries:
        rows.append(
            [esc(e["key"]), badge(e["change"]), _dataset(e["old"]), _dataset(e["new"]),
             _files(e.get("files"))]
        )  # fmt: skip
    return f"<{tag}>Data</{tag}>" + table(["dataset", "change", a, b, "files"], rows)


def _dataset(side: Any) -> str:
    if not isinstance(side, Mapping):
        return "-"
    hash_ = str(side.get("hash") or side.get("version") or "")
    size = side.get("size")
    return f"<code>{esc(hash_.partition(':')[2][:12] or hash_[:12])}</code> " + esc(
        f"{side.get('files', '-')} files" + (f", {size:,} B" if size is not None else "")
    )


def _files(files: Any) -> str:
    if not isinstance(files, Mapping):
        return "-"
    lines = []
    for kind, css in (("added", "added"), ("removed", "removed"), ("modified", "changed")):
        found = files.get(kind) or {}
        count, paths = found.get("count", 0), found.get("paths") or []
        if count:
            more = f" and {count - len(paths)} more" if count > len(paths) else ""
            listed = ", ".join(f"<code>{esc(p)}</code>" for p in paths)
            lines.append(f"{badge(f'{count} {kind}', css)} {listed}{esc(more)}")
    return "<br>".join(lines) or "-"


def _packages(packages: Mapping[str, Sequence[Mapping[str, Any]]], tag: str) -> str:
    rows = []
    for kind, items in packages.items():
        for item in items:
            before = item.get("old") or (item.get("version") if kind == "removed" else None)
            after = item.get("new") or (item.get("version") if kind == "added" else None)
            rows.append([esc(item["name"]), badge(kind), esc(shown(before)), esc(shown(after))])
    if not rows:
        return ""
    return f"<{tag}>Packages</{tag}>" + table(["package", "change", "before", "after"], rows)


def _code(code: Mapping[str, Any], tag: str) -> str:
    if code.get("change") == "same":
        return ""
    old, new = code.get("old") or {}, code.get("new") or {}
    rows = [
        [esc(key), esc(shown(old.get(key))), esc(shown(new.get(key)))]
        for key in sorted({*old, *new})
        if old.get(key) != new.get(key)
    ]
    parts = [f"<{tag}>Code</{tag}>", table(["key", "A", "B"], rows)]
    commits = [
        [f"<code>{esc(c['sha'][:10])}</code>", esc(c["subject"])] for c in code.get("ahead") or []
    ]
    if commits:
        parts.append(table(["commit", "subject (from A to B)"], commits))
    files = [
        [f"<code>{esc(f['path'])}</code>", esc(f"+{f['added']} −{f['deleted']}")]
        for f in code.get("files") or []
    ]
    if files:
        parts.append(table(["file", "lines"], files))
    return "".join(parts)


# -- lineage ---------------------------------------------------------------------------------
def _lineage(links: Sequence[Mapping[str, Any]]) -> str:
    """Which run of the selection produced the data another one trained on, found by content."""
    if not links:
        return (
            "<h2>Lineage</h2><p class='note'>No run of this selection trained on an output "
            "of another (see <code>mlog lineage RUN</code>).</p>"
        )
    rows = [
        [esc(shown(link["producer"])), esc(shown(link["artifact"])), "→",
         esc(shown(link["consumer"])), esc(shown(link["dataset"]))]
        for link in links
    ]  # fmt: skip
    grid = table(["producer", "its output", "", "consumer", "as dataset"], rows)
    return f'<h2>Lineage</h2><div class="scroll">{grid}</div>'


# -- registry --------------------------------------------------------------------------------
def _timeline(events: Sequence[data.TimelineEvent], charts: _Charts) -> str:
    if not events:
        return "<h2>Registry</h2><p class='note'>No model of this selection is registered.</p>"
    chart = charts.slot(plots.timeline_figure(events))
    rows = [
        [esc(e.at.replace("T", " ")[:19]), esc(e.model), badge(e.kind, "new"),
         esc(shown(e.version)), esc(shown(e.stage)), esc(shown(e.run)), esc(e.by),
         esc(shown(e.reason))]
        for e in reversed(events)
    ]  # fmt: skip
    grid = table(["at (UTC)", "model", "event", "version", "stage", "run", "by", "reason"], rows)
    return (
        f'<h2>Registry</h2>{NOSCRIPT}<div class="chart" data-chart="registry">{chart}</div>'
        f'<div class="scroll">{grid}</div>'
    )
