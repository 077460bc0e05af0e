"""The pre-commit hooks: pure functions from the staged files to findings.

pre-commit stashes unstaged changes before a hook runs, so the working tree holds
exactly what is about to be committed. Deletions are never passed to hooks as file
names, which is why ``immutable`` asks git for the staged changes itself.
"""

from __future__ import annotations

import fnmatch
import os
from collections.abc import Callable
from pathlib import Path, PurePosixPath
from typing import Any

from mlog.audit.checks import GUARDED_PREFIXES, Finding, validate_files
from mlog.errors import MlogError, UsageError
from mlog.storage import records
from mlog.storage.store import Store

DEFAULT_ARTIFACT_PATTERNS = (
    "*.pt", "*.pth", "*.ckpt", "*.onnx", "*.pkl", "*.pickle", "*.joblib",
    "*.h5", "*.hdf5", "*.keras", "*.safetensors", "*.pb", "*.tflite", "*.mlmodel",
)  # fmt: skip


def validate_hook(store: Store, files: list[str]) -> list[Finding]:
    """Schema and integrity of the staged config, records and events."""
    targets = [
        store.repo_root / name
        for name in files
        if _under(name, ".mlog") and (store.repo_root / name).is_file()
    ]
    return [
        Finding("validate", path, message, run=_run_of(path))
        for path, message in validate_files(store, targets)
    ]


def immutable_hook(store: Store, files: list[str]) -> list[Finding]:
    """Refuse a commit that modifies or deletes a record or event already in HEAD."""
    from mlog.storage import gitio

    verb = {"D": "deletes", "M": "modifies", "T": "replaces"}
    return [
        Finding(
            "immutable",
            change.path,
            f"this commit {verb.get(change.status, 'changes')} a file already committed; records "
            f"and events are immutable (undo with `git restore --staged --worktree {change.path}`)",
            run=_run_of(change.path),
        )
        for change in gitio.uncommitted_changes(store.repo_root, GUARDED_PREFIXES, staged_only=True)
    ]


def artifacts_hook(store: Store, files: list[str]) -> list[Finding]:
    """Refuse model files whose content no run record knows: no untracked model."""
    from mlog.storage import gitio

    patterns = artifact_patterns(store)
    candidates = [
        name
        for name in (files or gitio.staged_files(store.repo_root))
        if _is_model_file(name, patterns) and (store.repo_root / name).is_file()
    ]
    if not candidates:
        return []
    known = KnownArtifacts.from_store(store)
    return [
        Finding(
            "artifacts",
            name,
            "model file whose hash no run record knows: produce it with "
            f"`mlog run -a {name} -- ...` (or change artifact_patterns in .mlog/config.yaml)",
        )
        for name in candidates
        if not known.knows(store.repo_root, name)
    ]


def artifact_patterns(store: Store) -> tuple[str, ...]:
    """``artifact_patterns`` from the config, or the common model file extensions."""
    configured = store.config().raw.get("artifact_patterns")
    return tuple(configured) if configured else DEFAULT_ARTIFACT_PATTERNS


def _is_model_file(name: str, patterns: tuple[str, ...]) -> bool:
    if _under(name, ".mlog"):
        return False
    base = PurePosixPath(name).name
    return any(fnmatch.fnmatch(name, p) or fnmatch.fnmatch(base, p) for p in patterns)


class KnownArtifacts:
    """Hashes of every artifact and dataset the records name, to recognise a file by content."""

    def __init__(self, digests: set[str], directories: dict[str, set[str]]) -> None:
        self.digests = digests
        self.directories = directories
        self.algorithms = {d.partition(":")[0] for d in digests} or {"xxh3_128"}

    @classmethod
    def from_store(cls, store: Store) -> KnownArtifacts:
        digests: set[str] = set()
        directories: dict[str, set[str]] = {}
        for run_id in store.run_ids():
            try:
                record = store.load_record(run_id, verify=False)
            except MlogError:
                continue  # the validate hook and `mlog check` report broken records
            for entry in _entries(record):
                if entry.get("kind") == "directory":
                    directories.setdefault(entry["path"], set()).add(entry["hash"])
                else:
                    digests.add(entry["hash"])
        return cls(digests, directories)

    def knows(self, root: Path, name: str) -> bool:
        from mlog.storage.hashing import Hasher

        for algorithm in sorted(self.algorithms):
            if Hasher(algorithm).hash_file(root / name) in self.digests:
                return True
        return any(
            self._directory_matches(root, directory)
            for directory in self.directories
            if _under(name, directory)
        )

    def _directory_matches(self, root: Path, directory: str) -> bool:
        """A file inside a recorded model directory is known when the whole directory is."""
        from mlog.storage.hashing import Hasher

        hashes = self.directories[directory]
        algorithms = {h.partition(":")[0] for h in hashes}
        return any(Hasher(a).hash_path(root / directory).digest in hashes for a in algorithms)


def _entries(record: dict[str, Any]) -> list[dict[str, Any]]:
    entries = [a for a in record.get("artifacts") or [] if isinstance(a, dict)]
    entries += [d for d in (record.get("data") or {}).values() if isinstance(d, dict)]
    return [e for e in entries if e.get("hash") and e.get("path")]


def _under(name: str, directory: str) -> bool:
    return name == directory or name.startswith(directory.rstrip("/") + "/")


def _run_of(path: str) -> str | None:
    return records.run_of_path(path)


HOOKS: dict[str, Callable[[Store, list[str]], list[Finding]]] = {
    "validate": validate_hook,
    "immutable": immutable_hook,
    "artifacts": artifacts_hook,
}


def run_hook(store: Store, name: str, *, cwd: Path, files: list[str]) -> list[Finding]:
    """Run a hook by name (``mlog hook NAME FILES...``) on files named relative to ``cwd``."""
    hook = HOOKS.get(name)
    if hook is None:
        raise UsageError(f"unknown hook {name!r} (use one of: {', '.join(HOOKS)})")
    return hook(store, [_repo_relative(store, cwd, f) for f in files])


def _repo_relative(store: Store, cwd: Path, name: str) -> str:
    full = Path(os.path.abspath(cwd / name))
    try:
        return full.relative_to(store.repo_root).as_posix()
    except ValueError:
        raise UsageError(f"{name} is outside the repository {store.repo_root}") from None
