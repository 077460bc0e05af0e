"""End to end: a deploy script gated by `mlog deployable --verify` through the installed mlog."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import Repo
from tests.test_registry import ok, setup_training, train

DEPLOY_SH = """#!/bin/sh
set -e
mlog deployable fraud --verify --json > deploy.json
echo "deploying $(python -c 'import json; print(json.load(open("deploy.json"))["version"])')"
"""

pytestmark = pytest.mark.e2e


def deploy(repo: Repo) -> subprocess.CompletedProcess[str]:
    bin_dir = str(Path(sys.executable).parent)
    env = {**os.environ, "PATH": bin_dir + os.pathsep + os.environ.get("PATH", "")}
    return subprocess.run(
        ["sh", "deploy.sh"], cwd=repo.path, env=env, capture_output=True, text=True, timeout=120
    )


def test_deploy_script_refuses_a_tampered_artifact(repo: Repo, cli: Any) -> None:
    setup_training(repo)
    repo.gen({"deploy.sh": DEPLOY_SH, ".gitignore": "model.pkl\nmetrics.json\ndeploy.json\n"})
    repo.commit("deploy script")
    nothing = deploy(repo)
    assert nothing.returncode == 6 and "unknown model 'fraud'" in nothing.stderr
    ok(cli("register", train(cli)))
    ok(cli("approve", "fraud@v1", env={"GIT_AUTHOR_EMAIL": "qa@example.com"}))
    ok(cli("promote", "fraud@v1", "--to", "production"))
    good = deploy(repo)
    assert good.returncode == 0 and "deploying v1" in good.stdout, good
    pinned = json.loads((repo.path / "deploy.json").read_text())
    assert pinned["verified"] is True and pinned["artifacts"][0]["status"] == "ok"
    (repo.path / "model.pkl").write_bytes(b"backdoored weights")
    bad = deploy(repo)
    assert bad.returncode == 11, bad
    assert "deploying" not in bad.stdout
    assert (
        "error: refusing to deploy fraud@v1" in bad.stderr and "model.pkl (mismatch)" in bad.stderr
    )


def test_deployable_text_output_and_edited_record(repo: Repo, cli: Any) -> None:
    setup_training(repo)
    run_id = train(cli)
    ok(cli("register", run_id))
    ok(cli("promote", "fraud@v1", "--to", "staging"))
    text = ok(cli("deployable", "fraud", "--stage", "staging")).stdout
    assert (
        "version: v1" in text
        and f"run: {run_id}" in text
        and "artifact: model.pkl xxh3_128:" in text
    )
    record = repo.run_dir(run_id) / "record.yaml"
    record.write_text(record.read_text().replace("auc: 0.9", "auc: 0.99"))
    edited = cli("deployable", "fraud", "--stage", "staging", "--verify")
    assert edited.exit_code == 9 and "integrity hash" in edited.stderr, edited
