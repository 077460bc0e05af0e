"""Turn ``--data`` / ``--artifact`` declarations into record entries.

A declaration is ``PATH``, ``NAME=PATH``, a glob, or a URI (``s3://bucket/prefix``,
optionally ``URI@VERSION``). Local data is hashed with :mod:`mlog.storage.hashing`; data that
DVC or git-lfs already identify (``.dvc`` files, ``dvc.lock`` outs, LFS pointers) is
recorded by the identity those tools computed, without reading the data itself.
"""

from __future__ import annotations

import dataclasses
import os
import platform
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from mlog.errors import DataError, UsageError
from mlog.storage.hashing import Hasher, ManifestEntry, SymlinkEntry, TreeHash, has_magic
from mlog.storage.redact import strip_url_credentials

NAME_RE = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_-]*$")
URI_RE = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://")
LFS_HEADER = b"version https://git-lfs.github.com/spec/v1"
LFS_MAX_BYTES = 1024
NOPROFILE = ":noprofile"
_MD5 = re.compile(r"[0-9a-f]{32}")
_SHA256 = re.compile(r"[0-9a-f]{64}")


@dataclass(frozen=True)
class Declaration:
    """A parsed ``[NAME=]TARGET[:noprofile]``; ``name`` is None when the user gave none."""

    name: str | None
    target: str
    profile: bool = True


@dataclass(frozen=True)
class DataEntry:
    """One dataset or artifact as the record stores it (see :meth:`to_record`)."""

    name: str
    path: str
    kind: str
    hash: str | None
    size: int | None = None
    files: int | None = None
    host: str | None = None
    version: str | None = None
    directory: bool | None = None
    symlinks: tuple[SymlinkEntry, ...] = ()
    manifest: Sequence[ManifestEntry] = field(default=(), repr=False)
    present: bool | None = None

    def to_record(self) -> dict[str, Any]:
        """The record entry: keys that do not apply are omitted, not written as null."""
        if self.present is False:
            return {"path": self.path, "present": False, "hash": None}
        entry: dict[str, Any] = {"path": self.path, "kind": self.kind, "hash": self.hash}
        if self.present is not None:
            entry["present"] = self.present
        if self.kind != "uri":
            entry["size"] = self.size
            entry["files"] = self.files
        else:
            entry["version"] = self.version
        if self.host is not None:
            entry["host"] = self.host
        if self.directory is not None:
            entry["directory"] = self.directory
        if self.symlinks:
            entry["symlinks"] = [{"path": s.path, "target": s.target} for s in self.symlinks]
        return entry


# ---------------------------------------------------------------- declarations


def parse_declaration(text: str) -> Declaration:
    """Split ``NAME=PATH``; a left side that is not a valid name is part of the path.

    A trailing ``:noprofile`` keeps the dataset out of data profiling (it is still hashed).
    """
    profile = not text.endswith(NOPROFILE)
    text = text.removesuffix(NOPROFILE)
    if not text.strip():
        raise UsageError("empty --data/--artifact declaration (give PATH or NAME=PATH)")
    left, sep, right = text.partition("=")
    if sep and NAME_RE.match(left) and not URI_RE.match(text):
        if not right:
            raise UsageError(f"no path after '=' in {text!r} (use NAME=PATH)")
        return Declaration(left, right, profile)
    return Declaration(None, text, profile)


def default_name(target: str) -> str:
    """A record key from a path: ``data/train.csv`` -> ``train``, ``data/images/`` -> ``images``."""
    if URI_RE.match(target):
        target = split_uri_version(target)[0].split("://", 1)[1]
    parts = [p for p in target.rstrip("/").split("/") if p and not has_magic(p)]
    base = parts[-1] if parts else "data"
    stem = base.split(".")[0] or base.lstrip(".").split(".")[0] or "data"
    name = re.sub(r"[^A-Za-z0-9_-]+", "_", stem)
    return "_" + name[1:] if name.startswith("-") else name


def split_uri_version(uri: str) -> tuple[str, str | None]:
    """``s3://b/p@v3`` -> (``s3://b/p``, ``v3``); an ``@`` before a ``/`` is a user."""
    head, sep, tail = uri.rpartition("@")
    if not sep or "/" in tail or "://" not in head or not tail:
        return uri, None
    return head, tail


def check_unique_names(declarations: Iterable[Declaration]) -> list[str]:
    """Names for each declaration; two with one name is a usage error that says how to fix it."""
    names: list[str] = []
    for decl in declarations:
        name = decl.name or default_name(decl.target)
        if not NAME_RE.match(name):
            raise UsageError(f"invalid name {name!r} (use letters, digits, '_' and '-')")
        if name in names:
            raise UsageError(
                f"two declarations are both named {name!r} (give each a name: NAME=PATH)"
            )
        names.append(name)
    return names


# ---------------------------------------------------------------- paths


@dataclass(frozen=True)
class _Place:
    """Where a declared path lives: its absolute form and the form the record uses."""

    absolute: str
    recorded: str
    inside: bool


def _locate(target: str, repo_root: str, cwd: str) -> _Place:
    """Resolve a path typed in ``cwd``; inside the repo it is recorded repo-relative."""
    root = os.path.abspath(repo_root)
    absolute = os.path.normpath(os.path.join(os.path.abspath(cwd), target))
    if _within(absolute, root):
        rel = os.path.relpath(absolute, root).replace(os.sep, "/")
        return _Place(absolute, rel, True)
    if not os.path.isabs(target):
        raise DataError(f"path escapes the repository: {target} (use an absolute path)")
    return _Place(absolute, absolute, False)


def _within(path: str, root: str) -> bool:
    return path == root or path.startswith(root.rstrip(os.sep) + os.sep)


def _check_parents(place: _Place, repo_root: str, hasher: Hasher) -> None:
    """Refuse a symlinked directory between the repo root and the path (unless following)."""
    if hasher.follow_symlinks or not place.inside:
        return
    current = os.path.abspath(repo_root)
    for part in place.recorded.split("/")[:-1]:
        current = os.path.join(current, part)
        if os.path.islink(current):
            hint = "pass --follow-symlinks to hash what it points to"
            raise DataError(f"path goes through a symlink: {current} ({hint})")


# ---------------------------------------------------------------- pointers


def _read_yaml(path: str) -> Any:
    from pathlib import Path

    from mlog.errors import RecordError
    from mlog.storage import yamlio

    try:
        return yamlio.load_file(Path(path))
    except RecordError as exc:
        raise DataError(f"cannot read {path}: {exc}") from exc


def _dvc_identity(out: Mapping[str, Any], where: str) -> dict[str, Any]:
    """Hash, size, file count and directory flag from one DVC ``outs`` item."""
    md5 = out.get("md5")
    if not isinstance(md5, str) or not md5:
        raise DataError(f"{where} has no md5 for its output (run `dvc commit` first)")
    if not _MD5.fullmatch(md5.removesuffix(".dir")):
        raise DataError(
            f"{where}: md5 {md5!r} is not an MD5 digest (32 hex digits; fix the file or "
            "re-run `dvc commit`)"
        )
    directory = md5.endswith(".dir")
    return {
        "hash": "md5:" + md5.removesuffix(".dir"),
        "size": out.get("size"),
        "files": out.get("nfiles", None if directory else 1),
        "directory": directory,
    }


def dvc_file_entry(name: str, place: _Place) -> DataEntry:
    """Identity recorded in a ``.dvc`` file, without reading the data it points to."""
    doc = _read_yaml(place.absolute)
    outs = doc.get("outs") if isinstance(doc, dict) else None
    if not isinstance(outs, list) or len(outs) != 1 or not isinstance(outs[0], dict):
        raise DataError(f"{place.recorded}: expected one item under 'outs' in a .dvc file")
    return DataEntry(name, place.recorded, "dvc", **_dvc_identity(outs[0], place.recorded))


def dvc_lock_entry(name: str, place: _Place, repo_root: str) -> DataEntry | None:
    """Identity of a path listed as a stage output in ``dvc.lock``, if it is listed."""
    lock = os.path.join(repo_root, "dvc.lock")
    if not place.inside or not os.path.isfile(lock):
        return None
    doc = _read_yaml(lock)
    stages = doc.get("stages", {}) if isinstance(doc, dict) else {}
    for stage in stages.values() if isinstance(stages, dict) else ():
        for out in stage.get("outs", []) if isinstance(stage, dict) else ():
            if isinstance(out, dict) and _same_path(out.get("path"), place.recorded):
                ident = _dvc_identity(out, "dvc.lock")
                return DataEntry(name, place.recorded, "dvc-lock", **ident)
    return None


def _same_path(listed: object, recorded: str) -> bool:
    return isinstance(listed, str) and os.path.normpath(listed) == os.path.normpath(recorded)


def lfs_pointer_entry(name: str, place: _Place) -> DataEntry | None:
    """Identity from a git-lfs pointer file (the object itself is not needed)."""
    try:
        if os.path.getsize(place.absolute) > LFS_MAX_BYTES:
            return None
        with open(place.absolute, "rb") as fh:
            head = fh.read(LFS_MAX_BYTES)
    except OSError:
        return None
    if not head.startswith(LFS_HEADER):
        return None
    lines = head.decode("ascii", "replace").splitlines()
    fields = dict(line.split(" ", 1) for line in lines if " " in line)
    oid, size = fields.get("oid", ""), fields.get("size", "")
    if not oid.startswith("sha256:") or not size.isdigit():
        raise DataError(f"{place.recorded}: malformed git-lfs pointer (no oid sha256 or size)")
    if not _SHA256.fullmatch(oid.removeprefix("sha256:")):
        raise DataError(
            f"{place.recorded}: malformed git-lfs pointer: oid {oid!r} is not a SHA-256 "
            "(64 hex digits; restore the pointer with `git lfs pointer --file=...`)"
        )
    return DataEntry(name, place.recorded, "lfs", oid, int(size), 1)


# ---------------------------------------------------------------- resolving


def uri_entry(name: str, target: str) -> DataEntry:
    """A remote dataset is recorded, never dereferenced: its URI and version if given."""
    uri, version = split_uri_version(target)
    return DataEntry(name, strip_url_credentials(uri), "uri", None, version=version)


def _tree_entry(name: str, place: _Place, kind: str, tree: TreeHash) -> DataEntry:
    host = None if place.inside else platform.node()  # as the record's host (no socket import)
    return DataEntry(
        name, place.recorded, kind, tree.digest, tree.size, tree.files, host,
        symlinks=tree.symlinks, manifest=tree.entries,
    )  # fmt: skip


def local_entry(name: str, place: _Place, repo_root: str, hasher: Hasher) -> DataEntry:
    """Hash a local file, directory or glob (pointers are handled before this)."""
    _check_parents(place, repo_root, hasher)
    if has_magic(place.recorded):
        return _glob_entry(name, place, repo_root, hasher)
    tree = hasher.hash_path(place.absolute)
    kind = "directory" if os.path.isdir(place.absolute) else "file"
    return _tree_entry(name, place, kind, tree)


def _glob_entry(name: str, place: _Place, repo_root: str, hasher: Hasher) -> DataEntry:
    """A glob is hashed below its root: the repo, or ``/`` for an absolute outside glob."""
    root = os.path.abspath(repo_root) if place.inside else os.sep
    pattern = place.recorded if place.inside else place.absolute.lstrip(os.sep)
    return _tree_entry(name, place, "glob", hasher.hash_glob(root, pattern))


def resolve_dataset(
    text: str, *, repo_root: str, cwd: str, hasher: Hasher | None = None, name: str | None = None
) -> DataEntry:
    """One ``--data`` declaration as a record entry (pointers first, then hashing)."""
    decl = parse_declaration(text)
    name = name or decl.name or default_name(decl.target)
    if URI_RE.match(decl.target):
        return uri_entry(name, decl.target)
    place = _locate(decl.target, repo_root, cwd)
    if place.absolute.endswith(".dvc") and os.path.isfile(place.absolute):
        return dvc_file_entry(name, place)
    pointer = dvc_lock_entry(name, place, repo_root)
    if pointer is None and os.path.isfile(place.absolute):
        pointer = lfs_pointer_entry(name, place)
    return pointer or local_entry(name, place, repo_root, hasher or Hasher())


def resolve_datasets(
    texts: Sequence[str], *, repo_root: str, cwd: str, hasher: Hasher | None = None
) -> dict[str, DataEntry]:
    """Every ``--data`` declaration, keyed by name; duplicate names fail before any hashing."""
    names = check_unique_names(parse_declaration(t) for t in texts)
    hasher = hasher or Hasher()
    return {
        name: resolve_dataset(t, repo_root=repo_root, cwd=cwd, hasher=hasher, name=name)
        for name, t in zip(names, texts, strict=True)
    }


def resolve_artifact(
    text: str, *, repo_root: str, cwd: str, hasher: Hasher | None = None
) -> DataEntry:
    """An output of the run: must be inside the repository; hashed like a dataset."""
    decl = parse_declaration(text)
    name = decl.name or default_name(decl.target)
    if URI_RE.match(decl.target):
        raise DataError(f"artifact must be a path inside the repository, not a URI: {text}")
    place = _locate(decl.target, repo_root, cwd)
    if not place.inside:
        raise DataError(f"artifact is outside the repository: {decl.target} (write it inside)")
    if not has_magic(place.recorded) and not os.path.lexists(place.absolute):
        return DataEntry(name, place.recorded, "file", None, present=False)
    entry = local_entry(name, place, repo_root, hasher or Hasher())
    return dataclasses.replace(entry, present=True)
