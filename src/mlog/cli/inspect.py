"""``mlog ls`` and ``mlog show``: read the log."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from mlog.cli.common import JsonOption, cwd, handle_errors


def register(app: typer.Typer) -> None:
    app.command("ls")(ls_command)
    app.command("show")(show_command)


@handle_errors
def ls_command(
    limit: Annotated[
        int | None, typer.Option("--limit", "-n", min=1, help="Show at most N runs (newest first).")
    ] = None,
    json_output: JsonOption = False,
) -> None:
    """List recorded runs, newest first.

    Examples:

        mlog ls
        mlog ls --limit 5
        mlog ls --json | jq '.[0].metrics'
    """
    from mlog import api, ui

    runs = api.list_runs(cwd=cwd(), limit=limit)
    if json_output:
        ui.print_json([run.to_json() for run in runs])
        return
    if not runs:
        ui.info("no runs recorded yet (start one with `mlog run -- python train.py`)")
        return
    metric_names = sorted({name for run in runs for name in run.metrics})[:6]
    columns = ["run", "model", "status", "started (UTC)", "took", "commit", *metric_names, "note"]
    ui.table(columns, [_ls_row(run, metric_names) for run in runs])


def _ls_row(run: Any, metric_names: list[str]) -> list[str]:
    from mlog import ui

    status_style = {"succeeded": "green", "failed": "red", "interrupted": "yellow"}
    status = f"[{status_style.get(run.status, 'white')}]{run.status}[/]"
    commit = run.commit[:8] + ("+dirty" if run.dirty else "")
    return [
        run.alias,
        run.model,
        status,
        run.started_at[:19].replace("T", " "),
        ui.format_duration(run.duration_s),
        commit,
        *(ui.format_value(run.metrics.get(name)) for name in metric_names),
        (run.note or "")[:40],
    ]


@handle_errors
def show_command(
    run: Annotated[str, typer.Argument(help="vN, latest, latest~K, or a run id (prefix).")],
    json_output: JsonOption = False,
    yaml_output: Annotated[
        bool, typer.Option("--yaml", help="Print the record exactly as stored, in YAML.")
    ] = False,
) -> None:
    """Show one run's record: code, command, environment, params, metrics, data, artifacts.

    Examples:

        mlog show v3
        mlog show latest --json
        mlog show latest~1 --yaml
    """
    from mlog import api, ui, yamlio
    from mlog.cli.render import render_record

    record = api.show(cwd=cwd(), ref=run)
    if json_output:
        ui.print_json(record)
    elif yaml_output:
        ui.print_text(yamlio.dumps(record))
    else:
        render_record(record)
