"""The only module that reads or writes ``.mlog/``.

Runs are directories written once (built in a temp directory, then renamed),
objects are content-addressed and shared, and everything under ``cache/`` is
local and disposable.
"""

from __future__ import annotations

import contextlib
import fcntl
import gzip
import json
import os
import re
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import xxhash

from mlog.errors import MlogError, NotFoundError, RecordError, os_error
from mlog.storage import atomic, records
from mlog.storage.config import CONFIG_TEMPLATE, GITIGNORE, Config, load_config

RECORD_FILE = "record.yaml"
SERIES_FILE = "series.jsonl"
PATCH_FILE = "patch.diff"
RECORD_SIGNATURE_FILE = RECORD_FILE + ".sig"  # signing.SIGNATURE_SUFFIX, written when signing
CACHE_GITIGNORE = "# local to this clone, never committed (written by mlog)\n*\n"
_RUN_ID = re.compile(r"^\d{8}T\d{12}Z-[0-9a-f]{8}$")
OUTCOME_BYTES = 512  # room reserved before the command starts, so it can be filled on a full disk


@contextlib.contextmanager
def _writing(path: Path) -> Iterator[None]:
    """OS errors of a write become one ``StorageError`` line naming the path and the cause."""
    try:
        yield
    except OSError as exc:
        raise os_error(exc, path) from None


# Runs whose record failed verification in this process, for the CLI to warn about once
# (like the ``warnings`` module: readers deep in the domain note, the front end reports).
_UNVERIFIED: dict[str, list[str]] = {}


def unverified_runs() -> dict[str, list[str]]:
    """Every run whose integrity did not hold when it was read, since the last
    :func:`forget_unverified`."""
    return dict(_UNVERIFIED)


def forget_unverified() -> None:
    _UNVERIFIED.clear()


def note_unverified(run_id: str, problems: list[str]) -> None:
    """For readers that learn of a problem without loading the record (the ``ls`` index)."""
    _UNVERIFIED[run_id] = list(problems)


def sidecar_digests(run_dir: Path) -> dict[str, str]:
    """:func:`records.sidecar_digest` of every entry of a run directory but the record and
    its signature (``record.yaml.sig`` signs the sealed record, so it cannot be inside the hash
    it signs; the signature checks verify it).

    A sub-directory or special file is listed too (with a digest of nothing readable), so it
    can never hide beside a record unnoticed.
    """
    found = {}
    try:
        entries = sorted(os.scandir(run_dir), key=lambda e: e.name)
    except FileNotFoundError:
        return {}
    for entry in entries:
        if entry.name in (RECORD_FILE, RECORD_SIGNATURE_FILE):
            continue
        if entry.is_file(follow_symlinks=False):
            with open(entry.path, "rb") as handle:
                found[entry.name] = records.sidecar_digest(handle.read())
        else:
            found[entry.name] = "not a regular file"
    return found


@dataclass(frozen=True)
class InitResult:
    created: tuple[str, ...]


class Store:
    """Paths and file operations of one repository's ``.mlog`` directory."""

    def __init__(
        self, repo_root: Path, *, mlog_dir: Path | None = None, config: Config | None = None
    ) -> None:
        """``repo_root`` is where runs read and write files; ``mlog_dir`` (default
        ``repo_root/.mlog``) where records go. A rerun uses both: files in a temporary
        worktree, records in the user's clone, and a ``config`` of its own."""
        self.repo_root = repo_root
        self.root = mlog_dir or repo_root / ".mlog"
        self.runs_dir = self.root / "runs"
        self.objects_dir = self.root / "objects"
        self.registry_dir = self.root / "registry"
        self.cache_dir = self.root / "cache"
        self.pending_dir = self.cache_dir / "pending"
        self.config_path = self.root / "config.yaml"
        self._config: Config | None = config
        self.unverified: dict[str, list[str]] = {}
        self._located: dict[str, str] = {}  # run id -> its folder under runs/ ("" = flat)
        self._committed_caches: list[str] | None = None

    # -- setup -------------------------------------------------------------
    def init(self) -> InitResult:
        """Create what is missing and leave everything else alone (idempotent)."""
        created = []
        for path, text in (
            (self.config_path, CONFIG_TEMPLATE),
            (self.root / ".gitignore", GITIGNORE),
        ):
            if not path.exists():
                self._write(path, text.encode("utf-8"))
                created.append(str(path.relative_to(self.repo_root)))
        return InitResult(tuple(created))

    def config(self) -> Config:
        """The validated config, read once per store (a command reads it from several places)."""
        if self._config is None:
            self._config = load_config(self.config_path)
        return self._config

    # -- objects -----------------------------------------------------------
    def put_object(self, data: bytes, *, compress: bool = True) -> str:
        """Store bytes once, keyed by the hash of their content; returns ``xxh3_128:<hex>``."""
        digest = xxhash.xxh3_128_hexdigest(data)
        path = self._object_path(digest)
        if not path.exists():
            payload = gzip.compress(data, mtime=0) if compress else data
            self._write(path, payload)
        return f"xxh3_128:{digest}"

    def has_object(self, object_id: str) -> bool:
        algorithm, _, digest = object_id.partition(":")
        return algorithm == "xxh3_128" and len(digest) == 32 and self._object_path(digest).is_file()

    def get_object(self, object_id: str) -> bytes:
        """Read an object back, checking that its content still matches its name."""
        digest = object_id.partition(":")[2]
        path = self._object_path(digest)
        try:
            raw = path.read_bytes()
        except FileNotFoundError:
            raise NotFoundError(f"object {object_id} is missing from .mlog/objects") from None
        data = gzip.decompress(raw) if raw[:2] == b"\x1f\x8b" else raw
        if xxhash.xxh3_128_hexdigest(data) != digest:
            raise RecordError(f"object {object_id} is corrupt: its content does not match its hash")
        return data

    def packages(self, record: dict[str, Any]) -> dict[str, str] | None:
        """The run's installed packages, ``{name: version}`` sorted by name, read from the
        object its record names; None when the record has no package list."""
        object_id = ((record.get("environment") or {}).get("packages") or {}).get("object")
        return self.package_list(object_id) if object_id else None

    def package_list(self, object_id: str) -> dict[str, str]:
        """A package-list object as ``{name: version}``, sorted by name."""
        try:
            lines = self.get_object(object_id).decode("utf-8").splitlines()
        except UnicodeDecodeError:
            raise RecordError(f"object {object_id} is not a package list") from None
        pairs = (line.strip().partition("==") for line in lines)
        return dict(sorted((name, version) for name, sep, version in pairs if sep and name))

    def _object_path(self, digest: str) -> Path:
        return self.objects_dir / digest[:2] / digest[2:]

    # -- runs --------------------------------------------------------------
    def run_ids(self) -> list[str]:
        """Ids of complete runs, oldest first (ids sort by start time).

        Runs are filed by month (``runs/2026-11/<id>``); runs written before that sit in
        ``runs/<id>`` and are read where they are, so no repository has to move a record.
        """
        try:
            names = os.listdir(self.runs_dir)
        except FileNotFoundError:
            return []
        located: dict[str, str] = {}
        for name in names:
            if _RUN_ID.match(name):
                located.setdefault(name, "")
            elif records.MONTH.match(name):
                for run_id in self._listed(name):
                    located[run_id] = name
        self._located = located
        return sorted(located)

    def run_ids_in(self, month: str) -> list[str]:
        """Ids of the runs in one month folder (whatever month their ids say), sorted."""
        found = self._listed(month)
        self._located.update(dict.fromkeys(found, month))
        return sorted(found)

    def _listed(self, month: str) -> list[str]:
        try:
            names = os.listdir(self.runs_dir / month)
        except OSError:
            return []
        return [name for name in names if _RUN_ID.match(name)]

    def filed_by_month(self) -> bool:
        """Whether every run the last :meth:`run_ids` found sits in its own month's folder
        (none flat, none in another month's), so that one month's runs can be re-listed alone."""
        return all(folder == records.month_of(run_id) for run_id, folder in self._located.items())

    def has_run(self, run_id: str) -> bool:
        """Whether a run's record exists: a stat or two, not a listing of every run."""
        return bool(_RUN_ID.match(run_id)) and self.record_path(run_id).is_file()

    def run_dir(self, run_id: str) -> Path:
        """Where a run's files are: its month folder, or ``runs/<id>`` for a run filed before
        months were used; a new run goes to its month folder."""
        known = self._located.get(run_id)
        if known is not None:
            return self.runs_dir / known / run_id if known else self.runs_dir / run_id
        return self._unlisted_dir(run_id)

    def run_folder(self, run_id: str) -> str:
        """:meth:`run_dir` as text, without building paths: for the loops over every run of a
        large repository (0.4 s of Path objects at 100,000 runs)."""
        known = self._located.get(run_id)
        if known is None:
            return str(self._unlisted_dir(run_id))
        runs = str(self.runs_dir)  # kept by the path once made
        return f"{runs}/{known}/{run_id}" if known else f"{runs}/{run_id}"

    def _unlisted_dir(self, run_id: str) -> Path:
        """Where a run not found by the last listing is, or will be."""
        filed = self.runs_dir / records.month_of(run_id) / run_id
        if filed.is_dir():
            return filed
        flat = self.runs_dir / run_id
        return flat if flat.is_dir() else filed

    def record_path(self, run_id: str) -> Path:
        return self.run_dir(run_id) / RECORD_FILE

    def load_record(self, run_id: str, *, verify: bool = True) -> dict[str, Any]:
        """The record of a run. With ``verify`` (every reader but the index and the hooks),
        one whose integrity does not hold is noted in :attr:`unverified` and
        :func:`unverified_runs`, so that whatever shows it can mark it."""
        path = self.record_path(run_id)
        if not path.exists():
            raise NotFoundError(f"run {run_id} has no record at {self._shown(path)}")
        from mlog.storage import yamlio  # here: a warm `ls` reads the index, not YAML

        document = yamlio.load_file(path, allow_aliases=False)
        if not isinstance(document, dict):
            raise RecordError(f"{path}: a record must be a mapping")
        if verify:
            self.verify(run_id, document)
        return document

    def verify(self, run_id: str, record: dict[str, Any]) -> list[str]:
        """Integrity problems of a run's record and the files beside it; noted when any."""
        found = records.integrity_problems(record, sidecar_digests(self.run_dir(run_id)))
        if found:
            self.mark_unverified(run_id, found)
        return found

    def mark_unverified(self, run_id: str, problems: list[str]) -> None:
        """Note a run whose record cannot be trusted, for every reader to mark it."""
        self.unverified[run_id] = list(problems)
        note_unverified(run_id, problems)

    def write_run(self, run_id: str, record_text: str, sidecars: dict[str, bytes]) -> Path:
        """Build the run directory aside, then rename it into place in one step."""
        final = self.run_dir(run_id)
        if final.exists():
            raise RecordError(f"run {run_id} already exists; records are never overwritten")
        # Staged beside its final place: the rename then changes the month folder only, and
        # `.mlog/runs` keeps its stamp, so the next reader re-lists one month (query.index).
        staging = final.parent / f".staging-{run_id}"
        self.guard(staging)
        self.guard(final)
        shutil.rmtree(staging, ignore_errors=True)
        try:
            with _writing(staging):
                new_month = not final.parent.exists()
                staging.mkdir(parents=True)
                for name, data in {**sidecars, RECORD_FILE: record_text.encode("utf-8")}.items():
                    atomic.write_new(staging / name, data)
                atomic.fsync_dir(staging)
                os.rename(staging, final)
                atomic.fsync_dir(final.parent)
                if new_month or final.parent != self.runs_dir:
                    atomic.fsync_dir(self.runs_dir)
        except BaseException:
            shutil.rmtree(staging, ignore_errors=True)  # never leave half a run behind
            raise
        return final

    # -- registry ----------------------------------------------------------
    def write_new_file(self, path: Path, text: str) -> None:
        """Write a file that must not exist yet (events are never overwritten)."""
        if path.exists():
            raise RecordError(f"{self._shown(path)} already exists")
        self._write(path, text.encode("utf-8"))

    # -- the write path: every file under .mlog/ is written through here ---------
    def guard(self, path: Path) -> None:
        """Refuse a write to ``path`` that a symlink under ``.mlog/`` would send elsewhere."""
        atomic.refuse_symlinks(self.root, path)

    def safe_to_write(self, path: Path) -> bool:
        """Whether :meth:`guard` lets a write to ``path`` through (caches can do without)."""
        try:
            self.guard(path)
        except MlogError:
            return False
        return True

    def check_writable(self) -> None:
        """Refuse a run up front when a symlink under ``.mlog/`` would take any of its writes."""
        for folder in (self.runs_dir, self.objects_dir, self.pending_dir, self.cache_dir):
            self.guard(folder / "x")

    def _write(self, path: Path, data: bytes) -> None:
        self.guard(path)
        with _writing(path):
            atomic.write_bytes(path, data)

    def _shown(self, path: Path) -> str:
        """A path as messages show it: relative to the repository when inside it."""
        inside = path.is_relative_to(self.repo_root)
        return str(path.relative_to(self.repo_root) if inside else path)

    # -- in-flight runs ----------------------------------------------------
    def pending_path(self, run_id: str) -> Path:
        return self.pending_dir / f"{run_id}.json"

    def spool_path(self, run_id: str) -> Path:
        return self.pending_dir / f"{run_id}.spool.jsonl"

    def write_pending(self, run_id: str, state: dict[str, Any]) -> None:
        self._write(self.pending_path(run_id), json.dumps(state, sort_keys=True).encode())
        outcome = self.outcome_path(run_id)
        if not outcome.exists():  # reserve the room now: the disk may be full when it ends
            self._write(outcome, b" " * OUTCOME_BYTES)

    def _pending_files(self, run_id: str) -> tuple[Path, ...]:
        return (self.pending_path(run_id), self.spool_path(run_id), self.outcome_path(run_id))

    def outcome_path(self, run_id: str) -> Path:
        return self.pending_dir / f"{run_id}.outcome"

    def write_outcome(self, run_id: str, outcome: dict[str, Any]) -> None:
        """Fill the reserved room in place (no new block is needed, so a full disk is fine)."""
        data = json.dumps(outcome, sort_keys=True).encode()
        if len(data) > OUTCOME_BYTES:
            raise RecordError(f"outcome of run {run_id} does not fit in {OUTCOME_BYTES} bytes")
        path = self.outcome_path(run_id)
        self.guard(path)
        with _writing(path):
            fd = os.open(path, os.O_WRONLY | os.O_NOFOLLOW)
            try:
                os.pwrite(fd, data.ljust(OUTCOME_BYTES), 0)
                os.fsync(fd)
            finally:
                os.close(fd)

    def read_outcome(self, run_id: str) -> dict[str, Any] | None:
        """How the command ended, if mlog got to note it before it died."""
        try:
            text = self.outcome_path(run_id).read_bytes().strip()
            found = json.loads(text) if text else None
        except (OSError, ValueError):
            return None
        return found if isinstance(found, dict) else None

    def quarantine_pending(self, run_id: str) -> Path:
        """Move an unrecoverable marker (and its spool) aside, so it never blocks a command."""
        target = self.cache_dir / "quarantine"
        self.guard(target / run_id)
        with _writing(target):
            target.mkdir(parents=True, exist_ok=True)
            for path in self._pending_files(run_id):
                if path.exists():
                    os.replace(path, target / path.name)
        return target

    def pending_runs(self) -> dict[str, dict[str, Any]]:
        """In-flight (or orphaned) runs of this clone, by id; an unreadable marker gives ``{}``."""
        found: dict[str, dict[str, Any]] = {}
        for path in sorted(self.pending_dir.glob("*.json")):
            found[path.stem] = {}
            with contextlib.suppress(OSError, ValueError):
                state = json.loads(path.read_text("utf-8"))
                found[path.stem] = state if isinstance(state, dict) else {}
        return found

    def has_pending(self) -> bool:
        return any(self.pending_dir.glob("*.json")) if self.pending_dir.is_dir() else False

    def drop_pending(self, run_id: str) -> None:
        for path in self._pending_files(run_id):
            with contextlib.suppress(FileNotFoundError):
                path.unlink()

    def trusted_cache(self, name: str) -> Path | None:
        """``.mlog/cache/<name>`` when this clone may trust what it reads there: None when git
        has the file in HEAD. Caches are per clone and ignored by git; one committed anyway
        (``git add -f``) came from someone else and could carry forged verdicts, which a
        clone must never take on trust (see :meth:`committed_caches`)."""
        path = self.cache_dir / name
        relative = path.relative_to(self.repo_root).as_posix()
        return None if relative in self.committed_caches() else path

    def committed_caches(self) -> list[str]:
        """Files under ``.mlog/cache/`` that HEAD holds (``mlog check`` reports them)."""
        if self._committed_caches is None:
            from mlog.storage import gitio

            folder = self.cache_dir.relative_to(self.repo_root).as_posix()
            self._committed_caches = gitio.committed_under(self.repo_root, folder)
        return self._committed_caches

    def local_cache(self) -> Path:
        """``.mlog/cache/``, created on demand with a ``.gitignore`` that ignores all of it
        (itself included), so a repository that never ran ``mlog init`` commits none of it."""
        ignore = self.cache_dir / ".gitignore"
        if not ignore.exists():
            self._write(ignore, CACHE_GITIGNORE.encode("utf-8"))
        return self.cache_dir

    @contextlib.contextmanager
    def lock(self, name: str = "runs") -> Iterator[None]:
        """An exclusive advisory lock shared by every mlog process of this clone."""
        path = self.cache_dir / f"{name}.lock"
        self.guard(path)
        with _writing(path):
            self.local_cache()
            handle = open(path, "a+b")  # noqa: SIM115 - closed below, after the lock is released
        with handle:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(handle.fileno(), fcntl.LOCK_UN)
