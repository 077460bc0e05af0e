"""What changed between two runs: params, metrics, series, data, code, environment, command.

:func:`diff_records` is pure: it takes two records plus what was read beforehand
from objects and git (:class:`Side`, :class:`~mlog.storage.gitio.CodeHistory`) and returns
plain JSON-ready data. Every entry carries ``change`` (``added``, ``removed``,
``changed`` or ``same``) and ``old``/``new``, so :func:`mirror` can turn
``diff(a, b)`` into ``diff(b, a)`` and a run diffed with itself is empty.
:func:`compare` at the bottom is the one function that reads the store and git.
The JSON shape is documented in docs/diff.md.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from mlog.compare.directions import (
    MAXIMIZE,
    Direction,
    direction_for,
    is_number,
    judge,
)
from mlog.profile.drift import Thresholds, compare_profiles
from mlog.profile.signature import fields_by_key
from mlog.storage import sections
from mlog.storage.flatten import flatten

if TYPE_CHECKING:
    from mlog.storage.gitio import CodeHistory
    from mlog.storage.hashing import ManifestEntry
    from mlog.storage.store import Store

ADDED, REMOVED, CHANGED, SAME = "added", "removed", "changed", "same"
FLIP = {ADDED: REMOVED, REMOVED: ADDED, CHANGED: CHANGED, SAME: SAME}
STRUCTURED = ("code", "packages")
"""Parts of the result that are a structure of their own, not a list of entries."""
UNCOUNTED = ("resources",)
"""Parts that do not make two runs differ: time and memory always vary."""
COUNTED = tuple(p for p in sections.DIFF_PARTS if p not in (*STRUCTURED, *UNCOUNTED))
"""Lists of entries that make two runs differ (``--exit-code``)."""
COMMAND_KEYS = ("model", "status", "argv", "cwd", "exit_code", "signal", "user", "host")
RESOURCE_KEYS = ("duration_s", "cpu_user_s", "cpu_system_s", "peak_rss_bytes")
CODE_KEYS = ("commit", "branch", "describe", "dirty", "patch_hash")
DATASET_KEYS = ("kind", "path", "hash", "version", "size", "files")
MAX_PATHS = 10
_ABSENT: Any = object()


@dataclass(frozen=True)
class Side:
    """What one run's diff needs beyond its record, read from ``.mlog/objects`` beforehand."""

    packages: tuple[str, ...] | None = None
    manifests: Mapping[str, tuple[ManifestEntry, ...]] = field(default_factory=dict)
    profiles: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)


def diff_records(
    old: Mapping[str, Any],
    new: Mapping[str, Any],
    *,
    old_side: Side | None = None,
    new_side: Side | None = None,
    history: CodeHistory | None = None,
    metric_config: Mapping[str, Mapping[str, Any]] | None = None,
    drift: Thresholds | None = None,
    include_same: bool = False,
    max_paths: int | None = MAX_PATHS,
) -> dict[str, Any]:
    """Every difference between two records, one part per entry of the sections table; pure."""
    given = _Given(old, new, old_side or Side(), new_side or Side(), history,
                   metric_config or {}, max_paths, drift)  # fmt: skip
    result: dict[str, Any] = {"a": identity(old), "b": identity(new)}
    result.update({part: _PARTS[part](given) for part in sections.DIFF_PARTS})
    return _finish(result, include_same)


@dataclass(frozen=True)
class _Given:
    old: Mapping[str, Any]
    new: Mapping[str, Any]
    before: Side
    after: Side
    history: CodeHistory | None
    config: Mapping[str, Mapping[str, Any]]
    max_paths: int | None
    drift: Thresholds | None = None

    def section(self, key: str) -> tuple[Any, Any]:
        return self.old.get(key) or {}, self.new.get(key) or {}


_PARTS: dict[str, Callable[[_Given], Any]] = {
    "params": lambda g: _pairs(*(flatten(side) for side in g.section("params"))),
    "metrics": lambda g: metric_entries(*g.section("metrics"), g.config),
    "series": lambda g: _series(*g.section("series"), g.config),
    "data": lambda g: data_entries(
        g.old, g.new, g.before, g.after, max_paths=g.max_paths, drift=g.drift
    ),
    "signature": lambda g: signature_entries(g.old.get("signature"), g.new.get("signature")),
    "artifacts": lambda g: _pairs(_artifact_hashes(g.old), _artifact_hashes(g.new)),
    "code": lambda g: _code(*g.section("code"), g.history),
    "environment": lambda g: _pairs(_environment(g.old, g.before), _environment(g.new, g.after)),
    "packages": lambda g: package_changes(g.before.packages, g.after.packages),
    "command": lambda g: _pairs(_command(g.old, COMMAND_KEYS), _command(g.new, COMMAND_KEYS)),
    "resources": lambda g: _resources(
        _command(g.old, RESOURCE_KEYS), _command(g.new, RESOURCE_KEYS)
    ),
}
"""How each part of the diff is computed; the sections table says which parts exist."""


def stale_outputs(record: Mapping[str, Any]) -> list[str]:
    """Declared outputs the run did not write (see ``capture.freshness``), sorted."""
    stale = record.get("stale") or {}
    paths = [*stale.get("metrics_files", []), *(a["path"] for a in stale.get("artifacts", []))]
    return sorted(paths)


def identity(record: Mapping[str, Any]) -> dict[str, Any]:
    code, command = record.get("code") or {}, record.get("command") or {}
    return {
        "id": record.get("id"),
        "alias": record.get("alias"),
        "model": record.get("model"),
        "status": record.get("status"),
        "commit": code.get("commit"),
        "started_at": command.get("started_at"),
        "reproduces": record.get("reproduces"),
    }


def _artifact_hashes(record: Mapping[str, Any]) -> dict[str, Any]:
    """Each artifact's content hash by path (None for one the run did not write)."""
    return {
        str(a.get("path")): a.get("hash")
        for a in record.get("artifacts") or []
        if isinstance(a, Mapping)
    }


def _finish(result: dict[str, Any], include_same: bool) -> dict[str, Any]:
    if not include_same:
        for section in (*COUNTED, *UNCOUNTED):
            result[section] = [e for e in result[section] if e["change"] != SAME]
    result["differs"] = differs(result)
    return result


def differs(result: Mapping[str, Any]) -> bool:
    """Whether anything but resources differs (what ``--exit-code`` reports)."""
    listed = any(e["change"] != SAME for section in COUNTED for e in result[section])
    packages = any(result["packages"][kind] for kind in PACKAGE_KINDS)
    return listed or packages or result["code"]["change"] != SAME


# -- values ----------------------------------------------------------------------
def same(a: Any, b: Any) -> bool:
    """Equal as stored (``1`` and ``1.0`` differ, NaN equals NaN), so diff(a, a) is empty."""
    return _canonical(a) == _canonical(b)


def _canonical(value: Any) -> str:
    return json.dumps(value, sort_keys=True, default=str)


def _change(old: Any, new: Any) -> str:
    if old is _ABSENT:
        return ADDED
    if new is _ABSENT:
        return REMOVED
    return SAME if same(old, new) else CHANGED


def _shown(value: Any) -> Any:
    return None if value is _ABSENT else value


def _pairs(old: Mapping[str, Any], new: Mapping[str, Any]) -> list[dict[str, Any]]:
    """``{key, change, old, new}`` for every key of either side, sorted by key."""
    return [_pair(key, old.get(key, _ABSENT), new.get(key, _ABSENT)) for key in _keys(old, new)]


def _pair(key: str, old: Any, new: Any) -> dict[str, Any]:
    return {"key": key, "change": _change(old, new), "old": _shown(old), "new": _shown(new)}


def _keys(old: Mapping[str, Any], new: Mapping[str, Any]) -> list[str]:
    return sorted({*old, *new})


def _delta(old: Any, new: Any) -> tuple[float | None, float | None]:
    """Absolute and relative change of two numbers; ``None`` where it means nothing."""
    if not (is_number(old) and is_number(new)):
        return None, None
    delta = new - old
    return delta, (delta / abs(old) if old else None)


# -- metrics ---------------------------------------------------------------------
def metric_entries(
    old: Mapping[str, Any], new: Mapping[str, Any], config: Mapping[str, Mapping[str, Any]]
) -> list[dict[str, Any]]:
    """Per metric: old, new, delta, relative delta, direction, and a verdict."""
    return [
        metric_entry(key, old.get(key, _ABSENT), new.get(key, _ABSENT), direction_for(key, config))
        for key in _keys(old, new)
    ]


def metric_entry(key: str, old: Any, new: Any, direction: Direction) -> dict[str, Any]:
    entry = _pair(key, old, new)
    delta, relative = _delta(old, new)
    entry.update(delta=delta, relative=relative, **direction.to_json())
    if delta is not None:
        entry["verdict"] = judge(old, new, direction)
    else:
        entry["verdict"] = entry["change"]
    return entry


def _series(
    old: Mapping[str, Any], new: Mapping[str, Any], config: Mapping[str, Mapping[str, Any]]
) -> list[dict[str, Any]]:
    """Per-step series summarised as best (by the metric's goal), last value and step count."""
    entries = []
    for key in _keys(old, new):
        goal = direction_for(key, config).goal
        entries.append(
            _pair(key, _summary(old.get(key, _ABSENT), goal), _summary(new.get(key, _ABSENT), goal))
        )
    return entries


def _summary(series: Any, goal: str) -> Any:
    if series is _ABSENT or not isinstance(series, Mapping):
        return series
    best = series.get("max") if goal == MAXIMIZE else series.get("min")
    return {"best": best, "last": series.get("last"), "steps": series.get("steps")}


# -- data ------------------------------------------------------------------------
def data_entries(
    old: Mapping[str, Any],
    new: Mapping[str, Any],
    before: Side,
    after: Side,
    *,
    max_paths: int | None = MAX_PATHS,
    drift: Thresholds | None = None,
) -> list[dict[str, Any]]:
    """Per dataset name: identity compared; with both manifests, files added/removed/modified;
    with both profiles, columns and drift (:func:`mlog.profile.drift.compare_profiles`)."""
    old_data, new_data = old.get("data") or {}, new.get("data") or {}
    entries = []
    for name in _keys(old_data, new_data):
        entry = _pair(
            name, _dataset(old_data.get(name, _ABSENT)), _dataset(new_data.get(name, _ABSENT))
        )
        pair = (before.manifests.get(name), after.manifests.get(name))
        changed = entry["change"] == CHANGED
        if changed and pair[0] is not None and pair[1] is not None:
            entry["files"] = file_changes(pair[0], pair[1], max_paths=max_paths)
        else:
            entry["files"] = None
        profiles = (before.profiles.get(name), after.profiles.get(name))
        if changed and profiles[0] is not None and profiles[1] is not None:
            entry["profile"] = compare_profiles(profiles[0], profiles[1], drift)
        else:
            entry["profile"] = None
        entries.append(entry)
    return entries


def signature_entries(old: Any, new: Any) -> list[dict[str, Any]]:
    """Per signature field (``inputs.NAME``, ``outputs.NAME``): any change is breaking, since
    a caller built for one signature cannot feed or read the other."""
    entries = _pairs(fields_by_key(old), fields_by_key(new))
    for entry in entries:
        entry["breaking"] = entry["change"] != SAME
    return entries


def _dataset(dataset: Any) -> Any:
    """The identity of a dataset: DVC/LFS pointers and URIs are compared by hash or version only."""
    if not isinstance(dataset, Mapping):
        return dataset
    return {key: dataset.get(key) for key in DATASET_KEYS if key in dataset}


def file_changes(
    old: tuple[ManifestEntry, ...], new: tuple[ManifestEntry, ...], *, max_paths: int | None
) -> dict[str, Any]:
    """Counts and the first paths of files added, removed and modified between two manifests."""
    from mlog.storage.hashing import diff_manifests

    found = diff_manifests(old, new)
    listed = {
        kind: {"count": len(paths), "paths": list(paths[:max_paths] if max_paths else paths)}
        for kind, paths in (
            (ADDED, found.added),
            (REMOVED, found.removed),
            ("modified", found.modified),
        )
    }
    return {**listed, "bytes_changed": found.bytes_changed}


# -- code ------------------------------------------------------------------------
def _code(
    old: Mapping[str, Any], new: Mapping[str, Any], history: CodeHistory | None
) -> dict[str, Any]:
    before = {key: old.get(key) for key in CODE_KEYS}
    after = {key: new.get(key) for key in CODE_KEYS}
    code: dict[str, Any] = {
        "change": SAME if same(before, after) else CHANGED,
        "old": before,
        "new": after,
        "reachable": None if history is None else history.reachable,
        "ahead": [],
        "behind": [],
        "files": [],
    }
    if history is not None:
        code["ahead"] = [{"sha": sha, "subject": subject} for sha, subject in history.ahead]
        code["behind"] = [{"sha": sha, "subject": subject} for sha, subject in history.behind]
        code["files"] = [{"path": p, "added": a, "deleted": d} for p, a, d in history.files]
    return code


# -- environment and packages ------------------------------------------------------
PACKAGE_KINDS = ("added", "removed", "upgraded", "downgraded", "changed")


def _environment(record: Mapping[str, Any], side: Side) -> dict[str, Any]:
    """Flattened environment; the package list is compared by name, unless it is unreadable."""
    environment = dict(record.get("environment") or {})
    packages = environment.pop("packages", None) or {}
    flat = flatten(environment)
    if side.packages is None and packages.get("object"):
        flat["packages.object"] = packages["object"]
    return flat


def package_changes(
    old: tuple[str, ...] | None, new: tuple[str, ...] | None
) -> dict[str, list[dict[str, Any]]]:
    """Packages added, removed, upgraded, downgraded, or changed (``1.0`` vs ``1.0.0``)."""
    changes: dict[str, list[dict[str, Any]]] = {kind: [] for kind in PACKAGE_KINDS}
    if old is None or new is None:
        return changes
    before, after = _parse_packages(old), _parse_packages(new)
    for name in _keys(before, after):
        if name not in before:
            changes["added"].append({"name": name, "version": after[name]})
        elif name not in after:
            changes["removed"].append({"name": name, "version": before[name]})
        elif before[name] != after[name]:
            order = compare_versions(before[name], after[name])
            kind = "upgraded" if order < 0 else "downgraded" if order > 0 else "changed"
            changes[kind].append({"name": name, "old": before[name], "new": after[name]})
    return changes


def _parse_packages(lines: tuple[str, ...]) -> dict[str, str]:
    pairs = (line.strip().partition("==") for line in lines)
    return {name: version for name, sep, version in pairs if sep and name}


def compare_versions(a: str, b: str) -> int:
    """-1, 0 or 1, by PEP 440 (``packaging`` is a dependency); by numeric parts for versions
    that are not PEP 440 (some Debian or conda builds)."""
    from packaging.version import InvalidVersion, Version

    try:
        va, vb = Version(a), Version(b)
        return (va > vb) - (va < vb)
    except InvalidVersion:
        pass
    ta, tb = _numeric(a), _numeric(b)
    return (ta > tb) - (ta < tb)


def _numeric(version: str) -> tuple[int, ...]:
    return tuple(int(part) for part in re.findall(r"\d+", version))


# -- command and resources -----------------------------------------------------------
def _command(record: Mapping[str, Any], keys: tuple[str, ...]) -> dict[str, Any]:
    command = {
        **(record.get("command") or {}),
        "model": record.get("model"),
        "status": record.get("status"),
    }
    return {key: command[key] for key in keys if key in command}


def _resources(old: Mapping[str, Any], new: Mapping[str, Any]) -> list[dict[str, Any]]:
    entries = _pairs(old, new)
    for entry in entries:
        entry["delta"], entry["relative"] = _delta(entry["old"], entry["new"])
    return entries


def read_side(store: Store, record: Mapping[str, Any], warnings: list[str]) -> Side:
    """Package lines, dataset manifests and profiles of a run; unreadable objects are warnings."""
    from mlog.errors import MlogError
    from mlog.storage.hashing import manifest_from_bytes

    packages = None
    object_id = ((record.get("environment") or {}).get("packages") or {}).get("object")
    manifests: dict[str, tuple[ManifestEntry, ...]] = {}
    try:
        if object_id:
            packages = tuple(store.get_object(object_id).decode("utf-8").splitlines())
        for name, dataset in (record.get("data") or {}).items():
            if isinstance(dataset, Mapping) and dataset.get("manifest"):
                raw = store.get_object(dataset["manifest"])
                manifests[name] = tuple(manifest_from_bytes(raw))
    except (MlogError, UnicodeDecodeError) as exc:
        warnings.append(f"run {record.get('alias')}: {exc}; compared by hash only")
    return Side(packages, manifests, read_profiles(store, record, warnings))


def read_profiles(
    store: Store, record: Mapping[str, Any], warnings: list[str]
) -> dict[str, dict[str, Any]]:
    """The stored data profiles of a run's datasets; an unreadable one becomes a warning."""
    from mlog.errors import MlogError
    from mlog.profile.objects import load_profile

    profiles: dict[str, dict[str, Any]] = {}
    for name, dataset in (record.get("data") or {}).items():
        try:
            found = load_profile(store, dataset) if isinstance(dataset, Mapping) else None
        except MlogError as exc:
            warnings.append(f"run {record.get('alias')}: dataset {name}: {exc}; no profile diff")
            continue
        if found is not None:
            profiles[name] = found
    return profiles


def drift_thresholds(store: Store) -> Thresholds:
    """``drift:`` from config over the defaults."""
    return Thresholds.from_config(store.config().raw.get("drift"))


def compare(
    store: Store,
    old_id: str,
    new_id: str,
    *,
    include_same: bool = False,
    max_paths: int | None = MAX_PATHS,
) -> dict[str, Any]:
    """Load two runs with their objects and git history, and diff them."""
    old, new = store.load_record(old_id), store.load_record(new_id)
    warnings: list[str] = []
    if old.get("model") != new.get("model"):
        warnings.append(
            f"comparing runs of different models: {old.get('alias')} is {old.get('model')}, "
            f"{new.get('alias')} is {new.get('model')}"
        )
    result = diff_records(
        old,
        new,
        old_side=read_side(store, old, warnings),
        new_side=read_side(store, new, warnings),
        history=_history(store, old, new),
        metric_config=store.config().metrics,
        drift=drift_thresholds(store),
        include_same=include_same,
        max_paths=max_paths,
    )
    if result["code"]["reachable"] is False:
        warnings.append("a commit of these runs is not in this clone: commits and files not listed")
    result["warnings"] = warnings
    result["tampered"] = [run_id for run_id in (old_id, new_id) if run_id in store.unverified]
    result["stale"] = {"a": stale_outputs(old), "b": stale_outputs(new)}
    return result


def _history(store: Store, old: Mapping[str, Any], new: Mapping[str, Any]) -> CodeHistory | None:
    from mlog.storage import gitio

    before, after = (old.get("code") or {}).get("commit"), (new.get("code") or {}).get("commit")
    if not before or not after or before == after:
        return None
    return gitio.code_history(store.repo_root, before, after)
