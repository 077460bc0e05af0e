"""Keeping records honest: ``check`` (CI) and ``hook`` (pre-commit)."""

from __future__ import annotations

from pathlib import Path

from mlog.api import open_store
from mlog.audit.checks import CheckReport, Finding

__all__ = ["CheckReport", "Finding", "check", "hook"]


def check(*, cwd: Path, full: bool = False) -> CheckReport:
    """``mlog check``: every integrity and policy check over the repository around ``cwd``."""
    from mlog.audit.checks import check_repository

    return check_repository(open_store(cwd), full=full)


def hook(*, cwd: Path, name: str, files: list[str]) -> list[Finding]:
    """``mlog hook NAME FILES...``: one pre-commit hook over files named relative to ``cwd``."""
    from mlog.audit.hooks import run_hook

    return run_hook(open_store(cwd), name, cwd=cwd, files=files)
