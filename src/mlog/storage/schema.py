"""JSON Schema validation of records, events and config, reporting every problem at once."""

from __future__ import annotations

import json
from functools import cache
from importlib import resources
from typing import Any

from mlog.errors import MlogError, RecordError

SCHEMAS = ("run", "config", "registry-event")


@cache
def load_schema(name: str) -> dict[str, Any]:
    """Read ``schemas/<name>.schema.json`` shipped inside the package."""
    text = resources.files("mlog").joinpath("schemas", f"{name}.schema.json").read_text("utf-8")
    schema: dict[str, Any] = json.loads(text)
    return schema


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
    return sorted(_short(error.message) for error in _partial_validator(schema).iter_errors(part))


def problems(document: Any, schema: str) -> list[str]:
    """Every schema violation as ``path: message``, sorted by path; empty when valid."""
    found = []
    for error in _validator(schema).iter_errors(document):
        where = ".".join(str(part) for part in error.absolute_path) or "(top)"
        found.append(f"{where}: {_short(error.message)}")
    return sorted(found)


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
