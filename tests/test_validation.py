"""The validation report written at the end of every run, and `--fail-on-regression`."""

from __future__ import annotations

from typing import Any

import pytest
import yaml

from mlog.compare.directions import MAXIMIZE, MINIMIZE, Direction, direction_for, guess_goal, judge
from mlog.compare.validation import overall
from tests.conftest import PYTHON, Repo

TRAIN = """\
import json, sys
metrics = dict(arg.split("=") for arg in sys.argv[1:])
json.dump({k: float(v) for k, v in metrics.items()}, open("metrics.json", "w"))
"""


def _setup(repo: Repo, config_metrics: str = "") -> None:
    files = {"train.py": TRAIN, ".gitignore": "metrics.json\n"}
    if config_metrics:
        config = repo.path / ".mlog" / "config.yaml"
        files[".mlog/config.yaml"] = config.read_text().replace("metrics: {}", config_metrics)
    repo.gen(files)
    repo.commit("training script")


def _run(cli: Any, *metrics: str, extra: tuple[str, ...] = ()) -> Any:
    return cli("run", "-m", "metrics.json", *extra, "--", PYTHON, "train.py", *metrics)


def _validation(repo: Repo) -> Any:
    path = repo.run_dir(repo.run_ids()[-1]) / "record.yaml"
    return yaml.safe_load(path.read_text())["validation"]


@pytest.mark.parametrize(
    ("name", "goal"),
    [("val_loss", MINIMIZE), ("p99_latency_ms", MINIMIZE), ("rmse", MINIMIZE),
     ("trainloss", MINIMIZE), ("auc", MAXIMIZE), ("f1", MAXIMIZE), ("accuracy", MAXIMIZE)],
)  # fmt: skip
def test_goals_are_guessed_from_names(name: str, goal: str) -> None:
    assert guess_goal(name) == goal
    assert direction_for(name, {}).guessed is True


def test_configured_direction_wins_and_judges_symmetrically() -> None:
    direction = direction_for("loss_ratio", {"loss_ratio": {"goal": "maximize", "tolerance": 0.1}})
    assert direction == Direction(MAXIMIZE, 0.1, guessed=False)
    assert judge(1.0, 1.05, direction) == "within_tolerance"
    assert judge(1.0, 1.2, direction) == "improved"
    assert judge(1.2, 1.0, direction) == "regressed"
    assert overall([]) == "no_metrics"
    verdicts = [{"verdict": v} for v in ("improved", "missing", "within_tolerance")]
    assert overall(verdicts) == "missing"


def test_first_run_has_no_champion_and_does_not_become_one(repo: Repo, cli: Any) -> None:
    _setup(repo)
    result = _run(cli, "auc=0.9")
    assert result.exit_code == 0, result
    assert "validation: model default has no champion yet" in result.stderr, result
    report = _validation(repo)
    assert report["verdict"] == "no_champion" and report["champion"] is None
    assert report["guessed"] == ["auc"]
    assert not (repo.path / ".mlog" / "registry").exists()


def test_improved_within_tolerance_and_configured(repo: Repo, cli: Any) -> None:
    _setup(repo, "metrics: {auc: {goal: maximize, tolerance: 0.002}}")
    assert _run(cli, "auc=0.900", "loss=0.5").exit_code == 0
    assert cli("champion", "v1").exit_code == 0
    within = _run(cli, "auc=0.899", "loss=0.5")
    assert within.exit_code == 0, within
    assert "validation against champion v1: WITHIN TOLERANCE" in within.stderr, within
    report = _validation(repo)
    auc = next(m for m in report["metrics"] if m["name"] == "auc")
    assert auc["verdict"] == "within_tolerance" and auc["guessed"] is False
    assert auc["tolerance"] == 0.002 and auc["champion"] == 0.9 and auc["value"] == 0.899
    assert report["guessed"] == ["loss"] and report["champion"]["alias"] == "v1"
    better = _run(cli, "auc=0.95", "loss=0.4")
    assert "IMPROVED" in better.stderr, better
    assert _validation(repo)["verdict"] == "improved"


def test_fail_on_regression_exits_1_and_keeps_the_record(repo: Repo, cli: Any) -> None:
    _setup(repo)
    assert _run(cli, "auc=0.9").exit_code == 0
    assert cli("champion", "v1").exit_code == 0
    plain = _run(cli, "auc=0.8")
    assert plain.exit_code == 0, plain
    assert "REGRESSED" in plain.stderr, plain
    failing = _run(cli, "auc=0.8", extra=("--fail-on-regression",))
    assert failing.exit_code == 1, failing
    assert "error: validation regressed against the champion" in failing.stderr, failing
    assert len(repo.run_ids()) == 3
    assert _validation(repo)["verdict"] == "regressed"
    passing = _run(cli, "auc=0.91", extra=("--fail-on-regression",))
    assert passing.exit_code == 0, passing


def test_a_run_without_metrics_is_missing(repo: Repo, cli: Any) -> None:
    _setup(repo)
    assert _run(cli, "auc=0.9").exit_code == 0
    assert cli("champion", "v1").exit_code == 0
    bare = cli("run", "--", PYTHON, "-c", "pass")
    assert bare.exit_code == 0, bare
    report = _validation(repo)
    assert report["verdict"] == "missing"
    assert report["metrics"][0]["verdict"] == "missing" and report["metrics"][0]["value"] is None


def test_a_failed_command_keeps_its_exit_code(repo: Repo, cli: Any) -> None:
    _setup(repo)
    assert _run(cli, "auc=0.9").exit_code == 0
    assert cli("champion", "v1").exit_code == 0
    failed = cli("run", "--fail-on-regression", "--", PYTHON, "-c", "raise SystemExit(4)")
    assert failed.exit_code == 4, failed
    assert _validation(repo)["verdict"] == "missing"


def test_data_changes_against_the_champion_are_summarised(repo: Repo, cli: Any) -> None:
    _setup(repo)
    repo.gen({"data/a.csv": "1\n"})
    repo.commit("data")
    assert _run(cli, "auc=0.9", extra=("-d", "train=data")).exit_code == 0
    assert cli("champion", "v1").exit_code == 0
    repo.gen({"data/b.csv": "2\n"})
    repo.commit("more data")
    result = _run(cli, "auc=0.9", extra=("-d", "train=data"))
    assert "data train changed since the champion: +1 -0 ~0 files" in result.stderr, result
    data = _validation(repo)["data"]
    assert data["changed"] is True
    assert data["datasets"][0]["files"]["added"]["paths"] == ["b.csv"]
