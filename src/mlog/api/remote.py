"""Artifacts to and from the content-addressed remote: push, pull, fetch, verify, status."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mlog.errors import ConfigError, DataError, GateError, MlogError, UsageError

if TYPE_CHECKING:
    from mlog.registry.fold import Deployable
    from mlog.remote.backend import Remote, RemoteSettings
    from mlog.remote.pull import PullReport
    from mlog.remote.push import Progress, PushReport
    from mlog.remote.units import Unit
    from mlog.storage.hashing import Hasher
    from mlog.storage.store import Store

STAGES = ("production", "staging")
NO_REMOTE = "no remote configured (set `remote:` in .mlog/config.yaml, or MLOG_REMOTE)"


def _store(cwd: Path) -> Store:
    from mlog.api import open_store

    return open_store(cwd)


def settings(store: Store) -> RemoteSettings:
    from mlog.remote.backend import settings_from

    return settings_from(store.config(), store.repo_root)


def _remote(store: Store, jobs: int | None = None) -> Remote:
    from mlog.remote.backend import Remote

    found = settings(store)
    if found.url is None:
        raise ConfigError(NO_REMOTE)
    return Remote(found.url, found.options, jobs or found.jobs)


def _hashers(store: Store) -> Callable[[str], Hasher]:
    """One cached hasher per algorithm: unchanged local files are not re-read."""
    from mlog.storage.hashcache import HashCache
    from mlog.storage.hashing import Hasher

    made: dict[str, Hasher] = {}

    def hasher_for(algorithm: str) -> Hasher:
        if algorithm not in made:
            made[algorithm] = Hasher(algorithm, cache=HashCache(store.cache_dir / "hashes.sqlite"))
        return made[algorithm]

    return hasher_for


def _units(store: Store, ref: str, *, data: bool = False) -> tuple[list[Unit], list[str]]:
    """Units of a RUN, MODEL@VERSION or MODEL@STAGE; a version yields only what it pinned."""
    from mlog.api import refs
    from mlog.registry import fold as registry
    from mlog.remote.units import units_of

    model, sep, label = ref.partition("@")
    pinned: set[str] | None = None
    run_hash: str | None = None
    if sep and label in STAGES:
        found = registry.deployable(store, model, stage=label)
        run, run_hash, pinned = found.run, found.run_hash, {a["hash"] for a in found.artifacts}
    elif sep:
        version = registry.resolve_version(store, ref)
        run, run_hash, pinned = (
            version.run,
            version.run_hash,
            {a["hash"] for a in version.artifacts},
        )
    else:
        run = refs.resolve(store, ref)
    record = registry.load_verified_record(store, run, run_hash)
    units, notes = units_of(record, data=data)
    if pinned is not None:
        units = [u for u in units if u.source == "data" or u.digest in pinned]
    return units, notes


def _all_units(
    store: Store, targets: list[str], all_runs: bool, data: bool
) -> tuple[list[Unit], list[str]]:
    if all_runs and targets:
        raise UsageError("give REF... or --all, not both")
    if not all_runs and not targets:
        raise UsageError("name what to push: one or more RUN / MODEL@VERSION, or --all")
    units: list[Unit] = []
    notes: list[str] = []
    for ref in store.run_ids() if all_runs else targets:
        found, more = _units(store, ref, data=data)
        units.extend(found)
        notes.extend(more)
    unique = {(u.digest, u.path): u for u in units}
    return list(unique.values()), notes


def push(
    *,
    cwd: Path,
    targets: list[str],
    all_runs: bool = False,
    data: bool = False,
    dry_run: bool = False,
    jobs: int | None = None,
    progress: Progress | None = None,
) -> PushReport:
    """Upload the artifacts (and with ``data``, datasets) of runs or versions the remote lacks."""
    from mlog.remote import push as pushing

    store = _store(cwd)
    units, notes = _all_units(store, targets, all_runs, data)
    remote = _remote(store, jobs)
    report = pushing.push(
        remote,
        units,
        base=store.repo_root,
        hasher_for=_hashers(store),
        dry_run=dry_run,
        progress=progress,
    )
    report.notes.extend(notes)
    return report


def push_registered(
    *, cwd: Path, target: str, progress: Progress | None = None
) -> PushReport | None:
    """The push ``mlog register`` does when a remote is configured (and not turned off)."""
    store = _store(cwd)
    found = settings(store)
    if found.url is None or not found.push_on_register:
        return None
    report = push(cwd=cwd, targets=[target], progress=progress)
    refuse_unavailable(report)
    return report


def refuse_unavailable(report: PushReport) -> None:
    """A push that left units behind fails, naming them and why."""
    missing = report.unavailable
    if missing:
        named = ", ".join(f"{u.unit.path} ({u.detail})" for u in missing)
        raise DataError(
            f"{len(missing)} artifact(s) could not be pushed: {named} "
            "(push from the clone that produced them, or rerun the training)"
        )


def pull(
    *,
    cwd: Path,
    ref: str,
    to: Path | None = None,
    data: bool = False,
    force: bool = False,
    jobs: int | None = None,
    progress: Progress | None = None,
) -> PullReport:
    """Restore a run's or version's artifacts at their recorded paths (or below ``to``)."""
    from mlog.remote.pull import Placement
    from mlog.remote.pull import pull as pulling

    store = _store(cwd)
    units, notes = _units(store, ref, data=data)
    base = (cwd / to).resolve() if to is not None else store.repo_root
    placements = [Placement(u, base if u.kind == "glob" else base / u.path) for u in units]
    anchor = base if to is not None else store.cache_dir
    report = pulling(
        _remote(store, jobs),
        placements,
        anchor=anchor,
        hasher_for=_hashers(store),
        force=force,
        progress=progress,
    )
    report.notes.extend(notes)
    return report


def fetch(
    *,
    cwd: Path,
    ref: str,
    output: Path,
    artifact: str | None = None,
    force: bool = False,
    jobs: int | None = None,
    progress: Progress | None = None,
) -> PullReport:
    """One artifact of a RUN, MODEL@VERSION or MODEL@STAGE to ``output``, verified."""
    from mlog.remote.pull import Placement
    from mlog.remote.pull import pull as pulling
    from mlog.remote.units import pick

    store = _store(cwd)
    units, _ = _units(store, ref)
    unit = pick(units, artifact)
    dest = (cwd / output).absolute()
    if dest.is_dir() and not unit.is_tree:
        dest = dest / Path(unit.path).name
    return pulling(
        _remote(store, jobs),
        [Placement(unit, dest)],
        anchor=dest.parent,
        hasher_for=_hashers(store),
        force=force,
        progress=progress,
    )


def verify_deployable(*, cwd: Path, model: str, stage: str = "production") -> Deployable:
    """The stage's version, its artifacts hashed where they are on the remote (streaming)."""
    from mlog.registry import fold as registry
    from mlog.remote.verify import refuse_unless_ok, verify_on_remote

    store = _store(cwd)
    found = registry.deployable(store, model, stage=stage)
    units, _ = _units(store, f"{model}@{found.version}")
    if not units:
        raise GateError(f"{model}@{found.version} pins no artifacts to verify")
    checked = verify_on_remote(_remote(store), units)
    refuse_unless_ok(checked, f"{model}@{found.version}")
    return replace(found, artifacts=checked, verified=True)


def artifact_status(*, cwd: Path, ref: str) -> list[dict[str, Any]]:
    """Each artifact of a run: present and matching locally? present on the remote?"""
    from mlog.api import refs

    store = _store(cwd)
    record = store.load_record(refs.resolve(store, ref))  # shown even when tampered
    return status_of(store, record)


def status_of(store: Store, record: dict[str, Any]) -> list[dict[str, Any]]:
    """:func:`artifact_status` for a record already loaded from an open store."""
    from mlog.remote.units import units_of

    return _status(store, units_of(record)[0])


def registry_status(*, cwd: Path, targets: list[str]) -> dict[str, dict[str, str]]:
    """``MODEL@VERSION`` -> a word each for its artifacts locally and on the remote.

    Empty when no remote is configured."""
    store = _store(cwd)
    result: dict[str, dict[str, str]] = {}
    if settings(store).url is None:
        return result  # without a remote, `registry ls` keeps its usual columns
    for target in targets:
        try:
            rows = _status(store, _units(store, target)[0])
        except MlogError:
            result[target] = {"local": "?", "remote": "?"}
            continue
        result[target] = {
            "local": _overall([r["local"] for r in rows]),
            "remote": _overall([r["remote"] for r in rows]),
        }
    return result


def _overall(states: list[str]) -> str:
    if not states:
        return "-"
    distinct = sorted(set(states))
    return distinct[0] if len(distinct) == 1 else "partial"


def _status(store: Store, units: list[Unit]) -> list[dict[str, Any]]:
    from mlog.remote.verify import local_status

    remote_words = _remote_words(store, units)
    hasher_for = _hashers(store)
    return [
        {
            "path": u.path,
            "hash": u.digest,
            "local": local_status(u, store.repo_root, hasher_for(u.algorithm)),
            "remote": remote_words[u.digest],
        }
        for u in units
    ]


def _remote_words(store: Store, units: list[Unit]) -> dict[str, str]:
    from mlog.remote.verify import remote_status

    if not units or settings(store).url is None:
        return remote_status(None, units)
    try:
        remote = _remote(store)
    except MlogError:
        return {u.digest: "unknown" for u in units}
    return remote_status(remote, units)
