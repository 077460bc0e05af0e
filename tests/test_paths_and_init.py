"""Where paths resolve (config: the repository root; command line: the current folder),
and what mlog leaves in a repository that never ran ``mlog init``."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from typer.testing import CliRunner

from mlog.cli.app import app
from mlog.storage import yamlio
from tests.conftest import git

if TYPE_CHECKING:
    from tests.conftest import Repo

WRITE_OUTPUTS = (
    "import json; open('metrics.json','w').write(json.dumps({'acc': 0.5})); "
    "open('model.pkl','w').write('m')"
)


def _configure(repo: Repo, **values: Any) -> None:
    config = repo.path / ".mlog" / "config.yaml"
    document = yamlio.load_file(config)
    document.update(values)
    config.write_text(yamlio.dumps(document))


def test_config_paths_resolve_against_the_root_from_a_sub_folder(
    repo: Repo, cli: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    _configure(
        repo, params=["params.yaml"], metrics_files=["metrics.json"], artifacts=["model.pkl"]
    )
    repo.gen({"conf/readme.txt": "sub folder\n", ".gitignore": "metrics.json\nmodel.pkl\n"})
    repo.commit("configure")
    monkeypatch.chdir(repo.path / "conf")
    script = WRITE_OUTPUTS.replace("'metrics.json'", "'../metrics.json'")
    script = script.replace("'model.pkl'", "'../model.pkl'")
    result = cli("run", "--", "python", "-c", script)
    assert result.exit_code == 0, result
    record = cli("show", "latest", "--json")
    shown = yamlio.loads(record.stdout)
    assert shown["param_sources"] == ["params.yaml"], record
    assert shown["params"]["lr"] == 0.1
    assert shown["metrics"] == {"acc": 0.5}
    assert shown["metric_sources"] == ["metrics.json"]
    assert [a["path"] for a in shown["artifacts"]] == ["model.pkl"]
    assert shown["command"]["cwd"] == "conf"


def test_command_line_paths_resolve_against_the_current_folder(
    repo: Repo, cli: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    repo.gen({"conf/params.yaml": "depth: 4\n", ".gitignore": "conf/out.json\n"})
    repo.commit("sub folder params")
    monkeypatch.chdir(repo.path / "conf")
    script = "open('out.json','w').write('{\"f1\": 0.7}')"
    result = cli("run", "-p", "params.yaml", "-m", "out.json", "--", "python", "-c", script)
    assert result.exit_code == 0, result
    shown = yamlio.loads(cli("show", "latest", "--json").stdout)
    assert shown["param_sources"] == ["conf/params.yaml"]
    assert shown["params"] == {"depth": 4}
    assert shown["metric_sources"] == ["conf/out.json"]
    missing = cli("run", "-p", "nope.yaml", "--", "true")
    assert missing.exit_code != 0 and "conf/nope.yaml" in missing.stderr, missing


def _bare_repo(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / "fresh"
    path.mkdir()
    git(path, "init", "-q", "-b", "main")
    (path / "train.py").write_text("print('hi')\n")
    git(path, "add", "-A")
    git(path, "commit", "-q", "-m", "initial")
    monkeypatch.chdir(path)
    return path


@pytest.mark.parametrize("command", [["ls"], ["show", "latest"], ["check"], ["registry", "ls"]])
def test_reading_before_init_leaves_nothing_git_would_commit(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, command: list[str]
) -> None:
    path = _bare_repo(tmp_path, monkeypatch)
    CliRunner().invoke(app, command)
    status = git(path, "status", "--porcelain", "--untracked-files=all")
    assert status == "", status


def test_a_run_before_init_commits_its_record_but_never_the_cache(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = _bare_repo(tmp_path, monkeypatch)
    result = CliRunner().invoke(app, ["run", "--", "python", "train.py"])
    assert result.exit_code == 0, result.output
    CliRunner().invoke(app, ["ls"])
    assert (path / ".mlog" / "cache").is_dir()
    git(path, "add", "-A")
    staged = git(path, "diff", "--cached", "--name-only").splitlines()
    assert staged and all(name.startswith((".mlog/runs/", ".mlog/objects/")) for name in staged), (
        staged
    )
    ignored = subprocess.run(
        ["git", "check-ignore", ".mlog/cache/index.sqlite", ".mlog/cache/runs.lock"],
        cwd=path, capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert ignored.returncode == 0, ignored
