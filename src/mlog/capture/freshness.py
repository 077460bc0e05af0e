"""Freshness of declared outputs: a file the command did not write is not its output.

Before the command starts, the identity of every declared metrics file and artifact is
noted: for a file its size, mtime_ns, ctime_ns and inode, plus its content hash when it is
small; for a directory the same for every file below it. After the command ends, an output
whose identity did not change is *stale*: it was left by something earlier, so the record
says so instead of crediting it to this run. An output that did not exist before is always
fresh. ``ctime`` cannot be set by ``touch``, so a file rewritten in place is fresh even when
its size and mtime were restored; the hash covers a rewrite within one clock tick.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path
from typing import Any

from mlog.errors import MlogError

SMALL_FILE = 1 << 20  # files up to 1 MiB are also compared by content

Identity = dict[str, Any]


def snapshot(root: Path, paths: list[str]) -> dict[str, Identity | None]:
    """Identity of each repo-relative path now; None for one that does not exist."""
    return {path: identity(root / path) for path in dict.fromkeys(paths)}


def stale_paths(root: Path, before: dict[str, Identity | None]) -> set[str]:
    """The paths that existed before the command and are unchanged after it."""
    return {
        path
        for path, earlier in before.items()
        if earlier is not None and identity(root / path) == earlier
    }


def identity(path: Path) -> Identity | None:
    try:
        info = os.stat(path)
    except (FileNotFoundError, NotADirectoryError):
        return None
    except OSError as exc:
        return {"error": exc.strerror or str(exc)}
    if stat.S_ISDIR(info.st_mode):
        return {"kind": "directory", "files": _tree(path)}
    return _file(path, info)


def _file(path: Path, info: os.stat_result) -> Identity:
    found: Identity = {
        "size": info.st_size,
        "mtime_ns": info.st_mtime_ns,
        "ctime_ns": info.st_ctime_ns,
        "inode": info.st_ino,
    }
    if stat.S_ISREG(info.st_mode) and info.st_size <= SMALL_FILE:
        from mlog.storage.hashing import hash_file

        try:
            found["hash"] = hash_file(path)
        except (OSError, ValueError, MlogError) as exc:
            found["hash"] = f"unreadable: {exc}"
    return found


def _tree(path: Path) -> list[list[Any]]:
    """``[relative path, size, mtime_ns, ctime_ns, inode]`` of every entry below ``path``."""
    entries = []
    for folder, dirs, names in os.walk(path):
        dirs.sort()
        for name in sorted(names):
            full = os.path.join(folder, name)
            try:
                info = os.lstat(full)
            except OSError:
                continue
            relative = os.path.relpath(full, path)
            entries.append(
                [relative, info.st_size, info.st_mtime_ns, info.st_ctime_ns, info.st_ino]
            )
    return entries
