"""The error funnel and options shared by every command."""

from __future__ import annotations

import functools
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any, ParamSpec, TypeVar

import typer
from typer.core import TyperCommand

from mlog.errors import CLOSED_PIPE, OS_WRITE_ERRNOS, InternalError, MlogError, os_error

P = ParamSpec("P")
R = TypeVar("R")

JsonOption = Annotated[bool, typer.Option("--json", help="Print machine-readable JSON.")]

state = {"traceback": False}


class Command(TyperCommand):
    """A command whose usage line reads like the docs: `mlog show RUN`, not `{run}`."""

    def collect_usage_pieces(self, ctx: Any) -> list[str]:
        pieces = super().collect_usage_pieces(ctx)
        return [p[1:-1] if p.startswith("{") and p.endswith("}") else p for p in pieces]


def handle_errors(func: Callable[P, R]) -> Callable[P, R]:
    """Turn ``MlogError`` into ``error: message`` and its exit code; never a traceback."""

    @functools.wraps(func)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        from mlog import api, ui

        api.take_unverified()  # start clean: only this command's reads are reported
        try:
            return func(*args, **kwargs)
        except (typer.Exit, typer.Abort):
            raise
        except KeyboardInterrupt:
            ui.error("interrupted")
            raise typer.Exit(130) from None
        except BrokenPipeError:  # `mlog show v3 | head`: the reader has what it wanted
            _stdout_to_devnull()
            raise typer.Exit(CLOSED_PIPE) from None
        except MlogError as exc:
            if state["traceback"]:
                raise
            if kwargs.get("json_output") is True:
                ui.print_json(exc.to_json())  # scripts read the refusal from stdout too
            ui.error(str(exc))
            raise typer.Exit(exc.exit_code) from None
        except Exception as exc:
            if state["traceback"] or os.environ.get("MLOG_TRACEBACK") == "1":
                raise
            if isinstance(exc, OSError) and exc.errno in OS_WRITE_ERRNOS:
                failure = os_error(exc, what="cannot use")  # a full disk is not a bug
                ui.error(str(failure))
                raise typer.Exit(failure.exit_code) from None
            ui.error(f"unexpected error: {exc!r} (rerun with --traceback and report it)")
            raise typer.Exit(InternalError.exit_code) from None
        finally:
            _warn_unverified()

    return wrapper


def _stdout_to_devnull() -> None:
    """Point stdout at /dev/null, so the interpreter's last flush finds no closed pipe."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError):  # not a real file descriptor (a test runner's buffer)
        pass
    finally:
        os.close(devnull)


def _warn_unverified() -> None:
    """One line on stderr per record read by the command whose integrity did not hold."""
    from mlog import api, ui

    for run_id, problems in sorted(api.take_unverified().items()):
        ui.warning(
            f"run {run_id} is TAMPERED: {'; '.join(problems)} (do not trust it; restore "
            f"it with `git checkout -- .mlog/runs/{run_id}`)"
        )


def cwd() -> Path:
    return Path.cwd()
