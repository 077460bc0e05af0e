"""The pre-commit hooks, through `mlog hook` and through the real pre-commit framework.

The pre-commit tests build the hook environment from a snapshot of this working tree
(``language: python`` installs the package with pip, so they need the package index
once per session). ``try-repo`` creates a fresh environment on every call, so it is
used twice; the per-tampering tests use ``pre-commit run`` with the same repository
and revision in a config, which shares one cached environment.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from mlog.storage import records, yamlio

if TYPE_CHECKING:
    from tests.conftest import Repo

PYTHON = sys.executable
ROOT = Path(__file__).resolve().parent.parent
HOOK_IDS = ("mlog-validate", "mlog-immutable", "mlog-artifacts")
TRAIN = "open('model.pt', 'wb').write(b'weights')\n"
GIT_ENV = {
    "GIT_AUTHOR_NAME": "Hook Builder",
    "GIT_AUTHOR_EMAIL": "hooks@example.com",
    "GIT_COMMITTER_NAME": "Hook Builder",
    "GIT_COMMITTER_EMAIL": "hooks@example.com",
    "GIT_CONFIG_NOSYSTEM": "1",
}


def make_run(repo: Repo, cli: Any, *options: str) -> str:
    before = set(repo.run_ids())
    result = cli("run", *options, "--", PYTHON, "train.py")
    assert result.exit_code == 0, result
    (run_id,) = set(repo.run_ids()) - before
    return run_id


@pytest.fixture
def committed_run(repo: Repo, cli: Any) -> str:
    repo.gen({"train.py": TRAIN, ".gitignore": "model.pt\n"})
    repo.commit("train")
    run_id = make_run(repo, cli, "-a", "model.pt")
    repo.commit("record")
    return run_id


def record_file(run_id: str) -> str:
    from mlog.storage.records import month_of

    return f".mlog/runs/{month_of(run_id)}/{run_id}/record.yaml"


# -- `mlog hook` in-process ---------------------------------------------------------------


def test_validate_hook_accepts_a_valid_record(repo: Repo, cli: Any, committed_run: str) -> None:
    result = cli("hook", "validate", record_file(committed_run), "train.py")
    assert result.exit_code == 0, result
    assert result.stderr == "" and result.stdout == "", result


def test_validate_hook_rejects_an_edited_record(repo: Repo, cli: Any, committed_run: str) -> None:
    path = repo.path / record_file(committed_run)
    path.write_text(path.read_text().replace("status: succeeded", "status: failed"))
    result = cli("hook", "validate", record_file(committed_run))
    assert result.exit_code == 1, result
    assert f"error: {record_file(committed_run)}: integrity hash does not match" in result.stderr
    assert "error: mlog-validate: 1 problem(s), commit refused" in result.stderr, result


def test_immutable_hook_sees_staged_edits_and_deletions(
    repo: Repo, cli: Any, committed_run: str
) -> None:
    assert cli("hook", "immutable").exit_code == 0
    repo.git("rm", "-q", record_file(committed_run))
    result = cli("hook", "immutable")
    assert result.exit_code == 1, result
    assert f"error: {record_file(committed_run)}: this commit deletes a file already" in (
        result.stderr
    ), result


def test_artifacts_hook_knows_recorded_models_only(
    repo: Repo, cli: Any, committed_run: str
) -> None:
    (repo.path / "copy.pt").write_bytes((repo.path / "model.pt").read_bytes())
    (repo.path / "other.onnx").write_bytes(b"someone else's weights")
    assert cli("hook", "artifacts", "copy.pt", "train.py").exit_code == 0
    result = cli("hook", "artifacts", "copy.pt", "other.onnx")
    assert result.exit_code == 1, result
    assert "error: other.onnx: model file whose hash no run record knows" in result.stderr
    assert "copy.pt" not in result.stderr, result


def test_artifacts_hook_judges_model_files_whatever_another_record_holds(
    repo: Repo, cli: Any, committed_run: str
) -> None:
    """It asks the lineage index, kept up with runs added since (a new run's model is known
    at once); a broken record elsewhere is the validate hook's to report, not a refusal."""
    assert cli("ls", "--limit", "1").exit_code == 0  # the index exists and is current
    writer = "open('second.pt', 'wb').write(b'second model')\n"
    repo.gen({"train2.py": writer})
    repo.commit("second trainer")
    assert cli("run", "-a", "second.pt", "--", PYTHON, "train2.py").exit_code == 0
    broken = repo.path / ".mlog" / "runs" / "2026-01" / "20260101T000000000000Z-0000dead"
    broken.mkdir(parents=True)
    (broken / "record.yaml").write_text("schema_version: 1\nmodel: [unclosed\n")
    (repo.path / "stray.pt").write_bytes(b"nobody recorded this")
    result = cli("hook", "artifacts", "model.pt", "second.pt", "stray.pt")
    assert result.exit_code == 1, result
    assert result.stderr.splitlines()[0].startswith("error: stray.pt: model file"), result
    assert "second.pt" not in result.stderr and "unclosed" not in result.stderr, result


def test_artifacts_hook_uses_configured_patterns_and_staged_files(
    repo: Repo, cli: Any, committed_run: str
) -> None:
    config = repo.path / ".mlog/config.yaml"
    config.write_text(config.read_text() + "artifact_patterns: ['*.weights']\n")
    (repo.path / "net.weights").write_bytes(b"unknown")
    (repo.path / "ignored.pt").write_bytes(b"not a model under this config")
    repo.git("add", "net.weights", "ignored.pt")
    result = cli("hook", "artifacts")
    assert result.exit_code == 1, result
    assert "error: net.weights: model file" in result.stderr and "ignored.pt" not in (
        result.stderr
    ), result


def test_artifacts_hook_accepts_files_of_a_recorded_model_directory(repo: Repo, cli: Any) -> None:
    writer = "import os\nos.makedirs('out', exist_ok=True)\nopen('out/m.pt', 'wb').write(b'w')\n"
    repo.gen({"train.py": writer, ".gitignore": "out/\n"})
    repo.commit("train")
    make_run(repo, cli, "-a", "out")
    assert cli("hook", "artifacts", "out/m.pt").exit_code == 0
    (repo.path / "out/m.pt").write_bytes(b"changed")
    result = cli("hook", "artifacts", "out/m.pt")
    assert result.exit_code == 1 and "out/m.pt: model file" in result.stderr, result


def test_unknown_hook_is_a_usage_error(repo: Repo, cli: Any) -> None:
    result = cli("hook", "lint")
    assert result.exit_code == 2, result
    assert "error: unknown hook 'lint' (use one of: validate, immutable, artifacts)" in (
        result.stderr
    ), result


def test_hook_file_outside_the_repository_is_a_usage_error(
    repo: Repo, cli: Any, tmp_path: Path
) -> None:
    result = cli("hook", "validate", str(tmp_path / "elsewhere.yaml"))
    assert result.exit_code == 2 and "is outside the repository" in result.stderr, result


# -- the real pre-commit framework ----------------------------------------------------------


@pytest.fixture(scope="session")
def hook_source(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    """A committed snapshot of this working tree: what `rev:` of a hooks repo points at."""
    listed = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=ROOT, check=True, capture_output=True, text=True,
    ).stdout.split("\0")  # fmt: skip
    target = tmp_path_factory.mktemp("mlog-hooks-src")
    for name in filter(None, listed):
        source = ROOT / name
        (target / name).parent.mkdir(parents=True, exist_ok=True)
        if source.is_symlink():
            os.symlink(os.readlink(source), target / name)
        elif source.is_file():
            shutil.copy2(source, target / name)
    env = {**os.environ, **GIT_ENV, "HOME": str(target)}
    for args in (["init", "-q"], ["add", "-A"], ["commit", "-q", "-m", "snapshot"]):
        subprocess.run(["git", *args], cwd=target, check=True, env=env, capture_output=True)
    sha = subprocess.run(
        ["git", "rev-parse", "HEAD"],
        cwd=target,
        check=True,
        env=env,
        capture_output=True,
        text=True,
    ).stdout.strip()
    return target, sha


@pytest.fixture(scope="session")
def precommit_cache(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    base = tmp_path_factory.mktemp("pre-commit-cache")
    return {"PRE_COMMIT_HOME": str(base / "home"), "PIP_CACHE_DIR": str(base / "pip")}


def pre_commit(repo: Repo, cache: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [PYTHON, "-m", "pre_commit", *args, "--color", "never"],
        cwd=repo.path, env={**os.environ, **cache}, capture_output=True, text=True, timeout=540,
    )  # fmt: skip


@pytest.fixture
def hooked(
    repo: Repo, cli: Any, hook_source: tuple[Path, str], precommit_cache: dict[str, str]
) -> Any:
    """A repo with two committed runs and a config that uses mlog's hooks at the snapshot."""
    source, sha = hook_source
    hooks = "\n".join(f"      - id: {hook}" for hook in HOOK_IDS)
    config = f"repos:\n  - repo: {source}\n    rev: {sha}\n    hooks:\n{hooks}\n"
    repo.gen({"train.py": TRAIN, ".gitignore": "model.pt\n", ".pre-commit-config.yaml": config})
    repo.commit("train with hooks")
    runs = [make_run(repo, cli, "-a", "model.pt"), make_run(repo, cli, "-a", "model.pt")]
    repo.commit("two runs")

    def run_hooks() -> subprocess.CompletedProcess[str]:
        return pre_commit(repo, precommit_cache, "run")

    return runs, run_hooks


def outcome(done: subprocess.CompletedProcess[str]) -> str:
    return f"exit={done.returncode}\n--stdout--\n{done.stdout}\n--stderr--\n{done.stderr}"


def assert_hook(output: str, hook_name: str, verdict: str) -> None:
    lines = [line for line in output.splitlines() if line.startswith(hook_name)]
    assert lines and lines[0].endswith(verdict), output


def test_try_repo_passes_an_honest_commit_and_refuses_an_untracked_model(
    repo: Repo, cli: Any, hook_source: tuple[Path, str], precommit_cache: dict[str, str]
) -> None:
    source, _ = hook_source
    repo.gen({"train.py": TRAIN, ".gitignore": "model.pt\n"})
    repo.commit("train")
    make_run(repo, cli, "-a", "model.pt")
    repo.git("add", "-A")
    honest = pre_commit(repo, precommit_cache, "try-repo", str(source))
    assert honest.returncode == 0, outcome(honest)
    for name in ("mlog validate", "mlog immutable", "mlog artifacts"):
        assert_hook(honest.stdout, name, "Passed")
    repo.commit("record")
    repo.gen({"stolen.pkl": b"pickled model nobody recorded"})
    repo.git("add", "stolen.pkl")
    refused = pre_commit(repo, precommit_cache, "try-repo", str(source), "mlog-artifacts")
    assert refused.returncode == 1, outcome(refused)
    assert "stolen.pkl: model file whose hash no run record knows" in refused.stdout


def test_pre_commit_passes_a_new_run_and_its_model(repo: Repo, cli: Any, hooked: Any) -> None:
    _, run_hooks = hooked
    make_run(repo, cli, "-a", "model.pt")
    shutil.copy(repo.path / "model.pt", repo.path / "release.pt")
    repo.git("add", "-A")
    repo.git("add", "-f", "release.pt")
    done = run_hooks()
    assert done.returncode == 0, outcome(done)
    for name in ("mlog validate", "mlog immutable", "mlog artifacts"):
        assert_hook(done.stdout, name, "Passed")


def test_pre_commit_refuses_an_edited_record(repo: Repo, hooked: Any) -> None:
    (run_id, _), run_hooks = hooked
    path = repo.path / record_file(run_id)
    path.write_text(path.read_text().replace("status: succeeded", "status: failed"))
    repo.git("add", "-A")
    done = run_hooks()
    assert done.returncode == 1, outcome(done)
    assert_hook(done.stdout, "mlog validate", "Failed")
    assert_hook(done.stdout, "mlog immutable", "Failed")
    assert f"{record_file(run_id)}: integrity hash does not match the content" in done.stdout
    assert f"{record_file(run_id)}: this commit modifies a file already committed" in done.stdout


def test_pre_commit_refuses_a_forged_integrity_hash(repo: Repo, hooked: Any) -> None:
    (run_id, _), run_hooks = hooked
    path = repo.path / record_file(run_id)
    forged = yamlio.loads(path.read_text())
    forged["metrics"] = {"auc": 0.99}
    path.write_text(yamlio.dumps(records.seal(forged)))
    repo.git("add", "-A")
    done = run_hooks()
    assert done.returncode == 1, outcome(done)
    assert_hook(done.stdout, "mlog validate", "Passed")
    assert_hook(done.stdout, "mlog immutable", "Failed")


def test_pre_commit_refuses_a_deleted_record(repo: Repo, hooked: Any) -> None:
    (_, run_id), run_hooks = hooked
    repo.git("rm", "-q", "-r", f"{repo.rel_run(run_id)}")
    done = run_hooks()
    assert done.returncode == 1, outcome(done)
    assert_hook(done.stdout, "mlog immutable", "Failed")
    assert f"{record_file(run_id)}: this commit deletes a file already committed" in done.stdout


def test_pre_commit_refuses_an_edited_event(repo: Repo, hooked: Any) -> None:
    from mlog.registry import events
    from mlog.storage.store import Store

    (run_id, _), run_hooks = hooked
    store = Store(repo.path)
    event = events.append_event(store, "churn", "register", by="ada", version="1", run=run_id)
    repo.commit("register")
    path = repo.path / ".mlog/registry/churn" / f"{event['id']}.yaml"
    path.write_text(path.read_text().replace("by: ada", "by: mallory"))
    repo.git("add", "-A")
    done = run_hooks()
    assert done.returncode == 1, outcome(done)
    assert_hook(done.stdout, "mlog validate", "Failed")
    assert_hook(done.stdout, "mlog immutable", "Failed")
    assert "integrity hash does not match the content (the event was edited)" in done.stdout


def test_pre_commit_refuses_an_untracked_model(repo: Repo, hooked: Any) -> None:
    _, run_hooks = hooked
    repo.gen({"models/best.onnx": b"weights from a laptop"})
    repo.git("add", "models/best.onnx")
    done = run_hooks()
    assert done.returncode == 1, outcome(done)
    assert_hook(done.stdout, "mlog artifacts", "Failed")
    assert "models/best.onnx: model file whose hash no run record knows" in done.stdout


def test_pre_commit_rejects_hostile_yaml_without_hanging(repo: Repo, hooked: Any) -> None:
    from tests.test_tamper import ATTACKS, plant

    _, run_hooks = hooked
    planted = {
        plant(repo, name, content): expected for name, (content, expected) in ATTACKS.items()
    }
    repo.git("add", "-A")
    done = run_hooks()
    assert done.returncode == 1, outcome(done)
    assert_hook(done.stdout, "mlog validate", "Failed")
    for relative, expected in planted.items():
        assert f"error: {relative}: " in done.stdout and expected in done.stdout, outcome(done)
    assert "Traceback" not in done.stdout + done.stderr, outcome(done)
    assert f"mlog-validate: {len(ATTACKS)} problem(s), commit refused" in done.stdout


def test_pre_commit_refuses_a_file_added_beside_a_record(repo: Repo, hooked: Any) -> None:
    (run_id, _), run_hooks = hooked
    sneaked = f"{repo.rel_run(run_id)}/series.jsonl"
    (repo.path / sneaked).write_text('{"name": "loss", "step": 0, "value": 0.01}\n')
    repo.git("add", "-A")
    done = run_hooks()
    assert done.returncode == 1, outcome(done)
    assert_hook(done.stdout, "mlog validate", "Failed")
    expected = f"{record_file(run_id)}: integrity: series.jsonl is not covered by the record's"
    assert expected in done.stdout, outcome(done)
