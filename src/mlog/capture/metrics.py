"""Metrics and everything else a script reports: the spool and declared metrics files."""

from __future__ import annotations

import json
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from mlog.capture.params import read_structured
from mlog.storage.flatten import flatten


@dataclass
class Reported:
    """What the training script told mlog through the Python API."""

    params: dict[str, Any] = field(default_factory=dict)
    metrics: dict[str, Any] = field(default_factory=dict)
    points: list[dict[str, Any]] = field(default_factory=list)
    artifacts: list[str] = field(default_factory=list)
    note: str | None = None
    signature: dict[str, Any] | None = None
    skipped_lines: int = 0


def read_spool(path: Path) -> Reported:
    """Fold the spool's JSON lines into params, final metrics and series points."""
    reported = Reported()
    try:
        lines = path.read_bytes().splitlines()
    except FileNotFoundError:
        return reported
    for line in lines:
        try:
            event = json.loads(line)
            _apply(reported, event)
        except (ValueError, KeyError, TypeError):
            reported.skipped_lines += 1  # a torn last line from a killed process
    return reported


def _apply(reported: Reported, event: dict[str, Any]) -> None:
    kind = event["type"]
    if kind == "param":
        reported.params.update(flatten({event["name"]: event["value"]}))
    elif kind == "metric":
        reported.metrics[event["name"]] = event["value"]
        if "step" in event:
            point = {"name": event["name"], "step": int(event["step"]), "value": event["value"]}
            if isinstance(event.get("time"), (int, float)):
                point["time"] = point_time(float(event["time"]))
            reported.points.append(point)
    elif kind == "artifact" and event["path"] not in reported.artifacts:
        reported.artifacts.append(str(event["path"]))
    elif kind == "note":
        reported.note = str(event["text"])
    elif kind == "signature":
        reported.signature = {"inputs": list(event["inputs"]), "outputs": event.get("outputs")}


def point_time(epoch_seconds: float) -> str:
    """When a series point was logged, UTC to the millisecond (what MLflow and warehouses keep)."""
    moment = datetime.fromtimestamp(round(epoch_seconds, 3), tz=timezone.utc)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def read_metrics_files(paths: list[Path]) -> dict[str, Any]:
    """Final metrics from files the script wrote (``metrics.json``, DVC style), flattened."""
    metrics: dict[str, Any] = {}
    for path in paths:
        for key, value in flatten(read_structured(path, what="metrics")).items():
            if isinstance(value, (int, float, str, bool)) or value is None:
                metrics[key] = value
    return metrics


def summarize_series(points: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Per metric: steps, first/last step, min, max and last value, for the record."""
    by_name: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for point in points:
        by_name[point["name"]].append(point)
    return {name: _summary(items) for name, items in sorted(by_name.items())}


def _summary(items: list[dict[str, Any]]) -> dict[str, Any]:
    numbers = [p["value"] for p in items if isinstance(p["value"], (int, float))]
    ordered = sorted(items, key=lambda p: p["step"])
    return {
        "steps": len(items),
        "first_step": ordered[0]["step"],
        "last_step": ordered[-1]["step"],
        "min": min(numbers) if numbers else None,
        "max": max(numbers) if numbers else None,
        "last": ordered[-1]["value"] if isinstance(ordered[-1]["value"], (int, float)) else None,
    }


def series_jsonl(points: list[dict[str, Any]]) -> bytes:
    """The sidecar file: one point per line, in the order they were logged."""
    return b"".join(json.dumps(p, sort_keys=True).encode() + b"\n" for p in points)
