"""``mlog export parquet``: one row per run, one per series point, read back with pyarrow."""

from __future__ import annotations

import csv
import json
import os
import sys
from datetime import datetime, timedelta
from typing import Any

import pytest

from mlog.storage import forking
from mlog.storage.store import Store
from tests.conftest import PYTHON, Repo
from tests.test_registry import ok

pq = pytest.importorskip("pyarrow.parquet")

TRAIN = """
import sys
import mlog
lr = float(sys.argv[1])
mlog.log_params({"lr": lr, "layers": [64, 32]})
for step in range(3):
    mlog.log_metric("loss", lr * (3 - step), step=step)
mlog.log_metric("auc", 0.9 + lr)
open("model.pkl", "wb").write(b"w")
sys.exit(int(sys.argv[2]))
"""


@pytest.fixture
def runs(repo: Repo, cli: Any) -> Repo:
    repo.gen({"train.py": TRAIN, ".gitignore": "model.pkl\n", "data/train.csv": "a\n1\n"})
    repo.commit("training")
    for lr, code in (("0.01", "0"), ("0.05", "0"), ("0.1", "1")):
        flags = ("-a", "model.pkl", "-d", "train=data/train.csv", "--tag", "team=risk")
        result = cli("run", *flags, "--", PYTHON, "train.py", lr, code)
        assert result.exit_code == int(code), result
    return repo


def test_runs_and_series_tables(runs: Repo, cli: Any) -> None:
    result = ok(cli("export", "parquet", "-o", "runs.parquet", "--series"))
    assert "wrote runs.parquet (3 rows)" in result.stdout
    assert "wrote runs.series.parquet (9 rows)" in result.stdout
    table = pq.read_table(runs.path / "runs.parquet")
    rows = sorted(table.to_pylist(), key=lambda row: row["id"])
    store = Store(runs.path)
    records = [store.load_record(run_id) for run_id in store.run_ids()]
    assert [row["id"] for row in rows] == [r["id"] for r in records]
    assert [row["status"] for row in rows] == ["succeeded", "succeeded", "failed"]
    assert [row["params.lr"] for row in rows] == [0.01, 0.05, 0.1]
    assert rows[0]["params.layers"] == "[64, 32]" and rows[0]["tags.team"] == "risk"
    assert rows[1]["metrics.auc"] == pytest.approx(0.95)
    assert rows[0]["commit"] == runs.git("rev-parse", "HEAD")
    assert rows[0]["data.train.hash"] == records[0]["data"]["train"]["hash"]
    assert rows[0]["artifacts.model.pkl.sha256"] == records[0]["artifacts"][0]["sha256"]
    started = records[0]["command"]["started_at"]
    assert str(table.schema.field("started_at").type) == "timestamp[us, tz=UTC]"
    assert rows[0]["started_at"] == datetime.fromisoformat(started.replace("Z", "+00:00"))
    points = pq.read_table(runs.path / "runs.series.parquet").to_pylist()
    first = [p for p in points if p["run"] == records[0]["id"]]
    assert [(p["name"], p["step"], p["value"]) for p in first] == [
        ("loss", 0, 0.03), ("loss", 1, 0.02), ("loss", 2, 0.01)
    ]  # fmt: skip
    assert all(p["time"].utcoffset() == timedelta(0) for p in points)


def test_where_and_csv(runs: Repo, cli: Any) -> None:
    where = 'status = "succeeded" and params.lr > 0.02'
    ok(cli("export", "parquet", "--where", where, "-o", "ok.csv", "--csv", "--series"))
    with (runs.path / "ok.csv").open() as handle:
        rows = list(csv.DictReader(handle))
    assert len(rows) == 1 and rows[0]["params.lr"] == "0.05" and rows[0]["alias"] == "v2"
    with (runs.path / "ok.series.csv").open() as handle:
        points = list(csv.DictReader(handle))
    assert [p["step"] for p in points] == ["0", "1", "2"]
    assert json.loads(rows[0]["argv"])[-2:] == ["0.05", "0"]


def test_bad_where_and_missing_folder(repo: Repo, cli: Any) -> None:
    bad = cli("export", "parquet", "--where", "params.lr >", "-o", "x.parquet")
    assert bad.exit_code == 2 and bad.stderr.startswith("error:"), bad
    missing = cli("export", "parquet", "-o", "nowhere/x.parquet")
    assert missing.exit_code == 2, missing
    assert "folder nowhere does not exist (create it first)" in missing.stderr
    assert not (repo.path / "x.parquet").exists()


def test_missing_pyarrow_names_the_extra(
    repo: Repo, cli: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "pyarrow", None)
    result = cli("export", "parquet", "-o", "runs.parquet")
    assert result.exit_code == 2, result
    assert result.stderr == "error: pyarrow is not installed (pip install 'mlog-cli[data]')\n"
    assert not (repo.path / "runs.parquet").exists()


def test_many_runs_are_read_on_every_core_with_the_same_rows_and_warnings(
    runs: Repo, cli: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Forked workers read the records (one per record here): the same table as one core,
    and a record edited in place is still reported as tampered."""
    from mlog.interop import parquet

    store = Store(runs.path)
    victim = store.run_ids()[1]
    path = store.record_path(victim)
    path.write_text(path.read_text().replace("team: risk", "team: fraud"))
    serial = cli("export", "parquet", "-o", "one.parquet")
    monkeypatch.setattr(parquet, "_ROWS_EACH", 1)
    forks: list[int] = []
    fork = os.fork

    def counted() -> int:
        forks.append(1)
        return fork()

    monkeypatch.setattr(os, "fork", counted)
    forked = cli("export", "parquet", "-o", "many.parquet")
    assert len(forks) == min(forking.cores(), 3)
    for result in (serial, forked):
        assert result.exit_code == 0, result
        assert f"run {victim} is TAMPERED" in result.stderr
    one, many = (
        pq.read_table(runs.path / name).to_pylist() for name in ("one.parquet", "many.parquet")
    )
    assert many == one and [row["tags.team"] for row in many] == ["risk", "fraud", "risk"]
