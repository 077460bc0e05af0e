"""The validation report written into every run: is it better than the champion?

Each metric is judged with its direction and tolerance (:mod:`mlog.compare.directions`):
``improved``, ``within_tolerance``, ``regressed``, ``missing`` (the champion has it,
this run does not) or ``new`` (only this run has it, not judged). The overall verdict
is the worst that applies, in this order: ``regressed``, ``missing``, ``improved``,
``within_tolerance``; ``no_metrics`` when nothing could be compared and ``no_champion``
when the model has none. Data changes against the champion's data are summarised too, with
the drift of each profiled dataset's columns (``data.drifted`` says whether any drifted).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from mlog.compare.directions import (
    IMPROVED,
    REGRESSED,
    WITHIN_TOLERANCE,
    direction_for,
    is_number,
    judge,
)
from mlog.errors import MlogError, RecordError
from mlog.storage.store import Store

MISSING, NEW = "missing", "new"
NO_CHAMPION, NO_METRICS = "no_champion", "no_metrics"
OVERALL_ORDER = (REGRESSED, MISSING, IMPROVED, WITHIN_TOLERANCE)
DATA_PATHS = 5


@dataclass(frozen=True)
class Against:
    """The champion a run is judged against: who it is, where that comes from, its record.

    The registry decides who the champion is (:mod:`mlog.registry.champion`); this module
    only compares, so it never needs the registry.
    """

    run: str
    model: str
    source: str
    record: Mapping[str, Any]


def attach(
    store: Store, record: dict[str, Any], against: Against | None
) -> tuple[dict[str, Any] | None, list[str]]:
    """The report for a run being finished, and warnings: a failure never loses the record."""
    try:
        found = report(store, record, against)
        _check_shape(found)
        return found, []
    except MlogError as exc:
        return None, [f"validation skipped: {exc}"]
    except Exception as exc:  # a bug here must not cost the user their record
        return None, [f"validation failed unexpectedly: {exc!r}"]


def _check_shape(found: dict[str, Any]) -> None:
    """Refuse a report the record schema would reject, so it can never block writing the run."""
    from mlog.storage.schema import part_problems

    errors = part_problems({"validation": found}, "run")
    if errors:
        raise RecordError(f"validation report does not fit the record schema: {errors[0]}")


def report(store: Store, record: Mapping[str, Any], against: Against | None) -> dict[str, Any]:
    """Compare a run with its model's champion, metric by metric, and its data with theirs."""
    config = store.config().metrics
    metrics = record.get("metrics") or {}
    if against is None or against.run == record.get("id"):
        judged = [_metric(name, None, metrics.get(name), config) for name in sorted(metrics)]
        return _report(NO_CHAMPION, None, [j for j in judged if is_number(j["value"])], None)
    champion = against.record
    judged = judge_metrics(champion.get("metrics") or {}, metrics, config)
    summary = {
        "run": against.run,
        "alias": champion.get("alias"),
        "model": against.model,
        "source": against.source,
    }
    return _report(overall(judged), summary, judged, data_changes(store, champion, record))


def _report(
    verdict: str,
    champion: dict[str, Any] | None,
    judged: list[dict[str, Any]],
    data: dict[str, Any] | None,
) -> dict[str, Any]:
    return {
        "verdict": verdict,
        "champion": champion,
        "metrics": judged,
        "guessed": [entry["name"] for entry in judged if entry["guessed"]],
        "data": data,
    }


def judge_metrics(
    champion: Mapping[str, Any], new: Mapping[str, Any], config: Mapping[str, Mapping[str, Any]]
) -> list[dict[str, Any]]:
    """One entry per numeric metric of either run, sorted by name."""
    names = sorted(
        n for n in {*champion, *new} if is_number(champion.get(n)) or is_number(new.get(n))
    )
    return [_metric(name, champion.get(name), new.get(name), config) for name in names]


def _metric(
    name: str, old: Any, new: Any, config: Mapping[str, Mapping[str, Any]]
) -> dict[str, Any]:
    direction = direction_for(name, config)
    old_value = old if is_number(old) else None
    new_value = new if is_number(new) else None
    entry: dict[str, Any] = {"name": name, "champion": old_value, "value": new_value}
    if old_value is None:
        verdict, delta, relative = NEW, None, None
    elif new_value is None:
        verdict, delta, relative = MISSING, None, None
    else:
        delta = new_value - old_value
        relative = delta / abs(old_value) if old_value else None
        verdict = judge(old_value, new_value, direction)
    entry.update(delta=delta, relative=relative, **direction.to_json(), verdict=verdict)
    return entry


def overall(judged: list[dict[str, Any]]) -> str:
    """The worst verdict that applies; ``no_metrics`` when no metric could be compared."""
    verdicts = {entry["verdict"] for entry in judged}
    return next((v for v in OVERALL_ORDER if v in verdicts), NO_METRICS)


def data_changes(
    store: Store, champion: Mapping[str, Any], record: Mapping[str, Any]
) -> dict[str, Any]:
    """Datasets whose identity differs from the champion's, with file counts from manifests
    and, when both sides were profiled, the drift of their columns."""
    from mlog.compare.diff import SAME, data_entries, drift_thresholds, read_side

    warnings: list[str] = []
    before, after = read_side(store, champion, warnings), read_side(store, record, warnings)
    entries = data_entries(
        champion, record, before, after, max_paths=DATA_PATHS, drift=drift_thresholds(store)
    )
    datasets = [_dataset_change(entry) for entry in entries if entry["change"] != SAME]
    drifted = any((d.get("drift") or {}).get("drifted") for d in datasets)
    return {"changed": bool(datasets), "drifted": drifted, "datasets": datasets}


def _dataset_change(entry: Mapping[str, Any]) -> dict[str, Any]:
    def identity(side: Any) -> str | None:
        if not isinstance(side, Mapping):
            return None
        value = side.get("hash") or side.get("version")
        return None if value is None else str(value)

    return {
        "name": entry["key"],
        "change": entry["change"],
        "champion": identity(entry["old"]),
        "run": identity(entry["new"]),
        "files": entry["files"],
        "drift": drift_summary(entry.get("profile")),
    }


def drift_summary(found: Mapping[str, Any] | None) -> dict[str, Any] | None:
    """What the report keeps of a profile comparison: the columns that matter, not all."""
    if found is None:
        return None
    columns = {
        c["name"]: {"psi": c["psi"], "null_rate": [c["null_rate"]["old"], c["null_rate"]["new"]]}
        for c in found["columns"]
        if c["drifted"]
    }
    return {
        "drifted": list(found["drifted"]),
        "added_columns": list(found["added_columns"]),
        "removed_columns": list(found["removed_columns"]),
        "type_changes": list(found["type_changes"]),
        "max_psi": found["max_psi"],
        "columns": columns,
    }
