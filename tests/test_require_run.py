"""`mlog.require_run()`: a training script refuses to run untracked, unless told explicitly."""

from __future__ import annotations

import os
import subprocess
import sys
from typing import TYPE_CHECKING, Any

import pytest

import mlog
from mlog import NotTrackedError

if TYPE_CHECKING:
    from tests.conftest import Repo

PYTHON = sys.executable
GUARDED = "import mlog\nmlog.require_run()\nprint('training')\n"


def run_script(repo: Repo, **env: str) -> subprocess.CompletedProcess[str]:
    environment = {k: v for k, v in os.environ.items() if not k.startswith("MLOG_")}
    return subprocess.run(
        [PYTHON, "guarded.py"], cwd=repo.path, capture_output=True, text=True,
        env={**environment, **env}, timeout=120,
    )  # fmt: skip


@pytest.fixture
def guarded(repo: Repo) -> Repo:
    repo.gen({"guarded.py": GUARDED})
    repo.commit("guarded training script")
    return repo


def test_script_started_outside_mlog_refuses_to_train(guarded: Repo) -> None:
    done = run_script(guarded)
    assert done.returncode == 1, done
    assert "mlog.NotTrackedError: this training script must run under `mlog run -- ...`" in (
        done.stderr
    ), done
    assert "MLOG_ALLOW_UNTRACKED=1" in done.stderr and "training" not in done.stdout, done


def test_explicit_opt_out_lets_it_run(guarded: Repo) -> None:
    done = run_script(guarded, MLOG_ALLOW_UNTRACKED="1")
    assert done.returncode == 0 and done.stdout == "training\n", done


@pytest.mark.parametrize("value", ["0", "", "yes", "true"])
def test_only_the_value_1_opts_out(guarded: Repo, value: str) -> None:
    done = run_script(guarded, MLOG_ALLOW_UNTRACKED=value)
    assert done.returncode == 1 and "NotTrackedError" in done.stderr, done


def test_under_mlog_run_the_script_trains_and_is_recorded(guarded: Repo, cli: Any) -> None:
    result = cli("run", "--", PYTHON, "guarded.py")
    assert result.exit_code == 0, result
    assert "succeeded" in result.stderr, result
    assert len(guarded.run_ids()) == 1


def test_inside_start_run_it_passes_and_outside_it_raises_again(
    guarded: Repo, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("MLOG_ALLOW_UNTRACKED", raising=False)
    with pytest.raises(NotTrackedError, match=r"must run under `mlog run -- \.\.\.`"):
        mlog.require_run()
    with mlog.start_run(note="guarded") as run:
        mlog.require_run()
    assert run.record["status"] == "succeeded" and run.record["note"] == "guarded"
    with pytest.raises(NotTrackedError):
        mlog.require_run()
