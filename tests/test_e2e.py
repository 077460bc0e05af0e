"""End to end through the installed `mlog` in a subprocess: signals, concurrency, crashes."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from tests.conftest import PYTHON, Repo

MLOG = str(Path(sys.executable).parent / "mlog")
pytestmark = pytest.mark.e2e


def mlog(repo: Repo, *args: str, **kwargs) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [MLOG, *args], cwd=repo.path, capture_output=True, text=True, timeout=120, **kwargs
    )


def records(repo: Repo) -> list[dict]:
    return [yaml.safe_load((repo.run_dir(i) / "record.yaml").read_text()) for i in repo.run_ids()]


def wait_for(path: Path, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not path.exists():
        if time.monotonic() > deadline:
            raise AssertionError(f"{path} never appeared")
        time.sleep(0.05)


SLEEPER = """
import pathlib, signal, sys, time
def stop(signum, frame):
    pathlib.Path("got-signal").write_text(str(signum))
    sys.exit(130)
signal.signal(signal.SIGINT, stop)
pathlib.Path("started").write_text("1")
time.sleep(60)
"""


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_signal_is_forwarded_and_the_run_recorded_as_interrupted(repo: Repo, sig) -> None:
    repo.gen({"sleeper.py": SLEEPER, ".gitignore": "started\ngot-signal\n"})
    repo.commit("sleeper")
    proc = subprocess.Popen(
        [MLOG, "run", "--", PYTHON, "sleeper.py"],
        cwd=repo.path,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    wait_for(repo.path / "started")
    proc.send_signal(sig)
    _, err = proc.communicate(timeout=30)
    [record] = records(repo)
    assert record["status"] == "interrupted", err
    if sig == signal.SIGINT:
        assert (repo.path / "got-signal").read_text() == str(int(sig))
        assert proc.returncode == 130 and record["command"]["exit_code"] == 130
    else:
        assert proc.returncode == 128 + sig and record["command"]["signal"] == "SIGTERM"


def test_two_concurrent_runs_both_land_with_distinct_aliases(repo: Repo) -> None:
    cmd = [MLOG, "run", "--", PYTHON, "-c", "import time; time.sleep(0.5)"]
    procs = [
        subprocess.Popen(cmd, cwd=repo.path, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        for _ in range(2)
    ]
    for proc in procs:
        proc.communicate(timeout=60)
        assert proc.returncode == 0
    found = records(repo)
    assert sorted(r["alias"] for r in found) == ["v1", "v2"]
    assert all(r["status"] == "succeeded" for r in found)


def test_killed_mlog_leaves_an_orphan_the_next_command_records(repo: Repo) -> None:
    repo.gen(
        {
            "quick.py": "import mlog, pathlib, time\nmlog.log_metric('acc', 0.7)\n"
            "pathlib.Path('started').write_text('1')\ntime.sleep(1)\n",
            ".gitignore": "started\n",
        }
    )
    repo.commit("quick")
    proc = subprocess.Popen(
        [MLOG, "run", "--", PYTHON, "quick.py"],
        cwd=repo.path,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    wait_for(repo.path / "started")
    proc.kill()
    proc.wait()
    assert repo.run_ids() == []
    time.sleep(1.5)  # let the orphaned training process finish
    listed = mlog(repo, "ls", "--json")
    assert listed.returncode == 0, listed.stderr
    assert records(repo) == [], "a read-only command wrote a record"
    assert "mlog recover" in listed.stderr
    listed = mlog(repo, "recover", "--json")
    assert listed.returncode == 0, listed.stderr
    [record] = records(repo)
    assert record["status"] == "interrupted" and record["metrics"] == {"acc": 0.7}
    assert "ended before the run finished" in record["command"]["recovered"]
    assert mlog(repo, "validate").returncode == 0


SECRETS = (
    "canary-env-7c1f",
    "canary-argv-9b2e",
    "canary-param-4d8a",
    "canary-url-1e5c",
    "canary-api-6f3b",
)


def test_secret_canaries_never_reach_the_mlog_directory(repo: Repo) -> None:
    repo.gen(
        {
            "params.yaml": f"lr: 0.1\napi_key: {SECRETS[2]}\n",
            "train.py": f"import mlog\nmlog.log_param('db_password', '{SECRETS[4]}')\n",
        }
    )
    repo.commit("secrets")
    env = {
        **os.environ,
        "HF_TOKEN": SECRETS[0],
        "CUDA_VISIBLE_DEVICES": "0",
        "AWS_SECRET_ACCESS_KEY": SECRETS[0],
    }
    result = mlog(
        repo,
        "run",
        "-p",
        "params.yaml",
        "--",
        PYTHON,
        "train.py",
        "--password",
        SECRETS[1],
        f"--data-url=https://user:{SECRETS[3]}@host/x",
        env=env,
    )
    assert result.returncode == 0, result.stderr
    blob = b"".join(
        p.read_bytes()
        for p in (repo.path / ".mlog").rglob("*")
        if p.is_file() and "cache" not in p.parts
    )
    for secret in SECRETS:
        assert secret.encode() not in blob, secret
    [record] = records(repo)
    assert record["environment"]["variables"]["CUDA_VISIBLE_DEVICES"] == "0"
    assert {"params.api_key", "params.db_password"} <= set(record["redactions"])
    assert any(r.startswith("command.argv") for r in record["redactions"])


TRAIN_SKLEARN = """
import json, pickle, sys
import yaml
from sklearn.datasets import load_breast_cancer
from sklearn.ensemble import RandomForestClassifier
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import train_test_split
import mlog

params = yaml.safe_load(open("params.yaml"))
X, y = load_breast_cancer(return_X_y=True)
X_tr, X_te, y_tr, y_te = train_test_split(X, y, random_state=params["seed"])
model = RandomForestClassifier(n_estimators=params["n_estimators"], random_state=params["seed"])
model.fit(X_tr, y_tr)
auc = roc_auc_score(y_te, model.predict_proba(X_te)[:, 1])
mlog.log_metric("auc", auc)
json.dump({"accuracy": model.score(X_te, y_te)}, open("metrics.json", "w"))
pickle.dump(model, open("model.pkl", "wb"))
"""


def test_real_scikit_learn_training_through_the_installed_cli(repo: Repo) -> None:
    pytest.importorskip("sklearn")
    repo.gen(
        {
            "train.py": TRAIN_SKLEARN,
            "params.yaml": "n_estimators: 20\nseed: 7\n",
            ".gitignore": "model.pkl\nmetrics.json\n",
        }
    )
    repo.commit("sklearn")
    result = mlog(
        repo,
        "run",
        "-p",
        "params.yaml",
        "-m",
        "metrics.json",
        "-a",
        "model.pkl",
        "--",
        PYTHON,
        "train.py",
    )
    assert result.returncode == 0, result.stderr
    [record] = records(repo)
    assert record["status"] == "succeeded" and record["seed"] == 7
    assert 0.9 < record["metrics"]["auc"] <= 1.0 and 0.8 < record["metrics"]["accuracy"] <= 1.0
    assert record["artifacts"][0]["hash"].startswith("xxh3_128:")
    shown = mlog(repo, "show", "v1")
    assert shown.returncode == 0 and "auc" in shown.stdout and "model.pkl" in shown.stdout


def test_ctrl_c_at_a_terminal_reaches_the_command_once(repo: Repo) -> None:
    """A real pseudo-terminal: the command owns the foreground and gets exactly one SIGINT."""
    import pty

    repo.gen({"counter.py": COUNTER, ".gitignore": "started\nsignals\n"})
    repo.commit("counter")
    pid, master = pty.fork()
    if pid == 0:  # the child becomes mlog, on the terminal
        os.chdir(repo.path)
        os.execv(MLOG, [MLOG, "run", "--", PYTHON, "counter.py"])
    try:
        wait_for(repo.path / "started")
        os.write(master, b"\x03")  # what the terminal sends for Ctrl-C
        _, status = os.waitpid(pid, 0)
    finally:
        os.close(master)
    assert os.waitstatus_to_exitcode(status) == 130
    assert (repo.path / "signals").read_text() == "1"
    [record] = records(repo)
    assert record["status"] == "interrupted" and record["command"]["exit_code"] == 130


COUNTER = """
import pathlib, signal, sys, time
seen = []
def count(signum, frame):
    seen.append(signum)
signal.signal(signal.SIGINT, count)
pathlib.Path("started").write_text("1")
deadline = time.monotonic() + 30
while not seen and time.monotonic() < deadline:
    time.sleep(0.05)
time.sleep(0.5)  # a second, duplicated SIGINT would arrive in this window
pathlib.Path("signals").write_text(str(len(seen)))
sys.exit(130)
"""


def test_the_installed_mlog_run_starts_git_early_and_still_refuses_and_records(
    repo: Repo, tmp_path: Path
) -> None:
    """`mlog run` starts its git commands before its command line is parsed: outside a
    repository, with a bad option, on a dirty tree and on a clean one it behaves as before."""
    outside = tmp_path / "not-a-repo"
    outside.mkdir()
    done = subprocess.run(
        [MLOG, "run", "--", PYTHON, "-c", "pass"], cwd=outside, capture_output=True, text=True
    )
    assert done.returncode == 4 and done.stderr.startswith("error: not a git repository"), done
    assert len(done.stderr.splitlines()) == 1, done
    bad = mlog(repo, "run", "--no-such-option", "--", PYTHON, "-c", "pass")
    assert bad.returncode == 2 and len(bad.stderr.strip().splitlines()) == 1, bad
    (repo.path / "stray.txt").write_text("not committed\n")
    dirty = mlog(repo, "run", "--", PYTHON, "-c", "pass")
    assert dirty.returncode == 5 and "stray.txt" in dirty.stderr, dirty
    (repo.path / "stray.txt").unlink()
    clean = mlog(repo, "run", "--", PYTHON, "-c", "pass")
    assert clean.returncode == 0, clean
    [record] = records(repo)
    assert record["code"]["dirty"] is False and record["status"] == "succeeded"
