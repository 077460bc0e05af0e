"""Did a rerun reproduce its original? Metrics within tolerance, artifacts bit for bit (pure).

A metric is reproduced when ``|rerun - original| <= tolerance``, the tolerance configured
for it in ``.mlog/config.yaml`` (``metrics: {auc: {tolerance: 0.002}}``) and 0 otherwise:
exact by default, and in both directions, since a better score is not the same model.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from mlog.compare.directions import direction_for, is_number


def check(
    original: Mapping[str, Any],
    rerun: Mapping[str, Any],
    metric_config: Mapping[str, Mapping[str, Any]],
) -> dict[str, Any]:
    """Per metric and per artifact whether the rerun matches, and the overall verdict."""
    metrics = [
        _metric(name, original.get("metrics") or {}, rerun.get("metrics") or {}, metric_config)
        for name in sorted({*(original.get("metrics") or {}), *(rerun.get("metrics") or {})})
    ]
    artifacts = _artifacts(original.get("artifacts") or [], rerun.get("artifacts") or [])
    failed = [m["name"] for m in metrics if not m["ok"]]
    failed += [a["path"] for a in artifacts if not a["ok"]]
    return {
        "reproduced": not failed,
        "failed": failed,
        "metrics": metrics,
        "artifacts": artifacts,
    }


def _metric(
    name: str,
    before: Mapping[str, Any],
    after: Mapping[str, Any],
    config: Mapping[str, Mapping[str, Any]],
) -> dict[str, Any]:
    old: Any = before.get(name)
    new: Any = after.get(name)
    tolerance = direction_for(name, config).tolerance
    delta = float(new) - float(old) if is_number(old) and is_number(new) else None
    if name not in before or name not in after:
        ok = False
    elif delta is not None:
        ok = abs(delta) <= tolerance
    else:
        ok = repr(old) == repr(new)  # strings, flags, NaN (NaN reproduces NaN)
    return {"name": name, "original": old, "rerun": new, "delta": delta,
            "tolerance": tolerance, "ok": ok}  # fmt: skip


def _artifacts(
    before: list[Mapping[str, Any]], after: list[Mapping[str, Any]]
) -> list[dict[str, Any]]:
    old = {str(a["path"]): a.get("hash") for a in before}
    new = {str(a["path"]): a.get("hash") for a in after}
    return [
        {
            "path": path,
            "original": old.get(path),
            "rerun": new.get(path),
            "ok": path in old and path in new and old[path] == new[path],
        }
        for path in sorted({*old, *new})
    ]
