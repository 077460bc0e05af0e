"""Declared outputs the command did not write are recorded as stale, never as its output."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from tests.conftest import Repo

PYTHON = sys.executable
MLOG = str(Path(sys.executable).parent / "mlog")
LEFTOVERS = {"metrics.json": '{"auc": 0.99}', "model.pkl": "old", ".gitignore": "metrics.json\nmodel.pkl\nout/\n"}  # fmt: skip


def _leftovers(repo: Repo) -> None:
    repo.gen(LEFTOVERS)
    repo.commit("ignore outputs")


def _show(cli: Any) -> dict[str, Any]:
    result = cli("show", "latest", "--json")
    assert result.exit_code == 0, result
    return dict(json.loads(result.stdout))


def test_outputs_left_by_an_earlier_run_are_stale_as_a_user_sees_it(repo: Repo) -> None:
    _leftovers(repo)
    run = subprocess.run(
        [MLOG, "run", "-m", "metrics.json", "-a", "model.pkl", "--", "sh", "-c", "exit 1"],
        cwd=repo.path, capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert run.returncode == 1, run
    stale = "not written by this run (unchanged since before it started)"
    assert f"metrics file {stale}: metrics.json" in run.stderr, run.stderr
    assert f"artifact {stale}: model.pkl" in run.stderr, run.stderr
    shown = subprocess.run(
        [MLOG, "show", "latest", "--json"], cwd=repo.path, capture_output=True, text=True
    )  # fmt: skip
    record = json.loads(shown.stdout)
    assert record["metrics"] == {} and record["artifacts"] == [], record
    assert "metric_sources" not in record
    assert record["stale"]["metrics_files"] == ["metrics.json"]
    assert [a["path"] for a in record["stale"]["artifacts"]] == ["model.pkl"]
    assert record["stale"]["artifacts"][0]["hash"].startswith("xxh3_128:")
    human = subprocess.run([MLOG, "show", "latest"], cwd=repo.path, capture_output=True, text=True)
    assert "stale (not written by this run)" in human.stdout, human.stdout


def test_an_output_rewritten_with_the_same_bytes_is_fresh(repo: Repo, cli: Any) -> None:
    _leftovers(repo)
    script = "open('metrics.json','w').write('{\"auc\": 0.99}'); open('model.pkl','w').write('old')"
    result = cli("run", "-m", "metrics.json", "-a", "model.pkl", "--", PYTHON, "-c", script)
    assert result.exit_code == 0, result
    record = _show(cli)
    assert record["metrics"] == {"auc": 0.99} and "stale" not in record, record
    assert [a["path"] for a in record["artifacts"]] == ["model.pkl"]


def test_a_directory_artifact_is_stale_until_a_file_in_it_changes(repo: Repo, cli: Any) -> None:
    _leftovers(repo)
    repo.gen({"out/a.bin": "a", "out/b.bin": "b"})
    assert cli("run", "-a", "out", "--", "true").exit_code == 0
    assert [a["path"] for a in _show(cli)["stale"]["artifacts"]] == ["out"]
    script = "open('out/b.bin','w').write('new')"
    assert cli("run", "-a", "out", "--", PYTHON, "-c", script).exit_code == 0
    record = _show(cli)
    assert "stale" not in record and record["artifacts"][0]["path"] == "out", record


def test_api_metrics_are_fresh_and_stale_files_are_not_validated(repo: Repo, cli: Any) -> None:
    _leftovers(repo)
    good = "import json; open('metrics.json','w').write(json.dumps({'auc': 0.9}))"
    assert cli("run", "-m", "metrics.json", "--", PYTHON, "-c", good).exit_code == 0
    assert cli("champion", "v1").exit_code == 0
    (repo.path / "metrics.json").write_text('{"auc": 0.5}')  # a regression nobody trained
    idle = cli("run", "-m", "metrics.json", "--fail-on-regression", "--", PYTHON, "-c", "pass")
    assert idle.exit_code == 0, idle
    record = _show(cli)
    assert record["metrics"] == {} and record["validation"]["verdict"] != "regressed", record
    api = "import mlog; mlog.log_metric('loss', 0.3)"
    logged = cli("run", "-m", "metrics.json", "--", PYTHON, "-c", api)
    assert logged.exit_code == 0, logged
    assert _show(cli)["metrics"] == {"loss": 0.3}


def test_register_refuses_a_run_whose_artifacts_are_stale_and_diff_marks_it(
    repo: Repo, cli: Any
) -> None:
    _leftovers(repo)
    assert cli("run", "-a", "model.pkl", "--", PYTHON, "-c", "pass").exit_code == 0
    refused = cli("register", "latest", "--model", "m")
    assert refused.exit_code == 11, refused
    assert "did not write its artifacts: model.pkl" in refused.stderr, refused
    write = "open('model.pkl','w').write('new')"
    assert cli("run", "-a", "model.pkl", "--", PYTHON, "-c", write).exit_code == 0
    assert cli("register", "latest", "--model", "m").exit_code == 0
    diff = cli("diff", "v1", "v2")
    assert "stale in v1 (not written by that run): model.pkl" in diff.stdout, diff
    as_json = json.loads(cli("diff", "v1", "v2", "--json").stdout)
    assert as_json["stale"] == {"a": ["model.pkl"], "b": []}
