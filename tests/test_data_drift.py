"""Profiles in records, drift in diff and validation, the data_drift gate and `mlog data review`."""

from __future__ import annotations

import json
import random
import sys
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from mlog.storage import yamlio
from tests.conftest import Repo

QA = {"GIT_AUTHOR_EMAIL": "qa@example.com"}  # approvals come from someone else than the registrant
TRAIN = "import pathlib; pathlib.Path('model.bin').write_bytes(b'weights')\n"


def train_csv(*, shift: float = 0.0, null_share: float = 0.0, seed: int = 3) -> str:
    rng = random.Random(seed)
    lines = ["amount,age,city"]
    for _ in range(3000):
        age = "" if rng.random() < null_share else str(rng.randint(18, 80))
        city = rng.choice(["paris", "lyon", "nice"])
        lines.append(f"{rng.gauss(100 + shift, 10):.4f},{age},{city}")
    return "\n".join(lines) + "\n"


def record(repo: Repo, alias: str) -> dict[str, Any]:
    for run_id in repo.run_ids():
        loaded = yamlio.load_file(repo.run_dir(run_id) / "record.yaml")
        if loaded["alias"] == alias:
            return loaded
    raise AssertionError(f"no run {alias}")


def run(cli: Any, *data: str) -> Any:
    args = [a for d in data for a in ("--data", d)]
    result = cli(
        "run",
        "--model",
        "fraud",
        *args,
        "--artifact",
        "model.bin",
        "--",
        sys.executable,
        "train.py",
    )
    assert result.exit_code == 0, result
    return result


@pytest.fixture
def drifted(repo: Repo, cli: Any) -> Repo:
    """v1 on baseline data, in production; v2 where amount shifts and age gains 30% nulls."""
    repo.gen({"train.py": TRAIN, ".gitignore": "model.bin\n", "data/train.csv": train_csv()})
    repo.commit("baseline data")
    run(cli, "train=data/train.csv")
    assert cli("register", "v1", "--model", "fraud").exit_code == 0
    assert cli("approve", "fraud@v1", env=QA).exit_code == 0
    assert cli("promote", "fraud@v1", "--to", "production").exit_code == 0
    repo.gen({"data/train.csv": train_csv(shift=15, null_share=0.3, seed=4)})
    repo.commit("new partition")
    return repo


def test_a_run_records_a_profile_object(repo: Repo, cli: Any) -> None:
    repo.gen({"train.py": TRAIN, ".gitignore": "model.bin\n", "data/train.csv": train_csv()})
    repo.commit("data")
    run(cli, "train=data/train.csv")
    entry = record(repo, "v1")["data"]["train"]
    assert entry["profile"]["rows"] == 3000 and entry["profile"]["columns"] == 3
    assert entry["profile"]["sample"] is None
    shown = cli("data", "profile", "v1", "--json")
    assert shown.exit_code == 0, shown
    profile = json.loads(shown.stdout)["profiles"]["train"]
    assert [c["name"] for c in profile["columns"]] == ["amount", "age", "city"]
    assert profile["columns"][2]["distinct"] == 3
    assert "3000×3" in cli("show", "v1").stdout
    text = cli("data", "profile", "v1")
    assert text.exit_code == 0 and "3000 rows" in text.stdout and "distinct 3" in text.stdout


def test_an_unchanged_dataset_is_never_profiled_twice(
    repo: Repo, cli: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    repo.gen({"train.py": TRAIN, ".gitignore": "model.bin\n", "data/train.csv": train_csv()})
    repo.commit("data")
    run(cli, "train=data/train.csv")

    def refuse(*args: Any, **kwargs: Any) -> None:
        raise AssertionError("profiled again")

    monkeypatch.setattr("mlog.profile.compute.profile_files", refuse)
    run(cli, "train=data/train.csv")
    assert (
        record(repo, "v2")["data"]["train"]["profile"]
        == record(repo, "v1")["data"]["train"]["profile"]
    )
    for cached in (repo.path / ".mlog" / "cache" / "profiles").iterdir():
        cached.unlink()  # a fresh clone: the profile is found in the recorded runs instead
    run(cli, "train=data/train.csv")
    assert record(repo, "v3")["data"]["train"]["profile"]["rows"] == 3000


def test_opting_out_per_dataset_and_in_config(repo: Repo, cli: Any) -> None:
    repo.gen(
        {
            "train.py": TRAIN,
            ".gitignore": "model.bin\n",
            "data/train.csv": train_csv(),
            "data/test.csv": train_csv(),
        }
    )
    repo.commit("data")
    run(cli, "train=data/train.csv:noprofile", "test=data/test.csv")
    data = record(repo, "v1")["data"]
    assert "profile" not in data["train"] and "profile" in data["test"]
    assert data["train"]["path"] == "data/train.csv"
    config = repo.path / ".mlog" / "config.yaml"
    config.write_text(config.read_text() + "profile:\n  skip: [test]\n")
    repo.commit("skip test")
    run(cli, "train=data/train.csv", "test=data/test.csv")
    data = record(repo, "v2")["data"]
    assert "profile" in data["train"] and "profile" not in data["test"]


def test_without_pyarrow_the_run_is_recorded_with_one_warning(
    repo: Repo, cli: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    repo.gen(
        {
            "train.py": TRAIN,
            ".gitignore": "model.bin\n",
            "data/a.csv": train_csv(),
            "data/b.csv": train_csv(seed=9),
        }
    )
    repo.commit("data")
    monkeypatch.setitem(sys.modules, "pyarrow", None)  # import pyarrow now fails
    result = run(cli, "a=data/a.csv", "b=data/b.csv")
    found = record(repo, "v1")
    assert "profile" not in found["data"]["a"]
    hints = [w for w in found["warnings"] if "mlog-cli[data]" in w]
    assert len(hints) == 1, found["warnings"]
    assert "mlog-cli[data]" in result.stderr


def test_non_tabular_data_is_hashed_not_profiled(repo: Repo, cli: Any) -> None:
    repo.gen(
        {
            "train.py": TRAIN,
            ".gitignore": "model.bin\n",
            "images/a.png": b"\x89PNG",
            "images/b.png": b"\x89PNG2",
        }
    )
    repo.commit("images")
    run(cli, "images=images")
    found = record(repo, "v1")
    assert "profile" not in found["data"]["images"] and not found.get("warnings")


def test_a_directory_of_parquet_files_is_one_table(repo: Repo, cli: Any) -> None:
    (repo.path / "data").mkdir()
    for part in range(3):
        table = pa.table({"x": list(range(part * 10, part * 10 + 10))})
        pq.write_table(table, repo.path / "data" / f"part-{part}.parquet")
    repo.gen({"train.py": TRAIN, ".gitignore": "model.bin\n", "data/README.md": "three parts\n"})
    repo.commit("parquet parts")
    run(cli, "parts=data")
    shown = json.loads(cli("data", "profile", "v1", "--dataset", "parts", "--json").stdout)
    profile = shown["profiles"]["parts"]
    assert (profile["rows"], profile["files"], profile["format"]) == (30, 3, "parquet")
    assert profile["columns"][0]["mean"] == pytest.approx(14.5)


def test_broken_tabular_data_is_a_warning_not_a_lost_run(repo: Repo, cli: Any) -> None:
    repo.gen({"train.py": TRAIN, ".gitignore": "model.bin\n", "data/broken.parquet": "not parquet"})
    repo.commit("broken")
    run(cli, "bad=data/broken.parquet")
    warnings = record(repo, "v1")["warnings"]
    assert any(w.startswith("dataset bad not profiled: cannot profile") for w in warnings)


def test_diff_names_drifted_columns_with_scores_above_threshold(drifted: Repo, cli: Any) -> None:
    run(cli, "train=data/train.csv")
    result = cli("diff", "v1", "v2", "--json")
    assert result.exit_code == 0, result
    entry = json.loads(result.stdout)["data"][0]
    profile = entry["profile"]
    assert profile["drifted"] == ["amount", "age"]
    scores = {c["name"]: c for c in profile["columns"]}
    assert scores["amount"]["psi"] > profile["thresholds"]["psi"]
    assert scores["age"]["psi"] > profile["thresholds"]["psi"]
    assert scores["age"]["null_rate"]["new"] > 0.2
    text = cli("data", "diff", "v1", "v2")
    assert text.exit_code == 0, text
    assert text.stdout.count("DRIFT") == 2 and "profile of train" in text.stdout
    markdown = cli("diff", "v1", "v2", "--md")
    assert "drift in `amount`" in markdown.stdout and "drift in `age`" in markdown.stdout


def test_drift_thresholds_come_from_config(drifted: Repo, cli: Any) -> None:
    run(cli, "train=data/train.csv")
    config = drifted.path / ".mlog" / "config.yaml"
    config.write_text(config.read_text() + "drift:\n  psi: 1000\n  null_rate: 0.9\n")
    result = cli("data", "diff", "v1", "v2", "--json")
    assert json.loads(result.stdout)["datasets"][0]["profile"]["drifted"] == []


def test_validation_flags_drift_against_the_champion(drifted: Repo, cli: Any) -> None:
    result = run(cli, "train=data/train.csv")
    assert "drift in amount" in result.stderr and "age (PSI" in result.stderr
    data = record(drifted, "v2")["validation"]["data"]
    assert data["drifted"] is True
    drift = data["datasets"][0]["drift"]
    assert drift["drifted"] == ["amount", "age"]
    assert drift["columns"]["age"]["null_rate"][0] == 0


def test_promotion_is_refused_by_data_drift_until_reviewed(drifted: Repo, cli: Any) -> None:
    run(cli, "train=data/train.csv")
    assert cli("register", "v2", "--model", "fraud").exit_code == 0
    assert cli("approve", "fraud@v2", env=QA).exit_code == 0
    refused = cli("promote", "fraud@v2", "--to", "production")
    assert refused.exit_code == 11, refused
    assert "data_drift" in refused.stderr and "mlog data review fraud@v2" in refused.stderr
    assert "validation" not in refused.stderr.split("failed:")[1].split("(fix")[0]
    reviewed = cli("data", "review", "fraud@v2", "--reason", "new region; amounts checked")
    assert reviewed.exit_code == 0, reviewed
    assert "ada@example.com reviewed the data of fraud@v2" in reviewed.stderr
    promoted = cli("promote", "fraud@v2", "--to", "production")
    assert promoted.exit_code == 0, promoted
    assert "reviewed by ada@example.com" in promoted.stdout
    trail = json.loads(cli("registry", "history", "fraud", "--json").stdout)
    review = next(e for e in trail if e["kind"] == "data_review")
    assert review["details"]["drifted"] == {"train": ["amount", "age"]}
    assert review["reason"] == "new region; amounts checked"
    assert "reviewed" in cli("registry", "history", "fraud").stdout


def test_data_drift_gate_can_be_left_out_of_config(drifted: Repo, cli: Any) -> None:
    run(cli, "train=data/train.csv")
    config = drifted.path / ".mlog" / "config.yaml"
    gates = "registry:\n  gates:\n    production: [succeeded, approvals]\n"
    config.write_text(config.read_text() + gates)
    assert cli("register", "v2", "--model", "fraud").exit_code == 0
    assert cli("approve", "fraud@v2", env=QA).exit_code == 0
    assert cli("promote", "fraud@v2", "--to", "production").exit_code == 0


def test_data_review_errors(drifted: Repo, cli: Any) -> None:
    run(cli, "train=data/train.csv")
    assert cli("register", "v2", "--model", "fraud").exit_code == 0
    missing = cli("data", "review", "fraud@v2")
    assert missing.exit_code == 2 and "--reason" in missing.stderr, missing
    blank = cli("data", "review", "fraud@v2", "--reason", " ")
    assert blank.exit_code == 2 and "needs --reason TEXT" in blank.stderr, blank
    bad = cli("data", "review", "fraud", "--reason", "x")
    assert bad.exit_code == 2 and "expected MODEL@VERSION" in bad.stderr, bad
    unknown = cli("data", "review", "fraud@v9", "--reason", "x")
    assert unknown.exit_code == 6 and "unknown version fraud@v9" in unknown.stderr, unknown
    assert cli("promote", "fraud@v2", "--to", "archived").exit_code == 0
    archived = cli("data", "review", "fraud@v2", "--reason", "x")
    assert archived.exit_code == 11 and "archived" in archived.stderr, archived


def test_data_profile_errors(repo: Repo, cli: Any) -> None:
    repo.gen({"train.py": TRAIN, ".gitignore": "model.bin\n", "data/train.csv": train_csv()})
    repo.commit("data")
    run(cli, "train=data/train.csv:noprofile")
    unknown = cli("data", "profile", "v1", "--dataset", "nope")
    assert unknown.exit_code == 6 and "no dataset named 'nope'" in unknown.stderr, unknown
    none = cli("data", "profile", "v1")
    assert none.exit_code == 0 and "train: not profiled" in none.stderr, none
    assert cli("data", "profile", "v7").exit_code == 6


def test_a_renamed_column_shows_as_removed_and_added(repo: Repo, cli: Any) -> None:
    repo.gen({"train.py": TRAIN, ".gitignore": "model.bin\n", "data/train.csv": train_csv()})
    repo.commit("data")
    run(cli, "train=data/train.csv")
    renamed = train_csv().replace("amount,age,city", "amount,age,town", 1)
    repo.gen({"data/train.csv": renamed})
    repo.commit("rename")
    run(cli, "train=data/train.csv")
    result = cli("data", "diff", "v1", "v2")
    assert result.exit_code == 0, result
    assert "- column city (removed)" in result.stdout
    assert "+ column town (added)" in result.stdout
    profile = json.loads(cli("data", "diff", "v1", "v2", "--json").stdout)["datasets"][0]["profile"]
    assert (profile["removed_columns"], profile["added_columns"]) == (["city"], ["town"])


def test_a_deleted_profile_object_is_a_warning_in_diff(repo: Repo, cli: Any) -> None:
    repo.gen({"train.py": TRAIN, ".gitignore": "model.bin\n", "data/train.csv": train_csv()})
    repo.commit("data")
    run(cli, "train=data/train.csv")
    repo.gen({"data/train.csv": train_csv(seed=5)})
    repo.commit("more")
    run(cli, "train=data/train.csv")
    digest = record(repo, "v2")["data"]["train"]["profile"]["object"].split(":")[1]
    (repo.path / ".mlog" / "objects" / digest[:2] / digest[2:]).unlink()
    result = cli("data", "diff", "v1", "v2", "--json")
    assert result.exit_code == 0, result
    assert json.loads(result.stdout)["datasets"][0]["profile"] is None
    assert "no profile diff" in result.stderr


def test_schema_documents_the_profile_field() -> None:
    schema = json.loads((Path(__file__).parent.parent / "schemas" / "run.schema.json").read_text())
    profile = schema["$defs"]["dataset"]["properties"]["profile"]
    assert profile["required"] == ["object", "rows", "columns"]
