"""How much a record may hold, so that every record mlog writes is one mlog can read.

Inputs mlog reads before the command starts (params files, tags, the note) are refused when
they exceed a bound; what arrives after it ended (the Python API, metrics files) is cut to
fit, with a warning naming what was cut. The last bound, on the whole record, sits well below
what :mod:`mlog.storage.yamlio` agrees to parse.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from mlog.errors import RecordError

MAX_KEYS = 5_000
"""Values per section (params, metrics, tags, series)."""

MAX_VALUE_CHARS = 16_384
"""Characters in one string value."""

MAX_EXPANDED_NODES = 100_000
"""Values a YAML document may hold once its aliases are expanded (alias bombs)."""

MAX_RECORD_BYTES = 4 * 1024 * 1024
"""Size of a record's YAML text; half of ``yamlio.MAX_YAML_BYTES``."""

BOUNDED_SECTIONS = ("params", "metrics", "tags", "series")
TRUNCATED = "…[truncated]"


def check_expansion(document: Any, source: str, limit: int = MAX_EXPANDED_NODES) -> None:
    """Refuse a parsed YAML document whose aliases expand past ``limit`` values, or loop."""
    sizes: dict[int, int] = {}
    if _expanded(document, sizes, set(), source) > limit:
        raise RecordError(
            f"{source}: aliases expand to more than {limit} values (a YAML alias bomb?) "
            "and are refused; write the values out"
        )


def _expanded(value: Any, sizes: dict[int, int], active: set[int], source: str) -> int:
    if not isinstance(value, (dict, list)):
        return 1
    key = id(value)
    if key in sizes:
        return sizes[key]
    if key in active:
        raise RecordError(f"{source}: an alias refers to itself (a cyclic alias); remove the loop")
    active.add(key)
    children = value.values() if isinstance(value, dict) else value
    total = 1
    for child in children:
        total += _expanded(child, sizes, active, source)
        if total > MAX_EXPANDED_NODES * 10:
            break  # already far too big: stop counting
    active.discard(key)
    sizes[key] = total
    return total


def oversize(mapping: Mapping[str, Any], section: str) -> str | None:
    """Why a section is too big to record, or None; for inputs refused before the start."""
    if len(mapping) > MAX_KEYS:
        return f"{section} has {len(mapping)} values, more than {MAX_KEYS}"
    for key, value in mapping.items():
        if isinstance(value, str) and len(value) > MAX_VALUE_CHARS:
            return f"{section}.{key} holds {len(value)} characters, more than {MAX_VALUE_CHARS}"
    return None


def bound_section(mapping: Mapping[str, Any], section: str) -> tuple[dict[str, Any], list[str]]:
    """Keep the first ``MAX_KEYS`` entries and cut long strings; warnings name each cut."""
    warnings: list[str] = []
    items = list(mapping.items())
    if len(items) > MAX_KEYS:
        warnings.append(
            f"record size limit: {section} had {len(items)} values; only the first "
            f"{MAX_KEYS} are recorded"
        )
        items = items[:MAX_KEYS]
    result: dict[str, Any] = {}
    for key, value in items:
        if isinstance(value, str) and len(value) > MAX_VALUE_CHARS:
            warnings.append(
                f"record size limit: {section}.{key} had {len(value)} characters; "
                f"cut to {MAX_VALUE_CHARS}"
            )
            value = value[: MAX_VALUE_CHARS - len(TRUNCATED)] + TRUNCATED  # fits: cut once
        result[key] = value
    return result, warnings


def bound_sections(record: dict[str, Any]) -> list[str]:
    """Bound each user-supplied section in place (cheap: do it before the costly passes)."""
    warnings: list[str] = []
    for section in BOUNDED_SECTIONS:
        if isinstance(record.get(section), Mapping):
            record[section], cut = bound_section(record[section], section)
            warnings.extend(cut)
    return warnings


def bound_record(record: dict[str, Any], measure: Any) -> list[str]:
    """Fit the record in ``MAX_RECORD_BYTES`` (as measured by ``measure``), in place.

    Sections are bounded first; if the record is still too big, the largest user-supplied
    sections are emptied one by one, each with a warning.
    """
    warnings = bound_sections(record)
    while (size := measure(record)) > MAX_RECORD_BYTES:
        victim = _largest(record)
        if victim is None:
            break
        warnings.append(
            f"record size limit: the record was {size} bytes, more than {MAX_RECORD_BYTES}; "
            f"section {victim} was dropped"
        )
        record[victim] = {} if isinstance(record[victim], Mapping) else []
    return warnings


def _largest(record: dict[str, Any]) -> str | None:
    candidates = ("params", "metrics", "series", "tags", "data", "warnings", "artifacts")
    sizes = {
        name: len(json.dumps(record[name], default=str)) for name in candidates if record.get(name)
    }
    return max(sizes, key=lambda name: sizes[name]) if sizes else None
