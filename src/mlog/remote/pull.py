"""``mlog pull`` / ``mlog fetch``: download aside, verify every byte, then move into place.

Nothing is placed until every object of the request has been downloaded into a staging
directory beside the destination, hashed on the way in with the pinned digest's own
algorithm (:func:`mlog.storage.hashing.new_hash`), and found equal; then each file
is renamed into place (atomic on one filesystem). A different local file is never
replaced without ``force``, and conflicts are refused before anything is downloaded.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mlog.errors import DataError, RecordError
from mlog.remote.backend import Remote
from mlog.remote.push import Progress, UnitStatus, _run_all
from mlog.remote.units import Unit, safe_relative
from mlog.storage.hashing import Hasher, new_hash, tree_from_bytes


@dataclass(frozen=True)
class Placement:
    """Where a unit goes: the file itself, the directory, or the base a glob is relative to."""

    unit: Unit
    dest: Path


@dataclass
class PullReport:
    remote: str
    written_files: int = 0
    written_bytes: int = 0
    unchanged_files: int = 0
    units: list[UnitStatus] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    paths: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {
            "remote": self.remote,
            "written": {"files": self.written_files, "bytes": self.written_bytes},
            "unchanged": {"files": self.unchanged_files},
            "units": [u.to_json() for u in self.units],
            "paths": self.paths,
            "notes": self.notes,
        }


@dataclass(frozen=True)
class _Target:
    path: Path
    digest: str
    size: int


def pull(
    remote: Remote,
    placements: list[Placement],
    *,
    anchor: Path,
    hasher_for: Callable[[str], Hasher],
    force: bool = False,
    progress: Progress | None = None,
) -> PullReport:
    """Bring every placement's files into place, verified; refuse conflicts up front."""
    report = PullReport(remote.url)
    targets: list[_Target] = []
    for placement in placements:
        found = _targets(remote, placement)
        todo = _changed(found, hasher_for(placement.unit.algorithm), force)
        report.unchanged_files += len(found) - len(todo)
        report.units.append(UnitStatus(placement.unit, "written" if todo else "unchanged"))
        report.paths.append(str(placement.dest))
        targets.extend(todo)
    if targets:
        _fetch_and_place(remote, targets, anchor, progress)
    report.written_files = len(targets)
    report.written_bytes = sum(t.size for t in targets)
    return report


def _targets(remote: Remote, placement: Placement) -> list[_Target]:
    unit, dest = placement.unit, placement.dest
    if not unit.is_tree:
        size = unit.size if unit.size is not None else remote.size(unit.digest)
        return [_Target(dest, unit.digest, size)]
    listing = remote.read_bytes(unit.digest)
    _check(remote, unit.digest, _digest_of(listing, unit.digest), len(listing), None)
    return [
        _Target(dest / safe_relative(e.path), e.digest, e.size) for e in tree_from_bytes(listing)
    ]


def _digest_of(data: bytes, like: str) -> str:
    algorithm = like.partition(":")[0]
    h = new_hash(algorithm)
    h.update(data)
    return f"{algorithm}:{h.hexdigest()}"


def _changed(targets: list[_Target], hasher: Hasher, force: bool) -> list[_Target]:
    """Targets that need writing; a different local file without ``force`` is refused."""
    todo: list[_Target] = []
    conflicts: list[str] = []
    for target in targets:
        state = _local_state(target, hasher)
        if state == "same":
            continue
        if state == "blocked" or (state == "differs" and not force):
            conflicts.append(str(target.path))
        todo.append(target)
    if conflicts:
        shown = ", ".join(conflicts[:3]) + (
            f" and {len(conflicts) - 3} more" if len(conflicts) > 3 else ""
        )
        raise DataError(
            f"refusing to overwrite {len(conflicts)} local file(s) that differ: {shown} "
            "(move them away, or pass --force)"
        )
    return todo


def _local_state(target: _Target, hasher: Hasher) -> str:
    path = target.path
    if not os.path.lexists(path):
        return "absent"
    if path.is_symlink() or not path.is_file():
        return "blocked" if path.is_dir() and not path.is_symlink() else "differs"
    try:
        same = os.path.getsize(path) == target.size and hasher.hash_file(path) == target.digest
    except DataError:
        return "differs"
    return "same" if same else "differs"


def _fetch_and_place(
    remote: Remote, targets: list[_Target], anchor: Path, progress: Progress | None
) -> None:
    anchor.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".mlog-pull-", dir=anchor))
    try:
        staged = _download_all(remote, targets, staging, progress)
        _place(targets, staged, staging)
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def _download_all(
    remote: Remote, targets: list[_Target], staging: Path, progress: Progress | None
) -> dict[str, Path]:
    """Each distinct object once, downloaded and verified in parallel."""
    sizes = {t.digest: t.size for t in targets}
    staged = {d: staging / d.replace(":", "-") for d in sizes}
    if progress:
        progress.on_total(len(sizes), sum(sizes.values()))
    done = [0, 0]
    lock = threading.Lock()

    def fetch(digest: str) -> None:
        actual, actual_size = remote.download(digest, str(staged[digest]), sizes[digest])
        _check(remote, digest, actual, actual_size, sizes[digest])
        with lock:
            done[0] += 1
            done[1] += sizes[digest]
            if progress:
                progress.on_progress(done[0], done[1])

    try:
        _run_all(fetch, list(sizes), remote.jobs)
    finally:
        if progress:
            progress.close()
    return staged


def _check(remote: Remote, digest: str, actual: str, actual_size: int, size: int | None) -> None:
    if actual == digest and (size is None or actual_size == size):
        return
    why = (
        f"{actual_size} of {size} bytes"
        if size is not None and actual_size != size
        else f"its content hashes to {actual}"
    )
    raise RecordError(
        f"object {digest} on the remote {remote.url} is corrupt or truncated ({why}); "
        "nothing was written (delete that object on the remote, then push it again)"
    )


def _place(targets: list[_Target], staged: dict[str, Path], staging: Path) -> None:
    """Rename verified files into place; an object used twice is copied for all but the last."""
    uses: dict[str, int] = {}
    for target in targets:
        uses[target.digest] = uses.get(target.digest, 0) + 1
    for n, target in enumerate(targets):
        target.path.parent.mkdir(parents=True, exist_ok=True)
        uses[target.digest] -= 1
        source = staged[target.digest]
        if uses[target.digest] > 0:
            copy = staging / f"copy-{n}"
            shutil.copyfile(source, copy)
            source = copy
        os.replace(source, target.path)
