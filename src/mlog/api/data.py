"""``mlog data profile`` and ``mlog data review``; ``data diff`` is in :mod:`mlog.api.compare`."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from mlog.api import open_store, refs
from mlog.errors import NotFoundError


def profile(*, cwd: Path, ref: str, dataset: str | None = None) -> dict[str, Any]:
    """The stored profiles of a run's datasets (all, or the one named)."""
    from mlog.compare.diff import identity
    from mlog.profile.objects import load_profile

    store = open_store(cwd)
    record = store.load_record(refs.resolve(store, ref))
    data: Mapping[str, Any] = record.get("data") or {}
    names = [dataset] if dataset is not None else list(data)
    if dataset is not None and dataset not in data:
        raise NotFoundError(
            f"run {record.get('alias')} has no dataset named {dataset!r} "
            f"(it has: {', '.join(data) or 'none'})"
        )
    profiles = {name: load_profile(store, data[name]) for name in names}
    return {"run": identity(record), "profiles": profiles}


def review(*, cwd: Path, target: str, reason: str, by: str | None = None) -> dict[str, Any]:
    """A signed-off data review of MODEL@VERSION: satisfies its ``data_drift`` gate."""
    from mlog.registry import fold

    return fold.review_drift(open_store(cwd), target, reason=reason, by=by)
