"""JSON Schema validation of records, events and config, reporting every problem at once.

A valid document is recognised by the fast check in ``storage.shape`` (compiled once per
schema); jsonschema is imported only to word the problems of a document that check refuses,
so the ``run`` path never loads it.
"""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import Any

from mlog.errors import MlogError, RecordError
from mlog.storage.shape import Check, compile_schema

SCHEMAS = ("run", "config", "registry-event", "intoto-provenance")
# Read as plain files next to the package: importing importlib.resources costs the run ~3 ms.
SCHEMA_DIR = Path(__file__).resolve().parent.parent / "schemas"


@cache
def load_schema(name: str) -> dict[str, Any]:
    """Read ``schemas/<name>.schema.json`` shipped inside the package."""
    text = (SCHEMA_DIR / f"{name}.schema.json").read_text("utf-8")
    schema: dict[str, Any] = json.loads(text)
    return schema


@cache
def _checker(name: str, partial: bool = False) -> Check:
    schema = load_schema(name)
    return compile_schema({**schema, "required": []} if partial else schema)


def _valid(document: Any, name: str, partial: bool = False) -> bool:
    """The fast answer; anything it cannot decide counts as invalid, for jsonschema to judge."""
    try:
        return _checker(name, partial)(document)
    except Exception:  # e.g. a value Python cannot compare, or a nesting too deep to walk
        return False


@cache
def _validator(name: str) -> Any:
    from jsonschema import Draft202012Validator

    return Draft202012Validator(load_schema(name))  # the schemas themselves are checked in tests


@cache
def _partial_validator(name: str) -> Any:
    from jsonschema import Draft202012Validator

    return Draft202012Validator({**load_schema(name), "required": []})


def part_problems(part: dict[str, Any], schema: str) -> list[str]:
    """Violations of some top-level fields of a document, the others not required."""
    if _valid(part, schema, partial=True):
        return []
    return sorted(_short(error.message) for error in _partial_validator(schema).iter_errors(part))


def problems(document: Any, schema: str) -> list[str]:
    """Every schema violation as ``path: message``, sorted by path; empty when valid."""
    if _valid(document, schema):
        return []
    found = []
    for error in _validator(schema).iter_errors(document):
        where = ".".join(str(part) for part in error.absolute_path) or "(top)"
        found.append(f"{where}: {_short(error.message)}")
    return sorted(found)


def violations(document: Any, schema: str) -> list[tuple[tuple[str | int, ...], str]]:
    """Every schema violation as (path of the offending value, message), deepest first."""
    if _valid(document, schema):
        return []
    found = [
        (tuple(error.absolute_path), _short(error.message))
        for error in _validator(schema).iter_errors(document)
    ]
    return sorted(found, key=lambda item: (-len(item[0]), [str(p) for p in item[0]]))


def repair(document: dict[str, Any], schema: str, *, keep: tuple[str, ...] = ()) -> list[str]:
    """Make ``document`` valid in place by quoting, then dropping, each offending value.

    A value the schema refuses is first replaced by its JSON text (a string); if the field
    cannot hold a string either, it is removed from its parent. Top-level fields named in
    ``keep`` are never removed. Returns one note per field touched, naming it, so the
    caller can record what was changed. Raises ``RecordError`` if that is not enough.
    """
    notes: list[str] = []
    for _attempt in range(64):
        found = violations(document, schema)
        if not found:
            return notes
        path, message = found[0]
        notes.append(_repair_one(document, schema, path, message, keep))
    raise RecordError(f"cannot repair the {schema} document: {'; '.join(notes[-3:])}")


def _repair_one(
    document: dict[str, Any],
    schema: str,
    path: tuple[str | int, ...],
    message: str,
    keep: tuple[str, ...],
) -> str:
    where = ".".join(str(part) for part in path) or "(top)"
    if not path or (len(path) == 1 and path[0] in keep):
        raise RecordError(f"cannot repair the record: {where}: {message}")
    parent: Any = document
    for part in path[:-1]:
        parent = parent[part]
    value = parent[path[-1]]
    if not isinstance(value, str):
        parent[path[-1]] = json.dumps(value, sort_keys=True, default=str)
        if not any(p[: len(path)] == path for p, _ in violations(document, schema)):
            return f"record field {where} quoted as a string: {message}"
    del parent[path[-1]]
    return f"record field {where} dropped: {message}"


def validate(
    document: Any, schema: str, *, source: str, error: type[MlogError] = RecordError
) -> None:
    """Raise ``error`` naming the source and its first problems when the document is invalid."""
    found = problems(document, schema)
    if found:
        more = f" (and {len(found) - 3} more)" if len(found) > 3 else ""
        raise error(f"{source}: schema violation: {'; '.join(found[:3])}{more}")


def _short(message: str) -> str:
    return message if len(message) <= 160 else message[:157] + "..."
