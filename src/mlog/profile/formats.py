"""Which files are tables, by name: what a run asks before anything is profiled.

Kept apart from :mod:`mlog.profile.compute` so that a run over data without a table (a
folder of images) never loads the profiler.
"""

from __future__ import annotations

from collections.abc import Sequence

DEFAULT_SAMPLE_ABOVE = 4 << 30
EXTENSIONS = {
    ".csv": "csv",
    ".csv.gz": "csv",
    ".csv.bz2": "csv",
    ".tsv": "tsv",
    ".parquet": "parquet",
    ".pq": "parquet",
    ".jsonl": "jsonl",
    ".ndjson": "jsonl",
    ".jsonl.gz": "jsonl",
}


def file_format(path: str) -> str | None:
    """``csv``, ``tsv``, ``parquet`` or ``jsonl`` from the name; None when not tabular."""
    name = path.lower()
    return next((fmt for ext, fmt in EXTENSIONS.items() if name.endswith(ext)), None)


def tabular_files(paths: Sequence[str]) -> list[str]:
    """The tabular files among ``paths`` (others, like a README, are not part of the table)."""
    return [p for p in paths if file_format(p) is not None]
