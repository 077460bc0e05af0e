"""``mlog export in-toto`` and ``mlog verify-provenance``: the spec's structure, sha256sum of the
subjects, DSSE envelopes signed and verified with real ``ssh-keygen`` keys."""

from __future__ import annotations

import base64
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

import mlog
from mlog.storage import records, yamlio
from mlog.storage.schema import problems
from mlog.storage.store import Store
from tests.conftest import PYTHON, Repo
from tests.test_registry import ok

TRAIN = """
import os, sys
os.makedirs("out", exist_ok=True)
open("model.pkl", "wb").write(b"weights " + sys.argv[1].encode())
open("out/report.txt", "w").write("auc 0.9\\n")
open("out/plot.svg", "w").write("<svg/>\\n")
"""


@pytest.fixture
def trained(repo: Repo, cli: Any) -> Repo:
    repo.gen({"train.py": TRAIN, ".gitignore": "model.pkl\nout/\n", "data/train.csv": "a\n1\n"})
    repo.commit("training")
    flags = ("--model", "fraud", "-a", "model.pkl", "-a", "out", "-d", "train=data/train.csv")
    ok(cli("run", *flags, "--", PYTHON, "train.py", "--lr=0.1"))
    return repo


def record(repo: Repo) -> dict[str, Any]:
    store = Store(repo.path)
    return store.load_record(store.run_ids()[-1])


def sha256sum(repo: Repo, *paths: str) -> dict[str, str]:
    done = subprocess.run(
        ["sha256sum", *paths], cwd=repo.path, check=True, capture_output=True, text=True
    )
    return {line.split()[1]: line.split()[0] for line in done.stdout.splitlines()}


def validate_with_bindings(document: dict[str, Any]) -> None:
    """The in-toto-attestation reference bindings: unknown fields and missing digests fail."""
    from google.protobuf import json_format
    from in_toto_attestation.predicates.provenance.v1 import provenance_pb2
    from in_toto_attestation.v1 import statement_pb2
    from in_toto_attestation.v1.statement import Statement

    parsed = json_format.ParseDict(document, statement_pb2.Statement())
    Statement.copy_from_pb(parsed).validate()
    json_format.ParseDict(document["predicate"], provenance_pb2.Provenance())


def test_statement_follows_the_specs_and_subjects_match_sha256sum(trained: Repo, cli: Any) -> None:
    result = ok(cli("export", "in-toto", "latest", "-o", "prov.json"))
    assert "wrote prov.json (3 subject(s))" in result.stderr + result.stdout
    document = json.loads((trained.path / "prov.json").read_text())
    assert problems(document, "intoto-provenance") == []
    validate_with_bindings(document)
    subjects = {s["name"]: s["digest"]["sha256"] for s in document["subject"]}
    files = ("model.pkl", "out/plot.svg", "out/report.txt")
    assert sorted(subjects) == list(files)
    assert subjects == sha256sum(trained, *files)

    run = record(trained)
    build = document["predicate"]["buildDefinition"]
    assert build["buildType"] == "https://mlog.dev/provenance/training-run/v1"
    assert build["externalParameters"] == {"argv": run["command"]["argv"], "params": run["params"]}
    assert build["externalParameters"]["argv"][-1] == "--lr=0.1"
    source, data, *_ = build["resolvedDependencies"]
    assert source["digest"] == {"gitCommit": trained.git("rev-parse", "HEAD"),
                                "gitTree": run["code"]["tree"]}  # fmt: skip
    assert data["name"] == "data/train"
    assert data["digest"] == {"xxh3_128": run["data"]["train"]["hash"].split(":")[1]}
    details = document["predicate"]["runDetails"]
    assert details["builder"] == {
        "id": "https://mlog.dev/builder/mlog-cli", "version": {"mlog-cli": mlog.__version__}
    }  # fmt: skip
    assert details["metadata"] == {
        "invocationId": run["id"],
        "startedOn": run["command"]["started_at"],
        "finishedOn": run["command"]["ended_at"],
    }


def test_model_version_statement_names_the_version_and_goes_to_stdout(
    trained: Repo, cli: Any
) -> None:
    ok(cli("register", "latest", "--model", "fraud"))
    result = ok(cli("export", "in-toto", "fraud@v1"))
    document = json.loads(result.stdout)
    internal = document["predicate"]["buildDefinition"]["internalParameters"]
    assert internal["modelVersion"] == "fraud@v1" and internal["run"] == record(trained)["id"]


def test_verify_provenance_reports_a_changed_subject(trained: Repo, cli: Any) -> None:
    ok(cli("export", "in-toto", "latest", "-o", "prov.json"))
    assert "3/3 subject(s) match, unsigned" in ok(cli("verify-provenance", "prov.json")).stderr
    (trained.path / "out" / "report.txt").write_text("auc 0.99\n")
    (trained.path / "model.pkl").unlink()
    result = cli("verify-provenance", "prov.json", "--json")
    assert result.exit_code == 1, result
    report = json.loads(result.stdout)
    status = {s["name"]: s["status"] for s in report["subjects"]}
    assert status == {"model.pkl": "missing", "out/plot.svg": "ok", "out/report.txt": "mismatch"}
    assert result.stderr == ""
    human = cli("verify-provenance", "prov.json")
    assert human.exit_code == 1 and "mismatch  out/report.txt" in human.stdout, human
    assert human.stderr == "error: provenance does not verify: 1/3 subject(s) match, unsigned\n"


def ssh_key(folder: Path, name: str) -> Path:
    key = folder / name
    subprocess.run(
        ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", name, "-f", str(key)], check=True
    )
    return key


@pytest.fixture
def signer(trained: Repo, tmp_path: Path) -> Path:
    """git signs with a fresh ed25519 key; .mlog/allowed_signers trusts it for ada."""
    key = ssh_key(tmp_path, "ada")
    trained.git("config", "gpg.format", "ssh")
    trained.git("config", "user.signingkey", str(key))
    allowed = f"ada@example.com {key.with_suffix('.pub').read_text()}"
    (trained.path / ".mlog" / "allowed_signers").write_text(allowed)
    return key


def test_signed_envelope_verifies_and_tampering_is_caught(
    trained: Repo, signer: Path, cli: Any
) -> None:
    ok(cli("export", "in-toto", "latest", "--sign", "-o", "prov.dsse.json"))
    envelope = json.loads((trained.path / "prov.dsse.json").read_text())
    assert envelope["payloadType"] == "application/vnd.in-toto+json"
    statement = json.loads(base64.b64decode(envelope["payload"]))
    assert problems(statement, "intoto-provenance") == []
    [signature] = envelope["signatures"]
    assert signature["keyid"].startswith("SHA256:")
    assert base64.b64decode(signature["sig"]).startswith(b"-----BEGIN SSH SIGNATURE-----")
    verified = ok(cli("verify-provenance", "prov.dsse.json", "--json"))
    assert json.loads(verified.stdout)["signatures"][0] == {
        "keyid": signature["keyid"], "status": "ok", "by": "ada@example.com", "note": None
    }  # fmt: skip

    statement["subject"][0]["digest"]["sha256"] = "0" * 64  # claim another model
    forged = {**envelope, "payload": base64.b64encode(json.dumps(statement).encode()).decode()}
    (trained.path / "forged.json").write_text(json.dumps(forged))
    result = cli("verify-provenance", "forged.json", "--json")
    assert result.exit_code == 1, result
    report = json.loads(result.stdout)
    assert report["signatures"][0]["status"] == "invalid"


def test_signature_by_an_untrusted_key_does_not_verify(
    trained: Repo, signer: Path, cli: Any, tmp_path: Path
) -> None:
    ok(cli("export", "in-toto", "latest", "--sign", "-o", "prov.dsse.json"))
    other = ssh_key(tmp_path, "mallory")
    allowed = f"ada@example.com {other.with_suffix('.pub').read_text()}"
    (trained.path / ".mlog" / "allowed_signers").write_text(allowed)
    result = cli("verify-provenance", "prov.dsse.json")
    assert result.exit_code == 1, result
    assert "invalid   signature" in result.stdout
    (trained.path / ".mlog" / "allowed_signers").unlink()
    unknown = cli("verify-provenance", "prov.dsse.json")
    assert unknown.exit_code == 1 and "no allowed_signers file" in unknown.stdout, unknown


def test_sign_without_a_signing_key(trained: Repo, cli: Any) -> None:
    result = cli("export", "in-toto", "latest", "--sign", "-o", "prov.json")
    assert result.exit_code == 2, result
    assert result.stderr.startswith("error: no signing key (set one: `git config gpg.format ssh`")
    assert not (trained.path / "prov.json").exists()


def test_bad_provenance_files(trained: Repo, cli: Any) -> None:
    missing = cli("verify-provenance", "nope.json")
    assert missing.exit_code == 2 and "no such provenance file: nope.json" in missing.stderr
    (trained.path / "bad.json").write_text("{not json")
    bad = cli("verify-provenance", "bad.json")
    assert bad.exit_code == 9 and bad.stderr.startswith("error: bad.json: not JSON"), bad
    (trained.path / "wrong.json").write_text(json.dumps({"_type": "x", "subject": []}))
    wrong = cli("verify-provenance", "wrong.json")
    assert wrong.exit_code == 9 and "schema violation" in wrong.stderr, wrong


def test_an_edited_record_is_never_attested(trained: Repo, cli: Any) -> None:
    [run_id] = trained.run_ids()
    path = trained.run_dir(run_id) / "record.yaml"
    path.write_text(path.read_text().replace("model: fraud", "model: other"))
    result = cli("export", "in-toto", "latest")
    assert result.exit_code == 9, result
    assert "record content does not match its integrity hash" in result.stderr
    assert result.stdout == ""


def test_run_without_artifacts_has_nothing_to_attest(repo: Repo, cli: Any) -> None:
    ok(cli("run", "--", PYTHON, "train.py"))
    result = cli("export", "in-toto", "latest")
    assert result.exit_code == 10, result
    assert "has no artifact to attest (declare outputs with --artifact)" in result.stderr
    assert result.stdout == ""


def test_record_without_sha256_is_hashed_now_only_if_unchanged(trained: Repo, cli: Any) -> None:
    """A record written before mlog kept sha256: the file is hashed now if still the same."""
    store = Store(trained.path)
    old = record(trained)
    for artifact in old["artifacts"]:
        artifact.pop("sha256", None)
        artifact.pop("sha256_files", None)
    old["id"] = old["id"][:-8] + "00000000"
    old["alias"] = "v2"
    store.write_run(old["id"], yamlio.dumps(records.seal(old)), {})
    document = json.loads(ok(cli("export", "in-toto", old["id"])).stdout)
    subjects = {s["name"]: s["digest"]["sha256"] for s in document["subject"]}
    assert subjects == sha256sum(trained, "model.pkl", "out/plot.svg", "out/report.txt")
    (trained.path / "model.pkl").write_bytes(b"retrained")
    changed = cli("export", "in-toto", old["id"])
    assert changed.exit_code == 10 and "changed since run" in changed.stderr, changed


@pytest.mark.e2e
def test_installed_mlog_exports_and_verifies(trained: Repo) -> None:
    """The installed entry point, as CI and auditors call it."""
    mlog = str(Path(sys.executable).parent / "mlog")
    exported = subprocess.run(
        [mlog, "export", "in-toto", "latest", "-o", "prov.json"],
        cwd=trained.path, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert exported.returncode == 0, exported.stderr
    verified = subprocess.run(
        [mlog, "verify-provenance", "prov.json"],
        cwd=trained.path, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert verified.returncode == 0, verified.stderr
    assert "3/3 subject(s) match, unsigned" in verified.stderr
