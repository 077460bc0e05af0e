"""Hand-edited and hostile YAML: rejected with a clear message, never a hang or a crash."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from tests.conftest import Repo

PYTHON = sys.executable
RUN_DIR = ".mlog/runs/20261123T150102123456Z-1a2b3c4d"
BOMB_LEVELS = "".join(
    f"{chr(98 + i)}: &{chr(98 + i)} [{', '.join([f'*{chr(97 + i)}'] * 9)}]\n" for i in range(8)
)
ALIAS_BOMB = "a: &a [lol, lol, lol, lol, lol, lol, lol, lol, lol]\n" + BOMB_LEVELS + "i2: *i\n"

# name -> (bytes of a hand-edited record, what the one-line error must say)
ATTACKS: dict[str, tuple[bytes, str]] = {
    "duplicate-key": (b"schema_version: 1\nid: x\nstatus: succeeded\nstatus: failed\n",
                      "duplicate key 'status' (line 4, column 1)"),
    "alias-bomb": (("schema_version: 1\n" + ALIAS_BOMB).encode(),
                   "aliases are not allowed here"),
    "python-tag": (b"schema_version: 1\nid: !!python/object/apply:os.system ['touch pwned']\n",
                   "could not determine a constructor for the tag"),
    "bom": (b"\xef\xbb\xbfschema_version: 1\n",
            "starts with a byte-order mark (save it as plain UTF-8)"),
    "invalid-utf8": (b"schema_version: 1\nnote: caf\xe9\n", "not valid UTF-8 (byte 27)"),
}  # fmt: skip


def plant(repo: Repo, name: str, content: bytes) -> str:
    """A record file under its own run directory, as a hand edit would leave it."""
    relative = f"{RUN_DIR[:-8]}{name.encode().hex()[:8]:0<8}/record.yaml"
    path = repo.path / relative
    path.parent.mkdir(parents=True)
    path.write_bytes(content)
    return relative


@pytest.mark.parametrize("name", sorted(ATTACKS))
def test_validate_rejects_hostile_yaml(repo: Repo, cli: Any, name: str) -> None:
    content, expected = ATTACKS[name]
    relative = plant(repo, name, content)
    result = cli("validate", relative)
    assert result.exit_code == 9, result
    assert f"error: {relative}: " in result.stderr and expected in result.stderr, result
    assert "Traceback" not in result.stderr + result.stdout, result
    assert not (repo.path / "pwned").exists()


@pytest.mark.parametrize("name", sorted(ATTACKS))
def test_hook_rejects_hostile_yaml(repo: Repo, cli: Any, name: str) -> None:
    content, expected = ATTACKS[name]
    relative = plant(repo, name, content)
    result = cli("hook", "validate", relative)
    assert result.exit_code == 1, result
    assert f"error: {relative}: " in result.stderr and expected in result.stderr, result
    assert "commit refused" in result.stderr, result


def test_check_reports_every_hostile_record_in_one_pass(repo: Repo, cli: Any) -> None:
    planted = [plant(repo, name, content) for name, (content, _) in sorted(ATTACKS.items())]
    result = cli("check", "--format", "github")
    assert result.exit_code == 1, result
    for relative in planted:
        assert f"::error file={relative},title=mlog schema::" in result.stdout, result


def test_installed_mlog_does_not_hang_on_an_alias_bomb(repo: Repo) -> None:
    """A separate process with a deadline: an alias bomb must fail fast, not expand."""
    relative = plant(repo, "alias-bomb", ATTACKS["alias-bomb"][0])
    mlog = Path(PYTHON).with_name("mlog")
    done = subprocess.run(
        [str(mlog), "hook", "validate", relative],
        cwd=repo.path, capture_output=True, text=True, timeout=60, env=dict(os.environ),
    )  # fmt: skip
    assert done.returncode == 1, done
    assert "aliases are not allowed here" in done.stderr, done


def test_config_alias_bomb_is_rejected_without_expanding(repo: Repo, cli: Any) -> None:
    config = repo.path / ".mlog/config.yaml"
    config.write_text("schema_version: 1\n" + ALIAS_BOMB.replace("i2: *i", "tags: *i"))
    result = cli("validate", ".mlog/config.yaml")
    assert result.exit_code == 9, result
    assert "aliases expand to more than 100000 values (a YAML alias bomb?)" in result.stderr


def test_edited_record_id_must_match_its_directory(repo: Repo, cli: Any) -> None:
    result = cli("run", "--", PYTHON, "train.py")
    assert result.exit_code == 0, result
    (run_id,) = repo.run_ids()
    source = repo.run_dir(run_id)
    copy = source.with_name(run_id[:-8] + "00000000")
    copy.mkdir()
    (copy / "record.yaml").write_bytes((source / "record.yaml").read_bytes())
    result = cli("check", "--json")
    assert result.exit_code == 1, result
    assert f"id {run_id} does not match its directory {copy.name}" in result.stdout, result
