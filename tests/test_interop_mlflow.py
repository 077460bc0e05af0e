"""MLflow both ways, through the real MLflow client and a sqlite tracking store in a temp folder.

Creating an MLflow sqlite store runs its migrations (seconds), so each store is made once per
module and shared: ``source`` holds runs made with the MLflow client, ``target`` receives
mlog's exports.
"""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path
from typing import Any

import pytest

from mlog.interop.common import load_series
from mlog.interop.mlflow import clean_uri
from mlog.storage.store import Store
from tests.conftest import PYTHON, Repo, git
from tests.test_registry import ok

mlflow = pytest.importorskip("mlflow")
from mlflow.entities import Dataset, DatasetInput, InputTag  # noqa: E402
from mlflow.tracking import MlflowClient  # noqa: E402

COMMIT = "0123456789abcdef0123456789abcdef01234567"
T0 = 1_763_000_000_000  # ms


def sqlite_uri(path: Path) -> str:
    return f"sqlite:///{path}"


@pytest.fixture(scope="module")
def empty_store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An empty MLflow sqlite store, migrated once; each store below starts as a copy."""
    path = tmp_path_factory.mktemp("mlflow-empty") / "mlflow.db"
    MlflowClient(tracking_uri=sqlite_uri(path)).search_experiments()
    return path


def copy_store(empty_store: Path, folder: Path) -> str:
    shutil.copyfile(empty_store, folder / "mlflow.db")
    return sqlite_uri(folder / "mlflow.db")


@pytest.fixture(scope="module")
def source(tmp_path_factory: pytest.TempPathFactory, empty_store: Path) -> dict[str, Any]:
    """An MLflow store with a finished run (series, dataset, artifact), a failed run, a
    run in a second experiment, and one whose mlog.* tags are garbage."""
    folder = tmp_path_factory.mktemp("mlflow-source")
    uri = copy_store(empty_store, folder)
    client = MlflowClient(tracking_uri=uri, registry_uri=uri)
    fraud = client.create_experiment("fraud", artifact_location=str(folder / "artifacts"))
    other = client.create_experiment("other", artifact_location=str(folder / "other"))
    tags = {
        "team": "risk", "mlflow.source.git.commit": COMMIT, "mlflow.source.name": "train.py",
        "mlflow.note.content": "more trees", "mlflow.source.type": "LOCAL",
    }  # fmt: skip
    good = client.create_run(fraud, start_time=T0, tags=tags, run_name="good")
    run_id = good.info.run_id
    params = {"lr": "0.01", "depth": "6", "name": "rf", "ratio": "1e-3", "api_key": "sk-123"}
    for key, value in params.items():
        client.log_param(run_id, key, value)
    for step in range(5):
        client.log_metric(run_id, "loss", 1.0 / (step + 1), step=step, timestamp=T0 + 1000 * step)
    client.log_metric(run_id, "auc", 0.93, timestamp=T0 + 9000)
    source_json = json.dumps({"uri": "s3://key:secret@bucket/train.csv"})
    dataset = Dataset("train", "4f2a9c1e", "s3", source_json)
    client.log_inputs(
        run_id, datasets=[DatasetInput(dataset, [InputTag("mlflow.data.context", "training")])]
    )
    client.log_text(run_id, "weights", "model/model.pkl")
    client.set_terminated(run_id, "FINISHED", end_time=T0 + 60_000)
    bad = client.create_run(fraud, start_time=T0 + 100_000, run_name="bad")
    client.log_param(bad.info.run_id, "lr", "0.5")
    client.set_terminated(bad.info.run_id, "FAILED", end_time=T0 + 101_000)
    elsewhere = client.create_run(other, start_time=T0 + 200_000)
    client.set_terminated(elsewhere.info.run_id, "KILLED", end_time=T0 + 200_500)
    broken = client.create_experiment("broken", artifact_location=str(folder / "broken"))
    garbage = {"mlog.model": "bad name", "mlog.series": "{not json", "mlog.artifacts": "["}
    refused = client.create_run(broken, start_time=T0 + 300_000, tags=garbage)
    client.set_terminated(refused.info.run_id, "FINISHED", end_time=T0 + 300_500)
    return {"uri": uri, "good": run_id, "bad": bad.info.run_id, "other": elsewhere.info.run_id}


@pytest.fixture(scope="module")
def target(tmp_path_factory: pytest.TempPathFactory, empty_store: Path) -> str:
    """An empty MLflow store that mlog exports into."""
    return copy_store(empty_store, tmp_path_factory.mktemp("mlflow-target"))


def records(repo: Repo) -> dict[str, dict[str, Any]]:
    store = Store(repo.path)
    return {run_id: store.load_record(run_id) for run_id in store.run_ids()}


def by_source(repo: Repo) -> dict[str, dict[str, Any]]:
    return {r["imported"]["run_id"]: r for r in records(repo).values() if "imported" in r}


# ------------------------------------------------------------------ import


def test_import_keeps_status_times_params_series_tags_data_and_artifacts(
    repo: Repo, cli: Any, source: dict[str, Any]
) -> None:
    result = ok(cli("import", "mlflow", "--tracking-uri", source["uri"], "-e", "fraud", "--json"))
    assert result.stderr == ""
    assert len(json.loads(result.stdout)["imported"]) == 2
    imported = by_source(repo)
    good, bad = imported[source["good"]], imported[source["bad"]]
    assert good["status"] == "succeeded" and bad["status"] == "failed"
    assert good["alias"] == "v1" and bad["alias"] == "v2"  # oldest first
    assert good["imported"]["tracking_uri"] == source["uri"]
    assert good["imported"]["experiment"] == "fraud" and good["imported"]["run_name"] == "good"
    assert good["imported"]["tags"] == {
        "mlflow.source.type": "LOCAL",
        "mlflow.source.name": "train.py",
    }
    assert good["command"]["started_at"] == "2025-11-13T02:13:20.000000Z"
    assert good["command"]["ended_at"] == "2025-11-13T02:14:20.000000Z"
    assert good["command"]["argv"] == ["train.py"] and good["note"] == "more trees"
    assert good["params"] == {
        "lr": 0.01, "depth": 6, "name": "rf", "ratio": "1e-3", "api_key": "[REDACTED]"
    }  # fmt: skip
    assert good["redactions"] == ["params.api_key"]  # secrets never land in git
    assert good["metrics"] == {"auc": 0.93, "loss": 0.2}
    assert good["tags"] == {"team": "risk"}
    assert good["code"]["commit"] == COMMIT and good["code"]["tree"] is None
    train = good["data"]["train"]
    assert train["mlflow_digest"] == "4f2a9c1e" and train["context"] == "training"
    assert train["path"] == "s3://[REDACTED]@bucket/train.csv"  # credentials never land in git
    assert [a["path"] for a in good["artifacts"]] == ["model/model.pkl"]
    assert good["series"]["loss"]["steps"] == 5 and "auc" not in good["series"]
    points = load_series(Store(repo.path), good["id"])
    assert [(p["step"], p["value"], p["time"]) for p in points] == [
        (step, 1.0 / (step + 1), f"2025-11-13T02:13:2{step}.000Z") for step in range(5)
    ]


def test_imported_records_are_valid_queryable_diffable_and_checked_as_imported(
    repo: Repo, cli: Any, source: dict[str, Any]
) -> None:
    every = ok(cli("import", "mlflow", "--tracking-uri", source["uri"]))
    assert "3 imported, 0 already here, 1 refused" in every.stderr, every
    assert (
        "warning: not imported: MLflow run" in every.stderr and "schema violation" in every.stderr
    )
    repo.commit("import")
    valid = ok(cli("validate"))
    assert valid.stderr == "" or "error" not in valid.stderr, valid
    listed = json.loads(ok(cli("ls", "--where", "params.lr < 0.1", "--json")).stdout)
    assert [run["alias"] for run in listed] == ["v1"]
    failed = json.loads(ok(cli("ls", "--where", 'status = "failed"', "--json")).stdout)
    assert len(failed) == 1
    diff = ok(cli("diff", "v1", "v2", "--json"))
    assert json.loads(diff.stdout)["params"]
    shown = ok(cli("show", "v1"))
    assert "imported" in shown.stdout and source["good"] in shown.stdout
    assert "in mlflow" in shown.stdout  # its artifact lives in MLflow, it is not missing
    checked = cli("check", "--json")
    report = json.loads(checked.stdout)
    assert checked.exit_code == 0 and report["ok"], checked
    assert report["checked"]["imported"] == 3 and report["findings"] == []
    human = ok(cli("check"))
    assert "3 imported" in human.stderr + human.stdout


def test_reimport_is_idempotent(repo: Repo, cli: Any, source: dict[str, Any]) -> None:
    ok(cli("import", "mlflow", "--tracking-uri", source["uri"]))
    before = repo.run_ids()
    again = json.loads(
        ok(cli("import", "mlflow", "--tracking-uri", source["uri"], "--json")).stdout
    )
    assert again["imported"] == [] and len(again["skipped"]) == 4  # 3 here, 1 refused again
    assert repo.run_ids() == before and len(before) == 3


def test_import_unknown_experiment(repo: Repo, cli: Any, source: dict[str, Any]) -> None:
    result = cli("import", "mlflow", "--tracking-uri", source["uri"], "-e", "nope")
    assert result.exit_code == 6, result
    assert result.stderr.startswith("error: no MLflow experiment named 'nope'")
    assert result.stdout == "" and repo.run_ids() == []


def test_import_refuses_a_bad_model_name(repo: Repo, cli: Any, source: dict[str, Any]) -> None:
    result = cli("import", "mlflow", "--tracking-uri", source["uri"], "--model", "bad name")
    assert result.exit_code == 2, result
    assert result.stderr.startswith("error: invalid model name 'bad name'")
    assert repo.run_ids() == []


def test_missing_mlflow_names_the_extra(
    repo: Repo, cli: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "mlflow", None)  # what an install without the extra sees
    result = cli("import", "mlflow", "--tracking-uri", "sqlite:///x.db")
    assert result.exit_code == 2, result
    assert result.stderr == "error: mlflow is not installed (pip install 'mlog-cli[mlflow]')\n"
    assert not (repo.path / "x.db").exists()


def test_tracking_uri_credentials_are_stripped() -> None:
    assert clean_uri("https://ada:s3cret@mlflow.example.com/") == (
        "https://[REDACTED]@mlflow.example.com/"
    )
    assert clean_uri("http://host:5000/?token=abc") == "http://host:5000/?token=[REDACTED]"
    assert clean_uri("sqlite:////tmp/mlflow.db") == "sqlite:////tmp/mlflow.db"


# ------------------------------------------------------------------ export and round trip

TRAIN = """
import json, sys
import mlog
auc = float(sys.argv[1])
mlog.log_params({"lr": 0.01, "layers": [64, 32], "name": "rf", "flag": True, "code": "42"})
for step in range(4):
    mlog.log_metric("loss", 1.0 / (step + 1), step=step)
mlog.log_metric("auc", auc)
mlog.log_metric("acc", 0.5, step=0)
mlog.log_metric("acc", 0.7, step=1)
mlog.log_metric("acc", 0.8)  # the final value is not the series' last point
open("model.pkl", "wb").write(("weights %s" % auc).encode())
"""


@pytest.fixture
def trained(repo: Repo, cli: Any) -> Repo:
    """Two runs with series, params of every type, data, an artifact; v2 in production."""
    repo.gen({"train.py": TRAIN, ".gitignore": "model.pkl\n", "data/train.csv": "a,b\n1,2\n"})
    repo.commit("training")
    for auc in ("0.9", "0.95"):
        flags = ("--model", "fraud", "-a", "model.pkl", "-d", "train=data/train.csv")
        ok(cli("run", *flags, "--tag", "team=risk", "--", PYTHON, "train.py", auc))
    ok(cli("register", "v1", "--model", "fraud"))
    ok(cli("register", "v2", "--model", "fraud"))
    reason = ("--force", "--reason", "test")
    ok(cli("promote", "fraud@v2", "--to", "production", *reason))
    repo.commit("records")
    return repo


def test_export_then_import_round_trips_field_by_field(
    trained: Repo, cli: Any, target: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    exported = ok(
        cli("export", "mlflow", "--all", "--tracking-uri", target, "-e", "roundtrip", "--json")
    )
    runs = json.loads(exported.stdout)["runs"]
    assert [r["note"] for r in runs] == ["exported", "exported"], exported
    originals = records(trained)
    series = {run_id: load_series(Store(trained.path), run_id) for run_id in originals}

    other = tmp_path / "other"
    other.mkdir()
    git(other, "init", "-q", "-b", "main")
    git(other, "commit", "-q", "--allow-empty", "-m", "empty")
    monkeypatch.chdir(other)
    ok(cli("init"))
    ok(cli("import", "mlflow", "--tracking-uri", target, "-e", "roundtrip"))
    back = {r["id"]: r for r in records(Repo(other)).values()}
    assert sorted(back) == sorted(originals)
    for run_id, original in originals.items():
        copy = back[run_id]
        for key in ("model", "status", "note", "params", "metrics", "tags", "series", "seed"):
            assert copy.get(key) == original.get(key), key
        for key in ("argv", "started_at", "ended_at", "user"):
            assert copy["command"][key] == original["command"][key], key
        for key in ("commit", "tree", "branch", "dirty"):
            assert copy["code"][key] == original["code"][key], key
        assert copy["data"] == original["data"] and copy["artifacts"] == original["artifacts"]
        assert type(copy["params"]["code"]) is str and copy["params"]["layers"] == [64, 32]
        assert original["metrics"]["acc"] == copy["metrics"]["acc"] == 0.8

        def by_metric(points: list[dict[str, Any]]) -> list[dict[str, Any]]:
            return sorted(points, key=lambda p: (p["name"], p["step"], p["time"]))

        # MLflow keeps each metric's history apart: points come back grouped by metric
        assert by_metric(load_series(Store(other), run_id)) == by_metric(series[run_id])
        assert copy["imported"]["tracking_uri"] == target
    assert json.loads(ok(cli("check", "--json")).stdout)["ok"]


def test_export_writes_mlflow_fields_registry_aliases_and_is_idempotent(
    trained: Repo, cli: Any, target: str
) -> None:
    args = ("export", "mlflow", "--all", "--tracking-uri", target, "-e", "fraud-exp")
    first = ok(cli(*args))
    assert "2 exported, 0 already in experiment fraud-exp" in first.stderr + first.stdout
    client = MlflowClient(tracking_uri=target, registry_uri=target)
    experiment = client.get_experiment_by_name("fraud-exp")
    runs = client.search_runs([experiment.experiment_id])
    assert len(runs) == 2
    mlflow_ids = {run.info.run_id for run in runs}
    originals = records(trained)
    for run in runs:
        record = originals[run.data.tags["mlog.id"]]
        tags = run.data.tags
        assert tags["mlflow.source.git.commit"] == record["code"]["commit"]
        assert tags["mlog.alias"] == record["alias"] and tags["mlog.model"] == "fraud"
        assert tags["mlog.status"] == "succeeded" and tags["team"] == "risk"
        assert json.loads(tags["mlog.data.train"])["hash"] == record["data"]["train"]["hash"]
        [artifact] = json.loads(tags["mlog.artifacts"])
        assert artifact["sha256"] == record["artifacts"][0]["sha256"]
        assert run.info.status == "FINISHED"
        assert run.data.params["lr"] == "0.01" and run.data.params["name"] == "rf"
        assert run.data.params["code"] == '"42"'  # text that reads as a number stays text
        history = client.get_metric_history(run.info.run_id, "loss")
        assert [m.step for m in history] == [0, 1, 2, 3]
        assert [m.value for m in history] == [1.0, 0.5, 1 / 3, 0.25]
    champion = client.get_model_version_by_alias("fraud", "champion")
    production = originals[champion.tags["mlog.run"]]
    assert champion.tags["mlog.version"] == "v2" and production["alias"] == "v2"
    ours = [v for v in client.search_model_versions("name='fraud'") if v.run_id in mlflow_ids]
    assert sorted(v.tags["mlog.version"] for v in ours) == ["v1", "v2"]

    again = ok(cli(*args))
    assert "0 exported, 2 already in experiment fraud-exp" in again.stderr + again.stdout
    assert len(client.search_runs([experiment.experiment_id])) == 2
    again_ours = [v for v in client.search_model_versions("name='fraud'") if v.run_id in mlflow_ids]
    assert len(again_ours) == 2


def test_export_needs_runs_or_all(trained: Repo, cli: Any, target: str) -> None:
    none = cli("export", "mlflow", "--tracking-uri", target)
    assert none.exit_code == 2 and "give RUN references, or --all" in none.stderr, none
    both = cli("export", "mlflow", "v1", "--all", "--tracking-uri", target)
    assert both.exit_code == 2 and "not both" in both.stderr, both
    unknown = cli("export", "mlflow", "v9", "--tracking-uri", target)
    assert unknown.exit_code == 6 and "unknown run v9" in unknown.stderr, unknown
