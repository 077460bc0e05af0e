"""Re-execute a recorded run as faithfully as its record allows (``mlog rerun``).

The run's commit is checked out into a temporary git worktree (the stored patch applied
for a dirty run), the declared inputs are copied in from the user's working tree when
the commit does not hold them, and the recorded command runs there through the normal
run machinery: :func:`mlog.capture.session.prepare` hashes the inputs, which are checked
against the record before anything runs, and the new record lands in the user's clone
with a ``reproduces`` link. The user's working tree is never written to.
"""

from __future__ import annotations

import dataclasses
import glob
import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mlog.capture import session
from mlog.capture.options import RunOptions
from mlog.capture.session import RunResult
from mlog.errors import DataError, MlogError, NotFoundError, RecordError, UsageError
from mlog.storage import gitio
from mlog.storage.config import Config
from mlog.storage.store import PATCH_FILE, Store

LOCAL_KINDS = ("file", "directory", "glob", "dvc", "dvc-lock", "lfs")


@dataclass(frozen=True)
class RerunOptions:
    allow_data_drift: bool = False
    keep_worktree: bool = False
    progress: Any = None  # hashing progress, as for ``mlog run``


@dataclass
class Rerun:
    """A finished rerun: the original record, the new run, and where it ran."""

    original: dict[str, Any]
    result: RunResult
    worktree: Path | None = None  # kept with --keep-worktree, else None (removed)
    drift: list[dict[str, Any]] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


def refusal(record: dict[str, Any]) -> str | None:
    """Why a record cannot be re-executed, or None when it can."""
    command = record.get("command") or {}
    alias = record.get("alias")
    if record.get("imported"):
        return f"run {alias} was imported, not captured by mlog: there is no command to rerun"
    if command.get("in_process"):
        return (
            f"run {alias} was recorded from Python (mlog.start_run), not by `mlog run`: "
            "there is no command to rerun (run the script again under `mlog run`)"
        )
    if not command.get("argv"):
        return f"run {alias} has no recorded command to rerun"
    secret = [p for p in record.get("redactions") or () if p.startswith("command.argv")]
    if secret:
        return (
            f"run {alias}'s command had secret values redacted ({', '.join(secret)}), "
            "so it cannot be re-executed as recorded (pass secrets through the environment)"
        )
    return None


def rerun(home: Store, record: dict[str, Any], options: RerunOptions) -> Rerun:
    """Re-execute ``record`` in a temporary worktree; the new record goes to ``home``."""
    why = refusal(record)
    if why:
        raise UsageError(why)
    commit = str(record["code"]["commit"])
    if not gitio.has_commit(home.repo_root, commit):
        raise NotFoundError(
            f"commit {commit[:12]} of run {record['alias']} is not in this clone "
            "(fetch it, e.g. `git fetch --all`, then rerun)"
        )
    session.recover_orphans(home)  # as `mlog run` does, before reserving an alias
    with _worktree(home, commit, keep=options.keep_worktree) as worktree:
        _apply_patch(home, record, worktree)
        warnings = _bring_inputs(home, record, worktree)
        done = _run(home, record, worktree, options, warnings)
    done.worktree = worktree if options.keep_worktree else None
    return done


@contextmanager
def _worktree(home: Store, commit: str, *, keep: bool) -> Iterator[Path]:
    """A detached worktree at ``commit`` in a temporary folder, removed afterwards."""
    base = Path(tempfile.mkdtemp(prefix="mlog-rerun-"))
    worktree = base / home.repo_root.name
    try:
        gitio.add_worktree(home.repo_root, worktree, commit)
        yield worktree
    finally:
        if not keep:
            if worktree.exists():
                gitio.remove_worktree(home.repo_root, worktree)
            shutil.rmtree(base, ignore_errors=True)


def _apply_patch(home: Store, record: dict[str, Any], worktree: Path) -> None:
    """A dirty run's tracked changes, from the patch stored beside its record."""
    if not (record.get("code") or {}).get("dirty"):
        return
    patch = home.run_dir(str(record["id"])) / PATCH_FILE
    if not patch.exists():
        return  # dirty through untracked files only: they are brought in with the inputs
    failed = gitio.apply_patch(worktree, patch)
    if failed:
        raise RecordError(
            f"the stored patch of run {record['alias']} does not apply at its commit: {failed} "
            f"(see {patch})"
        )


# -- inputs ----------------------------------------------------------------------------
def _bring_inputs(home: Store, record: dict[str, Any], worktree: Path) -> list[str]:
    """Copy in declared datasets and untracked files the commit lacks; never link them,
    so a script that writes into its inputs cannot change the user's copy."""
    for name, entry in (record.get("data") or {}).items():
        _bring_dataset(home, record, worktree, name, entry)
    return _bring_untracked(home, record, worktree)


def _bring_dataset(
    home: Store, record: dict[str, Any], worktree: Path, name: str, entry: dict[str, Any]
) -> None:
    path = str(entry.get("path") or "")
    if entry.get("kind") not in LOCAL_KINDS or os.path.isabs(path) or entry.get("host"):
        return  # remote, or outside the repository: used where it is
    if entry.get("kind") == "glob":
        for match in glob.glob(path, root_dir=home.repo_root, recursive=True):
            _copy_missing(home.repo_root / match, worktree / match)
        return
    if not _copy_missing(home.repo_root / path, worktree / path):
        raise DataError(
            f"dataset {name} ({path}) of run {record['alias']} is neither in your working tree "
            "nor in its commit (restore it, then rerun)"
        )
    if entry.get("kind") == "dvc":  # the data the pointer names, when the user has it
        _copy_missing(home.repo_root / path.removesuffix(".dvc"), worktree / path[:-4])


def _copy_missing(source: Path, target: Path) -> bool:
    """Copy ``source`` to ``target`` unless the commit already has it; False when neither is."""
    if os.path.lexists(target):
        return True
    if not os.path.lexists(source):
        return False
    target.parent.mkdir(parents=True, exist_ok=True)
    if source.is_dir() and not source.is_symlink():
        shutil.copytree(source, target, symlinks=True)
    else:
        shutil.copy2(source, target, follow_symlinks=False)
    return True


def _bring_untracked(home: Store, record: dict[str, Any], worktree: Path) -> list[str]:
    """Untracked files of a dirty run, copied when the user's copy still has the recorded hash."""
    from mlog.storage.hashing import hash_file

    warnings = []
    for item in (record.get("code") or {}).get("untracked") or ():
        source, target = home.repo_root / item["path"], worktree / item["path"]
        if os.path.lexists(target):
            continue
        try:
            same = source.is_file() and hash_file(source) == item.get("hash")
        except MlogError:
            same = False
        if same:
            _copy_missing(source, target)
        else:
            warnings.append(
                f"untracked file {item['path']} of run {record['alias']} is missing or changed "
                "in your working tree; the rerun went without it"
            )
    return warnings


# -- the run ---------------------------------------------------------------------------
def _run(
    home: Store,
    record: dict[str, Any],
    worktree: Path,
    options: RerunOptions,
    warnings: list[str],
) -> Rerun:
    store = Store(worktree, mlog_dir=home.root, config=replay_config(home.config(), record))
    workdir = worktree / str(record["command"].get("cwd") or ".")
    prepared = session.prepare(_run_options(record, worktree, options), workdir, store=store)
    try:
        drift = check_data(record, prepared.record, allow=options.allow_data_drift)
        _link(prepared.record, record, drift, warnings)
        outcome = session.execute(prepared, cwd=workdir)
    except BaseException:
        store.drop_pending(prepared.run_id)
        raise
    with session.deferred_interrupts():
        result = session.finish(prepared, outcome)
    return Rerun(record, result, drift=drift, warnings=warnings)


def replay_config(config: Config, record: dict[str, Any]) -> Config:
    """The user's config without its declarations (the record's are replayed instead), hashing
    with the algorithm the original used, so that equal content gets equal hashes."""
    return dataclasses.replace(
        config,
        data=(),
        artifacts=(),
        params=(),
        metrics_files=(),
        tags={},
        hash_algorithm=_algorithm(record) or config.hash_algorithm,
    )


def _algorithm(record: dict[str, Any]) -> str | None:
    from mlog.storage.hashing import ALGORITHMS

    entries = [*(record.get("data") or {}).values(), *(record.get("artifacts") or [])]
    for entry in entries:
        if entry.get("kind", "file") in ("file", "directory", "glob") and entry.get("hash"):
            algorithm = str(entry["hash"]).partition(":")[0]
            if algorithm in ALGORITHMS:
                return algorithm
    return None


def _run_options(record: dict[str, Any], worktree: Path, options: RerunOptions) -> RunOptions:
    """The original's command and declarations, with paths pointing into the worktree."""
    note = record.get("note")
    return RunOptions(
        argv=tuple(record["command"]["argv"]),
        data=tuple(_declaration(n, e, worktree) for n, e in (record.get("data") or {}).items()),
        artifacts=tuple(_inside(worktree, a["path"]) for a in record.get("artifacts") or ()),
        params_files=tuple(_inside(worktree, p) for p in record.get("param_sources") or ()),
        metrics_files=tuple(_inside(worktree, p) for p in record.get("metric_sources") or ()),
        model=str(record["model"]),
        note=f"rerun of {record['alias']}" + (f": {note}" if note else ""),
        tags=dict(record.get("tags") or {}),
        allow_dirty=True,  # the patch and copied-in inputs are the original's own state
        progress=options.progress,
    )


def _inside(worktree: Path, path: str) -> str:
    return path if os.path.isabs(path) else str(worktree / path)


def _declaration(name: str, entry: dict[str, Any], worktree: Path) -> str:
    path = str(entry["path"])
    if entry.get("kind") == "uri":
        version = entry.get("version")
        return f"{name}={path}@{version}" if version else f"{name}={path}"
    return f"{name}={_inside(worktree, path)}"


def check_data(
    original: dict[str, Any], new: dict[str, Any], *, allow: bool
) -> list[dict[str, Any]]:
    """Datasets whose content differs from the original's; refused unless ``allow``."""
    drift = []
    before, after = original.get("data") or {}, new.get("data") or {}
    for name in sorted(before):
        recorded = before[name].get("hash") or before[name].get("version")
        found = (after.get(name) or {}).get("hash") or (after.get(name) or {}).get("version")
        if recorded != found:
            drift.append({"name": name, "recorded": recorded, "found": found})
    if drift and not allow:
        first = drift[0]
        more = f" (and {len(drift) - 1} more dataset(s))" if len(drift) > 1 else ""
        raise DataError(
            f"dataset {first['name']} differs from the one run {original['alias']} used: "
            f"recorded {first['recorded']}, found {first['found']}{more} "
            "(restore it, or pass --allow-data-drift to rerun anyway and record the drift)"
        )
    return drift


def _link(
    new: dict[str, Any], original: dict[str, Any], drift: list[dict[str, Any]], warnings: list[str]
) -> None:
    """The rerun's own marks: what it reproduces, the drift it was allowed, what it lacked."""
    new["reproduces"] = original["id"]
    if original.get("lineage"):
        new["lineage"] = original["lineage"]
    if drift:
        new["data_drift"] = drift
    new["warnings"].extend(
        [f"dataset {d['name']} drifted: recorded {d['recorded']}, used {d['found']}" for d in drift]
        + warnings
    )
