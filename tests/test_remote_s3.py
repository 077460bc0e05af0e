"""The S3 path end to end: the installed mlog against a real S3 server (moto) on 127.0.0.1.

The test starts moto's standalone server itself on a free loopback port; mlog reaches it
through s3fs with dummy credentials and the standard ``AWS_ENDPOINT_URL`` variable (or
``remote_options.endpoint_url``). Nothing leaves the machine.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from mlog.storage.hashing import hash_file
from tests.conftest import PYTHON, Repo

pytest.importorskip("s3fs")
pytest.importorskip("moto.server")
pytestmark = pytest.mark.e2e

TRAIN = """
import os
open("model.pkl", "wb").write(os.urandom(300_000))
os.makedirs("tokenizer", exist_ok=True)
for i in range(3):
    open(f"tokenizer/vocab-{i}.txt", "w").write("token %d\\n" % i * 100)
"""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="module")
def s3_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    port = free_port()
    log = tmp_path_factory.mktemp("moto") / "server.log"
    with open(log, "wb") as sink:
        server = subprocess.Popen(
            [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
            stdout=sink,
            stderr=subprocess.STDOUT,
        )
    endpoint = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=1):
                    break
            except OSError:
                if time.monotonic() > deadline or server.poll() is not None:
                    raise RuntimeError(f"moto server did not start: {log.read_text()}") from None
                time.sleep(0.2)
        yield endpoint
    finally:
        server.terminate()
        server.wait(timeout=30)


def s3(endpoint: str, method: str, path: str, data: bytes | None = None) -> bytes:
    """Raw object access beside mlog, through boto3 (moto's own dependency)."""
    import boto3

    client = boto3.client(
        "s3", endpoint_url=endpoint, region_name="us-east-1",
        aws_access_key_id="testing", aws_secret_access_key="testing",
    )  # fmt: skip
    try:
        bucket, _, key = path.partition("/")
        if not key:
            client.create_bucket(Bucket=bucket)
            return b""
        if method == "PUT":
            client.put_object(Bucket=bucket, Key=key, Body=data or b"")
            return b""
        return bytes(client.get_object(Bucket=bucket, Key=key)["Body"].read())
    finally:
        client.close()


@pytest.fixture
def bucket(s3_server: str, request: pytest.FixtureRequest) -> str:
    name = "b" + str(abs(hash(request.node.name)))[:10]
    s3(s3_server, "PUT", name)
    return name


def mlog(repo: Repo, endpoint: str, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    environment = {
        **{k: v for k, v in os.environ.items() if not k.startswith("AWS_")},
        "PATH": str(Path(sys.executable).parent) + os.pathsep + os.environ.get("PATH", ""),
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_CONFIG_FILE": os.devnull,
        "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
        "AWS_EC2_METADATA_DISABLED": "true",
        **env,
    }
    return subprocess.run(
        ["mlog", *args], cwd=repo.path, env=environment, capture_output=True, text=True,
        timeout=180,
    )  # fmt: skip


def ok(done: subprocess.CompletedProcess[str]) -> subprocess.CompletedProcess[str]:
    assert done.returncode == 0, (done.returncode, done.stdout, done.stderr)
    return done


@pytest.fixture
def trained(repo: Repo, cli: Any) -> Repo:
    repo.gen({"train.py": TRAIN, ".gitignore": "model.pkl\ntokenizer/\n"})
    repo.commit("training")
    result = cli("run", "--model", "fraud", "-a", "model.pkl", "-a", "tokenizer",
                 "--", PYTHON, "train.py")  # fmt: skip
    assert result.exit_code == 0, result
    return repo


def test_push_pull_fetch_corrupt_and_repush_on_s3(
    trained: Repo, s3_server: str, bucket: str
) -> None:
    env = {"MLOG_REMOTE": f"s3://{bucket}/models", "AWS_ENDPOINT_URL": s3_server}
    model = trained.path / "model.pkl"
    original = model.read_bytes()
    digest = hash_file(model)
    pushed = ok(mlog(trained, s3_server, "push", "latest", **env))
    assert "sent 4 file(s)" in pushed.stderr and "s3://" in pushed.stderr, pushed.stderr
    algorithm, hexpart = digest.split(":")
    key = f"{bucket}/models/{algorithm}/{hexpart[:2]}/{hexpart[2:]}"
    assert s3(s3_server, "GET", key) == original

    model.unlink()
    for path in (trained.path / "tokenizer").iterdir():
        path.unlink()
    ok(mlog(trained, s3_server, "pull", "latest", **env))
    assert model.read_bytes() == original
    assert (trained.path / "tokenizer" / "vocab-2.txt").read_text() == "token 2\n" * 100
    fetched = trained.path.parent / "deploy" / "model.pkl"
    ok(mlog(trained, s3_server, "fetch", "latest", "-a", "model.pkl", "-o", str(fetched), **env))
    assert fetched.read_bytes() == original

    s3(s3_server, "PUT", key, b"x" * len(original))  # bit rot, or someone's overwrite
    model.unlink()
    refused = mlog(trained, s3_server, "pull", "latest", **env)
    assert refused.returncode == 9, refused.stderr
    assert refused.stderr.startswith(f"error: object {digest} on the remote s3://{bucket}/models")
    assert "corrupt or truncated" in refused.stderr
    assert len(refused.stderr.strip().splitlines()) == 1 and not model.exists()
    verified = mlog(trained, s3_server, "push", "latest", "--dry-run", **env)
    assert verified.stdout.count("already there") == 2, verified.stdout

    repush = ok(mlog(trained, s3_server, "push", "latest", **env))
    assert "sent 0 file(s), 0 B; skipped 4 already on" in repush.stderr, repush.stderr


def test_endpoint_from_remote_options(trained: Repo, s3_server: str, bucket: str) -> None:
    config = trained.path / ".mlog" / "config.yaml"
    config.write_text(
        config.read_text()
        + f"remote: s3://{bucket}\nremote_options:\n  endpoint_url: {s3_server}\n"
    )
    ok(mlog(trained, s3_server, "register", "latest", "--model", "fraud"))
    listed = ok(mlog(trained, s3_server, "registry", "ls"))
    assert "ok/present" in listed.stdout, listed.stdout
    ok(mlog(trained, s3_server, "promote", "fraud@v1", "--to", "staging"))
    checked = ok(mlog(trained, s3_server, "deployable", "fraud", "--stage", "staging",
                      "--verify", "--remote"))  # fmt: skip
    assert "verified: true" in checked.stdout
