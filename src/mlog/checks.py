"""Checks shared by ``mlog validate``, the pre-commit hooks and ``mlog check``."""

from __future__ import annotations

from pathlib import Path

from mlog import records, yamlio
from mlog.errors import MlogError
from mlog.schema import problems
from mlog.store import RECORD_FILE, Store


def validate_files(store: Store, paths: list[Path]) -> list[tuple[str, str]]:
    """``(path, problem)`` for every file that is not a valid config or record."""
    found: list[tuple[str, str]] = []
    for path in paths:
        shown = _shown(store, path)
        try:
            found.extend((shown, message) for message in _file_problems(store, path))
        except MlogError as exc:
            found.append((shown, _strip_source(str(exc), path)))
    return found


def _file_problems(store: Store, path: Path) -> list[str]:
    resolved = path.resolve()
    if resolved == store.config_path.resolve():
        document = yamlio.load_file(path)
        return problems(document if document is not None else {"schema_version": 1}, "config")
    if path.name == RECORD_FILE:
        return record_problems(yamlio.load_file(path, allow_aliases=False), path)
    return []


def record_problems(document: object, path: Path) -> list[str]:
    """Schema violations, a wrong integrity hash, and an id that disagrees with its directory."""
    if not isinstance(document, dict):
        return ["a record must be a mapping"]
    found = problems(document, "run")
    if found:
        return found
    if not records.integrity_matches(document):
        found.append("integrity hash does not match the content (the record was edited)")
    if document.get("id") != path.parent.name:
        found.append(f"id {document.get('id')} does not match its directory {path.parent.name}")
    return found


def _shown(store: Store, path: Path) -> str:
    try:
        return path.resolve().relative_to(store.repo_root).as_posix()
    except ValueError:
        return str(path)


def _strip_source(message: str, path: Path) -> str:
    prefix = f"{path}: "
    return message[len(prefix) :] if message.startswith(prefix) else message
