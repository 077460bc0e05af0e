"""``mlog diff``, ``mlog champion``, ``mlog data diff``: compare runs, name the one to beat."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any

import typer

from mlog.cli.common import Command, JsonOption, cwd, handle_errors
from mlog.cli.diffview import data_table, label, markdown_report, render_diff


def register(app: typer.Typer) -> None:
    data_app = typer.Typer(
        name="data",
        help="Inspect the datasets recorded with runs: file changes, profiles, drift, reviews.",
        no_args_is_help=True,
        rich_markup_mode="markdown",
    )
    app.command("diff", cls=Command)(diff_command)
    app.command("champion", cls=Command)(champion_command)
    data_app.command("diff", cls=Command)(data_diff_command)
    data_app.command("profile", cls=Command)(data_profile_command)
    data_app.command("review", cls=Command)(data_review_command)
    app.add_typer(data_app, name="data")


# -- mlog diff -------------------------------------------------------------------------
@handle_errors
def diff_command(
    a: Annotated[
        str | None,
        typer.Argument(
            help="Older run (default: the champion of B's model, else the run before B).",
            metavar="A",
        ),
    ] = None,
    b: Annotated[
        str | None, typer.Argument(help="Newer run (default: the newest run).", metavar="B")
    ] = None,
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
    html: Annotated[
        bool,
        typer.Option("--html", help="Write a self-contained HTML page (needs mlog-cli[report])."),
    ] = False,
    output: Annotated[
        Path | None,
        typer.Option("--output", "-o", help="The file --html writes (default: diff.html)."),
    ] = None,
) -> None:
    """Show what changed between two runs: params, metrics, data, code, environment, command.

    RUN accepts vN, latest, latest~K, champion, champion:MODEL, a run id prefix.

    Examples:

        mlog diff                  # newest run against its model's champion
        mlog diff v3 v5
        mlog diff champion latest --md > report.md
        mlog diff v1 v2 --json | jq '.metrics'
        mlog diff v4 v5 --exit-code || echo "runs differ"
        mlog diff v1 v2 --html -o diff.html
    """
    from mlog import ui
    from mlog.api import compare as api
    from mlog.errors import UsageError

    if json_output and markdown:
        raise UsageError("--json and --md are two output formats: pick one")
    if output is not None and not html:
        raise UsageError("-o/--output names the file of --html (add --html, or drop -o)")
    if html:
        _html_diff(a, b, output or Path("diff.html"))
        return
    result = api.diff(cwd=cwd(), a=a, b=b, include_same=show_all)
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


def _html_diff(a: str | None, b: str | None, output: Path) -> None:
    from mlog import ui
    from mlog.api import report

    written = report.diff_page(cwd=cwd(), output=output, a=a, b=b)
    for warning in written.warnings:
        ui.warning(warning)
    ui.success(f"wrote {written.path}")


# -- mlog champion -------------------------------------------------------------------------
@handle_errors
def champion_command(
    run: Annotated[
        str | None,
        typer.Argument(
            help="Run to make champion (vN, latest, id prefix); omit to show it.", metavar="RUN"
        ),
    ] = None,
    model: Annotated[
        str | None,
        typer.Option(
            "--model", help="Model name (default: the run's, or config's).", metavar="NAME"
        ),
    ] = None,
    reason: Annotated[
        str | None,
        typer.Option("--reason", "-r", help="Why this run is the champion.", metavar="TEXT"),
    ] = None,
    by: Annotated[
        str | None,
        typer.Option("--by", help="Who decides (default: git user.email).", metavar="EMAIL"),
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
    from mlog.api import compare as api

    if run is None:
        shown = api.champion(cwd=cwd(), model=model)
        ui.print_json(shown) if json_output else _render_champion(shown)
        return
    result = api.set_champion(cwd=cwd(), ref=run, model=model, by=by, reason=reason, force=force)
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
    marker = "TAMPERED " if found.get("verified") is False and not shown.get("missing") else ""
    ui.print_text(
        f"{marker}{found['alias'] or '?'} {found['run']}  champion of {shown['model']} "
        f"({found['source']})"
    )
    if found.get("set_by"):
        ui.print_text(
            f"set by {found['set_by']} at {found['set_at']}"
            + (f": {found['reason']}" if found.get("reason") else "")
        )


# -- mlog data diff ----------------------------------------------------------------------------
@handle_errors
def data_diff_command(
    a: Annotated[
        str, typer.Argument(help="Older run (vN, latest~1, champion, id prefix).", metavar="A")
    ],
    b: Annotated[str, typer.Argument(help="Newer run.", metavar="B")],
    dataset: Annotated[
        str | None,
        typer.Option(
            "--dataset", help="Only this dataset (its name in the record).", metavar="NAME"
        ),
    ] = None,
    json_output: JsonOption = False,
) -> None:
    """List every file added, removed or modified between two runs' datasets, and how profiled
    tables changed: columns added, removed or retyped, null rates, and drift (PSI) per column.

    Directories and globs are compared file by file from their stored manifests;
    DVC and LFS pointers and URIs by their hash or version only. Drift thresholds come
    from `drift:` in .mlog/config.yaml (see docs/data.md).

    Examples:

        mlog data diff v1 v2
        mlog data diff champion latest --dataset train
        mlog data diff v1 v2 --json | jq '.datasets[0].profile.drifted'
    """
    from mlog import ui
    from mlog.api import compare as api

    result = api.data_diff(cwd=cwd(), a=a, b=b, dataset=dataset)
    for warning in result["warnings"]:
        ui.warning(warning)
    if json_output:
        ui.print_json(result)
        return
    data_table(ui.out(), result["datasets"], label(result["a"]), label(result["b"]))


# -- mlog data profile / review -------------------------------------------------------------
@handle_errors
def data_profile_command(
    run: Annotated[str, typer.Argument(help="Run (vN, latest, champion, id prefix).")],
    dataset: Annotated[
        str | None, typer.Option("--dataset", help="Only this dataset (its name in the record).")
    ] = None,
    json_output: JsonOption = False,
) -> None:
    """Show the stored profile of a run's tabular datasets, as recorded when it ran.

    Rows, and per column its type, nulls, min/max/mean/std (numeric) or distinct count
    and top values (categorical).

    Examples:

        mlog data profile latest
        mlog data profile v3 --dataset train --json | jq '.profiles.train.columns[0]'
    """
    from mlog import ui
    from mlog.api import data

    result = data.profile(cwd=cwd(), ref=run, dataset=dataset)
    if json_output:
        ui.print_json(result)
        return
    for name, found in result["profiles"].items():
        _render_profile(name, found)


def _render_profile(name: str, found: Mapping[str, Any] | None) -> None:
    from rich.markup import escape

    from mlog import ui

    if found is None:
        ui.info(f"{name}: not profiled (not tabular, opted out, or pyarrow missing)")
        return
    sample = found.get("sample")
    sampled = f", statistics from every {sample['every']}th batch" if sample else ""
    ui.out().print(
        f"[bold]{escape(name)}[/]: {found['rows']} rows, {found['files']} file(s){sampled}"
    )
    rows = [[c["name"], c["type"], str(c["nulls"]), _summary(c)] for c in found["columns"]]
    ui.table(["column", "type", "nulls", "summary"], rows)


def _summary(column: Mapping[str, Any]) -> str:
    from mlog import ui

    if column["kind"] == "numeric":
        keys = ("min", "max", "mean", "std")
        return "  ".join(f"{k} {ui.format_value(column.get(k))}" for k in keys)
    if column["kind"] == "categorical":
        top = ", ".join(f"{t['value']} ({t['count']})" for t in column["top"][:5])
        approx = "" if column["distinct_exact"] else "≥"
        return f"distinct {approx}{column['distinct']}  top: {top}"
    return ""


@handle_errors
def data_review_command(
    target: Annotated[str, typer.Argument(help="MODEL@VERSION whose data drift was reviewed.")],
    reason: Annotated[
        str, typer.Option("--reason", "-r", help="What was checked and why the drift is fine.")
    ],
    by: Annotated[
        str | None, typer.Option("--by", help="Who reviewed (default: git user.email).")
    ] = None,
    json_output: JsonOption = False,
) -> None:
    """Sign off a review of a version's data drift: its `data_drift` promotion gate then passes.

    Appends a `data_review` event (who, when, why, and which columns had drifted) to the
    model's registry; see docs/data.md.

    Examples:

        mlog data review fraud@v3 --reason "new region onboarded; amounts checked with risk"
        mlog data review fraud@v3 --by lead@example.com --reason "nulls are a known outage"
    """
    from mlog import ui
    from mlog.api import data

    event = data.review(cwd=cwd(), target=target, reason=reason, by=by)
    if json_output:
        ui.print_json(event)
        return
    ui.success(f"{event['by']} reviewed the data of {target}")
