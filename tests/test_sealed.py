"""Every file of a run is sealed by its record's integrity, and a record that fails it is
marked wherever it is read; registry events must name runs that exist."""

from __future__ import annotations

import hashlib
import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from mlog.storage import yamlio

if TYPE_CHECKING:
    from tests.conftest import Repo

PYTHON = sys.executable
TRAIN = (
    "import mlog\n"
    "open('model.pt', 'wb').write(b'weights')\n"
    "for step in range(3):\n"
    "    mlog.log_metric('loss', 1.0 / (step + 1), step=step)\n"
    "mlog.log_metric('acc', 0.9)\n"
)


def make_run(repo: Repo, cli: Any) -> str:
    before = set(repo.run_ids())
    result = cli("run", "-a", "model.pt", "--", PYTHON, "train.py")
    assert result.exit_code == 0, result
    (run_id,) = set(repo.run_ids()) - before
    return run_id


@pytest.fixture
def sealed(repo: Repo, cli: Any) -> tuple[str, str]:
    """Two committed runs that logged a series: (older, newer)."""
    repo.gen({"train.py": TRAIN, ".gitignore": "model.pt\n"})
    repo.commit("train")
    runs = make_run(repo, cli), make_run(repo, cli)
    repo.commit("runs")
    return runs


def run_dir(repo: Repo, run_id: str) -> Path:
    return repo.run_dir(run_id)


def edit_series(repo: Repo, run_id: str) -> str:
    path = run_dir(repo, run_id) / "series.jsonl"
    path.write_text(path.read_text().replace('"value": 1.0', '"value": 0.01'))
    return f"{repo.rel_run(run_id)}/series.jsonl"


def test_the_record_lists_the_digest_of_every_file_beside_it(
    repo: Repo, sealed: tuple[str, str]
) -> None:
    folder = run_dir(repo, sealed[0])
    record = yamlio.load_file(folder / "record.yaml")
    series = (folder / "series.jsonl").read_bytes()
    assert record["sidecars"] == {"series.jsonl": "sha256:" + hashlib.sha256(series).hexdigest()}
    assert list(record)[-2:] == ["sidecars", "integrity"]


def test_an_edited_sidecar_fails_validate_hook_and_check(
    repo: Repo, cli: Any, sealed: tuple[str, str]
) -> None:
    edited = edit_series(repo, sealed[0])
    record = f"{repo.rel_run(sealed[0])}/record.yaml"
    problem = "integrity: series.jsonl does not match its digest in the record (edited)"
    validate = cli("validate")
    assert validate.exit_code == 9, validate
    assert f"error: {record}: {problem}" in validate.stderr, validate
    hook = cli("hook", "validate", edited)
    assert hook.exit_code == 1 and f"{record}: {problem}" in hook.stderr, hook
    check = cli("check", "--json")
    assert check.exit_code == 1, check
    found = [f for f in json.loads(check.stdout)["findings"] if f["check"] == "integrity"]
    assert [(f["path"], f["message"]) for f in found] == [(record, problem)], check


@pytest.mark.parametrize("change", ["removed", "added"])
def test_a_missing_or_extra_file_in_a_run_fails_validate(
    repo: Repo, cli: Any, sealed: tuple[str, str], change: str
) -> None:
    folder = run_dir(repo, sealed[0])
    if change == "removed":
        (folder / "series.jsonl").unlink()
        problem = "series.jsonl is listed in the record but missing"
    else:
        (folder / "notes.txt").write_text("trust me\n")
        problem = "notes.txt is not covered by the record's integrity hash"
    result = cli("validate")
    assert result.exit_code == 9 and problem in result.stderr, result


def test_show_marks_a_run_whose_sidecar_was_edited(
    repo: Repo, cli: Any, sealed: tuple[str, str]
) -> None:
    edit_series(repo, sealed[0])
    human = cli("show", sealed[0])
    assert human.exit_code == 0, human
    assert human.stdout.startswith("TAMPERED "), human
    warnings = [line for line in human.stderr.splitlines() if line.startswith("warning:")]
    assert len(warnings) == 1 and f"run {sealed[0]} is TAMPERED" in warnings[0], human
    shown = json.loads(cli("show", sealed[0], "--json").stdout)
    assert shown["integrity"]["verified"] is False
    assert shown["integrity"]["problems"] == [
        "integrity: series.jsonl does not match its digest in the record (edited)"
    ]
    honest = cli("show", sealed[1], "--json")
    assert json.loads(honest.stdout)["integrity"]["verified"] is True
    assert honest.stderr == "", honest


def edit_record(repo: Repo, run_id: str) -> None:
    path = run_dir(repo, run_id) / "record.yaml"
    path.write_text(path.read_text().replace("acc: 0.9", "acc: 0.99"))


def test_ls_shows_an_integrity_column_only_for_tampered_runs(
    repo: Repo, cli: Any, sealed: tuple[str, str]
) -> None:
    clean = cli("ls", "-c", "metrics.acc")
    assert "integrity" not in clean.stdout and clean.stderr == "", clean
    edit_record(repo, sealed[0])
    listed = cli("ls", "-c", "metrics.acc")
    assert listed.exit_code == 0, listed
    rows = {line.split()[0]: line for line in listed.stdout.splitlines()[1:] if line.strip()}
    assert "integrity" in listed.stdout.splitlines()[0], listed
    assert "TAMPERED" in rows["v1"] and "TAMPERED" not in rows["v2"], listed
    assert f"run {sealed[0]} is TAMPERED" in listed.stderr, listed
    as_json = {r["alias"]: r["verified"] for r in json.loads(cli("ls", "--json").stdout)}
    assert as_json == {"v1": False, "v2": True}
    edit_series(repo, sealed[1])  # a sidecar edit is seen by the index too
    again = {r["alias"]: r["verified"] for r in json.loads(cli("ls", "--json").stdout)}
    assert again == {"v1": False, "v2": False}


def test_diff_card_and_champion_mark_a_tampered_record(
    repo: Repo, cli: Any, sealed: tuple[str, str]
) -> None:
    assert cli("champion", sealed[0]).exit_code == 0
    edit_record(repo, sealed[0])
    for args in (["diff", sealed[0], sealed[1]], ["card", sealed[0]], ["champion"]):
        result = cli(*args)
        assert result.exit_code == 0, (args, result)
        assert "TAMPERED" in result.stdout, (args, result)
        assert f"warning: run {sealed[0]} is TAMPERED" in result.stderr, (args, result)
    as_json = json.loads(cli("diff", sealed[0], sealed[1], "--json").stdout)
    assert as_json["tampered"] == [sealed[0]]


def test_register_and_promote_refuse_a_tampered_run(
    repo: Repo, cli: Any, sealed: tuple[str, str]
) -> None:
    assert cli("register", sealed[1], "--model", "m").exit_code == 0
    edit_series(repo, sealed[0])
    refused = cli("register", sealed[0], "--model", "m")
    assert refused.exit_code == 9, refused
    assert "series.jsonl does not match its digest" in refused.stderr, refused
    edit_series(repo, sealed[1])
    promote = cli("promote", "m@v1", "--to", "staging")
    assert promote.exit_code == 9 and "series.jsonl" in promote.stderr, promote
    listed = cli("registry", "ls")
    assert "TAMPERED" in listed.stdout, listed
    assert f"warning: run {sealed[1]} is TAMPERED" in listed.stderr, listed


def test_check_fails_when_a_registry_event_names_a_missing_run(
    repo: Repo, cli: Any, sealed: tuple[str, str]
) -> None:
    assert cli("register", sealed[0], "--model", "m").exit_code == 0
    repo.git("rm", "-r", "-q", f"{repo.rel_run(sealed[0])}")
    repo.commit("drop a run")
    first = repo.git("rev-list", "--max-parents=0", "HEAD")
    repo.git("reset", "--soft", first)
    repo.git("commit", "-q", "--amend", "-m", "squashed")
    result = cli("check", "--json")
    assert result.exit_code == 1, result
    found = json.loads(result.stdout)["findings"]
    assert any(
        f["check"] == "registry"
        and f"names run {sealed[0]}, whose record is missing" in f["message"]
        for f in found
    ), result


def test_the_index_reads_a_run_with_sidecars_once(
    repo: Repo, cli: Any, sealed: tuple[str, str]
) -> None:
    from mlog.query import index
    from mlog.storage.store import Store

    store = Store(repo.path)
    with index.opened(store):
        pass
    with index.opened(store) as again:
        assert (again.last_refresh.added, again.last_refresh.total) == (0, 2)
    edit_series(repo, sealed[1])
    with index.opened(store) as edited:
        assert edited.last_refresh.added == 1
