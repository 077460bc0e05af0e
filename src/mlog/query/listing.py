"""The ``ls`` operation: filter, sort and cut the run history through the derived index."""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from mlog.errors import UsageError
from mlog.query import index
from mlog.query import language as query
from mlog.storage import sections
from mlog.storage.store import Store, note_unverified

_KEY = re.compile(r"[A-Za-z_][A-Za-z0-9_\-]*(?:\.[A-Za-z0-9_\-]+)*")
SUMMARY_KEYS = sections.SUMMARY_KEYS


def parse_columns(text: str | None) -> tuple[str, ...]:
    """``params.lr,metrics.acc`` → keys; a key naming a section shows all of its values."""
    if not text:
        return ()
    keys = tuple(part.strip() for part in text.split(",") if part.strip())
    for key in keys:
        if not _KEY.fullmatch(key):
            raise UsageError(f"invalid --columns key {key!r} (use dotted keys such as params.lr)")
    return keys


def list_runs(
    store: Store,
    *,
    where: str | None = None,
    sort: str | None = None,
    limit: int | None = None,
    columns: Sequence[str] = (),
) -> list[dict[str, Any]]:
    """Rows of runs matching ``where`` ordered by ``sort`` (newest first), at most ``limit``.

    Each row has the fields of ``api.RunSummary``, with ``columns`` mapping each
    requested key to its value (None where the run lacks it).

    Arguments are checked before the index is touched, so a typo fails fast;
    an unreadable record fails the listing rather than being silently left out.
    """
    condition = query.parse(where) if where and where.strip() else None
    order = query.parse_sort(sort) if sort and sort.strip() else ()
    if limit is not None and limit < 1:
        raise UsageError(f"--limit must be at least 1, not {limit}")
    keys = (*SUMMARY_KEYS, *columns)
    prefixes = ("metrics.", *(f"{column}." for column in columns))
    # With --limit, a warm index is trusted while no run was added or removed, and only
    # the rows shown are re-checked; a changed one means a full refresh, as without it.
    with index.opened(store, quick=limit is not None) as runs:
        index.check_errors(runs.last_refresh)
        hits = runs.search(condition, order, limit, keys=keys, prefixes=prefixes)
        if limit is not None and not runs.unchanged([hit.id for hit in hits]):
            runs.last_refresh = runs.refresh()
            index.check_errors(runs.last_refresh)
            hits = runs.search(condition, order, limit, keys=keys, prefixes=prefixes)
    for hit in hits:
        if hit.tampered:
            note_unverified(hit.id, list(hit.tampered))
    return [_summary(hit.id, hit.values, columns, hit.tampered) for hit in hits]


def _summary(
    run_id: str, values: dict[str, Any], columns: Sequence[str], tampered: Sequence[str]
) -> dict[str, Any]:
    return {
        "id": run_id,
        "verified": not tampered,
        "alias": str(values.get("alias", "")),
        "model": str(values.get("model", "")),
        "status": str(values.get("status", "")),
        "started_at": str(values.get("command.started_at", "")),
        "duration_s": values.get("command.duration_s"),
        "commit": str(values.get("code.commit", ""))[:12],
        "dirty": bool(values.get("code.dirty")),
        "metrics": _section(values, "metrics"),
        "note": values.get("note"),
        "columns": {column: _column(values, column) for column in columns},
    }


def _section(values: dict[str, Any], name: str) -> dict[str, Any]:
    prefix = name + "."
    return {key[len(prefix) :]: v for key, v in values.items() if key.startswith(prefix)}


def _column(values: dict[str, Any], column: str) -> Any:
    """A leaf's value, a section's values as a mapping, or None when the run lacks it."""
    if column in values:
        return values[column]
    return _section(values, column) or None
