"""The pure parts of rerun and lineage: the reproduction check and the graph's text forms."""

from __future__ import annotations

import math

from mlog.compare.reproduction import check
from mlog.lineage.graph import Edge, Graph, Node
from mlog.lineage.render import dot, mermaid, tree


def _record(metrics: dict[str, object], artifacts: dict[str, str | None]) -> dict[str, object]:
    return {
        "metrics": metrics,
        "artifacts": [
            {"path": p, "present": h is not None, "hash": h} for p, h in artifacts.items()
        ],
    }


def test_exact_by_default_and_two_sided() -> None:
    original = _record({"acc": 0.9, "loss": 0.2}, {"m.pkl": "xxh3_128:aa"})
    better = _record({"acc": 0.95, "loss": 0.2}, {"m.pkl": "xxh3_128:aa"})

    result = check(original, better, {})

    assert result["reproduced"] is False
    assert result["failed"] == ["acc"]
    acc = result["metrics"][0]
    assert (acc["name"], acc["tolerance"], acc["ok"]) == ("acc", 0.0, False)
    assert math.isclose(acc["delta"], 0.05)


def test_configured_tolerance_and_artifacts() -> None:
    original = _record({"acc": 0.9}, {"m.pkl": "xxh3_128:aa", "r.html": "xxh3_128:bb"})
    rerun = _record({"acc": 0.8995}, {"m.pkl": "xxh3_128:aa", "r.html": "xxh3_128:cc"})

    result = check(original, rerun, {"acc": {"tolerance": 0.001}})

    assert result["failed"] == ["r.html"]
    assert [a["ok"] for a in result["artifacts"]] == [True, False]


def test_missing_metric_strings_and_nan() -> None:
    original = _record({"gone": 1, "label": "cat", "score": float("nan")}, {})
    rerun = _record({"label": "cat", "score": float("nan"), "new": 2}, {})

    result = check(original, rerun, {})

    assert result["failed"] == ["gone", "new"]


def _graph() -> Graph:
    graph = Graph("v2", "run:b", "up")
    graph.add(Node("run:b", "run", 'v2 "m"', {"run": "b", "alias": "v2", "model": 'a"b|c[d]'}))
    graph.add(Node("data:h", "data", "x.csv", {"hash": "xxh3_128:" + "0" * 32, "path": "x.csv"}))
    graph.edges.append(Edge("data:h", "run:b", 'na"me'))
    return graph


def test_mermaid_and_dot_escape_labels() -> None:
    text = mermaid(_graph())
    assert "a#quot;b#124;c#91;d#93;" in text
    assert "-->|na#quot;me|" in text
    assert '"data:h" -> "run:b" [label="na\\"me"];' in dot(_graph())


def test_tree_marks_inputs_no_run_produced() -> None:
    lines = tree(_graph()).splitlines()
    assert lines[0].startswith('v2  a"b|c[d]')
    assert lines[1] == '└── na"me  x.csv  xxh3_128:000000000000  (no run produced it)'
