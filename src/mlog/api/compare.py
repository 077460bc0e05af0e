"""Comparing runs: ``diff``, ``data diff`` and ``champion`` (show or set)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from mlog.api import open_store, refs
from mlog.compare import diff as differ
from mlog.errors import NotFoundError
from mlog.registry import champion as champions
from mlog.registry import events

if TYPE_CHECKING:
    from mlog.storage.store import Store


def diff(
    *,
    cwd: Path,
    a: str | None = None,
    b: str | None = None,
    include_same: bool = False,
    max_paths: int | None = differ.MAX_PATHS,
) -> dict[str, Any]:
    """``mlog diff``: pick the two runs, diff them, and say how A was chosen."""
    store = open_store(cwd)
    old_id, new_id, how = pick_runs(store, a, b)
    result = differ.compare(store, old_id, new_id, include_same=include_same, max_paths=max_paths)
    result["a_chosen_as"] = how
    return result


def pick_runs(store: Store, a: str | None, b: str | None) -> tuple[str, str, str]:
    """Resolve A and B with the defaults: B the newest run, A the champion of B's model, else
    the run before B. The third value says how A was chosen: ``given``, ``champion`` or
    ``previous``."""
    new_id = refs.resolve(store, b or "latest")
    if a:
        return refs.resolve(store, a), new_id, "given"
    model = store.load_record(new_id).get("model") or store.config().model
    champ = champions.current_champion(store, str(model))
    if champ is not None and champ.run != new_id:
        champions.champion_record(store, champ)  # a deleted champion is an error, not a fallback
        return champ.run, new_id, "champion"
    return _previous(store, new_id), new_id, "previous"


def _previous(store: Store, run_id: str) -> str:
    ids = store.run_ids()
    position = ids.index(run_id)
    if position == 0:
        raise NotFoundError(
            "nothing to compare with: no champion and no earlier run "
            "(record another run, or name two runs: `mlog diff A B`)"
        )
    return ids[position - 1]


def data_diff(*, cwd: Path, a: str, b: str, dataset: str | None = None) -> dict[str, Any]:
    """``mlog data diff``: every dataset of two runs, with every file added, removed, modified,
    and for profiled tables the columns added, removed, retyped and drifted."""
    store = open_store(cwd)
    old, new = (store.load_record(refs.resolve(store, ref)) for ref in (a, b))
    warnings: list[str] = []
    sides = differ.read_side(store, old, warnings), differ.read_side(store, new, warnings)
    thresholds = differ.drift_thresholds(store)
    entries = differ.data_entries(old, new, *sides, max_paths=None, drift=thresholds)
    if dataset is not None:
        entries = [entry for entry in entries if entry["key"] == dataset]
        if not entries:
            raise NotFoundError(f"neither run declares a dataset named {dataset!r}")
    return {
        "a": differ.identity(old),
        "b": differ.identity(new),
        "datasets": entries,
        "warnings": warnings,
    }


def champion(*, cwd: Path, model: str | None = None) -> dict[str, Any]:
    """The champion of a model (default: the config's) as plain data, flagging a deleted record."""
    store = open_store(cwd)
    name = events.check_model_name(model or store.config().model)
    found = champions.current_champion(store, name)
    if found is None:
        return {"model": name, "champion": None}
    missing = not store.has_run(found.run)
    alias = None if missing else store.load_record(found.run).get("alias")
    verified = not missing and found.run not in store.unverified
    return {
        "model": name,
        "champion": {**found.to_json(), "alias": alias, "verified": verified},
        "missing": missing,
    }


def set_champion(
    *,
    cwd: Path,
    ref: str,
    model: str | None = None,
    by: str | None = None,
    reason: str | None = None,
    force: bool = False,
) -> champions.SetResult:
    """``mlog champion RUN``: resolve the run and append the champion event."""
    from mlog.registry.fold import who

    store = open_store(cwd)
    record = store.load_record(refs.resolve(store, ref))
    if model is not None:
        events.check_model_name(model)
    return champions.set_champion(
        store, record, model=model, by=who(store, by), reason=reason, force=force
    )
