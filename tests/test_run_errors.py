"""Bad input to `mlog run`: one clear line, a non-zero exit, nothing started or written."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import PYTHON, Repo, git

MARKER = "ran.txt"
TOUCH = f"open('{MARKER}', 'w').write('x')"


def assert_refused(repo: Repo, result, code: int, *needles: str) -> None:
    assert result.exit_code == code, result
    assert result.stderr.startswith("error: "), result
    assert len(result.stderr.strip().splitlines()) == 1, result
    assert "Traceback" not in result.stderr + result.stdout
    for needle in needles:
        assert needle in result.stderr, result
    assert not (repo.path / MARKER).exists(), "the command must not have started"
    assert repo.run_ids() == [], "nothing may be written"


def test_dirty_tree_is_refused_naming_the_paths(repo: Repo, cli) -> None:
    repo.dirty("params.yaml")
    repo.gen({"notes.txt": "x"})
    result = cli("run", "--", PYTHON, "-c", TOUCH)
    assert_refused(repo, result, 5, "params.yaml", "notes.txt", "--allow-dirty")


def test_staged_change_is_dirty_too(repo: Repo, cli) -> None:
    repo.gen({"new.py": "x = 1\n"})
    repo.git("add", "new.py")
    assert_refused(repo, cli("run", "--", PYTHON, "-c", TOUCH), 5, "new.py")


def test_changes_under_mlog_and_ignored_files_are_not_dirt(repo: Repo, cli) -> None:
    repo.gen({".gitignore": "*.log\n"})
    repo.commit("ignore logs")
    repo.gen({"train.log": "x", ".mlog/cache/scratch": "x"})
    assert cli("run", "--", PYTHON, "train.py").exit_code == 0


def test_not_a_git_repository(tmp_path: Path, cli, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    result = cli("run", "--", PYTHON, "-c", TOUCH)
    assert result.exit_code == 4, result
    assert "not a git repository" in result.stderr and "git init" in result.stderr
    assert not (tmp_path / MARKER).exists()


def test_repository_without_commits(tmp_path: Path, cli, monkeypatch) -> None:
    git(tmp_path, "init", "-q")
    monkeypatch.chdir(tmp_path)
    result = cli("run", "--", PYTHON, "-c", TOUCH)
    assert result.exit_code == 4, result
    assert "no commit yet" in result.stderr
    assert not (tmp_path / MARKER).exists()


def test_git_missing(repo: Repo, cli, monkeypatch, tmp_path: Path) -> None:
    empty = tmp_path / "empty-bin"
    empty.mkdir()
    monkeypatch.setenv("PATH", str(empty))
    monkeypatch.setenv("GIT_PYTHON_GIT_EXECUTABLE", str(empty / "git"))
    import git as gitpython

    try:
        result = cli("run", "--", PYTHON, "-c", TOUCH)
    finally:
        monkeypatch.undo()
        gitpython.refresh()
    assert result.exit_code == 4, result
    assert "git" in result.stderr and "Traceback" not in result.stderr


def test_empty_command(repo: Repo, cli) -> None:
    assert_refused(repo, cli("run", "--"), 2, "no command given")


def test_unknown_command(repo: Repo, cli) -> None:
    result = cli("run", "--", "definitely-not-a-command-xyz")
    assert result.exit_code == 2, result
    assert "command not found" in result.stderr
    assert repo.run_ids() == []


def test_missing_dataset(repo: Repo, cli) -> None:
    assert_refused(
        repo, cli("run", "--data", "data/nope.csv", "--", PYTHON, "-c", TOUCH), 10, "nope.csv"
    )


def test_artifact_outside_the_repo(repo: Repo, cli, tmp_path: Path) -> None:
    result = cli("run", "--artifact", str(tmp_path / "model.pkl"), "--", PYTHON, "-c", TOUCH)
    assert_refused(repo, result, 10, "outside the repository")


def test_missing_params_file(repo: Repo, cli) -> None:
    assert_refused(repo, cli("run", "-p", "nope.yaml", "--", PYTHON, "-c", TOUCH), 8, "nope.yaml")


@pytest.mark.parametrize(
    ("name", "content", "needle"),
    [
        ("bad.yaml", "lr: [0.1\n", "malformed params file"),
        ("bad.json", "{lr: 1}", "malformed params file"),
        ("bad.toml", "lr = \n", "malformed params file"),
        ("list.yaml", "- 1\n- 2\n", "must hold a mapping"),
    ],
)
def test_malformed_params_file(repo: Repo, cli, name: str, content: str, needle: str) -> None:
    repo.gen({name: content})
    repo.commit("bad params")
    assert_refused(repo, cli("run", "-p", name, "--", PYTHON, "-c", TOUCH), 8, needle)


@pytest.mark.skipif(os.geteuid() == 0, reason="root can read any file")
def test_unreadable_params_file(repo: Repo, cli) -> None:
    (repo.path / "params.yaml").chmod(0)
    assert_refused(
        repo, cli("run", "-p", "params.yaml", "--", PYTHON, "-c", TOUCH), 8, "cannot read"
    )


def test_malformed_config(repo: Repo, cli) -> None:
    (repo.path / ".mlog/config.yaml").write_text("model: [unclosed\n")
    assert_refused(repo, cli("run", "--", PYTHON, "-c", TOUCH), 8, "malformed config")


def test_schema_invalid_config(repo: Repo, cli) -> None:
    (repo.path / ".mlog/config.yaml").write_text("schema_version: 1\ndata: 7\nbogus: true\n")
    result = cli("run", "--", PYTHON, "-c", TOUCH)
    assert_refused(repo, result, 8, "schema violation", "data")


def test_bad_tag(repo: Repo, cli) -> None:
    assert_refused(repo, cli("run", "--tag", "novalue", "--", PYTHON, "-c", TOUCH), 2, "KEY=VALUE")


def test_bad_data_window(repo: Repo, cli) -> None:
    result = cli("run", "--data-window", "2026-01-01", "--", PYTHON, "-c", TOUCH)
    assert_refused(repo, result, 2, "START..END")


@pytest.mark.parametrize("ref", ["v9", "latest~5", "zzzz", "v0x"])
def test_unknown_run(repo: Repo, cli, ref: str) -> None:
    cli("run", "--", PYTHON, "train.py")
    result = cli("show", ref)
    assert result.exit_code == 6, result
    assert result.stderr.startswith("error: ") and ref in result.stderr


def test_show_with_no_runs(repo: Repo, cli) -> None:
    result = cli("show", "latest")
    assert result.exit_code == 6 and "no runs recorded yet" in result.stderr, result


def merge_two_branches_that_both_made_v1(repo: Repo, cli) -> None:
    repo.git("checkout", "-q", "-b", "other")
    assert cli("run", "--", PYTHON, "train.py").exit_code == 0
    repo.commit("run on other")
    repo.git("checkout", "-q", "main")
    assert cli("run", "--", PYTHON, "train.py").exit_code == 0
    repo.commit("run on main")
    repo.git("merge", "-q", "--no-edit", "other")


def test_duplicate_alias_after_merge_lists_both_ids(repo: Repo, cli) -> None:
    merge_two_branches_that_both_made_v1(repo, cli)
    ids = repo.run_ids()
    assert len(ids) == 2
    result = cli("show", "v1")
    assert result.exit_code == 7, result
    assert ids[0] in result.stderr and ids[1] in result.stderr
    assert cli("show", ids[0]).exit_code == 0
    assert cli("run", "--", PYTHON, "train.py").exit_code == 0  # the next alias skips past both
    assert cli("show", "v2", "--json").exit_code == 0


def test_invalid_model_name(repo: Repo, cli) -> None:
    assert_refused(
        repo, cli("run", "--model", "a/b", "--", PYTHON, "-c", TOUCH), 2, "invalid model name"
    )


def test_alias_bomb_in_config_is_refused_quickly(repo: Repo, cli) -> None:
    from tests.test_yamlio import BOMB

    (repo.path / ".mlog/config.yaml").write_text(
        "schema_version: 1\ntags:\n" + "".join("  " + line + "\n" for line in BOMB.splitlines())
    )
    assert_refused(repo, cli("run", "--", PYTHON, "-c", TOUCH), 8, "aliases are not allowed")


def test_aliases_resolve_and_collide_without_an_index_too(repo: Repo, cli) -> None:
    """A fresh clone has no index: aliases come from the records' first lines."""
    import shutil

    merge_two_branches_that_both_made_v1(repo, cli)
    shutil.rmtree(repo.path / ".mlog/cache")
    result = cli("show", "v1")
    assert result.exit_code == 7 and all(i in result.stderr for i in repo.run_ids()), result
    assert not (repo.path / ".mlog/cache/index.sqlite").exists()
    assert cli("run", "--", PYTHON, "train.py").exit_code == 0
    assert cli("show", "v2", "--json").exit_code == 0


def test_ctrl_c_while_preparing_exits_130_and_records_nothing(repo: Repo, cli, monkeypatch) -> None:

    def interrupted(*_args: object, **_kwargs: object) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr("mlog.capture.inputs.capture_inputs", interrupted)
    result = cli("run", "--", PYTHON, "-c", TOUCH)
    assert result.exit_code == 130 and result.stderr == "error: interrupted\n", result
    assert repo.run_ids() == [] and not (repo.path / MARKER).exists()
    assert not any((repo.path / ".mlog/cache/pending").glob("*.json"))


def test_recover_outside_a_repository_is_a_one_line_error(
    tmp_path: Path, cli: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    result = cli("recover")
    assert result.exit_code == 4, result
    assert result.stderr.startswith("error: not a git repository"), result


def test_recover_with_nothing_pending_says_so(repo: Repo, cli: Any) -> None:
    result = cli("recover")
    assert result.exit_code == 0, result
    assert "nothing to recover" in result.stderr, result
    assert repo.run_ids() == []


@pytest.mark.parametrize("refusal", ["dirty", "model"])
def test_git_started_early_is_waited_for_when_the_run_is_refused(
    repo: Repo, cli, monkeypatch: pytest.MonkeyPatch, refusal: str
) -> None:
    """`mlog run` starts its git commands before it loads the capture code; a refusal in
    between (a dirty tree, a bad model name before git is even read) leaves none running."""
    from mlog.storage import gitio

    started: list[Any] = []
    start = gitio._Started.__init__

    def spy(self: Any, root: Path, args: tuple[str, ...]) -> None:
        start(self, root, args)
        started.append(self)

    monkeypatch.setattr(gitio._Started, "__init__", spy)
    if refusal == "dirty":
        repo.dirty("params.yaml")
        result = cli("run", "--", PYTHON, "-c", TOUCH)
        assert_refused(repo, result, 5, "params.yaml")
    else:
        result = cli("run", "--model", "bad name!", "--", PYTHON, "-c", TOUCH)
        assert_refused(repo, result, 2, "model")
    assert [s._args[0] for s in started] == ["rev-parse", "describe", "config", "ls-tree", "status"]
    assert all(s._process.returncode is not None for s in started)
