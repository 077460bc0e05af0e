"""Regression tests of issue 12 that run in-process: escaping, limits, redaction shapes,
NaN metrics, dubious ownership and mistyped options. The process-level campaign is in
``tests/faults/``."""

from __future__ import annotations

import math
import os
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from mlog.errors import RecordError
from mlog.storage import limits, yamlio
from mlog.storage.escape import escape, escape_tree, needs_escape, unescape
from mlog.storage.redact import REDACTED, redact_record, redact_text
from tests.conftest import PYTHON, Repo


# -- 1. text that is not UTF-8 -------------------------------------------------------------
@given(st.binary(max_size=40))
def test_escaping_is_lossless_for_any_bytes(raw: bytes) -> None:
    text = raw.decode("utf-8", "surrogateescape")
    stored = escape(text) if needs_escape(text) else text
    stored.encode("utf-8")  # always writable
    assert (unescape(stored) if needs_escape(text) else stored) == text


def test_escape_tree_names_every_escaped_value_and_key() -> None:
    tree, paths = escape_tree({"a": ["ok", "x\udcff"], "k\udcfe": "v"})
    assert tree == {"a": ["ok", "x\\xff"], "k\\xfe": "v"}
    assert paths == ["a[1]", "k\\xfe"]


# -- 2. bounded records --------------------------------------------------------------------
def test_yaml_alias_bomb_and_cycle_are_refused_with_one_line() -> None:
    bomb = "a: &a [1, 1, 1, 1, 1, 1, 1, 1, 1, 1]\n" + "".join(
        f"{n}: &{n} [{', '.join([f'*{p}'] * 10)}]\n" for p, n in zip("abcde", "bcdef", strict=True)
    )
    with pytest.raises(RecordError, match="aliases expand to more than"):
        yamlio.loads(bomb)
    with pytest.raises(RecordError, match="cyclic alias"):
        yamlio.loads("a: &x {b: *x}\n")
    assert yamlio.loads("a: &x [1]\nb: *x\n") == {"a": [1], "b": [1]}


def test_sections_are_cut_with_named_warnings_and_the_total_is_bounded() -> None:
    record: dict[str, Any] = {
        "params": {"b": "a" * (limits.MAX_VALUE_CHARS + 5)},
        "metrics": {f"m{i}": i for i in range(limits.MAX_KEYS + 1)},
        "warnings": [],
    }
    warned = limits.bound_record(record, lambda r: len(str(r)))
    assert len(record["metrics"]) == limits.MAX_KEYS
    assert record["params"]["b"].endswith(limits.TRUNCATED)
    assert len(record["params"]["b"]) == limits.MAX_VALUE_CHARS
    assert limits.bound_record(record, lambda r: 1) == []  # a cut value is never cut again
    assert any("params.b" in w for w in warned) and any("metrics had" in w for w in warned)
    huge = {"params": {"x": "y"}, "data": {"d": "z" * 100}, "warnings": []}
    warned = limits.bound_record(huge, lambda r: 10 * limits.MAX_RECORD_BYTES if r["data"] else 1)
    assert huge["data"] == {} and "section data was dropped" in warned[0]


def test_too_many_params_in_files_are_refused_before_the_start(repo: Repo, cli: Any) -> None:
    repo.gen({"big.yaml": "".join(f"p{i}: {i}\n" for i in range(limits.MAX_KEYS + 1))})
    repo.commit("big params")
    result = cli("run", "-p", "big.yaml", "--", "touch", "ran")
    assert result.exit_code == 8, result
    assert "params too large to record" in result.stderr
    assert not (repo.path / "ran").exists()


def test_an_oversized_note_is_refused_before_the_start(repo: Repo, cli: Any) -> None:
    result = cli("run", "--note", "n" * (limits.MAX_VALUE_CHARS + 1), "--", "touch", "ran")
    assert result.exit_code == 2, result
    assert "too large to record: --note" in result.stderr
    assert not (repo.path / "ran").exists()


# -- 6. NaN and infinities -------------------------------------------------------------------
def test_nan_and_inf_from_the_python_api_are_stored_as_numbers(repo: Repo, cli: Any) -> None:
    repo.gen({"nan.py": "import mlog\nmlog.log_metric('loss', float('nan'))\n"
              "mlog.log_metric('gain', float('inf'), step=1)\n"
              "mlog.log_param('eps', float('-inf'))\n"})  # fmt: skip
    repo.commit("nan")
    result = cli("run", "--", PYTHON, "nan.py")
    assert result.exit_code == 0, result
    [run_id] = repo.run_ids()
    text = (repo.run_dir(run_id) / "record.yaml").read_text()
    assert "loss: .nan" in text and "gain: .inf" in text and "eps: -.inf" in text
    record = yamlio.loads(text)
    assert math.isnan(record["metrics"]["loss"]) and record["metrics"]["gain"] == math.inf
    assert cli("validate").exit_code == 0


# -- 8. redaction ----------------------------------------------------------------------------
@pytest.mark.parametrize(
    "secret",
    [
        "ghp_0123456789abcdefghijABCDEFGHIJ012345",
        "github_pat_11ABCDEFG0123456789_abcdefghijklmnop",
        "AKIAIOSFODNN7EXAMPLE",
        "sk-proj-0123456789abcdefghijklmn",
        "xoxb-123456789012-abcdefABCDEF",
        "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0In0.dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U",
    ],
)
def test_token_shaped_values_are_redacted_whatever_their_name(secret: str) -> None:
    assert redact_text(f"value {secret} end") == f"value {REDACTED} end"


@pytest.mark.parametrize(
    ("text", "kept"),
    [
        ("Authorization: Bearer abcdef123456", "Authorization:"),
        ("+api_key: abc123\n", "+api_key: "),
        ('"password": "hunter2",', '"password": "'),
        ("DB_PASSWORD=hunter2", "DB_PASSWORD="),
    ],
)
def test_secret_assignments_in_free_text_are_redacted(text: str, kept: str) -> None:
    redacted = redact_text(text)
    assert REDACTED in redacted and redacted.startswith(kept)
    assert "hunter2" not in redacted and "abc123" not in redacted


@pytest.mark.parametrize(
    "text", ["key_dim: 64", "task-abcdefghijklmnopqrstuvwxyz", "use_auth_token: true", "sk-short"]
)
def test_innocent_text_is_left_alone(text: str) -> None:
    assert redact_text(text) == text


def test_redactions_name_every_place_including_ones_redacted_on_capture() -> None:
    record = redact_record(
        {
            "note": "see https://u:p@h/x",
            "code": {"remote": "https://[REDACTED]@github.com/o/r"},
            "environment": {"variables": {"HF_TOKEN": REDACTED, "OMP_NUM_THREADS": "4"}},
            "params": {"endpoint": "https://u:p@db/x"},
            "metrics": {"db_password": 3, "auc": 0.9},
            "series": {"db_password": {"steps": 1, "min": 1, "max": 1, "last": 1}},
        }
    )
    assert record["redactions"] == [
        "code.remote", "environment.variables.HF_TOKEN", "metrics.db_password", "note",
        "params.endpoint", "series.db_password",
    ]  # fmt: skip
    assert record["metrics"] == {"db_password": REDACTED, "auc": 0.9}
    assert record["series"]["db_password"]["last"] is None


def test_the_command_receives_its_secrets_while_the_record_hides_them(repo: Repo, cli: Any) -> None:
    repo.gen({"echo.py": "import sys, pathlib\npathlib.Path('got').write_text(sys.argv[2])\n",
              ".gitignore": "got\n"})  # fmt: skip
    repo.commit("echo")
    result = cli("run", "--", PYTHON, "echo.py", "--password", "hunter2")
    assert result.exit_code == 0, result
    assert (repo.path / "got").read_text() == "hunter2"
    [run_id] = repo.run_ids()
    assert "hunter2" not in (repo.run_dir(run_id) / "record.yaml").read_text()


# -- 9. dubious ownership --------------------------------------------------------------------
@pytest.mark.parametrize(
    "command",
    [["run", "--", "true"], ["check"], ["register", "v1", "--model", "m"], ["ls"]],
    ids=["run", "check", "register", "ls"],
)
def test_a_repository_of_another_user_gets_gits_own_message(
    repo: Repo, cli: Any, command: list[str]
) -> None:
    assert cli("run", "--", "true").exit_code == 0
    result = cli(*command, env={"GIT_TEST_ASSUME_DIFFERENT_OWNER": "1"})
    assert result.exit_code == 4, result
    assert result.stderr.count("error:") == 1 and "Traceback" not in result.stderr
    assert "detected dubious ownership in repository at" in result.stderr
    assert "safe.directory" in result.stderr
    config = Path(os.environ["HOME"]) / ".gitconfig"
    assert not config.exists() or "safe" not in config.read_text()


# -- 10. mistyped options ---------------------------------------------------------------------
@pytest.mark.parametrize(
    ("typed", "suggested"),
    [("--alow-dirty", "--allow-dirty"), ("--metric", "--metrics"), ("--nte=x", "--note")],
)
def test_a_mistyped_mlog_option_is_named_with_the_closest_one(
    repo: Repo, cli: Any, typed: str, suggested: str
) -> None:
    result = cli("run", typed, "--", PYTHON, "train.py")
    assert result.exit_code == 2, result
    assert f"unknown mlog run option: {typed.partition('=')[0]}" in result.stderr
    assert f"did you mean {suggested}?" in result.stderr
    assert repo.run_ids() == []


def test_an_unknown_option_far_from_any_is_still_named(repo: Repo, cli: Any) -> None:
    result = cli("run", "--zzzzzz", "--", "true")
    assert result.exit_code == 2, result
    assert "unknown mlog run option: --zzzzzz (see `mlog run --help`" in result.stderr
