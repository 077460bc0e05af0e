"""The ``mlog`` command: a Typer app assembled from one module per command group."""

from __future__ import annotations

from typing import Annotated

import typer

from mlog import __version__
from mlog.cli import check as check_cli
from mlog.cli import compare as compare_cli
from mlog.cli import inspect, run, setup
from mlog.cli import registry as registry_cli
from mlog.cli.common import state

app = typer.Typer(
    name="mlog",
    help=(
        "Keep a complete, immutable metadata log of every training run, inside your git repo.\n\n"
        "Start with `mlog init`, then wrap your training: `mlog run -- python train.py`."
    ),
    no_args_is_help=True,
    add_completion=False,
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

# `mlog --help` lists commands in the order of the workflow, not of registration.
HELP_ORDER = ("init", "run", "ls", "show", "diff", "champion", "register", "promote", "approve",
              "deployable", "card", "validate", "check", "recover")  # fmt: skip
app.registered_commands.sort(
    key=lambda info: HELP_ORDER.index(info.name) if info.name in HELP_ORDER else len(HELP_ORDER)
)


def main() -> None:
    app()
