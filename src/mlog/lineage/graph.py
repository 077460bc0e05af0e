"""The lineage graph of a run or model version, walked over the lineage index.

Nodes are runs, content (a dataset or artifact, keyed by its hash) and model versions.
Every edge points the way data flows: producer run → content → consumer run → model
version. Upstream (the default) follows edges backwards from the root to inputs no run
produced; downstream (``--down``) follows them forwards to consumers and the registry
versions pinning them. ``depth`` counts run-to-run steps.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from mlog.lineage.index import LineageIndex

UP, DOWN = "up", "down"


@dataclass
class Node:
    id: str
    kind: str  # run | data | model
    label: str
    info: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {"id": self.id, "kind": self.kind, "label": self.label, **self.info}


@dataclass(frozen=True)
class Edge:
    source: str
    target: str
    label: str

    def to_json(self) -> dict[str, Any]:
        return {"from": self.source, "to": self.target, "label": self.label}


@dataclass
class Graph:
    ref: str
    root: str
    direction: str
    nodes: dict[str, Node] = field(default_factory=dict)
    edges: list[Edge] = field(default_factory=list)
    truncated: list[str] = field(default_factory=list)  # runs not expanded (--depth)

    @property
    def run_ids(self) -> list[str]:
        """The ids of the runs in the graph."""
        return [node.info["run"] for node in self.nodes.values() if node.kind == "run"]

    _linked: set[Edge] = field(default_factory=set, repr=False)

    def add(self, node: Node) -> str:
        self.nodes.setdefault(node.id, node)
        return node.id

    def link(self, source: str, target: str, label: str) -> None:
        edge = Edge(source, target, label)
        if edge not in self._linked:
            self._linked.add(edge)
            self.edges.append(edge)

    def runs(self) -> list[dict[str, Any]]:
        return [n.to_json() for n in self.nodes.values() if n.kind == "run"]

    def to_json(self) -> dict[str, Any]:
        return {
            "ref": self.ref,
            "root": self.root,
            "direction": self.direction,
            "nodes": [n.to_json() for n in self.nodes.values()],
            "edges": [e.to_json() for e in self.edges],
            "truncated": list(self.truncated),
        }


def run_node_id(run: str) -> str:
    return f"run:{run}"


def build(
    lineage: LineageIndex,
    ref: str,
    run: str,
    *,
    down: bool = False,
    depth: int | None = None,
    pins: Mapping[str, Sequence[str]] | None = None,
    version: str | None = None,
) -> Graph:
    """The graph around ``run``; ``version`` (``MODEL@VERSION``) is the upstream root when given.

    ``pins`` maps run ids to the model versions registered from them (shown downstream).
    """
    pins = pins or {}
    graph = Graph(ref, run_node_id(run), DOWN if down else UP)
    _add_run(graph, lineage, run)
    if version is not None and not down:  # downstream, the version shows among the run's pins
        graph.root = graph.add(Node(f"model:{version}", "model", version))
        graph.link(run_node_id(run), graph.root, "registered")
    queue: deque[tuple[str, int]] = deque([(run, 0)])
    seen = {run}
    while queue:
        current, level = queue.popleft()
        if depth is not None and level >= depth:
            graph.truncated.append(current)
            continue
        if down:
            step = _downstream(graph, lineage, current, pins)
        else:
            step = _upstream(graph, lineage, current)
        for found in step:
            if found not in seen:
                seen.add(found)
                queue.append((found, level + 1))
    return graph


def _add_run(graph: Graph, lineage: LineageIndex, run: str) -> str:
    info = lineage.run(run)
    details: dict[str, Any] = {"run": run}
    if info is not None:
        details.update(alias=info.alias, model=info.model, status=info.status,
                       started_at=info.started_at, reproduces=info.reproduces)  # fmt: skip
    label = f"{info.alias} {info.model}" if info and info.alias else run
    return graph.add(Node(run_node_id(run), "run", label, details))


def _data_node(graph: Graph, digest: str | None, path: str | None, fallback: str) -> str:
    key = digest or f"{fallback}:{path}"
    node = Node(f"data:{key}", "data", path or fallback, {"hash": digest, "path": path})
    return graph.add(node)


def _upstream(graph: Graph, lineage: LineageIndex, run: str) -> list[str]:
    """Link each input of ``run`` to the earlier runs that produced it; returns those runs."""
    found: list[str] = []
    for item in lineage.inputs(run):
        data = _data_node(graph, item.hash, item.path, item.dataset)
        graph.link(data, run_node_id(run), item.dataset)
        producers = lineage.producers(item, before=run) if item.hash else []
        info = graph.nodes[data].info
        info["produced"] = bool(info.get("produced")) or bool(producers)
        for producer in producers:
            _add_run(graph, lineage, producer.run)
            label = producer.path + (f" as {producer.file}" if producer.file else "")
            graph.link(run_node_id(producer.run), data, label)
            found.append(producer.run)
    return found


def _downstream(
    graph: Graph, lineage: LineageIndex, run: str, pins: Mapping[str, Sequence[str]]
) -> list[str]:
    """Link each artifact of ``run`` to the later runs that consumed it, and its versions."""
    found: list[str] = []
    for version in pins.get(run, ()):
        model = graph.add(Node(f"model:{version}", "model", version))
        graph.link(run_node_id(run), model, "registered")
    for output in lineage.outputs(run):
        data = _data_node(graph, output.hash, output.path, output.path)
        graph.link(run_node_id(run), data, output.path)
        for consumer in lineage.consumers(output, after=run):
            _add_run(graph, lineage, consumer.run)
            label = consumer.dataset + (f" (file {consumer.file})" if consumer.file else "")
            graph.link(data, run_node_id(consumer.run), label)
            found.append(consumer.run)
    return found


def producers_of(lineage: LineageIndex, run: str) -> list[dict[str, Any]]:
    """Per input of ``run``, the earlier runs that produced it (what ``mlog show`` names)."""
    rows = []
    for item in lineage.inputs(run):
        for producer in lineage.producers(item, before=run) if item.hash else []:
            info = lineage.run(producer.run)
            rows.append(
                {"dataset": item.dataset, "run": producer.run,
                 "alias": info.alias if info else None, "artifact": producer.path,
                 "file": producer.file}
            )  # fmt: skip
    return rows
