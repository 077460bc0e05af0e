"""Governance you can prove: who acts, what events point at, and one gate rule for all.

Merge cases use two real clones of a bare remote, the way a team shares a registry.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from mlog.registry import events
from mlog.storage.store import Store
from tests.conftest import Repo, git

PYTHON = sys.executable
BOB = {"GIT_AUTHOR_EMAIL": "bob@example.com"}
CAROL = {"GIT_AUTHOR_EMAIL": "carol@example.com"}
GATES = "schema_version: 1\nregistry:\n  gates:\n    staging: [succeeded]\n    production: [succeeded, not_dirty, data_review, approvals]\n"


def ok(result: Any) -> Any:
    assert result.exit_code == 0, result
    return result


def new_run(cli: Any, repo_path: Path, note: str) -> str:
    """One real `mlog run` of model m, committed; returns its id."""
    ok(cli("run", "--model", "m", "--note", note, "--", PYTHON, "-c", "pass"))
    run_id = json.loads(ok(cli("show", "latest", "--json")).stdout)["id"]
    git(repo_path, "add", "-A")
    git(repo_path, "commit", "-q", "-m", f"run {note}")
    return str(run_id)


def commit(path: Path, message: str) -> None:
    git(path, "add", "-A")
    git(path, "commit", "-q", "--allow-empty", "-m", message)


# -- 1. identity ---------------------------------------------------------------------


def test_by_must_name_you_and_the_registrant_cannot_approve(repo: Repo, cli: Any) -> None:
    new_run(cli, repo.path, "x")
    ok(cli("register", "latest", "--model", "m", "--by", "ADA@example.com"))  # you, any case
    forged = cli("approve", "m@v1", "--by", "notanemail")
    assert forged.exit_code == 2, forged
    assert "--by notanemail is not you: git says you are ada@example.com" in forged.stderr
    own = cli("approve", "m@v1", env={"GIT_AUTHOR_EMAIL": "ADA@example.com"})
    assert own.exit_code == 11 and "registrant's own approval does not count" in own.stderr, own
    ok(cli("approve", "m@v1", env=BOB))
    again = cli("approve", "m@v1", env={"GIT_AUTHOR_EMAIL": "Bob@Example.COM"})
    assert again.exit_code == 11 and "already approved" in again.stderr, again
    assert len(events.event_files(Store(repo.path), "m")) == 2  # refusals wrote nothing


def test_forged_approvals_do_not_count_toward_the_gate(repo: Repo, cli: Any) -> None:
    """Events an older mlog (or a hand) wrote: self-approval and case variants count once."""
    repo.gen({".mlog/config.yaml": GATES + "  approvals: {production: 2}\n"})
    commit(repo.path, "two approvals for production")
    new_run(cli, repo.path, "x")
    ok(cli("register", "latest", "--model", "m"))
    store = Store(repo.path)
    for person in ("ada@example.com", "bob@example.com", "BOB@example.com"):
        events.append_event(store, "m", "approve", by=person, version="v1")
    refused = cli("promote", "m@v1", "--to", "production")
    assert refused.exit_code == 11, refused
    assert "approvals: 1 of 2 required approval(s) (bob@example.com)" in refused.stderr
    assert "own approval (ada@example.com) does not count" in refused.stderr
    ls = json.loads(ok(cli("registry", "ls", "--json")).stdout)[0]
    assert ls["versions"][0]["approvals"] == ["ada@example.com", "bob@example.com"]
    repo.gen({".mlog/config.yaml": GATES + "  approvals: {production: 2, allow_self: true}\n"})
    ok(cli("promote", "m@v1", "--to", "production"))


def test_identity_is_what_git_would_commit_as(
    repo: Repo, cli: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    new_run(cli, repo.path, "x")
    monkeypatch.delenv("GIT_AUTHOR_EMAIL")
    nobody = cli("register", "latest", "--model", "m")
    assert nobody.exit_code == 2 and "git config user.email" in nobody.stderr, nobody
    env = {"GIT_CONFIG_COUNT": "1", "GIT_CONFIG_KEY_0": "user.email"}
    ok(cli("register", "latest", "--model", "m", env={**env, "GIT_CONFIG_VALUE_0": "c@x.org"}))
    [path] = events.event_files(Store(repo.path), "m")
    assert events.load_event(path)["by"] == "c@x.org"


# -- 3. versions that cannot collide silently -------------------------------------------


@pytest.fixture
def clones(tmp_path: Path, repo: Repo, monkeypatch: pytest.MonkeyPatch) -> tuple[Path, Path]:
    """Two clones of a bare remote made from ``repo``, both with mlog initialised."""
    bare = tmp_path / "remote.git"
    subprocess.run(["git", "clone", "-q", "--bare", str(repo.path), str(bare)], check=True)
    paths = (tmp_path / "c1", tmp_path / "c2")
    for path in paths:
        subprocess.run(["git", "clone", "-q", str(bare), str(path)], check=True)
    return paths


def in_clone(monkeypatch: pytest.MonkeyPatch, path: Path) -> Path:
    monkeypatch.chdir(path)
    return path


def sync(path: Path) -> None:
    git(path, "pull", "-q", "--no-rebase", "--no-edit")
    git(path, "push", "-q")


def test_a_label_made_on_two_clones_is_a_conflict_not_a_moved_approval(
    clones: tuple[Path, Path], cli: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    c1, c2 = clones
    in_clone(monkeypatch, c2)
    run_y = new_run(cli, c2, "y")
    ok(cli("register", run_y, "--model", "m", "--version", "rc1"))
    commit(c2, "register y as rc1")
    sync(c2)
    in_clone(monkeypatch, c1)
    run_x = new_run(cli, c1, "x")
    ok(cli("register", run_x, "--model", "m", "--version", "rc1"))
    ok(cli("approve", "m@rc1", env=BOB))
    ok(cli("approve", "m@rc1", env=CAROL))
    commit(c1, "register x as rc1, approved")
    sync(c1)

    listing = cli("registry", "ls", "--json")
    assert listing.exit_code == 11 and "m@rc1 names 2 registrations" in listing.stderr, listing
    state = json.loads(listing.stdout)[0]
    assert state["ambiguous"] == ["rc1"] and len(state["versions"]) == 2
    approved = {v["run"]: v["approvals"] for v in state["versions"]}
    assert approved == {run_x: ["bob@example.com", "carol@example.com"], run_y: []}
    checked = cli("check", "--json")
    assert checked.exit_code == 1, checked
    [finding] = [f for f in json.loads(checked.stdout)["findings"] if f["check"] == "registry"]
    assert run_x in finding["message"] and run_y in finding["message"]
    for args in (("promote", "m@rc1", "--to", "production"), ("approve", "m@rc1")):
        refused = cli(*args, env=BOB if args[0] == "approve" else None)
        assert refused.exit_code == 11 and "names 2 registrations" in refused.stderr, refused
    shown = cli("show", "m@rc1")
    assert shown.exit_code == 11 and "names 2 registrations" in shown.stderr, shown
    unknown = cli("promote", "m@rc1#ffffffff", "--to", "archived")
    assert unknown.exit_code == 6 and "unknown version m@rc1#ffffffff" in unknown.stderr, unknown
    picked = cli("promote", f"m@rc1#{run_x[-8:]}", "--to", "production")
    assert picked.exit_code == 11 and "only archiving" in picked.stderr, picked

    ok(cli("promote", f"m@rc1#{run_y}", "--to", "archived", "--reason", "merge clash"))
    ok(cli("register", run_y, "--model", "m", "--version", "rc2"))
    state = json.loads(ok(cli("registry", "ls", "--json")).stdout)[0]
    assert state["ambiguous"] == [] and state["conflicts"] == []
    rows = {(v["version"], v["run"]): v for v in state["versions"]}
    assert rows[("rc1", run_x)]["approvals"] == ["bob@example.com", "carol@example.com"]
    assert rows[("rc2", run_y)]["approvals"] == []
    assert json.loads(ok(cli("show", "m@rc1", "--json")).stdout)["id"] == run_x


def test_automatic_labels_on_two_branches_keep_both_registrations(
    clones: tuple[Path, Path], cli: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    c1, c2 = clones
    made = {}
    for path in (c2, c1):
        in_clone(monkeypatch, path)
        made[path] = new_run(cli, path, path.name)
        assert json.loads(ok(cli("register", "latest", "--json")).stdout)["version"] == "v1"
        commit(path, "register")
    sync(c2)
    sync(c1)
    result = cli("registry", "ls", "--json")
    assert result.exit_code == 11, result
    assert "first registration is kept" not in result.stderr, result
    rows = json.loads(result.stdout)[0]["versions"]
    assert sorted(v["run"] for v in rows) == sorted(made.values())
    assert all(v["version"] == "v1" and v["ambiguous"] for v in rows)
    nxt = json.loads(ok(cli("register", new_run(cli, c1, "z"), "--json")).stdout)
    assert nxt["version"] == "v2"


def test_production_does_not_disappear_after_a_merge(repo: Repo, cli: Any) -> None:
    repo.gen({".mlog/config.yaml": GATES + "  approvals: {production: 0}\n"})
    commit(repo.path, "gates")
    base = repo.git("rev-parse", "HEAD")
    run_a = new_run(cli, repo.path, "a")
    ok(cli("register", run_a, "--model", "m", "--version", "v2"))
    ok(cli("promote", "m@v2", "--to", "production"))
    commit(repo.path, "a in production")
    repo.git("checkout", "-q", "-b", "b", base)
    run_b = new_run(cli, repo.path, "b")
    ok(cli("register", run_b, "--model", "m", "--version", "v2"))
    ok(cli("promote", "m@v2", "--to", "staging"))
    commit(repo.path, "b in staging")
    repo.git("merge", "-q", "--no-edit", "main")

    for stage in ("production", "staging"):
        refused = cli("deployable", "m", "--stage", stage)
        assert refused.exit_code == 11, refused
        assert "m@v2 names 2 registrations" in refused.stderr and run_a in refused.stderr
    checked = cli("check")
    assert checked.exit_code == 1 and "names 2 registrations" in checked.stdout, checked
    ok(cli("promote", f"m@v2#{run_b}", "--to", "archived", "--reason", "merge clash"))
    found = json.loads(ok(cli("deployable", "m", "--json")).stdout)
    assert found["run"] == run_a and found["version"] == "v2"


# -- 4. one rule: check and promote agree ----------------------------------------------


def test_check_and_promote_apply_the_same_gate_rule(repo: Repo, cli: Any) -> None:
    """One repository, both ways: a production version whose gates fail is what promote
    refuses and what check reports, gate by gate; once the gates pass, both pass."""
    repo.gen({".mlog/config.yaml": GATES})
    commit(repo.path, "gates")
    new_run(cli, repo.path, "x")
    ok(cli("register", "latest", "--model", "m"))
    ok(cli("promote", "m@v1", "--to", "staging"))
    store = Store(repo.path)
    events.append_event(store, "m", "approve", by="ada@example.com", version="v1")
    commit(repo.path, "staged, self-approved")
    staged = repo.git("rev-parse", "HEAD")

    refused = cli("promote", "m@v1", "--to", "production", "--json")
    assert refused.exit_code == 11, refused
    gates = json.loads(refused.stdout)["gates"]
    refused_gates = {g["name"]: g["detail"] for g in gates if not g["passed"]}
    assert list(refused_gates) == ["approvals"], gates
    # the same promotion, as a merge from another clone (or an older mlog) would bring it
    version = events.load_events(store, "m")[0]
    events.append_event(
        store, "m", "promote", by="ada@example.com", version="v1", target=version["id"],
        run=version["run"], stage="production",
    )  # fmt: skip
    commit(repo.path, "production without the gates")
    checked = cli("check", "--json")
    assert checked.exit_code == 1, checked
    [gate] = [f for f in json.loads(checked.stdout)["findings"] if f["check"] == "gate"]
    assert f"approvals: {refused_gates['approvals']}" in gate["message"], gate

    repo.git("checkout", "-q", "-b", "approved", staged)
    ok(cli("approve", "m@v1", env=BOB))
    ok(cli("promote", "m@v1", "--to", "production"))
    commit(repo.path, "approved and promoted")
    ok(cli("check"))
