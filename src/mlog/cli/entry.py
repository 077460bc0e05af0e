"""The ``mlog`` executable. ``mlog --version`` answers before Typer and rich are imported."""

from __future__ import annotations

import sys


def main() -> None:
    if sys.argv[1:] == ["--version"]:
        from mlog import __version__

        sys.stdout.write(f"mlog {__version__}\n")
        return
    from mlog.cli.app import main as run_app

    run_app()
