"""Run ids, key order, and the integrity hash that makes an edited record detectable."""

from __future__ import annotations

import hashlib
import json
import os
import re
from collections.abc import Mapping
from datetime import datetime, timezone
from typing import Any

from mlog.storage import sections

SCHEMA_VERSION = 1

SECTION_ORDER = sections.KEYS
"""Order in which sections are written, so every record reads the same way."""


ALIAS = re.compile(r"^v([1-9][0-9]*)$")
"""``vN``: the short alias of a run, and the automatic label of a registered model version."""


def alias_number(text: str) -> int | None:
    """N of a ``vN`` alias or label, else None."""
    match = ALIAS.match(text)
    return int(match.group(1)) if match else None


MONTH = re.compile(r"^\d{4}-\d{2}$")
"""A month folder of ``.mlog/runs`` (``2026-11``): runs are filed by the month they started,
so no folder grows without bound (one tree object per commit stays small for git)."""


def month_of(run_id: str) -> str:
    """The month folder a run is filed in, from its id: ``20261125T...`` → ``2026-11``."""
    return f"{run_id[:4]}-{run_id[4:6]}"


def run_of_path(path: str) -> str | None:
    """The run a repository-relative path belongs to, in either layout:
    ``.mlog/runs/<id>/...`` (before month folders) or ``.mlog/runs/<YYYY-MM>/<id>/...``."""
    parts = path.split("/")
    if len(parts) < 4 or parts[:2] != [".mlog", "runs"]:
        return None
    if MONTH.match(parts[2]):
        return parts[3] if len(parts) > 4 else None
    return parts[2]


def new_id(now: datetime | None = None) -> str:
    """Unique and sortable to the microsecond: ``20261123T150102123456Z-1a2b3c4d``.

    Runs and registry events are named this way, so listing them in name order is
    listing them in time order.
    """
    moment = (now or datetime.now(timezone.utc)).astimezone(timezone.utc)
    return f"{moment:%Y%m%dT%H%M%S%fZ}-{os.urandom(4).hex()}"  # as secrets.token_hex, 2 ms less


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


def sidecar_digest(data: bytes) -> str:
    """How a file stored beside the record is named in its ``sidecars`` section."""
    return "sha256:" + hashlib.sha256(data).hexdigest()


def integrity_problems(record: dict[str, Any], sidecars: Mapping[str, str]) -> list[str]:
    """Why a record cannot be trusted: its own hash, and the digest of every file beside it.

    ``sidecars`` maps each file found in the run directory (other than the record) to its
    :func:`sidecar_digest`. A file the record does not list is as suspect as an edited one.
    """
    found = []
    if not integrity_matches(record):
        found.append("integrity hash does not match the content (the record was edited)")
    listed = record.get("sidecars") or {}
    listed = listed if isinstance(listed, dict) else {}
    for name in sorted(set(listed) | set(sidecars)):
        if name not in sidecars:
            found.append(f"integrity: {name} is listed in the record but missing")
        elif name not in listed:
            found.append(f"integrity: {name} is not covered by the record's integrity hash")
        elif listed[name] != sidecars[name]:
            found.append(f"integrity: {name} does not match its digest in the record (edited)")
    return found
