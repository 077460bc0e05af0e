"""A lineage graph as text: a tree for people, Graphviz DOT, or a Mermaid flowchart (pure)."""

from __future__ import annotations

import re

from mlog.lineage.graph import DOWN, Graph, Node

SHORT_HASH = 12


def tree(graph: Graph) -> str:
    """The graph as an indented tree from its root; a node met again is not expanded twice.

    Iterative, so a lineage thousands of runs deep prints as well as a short one.
    """
    below = _adjacency(graph)
    lines = [_line(graph.nodes[graph.root], "", graph)]
    shown = {graph.root}
    stack = [(child, label, "", i == len(below[graph.root]) - 1)
             for i, (child, label) in reversed(list(enumerate(below[graph.root])))]  # fmt: skip
    while stack:
        node, label, indent, last = stack.pop()
        again = node in shown
        text = _line(graph.nodes[node], label, graph) + ("  (shown above)" if again else "")
        lines.append(indent + ("└── " if last else "├── ") + text)
        if again:
            continue
        shown.add(node)
        inner = indent + ("    " if last else "│   ")
        children = below[node]
        for number in reversed(range(len(children))):
            child, child_label = children[number]
            stack.append((child, child_label, inner, number == len(children) - 1))
    return "\n".join(lines) + "\n"


def _adjacency(graph: Graph) -> dict[str, list[tuple[str, str]]]:
    """Children of every node in walk order: inputs upstream, outputs and consumers downstream."""
    below: dict[str, list[tuple[str, str]]] = {node: [] for node in graph.nodes}
    for edge in graph.edges:
        if graph.direction == DOWN:
            below[edge.source].append((edge.target, edge.label))
        else:
            below[edge.target].append((edge.source, edge.label))
    return below


def _line(node: Node, label: str, graph: Graph) -> str:
    info = node.info
    if node.kind == "model":
        return f"{node.label}  (model version)"
    if node.kind == "run":
        text = f"{info.get('alias') or '?'}  {info.get('model') or ''}  {info.get('status') or ''}"
        text = f"{text}  {info['run']}"
        if info.get("reproduces"):
            text += f"  reproduces {info['reproduces']}"
        if label and label != "registered":
            text += f"  ({'wrote ' if graph.direction != DOWN else 'reads it as '}{label})"
        if info["run"] in graph.truncated:
            text += "  … (--depth reached)"
        return text
    digest = info.get("hash")
    shown = f"{label}  " if label and label != info.get("path") else ""
    text = f"{shown}{info.get('path') or node.label}  {_short(digest)}"
    if graph.direction != DOWN and not info.get("produced"):
        text += "  (no run produced it)"
    return text


def _short(digest: object) -> str:
    if not isinstance(digest, str) or ":" not in digest:
        return str(digest or "-")
    algorithm, _, value = digest.partition(":")
    return f"{algorithm}:{value[:SHORT_HASH]}"


def dot(graph: Graph) -> str:
    """Graphviz DOT: runs as boxes, content as notes, model versions as components."""
    shapes = {"run": "box", "data": "note", "model": "component"}
    lines = ["digraph lineage {", "  rankdir=LR;", '  node [fontname="Helvetica"];']
    for node in graph.nodes.values():
        style = ", style=bold" if node.id == graph.root else ""
        lines.append(
            f"  {_dot_quote(node.id)} [label={_dot_quote(_label(node))}, "
            f"shape={shapes[node.kind]}{style}];"
        )
    for edge in graph.edges:
        lines.append(
            f"  {_dot_quote(edge.source)} -> {_dot_quote(edge.target)} "
            f"[label={_dot_quote(edge.label)}];"
        )
    lines.append("}")
    return "\n".join(lines) + "\n"


def _dot_quote(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'


def mermaid(graph: Graph) -> str:
    """A Mermaid flowchart (renders in GitHub and GitLab pull requests)."""
    ids = {node: f"n{number}" for number, node in enumerate(graph.nodes)}
    shapes = {"run": ('["', '"]'), "data": ('[/"', '"/]'), "model": ('{{"', '"}}')}
    lines = ["flowchart LR"]
    for node in graph.nodes.values():
        left, right = shapes[node.kind]
        lines.append(f"  {ids[node.id]}{left}{_mermaid_text(_label(node))}{right}")
    for edge in graph.edges:
        lines.append(f"  {ids[edge.source]} -->|{_mermaid_text(edge.label)}| {ids[edge.target]}")
    lines.append(f"  style {ids[graph.root]} stroke-width:3px")
    return "\n".join(lines) + "\n"


def _mermaid_text(text: str) -> str:
    """Mermaid has no escaping inside labels, only entity codes."""
    replaced = text.replace('"', "#quot;").replace("|", "#124;")
    coded = re.sub(r"[\[\]{}<>]", lambda m: f"#{ord(m.group())};", replaced)
    return coded.replace("\n", "<br/>")


def _label(node: Node) -> str:
    if node.kind == "run":
        alias, model = node.info.get("alias"), node.info.get("model")
        return f"{alias} {model}\n{node.info['run']}" if alias else node.label
    if node.kind == "data":
        return f"{node.info.get('path') or node.label}\n{_short(node.info.get('hash'))}"
    return node.label
