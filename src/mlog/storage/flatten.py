"""Flatten nested records to dotted keys, the shared vocabulary of diff, query and ls."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


def flatten(value: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """Return ``{"a.b.c": leaf}`` for every leaf; lists stay whole as leaves."""
    flat: dict[str, Any] = {}
    for key, item in value.items():
        dotted = f"{prefix}{key}"
        if (type(item) is dict or isinstance(item, Mapping)) and item:  # dict: no ABC check
            flat.update(flatten(item, dotted + "."))
        else:
            flat[dotted] = item
    return flat
