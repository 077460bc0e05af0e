"""``mlog lineage`` and the producers ``mlog show`` names: runs linked by content hash."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.conftest import PYTHON, Repo

FEATURIZE = """\
import pathlib
rows = pathlib.Path("data/raw.csv").read_text().splitlines()
pathlib.Path("features.csv").write_text("\\n".join(r.upper() for r in rows) + "\\n")
"""
TRAIN = """\
import json, pathlib
text = pathlib.Path("features.csv").read_text()
pathlib.Path("model.pkl").write_bytes(text.encode()[::-1])
json.dump({"acc": len(text) / 100}, open("metrics.json", "w"))
"""


@pytest.fixture
def pipeline(repo: Repo, cli: Any) -> dict[str, str]:
    """Run A writes features.csv; run B trains on it and is registered as m@v1."""
    repo.gen(
        {
            "featurize.py": FEATURIZE,
            "train.py": TRAIN,
            "data/raw.csv": "a,b\n1,2\n",
            ".gitignore": "features.csv\nmodel.pkl\nmetrics.json\ndata/\nshards/\n",
        }
    )
    repo.commit("pipeline")
    a = cli("run", "-d", "raw=data/raw.csv", "-a", "features.csv", "--", PYTHON, "featurize.py")
    assert a.exit_code == 0, a
    b = cli("run", "--data", "features.csv", "-a", "model.pkl", "-m", "metrics.json",
            "--model", "m", "--", PYTHON, "train.py")  # fmt: skip
    assert b.exit_code == 0, b
    registered = cli("register", "v2", "--model", "m")
    assert registered.exit_code == 0, registered
    first, second = repo.run_ids()
    return {"A": first, "B": second}


def test_lineage_of_b_names_a_as_producer(pipeline: dict[str, str], cli: Any) -> None:
    result = cli("lineage", "v2")

    assert result.exit_code == 0, result
    lines = result.stdout.splitlines()
    assert lines[0].startswith(f"v2  m  succeeded  {pipeline['B']}"), result
    assert "features  features.csv  xxh3_128:" in lines[1], result
    assert f"v1  default  succeeded  {pipeline['A']}  (wrote features.csv)" in lines[2], result
    assert "raw  data/raw.csv" in lines[3] and "(no run produced it)" in lines[3], result


def test_lineage_of_model_version_names_both_runs(pipeline: dict[str, str], cli: Any) -> None:
    result = cli("lineage", "m@v1", "--json")

    assert result.exit_code == 0, result
    graph = json.loads(result.stdout)
    assert graph["root"] == "model:m@v1"
    runs = {node["run"] for node in graph["nodes"] if node["kind"] == "run"}
    assert runs == {pipeline["A"], pipeline["B"]}
    edges = {(e["from"], e["to"]) for e in graph["edges"]}
    assert (f"run:{pipeline['B']}", "model:m@v1") in edges
    features = next(n for n in graph["nodes"] if n.get("path") == "features.csv")
    assert (f"run:{pipeline['A']}", features["id"]) in edges
    assert (features["id"], f"run:{pipeline['B']}") in edges


def test_lineage_down_names_consumer_and_model_version(pipeline: dict[str, str], cli: Any) -> None:
    result = cli("lineage", "v1", "--down")

    assert result.exit_code == 0, result
    assert f"v2  m  succeeded  {pipeline['B']}  (reads it as features)" in result.stdout, result
    assert "m@v1  (model version)" in result.stdout, result
    as_json = json.loads(cli("lineage", "v1", "--down", "--json").stdout)
    labels = {node["label"] for node in as_json["nodes"]}
    assert "m@v1" in labels
    assert {n.get("run") for n in as_json["nodes"]} >= {pipeline["A"], pipeline["B"]}


def test_lineage_down_from_a_model_version_starts_at_its_run(
    pipeline: dict[str, str], cli: Any
) -> None:
    result = cli("lineage", "m@v1", "--down")

    assert result.exit_code == 0, result
    assert result.stdout.startswith(f"v2  m  succeeded  {pipeline['B']}"), result
    assert "m@v1  (model version)" in result.stdout and "model.pkl" in result.stdout, result


def test_dot_and_mermaid(pipeline: dict[str, str], cli: Any) -> None:
    dot = cli("lineage", "m@v1", "--dot")
    mermaid = cli("lineage", "m@v1", "--mermaid")

    assert dot.exit_code == 0 and mermaid.exit_code == 0, (dot, mermaid)
    assert dot.stdout.startswith("digraph lineage {")
    assert f'"run:{pipeline["B"]}" -> "model:m@v1" [label="registered"];' in dot.stdout
    assert mermaid.stdout.startswith("flowchart LR\n")
    assert '{{"m@v1"}}' in mermaid.stdout
    assert "-->|features.csv|" in mermaid.stdout
    assert "-->|registered|" in mermaid.stdout


def test_a_file_inside_a_dataset_directory_links_its_producer(
    repo: Repo, pipeline: dict[str, str], cli: Any
) -> None:
    (repo.path / "shards").mkdir()
    (repo.path / "shards" / "part-0.csv").write_bytes((repo.path / "features.csv").read_bytes())
    (repo.path / "shards" / "part-1.csv").write_text("other\n")
    result = cli("run", "-d", "shards/", "--", PYTHON, "-c", "pass")
    assert result.exit_code == 0, result

    up = cli("lineage", "v3")

    assert up.exit_code == 0, up
    assert f"{pipeline['A']}  (wrote features.csv as part-0.csv)" in up.stdout, up
    down = cli("lineage", "v1", "--down")
    assert "v3" in down.stdout and "(reads it as shards (file part-0.csv))" in down.stdout, down


def test_depth_limits_the_walk(pipeline: dict[str, str], cli: Any) -> None:
    result = cli("lineage", "v2", "--depth", "0", "--json")

    assert result.exit_code == 0, result
    graph = json.loads(result.stdout)
    assert [n["run"] for n in graph["nodes"] if n["kind"] == "run"] == [pipeline["B"]]
    assert graph["truncated"] == [pipeline["B"]]
    assert "--depth reached" in cli("lineage", "v2", "--depth", "0").stdout


def test_a_run_nobody_produced_has_only_inputs(repo: Repo, cli: Any) -> None:
    assert cli("run", "-d", "params.yaml", "--", PYTHON, "-c", "pass").exit_code == 0

    result = cli("lineage", "v1", "--json")

    graph = json.loads(result.stdout)
    data = [n for n in graph["nodes"] if n["kind"] == "data"]
    assert [(n["path"], n["produced"]) for n in data] == [("params.yaml", False)]


def test_show_names_producers_and_the_reproduces_link(
    repo: Repo, pipeline: dict[str, str], cli: Any
) -> None:
    fresh = cli("show", "v2")  # no index yet in this clone: show does not build one
    assert fresh.exit_code == 0, fresh
    assert "not indexed yet in this clone (see `mlog lineage RUN`)" in fresh.stdout, fresh
    assert not (repo.path / ".mlog" / "cache" / "index.sqlite").exists()
    assert cli("ls").exit_code == 0

    shown = cli("show", "v2")
    assert shown.exit_code == 0, shown
    line = next(li for li in shown.stdout.splitlines() if "wrote features.csv" in li)
    assert line.split()[:4] == ["features", "←", "v1", f"({pipeline['A']})"], shown

    assert cli("rerun", "v1").exit_code == 0
    rerun = cli("show", "v3")
    assert ["reproduces", "v1", f"({pipeline['A']})"] in _rows(rerun.stdout), rerun
    original = cli("show", "v1")
    assert ["reproduced", "by", "v3"] in [row[:3] for row in _rows(original.stdout)], original


def _rows(text: str) -> list[list[str]]:
    return [line.split() for line in text.splitlines()]


def test_bad_input(pipeline: dict[str, str], cli: Any) -> None:
    both = cli("lineage", "v1", "--dot", "--mermaid")
    assert both.exit_code == 2, both
    assert "choose one of --json, --dot and --mermaid" in both.stderr
    unknown = cli("lineage", "v9")
    assert unknown.exit_code == 6, unknown
    assert unknown.stderr.startswith("error: unknown run v9"), unknown
    version = cli("lineage", "m@v7")
    assert version.exit_code == 6, version
    assert "unknown version m@v7" in version.stderr, version
    negative = cli("lineage", "v1", "--depth", "-1")
    assert negative.exit_code == 2, negative


def test_index_follows_new_runs(repo: Repo, pipeline: dict[str, str], cli: Any) -> None:
    assert "v3" not in cli("lineage", "v1", "--down").stdout
    result = cli("run", "--data", "features.csv", "--", PYTHON, "-c", "pass")
    assert result.exit_code == 0, result

    assert "v3" in cli("lineage", "v1", "--down").stdout


def test_lineage_catches_up_through_its_triggers_and_after_a_rebuild(
    repo: Repo, pipeline: dict[str, str], cli: Any
) -> None:
    import sqlite3

    index_file = repo.path / ".mlog" / "cache" / "index.sqlite"
    assert "v3" not in cli("lineage", "v1", "--down").stdout
    with sqlite3.connect(index_file) as conn:
        triggers = {row[0] for row in conn.execute("SELECT name FROM sqlite_master "
                                                   "WHERE type = 'trigger'")}  # fmt: skip
        assert {"lineage_runs_added", "lineage_runs_removed", "lineage_runs_changed"} <= triggers
        assert conn.execute("SELECT count(*) FROM lineage_dirty").fetchone() == (0,)
    assert cli("run", "--data", "features.csv", "--", PYTHON, "-c", "pass").exit_code == 0
    assert "v3" in cli("lineage", "v1", "--down").stdout
    with sqlite3.connect(index_file) as conn:  # synced: nothing left to look at again
        assert conn.execute("SELECT count(*) FROM lineage_dirty").fetchone() == (0,)
    for name in ("index.sqlite", "index.sqlite-wal", "index.sqlite-shm"):
        (repo.path / ".mlog" / "cache" / name).unlink(missing_ok=True)
    rebuilt = cli("lineage", "v1", "--down")
    assert "v3" in rebuilt.stdout and "m@v1" in rebuilt.stdout, rebuilt
    third = repo.run_ids()[-1]  # a record removed (as a squash of history might) is forgotten
    for path in (repo.run_dir(third)).iterdir():
        path.unlink()
    (repo.run_dir(third)).rmdir()
    assert "v3" not in cli("lineage", "v1", "--down").stdout


def test_lineage_trusts_a_settled_index_but_rechecks_the_runs_it_draws(
    repo: Repo, pipeline: dict[str, str], cli: Any
) -> None:
    """Like `ls --limit`: no listing of every run while none was added or removed, but a
    record of the graph edited in place since is seen (the index is refreshed first)."""
    import os
    import time

    assert cli("lineage", "v2").exit_code == 0
    runs = repo.path / ".mlog" / "runs"
    past = time.time_ns() - 5_000_000_000
    for folder in (runs, *runs.iterdir()):
        os.utime(folder, ns=(past, past))
    assert cli("lineage", "v2").exit_code == 0  # settles the index's stamp
    record = repo.run_dir(pipeline["A"]) / "record.yaml"
    record.write_text(record.read_text().replace("status: succeeded", "status: failed"))
    result = cli("lineage", "v2")
    assert result.exit_code == 0, result
    assert f"v1  default  failed  {pipeline['A']}" in result.stdout, result
