"""The ``mlog`` command: a Typer app assembled from one module per command group."""

from __future__ import annotations

from typing import Annotated

import typer

from mlog import __version__
from mlog.cli import check as check_cli
from mlog.cli import compare as compare_cli
from mlog.cli import inspect, run, setup
from mlog.cli import interop as interop_cli
from mlog.cli import lineage as lineage_cli
from mlog.cli import registry as registry_cli
from mlog.cli import remote as remote_cli
from mlog.cli import report as report_cli
from mlog.cli.common import state

app = typer.Typer(
    name="mlog",
    help=(
        "Keep a complete, immutable metadata log of every training run, inside your git repo.\n\n"
        "Start with `mlog init`, then wrap your training: `mlog run -- python train.py`."
    ),
    no_args_is_help=True,
    add_completion=True,
    pretty_exceptions_enable=False,
    rich_markup_mode="markdown",
)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"mlog {__version__}")
        raise typer.Exit()


@app.callback()
def main_options(
    version: Annotated[
        bool,
        typer.Option(
            "--version", callback=_version, is_eager=True, help="Print the version and exit."
        ),
    ] = False,
    traceback: Annotated[
        bool, typer.Option("--traceback", hidden=True, help="Show tracebacks of errors.")
    ] = False,
) -> None:
    """Keep a complete, immutable metadata log of every training run, inside your git repo."""
    state["traceback"] = traceback


setup.register(app)
run.register(app)
inspect.register(app)
registry_cli.register(app)
check_cli.register(app)
compare_cli.register(app)
report_cli.register(app)
remote_cli.register(app)
lineage_cli.register(app)
interop_cli.register(app)

# `mlog --help` lists commands in the order of the workflow, not of registration.
HELP_ORDER = ("init", "run", "ls", "show", "diff", "champion", "register", "promote", "approve",
              "deployable", "push", "pull", "fetch", "card", "report", "rerun", "lineage",
              "validate", "check",
              "recover")  # fmt: skip
app.registered_commands.sort(
    key=lambda info: HELP_ORDER.index(info.name) if info.name in HELP_ORDER else len(HELP_ORDER)
)


def main() -> None:
    """The ``mlog`` executable: usage errors are one line, like every other error."""
    import sys

    try:
        code = app(standalone_mode=False)
    except typer.TyperException as exc:
        sys.exit(_usage_error(exc))
    except typer.Abort:
        from mlog import ui

        ui.error("aborted")
        sys.exit(1)
    sys.exit(code if isinstance(code, int) else 0)


def _usage_error(exc: typer.TyperException) -> int:
    """Print ``error: <what> (see `mlog CMD --help`)`` for a bad option, value or argument."""
    from mlog import ui

    if type(exc).__name__ == "NoArgsIsHelpError":  # the help has been printed already
        return exc.exit_code
    message = " ".join(exc.format_message().split())
    ctx = getattr(exc, "ctx", None)
    where = ctx.command_path if ctx is not None else "mlog"
    ui.error(f"{message[:1].lower()}{message[1:].rstrip('.')} (see `{where} --help`)")
    return exc.exit_code
