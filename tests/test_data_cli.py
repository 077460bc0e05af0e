"""Datasets through `mlog run`: kinds, manifests, cache, and each bad input refused early."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
import yaml

from mlog import ui
from mlog.storage.hashcache import HashCache
from mlog.storage.hashing import manifest_from_bytes
from mlog.storage.store import Store
from tests.conftest import PYTHON, Repo
from tests.test_run_errors import MARKER, TOUCH, assert_refused


def last_record(repo: Repo) -> dict:
    run_id = repo.run_ids()[-1]
    return yaml.safe_load((repo.run_dir(run_id) / "record.yaml").read_text())


def test_directory_manifest_is_stored_once_and_shared(repo: Repo, cli) -> None:
    repo.gen({".gitignore": "data/\n", "data/a.csv": "1\n", "data/b.csv": "2\n"})
    repo.commit("data")
    for _ in range(2):
        assert cli("run", "-d", "train=data", "--", PYTHON, "train.py").exit_code == 0
    first, second = (
        yaml.safe_load((repo.run_dir(i) / "record.yaml").read_text()) for i in repo.run_ids()
    )
    entry = first["data"]["train"]
    assert entry["kind"] == "directory" and entry["files"] == 2
    assert entry["manifest"] == second["data"]["train"]["manifest"]
    manifest = manifest_from_bytes(Store(repo.path).get_object(entry["manifest"]))
    assert [m.path for m in manifest] == ["a.csv", "b.csv"]


def test_glob_uri_dvc_and_window_are_recorded(repo: Repo, cli) -> None:
    repo.gen(
        {
            "shards/p1.csv": "1\n",
            "shards/p2.csv": "2\n",
            "big.dvc": "outs:\n- md5: 0123456789abcdef0123456789abcdef\n  size: 99\n  path: big\n",
        }
    )
    repo.commit("inputs")
    result = cli(
        "run",
        "-d",
        "shards=shards/*.csv",
        "-d",
        "s3://bucket/features@v42",
        "-d",
        "big.dvc",
        "--data-window",
        "2026-01-01..2026-03-31",
        "--",
        PYTHON,
        "train.py",
    )
    assert result.exit_code == 0, result
    record = last_record(repo)
    assert record["data"]["shards"]["kind"] == "glob" and record["data"]["shards"]["files"] == 2
    assert record["data"]["features"] == {
        "path": "s3://bucket/features",
        "kind": "uri",
        "hash": None,
        "version": "v42",
    }
    assert record["data"]["big"]["kind"] == "dvc"
    assert record["data"]["big"]["hash"] == "md5:0123456789abcdef0123456789abcdef"
    assert record["lineage"]["data_window"] == {"start": "2026-01-01", "end": "2026-03-31"}


def test_dataset_outside_the_repo_is_recorded_absolute_with_host(repo: Repo, cli, tmp_path) -> None:
    outside = tmp_path / "lake.csv"
    outside.write_text("x\n")
    assert cli("run", "-d", str(outside), "--", PYTHON, "train.py").exit_code == 0
    entry = last_record(repo)["data"]["lake"]
    assert entry["path"] == str(outside) and entry["host"]


def test_hash_cache_lives_in_the_local_cache(repo: Repo, cli) -> None:
    repo.gen({".gitignore": "data/\n", "data/a.csv": "1\n"})
    repo.commit("data")
    time.sleep(0.1)  # files younger than the cache's racy window (50 ms) are not cached
    assert cli("run", "-d", "data", "--rehash", "--", PYTHON, "train.py").exit_code == 0
    assert (repo.path / ".mlog/cache/hashes.sqlite").exists()


def test_an_unchanged_directory_served_by_the_cache_records_what_a_fresh_hash_does(
    repo: Repo, cli, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The tree row path builds no entry per file: its manifest, profile and hash still match."""
    served: list[bool] = []
    real_lookup = HashCache.lookup_tree

    def lookup_tree(self: HashCache, *args: Any) -> bytes | None:
        served.append(real_lookup(self, *args) is not None)
        return real_lookup(self, *args)

    monkeypatch.setattr(HashCache, "lookup_tree", lookup_tree)
    csv = "a,b\n" + "".join(f"{i},{i % 3}\n" for i in range(50))
    repo.gen({".gitignore": "data/\n", "data/t.csv": csv, "data/img/x.bin": "x", "data/R": "r"})
    repo.commit("data")
    time.sleep(0.1)  # files younger than the cache's racy window (50 ms) are not cached
    cache = repo.path / ".mlog" / "cache"
    for forget in ("", "manifests/*", "profiles/*", "", "hashes.sqlite*"):
        for path in cache.glob(forget) if forget else ():
            path.unlink()  # a note or cache lost: the entries are read from the listing
        assert cli("run", "-d", "train=data", "--", PYTHON, "train.py").exit_code == 0
    entries = [
        yaml.safe_load((repo.run_dir(i) / "record.yaml").read_text()) for i in repo.run_ids()
    ]
    first = entries[0]["data"]["train"]
    assert first["files"] == 3 and first["profile"]["rows"] == 50
    assert all(e["data"]["train"] == first for e in entries[1:])
    manifest = manifest_from_bytes(Store(repo.path).get_object(first["manifest"]))
    assert [m.path for m in manifest] == ["R", "img/x.bin", "t.csv"]
    assert served == [False, True, True, True, False]
    (repo.path / "data/img/x.bin").write_text("y")  # same size, new bytes
    assert cli("run", "-d", "train=data", "--", PYTHON, "train.py").exit_code == 0
    assert last_record(repo)["data"]["train"]["hash"] != first["hash"]


PROBE = """
import atexit, sys
atexit.register(lambda: print("LOADED", sorted(m for m in sys.modules if m.startswith("mlog.profile"))))
sys.argv = ["mlog", "run", "-d", "data", "--", sys.executable, "-c", "pass"]
from mlog.cli.entry import main
main()
"""


def test_a_dataset_without_a_table_never_loads_the_profiler(repo: Repo) -> None:
    repo.gen({".gitignore": "data/\n", "data/a.bin": "x", "data/b/c.png": "y"})
    repo.commit("data")
    done = subprocess.run([sys.executable, "-c", PROBE], cwd=repo.path, capture_output=True,
                          text=True, check=False)  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines()[-1] == "LOADED ['mlog.profile', 'mlog.profile.formats']"
    assert last_record(repo)["data"]["data"]["files"] == 2


def test_escaping_path_is_refused(repo: Repo, cli) -> None:
    result = cli("run", "-d", "../../etc", "--", PYTHON, "-c", TOUCH)
    assert result.exit_code == 10, result
    assert not (repo.path / MARKER).exists() and repo.run_ids() == []


def test_symlink_in_dataset_is_refused_unless_followed(repo: Repo, cli) -> None:
    repo.gen({".gitignore": "data/\n", "data/a.csv": "1\n"})
    repo.commit("data")
    os.symlink("a.csv", repo.path / "data/link.csv")
    result = cli("run", "-d", "data", "--", PYTHON, "-c", TOUCH)
    assert_refused(repo, result, 10, "link.csv", "--follow-symlinks")
    assert cli("run", "-d", "data", "--follow-symlinks", "--", PYTHON, "train.py").exit_code == 0
    assert last_record(repo)["data"]["data"]["symlinks"] == [
        {"path": "link.csv", "target": "a.csv"}
    ]


def test_symlink_loop_never_hangs(repo: Repo, cli) -> None:
    repo.gen({".gitignore": "data/\n", "data/a.csv": "1\n"})
    repo.commit("data")
    os.symlink("..", repo.path / "data/loop")
    result = cli("run", "-d", "data", "--follow-symlinks", "--", PYTHON, "-c", TOUCH)
    assert_refused(repo, result, 10)


def test_duplicate_dataset_names_are_refused(repo: Repo, cli) -> None:
    repo.gen({"a/train.csv": "1\n", "b/train.csv": "2\n"})
    repo.commit("two trains")
    result = cli("run", "-d", "a/train.csv", "-d", "b/train.csv", "--", PYTHON, "-c", TOUCH)
    assert_refused(repo, result, 2, "NAME=PATH")


@pytest.mark.skipif(os.geteuid() == 0, reason="root can read any file")
def test_unreadable_dataset_is_refused(repo: Repo, cli) -> None:
    repo.gen({".gitignore": "data/\n", "data/a.csv": "1\n"})
    repo.commit("data")
    (repo.path / "data/a.csv").chmod(0)
    assert_refused(repo, cli("run", "-d", "data", "--", PYTHON, "-c", TOUCH), 10, "a.csv")


def test_hash_progress_reports_after_its_delay(monkeypatch) -> None:
    progress = ui.HashProgress()
    monkeypatch.setattr(ui.HashProgress, "DELAY_S", 0.0)
    progress.on_total(2, 200)
    progress.on_progress(1, 100)
    assert progress._bar is not None
    progress.on_progress(2, 200)
    assert progress._bar is None


def test_hash_progress_is_silent_off_a_terminal() -> None:
    assert ui.HashProgress.for_terminal() is None  # pytest captures stderr: not a TTY


def test_unknown_path_in_dataset_error_names_it(repo: Repo, cli) -> None:
    result = cli("run", "-d", "train=data/missing", "--", PYTHON, "-c", TOUCH)
    assert_refused(repo, result, 10, "data/missing")
    assert Path(repo.path / ".mlog/cache/pending").exists() is False or not any(
        (repo.path / ".mlog/cache/pending").iterdir()
    )


def test_an_unchanged_dataset_reuses_its_manifest_object(
    repo: Any, cli: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from mlog.storage import hashing

    repo.gen({f"data/part-{i}.csv": f"x\n{i}\n" for i in range(5)})
    repo.commit("data")
    built: list[int] = []
    original = hashing.manifest_to_bytes

    def counting(entries: Any) -> bytes:
        built.append(1)
        return original(entries)

    monkeypatch.setattr(hashing, "manifest_to_bytes", counting)
    for _ in range(2):
        assert cli("run", "-d", "data", "--", sys.executable, "-c", "pass").exit_code == 0
    assert len(built) == 1, "the second run serialised the same manifest again"
    first, second = (json.loads(cli("show", ref, "--json").stdout) for ref in ("v1", "v2"))
    assert first["data"]["data"]["manifest"] == second["data"]["data"]["manifest"]
    for obj in (repo.path / ".mlog" / "objects").rglob("*"):
        if obj.is_file():
            obj.unlink()  # a note naming a missing object is not trusted
    assert cli("run", "-d", "data", "--", sys.executable, "-c", "pass").exit_code == 0
    assert len(built) == 2
