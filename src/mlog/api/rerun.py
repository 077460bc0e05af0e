"""``mlog rerun``: re-execute a recorded run in a temporary worktree and compare the two."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mlog.api import open_store, refs


@dataclass(frozen=True)
class RerunReport:
    """What ``mlog rerun`` shows: the new run, its diff and check against the original."""

    original: dict[str, Any]  # identity of the original run (id, alias, ...)
    rerun: dict[str, Any]  # identity of the new run
    path: str | None  # the new record's directory
    command_exit_code: int
    diff: dict[str, Any]
    check: dict[str, Any]
    drift: list[dict[str, Any]] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    worktree: str | None = None

    def exit_code(self, *, check: bool) -> int:
        """``--check``: 0 when reproduced, else 1; otherwise the command's own exit code."""
        if check:
            return 0 if self.check["reproduced"] else 1
        return self.command_exit_code

    def to_json(self) -> dict[str, Any]:
        return dict(self.__dict__)


def rerun(
    *,
    cwd: Path,
    ref: str,
    allow_data_drift: bool = False,
    keep_worktree: bool = False,
    progress: Any = None,
) -> RerunReport:
    """Re-execute the run ``ref`` names at its commit, record it, and diff it with the original."""
    from mlog.capture import rerun as reruns
    from mlog.compare import diff as differ
    from mlog.compare import reproduction

    store = open_store(cwd)
    original = store.load_record(refs.resolve(store, ref))
    options = reruns.RerunOptions(allow_data_drift, keep_worktree, progress)
    done = reruns.rerun(store, original, options)
    new = done.result.record
    diff = differ.compare(store, str(original["id"]), done.result.run_id)
    return RerunReport(
        original=differ.identity(original),
        rerun=differ.identity(new),
        path=str(done.result.path) if done.result.path else None,
        command_exit_code=done.result.exit_code,
        diff=diff,
        check=reproduction.check(original, new, store.config().metrics),
        drift=done.drift,
        warnings=[*new.get("warnings", []), *diff.get("warnings", [])],
        worktree=str(done.worktree) if done.worktree else None,
    )
