"""Bridge from ``mlog run``'s declarations to the hashing engine and the object store."""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mlog.errors import DataError

if TYPE_CHECKING:
    from mlog.store import Store


def resolve_artifact_path(path: str, *, repo_root: Path, cwd: Path) -> str:
    """Artifacts must live inside the repository: returns the repo-relative POSIX path."""
    full = Path(os.path.abspath(cwd / path))
    try:
        return full.relative_to(repo_root).as_posix()
    except ValueError:
        raise DataError(
            f"artifact {path} is outside the repository (write outputs inside it)"
        ) from None


def hash_datasets(
    store: Store,
    declared: list[str],
    *,
    cwd: Path,
    algorithm: str,
    rehash: bool,
    follow_symlinks: bool,
) -> dict[str, Any]:
    from mlog.hashing import Hasher, manifest_to_bytes

    hasher = Hasher(algorithm, rehash=rehash, follow_symlinks=follow_symlinks)
    data: dict[str, Any] = {}
    for declaration in declared:
        name, _, path = declaration.rpartition("=")
        full = Path(os.path.abspath(cwd / path))
        if not full.exists():
            raise DataError(f"dataset not found: {path}")
        tree = hasher.hash_path(full)
        entry = {
            "path": full.relative_to(store.repo_root).as_posix(),
            "kind": "directory" if full.is_dir() else "file",
            "hash": tree.digest,
            "size": tree.size,
            "files": tree.files,
        }
        if full.is_dir():
            entry["manifest"] = store.put_object(manifest_to_bytes(tree.entries))
        data[name or full.stem] = entry
    return data


def hash_artifact(store: Store, path: str) -> dict[str, Any]:
    from mlog.hashing import Hasher

    full = store.repo_root / path
    if not full.exists():
        raise DataError(f"artifact not found after the run: {path}")
    tree = Hasher().hash_path(full)
    return {
        "path": full.relative_to(store.repo_root).as_posix(),
        "present": True,
        "kind": "directory" if full.is_dir() else "file",
        "hash": tree.digest,
        "size": tree.size,
        "files": tree.files,
    }
