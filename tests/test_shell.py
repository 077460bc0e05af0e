"""mlog meets pipes, scripts and shells: completion, plain rows, JSON on refusal, one-line errors."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import PYTHON, Repo
from tests.test_registry import ok, setup_training, train

MLOG = str(Path(sys.executable).parent / "mlog")


def mlog(cwd: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [MLOG, *args], cwd=cwd, capture_output=True, text=True, timeout=120,
        env={**os.environ, **env},
    )  # fmt: skip


# -- usage errors and help ---------------------------------------------------------------
@pytest.mark.e2e
@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (("ls", "--limit", "abc"), "error: invalid value for '--limit' / '-n': 'abc' is not a"),
        (("nosuch",), "error: no such command 'nosuch' (see `mlog --help`)"),
        (("show",), "error: missing argument 'RUN' (see `mlog show --help`)"),
        (("diff", "--json", "--md"), "error: --json and --md are two output formats: pick one"),
    ],
)
def test_usage_errors_are_one_line(repo: Repo, args: tuple[str, ...], expected: str) -> None:
    done = mlog(repo.path, *args)
    assert done.returncode == 2, done
    assert done.stderr.startswith(expected), done.stderr
    assert done.stderr.count("\n") == 1 and "╭" not in done.stderr, done.stderr


@pytest.mark.parametrize(
    ("command", "usage"),
    [
        (("show",), "Usage: mlog show [OPTIONS] RUN"),
        (("promote",), "Usage: mlog promote [OPTIONS] MODEL@VERSION"),
        (("data", "diff"), "Usage: mlog data diff [OPTIONS] A B"),
        (("run",), "Usage: mlog run [OPTIONS] [-- COMMAND [ARGS]]"),
    ],
)
def test_usage_lines_read_like_the_docs(cli: Any, command: tuple[str, ...], usage: str) -> None:
    shown = cli(*command, "--help", env={"COLUMNS": "200"})
    assert shown.exit_code == 0, shown
    assert usage in shown.stdout, shown.stdout
    assert "{" not in shown.stdout.split("Usage:")[1].splitlines()[0], shown.stdout


# -- completion --------------------------------------------------------------------------
@pytest.mark.e2e
def test_bash_completion_completes_commands_and_subcommands(tmp_path: Path) -> None:
    # The script `mlog --show-completion bash` prints, asked for without guessing the shell
    # from the parent processes (which a CI job or a background run may not have).
    script = mlog(tmp_path, _MLOG_COMPLETE="source_bash")
    assert (
        script.returncode == 0 and "complete -o default -F _mlog_completion mlog" in script.stdout
    )
    words = {"_MLOG_COMPLETE": "complete_bash", "COMP_WORDS": "mlog sh", "COMP_CWORD": "1"}
    assert mlog(tmp_path, **words).stdout.split() == ["show"]
    words.update(COMP_WORDS="mlog registry ", COMP_CWORD="2")
    assert sorted(mlog(tmp_path, **words).stdout.split()) == ["history", "ls"]


# -- pipes ---------------------------------------------------------------------------------
@pytest.mark.e2e
def test_piped_registry_ls_keeps_whole_run_ids_on_one_line(repo: Repo, cli: Any) -> None:
    setup_training(repo)
    run_id = train(cli)
    ok(cli("register", run_id, "--model", "fraud"))
    listed = mlog(repo.path, "registry", "ls")
    assert listed.returncode == 0, listed
    [row] = [line for line in listed.stdout.splitlines() if run_id in line]
    assert row.split("\t")[:3] == ["fraud@v1", "registered", run_id], row


# -- --json for scripts --------------------------------------------------------------------
def test_init_json_names_what_it_created(tmp_path: Path, cli: Any, monkeypatch: Any) -> None:
    subprocess.run(["git", "init", "-q", str(tmp_path)], check=True)
    monkeypatch.chdir(tmp_path)
    first = cli("init", "--json")
    assert first.exit_code == 0, first
    assert sorted(json.loads(first.stdout)["created"]) == [".mlog/.gitignore", ".mlog/config.yaml"]
    again = cli("init", "--json")
    assert json.loads(again.stdout) == {"created": []}, again


@pytest.mark.e2e
def test_run_json_is_the_last_line_after_the_commands_own_output(repo: Repo) -> None:
    repo.gen({"say.py": "print('hello from training')\n"})
    repo.commit("say")
    done = mlog(repo.path, "run", "--json", "--", PYTHON, "say.py")
    assert done.returncode == 0, done
    lines = done.stdout.splitlines()
    assert lines[0] == "hello from training", done.stdout
    summary = json.loads(lines[-1])
    assert summary["alias"] == "v1" and summary["status"] == "succeeded", summary
    assert summary["exit_code"] == 0 and summary["verdict"] == "no_champion", summary
    assert summary["id"] == repo.run_ids()[0]


@pytest.mark.e2e
def test_run_json_reports_a_failed_command_with_its_exit_code(repo: Repo) -> None:
    done = mlog(repo.path, "run", "--json", "--", PYTHON, "-c", "raise SystemExit(3)")
    assert done.returncode == 3, done
    summary = json.loads(done.stdout.splitlines()[-1])
    assert (summary["status"], summary["exit_code"]) == ("failed", 3), summary


def test_json_commands_print_json_when_they_refuse(repo: Repo, cli: Any) -> None:
    missing = cli("show", "v9", "--json")
    assert missing.exit_code == 6, missing
    error = json.loads(missing.stdout)["error"]
    assert error["exit_code"] == 6 and "unknown run v9" in error["message"], missing
    assert missing.stderr.startswith("error: unknown run v9"), missing


@pytest.mark.e2e
def test_deployable_verify_json_shows_the_mismatch_on_refusal(repo: Repo, cli: Any) -> None:
    setup_training(repo)
    ok(cli("register", train(cli)))
    ok(cli("approve", "fraud@v1", env={"GIT_AUTHOR_EMAIL": "qa@example.com"}))
    ok(cli("promote", "fraud@v1", "--to", "production"))
    (repo.path / "model.pkl").write_bytes(b"backdoored weights")
    refused = mlog(repo.path, "deployable", "fraud", "--verify", "--json")
    assert refused.returncode == 11, refused
    shown = json.loads(refused.stdout)
    assert shown["error"]["type"] == "GateError", shown
    assert [a["status"] for a in shown["artifacts"]] == ["mismatch"], shown


def test_promote_json_shows_the_failed_gates_once(repo: Repo, cli: Any) -> None:
    setup_training(repo)
    ok(cli("register", train(cli)))
    refused = cli("promote", "fraud@v1", "--to", "production", "--json")
    assert refused.exit_code == 11, refused
    shown = json.loads(refused.stdout)  # one JSON document, not two
    assert shown["error"]["type"] == "GatesFailed", shown
    assert "approvals" in [g["name"] for g in shown["gates"] if not g["passed"]], shown


# -- data-entry traps ------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("window", "message"),
    [
        ("foo..bar", "'foo' is not an ISO date or date-time"),
        ("2026-03-01..2026-01-01", "START is after END"),
        ("2026-01-01", "expected START..END"),
    ],
)
def test_bad_data_windows_are_refused(repo: Repo, cli: Any, window: str, message: str) -> None:
    done = cli("run", "--data-window", window, "--", PYTHON, "-c", "pass")
    assert done.exit_code == 2, done
    assert message in done.stderr, done
    assert repo.run_ids() == []


def test_an_unquoted_date_in_config_tags_is_text(repo: Repo, cli: Any) -> None:
    config = repo.path / ".mlog" / "config.yaml"
    config.write_text(config.read_text().replace("tags: {}", "tags:\n  release: 2026-11-01"))
    repo.commit("tag the release")
    done = cli("run", "--", PYTHON, "-c", "pass")
    assert done.exit_code == 0, done
    shown = json.loads(cli("show", "latest", "--json").stdout)
    assert shown["tags"] == {"release": "2026-11-01"}


def test_an_unversioned_remote_dataset_is_warned_about(repo: Repo, cli: Any) -> None:
    done = cli("run", "-d", "lake=s3://bucket/prefix/", "--", PYTHON, "-c", "pass")
    assert done.exit_code == 0, done
    assert "has no @VERSION, so the record pins nothing" in done.stderr, done
    pinned = cli("run", "-d", "lake=s3://bucket/prefix/@v42", "--", PYTHON, "-c", "pass")
    assert "pins nothing" not in pinned.stderr, pinned


def test_a_malformed_columns_key_exits_2(repo: Repo, cli: Any) -> None:
    done = cli("ls", "--columns", "params..x")
    assert done.exit_code == 2, done
    assert "invalid --columns key 'params..x'" in done.stderr, done


def test_a_removed_dataset_says_so_in_the_diff(repo: Repo, cli: Any) -> None:
    repo.gen({"d.csv": "a\n1\n"})
    repo.commit("data")
    ok(cli("run", "-d", "d.csv", "--", PYTHON, "-c", "pass"))
    ok(cli("run", "--", PYTHON, "-c", "pass"))
    shown = cli("diff", "v1", "v2")
    assert shown.exit_code == 0, shown
    [row] = [line for line in shown.stdout.splitlines() if line.startswith(" d ")]
    assert "(not declared)" in row, shown.stdout


# -- the Python API in `python -c` ---------------------------------------------------------
@pytest.mark.e2e
def test_start_run_from_python_c_records_the_interpreter_and_code(repo: Repo) -> None:
    code = "import mlog\nwith mlog.start_run(note='inline'):\n    mlog.log_metric('acc', 0.5)\n"
    done = subprocess.run(
        [PYTHON, "-c", code], cwd=repo.path, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done
    shown = json.loads(mlog(repo.path, "show", "latest", "--json").stdout)
    assert shown["command"]["argv"] == [PYTHON, "-c", code], shown["command"]


# -- model cards ----------------------------------------------------------------------------
def test_the_card_names_the_evaluation_data_not_train(repo: Repo, cli: Any) -> None:
    setup_training(repo)
    repo.gen({"train.csv": "x\n1\n", "test.csv": "x\n2\n"})
    repo.commit("data")
    flags = ("-a", "model.pkl", "-m", "metrics.json", "-d", "train=train.csv")
    ok(cli("run", *flags, "--", PYTHON, "train.py", "0.9", "0"))
    card = cli("card", "latest")
    assert card.exit_code == 0, card
    assert "name: train" not in card.stdout, card.stdout
    assert "name: metrics.json" in card.stdout and "Evaluated on: metrics.json" in card.stdout
    ok(cli("run", *flags, "-d", "test=test.csv", "--", PYTHON, "train.py", "0.9", "0"))
    held_out = cli("card", "latest")
    assert "name: test" in held_out.stdout and "Evaluated on: test" in held_out.stdout
