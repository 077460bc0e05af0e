"""Helpers the interop formats share: optional imports, times, records and their series."""

from __future__ import annotations

import importlib
import json
from datetime import datetime, timezone
from typing import Any

from mlog.errors import MissingExtraError
from mlog.storage.store import SERIES_FILE, Store


def require(module: str, extra: str) -> Any:
    """Import an optional heavy module, or say which extra brings it."""
    try:
        return importlib.import_module(module)
    except ImportError:
        raise MissingExtraError(
            f"{module.partition('.')[0]} is not installed (pip install 'mlog-cli[{extra}]')"
        ) from None


def iso_to_ms(text: str | None) -> int | None:
    """``2026-11-23T15:01:02.123456Z`` -> milliseconds since the epoch (what MLflow stores)."""
    if not text:
        return None
    moment = datetime.strptime(text.rstrip("Z").split(".")[0], "%Y-%m-%dT%H:%M:%S")
    fraction = text.rstrip("Z").partition(".")[2]
    micros = int((fraction + "000000")[:6]) if fraction else 0
    seconds = int(moment.replace(tzinfo=timezone.utc).timestamp())
    return seconds * 1000 + micros // 1000


def ms_to_iso(ms: int | None) -> str | None:
    """Milliseconds since the epoch -> a record timestamp, exact to the millisecond."""
    if ms is None:
        return None
    moment = datetime.fromtimestamp(ms // 1000, tz=timezone.utc)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{ms % 1000:03d}000Z"


def load_series(store: Store, run_id: str) -> list[dict[str, Any]]:
    """The per-step points of a run (``series.jsonl``), in the order they were logged."""
    path = store.run_dir(run_id) / SERIES_FILE
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text("utf-8").splitlines() if line.strip()]


def series_bytes(points: list[dict[str, Any]]) -> bytes:
    return b"".join(json.dumps(p, sort_keys=True).encode() + b"\n" for p in points)
