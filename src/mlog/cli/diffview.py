"""Rendering of comparisons: the diff (rich tables, Markdown) and the validation report."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from rich.console import Console

VERDICT_STYLE = {
    "improved": "green",
    "regressed": "red",
    "within_tolerance": "dim",
    "missing": "yellow",
    "new": "cyan",
    "added": "cyan",
    "removed": "yellow",
    "changed": "white",
}
MD_MARK = {"improved": "✅", "regressed": "❌", "missing": "⚠️"}


def label(side: Mapping[str, Any]) -> str:
    return str(side.get("alias") or side.get("id"))


def render_diff(result: Mapping[str, Any]) -> None:
    from rich.markup import escape

    from mlog import ui

    a, b = label(result["a"]), label(result["b"])
    chosen = {"champion": " (A: champion)", "previous": " (A: previous run)"}
    title = (
        f"[bold]diff {escape(a)} → {escape(b)}[/]{chosen.get(str(result.get('a_chosen_as')), '')}"
    )
    if result["b"].get("reproduces") and result["b"].get("reproduces") == result["a"].get("id"):
        title += f" ({escape(b)} reproduces {escape(a)})"
    ui.out().print(title)
    for side in ("a", "b"):
        if result[side].get("id") in result.get("tampered", []):
            name = escape(label(result[side]))
            ui.out().print(f"[bold red]TAMPERED[/] {name}: its record fails its integrity check")
    for side, paths in (result.get("stale") or {}).items():
        if paths:
            name = escape(label(result[side]))
            listed = escape(", ".join(paths))
            ui.out().print(f"[yellow]stale[/] in {name} (not written by that run): {listed}")
    if not result["differs"] and not result["resources"] and not _any_listed(result):
        ui.out().print("no differences")
        return
    for part in SHOWN_ORDER:
        _TABLES[part](ui.out(), part, result[part], a, b)


def _any_listed(result: Mapping[str, Any]) -> bool:
    return any(result[part] for part in SHOWN_ORDER if part not in ("code", "packages"))


def _grid(title: str, columns: list[str]) -> Any:
    from rich.table import Table

    grid = Table(title=title, title_justify="left", title_style="bold", show_edge=False)
    for column in columns:
        grid.add_column(column, overflow="fold")
    return grid


def _cell(value: Any) -> str:
    from rich.markup import escape

    from mlog import ui

    if isinstance(value, list):
        value = " ".join(str(item) for item in value)
    return escape(ui.format_value(value))


def _pairs_table(
    console: Console, title: str, entries: list[dict[str, Any]], a: str, b: str
) -> None:
    if not entries:
        return
    has_delta = any("delta" in entry for entry in entries)
    grid = _grid(title, ["key", a, b, *(["Δ"] if has_delta else [])])
    for entry in entries:
        row = [_styled(entry["key"], entry["change"]), _cell(entry["old"]), _cell(entry["new"])]
        grid.add_row(*row, *([_delta_cell(entry)] if has_delta else []))
    console.print(grid)


def _styled(text: str, verdict: str) -> str:
    from rich.markup import escape

    style = VERDICT_STYLE.get(verdict)
    return f"[{style}]{escape(text)}[/]" if style else escape(text)


def _delta_cell(entry: Mapping[str, Any]) -> str:
    if entry.get("delta") is None:
        return ""
    relative = entry.get("relative")
    shown = f"{entry['delta']:+.6g}"
    return shown + (f" ({relative:+.1%})" if relative is not None else "")


def _metrics_table(
    console: Console, _part: str, entries: list[dict[str, Any]], a: str, b: str
) -> None:
    if not entries:
        return
    grid = _grid("metrics", ["metric", a, b, "Δ", "verdict"])
    for entry in entries:
        goal = ("↑" if entry["goal"] == "maximize" else "↓") + ("?" if entry["guessed"] else "")
        verdict = _styled(entry["verdict"].replace("_", " "), entry["verdict"])
        name = f"{_cell(entry['key'])} {goal}"
        grid.add_row(name, _cell(entry["old"]), _cell(entry["new"]), _delta_cell(entry), verdict)
    console.print(grid)
    if any(entry["guessed"] for entry in entries):
        console.print(
            "[dim]? direction guessed from the name; set it under `metrics:` in config[/]"
        )


def _series_table(
    console: Console, _part: str, entries: list[dict[str, Any]], a: str, b: str
) -> None:
    if not entries:
        return
    grid = _grid("series (best / last / steps)", ["series", a, b])
    for entry in entries:
        grid.add_row(_cell(entry["key"]), _series_cell(entry["old"]), _series_cell(entry["new"]))
    console.print(grid)


def _series_cell(summary: Any) -> str:
    if not isinstance(summary, Mapping):
        return "-"
    return " / ".join(_cell(summary.get(key)) for key in ("best", "last", "steps"))


def data_table(console: Console, entries: list[dict[str, Any]], a: str, b: str) -> None:
    if not entries:
        return
    grid = _grid("data", ["dataset", a, b, "files"])
    for entry in entries:
        old, new = _data_sides(entry)
        grid.add_row(
            _styled(entry["key"], entry["change"]),
            _cell(old),
            _cell(new),
            _cell(_file_counts(entry.get("files"))),
        )
    console.print(grid)
    for entry in entries:
        for line in _file_lines(entry):
            console.print(line)
        if entry.get("profile"):
            _profile_block(console, entry["key"], entry["profile"])


def _profile_block(console: Console, name: str, found: Mapping[str, Any]) -> None:
    """Columns added, removed and retyped, then null rates and PSI of the shared columns."""
    from rich.markup import escape

    rows = found["rows"]
    console.print(f"  profile of {escape(name)}: rows {rows['old']} → {rows['new']}")
    for line in column_changes(found):
        console.print(f"  {escape(line)}")
    grid = _grid("", ["column", "type", "null rate", "PSI", "drift"])
    for column in found["columns"]:
        grid.add_row(
            _styled(column["name"], "regressed" if column["drifted"] else "same"),
            _cell(_arrow(column["type"], str)),
            _cell(_arrow(column["null_rate"], _percent)),
            "-" if column["psi"] is None else f"{column['psi']:.3f}",
            "[red]DRIFT[/]" if column["drifted"] else "",
        )
    console.print(grid)
    limits = found["thresholds"]
    console.print(
        f"  [dim]PSI per column (numeric: reference quantile bins; categorical: top values + "
        f"other; missing values a bin); drift above PSI {limits['psi']} or a null-rate change "
        f"above {limits['null_rate']:.0%}[/]"
    )


def column_changes(found: Mapping[str, Any]) -> list[str]:
    """``+ column x (added)``, ``- column y (removed)``, ``~ column z type a → b``."""
    lines = [f"+ column {name} (added)" for name in found["added_columns"]]
    lines += [f"- column {name} (removed)" for name in found["removed_columns"]]
    for column in found["columns"]:
        if column["type_changed"]:
            lines.append(f"~ column {column['name']} type {_arrow(column['type'], str)}")
    return lines


def _percent(value: Any) -> str:
    return f"{value:.1%}"


def _arrow(pair: Mapping[str, Any], show: Any) -> str:
    old, new = show(pair["old"]), show(pair["new"])
    return str(old) if old == new else f"{old} → {new}"


def _signature_table(console: Console, entries: list[dict[str, Any]], a: str, b: str) -> None:
    if not entries:
        return
    grid = _grid("signature", ["field", a, b, ""])
    for entry in entries:
        grid.add_row(
            _styled(entry["key"], entry["change"]),
            _cell(_field_text(entry["old"])),
            _cell(_field_text(entry["new"])),
            "[red]BREAKING[/]" if entry.get("breaking") else "",
        )
    console.print(grid)


def _field_text(spec: Any) -> str | None:
    if not isinstance(spec, Mapping):
        return None
    shape = spec.get("shape")
    return str(spec.get("type") or "?") + (f" {shape}" if shape else "")


def _data_sides(entry: Mapping[str, Any]) -> tuple[str | None, str | None]:
    """Each run's identity of a dataset, saying so where a run does not declare it."""
    old, new = _identity(entry["old"]), _identity(entry["new"])
    if entry["change"] == "added":
        old = "(not declared)"
    elif entry["change"] == "removed":
        new = "(not declared)"
    return old, new


def _identity(dataset: Any) -> str | None:
    if not isinstance(dataset, Mapping):
        return None
    value = dataset.get("hash") or dataset.get("version")
    return None if value is None else str(value)


def _file_counts(files: Mapping[str, Any] | None) -> str:
    if not files:
        return "-"
    counts = files["added"]["count"], files["removed"]["count"], files["modified"]["count"]
    return "+{} -{} ~{}".format(*counts)


def _file_lines(entry: Mapping[str, Any]) -> list[str]:
    from rich.markup import escape

    files = entry.get("files") or {}
    lines: list[str] = []
    for kind, mark, style in (
        ("added", "+", "green"),
        ("removed", "-", "red"),
        ("modified", "~", "yellow"),
    ):
        listed = files.get(kind) or {"paths": [], "count": 0}
        lines.extend(f"  [{style}]{mark} {escape(path)}[/]" for path in listed["paths"])
        if listed["count"] > len(listed["paths"]):
            lines.append(f"  [dim]… and {listed['count'] - len(listed['paths'])} more {kind}[/]")
    return lines


def _code_block(console: Console, _part: str, code: Mapping[str, Any], a: str, b: str) -> None:
    from rich.markup import escape

    if code["change"] == "same" and not code["files"]:
        return
    old, new = code["old"], code["new"]
    console.print("[bold]code[/]")
    console.print(f"  {escape(a)}: {_commit(old)}   {escape(b)}: {_commit(new)}")
    if code["reachable"] is False:
        console.print("  [yellow]commit not in this clone: history not shown[/]")
    for title, commits in (("ahead", code["ahead"]), ("behind", code["behind"])):
        if commits:
            console.print(f"  {len(commits)} commit(s) {title}:")
            for commit in commits:
                console.print(f"    {commit['sha'][:10]} {escape(commit['subject'])}")
    for change in code["files"]:
        added, deleted = change["added"], change["deleted"]
        stat = "binary" if added is None else f"[green]+{added}[/] [red]-{deleted}[/]"
        console.print(f"    {escape(change['path'])}  {stat}")


def _commit(side: Mapping[str, Any]) -> str:
    sha = str(side.get("commit") or "-")[:10]
    return sha + ("[yellow]+dirty[/]" if side.get("dirty") else "")


def _packages_table(
    console: Console, _part: str, packages: Mapping[str, list[dict[str, Any]]], _a: str, _b: str
) -> None:
    rows = _package_rows(packages)
    if not rows:
        return
    grid = _grid("packages", ["package", "old", "new", "change"])
    for row in rows:
        grid.add_row(*(_cell(value) for value in row))
    console.print(grid)


def _package_rows(packages: Mapping[str, list[dict[str, Any]]]) -> list[list[Any]]:
    rows: list[list[Any]] = []
    for kind, items in packages.items():
        for item in items:
            old = item.get("old", item["version"] if kind == "removed" else None)
            new = item.get("new", item["version"] if kind == "added" else None)
            rows.append([item["name"], old, new, kind])
    return sorted(rows, key=lambda row: str(row[0]))


# -- Markdown ----------------------------------------------------------------------------
def markdown_report(result: Mapping[str, Any]) -> str:
    """A compact report for a pull-request comment: metrics first, then what changed."""
    a, b = label(result["a"]), label(result["b"])
    lines = [f"### mlog diff `{a}` → `{b}`", ""]
    lines += [
        f"> ⛔ **TAMPERED** `{label(result[side])}`: its record fails its integrity check\n"
        for side in ("a", "b")
        if result[side].get("id") in result.get("tampered", [])
    ]
    lines += [
        f"> stale in `{label(result[side])}` (not written by that run): {', '.join(paths)}\n"
        for side, paths in (result.get("stale") or {}).items()
        if paths
    ]
    if not result["differs"]:
        lines.append("No differences.")
    for part in SHOWN_ORDER:
        lines += _MARKDOWN[part](part, result[part], a, b)
    lines += [f"> ⚠️ {warning}" for warning in result.get("warnings", [])]
    return "\n".join(lines).rstrip() + "\n"


def _md(value: Any) -> str:
    from mlog import ui

    if isinstance(value, list):
        value = " ".join(str(item) for item in value)
    return ui.format_value(value).replace("|", "\\|").replace("\n", " ")


def _md_metrics(_part: str, entries: list[dict[str, Any]], a: str, b: str) -> list[str]:
    if not entries:
        return []
    lines = ["**Metrics**", "", f"| metric | {a} | {b} | Δ | verdict |", "|---|---:|---:|---:|---|"]
    for e in entries:
        verdict = f"{MD_MARK.get(e['verdict'], '')} {e['verdict'].replace('_', ' ')}".strip()
        guessed = " (guessed direction)" if e["guessed"] else ""
        cells = [_md(e["key"]), _md(e["old"]), _md(e["new"]), _delta_cell(e), verdict + guessed]
        lines.append("| " + " | ".join(cells) + " |")
    return [*lines, ""]


def _md_pairs(part: str, entries: list[dict[str, Any]], a: str, b: str) -> list[str]:
    if not entries:
        return []
    lines = [f"**{part.capitalize()}**", "", f"| key | {a} | {b} |", "|---|---|---|"]
    lines += [f"| {_md(e['key'])} | {_md(e['old'])} | {_md(e['new'])} |" for e in entries]
    return [*lines, ""]


def _md_series(_part: str, entries: list[dict[str, Any]], a: str, b: str) -> list[str]:
    if not entries:
        return []
    lines = ["**Series** (best / last / steps)", "", f"| series | {a} | {b} |", "|---|---|---|"]
    for e in entries:
        cells = [_md(e["key"]), _md(_series_cell(e["old"])), _md(_series_cell(e["new"]))]
        lines.append("| " + " | ".join(cells) + " |")
    return [*lines, ""]


def _md_data(_part: str, entries: list[dict[str, Any]], _a: str, _b: str) -> list[str]:
    if not entries:
        return []
    lines = ["**Data**", ""]
    for entry in entries:
        counts = _file_counts(entry.get("files"))
        lines.append(
            f"- `{entry['key']}` {entry['change']}"
            + (f": {counts} files" if entry.get("files") else "")
        )
        files = entry.get("files") or {}
        for kind in ("added", "removed", "modified"):
            paths = (files.get(kind) or {}).get("paths") or []
            if paths:
                lines.append(f"  - {kind}: " + ", ".join(f"`{p}`" for p in paths))
        found = entry.get("profile")
        if found:
            lines += [f"  - {line}" for line in column_changes(found)]
            lines += [
                f"  - ❌ drift in `{c['name']}`: PSI {c['psi']}, null rate "
                f"{_arrow(c['null_rate'], _percent)}"
                for c in found["columns"]
                if c["drifted"]
            ]
    return [*lines, ""]


def _md_signature(entries: list[dict[str, Any]]) -> list[str]:
    if not entries:
        return []
    lines = ["**Signature (breaking)**", "", "| field | old | new |", "|---|---|---|"]
    lines += [
        f"| {_md(e['key'])} | {_md(_field_text(e['old']))} | {_md(_field_text(e['new']))} |"
        for e in entries
    ]
    return [*lines, ""]


def _md_code(_part: str, code: Mapping[str, Any], _a: str, _b: str) -> list[str]:
    if code["change"] == "same":
        return []
    old, new = code["old"], code["new"]
    lines = ["**Code**", "", f"`{str(old['commit'])[:10]}` → `{str(new['commit'])[:10]}`"]
    if code["reachable"] is False:
        lines.append("(commit not in this clone)")
    lines += [f"- {c['sha'][:10]} {c['subject']}" for c in code["ahead"]]
    if code["files"]:
        lines.append(
            f"- {len(code['files'])} file(s) changed: "
            + ", ".join(f"`{f['path']}`" for f in code["files"][:10])
        )
    return [*lines, ""]


def _md_packages(
    _part: str, packages: Mapping[str, list[dict[str, Any]]], _a: str, _b: str
) -> list[str]:
    rows = _package_rows(packages)
    if not rows:
        return []
    lines = ["**Packages**", "", "| package | old | new | change |", "|---|---|---|---|"]
    lines += [f"| {_md(n)} | {_md(o)} | {_md(v)} | {k} |" for n, o, v, k in rows]
    return [*lines, ""]


# -- validation report after `mlog run` -----------------------------------------------------------
def render_validation(report: Mapping[str, Any] | None, model: str) -> None:
    """Print the validation report on stderr, after the command's own output."""
    from mlog import ui

    if report is None:
        return
    if report["verdict"] == "no_champion":  # a line of text: no need to import rich for it
        ui.info(f"validation: model {model} has no champion yet (set one with `mlog champion RUN`)")
        return
    from rich.markup import escape

    console = ui.err()
    champ = report["champion"]
    verdict = report["verdict"]
    shown = _styled(verdict.replace("_", " ").upper(), verdict)
    console.print(f"validation against champion {champ.get('alias') or champ['run']}: {shown}")
    rows = [
        {"key": m["name"], "old": m["champion"], "new": m["value"], **m} for m in report["metrics"]
    ]
    _metrics_table(console, "metrics", rows, "champion", "this run")
    for dataset in (report.get("data") or {}).get("datasets", []):
        counts = f": {_file_counts(dataset['files'])} files" if dataset.get("files") else ""
        console.print(f"data {dataset['name']} {dataset['change']} since the champion{counts}")
        drift = dataset.get("drift") or {}
        if drift.get("drifted"):
            console.print(f"  [red]drift[/] in {escape(_drift_text(drift))}")


def _drift_text(drift: Mapping[str, Any]) -> str:
    parts = []
    for name, column in drift["columns"].items():
        before, after = column["null_rate"]
        psi = "-" if column["psi"] is None else f"{column['psi']:.3f}"
        parts.append(f"{name} (PSI {psi}, nulls {before:.1%} → {after:.1%})")
    return ", ".join(parts)


SHOWN_ORDER = ("metrics", "params", "series", "data", "artifacts", "signature", "code",
               "environment", "packages", "command", "resources")  # fmt: skip
"""The order diff parts are presented in: metrics first. It holds every part of the sections
table's ``diff`` column (a test checks), so a new part cannot be left out of the views."""
_TABLES: dict[str, Callable[..., None]] = {
    "metrics": _metrics_table,
    "params": _pairs_table,
    "series": _series_table,
    "data": lambda console, _part, entries, a, b: data_table(console, entries, a, b),
    "artifacts": _pairs_table,
    "signature": lambda console, _part, entries, a, b: _signature_table(console, entries, a, b),
    "code": _code_block,
    "environment": _pairs_table,
    "packages": _packages_table,
    "command": _pairs_table,
    "resources": _pairs_table,
}
_MARKDOWN: dict[str, Callable[..., list[str]]] = {
    "metrics": _md_metrics,
    "params": _md_pairs,
    "series": _md_series,
    "data": _md_data,
    "artifacts": _md_pairs,
    "signature": lambda _part, entries, _a, _b: _md_signature(entries),
    "code": _md_code,
    "environment": _md_pairs,
    "packages": _md_packages,
    "command": _md_pairs,
    "resources": _md_pairs,
}
