"""The derived index: same answers as a plain Python filter, incremental, self-healing."""

from __future__ import annotations

import json
import math
import os
import shutil
import sqlite3
import tempfile
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mlog.errors import RecordError
from mlog.query import index, listing
from mlog.query import language as query
from mlog.storage import records, yamlio
from mlog.storage.schema import validate
from mlog.storage.store import Store

START = datetime(2025, 1, 1, tzinfo=timezone.utc)
SHA = "a" * 40


def make_record(number: int, **sections: Any) -> dict[str, Any]:
    """A minimal valid record; ``sections`` replace or add top-level keys."""
    started = START + timedelta(minutes=number)
    record: dict[str, Any] = {
        "schema_version": 1,
        "id": records.new_id(started).rsplit("-", 1)[0] + f"-{number:08x}",
        "alias": f"v{number}",
        "model": "default",
        "status": "succeeded",
        "note": None,
        "tags": {},
        "code": {"commit": SHA, "tree": SHA, "dirty": False},
        "command": {
            "argv": ["python", "t.py"],
            "cwd": ".",
            "started_at": f"{started:%Y-%m-%dT%H:%M:%SZ}",
        },
        "environment": {"python": {"version": "3.11"}, "os": {"system": "Linux"}},
        "params": {},
        "metrics": {},
        "data": {},
        "artifacts": [],
    }
    record.update(sections)
    return records.seal(record)


def write(store: Store, record: dict[str, Any]) -> str:
    store.write_run(record["id"], yamlio.dumps(record), {})
    return str(record["id"])


def test_synthetic_record_is_schema_valid() -> None:
    validate(make_record(1, params={"lr": 0.1}, metrics={"acc": 0.5}), "run", source="test")


# -- property: index == plain Python filter over the YAML records --------------------
KEYS = ("params.a", "params.b", "metrics.m", "tags.t", "params.nested.x")
scalars = st.one_of(
    st.integers(-5, 5),
    st.floats(-5, 5, allow_nan=False).map(lambda f: round(f, 2)),
    st.sampled_from(["", "a", "ab", "b", "B", "é", "a.b", "10"]),
    st.booleans(),
    st.none(),
)
leaf_values = st.one_of(scalars, st.just(math.nan), st.lists(st.integers(0, 2), max_size=2))


@st.composite
def run_values(draw: st.DrawFn) -> dict[str, Any]:
    chosen = draw(st.dictionaries(st.sampled_from(KEYS), leaf_values, max_size=len(KEYS)))
    sections: dict[str, Any] = {"params": {}, "metrics": {}, "tags": {}}
    for key, value in chosen.items():
        head, *rest = key.split(".")
        target = sections[head]
        for part in rest[:-1]:
            target = target.setdefault(part, {})
        target[rest[-1]] = value
    sections["status"] = draw(st.sampled_from(["succeeded", "failed", "interrupted"]))
    return sections


literals = st.one_of(
    st.integers(-5, 5),
    st.floats(-5, 5, allow_nan=False).map(lambda f: round(f, 2)),
    st.sampled_from(["", "a", "ab", "b", "é", "a.b", "10"]),
    st.booleans(),
)
any_key = st.sampled_from((*KEYS, "params", "params.nested", "status", "missing"))


@st.composite
def comparisons(draw: st.DrawFn) -> query.Node:
    key, value = draw(any_key), draw(literals)
    ops = ("=", "!=") if isinstance(value, bool) else query.COMPARISONS
    return query.Compare(key, draw(st.sampled_from(ops)), value)


leaves = st.one_of(
    comparisons(),
    st.builds(query.In, any_key, st.lists(literals, min_size=1, max_size=3).map(tuple)),
    st.builds(query.Match, any_key, st.sampled_from(["a", "", "b"]), st.just(False)),
    st.builds(
        query.Match, any_key, st.sampled_from(["^a", "b$", "é|1"]), st.just(True), st.booleans()
    ),
    st.builds(query.Exists, any_key),
)
expressions = st.recursive(
    leaves,
    lambda inner: st.one_of(
        st.builds(query.Not, inner),
        st.builds(
            query.BoolOp,
            st.sampled_from(["and", "or"]),
            st.lists(inner, min_size=2, max_size=3).map(tuple),
        ),
    ),
    max_leaves=6,
)


def render(node: query.Node) -> str:
    """The AST back to --where text, so the parser is exercised too."""
    if isinstance(node, query.BoolOp):
        return "(" + f" {node.op} ".join(render(item) for item in node.items) + ")"
    if isinstance(node, query.Not):
        return f"not ({render(node.item)})"
    if isinstance(node, query.Exists):
        return f"{node.key} exists"
    if isinstance(node, query.In):
        return f"{node.key} in ({', '.join(map(literal_text, node.values))})"
    if isinstance(node, query.Match):
        pattern = (
            f"/{node.pattern}/{'i' if node.ignore_case else ''}"
            if node.regex
            else json.dumps(node.pattern)
        )
        return f"{node.key} ~ {pattern}"
    return f"{node.key} {node.op} {literal_text(node.value)}"


def literal_text(value: query.Literal) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return json.dumps(value, ensure_ascii=False) if isinstance(value, str) else repr(value)


def python_sorted(
    rows: list[tuple[str, dict[str, Any]]], keys: tuple[query.SortKey, ...]
) -> list[str]:
    """Reference order: newest first, then each key (last first, stable), missing always last."""
    ordered = sorted(rows, key=lambda row: row[0], reverse=True)
    for key in reversed(keys):
        present = [row for row in ordered if key.key in row[1]]
        missing = [row for row in ordered if key.key not in row[1]]
        present.sort(key=lambda row: sort_value(row[1][key.key]), reverse=key.descending)
        ordered = present + missing
    return [run_id for run_id, _ in ordered]


def sort_value(value: Any) -> tuple[int, Any]:
    kind = query.kind_of(value)
    rank = {"n": 0, "s": 1, "b": 2, "j": 3, "nan": 4}[kind]
    if kind == "j":
        return rank, json.dumps(value, sort_keys=True)
    return rank, None if kind == "nan" else value


WINDOW = index._WINDOW


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    runs=st.lists(run_values(), min_size=1, max_size=8),
    expression=expressions,
    sort=st.lists(st.builds(query.SortKey, any_key, st.booleans()), max_size=2).map(tuple),
    limit=st.integers(1, 4),
)
def test_index_matches_python_filter(
    runs: list[dict[str, Any]],
    expression: query.Node,
    sort: tuple[query.SortKey, ...],
    limit: int,
) -> None:
    text = render(expression)
    node = query.parse(text)
    assert node == expression
    with tempfile.TemporaryDirectory() as tmp:
        store = Store(Path(tmp))
        for number, sections in enumerate(runs, start=1):
            write(store, make_record(number, **sections))
        loaded = [(rid, query.present_values(store.load_record(rid))) for rid in store.run_ids()]
        expected = python_sorted([row for row in loaded if query.evaluate(node, row[1])], sort)
        with index.opened(store) as runs_index:
            got = [hit.id for hit in runs_index.search(node, sort)]
            newest = {}  # the first N, looked for among the newest N * window runs first
            for window in (1, 50):
                index._WINDOW = window
                try:
                    newest[window] = [hit.id for hit in runs_index.search(node, sort, limit)]
                finally:
                    index._WINDOW = WINDOW
    assert got == expected, text
    assert newest == {1: expected[:limit], 50: expected[:limit]}, text


# -- incremental refresh ---------------------------------------------------------------
def test_refresh_adds_changes_and_removes(tmp_path: Path) -> None:
    store = Store(tmp_path)
    first = write(store, make_record(1, metrics={"acc": 0.5}))
    second = write(store, make_record(2, metrics={"acc": 0.7}))
    with index.opened(store) as runs:
        assert (runs.last_refresh.added, runs.last_refresh.total) == (2, 2)
    with index.opened(store) as runs:
        assert runs.last_refresh.added == 0  # nothing re-read when nothing changed
    store.record_path(first).write_text(yamlio.dumps(make_record(1, metrics={"acc": 0.9})))
    shutil.rmtree(store.run_dir(second))
    with index.opened(store) as runs:
        assert (runs.last_refresh.added, runs.last_refresh.removed) == (1, 1)
        hits = runs.search(query.parse("metrics.acc > 0.8"), keys=["metrics.acc"])
    assert [(hit.id, hit.values) for hit in hits] == [(first, {"metrics.acc": 0.9})]


def test_corrupt_index_is_rebuilt_silently(tmp_path: Path) -> None:
    store = Store(tmp_path)
    run_id = write(store, make_record(1))
    store.cache_dir.mkdir(parents=True, exist_ok=True)
    index.index_path(store).write_bytes(b"this is not a database" * 100)
    assert index.alias_numbers(store) == {run_id: 1}
    with sqlite3.connect(index.index_path(store)) as conn:
        assert conn.execute("SELECT count(*) FROM runs").fetchone() == (1,)
    conn.close()


def test_deleting_the_index_loses_nothing(tmp_path: Path) -> None:
    store = Store(tmp_path)
    ids = [write(store, make_record(n, metrics={"acc": n / 10})) for n in (1, 2, 3)]
    with index.opened(store) as runs:
        before = [hit.id for hit in runs.search(sort=query.parse_sort("-metrics.acc"))]
    index.remove(store)
    with index.opened(store) as runs:
        after = [hit.id for hit in runs.search(sort=query.parse_sort("-metrics.acc"))]
    assert before == after == ids[::-1]


def test_unreadable_record_keeps_its_alias_but_fails_listing(tmp_path: Path) -> None:
    store = Store(tmp_path)
    good = write(store, make_record(1))
    bad = make_record(2)
    store.write_run(bad["id"], "schema_version: 1\nalias: v2\nmodel: [unclosed\n", {})
    assert index.alias_numbers(store) == {good: 1, bad["id"]: 2}
    with index.opened(store) as runs:
        assert list(runs.last_refresh.errors) == [bad["id"]]
    past = time.time_ns() - 5_000_000_000  # settled: the next opening trusts the stamp
    for folder in (store.runs_dir, *store.runs_dir.iterdir()):
        os.utime(folder, ns=(past, past))
    with index.opened(store) as runs:
        pass
    for _ in range(2):  # the first refreshes, the second is quick: both still see it
        with index.opened(store, quick=True) as runs:
            assert list(runs.last_refresh.errors) == [bad["id"]]
        with pytest.raises(RecordError, match="fix or remove run"):
            listing.list_runs(store, limit=1)


def test_git_checkout_of_another_branch_is_reflected(repo: Any, cli: Any) -> None:
    store = Store(repo.path)
    base = write(store, make_record(1, metrics={"acc": 0.5}))
    repo.commit("run 1")
    repo.git("checkout", "-q", "-b", "experiment")
    extra = write(store, make_record(2, metrics={"acc": 0.9}))
    repo.commit("run 2")
    assert _ls_ids(cli) == [extra, base]
    repo.git("checkout", "-q", "main")
    assert _ls_ids(cli) == [base]
    repo.git("checkout", "-q", "experiment")
    assert _ls_ids(cli, "--where", "metrics.acc > 0.8") == [extra]


def _ls_ids(cli: Any, *args: str) -> list[str]:
    result = cli("ls", "--json", *args)
    assert result.exit_code == 0, result
    return [row["id"] for row in json.loads(result.stdout)]
