"""Hostile input through real processes: bytes that are not UTF-8, alias bombs, symlinks."""

from __future__ import annotations

import os
import subprocess
import time
from pathlib import Path

import pytest

from mlog.storage.escape import unescape
from tests.conftest import Repo
from tests.faults._support import MLOG, PYTHON, mlog, one_line_error, records

pytestmark = pytest.mark.e2e


def test_non_utf8_bytes_in_every_channel_are_recorded_losslessly(repo: Repo) -> None:
    odd = repo.path / os.fsdecode(b"dir-\xfc")
    odd.mkdir()
    (odd / "keep").write_text("")
    repo.commit("odd dir")
    env = {**os.environ, "PYTHONODD": os.fsdecode(b"v\xfd\\x")}
    done = subprocess.run(
        [MLOG.encode(), b"run", b"--note", b"n\xff", b"--tag", b"k=t\xfe", b"--",
         b"echo", b"a\xff\\b"],
        cwd=odd, env=env, capture_output=True, timeout=60,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    [record] = records(repo)
    argv = record["command"]["argv"]
    assert os.fsencode(unescape(argv[1])) == b"a\xff\\b"
    assert os.fsencode(unescape(record["note"])) == b"n\xff"
    assert os.fsencode(unescape(record["tags"]["k"])) == b"t\xfe"
    assert os.fsencode(unescape(record["environment"]["variables"]["PYTHONODD"])) == b"v\xfd\\x"
    assert os.fsencode(unescape(record["command"]["cwd"])) == b"dir-\xfc"
    assert set(record["escaped"]) == {
        "command.argv[1]", "note", "tags.k", "environment.variables.PYTHONODD", "command.cwd"
    }  # fmt: skip
    for command in (["ls"], ["check"], ["run", "--", "true"]):
        result = mlog(repo.path, *command)
        assert result.returncode == 0, (command, result.stderr)


def test_an_unrecoverable_marker_is_quarantined_and_blocks_nothing(repo: Repo) -> None:
    pending = repo.path / ".mlog" / "cache" / "pending"
    pending.mkdir(parents=True)
    (pending / "20260101T000000000000Z-deadbeef.json").write_text("{not json")
    result = mlog(repo.path, "run", "--", "true")
    assert result.returncode == 0, result.stderr
    assert "moved to .mlog/cache/quarantine" in result.stderr
    assert not list(pending.glob("*.json"))
    assert (repo.path / ".mlog/cache/quarantine/20260101T000000000000Z-deadbeef.json").exists()
    assert mlog(repo.path, "ls").returncode == 0


BOMB = (
    "a: &a [x, x, x, x, x, x, x, x, x]\nb: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a]\n"
    "c: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b]\nd: &d [*c, *c, *c, *c, *c, *c, *c, *c, *c]\n"
    "e: &e [*d, *d, *d, *d, *d, *d, *d, *d, *d]\nf: &f [*e, *e, *e, *e, *e, *e, *e, *e, *e]\n"
    "g: [*f, *f, *f, *f, *f, *f, *f, *f, *f]\n"
)


@pytest.mark.parametrize(
    ("content", "words"),
    [
        (BOMB, "aliases expand to more than"),
        ("a: &a [1, *a]\n", "cyclic alias"),
        ('{"lr": 0.1, "lr": 0.2}', "duplicate key 'lr'"),
    ],
    ids=["alias-bomb", "cyclic-alias", "duplicate-json-key"],
)
def test_hostile_params_files_are_refused_before_the_command_starts(
    repo: Repo, content: str, words: str
) -> None:
    name = "params.json" if content.startswith("{") else "params.yaml"
    repo.gen({name: content})
    repo.commit("hostile params")
    started = time.monotonic()
    result = mlog(repo.path, "run", "-p", name, "--", "touch", "ran")
    assert time.monotonic() - started < 30
    assert result.returncode == 8, result.stderr
    assert words in one_line_error(result)
    assert not (repo.path / "ran").exists() and repo.run_ids() == []


def test_oversized_values_reported_by_the_script_are_cut_with_a_warning(repo: Repo) -> None:
    repo.gen(
        {
            "big.py": "import json, mlog\nmlog.log_params({'b': 'a' * 900_000})\n"
            "json.dump({f'm{i}': i for i in range(6_000)}, open('metrics.json', 'w'))\n",
            ".gitignore": "metrics.json\n",
        }
    )
    repo.commit("big")
    result = mlog(repo.path, "run", "-m", "metrics.json", "--", PYTHON, "big.py")
    assert result.returncode == 0, result.stderr
    assert "record size limit: params.b had 900000 characters" in result.stderr
    assert "record size limit: metrics had 6000 values" in result.stderr
    [run_id] = repo.run_ids()
    assert (repo.run_dir(run_id) / "record.yaml").stat().st_size < 4 * 1024 * 1024
    listed = mlog(repo.path, "ls", "--json")
    assert listed.returncode == 0, listed.stderr


@pytest.mark.parametrize("link", ["runs", "objects", "cache", "registry/fraud"])
def test_symlinks_under_mlog_are_never_written_through(
    repo: Repo, tmp_path: Path, link: str
) -> None:
    assert mlog(repo.path, "run", "--model", "fraud", "--", "true").returncode == 0
    outside = tmp_path / "outside"
    outside.mkdir()
    target = repo.path / ".mlog" / link
    if target.exists():
        import shutil

        shutil.rmtree(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    target.symlink_to(outside)
    repo.git("add", "-A")
    repo.git("commit", "-qm", "hostile symlink")
    command = (
        ["register", "v1", "--model", "fraud"]
        if link.startswith("registry")
        else ["run", "--model", "fraud", "--", "touch", "ran"]
    )
    result = mlog(repo.path, *command)
    assert result.returncode == 13, result.stderr
    assert "symlink" in one_line_error(result)
    assert list(outside.iterdir()) == []
    assert not (repo.path / "ran").exists()
