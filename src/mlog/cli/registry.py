"""Model registry commands: register, promote, approve, registry ls/history, deployable, card."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from mlog.cli.common import Command, JsonOption, cwd, handle_errors

if TYPE_CHECKING:
    from mlog.api.registry import ModelState
    from mlog.registry.fold import GateResult

ByOption = Annotated[
    str | None,
    typer.Option(
        "--by",
        metavar="EMAIL",
        help="Must name you: events always name the person git would commit as (user.email).",
    ),
]
ReasonOption = Annotated[
    str | None,
    typer.Option("--reason", "-r", metavar="TEXT", help="Why, in words; kept in the audit trail."),
]
TargetArg = Annotated[
    str,
    typer.Argument(
        metavar="MODEL@VERSION",
        help="MODEL@VERSION, e.g. fraud@v2 (MODEL@VERSION#RUN picks one of two registrations "
        "sharing a label after a merge, to archive it).",
    ),
]


def register(app: typer.Typer) -> None:
    registry_app = typer.Typer(
        name="registry",
        help="Read the model registry: versions, stages, champion, audit trail.",
        no_args_is_help=True,
    )
    app.command("register", cls=Command)(register_command)
    app.command("promote", cls=Command)(promote_command)
    app.command("approve", cls=Command)(approve_command)
    app.command("deployable", cls=Command)(deployable_command)
    app.command("card", cls=Command)(card_command)
    registry_app.command("ls", cls=Command)(registry_ls_command)
    registry_app.command("history", cls=Command)(registry_history_command)
    app.add_typer(registry_app, name="registry")


@handle_errors
def register_command(
    run: Annotated[
        str, typer.Argument(help="vN, latest, latest~K, or a run id (prefix).", metavar="RUN")
    ],
    model: Annotated[
        str | None,
        typer.Option("--model", help="Model name (default: the run's model).", metavar="NAME"),
    ] = None,
    version: Annotated[
        str | None,
        typer.Option("--version", help="Version label (default: next vN).", metavar="LABEL"),
    ] = None,
    by: ByOption = None,
    reason: ReasonOption = None,
    json_output: JsonOption = False,
) -> None:
    """Register a run as a new immutable model version, pinned to its commit and artifact hashes.

    A run whose record fails its integrity check is refused. The version then moves through
    stages with `mlog promote` (docs/registry.md).

    Examples:

        mlog register latest --model fraud
        mlog register v7 --model fraud --version 2026-q1 --reason "quarterly retrain"
    """
    from mlog import ui
    from mlog.api import registry as api

    created = api.register(cwd=cwd(), ref=run, model=model, version=version, by=by, reason=reason)
    if json_output:
        ui.print_json(created.to_json())
    else:
        ui.success(f"registered {created.model}@{created.version} from run {created.run}")
        for artifact in created.artifacts:
            ui.info(f"  pinned {artifact['path']} {artifact['hash']}")
    _push_registered(f"{created.model}@{created.version}", json_output)


def _push_registered(target: str, quiet: bool) -> None:
    """With a remote configured, a registered version's artifacts go there at once."""
    from mlog import ui
    from mlog.api import remote
    from mlog.errors import MlogError

    progress = None if quiet else ui.HashProgress.for_terminal("uploading")
    try:
        pushed = remote.push_registered(cwd=cwd(), target=target, progress=progress)
    except MlogError:
        ui.warning(f"{target} is registered, but its artifacts were not pushed")
        raise
    if pushed is not None and not quiet:
        ui.success(
            f"pushed {pushed.sent_files} file(s) to {pushed.remote}, "
            f"{pushed.skipped_files} already there"
        )


@handle_errors
def promote_command(
    target: TargetArg,
    to: Annotated[
        str, typer.Option("--to", help="Stage: staging, production or archived.", metavar="STAGE")
    ],
    force: Annotated[
        bool, typer.Option("--force", help="Override failed gates (needs --reason).")
    ] = False,
    by: ByOption = None,
    reason: ReasonOption = None,
    json_output: JsonOption = False,
) -> None:
    """Move a version to a stage once its gates pass; promoting to production archives the old one.

    Gates (configured under `registry:` in .mlog/config.yaml) are checked in order and
    every failure is reported at once; exit code 11 when any fails.

    Examples:

        mlog promote fraud@v3 --to staging
        mlog promote fraud@v3 --to production --reason "beats v2 on AUC"
        mlog promote fraud@v3 --to production --force --reason "hotfix, INC-123"
        mlog promote fraud@rc1#20261125T1015 --to archived --reason "label clash after merge"
    """
    from mlog import ui
    from mlog.api import registry as api

    try:
        done = api.promote(cwd=cwd(), target=target, to=to, by=by, reason=reason, force=force)
    except api.GatesFailed as exc:
        if not json_output:  # with --json, the error funnel prints the gates
            _gate_table(exc.gates, False)
        raise
    if json_output:
        ui.print_json(done.to_json())
        return
    _gate_table(done.gates, False)
    forced = " (forced)" if done.forced else ""
    ui.success(
        f"{done.model}@{done.version}: {done.from_stage or 'registered'} -> {done.stage}{forced}"
    )
    for old in done.archived:
        ui.info(f"  {done.model}@{old} archived")


def _gate_table(gates: list[GateResult], json_output: bool) -> None:
    from mlog import ui

    if json_output:
        ui.print_json({"gates": [gate.__dict__ for gate in gates]})
        return
    if gates:
        marks = {True: "[green]pass[/]", False: "[red]FAIL[/]"}
        ui.table(["gate", "result", "detail"], [[g.name, marks[g.passed], g.detail] for g in gates])


@handle_errors
def approve_command(
    target: TargetArg,
    by: ByOption = None,
    reason: ReasonOption = None,
    json_output: JsonOption = False,
) -> None:
    """Approve a version as the person git says you are (signed with git's ssh key when set).

    Promotion needs approvals from distinct people other than the registrant (see
    `registry:` config and docs/registry.md).

    Examples:

        mlog approve fraud@v3
        mlog approve fraud@v3 --reason "fairness review FR-12"
    """
    from mlog import ui
    from mlog.api import registry as api

    approval = api.approve(cwd=cwd(), target=target, by=by, reason=reason)
    if json_output:
        ui.print_json({"target": target, **approval.__dict__})
        return
    ui.success(f"{approval.by} approved {target}")


@handle_errors
def registry_ls_command(
    model: Annotated[
        str | None,
        typer.Argument(help="Only this model (default: all).", show_default=False, metavar="MODEL"),
    ] = None,
    json_output: JsonOption = False,
) -> None:
    """List models, their versions, stages and champion; reports merge conflicts.

    Exits 11 when a merge left a model with two production versions, or two
    registrations of different runs under one label (marked "ambiguous").

    Examples:

        mlog registry ls
        mlog registry ls fraud --json | jq '.[0].production'
    """
    from mlog import ui
    from mlog.api import registry as api
    from mlog.errors import GateError

    states = api.states(cwd=cwd(), model=model)
    if json_output:
        ui.print_json([state.to_json() for state in states])
    elif not states:
        ui.info("no models registered yet (use `mlog register RUN --model NAME`)")
    where = {} if json_output else _where(states)
    for state in states:
        if not json_output:
            _render_state(state, where)
        for conflict in state.conflicts:
            ui.warning(conflict)
    if any(len(s.in_stage("production")) > 1 or s.ambiguous for s in states):
        raise typer.Exit(GateError.exit_code)


def _where(states: list[ModelState]) -> dict[str, dict[str, str]]:
    """Whether each version's artifacts are here and on the remote (see docs/push.md)."""
    from mlog.api import remote

    targets = [f"{s.model}@{v}" for s in states for v in s.versions]
    return remote.registry_status(cwd=cwd(), targets=targets) if targets else {}


def _render_state(state: ModelState, where: dict[str, dict[str, str]]) -> None:
    from mlog import ui
    from mlog.api.registry import approvers

    styles = {"production": "green", "staging": "cyan", "archived": "dim"}
    ambiguous = state.ambiguous
    shown = [v for v in state.registrations.values() if state.registrations.get(v.event) is v]
    rows = [
        [
            ("[bold red]TAMPERED[/] " if v.tampered else "")
            + f"{state.model}@{v.version}"
            + (" [red](ambiguous)[/]" if v.version in ambiguous else ""),
            f"[{styles.get(v.stage or '', 'white')}]{v.stage or 'registered'}[/]",
            v.run,
            (v.commit or "")[:10],
            ", ".join(approvers(v)) or "-",
            "*" if v.run == state.champion else "",
        ]
        for v in shown
    ]
    headers = ["version", "stage", "run", "commit", "approved by", "champion"]
    if where:
        headers.append("local/remote")
        for row, v in zip(rows, shown, strict=True):
            row.append(_where_cell(where.get(f"{state.model}@{v.version}")))
    ui.table(headers, rows)


def _where_cell(found: dict[str, str] | None) -> str:
    if not found or found["local"] == "-":
        return "-"
    return f"{found['local']}/{found['remote']}"


@handle_errors
def registry_history_command(
    model: Annotated[str, typer.Argument(help="Model name.", metavar="MODEL")],
    limit: Annotated[
        int | None, typer.Option("--limit", "-n", min=1, help="Show at most N events.", metavar="N")
    ] = None,
    json_output: JsonOption = False,
) -> None:
    """Show a model's audit trail, newest first: who did what, who signed it, when, why, and
    whether forced.

    Signatures are checked against .mlog/allowed_signers.

    Examples:

        mlog registry history fraud
        mlog registry history fraud --json | jq '.[] | select(.forced)'
    """
    from mlog import ui
    from mlog.api import registry as api

    trail = api.history(cwd=cwd(), model=model, limit=limit)
    if json_output:
        ui.print_json(trail)
        return
    ui.table(
        ["at (UTC)", "event", "version", "stage", "by (signature)", "forced", "reason"],
        [_history_row(e) for e in trail],
    )


def _history_row(event: dict[str, Any]) -> list[str]:
    stage = event.get("stage") or ""
    if event["kind"] == "data_review":
        details = event.get("details") or {}
        stage = "flagged" if details.get("flagged") else "cleared"
        stage = "reviewed" if details.get("reviewed") else stage
    return [
        event["at"][:19].replace("T", " "),
        event["kind"],
        ("[bold red]TAMPERED[/] " if event.get("tampered") else "") + (event.get("version") or ""),
        stage,
        event["by"] + _signed(event.get("signature") or {}),
        "yes" if event.get("forced") else "",
        event.get("reason") or "",
    ]


def _signed(signature: dict[str, Any]) -> str:
    """`` (signed by alice@example.com)``, or what is wrong (``unknown key``...); nothing
    for an unsigned event that counts."""
    status = signature.get("status") or "unsigned"
    if status == "verified":
        return f" (signed by {signature.get('signer')})"
    if status == "unsigned" and signature.get("counts", True):
        return ""
    shown = status + (f": {signature['signer']}" if signature.get("signer") else "")
    return f" ({shown})" if signature.get("counts", True) else f" [red]({shown}, not counted)[/]"


@handle_errors
def deployable_command(
    model: Annotated[str, typer.Argument(help="Model name.", metavar="MODEL")],
    stage: Annotated[
        str,
        typer.Option(
            "--stage", help="Stage to deploy from: production or staging.", metavar="STAGE"
        ),
    ] = "production",
    verify: Annotated[
        bool, typer.Option("--verify", help="Re-hash the artifact files; fail on any mismatch.")
    ] = False,
    remote: Annotated[
        bool,
        typer.Option(
            "--remote",
            help="With --verify: hash the artifacts on the remote (streaming), not local files.",
        ),
    ] = False,
    json_output: JsonOption = False,
) -> None:
    """The gatekeeper for deploy scripts: what is in a stage, or a non-zero exit.

    Prints version, run, commit and the pinned artifact paths and hashes. Exits 6 when
    the stage is empty, 11 when a merge left two production versions or an ambiguous
    label, or (with --verify) an artifact does not match its registered hash, 9 when the
    run's record was edited.
    With --remote, the artifacts are hashed where they are on the remote, byte for byte,
    without downloading them into the working tree.

    Examples:

        mlog deployable fraud --verify
        mlog deployable fraud --verify --remote
        mlog deployable fraud --stage staging --json | jq -r '.artifacts[0].path'
    """
    from mlog import ui
    from mlog.api import registry as api
    from mlog.errors import UsageError

    if remote and not verify:
        raise UsageError("--remote goes with --verify (mlog deployable MODEL --verify --remote)")
    if remote:
        from mlog.api import remote as remote_api

        found = remote_api.verify_deployable(cwd=cwd(), model=model, stage=stage)
    else:
        found = api.deployable(cwd=cwd(), model=model, stage=stage, verify=verify)
    if json_output:
        ui.print_json(found.to_json())
        return
    lines = [
        f"model: {found.model}",
        f"version: {found.version}",
        f"stage: {found.stage}",
        f"run: {found.run}",
        f"commit: {found.commit}",
        f"forced: {str(found.forced).lower()}",
        f"verified: {str(found.verified).lower()}",
    ]
    lines += [f"artifact: {a['path']} {a['hash']}" for a in found.artifacts]
    lines += _signature_lines(found.signature)
    ui.print_text("\n".join(lines))


def _signature_lines(signature: dict[str, Any] | None) -> list[str]:
    if not signature:
        return ["signature: none logged"]
    lines = []
    for side in ("inputs", "outputs"):
        for item in signature.get(side) or []:
            shape = f" {item['shape']}" if item.get("shape") else ""
            name = item.get("name") if item.get("name") is not None else "-"
            lines.append(f"{side[:-1]}: {name} {item.get('type') or '?'}{shape}")
    return lines


@handle_errors
def card_command(
    ref: Annotated[
        str,
        typer.Argument(
            help="RUN (vN, latest, run id) or MODEL@VERSION.", metavar="RUN|MODEL@VERSION"
        ),
    ],
    fmt: Annotated[
        str,
        typer.Option(
            "--format", "-f", help="md (Hugging Face style), html or json.", metavar="FORMAT"
        ),
    ] = "md",
    output: Annotated[
        Path | None,
        typer.Option("--output", "-o", help="Write to FILE instead of stdout.", metavar="FILE"),
    ] = None,
) -> None:
    """Generate a model card (Mitchell et al.) from the record and the registry.

    Markdown starts with Hugging Face YAML front matter (`model-index` metrics);
    HTML is one self-contained file. Intended use, out-of-scope uses, ethics and
    caveats come from `card:` in .mlog/config.yaml; a warning shows when they are empty.

    Examples:

        mlog card fraud@v3 -o MODEL_CARD.md
        mlog card latest --format html -o card.html
    """
    from mlog import ui
    from mlog.api import registry as api

    card = api.card(cwd=cwd(), ref=ref, fmt=fmt, output=output)
    if card.warning:
        ui.warning(card.warning)
    if output is None:
        ui.print_text(card.text)
        return
    ui.success(f"wrote {output}")
