"""The ``mlog`` command: a Typer app assembled from one module per command group."""

from __future__ import annotations

import importlib
from functools import cache
from typing import Annotated

import typer

from mlog import __version__
from mlog.cli.common import state

# The module of mlog/cli that registers each top-level command or group. `mlog run` builds a
# command tree holding only `run`, so it imports neither the other commands' modules nor
# their api and domain code (tests/test_startup.py checks the table against the full tree).
COMMANDS: dict[str, str] = {
    "init": "setup", "validate": "setup", "recover": "setup",
    "run": "run",
    "ls": "inspect", "show": "inspect",
    "register": "registry", "promote": "registry", "approve": "registry",
    "deployable": "registry", "card": "registry", "registry": "registry",
    "check": "check", "hook": "check",
    "diff": "compare", "champion": "compare", "data": "compare",
    "report": "report",
    "push": "remote", "pull": "remote", "fetch": "remote",
    "rerun": "lineage", "lineage": "lineage",
    "import": "interop", "export": "interop", "verify-provenance": "interop",
}  # fmt: skip
MODULES = tuple(dict.fromkeys(COMMANDS.values()))  # each once, in the table's order

# `mlog --help` lists commands in the order of the workflow, not of registration.
HELP_ORDER = ("init", "run", "ls", "show", "diff", "champion", "register", "promote", "approve",
              "deployable", "push", "pull", "fetch", "card", "report", "rerun", "lineage",
              "validate", "check",
              "recover")  # fmt: skip


def _version(value: bool) -> None:
    if value:
        typer.echo(f"mlog {__version__}")
        raise typer.Exit()


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


@cache
def build(modules: tuple[str, ...] = MODULES) -> typer.Typer:
    """The ``mlog`` app with the commands of ``modules`` (every command by default)."""
    app = typer.Typer(
        name="mlog",
        help=(
            "Keep a complete, immutable metadata log of every training run, inside your git "
            "repo.\n\nStart with `mlog init`, then wrap your training: `mlog run -- python "
            "train.py`."
        ),
        no_args_is_help=True,
        add_completion=True,
        pretty_exceptions_enable=False,
        rich_markup_mode="markdown",
    )
    app.callback()(main_options)
    for name in modules:
        importlib.import_module(f"mlog.cli.{name}").register(app)
    app.registered_commands.sort(
        key=lambda info: HELP_ORDER.index(info.name) if info.name in HELP_ORDER else len(HELP_ORDER)
    )
    return app


def __getattr__(name: str) -> typer.Typer:
    """``app``: the full command tree, built on first use (tests and completion use it)."""
    if name == "app":
        return build()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def _for_argv(argv: list[str]) -> typer.Typer:
    """Only the module of the command being run, when the command line names one."""
    import os

    if "_MLOG_COMPLETE" in os.environ:  # shell completion needs every command
        return build()
    command = next((arg for arg in argv if not arg.startswith("-")), None)
    if command in COMMANDS and "--help" not in argv[: argv.index(command)]:
        return build((COMMANDS[command],))
    return build()


def main() -> None:
    """The ``mlog`` executable: usage errors are one line, like every other error."""
    import sys

    try:
        code = _for_argv(sys.argv[1:])(standalone_mode=False)
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
