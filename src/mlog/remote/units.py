"""What can travel: the artifacts (and datasets) a record pins, and their local copies."""

from __future__ import annotations

import os
import posixpath
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mlog.errors import DataError, NotFoundError
from mlog.storage.hashing import Hasher, TreeHash, parse_digest

TREE_KINDS = ("directory", "glob")
LOCAL_KINDS = ("file", *TREE_KINDS)


@dataclass(frozen=True)
class Unit:
    """One pinned artifact or dataset: a file, or a tree (directory or glob) of files."""

    run: str
    source: str  # "artifact" or "data"
    name: str
    path: str
    kind: str
    digest: str
    size: int | None
    files: int | None

    @property
    def is_tree(self) -> bool:
        return self.kind in TREE_KINDS

    @property
    def algorithm(self) -> str:
        return parse_digest(self.digest).algorithm

    def to_json(self) -> dict[str, Any]:
        return dict(self.__dict__)


def units_of(record: dict[str, Any], *, data: bool = False) -> tuple[list[Unit], list[str]]:
    """The record's transferable units, and notes on entries that cannot travel."""
    run = str(record["id"])
    units: list[Unit] = []
    notes: list[str] = []
    for entry in record.get("artifacts") or []:
        if not entry.get("present") or not entry.get("hash"):
            notes.append(f"{entry['path']}: not produced by run {run}, nothing to transfer")
            continue
        name = posixpath.basename(str(entry["path"]).rstrip("/")) or str(entry["path"])
        units.append(_unit(run, "artifact", name, entry))
    for name, entry in sorted((record.get("data") or {}).items()) if data else ():
        if entry.get("kind") not in LOCAL_KINDS or not entry.get("hash"):
            notes.append(f"data {name}: {entry.get('kind')} is stored elsewhere, not pushed")
        elif os.path.isabs(str(entry["path"])):
            notes.append(f"data {name}: {entry['path']} is outside the repository, not pushed")
        else:
            units.append(_unit(run, "data", name, entry))
    return units, notes


def _unit(run: str, source: str, name: str, entry: dict[str, Any]) -> Unit:
    path = safe_relative(str(entry["path"]))
    kind = str(entry.get("kind") or "file")
    digest = str(parse_digest(str(entry["hash"])))
    return Unit(run, source, name, path, kind, digest, entry.get("size"), entry.get("files"))


def safe_relative(path: str) -> str:
    """A recorded path that stays inside its root (records and listings come from others)."""
    parts = path.replace("\\", "/").split("/")
    if path.startswith("/") or ".." in parts or not path.strip("/"):
        raise DataError(f"refusing path {path!r}: it must stay inside the repository")
    return "/".join(p for p in parts if p not in ("", "."))


def pick(units: list[Unit], name: str | None) -> Unit:
    """The one artifact ``name`` (path, file name or dataset name) means; alone, the only one."""
    artifacts = [u for u in units if u.source == "artifact"]
    if name is None:
        if len(artifacts) == 1:
            return artifacts[0]
        if not artifacts:
            raise NotFoundError("that run pins no artifacts to fetch")
        names = ", ".join(u.path for u in artifacts)
        raise NotFoundError(f"several artifacts, name one with --artifact: {names}")
    for key, wanted in (("path", name.strip("/")), ("name", name)):
        found = [u for u in artifacts if getattr(u, key) == wanted]
        if len(found) == 1:
            return found[0]
    names = ", ".join(u.path for u in artifacts) or "none"
    raise NotFoundError(f"no artifact {name!r} in that run (artifacts: {names})")


def hash_local(unit: Unit, base: Path, hasher: Hasher) -> TreeHash | None:
    """The local copy's identity, or None when it is missing; unreadable ones raise."""
    target = base / unit.path if unit.kind != "glob" else base
    if unit.kind != "glob" and not os.path.lexists(target):
        return None
    try:
        if unit.kind == "glob":
            return hasher.hash_glob(base, unit.path)
        if unit.kind == "directory" and not target.is_dir():
            return None
        if unit.kind == "file" and not target.is_file():
            return None
        return hasher.hash_path(target)
    except DataError as exc:
        if "matched no files" in str(exc):
            return None
        raise


def file_entries(unit: Unit, tree: TreeHash, base: Path) -> list[tuple[str, str, int]]:
    """``(local path, digest, size)`` of every file a unit's local copy holds."""
    if not unit.is_tree:
        entry = tree.entries[0]
        return [(str(base / unit.path), entry.digest, entry.size)]
    root = base / unit.path if unit.kind == "directory" else base
    return [(str(root / e.path), e.digest, e.size) for e in tree.entries]
