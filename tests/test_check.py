"""`mlog check`: integrity, history, reachability, aliases, registry and --full, on real repos."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from mlog.audit.checks import Finding
from mlog.cli.check import github_annotation
from mlog.registry import events
from mlog.storage import records, yamlio
from mlog.storage.store import Store

if TYPE_CHECKING:
    from tests.conftest import Repo

PYTHON = sys.executable

TRAIN = "open('model.pt', 'wb').write(b'weights-v1')\n"


def make_run(repo: Repo, cli: Any, *options: str, commit: bool = True) -> str:
    """One real `mlog run`, its record committed; returns the run id."""
    before = set(repo.run_ids())
    result = cli("run", *options, "--", PYTHON, "train.py")
    assert result.exit_code == 0, result
    (run_id,) = set(repo.run_ids()) - before
    if commit:
        repo.commit(f"record {run_id}")
    return run_id


def record_path(repo: Repo, run_id: str) -> Path:
    return repo.run_dir(run_id) / "record.yaml"


def check(cli: Any, *args: str) -> tuple[Any, dict[str, Any]]:
    result = cli("check", "--json", *args)
    return result, json.loads(result.stdout)


def by_check(report: dict[str, Any], name: str) -> list[dict[str, Any]]:
    return [f for f in report["findings"] if f["check"] == name]


@pytest.fixture
def two_runs(repo: Repo, cli: Any) -> list[str]:
    repo.gen({"train.py": TRAIN, ".gitignore": "model.pt\n"})
    repo.commit("train writes a model")
    return [make_run(repo, cli, "-a", "model.pt"), make_run(repo, cli, "-a", "model.pt")]


def test_honest_repository_passes(repo: Repo, cli: Any, two_runs: list[str]) -> None:
    human = cli("check")
    assert human.exit_code == 0, human
    assert "mlog check passed (2 records, 0 events)" in human.stderr, human
    result, report = check(cli)
    assert result.exit_code == 0, result
    assert report == {
        "ok": True,
        "checked": {"records": 2, "events": 0},
        "errors": 0,
        "warnings": 0,
        "findings": [],
    }


def test_edited_record_fails_integrity_and_history(
    repo: Repo, cli: Any, two_runs: list[str]
) -> None:
    path = record_path(repo, two_runs[0])
    path.write_text(path.read_text().replace("exit_code: 0", "exit_code: 1"))
    result, report = check(cli)
    assert result.exit_code == 1, result
    assert [f["run"] for f in by_check(report, "integrity")] == [two_runs[0]]
    (history,) = by_check(report, "history")
    assert "modified in the working tree" in history["message"], history
    repo.commit("quietly fix the record")
    human = cli("check")
    assert human.exit_code == 1, human
    assert "modified in commit" in human.stdout, human
    assert f"error: mlog check found 2 problem(s) in: {two_runs[0]}" in human.stderr, human


def test_a_committed_verification_cache_is_never_trusted(
    repo: Repo, cli: Any, two_runs: list[str]
) -> None:
    """check-verified.json is per clone. One committed (`git add -f`) could vouch for an edited
    record: its key is only a hash of the bytes. It is ignored and reported."""
    import xxhash

    from mlog.audit import checks

    assert cli("check").exit_code == 0
    path = record_path(repo, two_runs[0])
    path.write_text(path.read_text().replace("exit_code: 0", "exit_code: 1"))
    cache = repo.path / ".mlog" / "cache" / "check-verified.json"
    document = json.loads(cache.read_text())
    forged_key = xxhash.xxh3_128(path.read_bytes()).hexdigest()
    assert forged_key == checks._content_key(Store(repo.path), two_runs[0])
    document["records"][forged_key] = next(iter(document["records"].values()))
    cache.write_text(json.dumps(document))
    repo.git("add", "-f", str(cache))
    repo.commit("an edited record, and a cache that vouches for it")
    result, report = check(cli)
    assert result.exit_code == 1, result
    assert [f["run"] for f in by_check(report, "integrity")] == [two_runs[0]]
    (cached,) = by_check(report, "cache")
    assert cached["path"] == ".mlog/cache/check-verified.json", cached


def test_forged_integrity_hash_is_caught_by_history(
    repo: Repo, cli: Any, two_runs: list[str]
) -> None:
    path = record_path(repo, two_runs[0])
    forged = yamlio.loads(path.read_text())
    forged["metrics"] = {"auc": 0.99}
    path.write_text(yamlio.dumps(records.seal(forged)))
    repo.commit("better numbers")
    result, report = check(cli)
    assert result.exit_code == 1, result
    assert by_check(report, "integrity") == [], report
    (history,) = by_check(report, "history")
    assert history["run"] == two_runs[0] and history["severity"] == "error"
    assert re.search(r"modified in commit [0-9a-f]{12} after it was added", history["message"])


def test_deleted_record_is_reported(repo: Repo, cli: Any, two_runs: list[str]) -> None:
    repo.git("rm", "-q", "-r", f"{repo.rel_run(two_runs[1])}")
    repo.commit("drop a bad run")
    result, report = check(cli)
    assert result.exit_code == 1, result
    (history,) = by_check(report, "history")
    assert history["path"] == f"{repo.rel_run(two_runs[1])}/record.yaml"
    assert history["run"] == two_runs[1] and "deleted in commit" in history["message"]
    assert report["checked"]["records"] == 1


def register_and_promote(
    repo: Repo, run_id: str, version: str, *, forced: bool = False, reason: str | None = None
) -> None:
    store = Store(repo.path)
    record = store.load_record(run_id)
    run_hash = record["integrity"]["hash"]
    events.append_event(
        store, "churn", "register", by="ada", version=version, run=run_id, run_hash=run_hash
    )
    extra: dict[str, Any] = {"forced": True} if forced else {}
    events.append_event(
        store, "churn", "promote", by="ada", version=version, stage="production",
        reason=reason, **extra,
    )  # fmt: skip


def test_gate_violation_for_a_dirty_run_in_production(repo: Repo, cli: Any) -> None:
    repo.gen({"notes.txt": "uncommitted\n"})
    run_id = make_run(repo, cli, "--allow-dirty", commit=False)
    register_and_promote(repo, run_id, "1")
    repo.commit("promote")
    result, report = check(cli)
    assert result.exit_code == 1, result
    (gate,) = by_check(report, "gate")
    assert gate["run"] == run_id
    assert "churn@1 is in production but" in gate["message"]
    assert "not_dirty: run was recorded from a dirty working tree" in gate["message"]


def test_forced_promotion_with_a_reason_passes_the_gate(repo: Repo, cli: Any) -> None:
    repo.gen({"notes.txt": "uncommitted\n"})
    run_id = make_run(repo, cli, "--allow-dirty", commit=False)
    register_and_promote(repo, run_id, "1", forced=True, reason="hotfix approved by risk")
    repo.commit("promote")
    result, report = check(cli)
    assert result.exit_code == 0, result
    assert report["checked"]["events"] == 2


def test_edited_and_deleted_events_are_reported(repo: Repo, cli: Any) -> None:
    run_id = make_run(repo, cli)
    register_and_promote(repo, run_id, "1")
    store = Store(repo.path)
    register_path, promote_path = events.event_files(store, "churn")
    events.append_event(store, "churn", "approve", by="ada", version="1")
    repo.commit("registry")
    promote_path.write_text(promote_path.read_text().replace("by: ada", "by: mallory"))
    register_path.unlink()
    result, report = check(cli)
    assert result.exit_code == 1, result
    assert {f["path"] for f in by_check(report, "integrity")} == {
        promote_path.relative_to(repo.path).as_posix()
    }
    messages = [f["message"] for f in by_check(report, "history")]
    assert any("deleted in the working tree" in m for m in messages), report
    assert any("modified in the working tree" in m for m in messages), report


def test_event_chain_with_a_missing_link_is_reported(repo: Repo, cli: Any) -> None:
    run_id = make_run(repo, cli)
    register_and_promote(repo, run_id, "1")
    store = Store(repo.path)
    first = events.event_files(store, "churn")[0]
    repo.commit("registry")
    repo.git("rm", "-q", str(first.relative_to(repo.path)))
    repo.commit("remove register event")
    result, report = check(cli)
    assert result.exit_code == 1, result
    chain = by_check(report, "registry")
    assert any("event chain broken" in f["message"] for f in chain), chain


def test_production_promotions_on_diverging_branches_conflict(repo: Repo, cli: Any) -> None:
    first, second = make_run(repo, cli), make_run(repo, cli)
    store = Store(repo.path)
    for version, run_id in (("1", first), ("2", second)):
        events.append_event(store, "churn", "register", by="ada", version=version, run=run_id)
    repo.commit("register both")
    repo.git("checkout", "-q", "-b", "other")
    forced = {"forced": True, "reason": "test"}
    events.append_event(
        store, "churn", "promote", by="bob", version="1", stage="production", **forced
    )
    repo.commit("promote 1")
    repo.git("checkout", "-q", "main")
    events.append_event(
        store, "churn", "promote", by="ada", version="2", stage="production", **forced
    )
    repo.commit("promote 2")
    assert cli("check").exit_code == 0
    repo.git("merge", "-q", "--no-edit", "other")
    result, report = check(cli)
    assert result.exit_code == 1, result
    (conflict,) = by_check(report, "registry")
    assert "churn has 2 production versions after a merge (1, 2)" in conflict["message"]


def test_alias_collision_warns_and_strict_fails(repo: Repo, cli: Any) -> None:
    base = repo.git("rev-parse", "HEAD")
    make_run(repo, cli)
    repo.git("checkout", "-q", "-b", "other", base)
    make_run(repo, cli)
    repo.git("merge", "-q", "--no-edit", "main")
    result, report = check(cli)
    assert result.exit_code == 0, result
    (alias,) = by_check(report, "alias")
    assert alias["severity"] == "warning" and alias["message"].startswith("alias v1 names 2 runs")
    strict = cli("check", "--strict")
    assert strict.exit_code == 1, strict
    assert "alias v1 names 2 runs" in strict.stdout and "error: mlog check found" in strict.stderr


def test_rebased_history_with_identical_tree_is_a_warning(repo: Repo, cli: Any) -> None:
    code_commit = repo.git("rev-parse", "HEAD")
    run_id = make_run(repo, cli)
    rewritten = repo.git("commit-tree", f"{code_commit}^{{tree}}", "-m", "rewritten")
    top = repo.git("commit-tree", "HEAD^{tree}", "-p", rewritten, "-m", "record")
    repo.git("reset", "-q", "--hard", top)
    result, report = check(cli)
    assert result.exit_code == 0, result
    (finding,) = by_check(report, "commit")
    assert finding["run"] == run_id and finding["severity"] == "warning"
    assert f"commit unreachable: {code_commit[:12]}" in finding["message"]
    assert f"tree identical: the same code is commit {rewritten[:12]}" in finding["message"]


def test_rebased_history_with_other_code_is_an_error(repo: Repo, cli: Any) -> None:
    code_commit = repo.git("rev-parse", "HEAD")
    run_id = make_run(repo, cli)
    repo.git("checkout", "-q", "--orphan", "rewritten")
    repo.gen({"train.py": "print('rewritten')\n"})
    repo.commit("force-pushed history")
    repo.git("branch", "-q", "-D", "main")
    result, report = check(cli)
    assert result.exit_code == 1, result
    (finding,) = by_check(report, "commit")
    assert finding["run"] == run_id and finding["severity"] == "error"
    assert f"commit unreachable: {code_commit[:12]} is on no branch or tag" in finding["message"]


def test_shallow_clone_is_unverifiable_not_tampered(
    repo: Repo, cli: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    run_id = make_run(repo, cli)
    clone = tmp_path / "shallow"
    subprocess.run(
        ["git", "clone", "-q", "--depth", "1", f"file://{repo.path}", str(clone)], check=True
    )
    monkeypatch.chdir(clone)
    result, report = check(cli)
    assert result.exit_code == 0, result
    (finding,) = by_check(report, "commit")
    assert finding["run"] == run_id and finding["severity"] == "warning"
    assert finding["message"].startswith("unverifiable: commit")


def test_github_format_annotates_each_failing_record(
    repo: Repo, cli: Any, two_runs: list[str]
) -> None:
    path = record_path(repo, two_runs[1])
    path.write_text(path.read_text().replace("status: succeeded", "status: failed"))
    result = cli("check", "--format", "github")
    assert result.exit_code == 1, result
    lines = result.stdout.splitlines()
    shown = f"{repo.rel_run(two_runs[1])}/record.yaml"
    assert (
        f"::error file={shown},title=mlog integrity::integrity hash does not match the content "
        "(the record was edited)"
    ) in lines, result
    assert all(line.startswith(("::error ", "::warning ")) for line in lines), result


def test_github_annotation_escapes_data_and_properties() -> None:
    finding = Finding("schema", "a,b:c.yaml", "100% broken\nsecond line", "warning")
    assert github_annotation(finding) == (
        "::warning file=a%2Cb%3Ac.yaml,title=mlog schema::100%25 broken%0Asecond line"
    )


def test_full_rehashes_artifacts_and_datasets(repo: Repo, cli: Any) -> None:
    repo.gen({"train.py": TRAIN, ".gitignore": "model.pt\n", "data/train.csv": "a,b\n1,2\n"})
    repo.commit("data and model")
    run_id = make_run(repo, cli, "-a", "model.pt", "-d", "train=data/train.csv")
    result, report = check(cli, "--full")
    assert result.exit_code == 0, result
    assert report["checked"]["rehashed"] == 2
    (repo.path / "model.pt").write_bytes(b"swapped weights")
    result, report = check(cli, "--full")
    assert result.exit_code == 1, result
    (finding,) = by_check(report, "artifact")
    assert finding["run"] == run_id
    assert "artifact model.pt: content on disk matches no recorded hash" in finding["message"]
    (repo.path / "model.pt").unlink()
    result, report = check(cli, "--full")
    assert result.exit_code == 0 and report["checked"]["rehashed"] == 1, result


def test_check_outside_a_repository_fails_clearly(
    cli: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    result = cli("check")
    assert result.exit_code == 4, result
    assert result.stderr.startswith("error: not a git repository"), result
    assert result.stdout == "", result


def test_unknown_format_is_a_usage_error(repo: Repo, cli: Any) -> None:
    result = cli("check", "--format", "xml")
    assert result.exit_code == 2, result
    assert "xml" in result.stderr, result
