"""What changed between two profiles of a dataset: columns, types, null rates, and drift.

Drift is the Population Stability Index, PSI = sum over bins of (b - a) * ln(b / a),
where a and b are the shares of the reference (older) and the compared (newer) data in
each bin, with empty bins smoothed to ``EPSILON``. Missing values are a bin of their
own, so a column that gains nulls drifts too.

* numeric columns: the bins are cut at the reference's stored quantiles (equal mass, up
  to ``QUANTILE_BINS``); the newer data's share of each is read from its own quantile
  sketch, interpolated linearly (plus two open bins below and above the reference range);
* categorical columns: one bin per stored top value of either side, plus ``other`` (the
  rest) and missing.

Common reading: below 0.1 no shift, 0.1 to 0.25 moderate, above 0.25 major. The default
threshold is ``DEFAULT_PSI`` and a null-rate change above ``DEFAULT_NULL_RATE`` (absolute)
is drift whatever the PSI. Pure functions over profile dicts.
"""

from __future__ import annotations

import bisect
import itertools
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

EPSILON = 1e-4
DEFAULT_PSI = 0.2
DEFAULT_NULL_RATE = 0.05


@dataclass(frozen=True)
class Thresholds:
    """When a column counts as drifted (``drift:`` in .mlog/config.yaml)."""

    psi: float = DEFAULT_PSI
    null_rate: float = DEFAULT_NULL_RATE

    @classmethod
    def from_config(cls, raw: Mapping[str, Any] | None) -> Thresholds:
        section = raw or {}
        return cls(
            psi=float(section.get("psi", DEFAULT_PSI)),
            null_rate=float(section.get("null_rate", DEFAULT_NULL_RATE)),
        )


def psi(reference: Sequence[float], current: Sequence[float]) -> float:
    """PSI of two share vectors over the same bins (empty bins smoothed)."""
    total = 0.0
    for a, b in zip(reference, current, strict=True):
        a, b = max(a, EPSILON), max(b, EPSILON)
        total += (b - a) * math.log(b / a)
    return total


def cdf(quantiles: Sequence[float], x: float) -> float:
    """Share of values <= x, from evenly spaced quantile points (linear between them)."""
    if not quantiles or x < quantiles[0]:
        return 0.0
    if x >= quantiles[-1]:
        return 1.0
    last = bisect.bisect_right(quantiles, x) - 1  # quantiles[last] <= x < quantiles[last + 1]
    low, high = quantiles[last], quantiles[last + 1]
    return (last + (x - low) / (high - low)) / (len(quantiles) - 1)


def numeric_shares(quantiles: Sequence[float], edges: Sequence[float]) -> list[float]:
    """Shares of non-missing values in (-inf, e0], (e0, e1], ..., (e_last, inf)."""
    points = [cdf(quantiles, e) for e in edges]
    shares = [points[0]] + [b - a for a, b in itertools.pairwise(points)]
    return [*shares, 1.0 - points[-1]]


def numeric_psi(old: Mapping[str, Any], new: Mapping[str, Any]) -> float | None:
    ref, cur = old.get("quantiles") or [], new.get("quantiles") or []
    if not ref or not cur:
        return None
    edges = sorted(set(ref))
    a = _with_missing(numeric_shares(ref, edges), old)
    b = _with_missing(numeric_shares(cur, edges), new)
    return psi(a, b)


def categorical_psi(
    old: Mapping[str, Any], new: Mapping[str, Any], old_rows: int, new_rows: int
) -> float | None:
    if not old_rows or not new_rows:
        return None
    counts_a = {t["value"]: t["count"] for t in old.get("top") or []}
    counts_b = {t["value"]: t["count"] for t in new.get("top") or []}
    values = sorted({*counts_a, *counts_b})
    a = [counts_a.get(v, 0) / old_rows for v in values]
    b = [counts_b.get(v, 0) / new_rows for v in values]
    a.append(max(0.0, 1.0 - sum(a) - _null_rate(old)))  # other
    b.append(max(0.0, 1.0 - sum(b) - _null_rate(new)))
    return psi([*a, _null_rate(old)], [*b, _null_rate(new)])


def _null_rate(column: Mapping[str, Any]) -> float:
    return float(column.get("null_rate") or 0.0)


def _with_missing(shares: list[float], column: Mapping[str, Any]) -> list[float]:
    present = 1.0 - _null_rate(column)
    return [s * present for s in shares] + [_null_rate(column)]


def _profiled_rows(profile: Mapping[str, Any]) -> int:
    sample = profile.get("sample")
    return int(sample["rows"] if sample else profile.get("rows") or 0)


def column_drift(
    old: Mapping[str, Any], new: Mapping[str, Any], old_rows: int, new_rows: int
) -> tuple[str, float | None]:
    """The method used and the PSI of one column present on both sides."""
    if old.get("kind") != new.get("kind"):
        return "none", None
    if old.get("kind") == "numeric":
        return "psi-quantiles", numeric_psi(old, new)
    if old.get("kind") == "categorical":
        return "psi-top-values", categorical_psi(old, new, old_rows, new_rows)
    return "null-rate", None


def compare_profiles(
    old: Mapping[str, Any], new: Mapping[str, Any], thresholds: Thresholds | None = None
) -> dict[str, Any]:
    """Columns added, removed, retyped, and per shared column null rates, PSI and a verdict."""
    limits = thresholds or Thresholds()
    before = {c["name"]: c for c in old.get("columns") or []}
    after = {c["name"]: c for c in new.get("columns") or []}
    rows = (_profiled_rows(old), _profiled_rows(new))
    columns = [
        _column(name, before[name], after[name], rows, limits) for name in before if name in after
    ]
    added = [name for name in after if name not in before]
    removed = [name for name in before if name not in after]
    retyped = [c["name"] for c in columns if c["type_changed"]]
    drifted = [c["name"] for c in columns if c["drifted"]]
    return {
        "rows": {"old": old.get("rows"), "new": new.get("rows")},
        "added_columns": added,
        "removed_columns": removed,
        "type_changes": retyped,
        "drifted": drifted,
        "max_psi": max((c["psi"] for c in columns if c["psi"] is not None), default=None),
        "thresholds": {"psi": limits.psi, "null_rate": limits.null_rate},
        "changed": bool(added or removed or retyped or drifted),
        "columns": columns,
    }


def _column(
    name: str,
    old: Mapping[str, Any],
    new: Mapping[str, Any],
    rows: tuple[int, int],
    limits: Thresholds,
) -> dict[str, Any]:
    method, score = column_drift(old, new, *rows)
    null_old, null_new = _null_rate(old), _null_rate(new)
    retyped = old.get("type") != new.get("type")
    over_psi = score is not None and score > limits.psi
    over_nulls = abs(null_new - null_old) > limits.null_rate
    return {
        "name": name,
        "type": {"old": old.get("type"), "new": new.get("type")},
        "type_changed": retyped,
        "null_rate": {"old": null_old, "new": null_new},
        "method": method,
        "psi": None if score is None else round(score, 6),
        "drifted": over_psi or over_nulls,
    }


def mirror(found: Mapping[str, Any]) -> dict[str, Any]:
    """The comparison read the other way round (PSI kept: its bins come from one side)."""

    def swap(pair: Mapping[str, Any]) -> dict[str, Any]:
        return {"old": pair["new"], "new": pair["old"]}

    columns = [
        {**c, "type": swap(c["type"]), "null_rate": swap(c["null_rate"])} for c in found["columns"]
    ]
    return {
        **found,
        "rows": swap(found["rows"]),
        "added_columns": found["removed_columns"],
        "removed_columns": found["added_columns"],
        "columns": columns,
    }
