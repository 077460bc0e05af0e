"""Run ids, key order, and the integrity hash that makes an edited record detectable."""

from __future__ import annotations

import hashlib
import json
import secrets
from datetime import datetime, timezone
from typing import Any

SCHEMA_VERSION = 1

# Order in which sections are written, so every record reads the same way.
SECTION_ORDER = (
    "schema_version", "id", "alias", "model", "status", "note", "tags", "code", "command",
    "environment", "params", "param_sources", "seed", "metrics", "metric_sources", "series",
    "data", "lineage", "artifacts", "validation", "redactions", "warnings", "integrity",
)  # fmt: skip


def new_run_id(now: datetime | None = None) -> str:
    """Unique and sortable by start time: ``20261123T150102123456Z-1a2b3c4d``."""
    moment = (now or datetime.now(timezone.utc)).astimezone(timezone.utc)
    return f"{moment:%Y%m%dT%H%M%S%fZ}-{secrets.token_hex(4)}"


def utc_timestamp(moment: datetime | None = None) -> str:
    value = (moment or datetime.now(timezone.utc)).astimezone(timezone.utc)
    return value.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def canonical_json(record: dict[str, Any]) -> bytes:
    """The bytes the integrity hash covers: the record minus ``integrity``, keys sorted."""
    body = {key: value for key, value in record.items() if key != "integrity"}
    text = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return text.encode("utf-8")


def integrity_hash(record: dict[str, Any]) -> str:
    return "sha256:" + hashlib.sha256(canonical_json(record)).hexdigest()


def seal(record: dict[str, Any]) -> dict[str, Any]:
    """Order the sections and attach the integrity hash; the result is ready to write."""
    ordered = {key: record[key] for key in SECTION_ORDER if key in record and key != "integrity"}
    ordered.update({k: v for k, v in record.items() if k not in ordered and k != "integrity"})
    ordered["integrity"] = {"algorithm": "sha256", "hash": integrity_hash(ordered)}
    return ordered


def integrity_matches(record: dict[str, Any]) -> bool:
    stored = record.get("integrity")
    return isinstance(stored, dict) and stored.get("hash") == integrity_hash(record)
