"""``mlog ls`` and ``mlog show``: read the log."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from mlog.cli.common import Command, JsonOption, cwd, handle_errors


def register(app: typer.Typer) -> None:
    app.command("ls", cls=Command)(ls_command)
    app.command("show", cls=Command)(show_command)


@handle_errors
def ls_command(
    where: Annotated[
        str | None,
        typer.Option(
            "--where",
            "-w",
            help="Filter, e.g. 'metrics.acc > 0.9 and status = \"succeeded\"' "
            "(see docs/query-language.md).",
            metavar="EXPR",
        ),
    ] = None,
    sort: Annotated[
        str | None,
        typer.Option(
            "--sort",
            "-s",
            help="Sort by dotted keys, comma-separated; a leading - sorts descending "
            "(-metrics.acc,params.lr). Missing values sort last.",
            metavar="KEYS",
        ),
    ] = None,
    limit: Annotated[
        int | None, typer.Option("--limit", "-n", min=1, help="Show at most N runs.", metavar="N")
    ] = None,
    columns: Annotated[
        str | None,
        typer.Option(
            "--columns",
            "-c",
            help="Comma-separated dotted keys to show instead of the metric columns "
            "(params.lr,metrics.acc; a section such as params shows all its values).",
            metavar="KEYS",
        ),
    ] = None,
    json_output: JsonOption = False,
) -> None:
    """List recorded runs, newest first; filter, sort and pick columns over any record key.

    Served from a derived index in `.mlog/cache/` that refreshes itself from the
    records, so it stays fast with tens of thousands of runs.

    Examples:

        mlog ls
        mlog ls --limit 5
        mlog ls --where 'metrics.acc > 0.9 and params.lr <= 0.01' --sort -metrics.acc -n 10
        mlog ls --where 'status in ("failed", "interrupted") or note ~ /oom/i'
        mlog ls --where 'tags.team = "fraud"' --columns params.lr,metrics.auc
        mlog ls --json | jq '.[0].metrics'
    """
    from mlog import ui
    from mlog.api import runs as api

    listing = api.list_runs(cwd=cwd(), where=where, sort=sort, limit=limit, columns=columns)
    runs, keys = listing.runs, list(listing.columns)
    if listing.orphans:
        ui.warning(
            f"{len(listing.orphans)} run(s) ended without a record when mlog was killed: "
            f"{', '.join(listing.orphans)} (record them with `mlog recover`)"
        )
    if json_output:
        ui.print_json([run.to_json() for run in runs])
        return
    if not runs:
        ui.info(
            "no runs match --where"
            if where
            else "no runs recorded yet (start one with `mlog run -- python train.py`)"
        )
        return
    show_model = len({run.model for run in runs}) > 1
    extra = keys or _metrics_that_fit(runs, show_model)
    headers = [key.removeprefix("metrics.") for key in extra]
    fixed = ["run", *(["model"] if show_model else []), "status", "started (UTC)", "took", "commit"]
    rows = [_ls_row(run, extra, show_model) for run in runs]
    if not all(run.verified for run in runs):  # a column only when some record fails
        from mlog.cli.render import TAMPERED

        fixed.insert(1, "integrity")
        for row, run in zip(rows, runs, strict=True):
            row.insert(1, "" if run.verified else f"[bold red]{TAMPERED}[/]")
    ui.table([*fixed, *headers, "note"], rows, no_wrap=len(fixed) + len(headers))
    hidden = len({n for run in runs for n in run.metrics}) - len(extra)
    if not keys and hidden > 0:
        ui.info(f"{hidden} more metric(s) do not fit: widen the terminal or pick --columns")


def _metrics_that_fit(runs: list[Any], show_model: bool) -> list[str]:
    """As many metric columns as the terminal has room for (the note column takes the rest)."""
    from mlog import ui

    room = ui.width() - (74 if show_model else 58)  # the fixed columns, a short note
    chosen = []
    for name in sorted({n for run in runs for n in run.metrics}):
        room -= max(len(name), 9) + 3
        if room < 0:
            break
        chosen.append(f"metrics.{name}")
    return chosen


def _ls_row(run: Any, keys: list[str], show_model: bool) -> list[str]:
    from mlog import ui

    def cell(key: str) -> str:
        value = run.columns[key] if key in run.columns else run.metrics.get(key[8:])
        if isinstance(value, dict):
            return ", ".join(f"{k}={ui.format_value(v)}" for k, v in value.items())
        return ui.format_value(value)

    status_style = {"succeeded": "green", "failed": "red", "interrupted": "yellow"}
    status = f"[{status_style.get(run.status, 'white')}]{run.status}[/]"
    commit = run.commit[:8] + ("+dirty" if run.dirty else "")
    return [
        run.alias,
        *([run.model] if show_model else []),
        status,
        run.started_at[:16].replace("T", " "),
        ui.format_duration(run.duration_s),
        commit,
        *(cell(key) for key in keys),
        (run.note or "")[:40],
    ]


@handle_errors
def show_command(
    run: Annotated[
        str, typer.Argument(help="vN, latest, latest~K, or a run id (prefix).", metavar="RUN")
    ],
    json_output: JsonOption = False,
    yaml_output: Annotated[
        bool, typer.Option("--yaml", help="Print the record exactly as stored, in YAML.")
    ] = False,
) -> None:
    """Show one run's record: code, command, environment, params, metrics, data, artifacts.

    Also the runs that produced its data, and whether each artifact is here and on the
    remote. A record whose integrity check fails is marked TAMPERED.

    Examples:

        mlog show v3
        mlog show latest --json
        mlog show latest~1 --yaml
    """
    from mlog import ui
    from mlog.api import runs as api
    from mlog.cli.render import render_record

    shown = api.show(cwd=cwd(), ref=run, detail=not (json_output or yaml_output))
    for note in shown.notes:
        ui.warning(note)
    if json_output:
        ui.print_json(shown.view)
    elif yaml_output:
        ui.print_text(shown.yaml())
    else:
        render_record(shown.view, links=shown.links)
        _render_where(shown.where)


def _render_where(rows: list[dict[str, Any]]) -> None:
    """Whether each artifact is here (matching its hash) and on the remote."""
    from mlog import ui

    if rows:
        ui.table(
            ["artifact", "local", "remote"], [[r["path"], r["local"], r["remote"]] for r in rows]
        )
