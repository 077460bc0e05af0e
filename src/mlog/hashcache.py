"""A local SQLite cache of file digests, so unchanged files are never read twice.

A row is keyed by absolute path and algorithm and is valid only while the file's
(st_dev, st_ino, size, mtime_ns, ctime_ns) are unchanged. The cache is disposable: a
corrupt or deleted file is rebuilt silently, and a busy or read-only cache is skipped
rather than failing a run. Many processes may share it (WAL mode, busy timeout, short
transactions).
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
import sys
import time
from collections.abc import Iterable, Iterator, Sequence
from typing import Any

from mlog.hashing import FileKey

SCHEMA_VERSION = 1
RACY_WINDOW_NS = 50_000_000
"""Files whose ctime is this recent are not cached: a write in the same clock tick
could leave (size, mtime, ctime) unchanged, and the cache would then serve a stale
digest (git calls this "racily clean")."""
STORE_CHUNK = 5000
_I64 = 1 << 63

CachedRow = tuple[tuple[int, int, int, int, int], str]
"""The file key (a plain tuple equal to a FileKey) a digest was computed for, and the digest."""
_FS_ENCODING = sys.getfilesystemencoding()

_SCHEMA = """
CREATE TABLE IF NOT EXISTS hashes (
    algorithm TEXT NOT NULL,
    path BLOB NOT NULL,
    dev INTEGER NOT NULL,
    ino INTEGER NOT NULL,
    size INTEGER NOT NULL,
    mtime_ns INTEGER NOT NULL,
    ctime_ns INTEGER NOT NULL,
    digest TEXT NOT NULL,
    PRIMARY KEY (algorithm, path)
) WITHOUT ROWID
"""


def _i64(value: int) -> int:
    """SQLite integers are signed 64-bit; st_ino and st_dev may not fit."""
    return value - (1 << 64) if value >= _I64 else value


def _fs(path: str) -> bytes:
    return path.encode(_FS_ENCODING, "surrogateescape")


def _u64(value: int) -> int:
    return value + (1 << 64) if value < 0 else value


def _path_range(paths: Sequence[str]) -> tuple[str, tuple[Any, ...]]:
    """A WHERE clause selecting the requested paths with one indexed range scan."""
    unique = set(paths)
    if len(unique) == 1:
        return "path = ?", (os.fsencode(next(iter(unique))),)
    common = os.path.commonpath([min(unique), max(unique)])  # bounds all paths between
    prefix = _fs(common.rstrip("/") + "/")
    return "path >= ? AND path < ?", (prefix, prefix[:-1] + b"0")


class HashCache:
    """Digest cache in one SQLite file at ``path`` (normally ``.mlog/cache/hashes.sqlite``)."""

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        timeout: float = 30.0,
        racy_window_ns: int = RACY_WINDOW_NS,
    ) -> None:
        self.path = os.path.abspath(path)
        self.timeout = timeout
        self.racy_window_ns = racy_window_ns

    def lookup(self, algorithm: str, paths: Sequence[str]) -> dict[str, CachedRow]:
        """Cached rows for absolute ``paths`` in one query; missing paths are absent."""
        if not paths:
            return {}
        where, args = _path_range(paths)
        sql = "SELECT path, dev, ino, size, mtime_ns, ctime_ns, digest FROM hashes "
        sql += f"WHERE algorithm = ? AND {where}"
        rows = self._run(lambda conn: conn.execute(sql, (algorithm, *args)).fetchall())
        wanted = set(paths)
        found: dict[str, CachedRow] = {}
        for raw, dev, ino, size, mtime_ns, ctime_ns, digest in rows or ():
            path = raw.decode(_FS_ENCODING, "surrogateescape")
            if path in wanted:
                key = (_u64(dev) if dev < 0 else dev, _u64(ino) if ino < 0 else ino)
                found[path] = ((*key, size, mtime_ns, ctime_ns), digest)
        return found

    def store(self, algorithm: str, rows: Iterable[tuple[str, FileKey, str]]) -> None:
        """Remember digests of (absolute path, key) in short batched transactions."""
        fresh_before = time.time_ns() - self.racy_window_ns
        values = [
            (algorithm, _fs(p), _i64(k.dev), _i64(k.ino), k.size, k.mtime_ns, k.ctime_ns, d)
            for p, k, d in rows
            if k.ctime_ns < fresh_before
        ]
        values.sort(key=lambda row: row[1])
        sql = "INSERT OR REPLACE INTO hashes VALUES (?, ?, ?, ?, ?, ?, ?, ?)"
        for start in range(0, len(values), STORE_CHUNK):
            chunk = values[start : start + STORE_CHUNK]
            self._run(lambda conn, chunk=chunk: self._write(conn, sql, chunk))

    def clear(self) -> None:
        """Forget everything (the file is recreated on next use)."""
        for suffix in ("", "-wal", "-shm"):
            with contextlib.suppress(FileNotFoundError):
                os.remove(self.path + suffix)

    # ------------------------------------------------------------ internals

    @staticmethod
    def _write(conn: sqlite3.Connection, sql: str, chunk: list[tuple[Any, ...]]) -> None:
        conn.execute("BEGIN IMMEDIATE")
        try:
            conn.executemany(sql, chunk)
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise

    def _run(self, op: Any) -> Any:
        """Run ``op(conn)``; rebuild a corrupt cache once, skip a busy or unwritable one."""
        for attempt in range(2):
            try:
                with self._connect() as conn:
                    return op(conn)
            except sqlite3.OperationalError as exc:
                if not self._looks_corrupt(exc) or attempt:
                    return None
            except sqlite3.DatabaseError:
                if attempt:
                    return None
            except OSError:
                return None
            self.clear()
        return None

    @staticmethod
    def _looks_corrupt(exc: sqlite3.Error) -> bool:
        text = str(exc).lower()
        return "malformed" in text or "not a database" in text or "no such table" in text

    @contextlib.contextmanager
    def _connect(self) -> Iterator[sqlite3.Connection]:
        os.makedirs(os.path.dirname(self.path), exist_ok=True)
        conn = sqlite3.connect(self.path, timeout=self.timeout, isolation_level=None)
        try:
            self._prepare(conn)
            yield conn
        finally:
            conn.close()

    def _prepare(self, conn: sqlite3.Connection) -> None:
        """WAL mode and the table; an unknown schema version means start afresh."""
        version = conn.execute("PRAGMA user_version").fetchone()[0]
        if version not in (0, SCHEMA_VERSION):
            raise sqlite3.DatabaseError("not a database of this schema version")
        if version == SCHEMA_VERSION:
            return
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute(_SCHEMA)
        conn.execute(f"PRAGMA user_version={SCHEMA_VERSION}")
