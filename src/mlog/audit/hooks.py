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
from typing import TYPE_CHECKING

from mlog.audit.checks import GUARDED_PREFIXES, Finding, validate_files
from mlog.errors import UsageError
from mlog.storage import records
from mlog.storage.store import Store

if TYPE_CHECKING:
    from mlog.lineage.index import LineageIndex

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
    from mlog.lineage import index

    # Records never change once written (`mlog check` and the validate hook catch an edit):
    # runs added or removed since the index last looked are read, no other record. A broken
    # record is left out: the validate hook and `mlog check` report it.
    with index.opened(store, new_only=True, broken_ok=True) as lineage:
        known = KnownArtifacts(lineage)
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
    """Whether a file's content is an artifact or dataset some record names, asked of the
    lineage index (which holds every record's artifact and dataset hashes and paths): at
    100,000 runs the hook parsed every record on each commit, 50 s."""

    def __init__(self, lineage: LineageIndex) -> None:
        self.lineage = lineage
        self.algorithms = lineage.hash_algorithms() or {"xxh3_128"}

    def knows(self, root: Path, name: str) -> bool:
        from mlog.storage.hashing import Hasher

        for algorithm in sorted(self.algorithms):
            if self.lineage.names_hash(Hasher(algorithm).hash_file(root / name)):
                return True
        return any(
            self._directory_matches(root, directory, hashes)
            for directory, hashes in self.lineage.hashes_above(name).items()
        )

    @staticmethod
    def _directory_matches(root: Path, directory: str, hashes: set[str]) -> bool:
        """A file inside a recorded model directory is known when the whole directory is."""
        from mlog.storage.hashing import Hasher

        algorithms = {h.partition(":")[0] for h in hashes}
        return any(Hasher(a).hash_path(root / directory).digest in hashes for a in algorithms)


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
