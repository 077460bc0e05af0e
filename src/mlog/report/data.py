"""What the report's table and charts show, computed from records alone; pure, no plotting.

Everything here takes records (oldest first), per-step points and champions as plain data
and returns dataclasses, so the numbers a chart draws are unit-tested without a browser.
:mod:`mlog.report.plots` turns them into figures and :mod:`mlog.report.page` into a page.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from mlog.compare.directions import REGRESSED, Direction, direction_for, is_number
from mlog.storage.flatten import flatten
from mlog.storage.records import integrity_matches

MAX_RUN_TRACES = 10
"""Series charts draw the newest runs as their own lines; older ones share one grey line."""
KEY_PARAMS = 6
KEY_METRICS = 6
CHAMPION, RUN, OLDER = "champion", "run", "older"


def alias(record: Mapping[str, Any]) -> str:
    return str(record.get("alias") or str(record.get("id"))[:8])


def compact(value: float) -> float:
    """A float to 6 significant digits: what a chart can show, and a third of the bytes."""
    return float(f"{value:.6g}")


# -- the runs table ----------------------------------------------------------------------
@dataclass(frozen=True)
class RunRow:
    id: str
    alias: str
    model: str
    status: str
    commit: str
    started_at: str
    params: dict[str, Any]
    metrics: dict[str, Any]
    verdict: str | None
    champion: bool
    intact: bool = True
    """False when the record's integrity hash does not match its content (edited by hand)."""


@dataclass(frozen=True)
class RunsTable:
    param_keys: list[str]
    metric_keys: list[str]
    rows: list[RunRow]


def runs_table(
    records: Sequence[Mapping[str, Any]], champions: Mapping[str, str | None]
) -> RunsTable:
    """One row per run, newest first, with the params that vary and the numeric metrics."""
    flat = [flatten(record.get("params") or {}) for record in records]
    param_keys = key_params(flat)
    metric_keys = metric_names(records)[:KEY_METRICS]
    rows = [
        _row(record, params, param_keys, metric_keys, champions)
        for record, params in zip(records, flat, strict=True)
    ]
    return RunsTable(param_keys, metric_keys, rows[::-1])


def key_params(flat: Sequence[Mapping[str, Any]], limit: int = KEY_PARAMS) -> list[str]:
    """Params whose value differs between runs come first (they explain the metrics)."""
    keys = sorted({key for params in flat for key in params})
    varying = [k for k in keys if len({repr(params.get(k)) for params in flat}) > 1]
    constant = [k for k in keys if k not in varying]
    return (varying + constant)[:limit]


def metric_names(records: Sequence[Mapping[str, Any]]) -> list[str]:
    """Names of the final metrics that are a number in at least one run, sorted."""
    return sorted(
        {
            str(name)
            for record in records
            for name, value in (record.get("metrics") or {}).items()
            if is_number(value)
        }
    )


def _row(
    record: Mapping[str, Any],
    params: Mapping[str, Any],
    param_keys: Sequence[str],
    metric_keys: Sequence[str],
    champions: Mapping[str, str | None],
) -> RunRow:
    metrics = record.get("metrics") or {}
    model = str(record.get("model") or "")
    return RunRow(
        id=str(record.get("id")),
        alias=alias(record),
        model=model,
        status=str(record.get("status") or ""),
        commit=str((record.get("code") or {}).get("commit") or "")[:10],
        started_at=str((record.get("command") or {}).get("started_at") or ""),
        params={key: params.get(key) for key in param_keys},
        metrics={key: metrics.get(key) for key in metric_keys},
        verdict=(record.get("validation") or {}).get("verdict"),
        champion=champions.get(model) == record.get("id"),
        intact=integrity_matches(dict(record)),
    )


# -- series over steps -------------------------------------------------------------------
@dataclass
class Trace:
    """Lines drawn alike and named once in the legend: one per run, ``xs[i]`` its steps."""

    name: str
    role: str
    xs: list[list[int]] = field(default_factory=list)
    ys: list[list[float]] = field(default_factory=list)
    runs: list[str] = field(default_factory=list)

    def add(self, run: str, steps: Sequence[tuple[int, float]]) -> None:
        if steps:
            self.xs.append([step for step, _ in steps])
            self.ys.append([value for _, value in steps])
            self.runs.append(run)


@dataclass(frozen=True)
class SeriesChart:
    name: str
    goal: str
    traces: list[Trace]


def series_charts(
    records: Sequence[Mapping[str, Any]],
    points: Mapping[str, Sequence[Mapping[str, Any]]],
    champions: Mapping[str, Mapping[str, Any]],
    config: Mapping[str, Mapping[str, Any]],
    *,
    max_runs: int = MAX_RUN_TRACES,
) -> list[SeriesChart]:
    """A chart per logged series: the champion's line, the newest runs' lines, the rest grey.

    ``points`` maps a run id to its sidecar points (``{name, step, value}``); ``champions``
    maps a model to its champion's record, drawn even when the selection leaves it out.
    """
    champion_ids = {str(record.get("id")) for record in champions.values()}
    others = [r for r in records if str(r.get("id")) not in champion_ids]
    cut = max(len(others) - max_runs, 0)
    older, recent = others[:cut], others[cut:]
    names = sorted({str(p["name"]) for run in points.values() for p in run})
    charts = []
    for name in names:
        traces = [_older_trace(name, older, points)] if older else []
        traces += [_run_trace(name, record, points, RUN) for record in recent]
        traces += [_run_trace(name, record, points, CHAMPION) for record in champions.values()]
        drawn = [trace for trace in traces if trace.runs]
        if drawn:
            charts.append(SeriesChart(name, direction_for(name, config).goal, drawn))
    return charts


def _steps(name: str, run_points: Sequence[Mapping[str, Any]]) -> list[tuple[int, float]]:
    found = {
        int(point["step"]): compact(float(point["value"]))
        for point in run_points
        if point.get("name") == name and is_number(point.get("value"))
    }
    return sorted(found.items())


def _run_trace(
    name: str,
    record: Mapping[str, Any],
    points: Mapping[str, Sequence[Mapping[str, Any]]],
    role: str,
) -> Trace:
    trace = Trace(alias(record) + (" (champion)" if role == CHAMPION else ""), role)
    trace.add(alias(record), _steps(name, points.get(str(record.get("id")), ())))
    return trace


def _older_trace(
    name: str,
    records: Sequence[Mapping[str, Any]],
    points: Mapping[str, Sequence[Mapping[str, Any]]],
) -> Trace:
    trace = Trace(f"{len(records)} older run{'s' if len(records) > 1 else ''}", OLDER)
    for record in records:
        trace.add(alias(record), _steps(name, points.get(str(record.get("id")), ())))
    return trace


# -- final metrics across runs -------------------------------------------------------------
@dataclass(frozen=True)
class Baseline:
    """A model's champion value of a metric and the band within which a change is noise."""

    model: str
    alias: str
    value: float
    tolerance: float


@dataclass
class MetricSeries:
    """One model's runs in time order: when, which run, the value, and whether it regressed."""

    model: str
    started_at: list[str] = field(default_factory=list)
    runs: list[str] = field(default_factory=list)
    values: list[float] = field(default_factory=list)
    regressed: list[bool] = field(default_factory=list)


@dataclass(frozen=True)
class MetricChart:
    name: str
    goal: str
    guessed: bool
    series: list[MetricSeries]
    baselines: list[Baseline]

    @property
    def regressions(self) -> int:
        return sum(sum(s.regressed) for s in self.series)


def metric_charts(
    records: Sequence[Mapping[str, Any]],
    champions: Mapping[str, Mapping[str, Any]],
    config: Mapping[str, Mapping[str, Any]],
) -> list[MetricChart]:
    """A chart per final metric: each model's runs in time order against its champion.

    A run is marked regressed on a metric when its own validation report says so: judged
    against the champion of its day, when it was recorded, not against today's champion
    (every run before an improvement would otherwise look like a regression).
    """
    charts = []
    for name in metric_names(records):
        direction = direction_for(name, config)
        baselines = _baselines(name, champions, direction)
        by_model: dict[str, MetricSeries] = {}
        for record in records:
            value: Any = (record.get("metrics") or {}).get(name)
            if not is_number(value):
                continue
            model = str(record.get("model") or "")
            series = by_model.setdefault(model, MetricSeries(model))
            series.started_at.append(str((record.get("command") or {}).get("started_at") or ""))
            series.runs.append(alias(record))
            series.values.append(compact(float(value)))
            series.regressed.append(regressed(record, name))
        charts.append(
            MetricChart(
                name,
                direction.goal,
                direction.guessed,
                list(by_model.values()),
                [baselines[m] for m in by_model if m in baselines],
            )
        )
    return charts


def _baselines(
    name: str, champions: Mapping[str, Mapping[str, Any]], direction: Direction
) -> dict[str, Baseline]:
    found = {}
    for model, record in champions.items():
        value: Any = (record.get("metrics") or {}).get(name)
        if is_number(value):
            found[model] = Baseline(model, alias(record), float(value), direction.tolerance)
    return found


def regressed(record: Mapping[str, Any], name: str) -> bool:
    """Whether the run's validation report (written when it ran) judged ``name`` regressed."""
    judged = (record.get("validation") or {}).get("metrics") or []
    return any(
        isinstance(entry, Mapping)
        and entry.get("name") == name
        and entry.get("verdict") == REGRESSED
        for entry in judged
    )


# -- registry timeline ------------------------------------------------------------------------
@dataclass(frozen=True)
class TimelineEvent:
    at: str
    model: str
    kind: str
    version: str | None
    stage: str | None
    by: str
    run: str | None
    reason: str | None


def timeline(
    events: Mapping[str, Sequence[Mapping[str, Any]]], aliases: Mapping[str, str]
) -> list[TimelineEvent]:
    """Every registry event of the given models, oldest first; runs named by their alias."""
    found = [
        TimelineEvent(
            at=str(event.get("at") or ""),
            model=model,
            kind=str(event.get("kind") or ""),
            version=event.get("version"),
            stage=event.get("stage"),
            by=str(event.get("by") or ""),
            run=aliases.get(str(event.get("run")), event.get("run")),
            reason=event.get("reason"),
        )
        for model, model_events in events.items()
        for event in model_events
    ]
    return sorted(found, key=lambda event: (event.at, event.model))
