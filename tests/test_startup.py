"""Startup stays light: no GitPython, jsonschema or rich tables for --version, --help, import mlog."""

from __future__ import annotations

import subprocess
import sys
from typing import Any

import pytest

HEAVY = ("git", "jsonschema", "rich.table", "sqlite3", "pyarrow", "numpy", "pandas")
PROBE = """
import sys
sys.argv = ["mlog", *{args!r}]
{code}
heavy = {heavy!r}
print(",".join(sorted(m for m in heavy if m in sys.modules)))
"""
RUN_APP = """
from mlog.cli.app import app
try:
    app()
except SystemExit:
    pass
"""


def loaded(code: str, args: tuple[str, ...] = (), heavy: tuple[str, ...] = HEAVY) -> list[str]:
    script = PROBE.format(args=list(args), code=code, heavy=heavy)
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True
    )
    last = done.stdout.strip().splitlines()[-1] if done.stdout.strip() else ""
    return [name for name in last.split(",") if name in heavy]


def test_import_mlog_is_light() -> None:
    assert loaded("import mlog") == []


def test_version_is_light() -> None:
    assert loaded(RUN_APP, ("--version",)) == []


@pytest.mark.parametrize("args", [("--help",), ("ls", "--help")])
def test_help_does_not_import_git_or_jsonschema(args: tuple[str, ...]) -> None:
    # Typer renders --help itself with rich (tables included); mlog adds nothing heavy.
    assert loaded(RUN_APP, args, heavy=("git", "jsonschema", "sqlite3", "pyarrow")) == []


def test_version_fast_path_imports_neither_typer_nor_rich() -> None:
    code = "from mlog.cli.entry import main\nmain()"
    assert loaded(code, ("--version",), heavy=("typer", "rich", "json", "git")) == []


def test_git_status_never_walks_the_mlog_directory(repo: Any) -> None:
    from mlog.storage import gitio

    (repo.path / ".mlog" / "runs" / "x").mkdir(parents=True)
    (repo.path / ".mlog" / "runs" / "x" / "record.yaml").write_text("id: x\n")
    (repo.path / "stray.txt").write_text("dirty\n")
    tree = gitio.working_tree(repo.path)
    assert tree.untracked == ("stray.txt",) and tree.dirty
