"""``diff(b, a)`` computed from ``diff(a, b)``, for the property test that the two agree.

It lives with the tests because nothing else needs it.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from mlog.compare.diff import _ABSENT, ADDED, REMOVED, _delta, _pair, metric_entry
from mlog.compare.directions import Direction


def mirror(result: Mapping[str, Any]) -> dict[str, Any]:
    """``diff(b, a)`` computed from ``diff(a, b)``: the property tests check the two agree."""
    flipped: dict[str, Any] = {key: value for key, value in result.items()}
    flipped["a"], flipped["b"] = result["b"], result["a"]
    for section in ("params", "series", "artifacts", "environment", "command"):
        flipped[section] = [_mirror_pair(entry) for entry in result[section]]
    flipped["metrics"] = [_mirror_metric(entry) for entry in result["metrics"]]
    flipped["resources"] = [_mirror_resource(entry) for entry in result["resources"]]
    flipped["data"] = [_mirror_data(entry) for entry in result["data"]]
    flipped["code"] = _mirror_code(result["code"])
    flipped["packages"] = _mirror_packages(result["packages"])
    return flipped


def _sides(entry: Mapping[str, Any]) -> tuple[Any, Any]:
    old = _ABSENT if entry["change"] == ADDED else entry["old"]
    new = _ABSENT if entry["change"] == REMOVED else entry["new"]
    return old, new


def _mirror_pair(entry: Mapping[str, Any]) -> dict[str, Any]:
    old, new = _sides(entry)
    return {**entry, **_pair(entry["key"], new, old)}


def _mirror_metric(entry: Mapping[str, Any]) -> dict[str, Any]:
    old, new = _sides(entry)
    direction = Direction(entry["goal"], entry["tolerance"], entry["guessed"])
    return metric_entry(entry["key"], new, old, direction)


def _mirror_resource(entry: Mapping[str, Any]) -> dict[str, Any]:
    flipped = _mirror_pair(entry)
    flipped["delta"], flipped["relative"] = _delta(flipped["old"], flipped["new"])
    return flipped


def _mirror_data(entry: Mapping[str, Any]) -> dict[str, Any]:
    flipped = _mirror_pair(entry)
    files = entry.get("files")
    if files is not None:
        flipped["files"] = {**files, ADDED: files[REMOVED], REMOVED: files[ADDED]}
    return flipped


def _mirror_code(code: Mapping[str, Any]) -> dict[str, Any]:
    files = [{**f, "added": f["deleted"], "deleted": f["added"]} for f in code["files"]]
    return {
        **code,
        "old": code["new"],
        "new": code["old"],
        "ahead": code["behind"],
        "behind": code["ahead"],
        "files": files,
    }


def _mirror_packages(packages: Mapping[str, list[dict[str, Any]]]) -> dict[str, Any]:
    def swap(items: list[dict[str, Any]]) -> list[dict[str, Any]]:
        return [{**item, "old": item["new"], "new": item["old"]} for item in items]

    return {
        "added": packages["removed"],
        "removed": packages["added"],
        "upgraded": swap(packages["downgraded"]),
        "downgraded": swap(packages["upgraded"]),
        "changed": swap(packages["changed"]),
    }


# -- reading what the pure diff needs (the only I/O in this module) -------------------
