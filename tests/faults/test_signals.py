"""kill -9 of mlog at random moments, and commands that ignore SIGTERM."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import time
from pathlib import Path

import pytest

from tests.conftest import Repo
from tests.faults._support import MLOG, PYTHON, alive, mlog, records, wait_for

pytestmark = pytest.mark.e2e

TRAIN = """
import os, pathlib, time
import mlog
pathlib.Path("child.pid").write_text(str(os.getpid()))
for step in range(5):
    mlog.log_metric("loss", 1.0 / (step + 1), step=step)
    time.sleep(0.1)
pathlib.Path("model.bin").write_bytes(b"weights")
"""


@pytest.fixture
def trainer(repo: Repo) -> Repo:
    repo.gen({"train.py": TRAIN, ".gitignore": "child.pid\nmodel.bin\n"})
    repo.commit("trainer")
    return repo


def test_kill_9_at_random_moments_loses_nothing_and_orphans_no_training(trainer: Repo) -> None:
    """Whenever mlog dies, the training dies with it and the next commands all work."""
    rng = random.Random(12)  # reproducible "random" moments, from before the start to the end
    moments = sorted(rng.uniform(0.0, 1.6) for _ in range(4))
    for moment in moments:
        pid_file = trainer.path / "child.pid"
        pid_file.unlink(missing_ok=True)
        proc = subprocess.Popen(
            [MLOG, "run", "-a", "model.bin", "--", PYTHON, "train.py"],
            cwd=trainer.path,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        time.sleep(moment)
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        if pid_file.exists() and pid_file.read_text():
            child = int(pid_file.read_text())
            wait_for(lambda child=child: not alive(child), 5, f"training {child} to end")
    recovered = mlog(trainer.path, "recover")
    assert recovered.returncode == 0, recovered.stderr
    after = mlog(trainer.path, "run", "--", PYTHON, "-c", "pass")
    assert after.returncode == 0, (moments, after.stderr)
    listed = mlog(trainer.path, "ls", "--json")
    assert listed.returncode == 0, listed.stderr
    assert mlog(trainer.path, "validate").returncode == 0
    runs = trainer.path / ".mlog" / "runs"
    assert not [p.name for p in runs.iterdir() if p.name.startswith(".")], "staging left behind"
    assert not list((trainer.path / ".mlog/cache/pending").glob("*.json"))
    aliases = [r["alias"] for r in records(trainer)]
    assert len(aliases) == len(set(aliases))
    assert records(trainer)[-1]["status"] == "succeeded"


def test_kill_9_of_mlog_ends_the_training_at_once(trainer: Repo) -> None:
    trainer.gen(
        {
            "slow.py": "import os, pathlib, time\n"
            "pathlib.Path('child.pid').write_text(str(os.getpid()))\ntime.sleep(60)\n"
        }
    )
    trainer.commit("slow")
    proc = subprocess.Popen(
        [MLOG, "run", "--", PYTHON, "slow.py"],
        cwd=trainer.path,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    pid_file = trainer.path / "child.pid"
    wait_for(lambda: pid_file.exists() and pid_file.read_text(), 20, "the training to start")
    child = int(pid_file.read_text())
    proc.kill()
    proc.wait()
    wait_for(lambda: not alive(child), 5, "the orphaned training to be killed")
    recovered = mlog(trainer.path, "recover")
    assert recovered.returncode == 0, recovered.stderr
    [record] = records(trainer)
    assert record["status"] == "interrupted"


IGNORES_TERM = """
import pathlib, signal, time
signal.signal(signal.SIGTERM, signal.SIG_IGN)
pathlib.Path("child.pid").write_text("started")
time.sleep(60)
"""


def test_sigterm_to_a_command_that_ignores_it_escalates_after_the_grace_period(
    trainer: Repo,
) -> None:
    config = trainer.path / ".mlog" / "config.yaml"
    config.write_text(config.read_text() + "stop_grace_s: 0.5\n")
    trainer.gen({"stubborn.py": IGNORES_TERM})
    trainer.commit("stubborn")
    proc = subprocess.Popen(
        [MLOG, "run", "--", PYTHON, "stubborn.py"],
        cwd=trainer.path,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    wait_for(lambda: (trainer.path / "child.pid").exists(), 20, "the command to start")
    proc.send_signal(signal.SIGTERM)
    _, stderr = proc.communicate(timeout=30)
    [record] = records(trainer)
    assert record["status"] == "interrupted", stderr
    assert record["command"]["signal"] == "SIGKILL"
    assert proc.returncode == 128 + signal.SIGKILL, stderr


def test_a_command_that_exits_0_after_sigterm_does_not_make_mlog_exit_0(trainer: Repo) -> None:
    trainer.gen(
        {
            "polite.py": "import pathlib, signal, sys, time\n"
            "signal.signal(signal.SIGTERM, lambda *a: sys.exit(0))\n"
            "pathlib.Path('child.pid').write_text('x')\ntime.sleep(60)\n"
        }
    )
    trainer.commit("polite")
    proc = subprocess.Popen([MLOG, "run", "--", PYTHON, "polite.py"], cwd=trainer.path,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)  # fmt: skip
    wait_for(lambda: (trainer.path / "child.pid").exists(), 20, "the command to start")
    os.kill(proc.pid, signal.SIGTERM)
    proc.communicate(timeout=30)
    [record] = records(trainer)
    assert record["status"] == "interrupted" and record["command"]["exit_code"] == 0
    assert proc.returncode == 128 + signal.SIGTERM


def test_outcome_of_a_run_is_kept_beside_its_marker(trainer: Repo, tmp_path: Path) -> None:
    """The exit code is noted before the record is written, in room reserved at the start."""
    proc = subprocess.Popen(
        [MLOG, "run", "--", PYTHON, "-c", "import time; time.sleep(0.3); raise SystemExit(7)"],
        cwd=trainer.path,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    pending = trainer.path / ".mlog" / "cache" / "pending"
    wait_for(lambda: any(pending.glob("*.outcome")), 20, "the reserved outcome")
    [reserved] = pending.glob("*.outcome")
    assert reserved.read_bytes().strip() == b""
    proc.communicate(timeout=30)
    assert proc.returncode == 7
    assert not reserved.exists()
