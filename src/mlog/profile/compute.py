"""Profile a tabular dataset in one streaming pass: memory stays flat whatever its size.

A dataset is one file or several read as one table (a directory or glob of CSV,
Parquet or JSON-lines files). Each record batch updates small per-column
accumulators and is dropped:

* every column: its type and null count;
* numeric columns: min, max, mean and standard deviation (exact, merged batch by batch with
  Chan's parallel formula) and a quantile sketch: the t-digest quantiles of a systematic
  sample of each batch (at most ``SKETCH_SAMPLE`` values) kept as points weighted by the
  batch's count, compacted when they grow, read out as ``QUANTILE_BINS + 1`` points;
* other columns (strings, booleans, dictionaries): distinct count, exact up to
  ``DISTINCT_CAP`` values and a lower bound beyond, and the most frequent values
  (exact while a batch has at most ``EXACT_TOP`` distinct values, approximate after).

Above ``sample_above_bytes`` only every k-th batch (Parquet: row group) feeds the
statistics, and the profile says so under ``sample``; the row count stays exact.
pyarrow is imported here only (the ``mlog-cli[data]`` extra).
"""

from __future__ import annotations

import math
import os
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from mlog.errors import DataError
from mlog.profile.formats import DEFAULT_SAMPLE_ABOVE, file_format

PROFILE_VERSION = 1
QUANTILE_BINS = 20
TOP_VALUES = 20
DISTINCT_CAP = 100_000
EXACT_TOP = 1_000
BATCH_TOP = 200
BLOCK_SIZE = 4 << 20
DIGEST_POINTS = 101
GRID = [i / (DIGEST_POINTS - 1) for i in range(DIGEST_POINTS)]
SKETCH_SAMPLE = 16_384
COMPACT_AT = 20_000
COMPACT_TO = 1_001
NUMERIC, CATEGORICAL, OTHER = "numeric", "categorical", "other"
INSTALL_HINT = "pip install 'mlog-cli[data]'"


class ProfilerMissing(DataError):
    """pyarrow is not installed: profiles need the ``data`` extra."""


@dataclass(frozen=True)
class ProfileSettings:
    """Above ``sample_above_bytes`` (None: never) only every k-th batch is profiled."""

    sample_above_bytes: int | None = DEFAULT_SAMPLE_ABOVE

    def key(self) -> str:
        """What makes two profiles of the same bytes differ: part of the cache key."""
        return f"p{PROFILE_VERSION}-s{self.sample_above_bytes}"


def require_pyarrow() -> Any:
    try:
        import pyarrow
    except ImportError:
        raise ProfilerMissing(f"data profiles need pyarrow ({INSTALL_HINT})") from None
    return pyarrow


def profile_files(
    files: Sequence[str], *, size: int | None = None, settings: ProfileSettings | None = None
) -> dict[str, Any]:
    """The profile of ``files`` read as one table; unreadable data is a ``DataError``."""
    pyarrow = require_pyarrow()
    settings = settings or ProfileSettings()
    if not files:
        raise DataError("no CSV, Parquet or JSON-lines file to profile")
    total = size if size is not None else sum(os.path.getsize(f) for f in files)
    limit = settings.sample_above_bytes
    every = max(1, math.ceil(total / limit)) if limit and total > limit else 1
    table = _Table(every)
    for path in files:
        try:
            table.read(path)
        except (OSError, pyarrow.ArrowException) as exc:
            raise DataError(f"cannot profile {path}: {exc}") from None
    return table.finish(files, f"pyarrow {pyarrow.__version__}")


# ------------------------------------------------------------------ reading


def _batches(path: str, fmt: str, every: int) -> Iterator[tuple[int, Any]]:
    """``(rows, batch or None)``: None for batches the sample skips (rows still counted)."""
    if fmt == "parquet":
        yield from _parquet_batches(path, every)
        return
    for index, batch in enumerate(_stream(path, fmt)):
        yield batch.num_rows, (batch if index % every == 0 else None)


def _stream(path: str, fmt: str) -> Any:
    if fmt == "jsonl":
        from pyarrow import json as pajson

        return pajson.open_json(path, read_options=pajson.ReadOptions(block_size=BLOCK_SIZE))
    from pyarrow import csv

    parse = csv.ParseOptions(delimiter="\t" if fmt == "tsv" else ",")
    return csv.open_csv(
        path, read_options=csv.ReadOptions(block_size=BLOCK_SIZE), parse_options=parse
    )


def _parquet_batches(path: str, every: int) -> Iterator[tuple[int, Any]]:
    """Skipped row groups are never read: their row count comes from the footer.

    One read over the chosen row groups without pre-buffering: faster than a read per row
    group, and flat in memory where pre-buffering holds the file's column chunks.
    """
    from pyarrow import parquet

    with parquet.ParquetFile(path, pre_buffer=False) as handle:
        groups = range(handle.num_row_groups)
        for group in groups:
            if group % every:
                yield handle.metadata.row_group(group).num_rows, None
        chosen = [group for group in groups if group % every == 0]
        for batch in handle.iter_batches(row_groups=chosen, batch_size=256 * 1024):
            yield batch.num_rows, batch


# ------------------------------------------------------------------ accumulators


def type_name(arrow_type: Any) -> str:
    """The column type as profiles name it: string flavours and dictionaries are unified."""
    import pyarrow as pa

    if pa.types.is_dictionary(arrow_type):
        return type_name(arrow_type.value_type)
    if pa.types.is_string(arrow_type) or pa.types.is_large_string(arrow_type):
        return "string"
    if hasattr(pa.types, "is_string_view") and pa.types.is_string_view(arrow_type):
        return "string"
    return str(arrow_type)


def kind_of(arrow_type: Any) -> str:
    import pyarrow as pa

    if pa.types.is_dictionary(arrow_type):
        return CATEGORICAL
    if pa.types.is_integer(arrow_type) or pa.types.is_floating(arrow_type):
        return NUMERIC
    if pa.types.is_decimal(arrow_type):
        return NUMERIC
    if type_name(arrow_type) == "string" or pa.types.is_boolean(arrow_type):
        return CATEGORICAL
    return OTHER


@dataclass
class _Numeric:
    count: int = 0
    mean: float = 0.0
    m2: float = 0.0
    low: float | None = None
    high: float | None = None
    points: list[tuple[float, float]] = field(default_factory=list)

    def add(self, array: Any) -> None:
        import pyarrow as pa
        import pyarrow.compute as pc

        if pa.types.is_decimal(array.type):
            array = pc.cast(array, pa.float64())
        n = len(array) - array.null_count
        if n == 0:
            return
        mean = pc.mean(array).as_py()
        if pa.types.is_floating(array.type) and not math.isfinite(mean):
            array = pc.if_else(pc.is_finite(array), array, None)  # NaN and inf: missing
            n = len(array) - array.null_count
            if n == 0:
                return
            mean = pc.mean(array).as_py()
        bounds = pc.min_max(array)
        self._bounds(bounds["min"].as_py(), bounds["max"].as_py())
        self._moments(n, mean, pc.variance(array, ddof=0).as_py() * n)
        weight = n / DIGEST_POINTS
        self.points.extend((v, weight) for v in pc.tdigest(_thinned(array), q=GRID).to_pylist())
        if len(self.points) > COMPACT_AT:
            self.points = _compact(self.points, COMPACT_TO)

    def _bounds(self, low: float, high: float) -> None:
        self.low = low if self.low is None else min(self.low, low)
        self.high = high if self.high is None else max(self.high, high)

    def _moments(self, n: int, mean: float, m2: float) -> None:
        total = self.count + n
        delta = mean - self.mean
        self.mean += delta * n / total
        self.m2 += m2 + delta * delta * self.count * n / total
        self.count = total

    def finish(self) -> dict[str, Any]:
        if not self.count or self.low is None or self.high is None:
            return {"min": None, "max": None, "mean": None, "std": None, "quantiles": []}
        quantiles = [q for q, _ in _compact(self.points, QUANTILE_BINS + 1)]
        quantiles[0], quantiles[-1] = self.low, self.high  # exact, not from the sketch
        return {
            "min": self.low,
            "max": self.high,
            "mean": self.mean,
            "std": math.sqrt(self.m2 / self.count),
            "quantiles": quantiles,
        }


def _thinned(array: Any) -> Any:
    """Every k-th value, at most ``SKETCH_SAMPLE`` of them: the batch's quantiles are read from
    this systematic sample (t-digest over every value would cost more than reading it)."""
    step = -(-len(array) // SKETCH_SAMPLE)
    return array if step <= 1 else array[::step]


def _compact(points: list[tuple[float, float]], size: int) -> list[tuple[float, float]]:
    """``size`` evenly spaced weighted quantiles of weighted points (first and last kept)."""
    ordered = sorted(points)
    total = sum(w for _, w in ordered)
    targets = [total * i / (size - 1) for i in range(size)]
    out: list[tuple[float, float]] = []
    seen, index = 0.0, 0
    for target in targets:
        while index < len(ordered) - 1 and seen + ordered[index][1] < target:
            seen += ordered[index][1]
            index += 1
        out.append((ordered[index][0], total / size))
    return out


@dataclass
class _Categorical:
    seen: set[Any] = field(default_factory=set)
    capped: int | None = None
    counts: Counter[str] = field(default_factory=Counter)
    exact_top: bool = True

    def add(self, array: Any) -> None:
        import pyarrow.compute as pc

        found = pc.value_counts(array)
        values, counts = found.field("values"), found.field("counts")
        keep = pc.is_valid(values)
        values, counts = values.filter(keep), counts.filter(keep)
        self._distinct(values)
        if len(values) > EXACT_TOP:
            self.exact_top = False
            top = pc.select_k_unstable(counts, k=BATCH_TOP, sort_keys=[("", "descending")])
            values, counts = values.take(top), counts.take(top)
        for value, count in zip(values.to_pylist(), counts.to_pylist(), strict=True):
            self.counts[label(value)] += count
        if len(self.counts) > 10 * EXACT_TOP:
            self.counts = Counter(dict(self.counts.most_common(2 * EXACT_TOP)))

    def _distinct(self, values: Any) -> None:
        if self.capped is not None:
            return
        self.seen.update(values.to_pylist())
        if len(self.seen) > DISTINCT_CAP:
            self.capped, self.seen = len(self.seen), set()

    def finish(self) -> dict[str, Any]:
        top = self.counts.most_common(TOP_VALUES)
        return {
            "distinct": self.capped if self.capped is not None else len(self.seen),
            "distinct_exact": self.capped is None,
            "top": [{"value": value, "count": count} for value, count in top],
            "top_exact": self.exact_top,
        }


def label(value: Any) -> str:
    """A category as profiles store it: text (booleans as ``true``/``false``)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    return value if isinstance(value, str) else str(value)


@dataclass
class _Column:
    name: str
    types: list[str]
    kind: str
    rows: int = 0
    nulls: int = 0
    numeric: _Numeric = field(default_factory=_Numeric)
    categorical: _Categorical = field(default_factory=_Categorical)

    def add(self, array: Any) -> None:
        name = type_name(array.type)
        if name not in self.types:
            self.types.append(name)
            if kind_of(array.type) != self.kind:
                self.kind = OTHER  # mixed kinds across files: only nulls are comparable
        self.rows += len(array)
        self.nulls += array.null_count
        if self.kind == NUMERIC:
            self.numeric.add(array)
        elif self.kind == CATEGORICAL:
            self.categorical.add(array)

    def finish(self, profiled_rows: int) -> dict[str, Any]:
        nulls = self.nulls + (profiled_rows - self.rows)  # absent from some files: missing there
        out: dict[str, Any] = {
            "name": self.name,
            "type": " | ".join(self.types),
            "kind": self.kind,
            "nulls": nulls,
            "null_rate": nulls / profiled_rows if profiled_rows else 0.0,
        }
        if self.kind == NUMERIC:
            out.update(self.numeric.finish())
        elif self.kind == CATEGORICAL:
            out.update(self.categorical.finish())
        return out


class _Table:
    def __init__(self, every: int) -> None:
        self.every = every
        self.rows = 0
        self.profiled = 0
        self.columns: dict[str, _Column] = {}
        self.formats: list[str] = []

    def read(self, path: str) -> None:
        fmt = file_format(path) or "csv"
        if fmt not in self.formats:
            self.formats.append(fmt)
        for rows, batch in _batches(path, fmt, self.every):
            self.rows += rows
            if batch is not None:
                self.add(batch)

    def add(self, batch: Any) -> None:
        self.profiled += batch.num_rows
        for name, array in zip(batch.schema.names, batch.columns, strict=True):
            column = self.columns.get(name)
            if column is None:
                column = self.columns[name] = _Column(name, [], kind_of(array.type))
            column.add(array)

    def finish(self, files: Sequence[str], engine: str) -> dict[str, Any]:
        sampled = self.every > 1
        return {
            "profile_version": PROFILE_VERSION,
            "engine": engine,
            "format": " | ".join(self.formats),
            "files": len(files),
            "rows": self.rows,
            "sample": {"rows": self.profiled, "every": self.every} if sampled else None,
            "columns": [c.finish(self.profiled) for c in self.columns.values()],
        }
