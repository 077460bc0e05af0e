"""Crash-safe writes: a reader sees the old content or the new, never half of it."""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path

from mlog.errors import StorageError


def write_bytes(path: Path, data: bytes, *, durable: bool = True) -> None:
    """Write via a temp file in the same directory, fsync, rename, fsync the directory.

    Without ``durable``, for a derived file that can be rebuilt (a cache): no fsync, so after
    a power loss it may be old or empty, but a reader still never sees half of it.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            if durable:
                handle.flush()
                os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
    if durable:
        fsync_dir(path.parent)


def write_new(path: Path, data: bytes) -> None:
    """Write a file in a folder nobody reads yet (a run being staged): no temp file and no
    rename are needed; the file is fsynced, the folder is the caller's to fsync once."""
    with open(path, "xb") as handle:
        handle.write(data)
        handle.flush()
        os.fsync(handle.fileno())


def write_text(path: Path, text: str, *, durable: bool = True) -> None:
    write_bytes(path, text.encode("utf-8"), durable=durable)


def fsync_dir(directory: Path) -> None:
    """Make a rename durable; a no-op where directories cannot be opened (Windows)."""
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def refuse_symlinks(base: Path, path: Path) -> None:
    """Refuse ``base`` or any existing folder or file from it down to ``path`` being a symlink.

    ``.mlog/`` comes with the repository, so a cloned repository could commit
    ``.mlog/runs -> /home/you/.ssh``; a write through it would land outside the repository.
    """
    current = base
    for part in ("", *path.relative_to(base).parts):
        current = current / part if part else current
        if current.is_symlink():
            top = base.parent
            shown = current.relative_to(top) if current.is_relative_to(top) else current
            raise StorageError(
                f"refusing to write through the symlink {shown} -> {os.readlink(current)} "
                "(mlog never writes through symlinks under .mlog/; replace it with a folder)"
            )
