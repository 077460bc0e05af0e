"""Data profiles and drift, computed from generated CSV, Parquet and JSON-lines files."""

from __future__ import annotations

import json
import math
import random
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from mlog.errors import DataError
from mlog.profile.compute import ProfileSettings, profile_files
from mlog.profile.drift import Thresholds, cdf, compare_profiles, psi
from mlog.profile.formats import file_format

ROWS = 1000


def known_table() -> pa.Table:
    """x = 0..999; y = x / 2 with every 4th value missing; city alternates a/b; flag booleans."""
    return pa.table(
        {
            "x": pa.array(range(ROWS), pa.int64()),
            "y": pa.array([None if i % 4 == 0 else i / 2 for i in range(ROWS)], pa.float64()),
            "city": pa.array(["a" if i % 2 else "b" for i in range(ROWS)]),
            "flag": pa.array([i % 10 == 0 for i in range(ROWS)]),
        }
    )


def write_csv(path: Path, table: pa.Table) -> Path:
    import pyarrow.csv as pcsv

    pcsv.write_csv(table, path)
    return path


def column(profile: dict, name: str) -> dict:
    return next(c for c in profile["columns"] if c["name"] == name)


def assert_known(profile: dict) -> None:
    assert profile["rows"] == ROWS
    assert [c["name"] for c in profile["columns"]] == ["x", "y", "city", "flag"]
    x, y, city, flag = (column(profile, n) for n in ("x", "y", "city", "flag"))
    assert (x["type"], x["kind"], x["nulls"]) == ("int64", "numeric", 0)
    assert (x["min"], x["max"]) == (0, 999)
    assert x["mean"] == pytest.approx(499.5)
    assert x["std"] == pytest.approx(math.sqrt((ROWS**2 - 1) / 12))
    assert x["quantiles"][0] == 0 and x["quantiles"][-1] == 999
    assert x["quantiles"][10] == pytest.approx(499.5, abs=5)  # the median, from the sketch
    assert len(x["quantiles"]) == 21
    present = [i / 2 for i in range(ROWS) if i % 4]
    assert (y["type"], y["nulls"], y["null_rate"]) == ("double", 250, 0.25)
    assert y["mean"] == pytest.approx(sum(present) / len(present))
    assert (city["type"], city["kind"], city["distinct"], city["distinct_exact"]) == (
        "string",
        "categorical",
        2,
        True,
    )
    assert {t["value"]: t["count"] for t in city["top"]} == {"a": 500, "b": 500}
    assert (flag["type"], flag["kind"]) == ("bool", "categorical")
    assert {t["value"]: t["count"] for t in flag["top"]} == {"true": 100, "false": 900}


def test_csv_profile_has_known_counts_and_means(tmp_path: Path) -> None:
    found = profile_files([str(write_csv(tmp_path / "train.csv", known_table()))])
    assert_known(found)
    assert (found["format"], found["files"], found["sample"]) == ("csv", 1, None)
    assert found["engine"].startswith("pyarrow ")


def test_parquet_profile_reads_every_row_group(tmp_path: Path) -> None:
    path = tmp_path / "train.parquet"
    pq.write_table(known_table(), path, row_group_size=128)
    assert pq.ParquetFile(path).num_row_groups == 8
    found = profile_files([str(path)])
    assert_known(found)
    assert found["format"] == "parquet"


def test_json_lines_profile(tmp_path: Path) -> None:
    path = tmp_path / "train.jsonl"
    rows = known_table().to_pylist()
    path.write_text("".join(json.dumps(row) + "\n" for row in rows))
    assert_known(profile_files([str(path)]))


def test_files_of_several_formats_are_one_table(tmp_path: Path) -> None:
    table = known_table()
    first = write_csv(tmp_path / "part-1.csv", table.slice(0, 600))
    second = tmp_path / "part-2.parquet"
    pq.write_table(table.slice(600), second)
    found = profile_files([str(first), str(second)])
    assert_known(found)
    assert (found["files"], found["format"]) == (2, "csv | parquet")


def test_a_column_missing_from_one_file_counts_as_missing_there(tmp_path: Path) -> None:
    first = write_csv(tmp_path / "a.csv", pa.table({"x": [1, 2], "extra": ["p", "q"]}))
    second = write_csv(tmp_path / "b.csv", pa.table({"x": [3, 4, 5]}))
    found = profile_files([str(first), str(second)])
    assert column(found, "extra")["nulls"] == 3
    assert column(found, "x")["mean"] == pytest.approx(3)


def test_large_data_is_sampled_and_the_profile_says_so(tmp_path: Path) -> None:
    path = tmp_path / "big.parquet"
    pq.write_table(known_table(), path, row_group_size=100)
    found = profile_files([str(path)], settings=ProfileSettings(sample_above_bytes=1))
    assert found["rows"] == ROWS  # counted from every row group, profiled from some
    assert found["sample"]["every"] > 1
    assert found["sample"]["rows"] < ROWS
    assert column(found, "x")["nulls"] == 0


def test_unreadable_data_is_a_data_error(tmp_path: Path) -> None:
    path = tmp_path / "broken.parquet"
    path.write_bytes(b"not parquet at all")
    with pytest.raises(DataError, match=r"cannot profile .*broken\.parquet"):
        profile_files([str(path)])
    with pytest.raises(DataError, match="no CSV, Parquet or JSON-lines file"):
        profile_files([])


def test_file_formats_come_from_the_name() -> None:
    assert file_format("a/b.CSV") == "csv"
    assert file_format("b.csv.gz") == "csv"
    assert file_format("b.tsv") == "tsv"
    assert file_format("b.pq") == "parquet"
    assert file_format("b.ndjson") == "jsonl"
    assert file_format("README.md") is None


# ------------------------------------------------------------------ drift


def generated(path: Path, *, shift: float = 0.0, null_share: float = 0.0, seed: int = 7) -> dict:
    rng = random.Random(seed)
    rows = 4000
    table = pa.table(
        {
            "amount": [rng.gauss(100 + shift, 10) for _ in range(rows)],
            "age": [
                None if rng.random() < null_share else rng.randint(18, 80) for _ in range(rows)
            ],
            "city": [rng.choice(["paris", "lyon", "nice"]) for _ in range(rows)],
        }
    )
    return profile_files([str(write_csv(path, table))])


def test_shifted_distribution_and_added_nulls_drift_past_the_threshold(tmp_path: Path) -> None:
    before = generated(tmp_path / "a.csv")
    same = generated(tmp_path / "b.csv", seed=8)
    after = generated(tmp_path / "c.csv", shift=15, null_share=0.3)
    quiet = compare_profiles(before, same)
    assert quiet["drifted"] == [] and not quiet["changed"]
    assert all(c["psi"] < 0.1 for c in quiet["columns"])
    found = compare_profiles(before, after)
    assert found["drifted"] == ["amount", "age"]
    scores = {c["name"]: c for c in found["columns"]}
    assert scores["amount"]["psi"] > 0.2 and scores["amount"]["method"] == "psi-quantiles"
    assert scores["age"]["psi"] > 0.2
    assert scores["age"]["null_rate"]["old"] == 0
    assert scores["age"]["null_rate"]["new"] == pytest.approx(0.3, abs=0.03)
    assert scores["city"]["method"] == "psi-top-values" and not scores["city"]["drifted"]
    assert found["max_psi"] == max(c["psi"] for c in found["columns"])


def test_thresholds_decide_what_counts_as_drift(tmp_path: Path) -> None:
    before = generated(tmp_path / "a.csv")
    after = generated(tmp_path / "c.csv", shift=15, null_share=0.3)
    lenient = compare_profiles(before, after, Thresholds(psi=100, null_rate=0.5))
    assert lenient["drifted"] == []
    assert Thresholds.from_config({"psi": 0.1}) == Thresholds(psi=0.1, null_rate=0.05)


def test_a_renamed_column_is_removed_plus_added(tmp_path: Path) -> None:
    table = known_table()
    old = profile_files([str(write_csv(tmp_path / "a.csv", table))])
    renamed = table.rename_columns(["x", "y", "town", "flag"])
    new = profile_files([str(write_csv(tmp_path / "b.csv", renamed))])
    found = compare_profiles(old, new)
    assert (found["removed_columns"], found["added_columns"]) == (["city"], ["town"])
    assert found["changed"] and found["drifted"] == []


def test_a_type_change_is_reported(tmp_path: Path) -> None:
    old = profile_files([str(write_csv(tmp_path / "a.csv", pa.table({"x": [1, 2, 3]})))])
    new = profile_files([str(write_csv(tmp_path / "b.csv", pa.table({"x": [1.5, 2, 3]})))])
    found = compare_profiles(old, new)
    assert found["type_changes"] == ["x"]
    assert found["columns"][0]["type"] == {"old": "int64", "new": "double"}


def test_psi_and_cdf_basics() -> None:
    assert psi([0.5, 0.5], [0.5, 0.5]) == 0
    assert psi([0.9, 0.1], [0.1, 0.9]) == pytest.approx(2 * 0.8 * math.log(9))
    quantiles = [0.0, 1.0, 2.0, 4.0]
    assert cdf(quantiles, -1) == 0 and cdf(quantiles, 4) == 1
    assert cdf(quantiles, 1.5) == pytest.approx(0.5)
    assert cdf(quantiles, 3) == pytest.approx(2.5 / 3)
    assert cdf([], 1) == 0


def test_pyarrow_is_imported_by_the_profiler_only() -> None:
    """The `data` extra is optional: nothing but mlog.profile.compute may import pyarrow."""
    import ast

    src = Path(__file__).resolve().parent.parent / "src" / "mlog"
    importers = set()
    for path in src.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            names = (
                [a.name for a in node.names]
                if isinstance(node, ast.Import)
                else [node.module or ""]
                if isinstance(node, ast.ImportFrom)
                else []
            )
            if any(name.split(".")[0] == "pyarrow" for name in names):
                importers.add(path.relative_to(src).as_posix())
    assert importers == {"profile/compute.py"}
