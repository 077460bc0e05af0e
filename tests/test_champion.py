"""`mlog champion`: set, show, the `champion` reference, and the bad inputs around them."""

from __future__ import annotations

import json
import shutil
from typing import Any

import yaml

from tests.conftest import PYTHON, Repo

TRAIN = "import json, sys\njson.dump({'auc': float(sys.argv[1])}, open('metrics.json', 'w'))\n"


def _setup(repo: Repo, cli: Any, *aucs: str) -> None:
    repo.gen({"train.py": TRAIN, ".gitignore": "metrics.json\n"})
    repo.commit("training script")
    for auc in aucs:
        result = cli("run", "-m", "metrics.json", "--", PYTHON, "train.py", auc)
        assert result.exit_code == 0, result


def _events(repo: Repo, model: str = "default") -> list[dict[str, Any]]:
    folder = repo.path / ".mlog" / "registry" / model
    return [yaml.safe_load(p.read_text()) for p in sorted(folder.glob("*.yaml"))]


def test_set_then_show_the_champion(repo: Repo, cli: Any) -> None:
    _setup(repo, cli, "0.9")
    empty = cli("champion")
    assert empty.exit_code == 0, empty
    assert "model default has no champion yet" in empty.stderr, empty
    done = cli("champion", "v1", "--reason", "best on March data")
    assert done.exit_code == 0, done
    assert "v1" in done.stderr and "is now the champion of default" in done.stderr, done
    (event,) = _events(repo)
    assert event["kind"] == "champion" and event["by"] == "ada@example.com"
    assert event["reason"] == "best on March data" and event["run"] == repo.run_ids()[0]
    shown = cli("champion", "--json")
    assert shown.exit_code == 0, shown
    data = json.loads(shown.stdout)
    assert data["champion"]["alias"] == "v1" and data["champion"]["source"] == "champion"
    assert data["champion"]["set_by"] == "ada@example.com" and data["missing"] is False
    text = cli("champion")
    assert "v1" in text.stdout and "best on March data" in text.stdout, text


def test_setting_the_same_champion_twice_writes_one_event(repo: Repo, cli: Any) -> None:
    _setup(repo, cli, "0.9")
    assert cli("champion", "v1").exit_code == 0
    again = cli("champion", "v1", "--json")
    assert again.exit_code == 0, again
    assert json.loads(again.stdout)["changed"] is False
    assert len(_events(repo)) == 1


def test_latest_champion_event_wins_and_champion_ref_resolves(repo: Repo, cli: Any) -> None:
    _setup(repo, cli, "0.9", "0.8", "0.95")
    assert cli("champion", "v1").exit_code == 0
    assert cli("champion", "v3", env={"GIT_AUTHOR_EMAIL": "lead@example.com"}).exit_code == 0
    shown = cli("show", "champion", "--json")
    assert shown.exit_code == 0, shown
    assert json.loads(shown.stdout)["alias"] == "v3"
    by_model = cli("show", "champion:default", "--json")
    assert json.loads(by_model.stdout)["alias"] == "v3", by_model
    diff = cli("diff")  # newest (v3) is the champion itself: compared with the run before it
    assert "diff v2 → v3 (A: previous run)" in diff.stdout, diff


def test_a_failed_run_needs_force(repo: Repo, cli: Any) -> None:
    _setup(repo, cli)
    failed = cli("run", "--", PYTHON, "-c", "raise SystemExit(3)")
    assert failed.exit_code == 3, failed
    refused = cli("champion", "v1")
    assert refused.exit_code == 11, refused
    assert "error: run v1 failed: only a succeeded run can be champion" in refused.stderr, refused
    forced = cli("champion", "v1", "--force")
    assert forced.exit_code == 0, forced


def test_champion_for_another_model_warns(repo: Repo, cli: Any) -> None:
    _setup(repo, cli, "0.9")
    result = cli("champion", "v1", "--model", "fraud")
    assert result.exit_code == 0, result
    assert "warning: run v1 was recorded for model default, not fraud" in result.stderr, result
    assert len(_events(repo, "fraud")) == 1


def test_bad_input_gets_one_line_errors(repo: Repo, cli: Any) -> None:
    _setup(repo, cli, "0.9")
    unknown = cli("champion", "v7")
    assert unknown.exit_code == 6 and "error: unknown run v7" in unknown.stderr, unknown
    bad_model = cli("champion", "v1", "--model", "no/slash")
    assert bad_model.exit_code == 2 and "error: invalid model name" in bad_model.stderr, bad_model
    no_champion = cli("show", "champion")
    assert no_champion.exit_code == 6, no_champion
    assert "error: model default has no champion yet" in no_champion.stderr, no_champion


def test_a_deleted_champion_record_is_reported_clearly(repo: Repo, cli: Any) -> None:
    _setup(repo, cli, "0.9", "0.8")
    assert cli("champion", "v1").exit_code == 0
    shutil.rmtree(repo.run_dir(repo.run_ids()[0]))
    shown = cli("champion", "--json")
    assert shown.exit_code == 0 and json.loads(shown.stdout)["missing"] is True, shown
    text = cli("champion")
    assert "warning: the champion's record" in text.stderr, text
    diff = cli("diff")
    assert diff.exit_code == 6, diff
    assert "but its record is missing from .mlog/runs" in diff.stderr, diff
    assert "Traceback" not in diff.stderr
    run = cli("run", "-m", "metrics.json", "--", PYTHON, "train.py", "0.7")
    assert run.exit_code == 0, run
    assert "warning: validation skipped: the champion of model default" in run.stderr, run
