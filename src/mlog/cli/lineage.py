"""``mlog rerun`` and ``mlog lineage``: reproduce a run, and trace where its inputs came from."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any

import typer

from mlog.cli.common import Command, JsonOption, cwd, handle_errors

if TYPE_CHECKING:
    from mlog.api.rerun import RerunReport


def register(app: typer.Typer) -> None:
    app.command("rerun", cls=Command)(rerun_command)
    app.command("lineage", cls=Command)(lineage_command)


@handle_errors
def rerun_command(
    run: Annotated[
        str,
        typer.Argument(help="The run to reproduce: vN, latest, a run id prefix.", metavar="RUN"),
    ],
    check: Annotated[
        bool,
        typer.Option(
            "--check",
            help="Exit 1 unless every metric is within its configured tolerance (exact by "
            "default) and every artifact has the original's hash.",
        ),
    ] = False,
    allow_data_drift: Annotated[
        bool,
        typer.Option(
            "--allow-data-drift",
            help="Rerun even when a dataset's hash differs from the recorded one; "
            "the drift is recorded.",
        ),
    ] = False,
    keep_worktree: Annotated[
        bool,
        typer.Option(
            "--keep-worktree", help="Keep the temporary worktree the run ran in, and print it."
        ),
    ] = False,
    json_output: JsonOption = False,
) -> None:
    """Re-execute a recorded run at its commit, record it, and compare it with the original.

    The run's commit is checked out into a temporary git worktree (with the stored
    patch of a dirty run), its datasets are copied in and checked against the recorded
    hashes, and its command runs there as `mlog run` would, so the rerun is a full
    record that says which run it reproduces. Your working tree is not touched.
    Without --check, exits with the command's own exit code.

    Examples:

        mlog rerun v3
        mlog rerun v3 --check
        mlog rerun latest --allow-data-drift --keep-worktree
        mlog rerun fraud@v2 --check --json
    """
    from mlog import ui
    from mlog.api import rerun as reruns

    report = reruns.rerun(
        cwd=cwd(),
        ref=run,
        allow_data_drift=allow_data_drift,
        keep_worktree=keep_worktree,
        progress=None if json_output else ui.HashProgress.for_terminal(),
    )
    if json_output:
        ui.print_json(report.to_json())
    else:
        _render_rerun(report, check)
    raise typer.Exit(report.exit_code(check=check))


def _render_rerun(report: RerunReport, check: bool) -> None:
    from mlog import ui
    from mlog.cli.diffview import render_diff

    for warning in report.warnings:
        ui.warning(warning)
    render_diff(report.diff)
    new, old = report.rerun, report.original
    line = f"run {new['alias']} ({new['id']}) {new['status']}, reproducing {old['alias']}"
    (ui.success if new["status"] == "succeeded" else ui.warning)(f"{line}; record: {report.path}")
    if report.worktree:
        ui.info(f"worktree kept at {report.worktree} (remove it with `git worktree remove`)")
    if check:
        _render_check(report.check, str(old["alias"]))


def _render_check(result: dict[str, Any], alias: str) -> None:
    from mlog import ui

    if result["reproduced"]:
        ui.success(f"reproduced {alias}: every metric and artifact matches")
        return
    for metric in (m for m in result["metrics"] if not m["ok"]):
        ui.error(
            f"metric {metric['name']} differs: {ui.format_value(metric['original'])} -> "
            f"{ui.format_value(metric['rerun'])} (tolerance {metric['tolerance']})"
        )
    for artifact in (a for a in result["artifacts"] if not a["ok"]):
        ui.error(
            f"artifact {artifact['path']} differs: {artifact['original']} -> {artifact['rerun']}"
        )


@handle_errors
def lineage_command(
    ref: Annotated[
        str,
        typer.Argument(help="A run (vN, latest, run id prefix) or MODEL@VERSION.", metavar="REF"),
    ],
    down: Annotated[
        bool,
        typer.Option(
            "--down",
            help="Show consumers instead: runs that read this run's artifacts, "
            "and the model versions registered from them.",
        ),
    ] = False,
    depth: Annotated[
        int | None,
        typer.Option("--depth", min=0, help="Follow at most N run-to-run steps."),
    ] = None,
    json_output: JsonOption = False,
    dot: Annotated[bool, typer.Option("--dot", help="Print a Graphviz DOT graph.")] = False,
    mermaid: Annotated[
        bool, typer.Option("--mermaid", help="Print a Mermaid flowchart (for pull requests).")
    ] = False,
) -> None:
    """Show where a run's inputs came from, or (--down) where its outputs went.

    Runs are linked by content: a dataset (or a file inside a dataset) whose hash
    equals an artifact of an earlier run names that run as its producer, recursively,
    down to inputs no run produced. Served from the index in `.mlog/cache/`.

    Examples:

        mlog lineage v7
        mlog lineage fraud@v2 --json
        mlog lineage v3 --down --depth 2
        mlog lineage latest --mermaid >> pr-comment.md
        mlog lineage v7 --dot | dot -Tsvg > lineage.svg
    """
    from mlog import ui
    from mlog.api import lineage as lineages
    from mlog.errors import UsageError

    if sum((json_output, dot, mermaid)) > 1:
        raise UsageError("choose one of --json, --dot and --mermaid")
    view = lineages.lineage(cwd=cwd(), ref=ref, down=down, depth=depth)
    if json_output:
        ui.print_json(view.to_json())
    else:
        ui.print_text(view.text("dot" if dot else "mermaid" if mermaid else "tree"))
