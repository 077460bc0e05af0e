"""The facade the CLI calls: one function per operation, keyword arguments, plain data back."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mlog.api import refs
from mlog.errors import MlogError
from mlog.storage import gitio
from mlog.storage.store import InitResult, Store

if TYPE_CHECKING:
    from mlog.capture import session


def open_store(cwd: Path) -> Store:
    """The store of the repository around ``cwd``, with orphaned runs recorded first."""
    store = Store(gitio.repo_root(cwd))
    if store.has_pending():  # checked first: importing the run machinery costs ~25 ms
        from mlog.capture.session import recover_orphans

        recover_orphans(store)
    return store


def init(*, cwd: Path) -> InitResult:
    return Store(gitio.repo_root(cwd)).init()


def run(options: session.RunOptions, *, cwd: Path) -> session.RunResult:
    """Prepare (refusing bad input), execute, and always write the record.

    Ctrl-C while preparing (hashing a large dataset, say) stops at once: nothing ran, so
    nothing is recorded. Once the command has run, the record is written whatever happens.
    """
    from mlog.capture import session

    prepared = session.prepare(options, cwd)
    try:
        outcome = session.execute(prepared)
    except MlogError:
        prepared.store.drop_pending(prepared.run_id)
        raise
    with session.deferred_interrupts():
        return session.finish(prepared, outcome)


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
    columns: dict[str, Any]

    def to_json(self) -> dict[str, Any]:
        return dict(self.__dict__)


def list_runs(
    *,
    cwd: Path,
    where: str | None = None,
    sort: str | None = None,
    limit: int | None = None,
    columns: list[str] | None = None,
) -> list[RunSummary]:
    """Runs matching ``where`` (the query language), sorted by ``sort``, newest first by default.

    Served by the derived index in ``.mlog/cache/``; unreadable records raise,
    so a broken file is never hidden.
    """
    from mlog.query import listing

    store = open_store(cwd)
    rows = listing.list_runs(
        store, where=where, sort=sort, limit=limit, columns=tuple(columns or ())
    )
    return [RunSummary(**row) for row in rows]


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
    from mlog.audit.checks import validate_files

    store = Store(gitio.repo_root(cwd))
    targets = paths if paths else _default_targets(store)
    found = validate_files(store, targets)
    return len(targets), [ValidationIssue(p, m) for p, m in found]


def _default_targets(store: Store) -> list[Path]:
    from mlog.registry import events

    targets = [store.config_path] if store.config_path.exists() else []
    targets.extend(store.record_path(run_id) for run_id in store.run_ids())
    for model in events.models(store):
        targets.extend(events.event_files(store, model))
    return targets
