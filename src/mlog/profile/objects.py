"""Reading a record's stored profile back from ``.mlog/objects``."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from mlog.errors import DataError

if TYPE_CHECKING:
    from mlog.storage.store import Store


def load_profile(store: Store, dataset: Mapping[str, Any]) -> dict[str, Any] | None:
    """The full profile a record's dataset entry points at; None when it has none."""
    reference = dataset.get("profile")
    if not isinstance(reference, Mapping) or not reference.get("object"):
        return None
    try:
        loaded = json.loads(store.get_object(str(reference["object"])))
    except ValueError as exc:
        raise DataError(f"profile {reference['object']} is not readable JSON: {exc}") from None
    return loaded if isinstance(loaded, dict) else None
