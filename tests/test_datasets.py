"""Declarations to record entries: names, paths, pointers, URIs, artifacts."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest
import xxhash

from mlog.capture.datasets import (
    default_name,
    parse_declaration,
    resolve_artifact,
    resolve_dataset,
    resolve_datasets,
    split_uri_version,
)
from mlog.errors import DataError, UsageError
from mlog.storage.hashing import Hasher


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    root = tmp_path / "repo"
    (root / "data" / "images").mkdir(parents=True)
    (root / "data" / "train.csv").write_text("a,b\n1,2\n")
    (root / "data" / "test.csv").write_text("a,b\n3,4\n")
    (root / "data" / "images" / "0.png").write_bytes(b"\x89PNG0")
    (root / "src").mkdir()
    return root


def resolve(repo: Path, text: str, cwd: Path | None = None) -> dict[str, object]:
    entry = resolve_dataset(text, repo_root=str(repo), cwd=str(cwd or repo))
    return entry.to_record()


@pytest.mark.parametrize(
    ("target", "name"),
    [
        ("data/train.csv", "train"),
        ("data/images/", "images"),
        ("data/*.csv", "data"),
        ("s3://bucket/prefix/raw.parquet@v3", "raw"),
        ("my data/x y.tar.gz", "x_y"),
        ("-weird", "_weird"),
    ],
)
def test_default_name(target: str, name: str) -> None:
    assert default_name(target) == name


def test_parse_declaration() -> None:
    assert parse_declaration("train=data/x.csv").name == "train"
    assert parse_declaration("data/a=b.csv").name is None
    assert parse_declaration("s3://b/x?a=b").name is None
    with pytest.raises(UsageError):
        parse_declaration("train=")


def test_file_entry(repo: Path) -> None:
    record = resolve(repo, "data/train.csv")
    digest = "xxh3_128:" + xxhash.xxh3_128(b"a,b\n1,2\n").hexdigest()
    assert record == {
        "path": "data/train.csv",
        "kind": "file",
        "hash": digest,
        "size": 8,
        "files": 1,
    }


def test_directory_and_glob_entries(repo: Path) -> None:
    directory = resolve_dataset("data/", repo_root=str(repo), cwd=str(repo))
    assert (directory.kind, directory.path, directory.files) == ("directory", "data", 3)
    assert [m.path for m in directory.manifest] == ["images/0.png", "test.csv", "train.csv"]
    glob = resolve_dataset("data/*.csv", repo_root=str(repo), cwd=str(repo))
    assert (glob.kind, glob.files, glob.size) == ("glob", 2, 16)
    assert [m.path for m in glob.manifest] == ["data/test.csv", "data/train.csv"]


def test_relative_to_cwd_recorded_relative_to_repo(repo: Path) -> None:
    assert resolve(repo, "../data/train.csv", cwd=repo / "src")["path"] == "data/train.csv"


def test_escaping_the_repo_is_refused(repo: Path) -> None:
    (repo.parent / "outside.csv").write_text("x")
    with pytest.raises(DataError, match="escapes the repository"):
        resolve(repo, "../outside.csv")


def test_absolute_outside_repo_allowed_with_host(repo: Path) -> None:
    outside = repo.parent / "shared.csv"
    outside.write_text("x")
    record = resolve(repo, str(outside))
    assert (record["path"], record["host"], record["kind"]) == (
        str(outside),
        socket.gethostname(),
        "file",
    )


def test_missing_dataset(repo: Path) -> None:
    with pytest.raises(DataError, match="not found"):
        resolve(repo, "data/nope.csv")


def test_symlinked_parent_refused(repo: Path) -> None:
    (repo / "alias").symlink_to(repo / "data")
    with pytest.raises(DataError, match="symlink"):
        resolve(repo, "alias/train.csv")
    hasher = Hasher(follow_symlinks=True)
    entry = resolve_dataset("alias/train.csv", repo_root=str(repo), cwd=str(repo), hasher=hasher)
    assert entry.files == 1


def test_uri_and_version() -> None:
    plain = resolve_dataset("s3://bucket/prefix", repo_root="/r", cwd="/r").to_record()
    assert plain == {"path": "s3://bucket/prefix", "kind": "uri", "hash": None, "version": None}
    pinned = resolve_dataset("hf://datasets/imdb@v1.2", repo_root="/r", cwd="/r").to_record()
    assert (pinned["path"], pinned["version"]) == ("hf://datasets/imdb", "v1.2")
    assert split_uri_version("https://user@host/path") == ("https://user@host/path", None)
    secret = resolve_dataset("https://u:pw@host/x", repo_root="/r", cwd="/r").to_record()
    assert secret["path"] == "https://[REDACTED]@host/x"


def test_dvc_file_pointer(repo: Path) -> None:
    (repo / "data" / "images.dvc").write_text(
        "outs:\n- md5: 0123456789abcdef0123456789abcdef.dir\n  size: 5000\n"
        "  nfiles: 12\n  path: images\n"
    )
    record = resolve(repo, "data/images.dvc")
    assert record == {
        "path": "data/images.dvc",
        "kind": "dvc",
        "hash": "md5:0123456789abcdef0123456789abcdef",
        "size": 5000,
        "files": 12,
        "directory": True,
    }


def test_dvc_lock_pointer_without_reading_data(repo: Path) -> None:
    (repo / "dvc.lock").write_text(
        "schema: '2.0'\nstages:\n  prepare:\n    cmd: python prep.py\n    outs:\n"
        "    - path: data/prepared.csv\n      md5: ffffffffffffffffffffffffffffffff\n"
        "      size: 42\n"
    )
    record = resolve(repo, "data/prepared.csv")  # the data is not even present
    assert record["kind"] == "dvc-lock"
    assert (record["hash"], record["size"], record["files"], record["directory"]) == (
        "md5:" + "f" * 32,
        42,
        1,
        False,
    )


def test_lfs_pointer(repo: Path) -> None:
    oid = "a" * 64
    (repo / "model.bin").write_text(
        f"version https://git-lfs.github.com/spec/v1\noid sha256:{oid}\nsize 123456\n"
    )
    record = resolve(repo, "model.bin")
    assert record == {
        "path": "model.bin",
        "kind": "lfs",
        "hash": f"sha256:{oid}",
        "size": 123456,
        "files": 1,
    }


def test_duplicate_names_are_a_usage_error(repo: Path) -> None:
    with pytest.raises(UsageError, match=r"both named 'train'.*NAME=PATH"):
        resolve_datasets(["data/train.csv", "other/train.csv"], repo_root=str(repo), cwd=str(repo))
    entries = resolve_datasets(
        ["data/train.csv", "t2=data/test.csv"], repo_root=str(repo), cwd=str(repo)
    )
    assert list(entries) == ["train", "t2"]


def test_artifact_inside_repo(repo: Path) -> None:
    (repo / "model.pt").write_bytes(b"weights")
    record = resolve_artifact("model.pt", repo_root=str(repo), cwd=str(repo)).to_record()
    assert (record["kind"], record["present"], record["size"]) == ("file", True, 7)
    missing = resolve_artifact("model.onnx", repo_root=str(repo), cwd=str(repo)).to_record()
    assert missing == {"path": "model.onnx", "present": False, "hash": None}


def test_artifact_outside_repo_refused(repo: Path) -> None:
    outside = repo.parent / "model.pt"
    outside.write_bytes(b"w")
    with pytest.raises(DataError, match="outside the repository"):
        resolve_artifact(str(outside), repo_root=str(repo), cwd=str(repo))
    with pytest.raises(DataError, match="escapes"):
        resolve_artifact("../model.pt", repo_root=str(repo), cwd=str(repo))
    with pytest.raises(DataError, match="URI"):
        resolve_artifact("s3://b/model.pt", repo_root=str(repo), cwd=str(repo))
