"""Turn what a user types for RUN (``v3``, ``latest~1``, an id prefix) into one run id."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from mlog.errors import AmbiguousRefError, NotFoundError, UsageError
from mlog.storage import records

if TYPE_CHECKING:
    from mlog.storage.store import Store

_LATEST = re.compile(r"^latest(?:~([0-9]+))?$")
_MIN_PREFIX = 4


def resolve(store: Store, ref: str) -> str:
    """The run id ``ref`` names; a clear error when it names none or several."""
    ref = ref.strip()
    if not ref:
        raise UsageError("empty run reference (use vN, latest, latest~K or a run id)")
    if "@" in ref:
        return _by_model_version(store, ref)
    if ref == "champion" or ref.startswith("champion:"):
        return _champion(store, ref.partition(":")[2])
    number = records.alias_number(ref)
    if number is not None:
        return _by_alias(store, number, ref)
    if store.has_run(ref):
        return ref  # a full id: one stat, no listing
    ids = store.run_ids()
    latest = _LATEST.match(ref)
    if latest:
        return _nth_latest(ids, int(latest.group(1) or 0), ref)
    return _by_prefix(ids, ref)


def _by_model_version(store: Store, ref: str) -> str:
    """``MODEL@VERSION``: the run a registered model version is pinned to."""
    from mlog.registry import fold as registry

    return registry.resolve_version(store, ref).run


def _champion(store: Store, model: str) -> str:
    """``champion`` (of the config's model) or ``champion:MODEL``: see docs/champion.md."""
    from mlog.registry.champion import champion_record, current_champion

    model = model or store.config().model
    found = current_champion(store, model)
    if found is None:
        raise NotFoundError(f"model {model} has no champion yet (set one with `mlog champion RUN`)")
    return str(champion_record(store, found)["id"])


def _nth_latest(ids: list[str], back: int, ref: str) -> str:
    if not ids:
        raise NotFoundError("no runs recorded yet (start one with `mlog run -- CMD`)")
    if back >= len(ids):
        raise NotFoundError(f"{ref}: only {len(ids)} run(s) recorded")
    return ids[-1 - back]


def _by_alias(store: Store, number: int, ref: str) -> str:
    from mlog.query import index  # `mlog run` imports this module but resolves no reference

    matches = index.runs_with_alias(store, number)
    if not matches:
        raise NotFoundError(f"unknown run {ref} (see `mlog ls`)")
    if len(matches) > 1:
        raise AmbiguousRefError(
            f"alias {ref} names {len(matches)} runs after a merge: {', '.join(matches)} "
            "(use a full run id)"
        )
    return matches[0]


def _by_prefix(ids: list[str], ref: str) -> str:
    if ref in ids:
        return ref
    if len(ref) < _MIN_PREFIX:
        raise NotFoundError(f"unknown run {ref} (use vN, latest, latest~K or a run id prefix)")
    matches = [run_id for run_id in ids if run_id.startswith(ref)]
    if not matches:
        raise NotFoundError(f"unknown run {ref} (see `mlog ls`)")
    if len(matches) > 1:
        shown = ", ".join(matches[:5]) + (" ..." if len(matches) > 5 else "")
        raise AmbiguousRefError(f"run prefix {ref} matches {len(matches)} runs: {shown}")
    return matches[0]
