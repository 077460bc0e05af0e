"""Operations on runs: ``init``, ``run``, ``recover``, ``ls``, ``show``, ``validate``."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mlog.api import open_store, refs
from mlog.capture.options import RunOptions
from mlog.errors import MlogError
from mlog.storage.flatten import flatten
from mlog.storage.sections import SECTIONS

if TYPE_CHECKING:
    from mlog.capture.session import Recovery, RunResult
    from mlog.storage.gitio import Snapshot
    from mlog.storage.store import InitResult, Store

__all__ = [
    "SECTIONS",
    "RunOptions",
    "flat_pairs",
    "init",
    "list_runs",
    "recover",
    "run",
    "show",
    "validate",
]


def init(*, cwd: Path) -> InitResult:
    return open_store(cwd).init()


@dataclass(frozen=True)
class RunReport:
    """A finished ``mlog run``: the result, and the exit code mlog should end with."""

    result: RunResult
    exit_code: int
    failed_on_regression: bool

    def to_json(self) -> dict[str, Any]:
        """What ``mlog run --json`` prints: enough for a CI job to act on the run."""
        record = self.result.record
        return {
            "id": self.result.run_id,
            "alias": self.result.alias,
            "model": record.get("model"),
            "status": record.get("status"),
            "exit_code": self.exit_code,
            "command_exit_code": (record.get("command") or {}).get("exit_code"),
            "verdict": (record.get("validation") or {}).get("verdict"),
            "failed_on_regression": self.failed_on_regression,
            "record": str(self.result.path) if self.result.path else None,
            "warnings": list(record.get("warnings") or []),
        }


_EARLY: dict[Path, Snapshot] = {}  # repository root -> what start_git_early began


def start_git_early(cwd: Path) -> None:
    """Start the git commands :func:`run` will wait for, before the command line is even
    parsed: the executable calls this when its arguments name ``run``, so that git reads its
    index (60 ms at 100,000 committed runs) while Typer and the capture code load. Never
    raises: outside a repository, :func:`run` reports it as usual."""
    import atexit

    from mlog.errors import MlogError
    from mlog.storage import gitio

    try:
        root = gitio.repo_root(cwd)
        snapshot = gitio.Snapshot(root)
    except (MlogError, OSError):
        return
    _EARLY[root] = snapshot
    atexit.register(snapshot.wait)  # a refused command line leaves no git process behind


def run(options: RunOptions, *, cwd: Path, fail_on_regression: bool = False) -> RunReport:
    """Prepare (refusing bad input), execute, and always write the record.

    Ctrl-C while preparing (hashing a large dataset, say) stops at once: nothing ran, so
    nothing is recorded. Once the command has run, the record is written whatever happens.
    The exit code is the command's; with ``fail_on_regression``, a succeeded command whose
    validation regressed against the champion exits 1 (the record is kept).
    """
    from mlog.storage import gitio

    root = gitio.repo_root(cwd) if options.argv else None  # no command: prepare says so
    started = _EARLY.pop(root, None) if root is not None else None
    with gitio.snapshot_started(root, started) as early:  # git works while the code loads
        from mlog.capture import session

        prepared = session.prepare(options, cwd, early=early)
    try:
        outcome = session.execute(prepared)
    except MlogError:
        prepared.store.drop_pending(prepared.run_id)
        raise
    with session.deferred_interrupts():
        try:
            result = session.finish(prepared, outcome)
        except (MlogError, OSError) as exc:  # it ran: keep its code, say what was not written
            raise session.unwritten(prepared, outcome, exc) from None
    verdict = (result.record.get("validation") or {}).get("verdict")
    regressed = fail_on_regression and result.exit_code == 0 and verdict == "regressed"
    return RunReport(result, 1 if regressed else result.exit_code, regressed)


def recover(*, cwd: Path) -> Recovery:
    """``mlog recover``: record every run whose mlog process died before writing it.

    ``mlog run`` does the same before it starts; read-only commands never do. A marker that
    cannot be recorded is quarantined, and ``Recovery.quarantined`` says so.
    """
    from mlog.capture.session import Recovery

    store = open_store(cwd)
    if not store.has_pending():
        return Recovery()
    from mlog.capture.session import recover_orphans

    return recover_orphans(store)


@dataclass(frozen=True)
class RunSummary:
    """One row of ``mlog ls``."""

    id: str
    verified: bool  # False: the record or a file beside it no longer matches its integrity
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


@dataclass(frozen=True)
class Listing:
    """What ``mlog ls`` shows: the runs, and the extra columns the user asked for."""

    runs: list[RunSummary]
    columns: tuple[str, ...]
    orphans: list[str]


def list_runs(
    *,
    cwd: Path,
    where: str | None = None,
    sort: str | None = None,
    limit: int | None = None,
    columns: str | None = None,
) -> Listing:
    """Runs matching ``where`` (the query language), sorted by ``sort``, newest first by default.

    Served by the derived index in ``.mlog/cache/``; unreadable records raise,
    so a broken file is never hidden. ``columns`` is the comma-separated ``--columns`` text.
    """
    from mlog.query import listing

    store = open_store(cwd)
    keys = listing.parse_columns(columns)
    rows = listing.list_runs(store, where=where, sort=sort, limit=limit, columns=keys)
    return Listing([RunSummary(**row) for row in rows], keys, _orphans(store))


def _orphans(store: Store) -> list[str]:
    """Runs waiting for ``mlog recover``; the session is imported only when some are pending."""
    if not store.has_pending():
        return []
    from mlog.capture.session import orphans

    return orphans(store)


def flat_pairs(section: dict[str, Any]) -> list[tuple[str, Any]]:
    """A nested section as sorted ``(dotted.key, value)`` pairs, as ``--where`` names them."""
    return sorted(flatten(section).items())


@dataclass(frozen=True)
class Shown:
    """The full record a reference names, as data and, on request, as record YAML.

    ``view`` is what a reader sees: the record plus its ``packages`` inline
    (``{name: version}``, sorted) and ``integrity.verified`` (with ``problems`` when false).
    With ``detail``, :func:`show` also gives ``links`` (lineage: producers of its inputs,
    reruns) and ``where`` (each artifact here and on the remote). ``notes`` are warnings
    about what could not be shown (a missing package-list object).
    """

    record: dict[str, Any]
    view: dict[str, Any]
    links: dict[str, Any] | None = None
    where: list[dict[str, Any]] = field(default_factory=list)
    notes: tuple[str, ...] = ()

    def yaml(self) -> str:
        from mlog.storage import yamlio

        return yamlio.dumps(self.record)


def show(*, cwd: Path, ref: str, detail: bool = False) -> Shown:
    """``mlog show RUN``: the full record a reference names, in one opening of the store."""
    store = open_store(cwd)
    run_id = refs.resolve(store, ref)
    record = store.load_record(run_id)
    problems = store.unverified.get(run_id, [])
    notes: list[str] = []
    try:
        packages = store.packages(record)
    except MlogError as exc:  # the record is still worth showing without its package list
        packages = None
        notes.append(f"packages not shown: {exc}")
    view = {**record, "packages": packages}
    view["integrity"] = {**(record.get("integrity") or {}), "verified": not problems}
    if problems:
        view["integrity"]["problems"] = problems
    if not detail:
        return Shown(record, view, notes=tuple(notes))
    from mlog.api import lineage, remote

    return Shown(
        record,
        view,
        links=lineage.links_of(store, run_id),
        where=remote.status_of(store, record),
        notes=tuple(notes),
    )


@dataclass(frozen=True)
class ValidationIssue:
    path: str
    message: str


def validate(*, cwd: Path, paths: list[Path] | None = None) -> tuple[int, list[ValidationIssue]]:
    """Schema and integrity of records and config; returns (files checked, issues)."""
    from mlog.audit.checks import validate_files

    store = open_store(cwd)
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
