"""``.mlog/config.yaml``: what every run captures by default, validated before use."""

from __future__ import annotations

import datetime
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mlog.errors import ConfigError, RecordError
from mlog.storage.schema import validate

CONFIG_TEMPLATE = """\
# mlog configuration. Every key is optional; command-line options add to these defaults.
# Reference: docs/config.md
schema_version: 1

# Model name used when `mlog run` gets no --model.
model: default

# Datasets hashed before every run (files, directories, globs, s3:// URIs, .dvc files).
# Name them with NAME=PATH, e.g. "train=data/train.csv".
data: []

# Outputs hashed after every run (model files, reports). A missing one fails the run.
artifacts: []

# Config files whose values are recorded as params (YAML, JSON or TOML).
params: []

# Files the training script writes with final metrics (JSON/YAML mapping, DVC style).
metrics_files: []

# Tags added to every run, e.g. {team: fraud}.
tags: {}

# Extra environment variables to record, on top of the built-in allowlist
# (CUDA_*, PYTHON*, OMP_*, ...). Names that look secret are always redacted.
env: []

# Content hash for data and artifacts: xxh3_128 (fast) or sha256 (audit grade).
hash_algorithm: xxh3_128

# Where `mlog push` / `pull` / `fetch` keep artifact files, content-addressed (docs/push.md):
# s3://bucket/prefix, gs://..., az://..., a folder, or file://...; MLOG_REMOTE overrides it.
# remote: s3://my-bucket/mlog
# remote_options: {endpoint_url: "http://127.0.0.1:9000"}   # credentials never go here

# Direction and tolerance per metric, used by validation against the champion.
# Without an entry, names like loss/error/mae/rmse are minimized, others maximized.
metrics: {}
#  auc: {goal: maximize, tolerance: 0.002}
#  loss: {goal: minimize}
"""

GITIGNORE = "# local to this clone: hash cache, query index, in-flight runs\ncache/\n"


@dataclass(frozen=True)
class Config:
    """Validated configuration with defaults filled in."""

    model: str = "default"
    data: tuple[str, ...] = ()
    artifacts: tuple[str, ...] = ()
    params: tuple[str, ...] = ()
    metrics_files: tuple[str, ...] = ()
    tags: dict[str, str] = field(default_factory=dict)
    env: tuple[str, ...] = ()
    hash_algorithm: str = "xxh3_128"
    metrics: dict[str, dict[str, Any]] = field(default_factory=dict)
    remote: str | None = None
    remote_options: dict[str, Any] = field(default_factory=dict)
    remote_push_on_register: bool = True
    remote_jobs: int | None = None
    stop_grace_s: float = 30.0
    raw: dict[str, Any] = field(default_factory=dict)


def load_config(path: Path) -> Config:
    """Load and validate; a missing file means defaults, a broken one a ``ConfigError``."""
    if not path.exists():
        return Config()
    try:
        from mlog.storage import yamlio  # only when a config file is there to read

        document = yamlio.load_file(path, allow_aliases=False)  # no alias bombs in config
    except RecordError as exc:
        raise ConfigError(
            f"malformed config {exc} (fix it, or delete it and run `mlog init`)"
        ) from None
    if document is None:
        document = {"schema_version": 1}
    document = _dates_as_text(document)
    validate(document, "config", source=str(path), error=ConfigError)
    return _from_document(document)


def _dates_as_text(value: Any) -> Any:
    """An unquoted ``2026-11-01`` is a date to YAML but text to the person who typed it."""
    if isinstance(value, dict):
        return {key: _dates_as_text(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_dates_as_text(item) for item in value]
    if isinstance(value, datetime.date):  # datetime.datetime is a date too
        return value.isoformat()
    return value


def _from_document(document: dict[str, Any]) -> Config:
    return Config(
        model=document.get("model", "default"),
        data=tuple(document.get("data", ())),
        artifacts=tuple(document.get("artifacts", ())),
        params=tuple(document.get("params", ())),
        metrics_files=tuple(document.get("metrics_files", ())),
        tags={str(k): str(v) for k, v in document.get("tags", {}).items()},
        env=tuple(document.get("env", ())),
        hash_algorithm=document.get("hash_algorithm", "xxh3_128"),
        metrics=dict(document.get("metrics", {})),
        remote=document.get("remote"),
        remote_options=dict(document.get("remote_options") or {}),
        remote_push_on_register=document.get("remote_push_on_register", True),
        remote_jobs=document.get("remote_jobs"),
        stop_grace_s=float(document.get("stop_grace_s", 30.0)),
        raw=document,
    )
