"""``mlog rerun``: a recorded run re-executed at its commit, recorded, diffed and checked."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from mlog.storage import yamlio
from tests.conftest import PYTHON, Repo

MLOG = str(Path(sys.executable).parent / "mlog")

TRAIN = """\
import csv, json, pickle, time
import yaml
from sklearn.ensemble import RandomForestClassifier

rows = list(csv.reader(open("data/train.csv")))[1:]
X = [[float(a), float(b)] for a, b, _ in rows]
y = [int(c) for _, _, c in rows]
params = yaml.safe_load(open("params.yaml"))
seed = time.time_ns() % 2**31 if params["seed"] == "time" else params["seed"]
model = RandomForestClassifier(n_estimators=params["trees"], random_state=seed).fit(X, y)
proba = [p[1] for p in model.predict_proba(X)]
metrics = {"acc": model.score(X, y), "mean_proba": sum(proba) / len(proba)}
json.dump(metrics, open("metrics.json", "w"))
pickle.dump(model, open("model.pkl", "wb"))
"""

COPY = """\
import pathlib, sys
text = pathlib.Path("data/raw.csv").read_text()
pathlib.Path("out.txt").write_text(text.upper())
pathlib.Path("metrics.json").write_text('{"rows": %d}' % len(text.splitlines()))
sys.exit(int(pathlib.Path("exit_code.txt").read_text()) if pathlib.Path("exit_code.txt").exists() else 0)
"""


def _training_data() -> str:
    import random

    rng = random.Random(1)
    lines = ["a,b,label"]
    lines += [f"{rng.random():.4f},{rng.random():.4f},{int(rng.random() > 0.5)}" for _ in range(60)]
    return "\n".join(lines) + "\n"


def snapshot(repo: Repo) -> dict[str, Any]:
    """Every byte of the working tree outside .git and .mlog, and what git says about it."""
    files = {}
    for path in sorted(repo.path.rglob("*")):
        relative = path.relative_to(repo.path).as_posix()
        if relative.split("/")[0] in (".git", ".mlog") or path.is_dir():
            continue
        files[relative] = path.read_bytes()
    return {"files": files, "status": repo.git("status", "--porcelain", "--ignored")}


def record(repo: Repo, run_id: str) -> dict[str, Any]:
    loaded = yamlio.load_file(repo.run_dir(run_id) / "record.yaml")
    assert isinstance(loaded, dict)
    return loaded


def sklearn_repo(repo: Repo, seed: str) -> None:
    repo.gen(
        {
            "train.py": TRAIN,
            "params.yaml": f"seed: {seed}\ntrees: 5\n",
            "data/train.csv": _training_data(),
            ".gitignore": "data/\nmodel.pkl\nmetrics.json\n",
        }
    )
    repo.commit("sklearn training")


TRAIN_ARGS = (
    "run", "--data", "data/train.csv", "--params", "params.yaml", "--metrics", "metrics.json",
    "--artifact", "model.pkl", "--", PYTHON, "train.py",
)  # fmt: skip


def copy_repo(repo: Repo) -> None:
    repo.gen(
        {
            "copy.py": COPY,
            "data/raw.csv": "a,b\n1,2\n",
            ".gitignore": "data/\nout.txt\nmetrics.json\n",
        }
    )
    repo.commit("copy step")


COPY_ARGS = ("run", "-d", "raw=data/raw.csv", "-a", "out.txt", "-m", "metrics.json", "--",
             PYTHON, "copy.py")  # fmt: skip


def test_deterministic_training_reproduces_and_links_the_original(repo: Repo, cli: Any) -> None:
    sklearn_repo(repo, "3")
    first = cli(*TRAIN_ARGS)
    assert first.exit_code == 0, first
    original = repo.run_ids()[0]
    before = snapshot(repo)

    result = cli("rerun", "v1", "--check")

    assert result.exit_code == 0, result
    assert "reproduced v1" in result.stderr, result
    assert "reproducing v1" in result.stderr, result
    assert snapshot(repo) == before
    rerun_id = next(i for i in repo.run_ids() if i != original)
    rerun = record(repo, rerun_id)
    assert rerun["reproduces"] == original
    assert rerun["alias"] == "v2"
    assert rerun["code"]["commit"] == record(repo, original)["code"]["commit"]
    assert rerun["metrics"] == record(repo, original)["metrics"]
    assert rerun["artifacts"][0]["hash"] == record(repo, original)["artifacts"][0]["hash"]
    assert repo.git("worktree", "list").count("\n") == 0  # the temporary worktree is gone


def test_non_deterministic_training_fails_the_check_naming_the_metric(repo: Repo, cli: Any) -> None:
    sklearn_repo(repo, "time")
    assert cli(*TRAIN_ARGS).exit_code == 0
    before = snapshot(repo)

    result = cli("rerun", "v1", "--check")

    assert result.exit_code == 1, result
    assert "metric mean_proba differs" in result.stderr, result
    assert "artifact model.pkl differs" in result.stderr, result
    assert snapshot(repo) == before
    assert len(repo.run_ids()) == 2  # the rerun is recorded all the same


def test_tolerance_from_config_lets_a_close_metric_pass(repo: Repo, cli: Any) -> None:
    copy_repo(repo)
    assert cli(*COPY_ARGS).exit_code == 0
    config = repo.path / ".mlog" / "config.yaml"
    config.write_text(config.read_text().replace("metrics: {}", "metrics: {rows: {tolerance: 1}}"))
    repo.commit("tolerance")
    (repo.path / "data/raw.csv").write_text("a,b\n1,2\n3,4\n")  # one more row, drifted

    result = cli("rerun", "v1", "--check", "--allow-data-drift")

    assert result.exit_code == 1, result  # rows within tolerance, but out.txt differs
    assert "metric rows" not in result.stderr, result
    assert "artifact out.txt differs" in result.stderr, result


def test_changed_dataset_is_refused_then_allowed_and_recorded(repo: Repo, cli: Any) -> None:
    copy_repo(repo)
    assert cli(*COPY_ARGS).exit_code == 0
    original = record(repo, repo.run_ids()[0])
    (repo.path / "data/raw.csv").write_text("a,b\n9,9\n")
    before = snapshot(repo)

    refused = cli("rerun", "v1")

    assert refused.exit_code == 10, refused
    recorded = original["data"]["raw"]["hash"]
    assert f"dataset raw differs from the one run v1 used: recorded {recorded}, found" in (
        refused.stderr
    ), refused
    assert "--allow-data-drift" in refused.stderr
    assert len(refused.stderr.strip().splitlines()) == 1, refused
    assert len(repo.run_ids()) == 1  # nothing ran, nothing recorded
    assert not (repo.path / ".mlog" / "cache" / "pending").exists() or not any(
        (repo.path / ".mlog" / "cache" / "pending").iterdir()
    )

    allowed = cli("rerun", "v1", "--allow-data-drift")

    assert allowed.exit_code == 0, allowed
    assert "dataset raw drifted" in allowed.stderr, allowed
    rerun = record(repo, repo.run_ids()[1])
    assert rerun["reproduces"] == original["id"]
    assert rerun["data_drift"] == [
        {"name": "raw", "recorded": recorded, "found": rerun["data"]["raw"]["hash"]}
    ]
    assert snapshot(repo) == before
    shown = cli("show", "v2")
    rows = [line.split() for line in shown.stdout.splitlines()]
    assert ["data", "drift", "raw:", recorded] in [row[:4] for row in rows], shown
    assert ["reproduces", original["id"]] in rows, shown  # no index yet: the id alone
    diff = cli("diff", "v1", "v2")
    assert diff.stdout.splitlines()[0] == "diff v1 → v2 (v2 reproduces v1)", diff
    assert "out.txt" in diff.stdout, diff  # the artifact's hash changed with the data


def test_dirty_run_is_rerun_with_its_stored_patch(repo: Repo, cli: Any) -> None:
    copy_repo(repo)
    repo.gen({"copy.py": COPY.replace("text.upper()", "text.lower() + 'patched'")})
    assert cli("run", "--allow-dirty", *COPY_ARGS[1:]).exit_code == 0
    before = snapshot(repo)

    result = cli("rerun", "v1", "--check")

    assert result.exit_code == 0, result
    assert snapshot(repo) == before  # still dirty, exactly as it was
    rerun = record(repo, repo.run_ids()[1])
    assert rerun["code"]["dirty"] is True
    assert (repo.run_dir(rerun["id"]) / "patch.diff").read_text() == (
        repo.run_dir(repo.run_ids()[0]) / "patch.diff"
    ).read_text()


def test_without_check_the_exit_code_is_the_commands(repo: Repo, cli: Any) -> None:
    copy_repo(repo)
    repo.gen({"exit_code.txt": "3"})
    repo.commit("fail on purpose")
    assert cli(*COPY_ARGS).exit_code == 3

    result = cli("rerun", "v1")

    assert result.exit_code == 3, result
    assert record(repo, repo.run_ids()[1])["status"] == "failed"


def test_json_and_keep_worktree(repo: Repo, cli: Any) -> None:
    copy_repo(repo)
    assert cli(*COPY_ARGS).exit_code == 0

    result = cli("rerun", "v1", "--json", "--keep-worktree", "--check")

    assert result.exit_code == 0, result
    report = json.loads(result.stdout)
    assert report["original"]["alias"] == "v1"
    assert report["rerun"]["alias"] == "v2"
    assert report["check"]["reproduced"] is True
    assert report["command_exit_code"] == 0
    kept = Path(report["worktree"])
    assert (kept / "out.txt").read_text() == "A,B\n1,2\n"
    assert str(kept) in repo.git("worktree", "list")
    repo.git("worktree", "remove", "--force", str(kept))
    kept.parent.rmdir()  # the temporary folder mlog made for it, now empty


def test_api_only_run_is_refused(repo: Repo, cli: Any) -> None:
    repo.gen({"api_run.py": "import mlog\nwith mlog.start_run():\n    mlog.log_metric('acc', 1)\n"})
    repo.commit("api")
    subprocess.run([PYTHON, "api_run.py"], cwd=repo.path, check=True, capture_output=True)

    result = cli("rerun", "v1")

    assert result.exit_code == 2, result
    assert "recorded from Python (mlog.start_run)" in result.stderr, result
    assert len(repo.run_ids()) == 1


def test_redacted_command_is_refused(repo: Repo, cli: Any) -> None:
    copy_repo(repo)
    assert cli(*COPY_ARGS, "--api-token", "s3cret").exit_code == 0

    result = cli("rerun", "v1")

    assert result.exit_code == 2, result
    assert "secret values redacted (command.argv[3])" in result.stderr, result


def test_commit_missing_from_the_clone(repo: Repo, cli: Any) -> None:
    copy_repo(repo)
    repo.git("checkout", "-q", "-b", "gone")
    repo.gen({"copy.py": COPY + "# on a branch that will be deleted\n"})
    repo.commit("temporary")
    assert cli(*COPY_ARGS).exit_code == 0
    repo.git("checkout", "-q", "main")
    repo.git("branch", "-q", "-D", "gone")
    repo.git("reflog", "expire", "--expire=now", "--all")
    repo.git("gc", "-q", "--prune=now")

    result = cli("rerun", "v1")

    assert result.exit_code == 6, result
    assert "is not in this clone" in result.stderr, result


def test_missing_dataset_is_named(repo: Repo, cli: Any) -> None:
    copy_repo(repo)
    assert cli(*COPY_ARGS).exit_code == 0
    os.remove(repo.path / "data/raw.csv")

    result = cli("rerun", "v1")

    assert result.exit_code == 10, result
    assert "dataset raw (data/raw.csv) of run v1 is neither in your working tree" in (
        result.stderr
    ), result


def test_unknown_run(repo: Repo, cli: Any) -> None:
    result = cli("rerun", "v9")
    assert result.exit_code == 6, result
    assert result.stderr.startswith("error: unknown run v9"), result


@pytest.mark.e2e
def test_installed_mlog_reruns_in_a_subprocess(repo: Repo, cli: Any) -> None:
    copy_repo(repo)
    assert cli(*COPY_ARGS).exit_code == 0
    before = snapshot(repo)

    done = subprocess.run(
        [MLOG, "rerun", "v1", "--check"], cwd=repo.path, capture_output=True, text=True
    )

    assert done.returncode == 0, done
    assert "reproduced v1" in done.stderr
    assert snapshot(repo) == before
