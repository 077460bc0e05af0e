"""Runs as tables for DuckDB, Spark or a warehouse: one row per run, one per series point.

Columns are flat and named like the query language (``params.lr``, ``metrics.auc``,
``data.train.hash``), so the runs of many repositories can be stacked and queried at once.
pyarrow (the ``data`` extra) writes the files; it is imported only here.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from mlog.errors import UsageError
from mlog.interop.common import load_series, require
from mlog.storage import forking
from mlog.storage.store import Store

TIME_COLUMNS = ("started_at", "ended_at", "time")


@dataclass
class TableResult:
    files: list[tuple[str, int]] = field(default_factory=list)


def write_tables(
    store: Store, run_ids: list[str], *, output: Path, csv: bool, series: bool
) -> TableResult:
    """Write the runs table to ``output`` and, with ``series``, the points beside it."""
    if not output.parent.is_dir():
        raise UsageError(f"folder {output.parent} does not exist (create it first)")
    rows = []
    for run_id, (row, problems) in zip(run_ids, _rows(store, run_ids), strict=True):
        if problems:
            store.mark_unverified(run_id, problems)
        rows.append(row)
    result = TableResult()
    result.files.append((str(output), _write(rows, output, csv)))
    if series:
        points = [
            {"run": run_id, **_point(point)}
            for run_id in run_ids
            for point in load_series(store, run_id)
        ]
        path = series_path(output, csv)
        result.files.append((str(path), _write(points, path, csv, _SERIES_COLUMNS)))
    return result


_SERIES_COLUMNS = ("run", "name", "step", "value", "time")
_ROWS_EACH = 500  # records a worker is forked for: 100,000 records took 42 s on one core


def _rows(store: Store, run_ids: list[str]) -> Iterator[tuple[dict[str, Any], list[str]]]:
    """Each run's row and why its record cannot be trusted, read on every core when there
    are many (the record is parsed and its integrity checked as any reader does)."""
    return forking.mapped(store, _row, run_ids, each=_ROWS_EACH)


def _row(root: str, run_id: str) -> tuple[dict[str, Any], list[str]]:
    store = forking.store_for(root)
    record = store.load_record(run_id, verify=False)
    return run_row(record), store.verify(run_id, record)


def series_path(output: Path, csv: bool) -> Path:
    """``runs.parquet`` -> ``runs.series.parquet`` (``.csv`` with ``--csv``)."""
    suffix = output.suffix or (".csv" if csv else ".parquet")
    return output.with_name(f"{output.stem}.series{suffix}")


def _point(point: dict[str, Any]) -> dict[str, Any]:
    return {
        "name": point.get("name"),
        "step": point.get("step"),
        "value": point.get("value"),
        "time": point.get("time"),
    }


def run_row(record: dict[str, Any]) -> dict[str, Any]:
    """One flat row: identity, status, times, code, params, metrics, data and artifact digests."""
    code, command = record.get("code") or {}, record.get("command") or {}
    imported = record.get("imported") or {}
    row: dict[str, Any] = {
        "id": record["id"], "alias": record.get("alias"), "model": record.get("model"),
        "status": record.get("status"), "note": record.get("note"),
        "started_at": command.get("started_at"), "ended_at": command.get("ended_at"),
        "duration_s": command.get("duration_s"), "exit_code": command.get("exit_code"),
        "user": command.get("user"), "host": command.get("host"),
        "argv": json.dumps(command.get("argv") or []),
        "commit": code.get("commit"), "branch": code.get("branch"),
        "repository": code.get("remote"), "dirty": code.get("dirty"),
        "imported_from": imported.get("source"), "imported_run": imported.get("run_id"),
        "integrity": (record.get("integrity") or {}).get("hash"),
    }  # fmt: skip
    for section in ("tags", "params", "metrics"):
        row.update({f"{section}.{k}": v for k, v in (record.get(section) or {}).items()})
    for name, entry in (record.get("data") or {}).items():
        row[f"data.{name}.hash"] = entry.get("hash")
        row[f"data.{name}.path"] = entry.get("path")
    for artifact in record.get("artifacts") or []:
        row[f"artifacts.{artifact['path']}.hash"] = artifact.get("hash")
        row[f"artifacts.{artifact['path']}.sha256"] = artifact.get("sha256")
    return row


def _write(rows: list[dict[str, Any]], path: Path, csv: bool, order: tuple[str, ...] = ()) -> int:
    pa = require("pyarrow", "data")
    names = list(order) or list(dict.fromkeys(key for row in rows for key in row))
    table = pa.table({name: _column(pa, name, [row.get(name) for row in rows]) for name in names})
    temporary = path.with_name(f".{path.name}.tmp")
    if csv:
        require("pyarrow.csv", "data").write_csv(table, str(temporary))
    else:
        require("pyarrow.parquet", "data").write_table(table, str(temporary))
    os.replace(temporary, path)
    return int(table.num_rows)


def _column(pa: Any, name: str, values: list[Any]) -> Any:
    """One typed column: times as UTC timestamps, mixed kinds as text, nested values as JSON."""
    present = [v for v in values if v is not None]
    if name.rsplit(".", 1)[-1] in TIME_COLUMNS and all(isinstance(v, str) for v in present):
        return pa.array([_time(v) for v in values], type=pa.timestamp("us", tz="UTC"))
    kinds = {_kind(v) for v in present}
    if kinds <= {"int"} or kinds <= {"bool"} or kinds <= {"str"}:
        return pa.array(values) if present else pa.array(values, type=pa.string())
    if kinds <= {"int", "float"}:
        return pa.array([None if v is None else float(v) for v in values], type=pa.float64())
    return pa.array([_text(v) for v in values], type=pa.string())


def _kind(value: Any) -> str:
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int):
        return "int"
    if isinstance(value, float):
        return "float"
    return "str" if isinstance(value, str) else "json"


def _text(value: Any) -> str | None:
    if value is None or isinstance(value, str):
        return value
    return json.dumps(value, sort_keys=True)


def _time(text: str | None) -> datetime | None:
    if not text:
        return None
    return datetime.fromisoformat(text.replace("Z", "+00:00")).astimezone(timezone.utc)
