"""The model registry: register, promote with gates, approve, audit trail, merge conflicts."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from mlog.registry import champion, events
from mlog.registry import fold as registry
from mlog.storage.store import Store
from tests.conftest import PYTHON, Repo

TRAIN = """
import json, sys
auc = float(sys.argv[1]) if len(sys.argv) > 1 else 0.9
open("model.pkl", "wb").write(("weights %s" % auc).encode())
json.dump({"auc": auc, "loss": 1 - auc}, open("metrics.json", "w"))
sys.exit(int(sys.argv[2]) if len(sys.argv) > 2 else 0)
"""


def setup_training(repo: Repo) -> None:
    """A training script that writes an artifact and metrics, both git-ignored."""
    repo.gen({"train.py": TRAIN, ".gitignore": "model.pkl\nmetrics.json\n"})
    repo.commit("training script")


def train(cli: Any, auc: float = 0.9, *, exit_code: int = 0, dirty: bool = False) -> str:
    """Record one run of model ``fraud`` and return its id."""
    flags = ["--allow-dirty"] if dirty else []
    result = cli(
        "run", "--model", "fraud", "-a", "model.pkl", "-m", "metrics.json", *flags,
        "--", PYTHON, "train.py", str(auc), str(exit_code),
    )  # fmt: skip
    assert result.exit_code == exit_code, result
    return str(json.loads(cli("show", "latest", "--json").stdout)["id"])


def event_files(repo: Repo, model: str = "fraud") -> list[Path]:
    directory = repo.path / ".mlog" / "registry" / model
    return sorted(directory.glob("*.yaml")) if directory.exists() else []


RISK = {"GIT_AUTHOR_EMAIL": "risk@example.com"}


def ok(result: Any) -> Any:
    assert result.exit_code == 0, result
    return result


@pytest.fixture
def trained(repo: Repo, cli: Any) -> Repo:
    setup_training(repo)
    return repo


def test_register_pins_run_commit_and_artifacts(trained: Repo, cli: Any) -> None:
    run_id = train(cli)
    result = ok(cli("register", run_id, "--json"))
    data = json.loads(result.stdout)
    assert data["model"] == "fraud" and data["version"] == "v1" and data["run"] == run_id
    assert data["commit"] == trained.git("rev-parse", "HEAD")
    assert data["artifacts"][0]["path"] == "model.pkl"
    assert data["artifacts"][0]["hash"].startswith("xxh3_128:")
    [path] = event_files(trained)
    event = yaml.safe_load(path.read_text())
    assert event["kind"] == "register" and event["by"] == "ada@example.com"
    assert event["run_hash"].startswith("sha256:") and event["prev"] is None
    second = ok(cli("register", train(cli, 0.95), "--model", "fraud", "--json"))
    assert json.loads(second.stdout)["version"] == "v2"


def test_registering_the_same_run_twice_is_refused(trained: Repo, cli: Any) -> None:
    run_id = train(cli)
    ok(cli("register", run_id))
    result = cli("register", run_id, "--model", "fraud")
    assert result.exit_code == 11, result
    assert "error:" in result.stderr and "already registered as fraud@v1" in result.stderr
    assert len(event_files(trained)) == 1


def test_custom_version_and_duplicate_version(trained: Repo, cli: Any) -> None:
    ok(cli("register", train(cli), "--version", "2026-q1"))
    result = cli("register", train(cli, 0.8), "--version", "2026-q1")
    assert result.exit_code == 11 and "fraud@2026-q1 already exists" in result.stderr, result
    bad = cli("register", "latest", "--version", "bad/name")
    assert bad.exit_code == 2 and "invalid version" in bad.stderr, bad


def test_register_unknown_run(trained: Repo, cli: Any) -> None:
    result = cli("register", "v9", "--model", "fraud")
    assert result.exit_code == 6 and "unknown run v9" in result.stderr, result
    assert result.stdout == ""


def test_promote_checks_all_gates_and_reports_every_failure(trained: Repo, cli: Any) -> None:
    trained.gen({"notes.txt": "uncommitted\n"})
    run_id = train(cli, exit_code=3, dirty=True)
    ok(cli("register", run_id))
    result = cli("promote", "fraud@v1", "--to", "production")
    assert result.exit_code == 11, result
    for gate in ("succeeded: run status is failed", "not_dirty", "approvals: 0 of 1"):
        assert gate in result.stderr, result
    assert "--force --reason" in result.stderr
    assert "FAIL" in result.stdout  # the gate table
    assert len(event_files(trained)) == 1  # no partial event


def test_approvals_by_distinct_people_then_promotion_archives_previous(
    trained: Repo, cli: Any
) -> None:
    ok(cli("register", train(cli, 0.90)))
    ok(cli("register", train(cli, 0.95)))  # model.pkl now holds v2's weights
    ok(cli("approve", "fraud@v1", "--reason", "FR-12", env=RISK))
    twice = cli("approve", "fraud@v1", env={"GIT_AUTHOR_EMAIL": "Risk@Example.com"})
    assert twice.exit_code == 11 and "already approved fraud@v1" in twice.stderr, twice
    first = ("promote", "fraud@v1", "--to", "production", "--force", "--reason", "first")
    ok(cli(*first))
    ok(cli("approve", "fraud@v2", env=RISK))
    before = len(event_files(trained))
    done = json.loads(ok(cli("promote", "fraud@v2", "--to", "production", "--json")).stdout)
    assert done["archived"] == ["v1"] and done["from"] is None and done["forced"] is False
    assert [g["name"] for g in done["gates"]] == list(registry.GATES)
    assert len(event_files(trained)) == before + 1  # archiving is part of the same event
    listing = json.loads(ok(cli("registry", "ls", "--json")).stdout)
    stages = {v["version"]: v["stage"] for v in listing[0]["versions"]}
    assert stages == {"v1": "archived", "v2": "production"}
    assert listing[0]["champion"] == done_run(trained, "v2") and listing[0]["conflicts"] == []


def done_run(repo: Repo, version: str) -> str:
    return registry.resolve_version(Store(repo.path), f"fraud@{version}").run


def test_force_needs_a_reason_and_is_recorded(trained: Repo, cli: Any) -> None:
    ok(cli("register", train(cli)))
    bare = cli("promote", "fraud@v1", "--to", "production", "--force")
    assert bare.exit_code == 2 and "--force needs --reason" in bare.stderr, bare
    ok(cli("promote", "fraud@v1", "--to", "production", "--force", "--reason", "hotfix INC-1"))
    event = yaml.safe_load(event_files(trained)[-1].read_text())
    assert event["forced"] is True and event["reason"] == "hotfix INC-1"
    assert event["details"]["failed_gates"] == ["approvals"]
    history = json.loads(ok(cli("registry", "history", "fraud", "--json")).stdout)
    assert [e["kind"] for e in history] == ["promote", "register"]  # newest first
    assert history[0]["forced"] is True and history[0]["reason"] == "hotfix INC-1"
    text = ok(cli("registry", "history", "fraud")).stdout
    assert "promote" in text and "register" in text


def test_bad_targets_and_stages(trained: Repo, cli: Any) -> None:
    ok(cli("register", train(cli)))
    cases = [
        (("promote", "fraud@v1", "--to", "prod"), 2, "unknown stage 'prod'"),
        (("promote", "ghost@v1", "--to", "staging"), 6, "unknown model 'ghost'"),
        (("promote", "fraud@v7", "--to", "staging"), 6, "unknown version fraud@v7"),
        (("promote", "fraud", "--to", "staging"), 2, "expected MODEL@VERSION"),
        (("approve", "fraud@v7"), 6, "unknown version fraud@v7"),
        (("registry", "history", "ghost"), 6, "unknown model 'ghost'"),
        (("deployable", "fraud"), 6, "no production version of fraud"),
        (("deployable", "fraud", "--stage", "archived"), 2, "cannot deploy from stage"),
    ]
    for args, code, message in cases:
        result = cli(*args)
        assert result.exit_code == code and message in result.stderr, (args, result)
        assert result.stderr.startswith("error: ") and "Traceback" not in result.stderr


def test_archived_versions_are_retired(trained: Repo, cli: Any) -> None:
    ok(cli("register", train(cli)))
    ok(cli("promote", "fraud@v1", "--to", "archived"))
    for args in (("promote", "fraud@v1", "--to", "staging"), ("approve", "fraud@v1")):
        result = cli(*args)
        assert result.exit_code == 11 and "archived" in result.stderr, result
    again = cli("promote", "fraud@v1", "--to", "archived", "--force", "--reason", "x")
    assert again.exit_code == 11 and "already in archived" in again.stderr, again
    rollback = ("promote", "fraud@v1", "--to", "staging", "--force", "--reason", "rollback")
    ok(cli(*rollback))


def test_malformed_event_file_is_a_clear_error(trained: Repo, cli: Any) -> None:
    ok(cli("register", train(cli)))
    [path] = event_files(trained)
    path.write_text(path.read_text().replace("ada@example.com", "mallory@example.com"))
    for args in (("registry", "ls"), ("promote", "fraud@v1", "--to", "staging")):
        result = cli(*args)
        assert result.exit_code == 9 and "integrity hash does not match" in result.stderr, result
    path.write_text("kind: [unclosed\n")
    result = cli("registry", "ls", "--json")
    assert result.exit_code == 9, result
    assert json.loads(result.stdout)["error"]["exit_code"] == 9, result  # scripts see it too


def test_data_review_flag_blocks_until_cleared(trained: Repo, cli: Any) -> None:
    ok(cli("register", train(cli)))
    ok(cli("approve", "fraud@v1", env=RISK))
    store = Store(trained.path)
    registry.review_data(store, "fraud", flagged=True, reason="label drift")
    result = cli("promote", "fraud@v1", "--to", "production")
    assert result.exit_code == 11 and "data_review: data review flag is set" in result.stderr
    registry.review_data(store, "fraud", flagged=False, reason="reviewed")
    ok(cli("promote", "fraud@v1", "--to", "production"))


def test_tampered_artifact_fails_the_artifacts_gate(trained: Repo, cli: Any) -> None:
    ok(cli("register", train(cli)))
    (trained.path / "model.pkl").write_bytes(b"swapped")
    result = cli("promote", "fraud@v1", "--to", "staging")
    assert result.exit_code == 11 and "artifacts: model.pkl mismatch" in result.stderr, result
    (trained.path / "model.pkl").unlink()
    result = cli("promote", "fraud@v1", "--to", "staging")
    assert "artifacts: model.pkl missing" in result.stderr, result


def test_gates_are_configurable(trained: Repo, cli: Any) -> None:
    config = trained.path / ".mlog" / "config.yaml"
    config.write_text(
        config.read_text()
        + "registry:\n  gates:\n    production: [succeeded]\n  approvals: {production: 0}\n"
    )
    trained.commit("gates")
    ok(cli("register", train(cli)))
    result = json.loads(ok(cli("promote", "fraud@v1", "--to", "production", "--json")).stdout)
    assert [g["name"] for g in result["gates"]] == ["succeeded"]
    config.write_text(config.read_text() + "  unknown: 1\n")
    bad = cli("promote", "fraud@v1", "--to", "staging")
    assert bad.exit_code == 8 and "registry" in bad.stderr, bad


def test_model_at_version_is_a_run_reference_and_sets_the_champion(trained: Repo, cli: Any) -> None:
    run_id = train(cli)
    train(cli, 0.7)
    ok(cli("register", run_id))
    shown = json.loads(ok(cli("show", "fraud@v1", "--json")).stdout)
    assert shown["id"] == run_id
    store = Store(trained.path)
    assert champion._production_run(store, "fraud") is None
    ok(cli("promote", "fraud@v1", "--to", "production", "--force", "--reason", "test"))
    assert champion._production_run(store, "fraud") == run_id


def test_who_defaults_to_git_identity(
    trained: Repo, cli: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    run_id = train(cli)
    monkeypatch.delenv("GIT_AUTHOR_EMAIL")
    result = cli("register", run_id)
    assert result.exit_code == 2 and "git config user.email" in result.stderr, result
    trained.git("config", "user.email", "grace@example.com")
    ok(cli("register", run_id))
    assert yaml.safe_load(event_files(trained)[-1].read_text())["by"] == "grace@example.com"


def test_merged_branches_with_two_production_versions_conflict(trained: Repo, cli: Any) -> None:
    ok(cli("register", train(cli, 0.90)))
    ok(cli("register", train(cli, 0.95)))
    for version in ("v1", "v2"):
        ok(cli("approve", f"fraud@{version}", env=RISK))
    trained.commit("registered")
    trained.git("checkout", "-q", "-b", "other")
    ok(cli("promote", "fraud@v2", "--to", "production"))
    trained.commit("v2 to production")
    trained.git("checkout", "-q", "main")
    ok(cli("promote", "fraud@v1", "--to", "production", "--force", "--reason", "v1 weights"))
    trained.commit("v1 to production")
    trained.git("merge", "-q", "--no-edit", "other")
    result = cli("registry", "ls", "--json")
    assert result.exit_code == 11, result
    state = json.loads(result.stdout)[0]
    assert sorted(state["production"]) == ["v1", "v2"] and state["champion"] is None
    assert "2 production versions" in result.stderr
    assert any("2 production versions" in p for p in registry.problems(Store(trained.path)))
    refused = cli("deployable", "fraud")
    assert refused.exit_code == 11 and "2 production versions" in refused.stderr, refused
    ok(cli("promote", "fraud@v2", "--to", "production", "--reason", "resolve merge"))
    state = json.loads(ok(cli("registry", "ls", "--json")).stdout)[0]
    assert state["production"] == ["v2"]
    assert "2 production versions" not in " ".join(registry.problems(Store(trained.path)))


def test_registry_ls_text_and_empty(trained: Repo, cli: Any) -> None:
    empty = ok(cli("registry", "ls"))
    assert "no models registered yet" in empty.stderr
    assert json.loads(ok(cli("registry", "ls", "--json")).stdout) == []
    ok(cli("register", train(cli)))
    text = ok(cli("registry", "ls")).stdout
    assert "fraud@v1" in text and "registered" in text


def test_events_validate_against_the_schema(trained: Repo, cli: Any) -> None:
    ok(cli("register", train(cli)))
    ok(cli("approve", "fraud@v1", env=RISK))
    loaded = events.load_events(Store(trained.path), "fraud")
    assert [e["kind"] for e in loaded] == ["register", "approve"]
    assert loaded[1]["prev"] == loaded[0]["integrity"]["hash"]
