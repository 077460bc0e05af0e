"""``mlog init``, ``mlog validate`` and ``mlog recover``."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from mlog.cli.common import Command, JsonOption, cwd, handle_errors


def register(app: typer.Typer) -> None:
    app.command("init", cls=Command)(init_command)
    app.command("validate", cls=Command)(validate_command)
    app.command("recover", cls=Command)(recover_command)


@handle_errors
def recover_command(json_output: JsonOption = False) -> None:
    """Record the runs whose mlog process was killed before it could write their record.

    Such a run is recorded as `interrupted`, with the metrics its script had logged and
    a `command.recovered` note saying why; a run whose command had ended (mlog could not
    write the record, a full disk say) is recorded as what it was, exit code included. A
    marker that cannot be recorded is moved to `.mlog/cache/quarantine/` with a warning.
    `mlog run` does this before starting a new run;
    read-only commands (`ls`, `show`, ...) never write, and `mlog ls` names runs waiting here.

    Examples:

        mlog recover
        mlog recover --json | jq length
    """
    from mlog import ui
    from mlog.api import runs as api

    recovery = api.recover(cwd=cwd())
    for notice in recovery.quarantined:
        ui.warning(notice)
    if json_output:
        ui.print_json(recovery.recovered)
        return
    for run_id in recovery.recovered:
        ui.success(f"recorded orphaned run {run_id}")
    if not (recovery.recovered or recovery.quarantined):
        ui.info("nothing to recover: no run ended without its record")


@handle_errors
def init_command(json_output: JsonOption = False) -> None:
    """Create `.mlog/` with a commented `config.yaml` and a `.gitignore` for the local cache.

    Safe to run again: existing files are left as they are.

    Examples:

        mlog init
        git add .mlog && git commit -m "Track training runs with mlog"
        mlog init --json | jq '.created'
    """
    from mlog import ui
    from mlog.api import runs as api

    result = api.init(cwd=cwd())
    if json_output:
        ui.print_json({"created": list(result.created)})
        return
    for path in result.created:
        ui.success(f"created {path}")
    if not result.created:
        ui.info("already initialised: .mlog/config.yaml and .mlog/.gitignore exist")


@handle_errors
def validate_command(
    paths: Annotated[
        list[Path] | None,
        typer.Argument(
            help="Record or config files to check (default: all of them).",
            show_default=False,
            metavar="PATH",
        ),
    ] = None,
    json_output: JsonOption = False,
) -> None:
    """Check records and config against their JSON Schemas and integrity hashes.

    Exits 9 when any file is invalid, naming each file and problem. Used by the
    `mlog-validate` pre-commit hook.

    Examples:

        mlog validate
        mlog validate .mlog/runs/2026-11/20261123T150102123456Z-1a2b3c4d/record.yaml
    """
    from mlog import ui
    from mlog.api import runs as api
    from mlog.errors import RecordError

    checked, issues = api.validate(cwd=cwd(), paths=paths)
    if json_output:
        ui.print_json({"checked": checked, "issues": [i.__dict__ for i in issues]})
    else:
        for issue in issues:
            ui.error(f"{issue.path}: {issue.message}")
        if not issues:
            ui.success(f"{checked} file(s) valid")
    if issues:
        raise typer.Exit(RecordError.exit_code)
