"""The facade the CLI calls: one function per operation, keyword arguments, plain data back."""

from __future__ import annotations

import contextlib
import signal
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mlog import gitio, refs, session
from mlog.errors import MlogError, RecordError
from mlog.store import InitResult, Store


def open_store(cwd: Path) -> Store:
    """The store of the repository around ``cwd``, with orphaned runs recorded first."""
    store = Store(gitio.repo_root(cwd))
    session.recover_orphans(store)
    return store


def init(*, cwd: Path) -> InitResult:
    return Store(gitio.repo_root(cwd)).init()


def run(options: session.RunOptions, *, cwd: Path) -> session.RunResult:
    """Prepare (refusing bad input), execute, and always write the record."""
    with _deferred_interrupts() as received:
        prepared = session.prepare(options, cwd)
    if received:  # Ctrl-C while preparing: nothing ran, so nothing is recorded
        prepared.store.drop_pending(prepared.run_id)
        raise KeyboardInterrupt
    try:
        outcome = session.execute(prepared)
    except MlogError:
        prepared.store.drop_pending(prepared.run_id)
        raise
    with _deferred_interrupts():
        return session.finish(prepared, outcome)


@contextlib.contextmanager
def _deferred_interrupts() -> Iterator[list[int]]:
    """Hold SIGINT/SIGTERM back during bookkeeping so no half-written state is left."""
    received: list[int] = []

    def hold(signum: int, _frame: object) -> None:
        received.append(signum)

    previous = {sig: signal.signal(sig, hold) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield received
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


@dataclass(frozen=True)
class RunSummary:
    """One row of ``mlog ls``."""

    id: str
    alias: str
    model: str
    status: str
    started_at: str
    duration_s: float | None
    commit: str
    dirty: bool
    metrics: dict[str, Any]
    note: str | None

    def to_json(self) -> dict[str, Any]:
        return dict(self.__dict__)


def list_runs(*, cwd: Path, limit: int | None = None) -> list[RunSummary]:
    """Runs newest first; unreadable records raise, so a broken file is never hidden."""
    store = open_store(cwd)
    ids = store.run_ids()[::-1]
    if limit is not None:
        ids = ids[:limit]
    return [_summary(store.load_record(run_id)) for run_id in ids]


def _summary(record: dict[str, Any]) -> RunSummary:
    command, code = record.get("command", {}), record.get("code", {})
    return RunSummary(
        id=record["id"],
        alias=record.get("alias", ""),
        model=record.get("model", ""),
        status=record.get("status", ""),
        started_at=command.get("started_at", ""),
        duration_s=command.get("duration_s"),
        commit=str(code.get("commit", ""))[:12],
        dirty=bool(code.get("dirty")),
        metrics=dict(record.get("metrics") or {}),
        note=record.get("note"),
    )


def show(*, cwd: Path, ref: str) -> dict[str, Any]:
    """The full record a reference names."""
    store = open_store(cwd)
    return store.load_record(refs.resolve(store, ref))


@dataclass(frozen=True)
class ValidationIssue:
    path: str
    message: str


def validate(*, cwd: Path, paths: list[Path] | None = None) -> tuple[int, list[ValidationIssue]]:
    """Schema and integrity of records and config; returns (files checked, issues)."""
    from mlog.checks import validate_files

    store = Store(gitio.repo_root(cwd))
    targets = paths if paths else _default_targets(store)
    found = validate_files(store, targets)
    return len(targets), [ValidationIssue(p, m) for p, m in found]


def _default_targets(store: Store) -> list[Path]:
    targets = [store.config_path] if store.config_path.exists() else []
    targets.extend(store.record_path(run_id) for run_id in store.run_ids())
    return targets


def load_or_none(store: Store, run_id: str) -> dict[str, Any] | None:
    with contextlib.suppress(RecordError):
        return store.load_record(run_id)
    return None
