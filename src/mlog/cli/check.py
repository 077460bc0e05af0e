"""``mlog check`` for CI and people, and the hidden ``mlog hook`` that pre-commit calls."""

from __future__ import annotations

from enum import Enum
from typing import TYPE_CHECKING, Annotated

import typer

from mlog.cli.common import Command, JsonOption, cwd, handle_errors

if TYPE_CHECKING:
    from mlog.api.audit import CheckReport, Finding


class OutputFormat(str, Enum):
    human = "human"
    json = "json"
    github = "github"


def register(app: typer.Typer) -> None:
    app.command("check", cls=Command)(check_command)
    app.command("hook", hidden=True, cls=Command)(hook_command)


@handle_errors
def check_command(
    full: Annotated[
        bool,
        typer.Option("--full", help="Also re-hash the artifacts and datasets present on disk."),
    ] = False,
    output_format: Annotated[
        OutputFormat,
        typer.Option(
            "--format",
            help="human (tables), json, or github (GitHub Actions ::error annotations).",
        ),
    ] = OutputFormat.human,
    json_output: JsonOption = False,
    strict: Annotated[
        bool, typer.Option("--strict", help="Fail on warnings too (alias collisions, ...).")
    ] = False,
) -> None:
    """Check every record, event and config for tampering, integrity and policy; for CI.

    Validates schemas and integrity hashes, asks git whether any record or event was
    modified or deleted after it was committed, checks that every recorded commit is
    reachable, and reports alias collisions, registry conflicts and gate violations.
    Exits 1 naming each failing record.

    Examples:

        mlog check
        mlog check --full
        mlog check --format github
        mlog check --json | jq '.findings[] | select(.severity == "error")'
    """
    from mlog.api import audit as api
    from mlog.errors import CheckFailed

    report = api.check(cwd=cwd(), full=full)
    chosen = OutputFormat.json if json_output else output_format
    {
        OutputFormat.json: _render_json,
        OutputFormat.github: _render_github,
        OutputFormat.human: _render_human,
    }[chosen](report, strict)
    if report.failed(strict=strict):
        if chosen is OutputFormat.human:
            raise CheckFailed(_summary(report))
        raise typer.Exit(CheckFailed.exit_code)


def _render_json(report: CheckReport, strict: bool) -> None:
    from mlog import ui

    ui.print_json(report.to_json(strict=strict))


def _render_github(report: CheckReport, strict: bool) -> None:
    from mlog import ui

    for finding in report.findings:
        ui.print_text(github_annotation(finding))
    if not report.failed(strict=strict):
        ui.print_text(f"mlog check: ok ({_counts(report)})")


def github_annotation(finding: Finding) -> str:
    """A GitHub Actions workflow command: ``::error file=PATH,title=TITLE::MESSAGE``."""
    level = "error" if finding.severity == "error" else "warning"
    title = f"mlog {finding.check}"
    return (
        f"::{level} file={_escape_property(finding.path)},title={_escape_property(title)}"
        f"::{_escape_data(finding.message)}"
    )


def _escape_data(text: str) -> str:
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def _escape_property(text: str) -> str:
    return _escape_data(text).replace(":", "%3A").replace(",", "%2C")


def _render_human(report: CheckReport, strict: bool) -> None:
    from mlog import ui

    if report.findings:
        style = {"error": "[red]error[/]", "warning": "[yellow]warning[/]"}
        rows = [
            [style.get(f.severity, f.severity), f.check, f.run or f.path, f.message]
            for f in report.findings
        ]
        ui.table(["", "check", "record / file", "problem"], rows)
    if not report.failed(strict=strict):
        ui.success(f"mlog check passed ({_counts(report)})")


def _counts(report: CheckReport) -> str:
    parts = [f"{count} {name}" for name, count in report.counts.items()]
    if report.warnings:
        parts.append(f"{len(report.warnings)} warning(s)")
    return ", ".join(parts)


def _summary(report: CheckReport) -> str:
    failing = report.errors or report.warnings
    names = sorted({f.run or f.path for f in failing})
    shown = ", ".join(names[:5]) + (f" and {len(names) - 5} more" if len(names) > 5 else "")
    return f"mlog check found {len(failing)} problem(s) in: {shown}"


@handle_errors
def hook_command(
    name: Annotated[str, typer.Argument(help="validate, immutable or artifacts.", metavar="HOOK")],
    files: Annotated[
        list[str] | None,
        typer.Argument(
            help="Staged files, as pre-commit passes them.", show_default=False, metavar="FILE"
        ),
    ] = None,
) -> None:
    """Run one pre-commit hook (called by the hooks in .pre-commit-hooks.yaml).

    validate, immutable or artifacts, on the files named (or the staged ones); one line
    per problem, exit 1 when there is any. docs/hooks.md says what each refuses.

    Examples:

        mlog hook validate .mlog/runs/2026-11/20261123T150102123456Z-1a2b3c4d/record.yaml
        mlog hook immutable
        mlog hook artifacts models/model.pt
    """
    from mlog import ui
    from mlog.api import audit as api
    from mlog.errors import CheckFailed

    findings = api.hook(cwd=cwd(), name=name, files=list(files or []))
    for finding in findings:
        ui.error(f"{finding.path}: {finding.message}")
    if findings:
        raise CheckFailed(f"mlog-{name}: {len(findings)} problem(s), commit refused")
