"""``mlog diff``, ``mlog champion``, ``mlog data diff``: compare runs, name the one to beat."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Annotated, Any

import typer

from mlog.cli.common import JsonOption, cwd, handle_errors

if TYPE_CHECKING:
    from rich.console import Console

data_app = typer.Typer(
    name="data",
    help="Inspect the datasets recorded with runs.",
    no_args_is_help=True,
    rich_markup_mode="markdown",
)
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


def register(app: typer.Typer) -> None:
    app.command("diff")(diff_command)
    app.command("champion")(champion_command)
    data_app.command("diff")(data_diff_command)
    app.add_typer(data_app, name="data")


# -- mlog diff -------------------------------------------------------------------------
@handle_errors
def diff_command(
    a: Annotated[
        str | None,
        typer.Argument(
            help="Older run (default: the champion of B's model, else the run before B)."
        ),
    ] = None,
    b: Annotated[str | None, typer.Argument(help="Newer run (default: the newest run).")] = None,
    show_all: Annotated[
        bool, typer.Option("--all", help="Show every value, not only what differs.")
    ] = False,
    json_output: JsonOption = False,
    markdown: Annotated[
        bool, typer.Option("--md", help="Print a compact Markdown report for a pull request.")
    ] = False,
    exit_code: Annotated[
        bool,
        typer.Option("--exit-code", help="Exit 1 when the runs differ (resources excepted)."),
    ] = False,
) -> None:
    """Show what changed between two runs: params, metrics, data, code, environment, command.

    RUN accepts vN, latest, latest~K, champion, champion:MODEL, a run id prefix.

    Examples:

        mlog diff                  # newest run against its model's champion
        mlog diff v3 v5
        mlog diff champion latest --md > report.md
        mlog diff v1 v2 --json | jq '.metrics'
        mlog diff v4 v5 --exit-code || echo "runs differ"
    """
    from mlog import ui
    from mlog.compare import diff

    result = diff.diff_runs(cwd=cwd(), a=a, b=b, include_same=show_all)
    for warning in result["warnings"]:
        ui.warning(warning)
    if json_output:
        ui.print_json(result)
    elif markdown:
        ui.print_text(markdown_report(result))
    else:
        render_diff(result)
    if exit_code and result["differs"]:
        raise typer.Exit(1)


def _label(side: Mapping[str, Any]) -> str:
    return str(side.get("alias") or side.get("id"))


def render_diff(result: Mapping[str, Any]) -> None:
    from rich.markup import escape

    from mlog import ui

    a, b = _label(result["a"]), _label(result["b"])
    chosen = {"champion": " (A: champion)", "previous": " (A: previous run)"}
    title = (
        f"[bold]diff {escape(a)} → {escape(b)}[/]{chosen.get(str(result.get('a_chosen_as')), '')}"
    )
    ui.out().print(title)
    if not result["differs"] and not result["resources"] and not _any_listed(result):
        ui.out().print("no differences")
        return
    _pairs_table(ui.out(), "params", result["params"], a, b)
    _metrics_table(ui.out(), result["metrics"], a, b)
    _series_table(ui.out(), result["series"], a, b)
    _data_table(ui.out(), result["data"], a, b)
    _code_block(ui.out(), result["code"], a, b)
    _pairs_table(ui.out(), "environment", result["environment"], a, b)
    _packages_table(ui.out(), result["packages"])
    _pairs_table(ui.out(), "command", result["command"], a, b)
    _pairs_table(ui.out(), "resources", result["resources"], a, b)


def _any_listed(result: Mapping[str, Any]) -> bool:
    sections = ("params", "metrics", "series", "data", "environment", "command")
    return any(result[section] for section in sections)


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


def _metrics_table(console: Console, entries: list[dict[str, Any]], a: str, b: str) -> None:
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


def _series_table(console: Console, entries: list[dict[str, Any]], a: str, b: str) -> None:
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


def _data_table(console: Console, entries: list[dict[str, Any]], a: str, b: str) -> None:
    if not entries:
        return
    grid = _grid("data", ["dataset", a, b, "files"])
    for entry in entries:
        grid.add_row(
            _styled(entry["key"], entry["change"]),
            _cell(_identity(entry["old"])),
            _cell(_identity(entry["new"])),
            _cell(_file_counts(entry.get("files"))),
        )
    console.print(grid)
    for entry in entries:
        for line in _file_lines(entry):
            console.print(line)


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


def _code_block(console: Console, code: Mapping[str, Any], a: str, b: str) -> None:
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


def _packages_table(console: Console, packages: Mapping[str, list[dict[str, Any]]]) -> None:
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
    a, b = _label(result["a"]), _label(result["b"])
    lines = [f"### mlog diff `{a}` → `{b}`", ""]
    if not result["differs"]:
        lines.append("No differences.")
    lines += _md_metrics(result["metrics"], a, b)
    lines += _md_pairs("Params", result["params"], a, b)
    lines += _md_data(result["data"])
    lines += _md_code(result["code"])
    lines += _md_packages(result["packages"])
    lines += _md_pairs("Environment", result["environment"], a, b)
    lines += _md_pairs("Command", result["command"], a, b)
    lines += [f"> ⚠️ {warning}" for warning in result.get("warnings", [])]
    return "\n".join(lines).rstrip() + "\n"


def _md(value: Any) -> str:
    from mlog import ui

    if isinstance(value, list):
        value = " ".join(str(item) for item in value)
    return ui.format_value(value).replace("|", "\\|").replace("\n", " ")


def _md_metrics(entries: list[dict[str, Any]], a: str, b: str) -> list[str]:
    if not entries:
        return []
    lines = ["**Metrics**", "", f"| metric | {a} | {b} | Δ | verdict |", "|---|---:|---:|---:|---|"]
    for e in entries:
        verdict = f"{MD_MARK.get(e['verdict'], '')} {e['verdict'].replace('_', ' ')}".strip()
        guessed = " (guessed direction)" if e["guessed"] else ""
        cells = [_md(e["key"]), _md(e["old"]), _md(e["new"]), _delta_cell(e), verdict + guessed]
        lines.append("| " + " | ".join(cells) + " |")
    return [*lines, ""]


def _md_pairs(title: str, entries: list[dict[str, Any]], a: str, b: str) -> list[str]:
    if not entries:
        return []
    lines = [f"**{title}**", "", f"| key | {a} | {b} |", "|---|---|---|"]
    lines += [f"| {_md(e['key'])} | {_md(e['old'])} | {_md(e['new'])} |" for e in entries]
    return [*lines, ""]


def _md_data(entries: list[dict[str, Any]]) -> list[str]:
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
    return [*lines, ""]


def _md_code(code: Mapping[str, Any]) -> list[str]:
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


def _md_packages(packages: Mapping[str, list[dict[str, Any]]]) -> list[str]:
    rows = _package_rows(packages)
    if not rows:
        return []
    lines = ["**Packages**", "", "| package | old | new | change |", "|---|---|---|---|"]
    lines += [f"| {_md(n)} | {_md(o)} | {_md(v)} | {k} |" for n, o, v, k in rows]
    return [*lines, ""]


# -- mlog champion -------------------------------------------------------------------------
@handle_errors
def champion_command(
    run: Annotated[
        str | None,
        typer.Argument(help="Run to make champion (vN, latest, id prefix); omit to show it."),
    ] = None,
    model: Annotated[
        str | None, typer.Option("--model", help="Model name (default: the run's, or config's).")
    ] = None,
    reason: Annotated[
        str | None, typer.Option("--reason", "-r", help="Why this run is the champion.")
    ] = None,
    by: Annotated[
        str | None, typer.Option("--by", help="Who decides (default: git user.email).")
    ] = None,
    force: Annotated[
        bool, typer.Option("--force", help="Allow a run that did not succeed.")
    ] = False,
    json_output: JsonOption = False,
) -> None:
    """Show or set the champion of a model: the run new runs are validated against.

    When the registry has a production version of the model, that version's run is the
    champion (see docs/champion.md). Setting appends an event to `.mlog/registry/<model>/`.

    Examples:

        mlog champion                        # show the champion of the config's model
        mlog champion --model fraud --json
        mlog champion v3 --reason "best AUC on the March data"
    """
    from mlog import ui
    from mlog.registry import champion

    if run is None:
        shown = champion.show(cwd=cwd(), model=model)
        ui.print_json(shown) if json_output else _render_champion(shown)
        return
    result = champion.set_for(cwd=cwd(), ref=run, model=model, by=by, reason=reason, force=force)
    for warning in result.warnings:
        ui.warning(warning)
    if json_output:
        ui.print_json(result.to_json())
        return
    verb = "is now" if result.changed else "is already"
    ui.success(
        f"{result.alias} ({result.champion.run}) {verb} the champion of {result.champion.model}"
    )


def _render_champion(shown: Mapping[str, Any]) -> None:
    from mlog import ui

    found = shown["champion"]
    if found is None:
        ui.info(f"model {shown['model']} has no champion yet (set one with `mlog champion RUN`)")
        return
    if shown.get("missing"):
        ui.warning(
            f"the champion's record {found['run']} is missing from .mlog/runs "
            "(restore it from git, or set a new champion)"
        )
    ui.print_text(
        f"{found['alias'] or '?'} {found['run']}  champion of {shown['model']} ({found['source']})"
    )
    if found.get("set_by"):
        ui.print_text(
            f"set by {found['set_by']} at {found['set_at']}"
            + (f": {found['reason']}" if found.get("reason") else "")
        )


# -- mlog data diff ----------------------------------------------------------------------------
@handle_errors
def data_diff_command(
    a: Annotated[str, typer.Argument(help="Older run (vN, latest~1, champion, id prefix).")],
    b: Annotated[str, typer.Argument(help="Newer run.")],
    dataset: Annotated[
        str | None, typer.Option("--dataset", help="Only this dataset (its name in the record).")
    ] = None,
    json_output: JsonOption = False,
) -> None:
    """List every file added, removed or modified between two runs' datasets.

    Directories and globs are compared file by file from their stored manifests;
    DVC and LFS pointers and URIs by their hash or version only.

    Examples:

        mlog data diff v1 v2
        mlog data diff champion latest --dataset train
        mlog data diff v1 v2 --json | jq '.datasets[0].files.added.paths'
    """
    from mlog import ui
    from mlog.compare import diff

    result = diff.data_diff(cwd=cwd(), a=a, b=b, dataset=dataset)
    for warning in result["warnings"]:
        ui.warning(warning)
    if json_output:
        ui.print_json(result)
        return
    a_label, b_label = _label(result["a"]), _label(result["b"])
    _data_table(ui.out(), result["datasets"], a_label, b_label)


# -- validation report after `mlog run` -----------------------------------------------------------
def render_validation(report: Mapping[str, Any] | None, model: str) -> None:
    """Print the validation report on stderr, after the command's own output."""
    from mlog import ui

    console = ui.err()
    if report is None:
        return
    if report["verdict"] == "no_champion":
        console.print(
            f"[dim]validation: model {model} has no champion yet "
            "(set one with `mlog champion RUN`)[/]"
        )
        return
    champ = report["champion"]
    verdict = report["verdict"]
    shown = _styled(verdict.replace("_", " ").upper(), verdict)
    console.print(f"validation against champion {champ.get('alias') or champ['run']}: {shown}")
    rows = [
        {"key": m["name"], "old": m["champion"], "new": m["value"], **m} for m in report["metrics"]
    ]
    _metrics_table(console, rows, "champion", "this run")
    for dataset in (report.get("data") or {}).get("datasets", []):
        counts = f": {_file_counts(dataset['files'])} files" if dataset.get("files") else ""
        console.print(f"data {dataset['name']} {dataset['change']} since the champion{counts}")


def validation_exit_code(code: int, record: Mapping[str, Any], fail_on_regression: bool) -> int:
    """With ``--fail-on-regression``, a succeeded command that regressed exits 1."""
    from mlog import ui

    verdict = (record.get("validation") or {}).get("verdict")
    if fail_on_regression and code == 0 and verdict == "regressed":
        ui.error("validation regressed against the champion (--fail-on-regression); record kept")
        return 1
    return code
