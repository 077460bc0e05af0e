"""``mlog push``: upload what the remote lacks, files first and tree listings last."""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import FIRST_EXCEPTION, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from mlog.remote.backend import Remote
from mlog.remote.units import Unit, file_entries, hash_local
from mlog.storage.hashing import Hasher, tree_bytes


class Progress(Protocol):
    """What the CLI passes to draw a bar (see ``ui.HashProgress``)."""

    def on_total(self, files: int, size: int) -> None: ...
    def on_progress(self, files: int, size: int) -> None: ...
    def close(self) -> None: ...


@dataclass
class UnitStatus:
    """What happened to one unit: ``sent``, ``present``, ``missing`` (dry run), ``unavailable``."""

    unit: Unit
    status: str
    detail: str = ""

    def to_json(self) -> dict[str, Any]:
        return {**self.unit.to_json(), "status": self.status, "detail": self.detail}


@dataclass
class PushReport:
    remote: str
    dry_run: bool
    sent_files: int = 0
    sent_bytes: int = 0
    skipped_files: int = 0
    units: list[UnitStatus] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def unavailable(self) -> list[UnitStatus]:
        return [u for u in self.units if u.status == "unavailable"]

    def to_json(self) -> dict[str, Any]:
        return {
            "remote": self.remote,
            "dry_run": self.dry_run,
            "sent": {"files": self.sent_files, "bytes": self.sent_bytes},
            "skipped": {"files": self.skipped_files},
            "units": [u.to_json() for u in self.units],
            "notes": self.notes,
        }


@dataclass
class _Work:
    """Files to upload (deduplicated by digest) and the tree listings that close them."""

    files: dict[str, tuple[str, int]] = field(default_factory=dict)
    listings: dict[str, bytes] = field(default_factory=dict)
    statuses: dict[str, UnitStatus] = field(default_factory=dict)


def push(
    remote: Remote,
    units: list[Unit],
    *,
    base: Path,
    hasher_for: Callable[[str], Hasher],
    dry_run: bool = False,
    progress: Progress | None = None,
) -> PushReport:
    """Send every unit the remote lacks; units it has are skipped without reading them."""
    report = PushReport(remote.url, dry_run)
    on_remote = remote.present([u.digest for u in units])
    work = _Work()
    for unit in units:
        if unit.digest in on_remote:
            report.units.append(UnitStatus(unit, "present"))
            report.skipped_files += unit.files or 1
        else:
            report.units.append(_plan(unit, base, hasher_for(unit.algorithm), work))
    missing = _missing_files(remote, work, report)
    if dry_run:
        _mark(work, "missing")
    else:
        _upload(remote, missing, work, report, progress)
        _mark(work, "sent")
    return report


def _plan(unit: Unit, base: Path, hasher: Hasher, work: _Work) -> UnitStatus:
    """Hash the local copy; only a copy that still matches the record may be uploaded."""
    tree = hash_local(unit, base, hasher)
    if tree is None:
        return UnitStatus(unit, "unavailable", "missing locally")
    if tree.digest != unit.digest:
        return UnitStatus(unit, "unavailable", "local copy differs from the record")
    for local, digest, size in file_entries(unit, tree, base):
        work.files.setdefault(digest, (local, size))
    if unit.is_tree:
        work.listings[unit.digest] = tree_bytes(tree.entries)
    status = UnitStatus(unit, "pending")
    work.statuses[unit.digest] = status
    return status


def _missing_files(remote: Remote, work: _Work, report: PushReport) -> dict[str, tuple[str, int]]:
    candidates = [d for d in work.files if d not in work.listings]
    there = remote.present(candidates)
    report.skipped_files += len(there)
    return {d: work.files[d] for d in candidates if d not in there}


def _mark(work: _Work, status: str) -> None:
    for item in work.statuses.values():
        item.status = status


def _upload(
    remote: Remote,
    missing: dict[str, tuple[str, int]],
    work: _Work,
    report: PushReport,
    progress: Progress | None,
) -> None:
    """Files in parallel; listings only once every file has landed."""
    total = sum(size for _, size in missing.values())
    if progress:
        progress.on_total(len(missing), total)
    done = [0, 0]
    lock = threading.Lock()

    def send(digest: str) -> None:
        local, size = missing[digest]
        remote.put_file(local, digest)
        with lock:
            done[0] += 1
            done[1] += size
            if progress:
                progress.on_progress(done[0], done[1])

    try:
        _run_all(send, list(missing), remote.jobs)
    finally:
        if progress:
            progress.close()
    report.sent_files += len(missing)
    report.sent_bytes += total
    for digest, listing in work.listings.items():
        remote.put_bytes(listing, digest)


def _run_all(func: Callable[[str], None], items: list[str], jobs: int) -> None:
    """Run ``func`` over ``items`` on a pool; the first failure stops the rest and is raised."""
    if not items:
        return
    with ThreadPoolExecutor(max(1, min(jobs, len(items)))) as pool:
        futures = [pool.submit(func, item) for item in items]
        finished, pending = wait(futures, return_when=FIRST_EXCEPTION)
        for fut in pending:
            fut.cancel()
        for fut in finished:
            fut.result()
