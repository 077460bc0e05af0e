"""The ``mlog`` executable. ``mlog --version`` answers before Typer and rich are imported;
``mlog run`` starts its git commands before them."""

from __future__ import annotations

import sys


def main() -> None:
    if sys.argv[1:] == ["--version"]:
        from mlog import __version__

        sys.stdout.write(f"mlog {__version__}\n")
        return
    if sys.argv[1:2] == ["run"]:  # git starts reading its index while Typer loads
        from pathlib import Path

        from mlog.api.runs import start_git_early

        start_git_early(Path.cwd())
    from mlog.cli.app import main as run_app

    run_app()
