"""Data profiles of a run's tabular datasets: computed once per content hash, stored as objects.

The record's dataset entry gets ``profile: {object, rows, columns, sample}``; the full
profile (see :mod:`mlog.profile.compute`) is a JSON object in ``.mlog/objects``. A dataset
whose content hash was profiled before (by this clone, or by a run in the history) is not
read again. Without pyarrow the run is recorded anyway, with one warning naming the extra.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from mlog.errors import MlogError

if TYPE_CHECKING:
    from pathlib import Path

    from mlog.capture.datasets import DataEntry
    from mlog.profile.compute import ProfileSettings
    from mlog.storage.config import Config
    from mlog.storage.store import Store

PROFILED_KINDS = ("file", "directory", "glob")
HISTORY_RUNS = 100


@dataclass(frozen=True)
class ProfilePolicy:
    """``profile:`` in config: on or off, datasets skipped by name, when to sample."""

    enabled: bool = True
    skip: frozenset[str] = frozenset()
    sample_above_bytes: int | None = None

    @classmethod
    def from_config(cls, config: Config) -> ProfilePolicy:
        from mlog.profile.formats import DEFAULT_SAMPLE_ABOVE

        section = config.raw.get("profile") or {}
        return cls(
            enabled=bool(section.get("enabled", True)),
            skip=frozenset(str(name) for name in section.get("skip") or ()),
            sample_above_bytes=section.get("sample_above_bytes", DEFAULT_SAMPLE_ABOVE),
        )

    def settings(self) -> ProfileSettings:
        from mlog.profile.compute import ProfileSettings

        return ProfileSettings(sample_above_bytes=self.sample_above_bytes)


def attach_profiles(
    store: Store,
    data: dict[str, dict[str, Any]],
    entries: Mapping[str, DataEntry],
    wanted: set[str],
    policy: ProfilePolicy,
) -> list[str]:
    """Add ``profile`` to each wanted tabular dataset of ``data``; returns warnings.

    The profiler (:mod:`mlog.profile.compute`) is loaded only for a dataset holding a table.
    """
    from mlog.profile.formats import tabular_files

    if not policy.enabled:
        return []
    warnings: list[str] = []
    for name, entry in entries.items():
        if name not in wanted or name in policy.skip or entry.kind not in PROFILED_KINDS:
            continue
        files = tabular_files(_files(str(store.repo_root), entry))
        if not files or not entry.hash:
            continue
        from mlog.profile.compute import ProfilerMissing

        try:
            found = profile_entry(store, entry.hash, entry, files, policy.settings())
        except ProfilerMissing as exc:
            return [*warnings, f"datasets not profiled: {exc}"]  # said once, not per dataset
        except MlogError as exc:
            warnings.append(f"dataset {name} not profiled: {exc}")
            continue
        data[name]["profile"] = found
    return warnings


def profile_entry(
    store: Store, digest: str, entry: DataEntry, files: list[str], settings: ProfileSettings
) -> dict[str, Any]:
    """The record's ``profile`` field for dataset ``entry`` (content hash ``digest``) from its
    tabular ``files``."""
    from mlog.profile.compute import profile_files

    cached = _cached(store, digest, settings.key())
    if cached is not None:
        return cached
    sizes = {m.path: m.size for m in entry.manifest}
    size = sum(sizes.values()) if sizes else None
    found = profile_files(files, size=size, settings=settings)
    object_id = store.put_object(json.dumps(found, sort_keys=True).encode("utf-8"))
    reference = {
        "object": object_id,
        "rows": found["rows"],
        "columns": len(found["columns"]),
        "sample": found["sample"],
    }
    _remember(store, digest, settings.key(), reference)
    return reference


def _files(repo_root: str, entry: DataEntry) -> list[str]:
    """Absolute paths of the dataset's files that may be tabular, in manifest order.

    Only names ending in a tabular extension are joined (a 20,000-file image folder served
    whole by the hash cache costs one search of its listing, not 20,000 entries);
    ``tabular_files`` decides the rest.
    """
    from mlog.profile.formats import EXTENSIONS
    from mlog.storage.hashing import paths_ending_with

    top = os.path.join(repo_root, entry.path)
    if entry.kind == "file":
        return [top]
    names = paths_ending_with(entry.manifest, tuple(EXTENSIONS))
    if entry.kind == "directory":
        return [os.path.join(top, name) for name in names]
    base = os.sep if os.path.isabs(entry.path) else repo_root  # a glob: relative to its root
    return [os.path.join(base, name) for name in names]


def _cache_file(store: Store, digest: str, key: str) -> Path:
    return store.cache_dir / "profiles" / f"{digest.replace(':', '-')}-{key}.json"


def _cached(store: Store, digest: str, key: str) -> dict[str, Any] | None:
    """A profile already made for these bytes: this clone's cache, else a recorded run's."""
    try:
        with open(_cache_file(store, digest, key), encoding="utf-8") as handle:
            reference: dict[str, Any] = json.load(handle)
        if store.has_object(str(reference["object"])):
            return reference
    except (OSError, ValueError, KeyError, TypeError, MlogError):
        pass
    return _from_history(store, digest)


def _from_history(store: Store, digest: str) -> dict[str, Any] | None:
    for run_id in reversed(store.run_ids()[-HISTORY_RUNS:]):
        try:
            record = store.load_record(run_id)
        except MlogError:
            continue
        for dataset in (record.get("data") or {}).values():
            found = dataset.get("profile") if isinstance(dataset, dict) else None
            if dataset.get("hash") != digest or not isinstance(found, dict):
                continue
            if store.has_object(str(found.get("object"))):
                return dict(found)
    return None


def _remember(store: Store, digest: str, key: str, reference: dict[str, Any]) -> None:
    from mlog.storage import atomic

    try:
        path = _cache_file(store, digest, key)
        path.parent.mkdir(parents=True, exist_ok=True)
        atomic.write_text(path, json.dumps(reference, sort_keys=True))
    except OSError:
        pass  # a cache that cannot be written only costs time next run
