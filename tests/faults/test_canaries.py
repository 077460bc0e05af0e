"""Canary secrets in every input channel; none may reach any byte mlog writes or prints."""

from __future__ import annotations

import gzip
import os
import subprocess

import pytest

from tests.conftest import Repo
from tests.faults._support import PYTHON, mlog, records

pytestmark = pytest.mark.e2e

# Every canary holds "CANARY", so one search finds any of them; each has its input's shape.
TRAIN = """
import mlog
mlog.log_param("endpoint_url", "https://svc:CANARYapiurl01@internal.example.com/v1")
mlog.log_param("client", "sk-CANARYopenai0000000000002")
mlog.log_param("token", "CANARYapitoken03")
mlog.log_metric("api_secret", 0.5)
mlog.set_note("called with Authorization: Bearer CANARYbearer04")
import pathlib, shutil  # the metrics file is this run's own output, so it is not stale
shutil.copy("metrics.src.json", "metrics.json")
"""
PARAMS = """\
lr: 0.1
db_password: CANARYparampw05
endpoint: https://admin:CANARYparamurl06@db.example.com/x
aws_id: AKIACANARY0000000007
slack: xoxb-CANARY-00000000008
jwt: eyJCANARYhead.eyJCANARYbody.CANARYsig09
"""
METRICS = '{"auc": 0.9, "db_password": "CANARYmetricpw10", "ghp": "ghp_CANARY0000000000000000000000000011"}'


def _everything_written(repo: Repo) -> list[tuple[str, bytes]]:
    """Every file under .mlog/ (objects unzipped), and every blob git holds for .mlog/."""
    found = []
    for path in (repo.path / ".mlog").rglob("*"):
        if path.is_file():
            data = path.read_bytes()
            if data[:2] == b"\x1f\x8b":
                data = gzip.decompress(data)
            found.append((str(path.relative_to(repo.path)), data))
    listing = repo.git("ls-tree", "-r", "HEAD", "--", ".mlog")
    for line in listing.splitlines():
        meta, _, name = line.partition("\t")
        blob = subprocess.run(
            ["git", "cat-file", "blob", meta.split()[2]], cwd=repo.path, capture_output=True
        ).stdout
        found.append((f"git:{name}", gzip.decompress(blob) if blob[:2] == b"\x1f\x8b" else blob))
    found.append(("git:HEAD message", repo.git("log", "-1", "--format=%B").encode()))
    return found


def test_no_canary_reaches_a_file_git_or_the_output(repo: Repo) -> None:
    repo.gen({"train.py": TRAIN, "params.yaml": PARAMS, "metrics.src.json": METRICS,
              "settings.yaml": "mode: fast\n", ".gitignore": "metrics.json\n"})  # fmt: skip
    repo.git("remote", "add", "origin", "https://CANARYremote12@github.com/org/repo.git")
    repo.commit("canaries")
    (repo.path / "settings.yaml").write_text(
        "mode: fast\napi_key: CANARYpatch13\nDATABASE_URL=postgres://u:CANARYpatch14@db/x\n"
    )  # the --allow-dirty patch
    env = {**os.environ, "HF_TOKEN": "CANARYenv15", "PYTHONSETTING": "ghp_CANARY0000000000000000000000000016",
           "CUDA_VISIBLE_DEVICES": "0"}  # fmt: skip
    outputs = [
        mlog(
            repo.path, "run", "--allow-dirty", "-p", "params.yaml", "-m", "metrics.json",
            "--note", "data at https://me:CANARYnote17@s3.example.com/b",
            "--tag", "deploy=xoxp-CANARY-0000000018",
            "--", PYTHON, "train.py",
            "--password", "CANARYargv19", "--token=CANARYargv20",
            "--api-key", "CANARYargv21", "--secret=CANARYargv22",
            "--url=https://u:CANARYargv23@h/x",
            env=env,
        )
    ]  # fmt: skip
    assert outputs[0].returncode == 0, outputs[0].stderr
    reason = "approved in https://u:CANARYreason24@wiki.example.com/p, Bearer CANARYreason25"
    outputs += [mlog(repo.path, *c) for c in (["champion", "v1", "--reason", reason],
                                               ["ls", "--json"], ["show", "v1", "--json"],
                                               ["show", "v1", "--yaml"], ["check"])]  # fmt: skip
    assert outputs[1].returncode == 0, outputs[1].stderr
    repo.git("add", ".mlog")
    repo.git("commit", "-qm", "record the run")
    for result in outputs:
        assert "CANARY" not in result.stdout + result.stderr, result.args
    leaks = [name for name, data in _everything_written(repo) if b"CANARY" in data]
    assert leaks == []
    [record] = records(repo)
    assert record["environment"]["variables"]["CUDA_VISIBLE_DEVICES"] == "0"
    assert record["params"]["lr"] == 0.1 and record["metrics"]["auc"] == 0.9
    expected = {
        "note", "tags.deploy", "code.remote", "patch.diff",
        "environment.variables.HF_TOKEN", "environment.variables.PYTHONSETTING",
        "params.db_password", "params.endpoint", "params.aws_id", "params.slack", "params.jwt",
        "params.endpoint_url", "params.client", "params.token",
        "metrics.db_password", "metrics.ghp",
        "command.argv[3]", "command.argv[4]", "command.argv[6]", "command.argv[7]",
        "command.argv[8]",
    }  # fmt: skip
    assert expected <= set(record["redactions"]), expected - set(record["redactions"])
    patch = (repo.run_dir(repo.run_ids()[0]) / "patch.diff").read_text()
    assert "+mode: fast" not in patch and "api_key: [REDACTED]" in patch
