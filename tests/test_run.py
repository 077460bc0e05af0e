"""`mlog run`: what a record holds, and that nothing is lost or leaked."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import yaml

from mlog.storage import records
from tests.conftest import PYTHON, Repo

TRAIN_WITH_API = """
import mlog
mlog.log_param("optimizer", {"name": "adam", "beta": 0.9})
for step in range(3):
    mlog.log_metric("loss", 1.0 / (step + 1), step=step)
mlog.log_metrics({"auc": 0.91})
mlog.set_note("from the api")
open("model.bin", "wb").write(b"weights")
mlog.log_artifact("model.bin")
"""


def load(repo: Repo, index: int = -1) -> dict:
    run_id = repo.run_ids()[index]
    return yaml.safe_load((repo.run_dir(run_id) / "record.yaml").read_text())


def test_run_records_code_command_environment_and_params(repo: Repo, cli) -> None:
    result = cli(
        "run",
        "--params",
        "params.yaml",
        "--tag",
        "team=fraud",
        "--note",
        "baseline",
        "--",
        PYTHON,
        "train.py",
    )
    assert result.exit_code == 0, result
    record = load(repo)
    assert record["alias"] == "v1" and record["status"] == "succeeded"
    assert record["code"]["commit"] == repo.git("rev-parse", "HEAD")
    assert record["code"]["tree"] == repo.git("rev-parse", "HEAD^{tree}")
    assert record["code"]["branch"] == "main" and record["code"]["dirty"] is False
    assert record["command"]["argv"] == [PYTHON, "train.py"]
    assert record["command"]["exit_code"] == 0 and record["command"]["cwd"] == "."
    assert record["command"]["duration_s"] >= 0 and record["command"]["peak_rss_bytes"] > 0
    assert record["params"] == {"lr": 0.1, "epochs": 3}
    assert record["param_sources"] == ["params.yaml"]
    assert record["tags"] == {"team": "fraud"} and record["note"] == "baseline"
    env = record["environment"]
    assert env["python"]["version"].count(".") == 2 and env["packages"]["count"] > 5
    assert records.integrity_matches(record)
    assert "v1" in result.stderr and "succeeded" in result.stderr


def test_package_list_is_stored_once_as_an_object(repo: Repo, cli) -> None:
    cli("run", "--", PYTHON, "train.py")
    cli("run", "--", PYTHON, "train.py")
    first, second = load(repo, 0), load(repo, 1)
    assert first["environment"]["packages"]["object"] == second["environment"]["packages"]["object"]
    digest = first["environment"]["packages"]["object"].split(":")[1]
    assert (repo.path / ".mlog/objects" / digest[:2] / digest[2:]).exists()


def test_python_api_reaches_the_record_through_the_spool(repo: Repo, cli) -> None:
    repo.gen({"train.py": TRAIN_WITH_API, ".gitignore": "model.bin\n"})
    repo.commit("api")
    result = cli("run", "--", PYTHON, "train.py")
    assert result.exit_code == 0, result
    record = load(repo)
    assert record["params"]["optimizer.name"] == "adam"
    assert record["metrics"] == {"loss": 1 / 3, "auc": 0.91}
    assert record["series"]["loss"] == {
        "steps": 3,
        "first_step": 0,
        "last_step": 2,
        "min": 1 / 3,
        "max": 1.0,
        "last": 1 / 3,
    }
    assert record["note"] == "from the api"
    [artifact] = record["artifacts"]
    assert artifact["path"] == "model.bin" and artifact["hash"].startswith("xxh3_128:")
    series = (repo.run_dir(record["id"]) / "series.jsonl").read_text().splitlines()
    assert [json.loads(line)["step"] for line in series] == [0, 1, 2]


def test_metrics_file_is_read_after_the_command(repo: Repo, cli) -> None:
    repo.gen(
        {
            "train.py": "import json; json.dump({'acc': 0.8, 'eval': {'f1': 0.7}}, open('m.json', 'w'))",
            ".gitignore": "m.json\n",
        }
    )
    repo.commit("metrics")
    result = cli("run", "--metrics", "m.json", "--", PYTHON, "train.py")
    assert result.exit_code == 0, result
    assert load(repo)["metrics"] == {"acc": 0.8, "eval.f1": 0.7}


def test_failed_command_is_recorded_and_its_exit_code_passed_through(repo: Repo, cli) -> None:
    result = cli("run", "--", PYTHON, "-c", "import sys; sys.exit(3)")
    assert result.exit_code == 3, result
    record = load(repo)
    assert record["status"] == "failed" and record["command"]["exit_code"] == 3


def test_missing_artifact_fails_the_run(repo: Repo, cli) -> None:
    result = cli("run", "--artifact", "model.pkl", "--", PYTHON, "train.py")
    assert result.exit_code == 1, result
    record = load(repo)
    assert record["status"] == "failed"
    assert record["artifacts"] == [{"path": "model.pkl", "present": False, "hash": None}]
    assert "model.pkl" in result.stderr


def test_artifact_directory_is_hashed(repo: Repo, cli) -> None:
    repo.gen(
        {
            ".gitignore": "out/\n",
            "train.py": "import os; os.makedirs('out', exist_ok=True); open('out/a', 'w').write('1')",
        }
    )
    repo.commit("dir artifact")
    assert cli("run", "-a", "out", "--", PYTHON, "train.py").exit_code == 0
    [artifact] = load(repo)["artifacts"]
    assert artifact["kind"] == "directory" and artifact["files"] == 1 and artifact["present"]


def test_dataset_is_hashed_before_the_run(repo: Repo, cli) -> None:
    repo.gen({"data/train.csv": "a,b\n1,2\n"})
    repo.commit("data")
    assert cli("run", "--data", "data/train.csv", "--", PYTHON, "train.py").exit_code == 0
    first = load(repo)["data"]["train"]
    assert first["kind"] == "file" and first["size"] == 8 and first["hash"].startswith("xxh3_128:")
    repo.gen({"data/train.csv": "a,b\n1,3\n"})
    repo.commit("one row changed")
    assert cli("run", "--data", "data/train.csv", "--", PYTHON, "train.py").exit_code == 0
    assert load(repo)["data"]["train"]["hash"] != first["hash"]


def test_config_defaults_apply(repo: Repo, cli) -> None:
    config = repo.path / ".mlog/config.yaml"
    config.write_text(
        config.read_text()
        .replace("params: []", "params: [params.yaml]")
        .replace("model: default", "model: fraud")
    )
    repo.commit("config")
    assert cli("run", "--", PYTHON, "train.py").exit_code == 0
    record = load(repo)
    assert record["model"] == "fraud" and record["params"]["lr"] == 0.1


def test_allow_dirty_stores_patch_and_untracked_hashes(repo: Repo, cli) -> None:
    repo.gen({"params.yaml": "lr: 0.2\nepochs: 3\n", "notes.txt": "scratch\n"})
    result = cli("run", "--allow-dirty", "--", PYTHON, "train.py")
    assert result.exit_code == 0, result
    record = load(repo)
    assert record["code"]["dirty"] is True
    assert record["code"]["dirty_paths"] == ["notes.txt", "params.yaml"]
    [untracked] = record["code"]["untracked"]
    assert untracked["path"] == "notes.txt" and untracked["hash"].startswith("xxh3_128:")
    patch = (repo.run_dir(record["id"]) / "patch.diff").read_text()
    assert "+lr: 0.2" in patch and "-lr: 0.1" in patch


def test_detached_head_is_recorded_not_refused(repo: Repo, cli) -> None:
    repo.git("checkout", "-q", "--detach", "HEAD")
    assert cli("run", "--", PYTHON, "train.py").exit_code == 0
    assert load(repo)["code"]["branch"] is None


def test_aliases_count_up_and_references_resolve(repo: Repo, cli) -> None:
    for _ in range(3):
        assert cli("run", "--", PYTHON, "train.py").exit_code == 0
    ids = repo.run_ids()
    assert [load(repo, i)["alias"] for i in range(3)] == ["v1", "v2", "v3"]
    for ref, expected in (
        ("v2", ids[1]),
        ("latest", ids[2]),
        ("latest~2", ids[0]),
        (ids[0], ids[0]),
        (ids[1][:20], ids[1]),
    ):
        shown = cli("show", ref, "--json")
        assert shown.exit_code == 0, shown
        assert json.loads(shown.stdout)["id"] == expected


def test_in_process_start_run(repo: Repo) -> None:
    import mlog

    with mlog.start_run(note="notebook") as run:
        mlog.log_metric("acc", 0.5)
        mlog.log_param("depth", 4)
    assert run.alias == "v1" and run.record["status"] == "succeeded"
    record = load(repo)
    assert record["metrics"] == {"acc": 0.5} and record["params"]["depth"] == 4
    assert record["command"]["in_process"] is True


def test_in_process_run_that_raises_is_recorded_as_failed(repo: Repo) -> None:
    import pytest

    import mlog

    with pytest.raises(ValueError), mlog.start_run():
        raise ValueError("boom")
    assert load(repo)["status"] == "failed"


def test_api_outside_a_run_warns_once_and_does_nothing(monkeypatch) -> None:
    import warnings

    import mlog

    monkeypatch.setattr(mlog, "_warned", False)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        mlog.log_metric("x", 1)
        mlog.log_param("y", 2)
    assert len(caught) == 1 and "ignored" in str(caught[0].message)


def test_record_is_valid_against_the_schema(repo: Repo, cli) -> None:
    cli("run", "--", PYTHON, "train.py")
    result = cli("validate")
    assert result.exit_code == 0, result
    assert "2 file(s) valid" in result.stderr


def test_fake_nvidia_smi_is_captured(repo: Repo, cli, tmp_path: Path, monkeypatch) -> None:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    smi = bin_dir / "nvidia-smi"
    smi.write_text(
        "#!/bin/sh\n"
        'if [ -n "$1" ]; then echo "NVIDIA H100 80GB HBM3, 550.54.15, 81559, GPU-1234"; '
        'else echo "| NVIDIA-SMI 550.54.15   Driver Version: 550.54.15   CUDA Version: 12.4 |"; fi\n'
    )
    smi.chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}:{Path(sys.executable).parent}:/usr/bin:/bin")
    assert cli("run", "--", PYTHON, "train.py").exit_code == 0
    env = load(repo)["environment"]
    assert env["gpus"][0]["name"] == "NVIDIA H100 80GB HBM3"
    assert env["gpus"][0]["memory_mib"] == 81559
    assert env["cuda"] == "12.4" and env["driver"] == "550.54.15"


def test_validate_covers_registry_events_too(repo: Repo, cli) -> None:
    assert cli("run", "--", PYTHON, "train.py").exit_code == 0
    assert cli("champion", "v1", "--reason", "first").exit_code == 0
    [event] = (repo.path / ".mlog/registry/default").glob("*.yaml")
    result = cli("validate")
    assert result.exit_code == 0 and "3 file(s) valid" in result.stderr, result
    event.write_text(event.read_text().replace("reason: first", "reason: edited"))
    result = cli("validate")
    assert result.exit_code == 9 and event.name in result.stderr, result


def test_init_is_idempotent_and_keeps_edits(repo: Repo, cli) -> None:
    config = repo.path / ".mlog/config.yaml"
    config.write_text(config.read_text().replace("model: default", "model: edited"))
    result = cli("init")
    assert result.exit_code == 0 and "already initialised" in result.stderr, result
    assert "model: edited" in config.read_text()
    assert (repo.path / ".mlog/.gitignore").read_text().strip().endswith("cache/")


def test_init_outside_a_repository(tmp_path: Path, cli, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    result = cli("init")
    assert result.exit_code == 4 and "not a git repository" in result.stderr, result
    assert not (tmp_path / ".mlog").exists()


def test_start_run_works_from_a_worker_thread(repo: Repo) -> None:
    import threading

    import mlog

    results = []

    def train() -> None:
        with mlog.start_run(note="thread") as run:
            mlog.log_metric("acc", 0.6)
        results.append(run)

    worker = threading.Thread(target=train)
    worker.start()
    worker.join()
    [run] = results
    assert run.record["status"] == "succeeded" and run.record["metrics"] == {"acc": 0.6}
