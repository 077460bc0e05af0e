"""``mlog push``, ``mlog pull``, ``mlog fetch``: artifacts to and from the remote."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from mlog.cli.common import JsonOption, cwd, handle_errors

if TYPE_CHECKING:
    from mlog.remote.pull import PullReport
    from mlog.remote.push import PushReport

ForceOption = Annotated[
    bool, typer.Option("--force", help="Replace local files that differ from the record.")
]
JobsOption = Annotated[
    int | None,
    typer.Option("--jobs", "-j", min=1, max=256, help="Parallel transfers (default 8)."),
]


def register(app: typer.Typer) -> None:
    app.command("push")(push_command)
    app.command("pull")(pull_command)
    app.command("fetch")(fetch_command)


@handle_errors
def push_command(
    refs: Annotated[
        list[str] | None,
        typer.Argument(
            help="Runs (vN, latest, run id) or MODEL@VERSIONs to push.", show_default=False
        ),
    ] = None,
    all_runs: Annotated[
        bool, typer.Option("--all", help="Push the artifacts of every run.")
    ] = False,
    data: Annotated[
        bool, typer.Option("--data", help="Push the runs' dataset files too (inside the repo).")
    ] = False,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="List what the remote lacks; send nothing.")
    ] = False,
    jobs: JobsOption = None,
    json_output: JsonOption = False,
) -> None:
    """Upload artifacts to the remote, content-addressed; what it already has is skipped.

    Objects are named by the digest the record pins and never overwritten. A local
    copy that no longer matches its record is not uploaded (exit 10 names it).

    Examples:

        mlog push latest
        mlog push fraud@v3 --dry-run
        mlog push --all --data -j 16
    """
    from mlog import ui
    from mlog.api import remote
    from mlog.errors import DataError

    progress = None if json_output else ui.HashProgress.for_terminal("uploading")
    report = remote.push(
        cwd=cwd(),
        targets=list(refs or []),
        all_runs=all_runs,
        data=data,
        dry_run=dry_run,
        jobs=jobs,
        progress=progress,
    )
    if json_output:
        ui.print_json(report.to_json())
    else:
        _render_push(report)
    if report.unavailable:
        try:
            remote.refuse_unavailable(report)
        except DataError as exc:
            ui.error(str(exc))
            raise typer.Exit(exc.exit_code) from None


def _render_push(report: PushReport) -> None:
    from mlog import ui

    if report.units:
        ui.table(
            ["artifact", "hash", "status"],
            [[u.unit.path, u.unit.digest, _word(u.status)] for u in report.units],
        )
    for note in report.notes:
        ui.info(note)
    if report.dry_run:
        missing = sum(1 for u in report.units if u.status == "missing")
        ui.info(f"dry run: {missing} artifact(s) missing on {report.remote}; nothing sent")
        return
    ui.success(
        f"sent {report.sent_files} file(s), {ui.format_bytes(report.sent_bytes)}; "
        f"skipped {report.skipped_files} already on {report.remote}"
    )


def _word(status: str) -> str:
    styles = {"sent": "green", "present": "dim", "missing": "yellow", "unavailable": "red"}
    shown = {"present": "already there", "missing": "missing (would send)"}.get(status, status)
    return f"[{styles.get(status, 'white')}]{shown}[/]"


@handle_errors
def pull_command(
    ref: Annotated[
        str, typer.Argument(help="RUN (vN, latest, run id), MODEL@VERSION or MODEL@STAGE.")
    ],
    to: Annotated[
        Path | None,
        typer.Option("--to", help="Restore below DIR instead of the working tree."),
    ] = None,
    data: Annotated[bool, typer.Option("--data", help="Pull the run's dataset files too.")] = False,
    force: ForceOption = False,
    jobs: JobsOption = None,
    json_output: JsonOption = False,
) -> None:
    """Download a run's artifacts to their recorded paths, every byte verified first.

    Files are downloaded aside, hashed against the record, then renamed into place; a
    corrupt or truncated object is refused (exit 9) and nothing is written. A local
    file that differs is never replaced without --force (exit 10).

    Examples:

        mlog pull fraud@v3
        mlog pull v7 --to /tmp/v7
        mlog pull fraud@production --data --force
    """
    from mlog import ui
    from mlog.api import remote

    progress = None if json_output else ui.HashProgress.for_terminal("downloading")
    report = remote.pull(
        cwd=cwd(), ref=ref, to=to, data=data, force=force, jobs=jobs, progress=progress
    )
    _render_pull(report, json_output)


def _render_pull(report: PullReport, json_output: bool) -> None:
    from mlog import ui

    if json_output:
        ui.print_json(report.to_json())
        return
    for note in report.notes:
        ui.info(note)
    for status, path in zip(report.units, report.paths, strict=True):
        ui.print_text(f"{status.status}: {path} {status.unit.digest}")
    ui.success(
        f"wrote {report.written_files} file(s), {ui.format_bytes(report.written_bytes)}, "
        f"verified; {report.unchanged_files} already up to date"
    )


@handle_errors
def fetch_command(
    ref: Annotated[
        str,
        typer.Argument(help="MODEL@STAGE (fraud@production), MODEL@VERSION or RUN."),
    ],
    output: Annotated[
        Path, typer.Option("--output", "-o", help="Where to put the file (or directory).")
    ],
    artifact: Annotated[
        str | None,
        typer.Option("--artifact", "-a", help="Which artifact, by path or file name (if several)."),
    ] = None,
    force: ForceOption = False,
    json_output: JsonOption = False,
) -> None:
    """One command to the file: download one artifact, verified, to -o PATH (for deploy jobs).

    Resolves the stage or version through the registry, downloads aside, checks every
    byte against the registered digest, then renames into place. Exits 6 when the stage
    is empty or the object is not on the remote, 9 when it is corrupt, 10 when PATH
    holds a different file (pass --force).

    Examples:

        mlog fetch fraud@production -o model.pkl
        mlog fetch fraud@v3 --artifact model.onnx -o /srv/models/
        mlog fetch latest -o out/model.pkl --force
    """
    from mlog import ui
    from mlog.api import remote

    progress = None if json_output else ui.HashProgress.for_terminal("downloading")
    report = remote.fetch(
        cwd=cwd(), ref=ref, output=output, artifact=artifact, force=force, progress=progress
    )
    _render_pull(report, json_output)
