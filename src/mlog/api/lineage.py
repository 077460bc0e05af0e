"""``mlog lineage``: the producers and consumers of a run or model version, by content hash."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mlog.api import open_store, refs
from mlog.errors import UsageError

if TYPE_CHECKING:
    from mlog.lineage.graph import Graph
    from mlog.storage.store import Store


@dataclass(frozen=True)
class LineageView:
    """A lineage graph, as JSON data or as text: ``tree``, ``dot`` or ``mermaid``."""

    graph: Graph

    def to_json(self) -> dict[str, Any]:
        return self.graph.to_json()

    def text(self, form: str = "tree") -> str:
        from mlog.lineage import render

        forms = {"tree": render.tree, "dot": render.dot, "mermaid": render.mermaid}
        return forms[form](self.graph)


def lineage(*, cwd: Path, ref: str, down: bool = False, depth: int | None = None) -> LineageView:
    """Upstream graph of ``ref`` (a run or ``MODEL@VERSION``), or downstream with ``down``."""
    from mlog.lineage import graph, index

    if depth is not None and depth < 0:
        raise UsageError(f"--depth must be 0 or more, not {depth}")
    store = open_store(cwd)
    run = refs.resolve(store, ref)
    version = ref.strip() if "@" in ref else None
    pins = registry_pins(store) if down else {}
    # As `ls --limit`: trusted while no run was added or removed, the runs drawn re-checked,
    # and everything re-checked if one of them changed (2 s of stats at 100,000 runs).
    with index.opened(store, quick=True) as found:
        built = graph.build(found, ref, run, down=down, depth=depth, pins=pins, version=version)
        if not found.unchanged(built.run_ids):
            found.refresh()
            built = graph.build(found, ref, run, down=down, depth=depth, pins=pins,
                                version=version)  # fmt: skip
    return LineageView(built)


def links(*, cwd: Path, ref: str) -> dict[str, Any]:
    """What ``mlog show`` adds about a run: the runs that produced its inputs, what it
    reproduces, and the reruns of it. Read from the index only when this clone has one,
    so that ``show`` in a fresh clone stays instant (``indexed`` is then False)."""
    store = open_store(cwd)
    return links_of(store, refs.resolve(store, ref))


def links_of(store: Store, run: str) -> dict[str, Any]:
    """:func:`links` for a run already resolved in an open store."""
    from mlog.lineage import graph, index

    if not index.exists(store):
        return {"indexed": False, "producers": [], "reproduces": None, "reproduced_by": []}
    with index.opened(store, quick=True) as found:  # no listing of every run per `show`
        info = found.run(run)
        original = found.run(info.reproduces) if info and info.reproduces else None
        return {
            "indexed": True,
            "producers": graph.producers_of(found, run),
            "reproduces": {"run": original.id, "alias": original.alias} if original else None,
            "reproduced_by": found.reproduced_by(run),
        }


def registry_pins(store: Store) -> dict[str, list[str]]:
    """Run id → the ``MODEL@VERSION``s registered from it."""
    from mlog.registry import fold

    pins: dict[str, list[str]] = {}
    for state in fold.all_states(store):
        for version in state.versions.values():
            pins.setdefault(version.run, []).append(f"{state.model}@{version.version}")
    return pins
