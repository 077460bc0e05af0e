"""`mlog ls` through the real CLI: filters, sorting, columns, JSON shape and error paths."""

from __future__ import annotations

import json
from typing import Any

import pytest

from mlog.storage.store import Store
from tests.test_index import make_record, write


@pytest.fixture
def three_runs(repo: Any) -> list[str]:
    store = Store(repo.path)
    return [
        write(
            store, make_record(1, params={"lr": 0.1}, metrics={"acc": 0.7}, tags={"team": "fraud"})
        ),
        write(store, make_record(2, status="failed", params={"lr": 0.01}, note="OOM on gpu-3")),
        write(store, make_record(3, params={"lr": 0.01}, metrics={"acc": 0.9}, model="ranker")),
    ]


def ls_json(cli: Any, *args: str) -> list[dict[str, Any]]:
    result = cli("ls", "--json", *args)
    assert result.exit_code == 0, result
    assert result.stderr == "", result
    rows: list[dict[str, Any]] = json.loads(result.stdout)
    return rows


def test_json_shape_is_stable(cli: Any, three_runs: list[str]) -> None:
    rows = ls_json(cli, "--columns", "params.lr,params")
    assert set(rows[0]) == {
        "id", "alias", "model", "status", "started_at", "duration_s",
        "commit", "dirty", "metrics", "note", "columns", "verified",
    }  # fmt: skip
    assert [row["id"] for row in rows] == three_runs[::-1]
    assert rows[0]["columns"] == {"params.lr": 0.01, "params": {"lr": 0.01}}
    assert rows[1]["metrics"] == {} and rows[1]["note"] == "OOM on gpu-3"


def test_where_filters(cli: Any, three_runs: list[str]) -> None:
    first, second, third = three_runs
    assert [r["id"] for r in ls_json(cli, "--where", "params.lr <= 0.01")] == [third, second]
    assert [r["id"] for r in ls_json(cli, "-w", 'status = "failed"')] == [second]
    assert [r["id"] for r in ls_json(cli, "-w", 'tags.team = "fraud"')] == [first]
    assert [r["id"] for r in ls_json(cli, "-w", "note ~ /oom/i")] == [second]
    assert [r["id"] for r in ls_json(cli, "-w", "not metrics.acc exists")] == [second]
    assert ls_json(cli, "-w", "metrics.acc > 0.95") == []


def test_sort_descending_puts_missing_last_and_limit_cuts(cli: Any, three_runs: list[str]) -> None:
    first, second, third = three_runs
    assert [r["id"] for r in ls_json(cli, "--sort", "-metrics.acc")] == [third, first, second]
    assert [r["id"] for r in ls_json(cli, "--sort", "metrics.acc")] == [first, third, second]
    assert [r["id"] for r in ls_json(cli, "--sort", "params.lr,-metrics.acc", "-n", "2")] == [
        third,
        second,
    ]


def test_table_shows_requested_columns(cli: Any, three_runs: list[str]) -> None:
    result = cli("ls", "--where", 'model = "ranker"', "--columns", "params.lr,metrics.acc")
    assert result.exit_code == 0, result
    assert "params" in result.stdout and "0.01" in result.stdout and "v3" in result.stdout
    assert "v1" not in result.stdout


def test_no_match_says_so(cli: Any, three_runs: list[str]) -> None:
    result = cli("ls", "--where", "metrics.acc > 2")
    assert (result.exit_code, result.stdout) == (0, ""), result
    assert "no runs match --where" in result.stderr


def test_malformed_where_points_at_the_column(cli: Any, three_runs: list[str]) -> None:
    result = cli("ls", "--where", "metrics.acc >> 1")
    assert result.exit_code == 2, result
    assert result.stdout == ""
    assert "error: invalid --where expression at column 14" in result.stderr, result
    assert "metrics.acc >> 1" in result.stderr and "^" in result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--sort", "-"], "invalid --sort key"),
        (["--columns", "params lr"], "invalid --columns key"),
    ],
)
def test_bad_sort_and_columns_are_usage_errors(
    cli: Any, three_runs: list[str], args: list[str], message: str
) -> None:
    result = cli("ls", *args)
    assert result.exit_code == 2, result
    assert f"error: {message}" in result.stderr, result


def test_broken_record_fails_the_listing(cli: Any, repo: Any) -> None:
    store = Store(repo.path)
    write(store, make_record(1))
    bad = make_record(2)
    store.write_run(bad["id"], "alias: v2\nmodel: [unclosed\n", {})
    result = cli("ls")
    assert result.exit_code == 9, result
    assert "error: " in result.stderr and bad["id"] in result.stderr, result


def test_outside_a_repo_is_a_clear_error(cli: Any, tmp_path: Any, monkeypatch: Any) -> None:
    monkeypatch.chdir(tmp_path)
    result = cli("ls", "--where", "a = 1")
    assert result.exit_code == 4, result
    assert "error: " in result.stderr and "git" in result.stderr, result


def test_empty_repo_says_how_to_start(cli: Any, repo: Any) -> None:
    result = cli("ls")
    assert result.exit_code == 0, result
    assert "no runs recorded yet" in result.stderr


def test_table_shows_the_model_column_only_when_models_differ(repo: Any, cli: Any) -> None:
    store = Store(repo.path)
    write(store, make_record(1, metrics={"acc": 0.7}))
    write(store, make_record(2, metrics={"acc": 0.8}))
    single = cli("ls")
    assert single.exit_code == 0 and "model" not in single.stdout.splitlines()[0], single
    write(store, make_record(3, metrics={"acc": 0.9}, model="ranker"))
    mixed = cli("ls")
    assert mixed.exit_code == 0 and "model" in mixed.stdout.splitlines()[0], mixed


def test_metrics_that_do_not_fit_are_named_not_squeezed(repo: Any, cli: Any) -> None:
    store = Store(repo.path)
    many = {f"metric_number_{i}": i / 10 for i in range(12)}
    write(store, make_record(1, metrics=many))
    terminal = {"FORCE_COLOR": "1", "COLUMNS": "80"}
    result = cli("ls", env=terminal)
    assert result.exit_code == 0, result
    assert "more metric(s) do not fit" in result.stderr, result
    assert "metric_number_0" in result.stdout and "metric_number_11" not in result.stdout
    wide = cli("ls", "--columns", "metrics.metric_number_11", env=terminal)
    assert "metric_number_11" in wide.stdout and "do not fit" not in wide.stderr, wide


def test_piped_ls_prints_every_column_as_tab_separated_rows(repo: Any, cli: Any) -> None:
    store = Store(repo.path)
    many = {f"metric_number_{i}": i / 10 for i in range(12)}
    run_id = write(store, make_record(1, metrics=many))
    result = cli("ls", "--columns", "id,metrics.metric_number_11")
    assert result.exit_code == 0, result
    header, row = result.stdout.splitlines()
    assert header.split("\t")[-3:] == ["id", "metric_number_11", "note"], result
    assert run_id in row.split("\t") and "1.1" in row.split("\t"), result
    everything = cli("ls")
    assert "metric_number_11" in everything.stdout.splitlines()[0], everything
    assert "do not fit" not in everything.stderr, everything
