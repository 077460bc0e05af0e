"""Hash → producer and hash → consumer tables, kept beside the query index.

They live in ``.mlog/cache/index.sqlite`` next to the run index and are derived from it:
after the index refreshes, only runs whose record signature changed are re-read, from
the index's own flattened values (no YAML is parsed twice). A dataset's manifest (the
hash of every file in it) is read once per distinct manifest, so that a file inside a
dataset is found by its hash too. Runs sort by id, which is their start time: a producer
is an earlier run, a consumer a later one.
"""

from __future__ import annotations

import contextlib
import json
import sqlite3
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from mlog.errors import MlogError
from mlog.query import index as run_index
from mlog.storage.store import Store

VERSION = 2
_TABLES = ("lineage_runs", "lineage_out", "lineage_in", "lineage_files", "lineage_manifests",
           "lineage_dirty")  # fmt: skip
_SCHEMA = """
CREATE TABLE IF NOT EXISTS lineage_meta (version INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS lineage_runs (
    id TEXT PRIMARY KEY, sig TEXT NOT NULL, alias TEXT, model TEXT, status TEXT,
    started TEXT, reproduces TEXT) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS lineage_runs_reproduces ON lineage_runs (reproduces);
CREATE TABLE IF NOT EXISTS lineage_out (hash TEXT NOT NULL, run TEXT NOT NULL, path TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS lineage_out_hash ON lineage_out (hash, run);
CREATE INDEX IF NOT EXISTS lineage_out_run ON lineage_out (run);
CREATE TABLE IF NOT EXISTS lineage_in (
    hash TEXT, run TEXT NOT NULL, dataset TEXT NOT NULL, path TEXT, manifest TEXT);
CREATE INDEX IF NOT EXISTS lineage_in_hash ON lineage_in (hash, run);
CREATE INDEX IF NOT EXISTS lineage_in_run ON lineage_in (run);
CREATE INDEX IF NOT EXISTS lineage_in_manifest ON lineage_in (manifest);
CREATE TABLE IF NOT EXISTS lineage_files (manifest TEXT NOT NULL, hash TEXT NOT NULL,
    path TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS lineage_files_hash ON lineage_files (hash);
CREATE INDEX IF NOT EXISTS lineage_files_manifest ON lineage_files (manifest);
CREATE TABLE IF NOT EXISTS lineage_manifests (manifest TEXT PRIMARY KEY) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS lineage_dirty (id TEXT PRIMARY KEY) WITHOUT ROWID;
"""
# The run index's own writes name the runs lineage must look at again, so a sync costs what
# changed, not one comparison per run (44,000 dict lookups per `mlog show` at 10,000 runs).
# A rebuilt run index has lost them: a sync that finds them missing compares every run once
# and creates them again.
_TRIGGERS = {
    "lineage_runs_added": "AFTER INSERT ON runs BEGIN "
    "INSERT OR IGNORE INTO lineage_dirty (id) VALUES (NEW.id); END",
    "lineage_runs_removed": "AFTER DELETE ON runs BEGIN "
    "INSERT OR IGNORE INTO lineage_dirty (id) VALUES (OLD.id); END",
    "lineage_runs_changed": "AFTER UPDATE ON runs BEGIN "
    "INSERT OR IGNORE INTO lineage_dirty (id) VALUES (OLD.id); "
    "INSERT OR IGNORE INTO lineage_dirty (id) VALUES (NEW.id); END",
}
_HEAD_KEYS = ("alias", "model", "status", "command.started_at", "reproduces", "artifacts")
_DATA_FIELDS = ("hash", "path", "manifest", "version")


@dataclass(frozen=True)
class RunInfo:
    id: str
    alias: str | None
    model: str | None
    status: str | None
    started_at: str | None
    reproduces: str | None


@dataclass(frozen=True)
class Input:
    """A dataset a run declared: its name, hash (or URI version), path and manifest."""

    dataset: str
    hash: str | None
    path: str | None
    manifest: str | None


@dataclass(frozen=True)
class Output:
    path: str
    hash: str


@dataclass(frozen=True)
class Producer:
    """A run whose artifact ``path`` has the content looked for (``file``: inside a dataset)."""

    run: str
    path: str
    file: str | None = None


@dataclass(frozen=True)
class Consumer:
    """A run whose dataset ``dataset`` is (or, with ``file``, contains) the content."""

    run: str
    dataset: str
    file: str | None = None


def exists(store: Store) -> bool:
    """Whether this clone has built its index yet (a fresh clone has not)."""
    return run_index.index_path(store).exists()


@contextlib.contextmanager
def opened(
    store: Store, *, new_only: bool = False, quick: bool = False, broken_ok: bool = False
) -> Iterator[LineageIndex]:
    """The lineage tables, brought up to date with the records first (``new_only``: with
    runs added or removed only, skipping the stat of every known record; ``quick``: not
    even listing runs while ``.mlog/runs`` keeps its stamp, see ``query.index.opened``).
    An unreadable record fails the opening, unless ``broken_ok`` leaves it out."""
    with run_index.opened(store, new_only=new_only, quick=quick) as runs:
        if not broken_ok:
            run_index.check_errors(runs.last_refresh)
        lineage = LineageIndex(store, runs)
        lineage.sync()
        yield lineage


class LineageIndex:
    """Queries over the lineage tables of one open index connection."""

    def __init__(self, store: Store, runs: run_index.RunIndex) -> None:
        self.store = store
        self.conn = runs.conn
        self._runs = runs

    def unchanged(self, run_ids: Sequence[str]) -> bool:
        """Whether these runs' records are as the index saw them (see ``RunIndex.unchanged``)."""
        return self._runs.unchanged(run_ids)

    def refresh(self) -> None:
        """Re-check every run's record, then the lineage rows of what changed."""
        run_index.check_errors(self._runs.refresh())
        self.sync()

    # -- keeping up -------------------------------------------------------------------
    def sync(self) -> None:
        """Re-derive the rows of runs added, changed or removed since the last sync."""
        self._prepare()
        whole = not self._triggered()
        pending = self.conn.execute("SELECT 1 FROM lineage_dirty LIMIT 1").fetchone()
        if not whole and pending is None:
            return
        self.conn.execute("BEGIN IMMEDIATE")
        try:
            if whole:
                for name, body in _TRIGGERS.items():
                    self.conn.execute(f"CREATE TRIGGER IF NOT EXISTS {name} {body}")
            stale, gone = self._changes(None if whole else self._dirty())
            leaves = self._leaves(list(stale))
            self._delete(gone)
            for run, sig in stale.items():
                self._insert(run, sig, leaves.get(run, {}))
            self._read_manifests()
            self.conn.execute("DELETE FROM lineage_dirty")
            self.conn.execute("COMMIT")
        except BaseException:
            self.conn.execute("ROLLBACK")
            raise

    def _triggered(self) -> bool:
        sql = "SELECT name FROM sqlite_master WHERE type = 'trigger' AND tbl_name = 'runs'"
        names = {row[0] for row in self.conn.execute(sql)}
        return names >= set(_TRIGGERS)

    def _dirty(self) -> list[str]:
        return [row[0] for row in self.conn.execute("SELECT id FROM lineage_dirty")]

    def _changes(self, runs: list[str] | None) -> tuple[dict[str, str], list[str]]:
        """(runs to derive again with their signature, runs to remove): of ``runs``, or of
        every run when None."""
        indexed: dict[str, str] = {}
        known: dict[str, str] = {}
        if runs is None:
            indexed = dict(self.conn.execute("SELECT id, sig FROM runs WHERE error IS NULL"))
            known = dict(self.conn.execute("SELECT id, sig FROM lineage_runs"))
        else:
            for chunk in _chunks(runs):
                marks = ",".join("?" * len(chunk))
                sql = f"SELECT id, sig FROM runs WHERE error IS NULL AND id IN ({marks})"
                indexed.update(self.conn.execute(sql, chunk))
                sql = f"SELECT id, sig FROM lineage_runs WHERE id IN ({marks})"
                known.update(self.conn.execute(sql, chunk))
        stale = {run: sig for run, sig in indexed.items() if known.get(run) != sig}
        gone = [run for run, sig in known.items() if indexed.get(run) != sig]
        return stale, gone

    def _prepare(self) -> None:
        found = _meta_version(self.conn)
        if found == VERSION:
            return
        self.conn.execute("BEGIN IMMEDIATE")
        for table in ("lineage_meta", *_TABLES):
            self.conn.execute(f"DROP TABLE IF EXISTS {table}")
        for statement in filter(str.strip, _SCHEMA.split(";")):
            self.conn.execute(statement)
        self.conn.execute("INSERT INTO lineage_meta (version) VALUES (?)", (VERSION,))
        self.conn.execute("COMMIT")

    def _leaves(self, runs: Sequence[str]) -> dict[str, dict[str, Any]]:
        """The flattened values lineage needs, per run, straight from the run index."""
        wanted = {
            kid: key
            for key, kid in self.conn.execute("SELECT key, kid FROM keys")
            if key in _HEAD_KEYS or (key.startswith("data.") and key.count(".") == 2)
        }
        found: dict[str, dict[str, Any]] = {}
        if not wanted:
            return found
        kids = ",".join(str(kid) for kid in wanted)
        for chunk in _chunks(runs):
            marks = ",".join("?" * len(chunk))
            sql = (
                "SELECT r.id, kv.kid, kv.kind, kv.val FROM kv JOIN runs r ON r.rowid = kv.run "
                f"WHERE r.id IN ({marks}) AND kv.kid IN ({kids})"
            )
            for run, kid, kind, val in self.conn.execute(sql, chunk):
                found.setdefault(run, {})[wanted[kid]] = run_index.decode(kind, val)
        return found

    def _delete(self, runs: Sequence[str]) -> None:
        for chunk in _chunks(runs):
            marks = ",".join("?" * len(chunk))
            self.conn.execute(f"DELETE FROM lineage_runs WHERE id IN ({marks})", chunk)
            self.conn.execute(f"DELETE FROM lineage_out WHERE run IN ({marks})", chunk)
            self.conn.execute(f"DELETE FROM lineage_in WHERE run IN ({marks})", chunk)

    def _insert(self, run: str, sig: str, values: dict[str, Any]) -> None:
        self.conn.execute(
            "INSERT INTO lineage_runs VALUES (?, ?, ?, ?, ?, ?, ?)",
            (run, sig, *(_text(values.get(k)) for k in _HEAD_KEYS[:-1])),
        )
        outputs = [
            (a["hash"], run, str(a.get("path")))
            for a in _artifacts(values.get("artifacts"))
            if a.get("hash")
        ]
        self.conn.executemany("INSERT INTO lineage_out VALUES (?, ?, ?)", outputs)
        datasets: dict[str, dict[str, Any]] = {}
        for key, value in values.items():
            if key.startswith("data."):
                _, name, field = key.split(".")
                datasets.setdefault(name, {})[field] = value
        self.conn.executemany(
            "INSERT INTO lineage_in VALUES (?, ?, ?, ?, ?)",
            [
                (_text(d.get("hash") or d.get("version")), run, name, _text(d.get("path")),
                 _text(d.get("manifest")))
                for name, d in datasets.items()
            ],
        )  # fmt: skip

    def _read_manifests(self) -> None:
        """Index the files of every manifest not seen yet (each is read once, ever)."""
        from mlog.storage.hashing import manifest_from_bytes

        new = [
            row[0]
            for row in self.conn.execute(
                "SELECT DISTINCT manifest FROM lineage_in WHERE manifest IS NOT NULL "
                "AND manifest NOT IN (SELECT manifest FROM lineage_manifests)"
            )
        ]
        for manifest in new:
            with contextlib.suppress(MlogError):  # a missing object: matched by whole hash only
                entries = manifest_from_bytes(self.store.get_object(manifest))
                self.conn.executemany(
                    "INSERT INTO lineage_files VALUES (?, ?, ?)",
                    [(manifest, e.digest, e.path) for e in entries],
                )
            self.conn.execute("INSERT INTO lineage_manifests VALUES (?)", (manifest,))

    # -- reading ----------------------------------------------------------------------
    def run(self, run: str) -> RunInfo | None:
        row = self.conn.execute(
            "SELECT id, alias, model, status, started, reproduces FROM lineage_runs WHERE id = ?",
            (run,),
        ).fetchone()
        return RunInfo(*row) if row else None

    def reproduced_by(self, run: str) -> list[dict[str, Any]]:
        """The reruns of ``run``: id, alias and status of each."""
        rows = self.conn.execute(
            "SELECT id, alias, status FROM lineage_runs WHERE reproduces = ? ORDER BY id", (run,)
        )
        return [{"run": run_id, "alias": alias, "status": status} for run_id, alias, status in rows]

    def inputs(self, run: str) -> list[Input]:
        rows = self.conn.execute(
            "SELECT dataset, hash, path, manifest FROM lineage_in WHERE run = ? ORDER BY dataset",
            (run,),
        )
        return [Input(*row) for row in rows]

    def outputs(self, run: str) -> list[Output]:
        rows = self.conn.execute(
            "SELECT path, hash FROM lineage_out WHERE run = ? ORDER BY path", (run,)
        )
        return [Output(*row) for row in rows]

    def names_hash(self, digest: str) -> bool:
        """Whether some run's artifact or dataset has this content hash."""
        row = self.conn.execute(
            "SELECT 1 FROM lineage_out WHERE hash = ? "
            "UNION ALL SELECT 1 FROM lineage_in WHERE hash = ? LIMIT 1",
            (digest, digest),
        ).fetchone()
        return row is not None

    def hash_algorithms(self) -> set[str]:
        """The hash algorithms the recorded artifacts and datasets were hashed with."""
        sql = (
            "SELECT DISTINCT substr(hash, 1, instr(hash, ':') - 1) FROM {} "
            "WHERE instr(coalesce(hash, ''), ':') > 1"
        )
        found = {row[0] for row in self.conn.execute(sql.format("lineage_out"))}
        return found | {row[0] for row in self.conn.execute(sql.format("lineage_in"))}

    def hashes_above(self, name: str) -> dict[str, set[str]]:
        """Recorded artifact and dataset paths that are folders holding ``name`` (a
        repository path), each with the hashes recorded for it."""
        parts = name.split("/")[:-1]
        folders = ["/".join(parts[: n + 1]) for n in range(len(parts))]
        if not folders:
            return {}
        wanted = [*folders, *(f"{folder}/" for folder in folders)]
        marks = ",".join("?" * len(wanted))
        found: dict[str, set[str]] = {}
        for table in ("lineage_out", "lineage_in"):
            sql = f"SELECT path, hash FROM {table} WHERE path IN ({marks}) AND hash IS NOT NULL"
            for path, digest in self.conn.execute(sql, wanted):
                found.setdefault(path, set()).add(digest)
        return found

    def producers(self, item: Input, *, before: str) -> list[Producer]:
        """Earlier runs whose artifact is this dataset, or a file inside it."""
        found = [
            Producer(run, path)
            for run, path in self.conn.execute(
                "SELECT run, path FROM lineage_out WHERE hash = ? AND run < ? ORDER BY run, path",
                (item.hash, before),
            )
        ]
        if item.manifest:
            found += [
                Producer(run, path, file)
                for file, run, path in self.conn.execute(
                    "SELECT f.path, o.run, o.path FROM lineage_files f "
                    "JOIN lineage_out o ON o.hash = f.hash "
                    "WHERE f.manifest = ? AND o.run < ? ORDER BY o.run, f.path",
                    (item.manifest, before),
                )
            ]
        return found

    def consumers(self, output: Output, *, after: str) -> list[Consumer]:
        """Later runs whose dataset is this artifact, or holds it as one of its files."""
        whole = self.conn.execute(
            "SELECT run, dataset FROM lineage_in WHERE hash = ? AND run > ? ORDER BY run",
            (output.hash, after),
        )
        found = [Consumer(run, dataset) for run, dataset in whole]
        inside = self.conn.execute(
            "SELECT i.run, i.dataset, f.path FROM lineage_files f "
            "JOIN lineage_in i ON i.manifest = f.manifest "
            "WHERE f.hash = ? AND i.run > ? ORDER BY i.run",
            (output.hash, after),
        )
        return found + [Consumer(run, dataset, file) for run, dataset, file in inside]


def _meta_version(conn: sqlite3.Connection) -> int | None:
    try:
        row = conn.execute("SELECT version FROM lineage_meta").fetchone()
    except sqlite3.OperationalError:
        return None
    return int(row[0]) if row else None


def _artifacts(value: Any) -> list[dict[str, Any]]:
    if isinstance(value, str):
        with contextlib.suppress(ValueError):
            value = json.loads(value)
    return [a for a in value if isinstance(a, dict)] if isinstance(value, list) else []


def _text(value: Any) -> str | None:
    return None if value is None else str(value)


def _chunks(items: Sequence[str], size: int = 500) -> Iterator[list[str]]:
    for start in range(0, len(items), size):
        yield list(items[start : start + size])
