"""``mlog run``: wrap a training command and record it."""

from __future__ import annotations

from typing import Annotated

import typer

from mlog.cli.common import Command, cwd, handle_errors
from mlog.errors import UsageError

RUN_HELP = """Run a training command and write an immutable record of it under `.mlog/runs/`.

Refuses a dirty working tree, hashes the declared data, runs the command with
your terminal (Ctrl-C reaches it), then records code, command, environment,
params, metrics, data and artifacts. Failed and interrupted runs are recorded
too. Exits with the command's own exit code.

Examples:

    mlog run -- python train.py
    mlog run --data train=data/train.csv --params params.yaml --metrics metrics.json \\
        --artifact model.pkl --note "more trees" -- python train.py --n-estimators 300
    mlog run --allow-dirty --tag team=fraud -- python train.py
    mlog run --fail-on-regression -d s3://lake/fraud@v42 -- python train.py
    RUN_ID=$(mlog run --json -- python train.py | tail -n 1 | jq -r .id)
"""


def register(app: typer.Typer) -> None:
    app.command(
        "run",
        cls=Command,
        help=RUN_HELP,
        context_settings={"allow_interspersed_args": False, "ignore_unknown_options": True},
    )(run_command)


@handle_errors
def run_command(
    ctx: typer.Context,
    command: Annotated[
        list[str] | None,
        typer.Argument(
            help="The training command, after `--`.",
            show_default=False,
            metavar="-- COMMAND [ARGS]",
        ),
    ] = None,
    data: Annotated[
        list[str] | None,
        typer.Option(
            "--data",
            "-d",
            metavar="SPEC",
            help="Dataset to hash before the run: PATH, NAME=PATH, a glob, "
            "a .dvc file, or URI[@VERSION]. Repeatable.",
            show_default=False,
        ),
    ] = None,
    artifact: Annotated[
        list[str] | None,
        typer.Option(
            "--artifact",
            "-a",
            metavar="PATH",
            help="Output to hash after the run (model file, report). "
            "A missing one fails the run. Repeatable.",
            show_default=False,
        ),
    ] = None,
    params: Annotated[
        list[str] | None,
        typer.Option(
            "--params",
            "-p",
            metavar="FILE",
            help="YAML/JSON/TOML file of params. Repeatable.",
            show_default=False,
        ),
    ] = None,
    metrics: Annotated[
        list[str] | None,
        typer.Option(
            "--metrics",
            "-m",
            metavar="FILE",
            help="Metrics file the command writes (read after it ends). Repeatable.",
            show_default=False,
        ),
    ] = None,
    model: Annotated[
        str | None,
        typer.Option("--model", metavar="NAME", help="Model name (default from config)."),
    ] = None,
    note: Annotated[
        str | None,
        typer.Option("--note", "-n", metavar="TEXT", help="What this run tries, in words."),
    ] = None,
    tag: Annotated[
        list[str] | None,
        typer.Option(
            "--tag",
            "-t",
            metavar="KEY=VALUE",
            help="KEY=VALUE label. Repeatable.",
            show_default=False,
        ),
    ] = None,
    allow_dirty: Annotated[
        bool,
        typer.Option(
            "--allow-dirty",
            help="Run with uncommitted changes; the patch "
            "and untracked file hashes are stored with the record.",
        ),
    ] = False,
    rehash: Annotated[
        bool, typer.Option("--rehash", help="Ignore the hash cache and re-read all data.")
    ] = False,
    follow_symlinks: Annotated[
        bool,
        typer.Option(
            "--follow-symlinks",
            help="Hash through symlinks inside datasets "
            "(recording link and target) instead of refusing them.",
        ),
    ] = False,
    data_window: Annotated[
        str | None,
        typer.Option(
            "--data-window",
            metavar="START..END",
            help="Time window of the training data, START..END (e.g. 2026-01-01..2026-03-31).",
        ),
    ] = None,
    fail_on_regression: Annotated[
        bool,
        typer.Option(
            "--fail-on-regression",
            help="Exit 1 when the validation against the champion says regressed "
            "(the record is still written).",
        ),
    ] = False,
    json_output: Annotated[
        bool,
        typer.Option(
            "--json",
            help="After the command ends, print the run's summary (id, alias, status, exit "
            "code, verdict, record path) as one line of JSON, the last line on stdout.",
        ),
    ] = False,
) -> None:
    from mlog import ui
    from mlog.api import runs as api
    from mlog.api.runs import RunOptions
    from mlog.cli.diffview import render_validation

    _refuse_unknown_option(ctx, command or [])
    options = RunOptions(
        argv=tuple(command or ()),
        data=tuple(data or ()),
        artifacts=tuple(artifact or ()),
        params_files=tuple(params or ()),
        metrics_files=tuple(metrics or ()),
        model=model,
        note=note,
        tags=_parse_tags(tag or []),
        allow_dirty=allow_dirty,
        rehash=rehash,
        follow_symlinks=follow_symlinks,
        data_window=data_window,
        progress=ui.HashProgress.for_terminal(),
    )
    report = api.run(options, cwd=cwd(), fail_on_regression=fail_on_regression)
    result, record = report.result, report.result.record
    for notice in result.notices:
        ui.warning(notice)
    for warning in record.get("warnings", []):
        ui.warning(warning)
    render_validation(record.get("validation"), record["model"])
    status = record["status"]
    line = f"run {result.alias} ({result.run_id}) {status}; record: {result.path}"
    (ui.success if status == "succeeded" else ui.warning)(line)
    if report.failed_on_regression:
        ui.error("validation regressed against the champion (--fail-on-regression); record kept")
    if json_output:
        ui.print_json(report.to_json(), one_line=True)
    raise typer.Exit(report.exit_code)


def _parse_tags(pairs: list[str]) -> dict[str, str]:
    tags = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise UsageError(f"--tag {pair!r}: expected KEY=VALUE, e.g. --tag team=fraud")
        tags[key.strip()] = value
    return tags


def _refuse_unknown_option(ctx: typer.Context, command: list[str]) -> None:
    """A command never starts with ``-``: that is a mistyped mlog option, named as one."""
    if not command or not command[0].startswith("-"):
        return
    import difflib

    typed = command[0].partition("=")[0]
    known = [name for param in ctx.command.params for name in param.opts if name.startswith("-")]
    close = difflib.get_close_matches(typed, known, n=1, cutoff=0.6)
    hint = f"did you mean {close[0]}?" if close else "see `mlog run --help`"
    raise UsageError(
        f"unknown mlog run option: {typed} ({hint} The command goes after `--`, "
        "e.g. `mlog run --allow-dirty -- python train.py`)"
    )
