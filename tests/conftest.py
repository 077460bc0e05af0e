"""Shared fixtures: an isolated git identity and real temporary repositories."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from mlog.cli.app import app

PYTHON = sys.executable


@pytest.fixture(autouse=True)
def isolated_git(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    """Never read the developer's git config; give commits a fixed identity."""
    home = tmp_path_factory.mktemp("home")
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("GIT_CONFIG_NOSYSTEM", "1")
    monkeypatch.setenv("GIT_CONFIG_GLOBAL", str(home / ".gitconfig"))
    for kind in ("AUTHOR", "COMMITTER"):
        monkeypatch.setenv(f"GIT_{kind}_NAME", "Ada Tester")
        monkeypatch.setenv(f"GIT_{kind}_EMAIL", "ada@example.com")
    monkeypatch.delenv("MLOG_SPOOL", raising=False)
    monkeypatch.delenv("MLOG_RUN_ID", raising=False)


def git(repo: Path, *args: str) -> str:
    done = subprocess.run(["git", *args], cwd=repo, check=True, capture_output=True, text=True)
    return done.stdout.strip()


class Repo:
    """A real git repository in a temp dir, with helpers to shape it."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def gen(self, files: dict[str, str | bytes]) -> None:
        for name, content in files.items():
            target = self.path / name
            target.parent.mkdir(parents=True, exist_ok=True)
            if isinstance(content, bytes):
                target.write_bytes(content)
            else:
                target.write_text(content)

    def commit(self, message: str = "update") -> str:
        git(self.path, "add", "-A")
        git(self.path, "commit", "-q", "--allow-empty", "-m", message)
        return git(self.path, "rev-parse", "HEAD")

    def dirty(self, path: str = "dirty.txt") -> None:
        target = self.path / path
        target.write_text(target.read_text() + "\nchanged" if target.exists() else "new\n")

    def git(self, *args: str) -> str:
        return git(self.path, *args)

    def run_ids(self) -> list[str]:
        from mlog.storage.store import Store

        return Store(self.path).run_ids()

    def run_dir(self, run_id: str) -> Path:
        """Where a run's files are (its month folder under ``.mlog/runs``)."""
        from mlog.storage.store import Store

        return Store(self.path).run_dir(run_id)

    def rel_run(self, run_id: str) -> str:
        """The run's folder as git names it: ``.mlog/runs/<YYYY-MM>/<id>``."""
        return self.run_dir(run_id).relative_to(self.path).as_posix()


@pytest.fixture
def repo(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Repo:
    """An initialised repo with one commit, mlog initialised, as the working directory."""
    path = tmp_path / "project"
    path.mkdir()
    git(path, "init", "-q", "-b", "main")
    r = Repo(path)
    r.gen({"train.py": "print('training')\n", "params.yaml": "lr: 0.1\nepochs: 3\n"})
    monkeypatch.chdir(path)
    result = CliRunner().invoke(app, ["init"])
    assert result.exit_code == 0, result.output
    r.commit("initial")
    return r


class Result:
    def __init__(self, raw: Any) -> None:
        self.exit_code: int = raw.exit_code
        self.stdout: str = raw.stdout
        self.stderr: str = raw.stderr
        self.exception = raw.exception

    def __repr__(self) -> str:
        return f"exit={self.exit_code}\n--stdout--\n{self.stdout}\n--stderr--\n{self.stderr}"


@pytest.fixture
def cli() -> Any:
    """Invoke the real CLI in-process; returns exit code, stdout and stderr separately."""
    runner = CliRunner()

    def invoke(*args: str, env: dict[str, str] | None = None) -> Result:
        return Result(runner.invoke(app, list(args), env=env, catch_exceptions=True))

    return invoke


@pytest.fixture
def clean_env() -> Iterator[dict[str, str]]:
    yield dict(os.environ)
