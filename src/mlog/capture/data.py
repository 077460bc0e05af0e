"""Bridge from ``mlog run``'s declarations to the hashing engine and the object store."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from mlog.errors import DataError

if TYPE_CHECKING:
    from mlog.storage.hashing import Hasher
    from mlog.storage.store import Store


class Progress(Protocol):
    """What the CLI passes to show hashing progress (see ``ui.HashProgress``)."""

    def on_total(self, files: int, size: int) -> None: ...
    def on_progress(self, files: int, size: int) -> None: ...
    def close(self) -> None: ...


@dataclass(frozen=True)
class HashSettings:
    algorithm: str = "xxh3_128"
    rehash: bool = False
    follow_symlinks: bool = False
    progress: Progress | None = None


def new_hasher(store: Store, settings: HashSettings) -> Hasher:
    """A hasher that shares this clone's hash cache, so unchanged files are not re-read."""
    from mlog.storage.hashcache import HashCache
    from mlog.storage.hashing import Hasher

    progress = settings.progress
    path = store.cache_dir / "hashes.sqlite"
    return Hasher(
        settings.algorithm,
        cache=HashCache(store.local_cache() / "hashes.sqlite")
        if store.safe_to_write(path)
        else None,
        rehash=settings.rehash,
        follow_symlinks=settings.follow_symlinks,
        on_total=progress.on_total if progress else None,
        on_progress=progress.on_progress if progress else None,
    )


def resolve_artifact_path(path: str, *, repo_root: Path, cwd: Path) -> str:
    """Artifacts must live inside the repository: returns the repo-relative POSIX path."""
    if "://" in path:
        raise DataError(f"artifact must be a path inside the repository, not a URI: {path}")
    full = Path(os.path.abspath(cwd / path))
    try:
        return full.relative_to(repo_root).as_posix()
    except ValueError:
        raise DataError(f"artifact is outside the repository: {path} (write it inside)") from None


def hash_datasets(
    store: Store, declared: list[tuple[str, Path]], settings: HashSettings
) -> tuple[dict[str, Any], list[str]]:
    """Hash (and profile) every ``(declaration, base directory)``; returns entries and warnings.

    Manifests and profiles go to the object store once.
    """
    from mlog.capture.datasets import check_unique_names, parse_declaration, resolve_dataset
    from mlog.capture.profiles import ProfilePolicy, attach_profiles

    declarations = [parse_declaration(text) for text, _ in declared]
    names = check_unique_names(declarations)
    hasher = new_hasher(store, settings)
    data: dict[str, Any] = {}
    entries = {}
    try:
        for name, (text, base) in zip(names, declared, strict=True):
            entry = resolve_dataset(
                text, repo_root=str(store.repo_root), cwd=str(base), hasher=hasher, name=name
            )
            entries[name] = entry
            data[name] = entry.to_record()
            if entry.manifest and entry.kind in ("directory", "glob"):
                data[name]["manifest"] = _manifest_object(store, str(entry.hash), entry.manifest)
    finally:
        if settings.progress is not None:
            settings.progress.close()
    wanted = {name for name, decl in zip(names, declarations, strict=True) if decl.profile}
    policy = ProfilePolicy.from_config(store.config())
    return data, attach_profiles(store, data, entries, wanted, policy)


def _manifest_object(store: Store, tree_digest: str, manifest: Any) -> str:
    """The object id of a dataset's manifest, remembered by the dataset's tree digest.

    An unchanged dataset has the same tree digest, so its 20,000-line manifest is not
    serialised and hashed again on every run; the local note is only trusted while the
    object it names exists.
    """
    from mlog.storage.hashing import manifest_to_bytes

    note = store.cache_dir / "manifests" / tree_digest.replace(":", "-")
    try:
        known = note.read_text(encoding="ascii").strip()
    except (OSError, UnicodeDecodeError):
        known = ""
    if known and store.has_object(known):
        return known
    object_id = store.put_object(manifest_to_bytes(manifest))
    try:
        if store.safe_to_write(note):  # never through a symlink under .mlog/
            note.parent.mkdir(parents=True, exist_ok=True)
            note.write_text(object_id, encoding="ascii")
    except OSError:
        pass  # a cache that cannot be written only costs time
    return object_id


def hash_artifact(store: Store, path: str, settings: HashSettings) -> dict[str, Any]:
    """Hash one output after the run; absent outputs come back with ``present: false``."""
    from mlog.capture.datasets import resolve_artifact

    root = str(store.repo_root)
    entry = resolve_artifact(path, repo_root=root, cwd=root, hasher=new_hasher(store, settings))
    record = entry.to_record()
    if entry.present:
        record.update(artifact_sha256(store, record, settings))
    return record


def artifact_sha256(store: Store, entry: dict[str, Any], settings: HashSettings) -> dict[str, Any]:
    """sha256 beside the fast digest: what provenance verifiers (in-toto, SLSA) check.

    A file gets its own sha256; a directory or glob gets the sha256 tree digest and the
    sha256 of every file in it, with paths relative to the repository.
    """
    import dataclasses

    hasher = new_hasher(store, dataclasses.replace(settings, algorithm="sha256", progress=None))
    root, path = store.repo_root, entry["path"]
    if entry.get("kind") == "glob":
        tree = hasher.hash_glob(root, path)
        prefix = ""
    else:
        tree = hasher.hash_path(root / path)
        prefix = f"{path}/" if entry.get("kind") == "directory" else ""
    if entry.get("kind") == "file":
        return {"sha256": tree.digest}
    files = [
        {"path": f"{prefix}{item.path}", "sha256": item.digest.partition(":")[2]}
        for item in tree.entries
    ]
    return {"sha256": tree.digest, "sha256_files": files}
