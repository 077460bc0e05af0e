"""Signed registry events and run records, with real ssh keys made by `ssh-keygen` here.

Ada's key is in `.mlog/allowed_signers`; Mallory's is not.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from mlog.registry import events
from mlog.storage import records, yamlio
from mlog.storage.store import Store
from tests.conftest import Repo, git

PYTHON = sys.executable
BOB = {"GIT_AUTHOR_EMAIL": "bob@example.com"}
CAROL = {"GIT_AUTHOR_EMAIL": "carol@example.com"}


def ok(result: Any) -> Any:
    assert result.exit_code == 0, result
    return result


@pytest.fixture
def keys(tmp_path: Path) -> dict[str, Path]:
    made = {}
    for name in ("ada", "mallory"):
        path = tmp_path / "keys" / name
        path.parent.mkdir(exist_ok=True)
        subprocess.run(
            ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", name, "-f", str(path)],
            check=True,
        )
        made[name] = path
    return made


def allow(repo: Repo, keys: dict[str, Path]) -> None:
    """Ada's public key for ada@example.com, in ssh's allowed-signers format."""
    public = keys["ada"].with_suffix(".pub").read_text().strip()
    repo.gen({".mlog/allowed_signers": f'ada@example.com namespaces="mlog" {public}\n'})


def signing_env(key: Path) -> dict[str, str]:
    """Git's ssh signing config through GIT_CONFIG_* variables, as CI systems set it."""
    pairs = [("gpg.format", "ssh"), ("user.signingkey", f"{key}.pub")]
    env = {"GIT_CONFIG_COUNT": str(len(pairs))}
    for index, (name, value) in enumerate(pairs):
        env |= {f"GIT_CONFIG_KEY_{index}": name, f"GIT_CONFIG_VALUE_{index}": value}
    return env


def new_run(cli: Any, repo: Repo) -> str:
    ok(cli("run", "--model", "m", "--", PYTHON, "-c", "pass"))
    repo.commit("run")
    return str(json.loads(ok(cli("show", "latest", "--json")).stdout)["id"])


def history(cli: Any) -> list[dict[str, Any]]:
    return list(json.loads(ok(cli("registry", "history", "m", "--json")).stdout))


def test_events_are_signed_with_gits_key_and_history_shows_the_signer(
    repo: Repo, cli: Any, keys: dict[str, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    allow(repo, keys)
    new_run(cli, repo)
    for name, value in signing_env(keys["ada"]).items():
        monkeypatch.setenv(name, value)
    mlog = str(Path(sys.executable).parent / "mlog")  # the installed CLI, end to end
    done = subprocess.run(
        [mlog, "register", "latest", "--model", "m"], cwd=repo.path, capture_output=True,
        text=True, timeout=120, check=False,
    )  # fmt: skip
    assert done.returncode == 0 and "registered m@v1" in done.stderr, done
    [event] = events.event_files(Store(repo.path), "m")
    signature = event.with_name(event.name + ".sig")
    assert signature.read_text().startswith("-----BEGIN SSH SIGNATURE-----")
    ok(cli("approve", "m@v1", env={**BOB, **signing_env(keys["mallory"])}))
    repo.commit("registry")
    trail = history(cli)
    assert [e["signature"]["status"] for e in trail] == ["unknown key", "verified"]
    assert trail[1]["signature"]["signer"] == "ada@example.com"
    text = ok(cli("registry", "history", "m", env={"COLUMNS": "250"})).stdout
    assert "(signed by ada@example.com)" in text and "(unknown key)" in text, text
    ok(cli("check"))  # unsigned or unknown keys are fine while signatures are not required

    document = yamlio.load_file(event)
    document["reason"] = "quietly edited"
    event.write_text(yamlio.dumps(records.seal(document)))  # a valid hash, a broken signature
    repo.commit("edit the event and its hash")
    result = cli("check", "--json")
    assert result.exit_code == 1, result
    found = [f for f in json.loads(result.stdout)["findings"] if f["check"] == "signature"]
    assert "signature does not match its content (the event was edited)" in found[0]["message"]


def turn_on_require_signed(repo: Repo, keys: dict[str, Path]) -> None:
    allow(repo, keys)
    config = repo.path / ".mlog" / "config.yaml"
    config.write_text(
        config.read_text() + "registry:\n  require_signed: true\n"
        "  gates: {production: [succeeded, approvals]}\n  approvals: {production: 2}\n"
    )
    repo.commit("require signed registry events")


def test_require_signed_counts_only_verified_events_from_the_commit_that_turned_it_on(
    repo: Repo, cli: Any, keys: dict[str, Path]
) -> None:
    new_run(cli, repo)
    ok(cli("register", "latest", "--model", "m", env=BOB))  # before the policy: keeps counting
    repo.commit("bob registers v1")
    before = repo.git("rev-parse", "HEAD")
    repo.git("checkout", "-q", "-b", "late")
    ok(cli("approve", "m@v1", env=CAROL))  # unsigned, on a branch merged after the policy
    repo.commit("carol approves, unsigned")
    repo.git("checkout", "-q", "main")
    assert repo.git("rev-parse", "HEAD") == before
    turn_on_require_signed(repo, keys)
    store = Store(repo.path)
    count = len(events.event_files(store, "m"))

    nokey = cli("approve", "m@v1", env=CAROL)
    assert nokey.exit_code == 11, nokey
    assert nokey.stderr.count("\n") == 1 and "git config user.signingkey" in nokey.stderr
    stranger = cli("approve", "m@v1", env={**CAROL, **signing_env(keys["mallory"])})
    assert stranger.exit_code == 11, stranger
    assert "not listed for carol@example.com in .mlog/allowed_signers" in stranger.stderr
    assert len(events.event_files(store, "m")) == count  # refusals wrote nothing
    ok(cli("approve", "m@v1", env=signing_env(keys["ada"])))
    repo.commit("ada approves, signed")
    assert json.loads(ok(cli("registry", "ls", "--json")).stdout)[0]["versions"][0][
        "approvals"
    ] == ["ada@example.com"]
    ok(cli("check"))

    repo.git("merge", "-q", "--no-edit", "late")
    refused = cli("promote", "m@v1", "--to", "production", env=signing_env(keys["ada"]))
    assert refused.exit_code == 11 and "approvals: 1 of 2" in refused.stderr, refused
    result = cli("check", "--json")
    assert result.exit_code == 1, result
    [finding] = [f for f in json.loads(result.stdout)["findings"] if f["check"] == "signature"]
    assert (
        "approve event" in finding["message"]
        and "by carol@example.com is unsigned" in (finding["message"])
    )
    trail = {e["by"]: e["signature"] for e in history(cli)}
    assert trail["carol@example.com"]["counts"] is False
    assert trail["bob@example.com"]["counts"] is True  # grandfathered
    assert trail["ada@example.com"] == {
        "status": "verified", "signer": "ada@example.com", "counts": True
    }  # fmt: skip


def test_sign_records_signs_every_run_record(repo: Repo, cli: Any, keys: dict[str, Path]) -> None:
    config = repo.path / ".mlog" / "config.yaml"
    config.write_text(config.read_text() + "sign_records: true\n")
    repo.commit("sign records")
    refused = cli("run", "--", PYTHON, "-c", "pass")
    assert refused.exit_code == 11 and "sign_records is on" in refused.stderr, refused
    assert repo.run_ids() == []  # refused before running, nothing half-written
    git(repo.path, "config", "gpg.format", "ssh")
    git(repo.path, "config", "user.signingkey", str(keys["ada"]))
    run_id = new_run(cli, repo)
    record = repo.run_dir(run_id) / "record.yaml"
    assert record.with_name("record.yaml.sig").read_text().startswith("-----BEGIN SSH")
    ok(cli("check"))
    document = yamlio.load_file(record)
    document["note"] = "better than it was"
    record.write_text(yamlio.dumps(records.seal(document)))
    result = cli("check", "--json")
    assert result.exit_code == 1, result
    messages = [f["message"] for f in json.loads(result.stdout)["findings"]]
    assert any("record was edited after signing" in m for m in messages), messages


def test_a_key_that_cannot_sign_is_a_clear_error_and_writes_nothing(
    repo: Repo, cli: Any, tmp_path: Path
) -> None:
    new_run(cli, repo)
    missing = signing_env(tmp_path / "no-such-key")
    result = cli("register", "latest", "--model", "m", env=missing)
    assert result.exit_code == 8, result
    assert result.stderr.startswith("error: ssh-keygen could not sign with git's user.signingkey")
    no_program = {**missing, "GIT_CONFIG_COUNT": "3"}
    no_program |= {"GIT_CONFIG_KEY_2": "gpg.ssh.program", "GIT_CONFIG_VALUE_2": "no-ssh-keygen"}
    result = cli("register", "latest", "--model", "m", env=no_program)
    assert result.exit_code == 8 and "no-ssh-keygen is not installed" in result.stderr, result
    assert "Traceback" not in result.stderr
    assert events.event_files(Store(repo.path), "m") == []


def test_signature_verdicts_are_kept_per_clone_and_asked_again_when_signers_change(
    repo: Repo, cli: Any, keys: dict[str, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    """ssh-keygen judges each signature once; a changed allowed_signers file, dated keys, or a
    verdict file that came with the repository (committed) are never answered from it."""
    from mlog.registry.signatures import VERDICTS_FILE
    from mlog.storage import signing

    allow(repo, keys)
    new_run(cli, repo)
    ok(cli("register", "latest", "--model", "m", env=signing_env(keys["ada"])))
    repo.commit("ada registers, signed")
    asked: list[list[str]] = []
    run = signing._run

    def counted(program: str, args: list[str], message: bytes) -> Any:
        asked.append(args)
        return run(program, args, message)

    monkeypatch.setattr(signing, "_run", counted)
    assert history(cli)[0]["signature"]["status"] == "verified" and asked
    kept = repo.path / ".mlog" / "cache" / VERDICTS_FILE
    assert kept.is_file()
    asked.clear()
    assert history(cli)[0]["signature"]["status"] == "verified" and asked == []

    signers = repo.path / ".mlog" / "allowed_signers"
    signers.write_text("# nobody is allowed any more\n")
    assert history(cli)[0]["signature"]["status"] == "unknown key" and asked
    allow(repo, keys)
    public = keys["ada"].with_suffix(".pub").read_text().strip()
    signers.write_text(f'ada@example.com namespaces="mlog",valid-before="29991231" {public}\n')
    asked.clear()
    for _ in range(2):  # dated keys: verdicts depend on the time, so none is kept
        assert history(cli)[0]["signature"]["status"] == "verified" and asked
        asked.clear()

    allow(repo, keys)
    forged = {key: ["bad signature", None] for key in json.loads(kept.read_text())}
    kept.write_text(json.dumps(forged))
    repo.git("add", "-f", str(kept))
    repo.commit("a cache someone committed")
    assert history(cli)[0]["signature"]["status"] == "verified" and asked
    result = cli("check", "--json")
    assert result.exit_code == 1, result
    [finding] = [f for f in json.loads(result.stdout)["findings"] if f["check"] == "cache"]
    assert (
        finding["path"] == f".mlog/cache/{VERDICTS_FILE}"
        and "git rm --cached" in (finding["message"])
    )
