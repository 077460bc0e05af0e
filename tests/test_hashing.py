"""The hashing engine on real files: documented algorithm, safety, manifests."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import Any

import pytest
import xxhash
from hypothesis import given
from hypothesis import strategies as st

from mlog.errors import DataError
from mlog.storage import hashing
from mlog.storage.hashing import (
    Hasher,
    ManifestEntry,
    diff_manifests,
    hash_directory,
    hash_file,
    hash_glob,
    manifest_from_bytes,
    manifest_to_bytes,
    parse_digest,
)


def write(root: Path, files: dict[str, bytes]) -> None:
    for rel, data in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)


def documented_tree_hash(root: Path) -> str:
    """The recipe of docs/record-format.md ("How data and artifacts are hashed"), written independently of mlog."""
    lines = []
    for dirpath, _dirs, names in os.walk(os.fsencode(root)):
        for name in names:
            full = os.path.join(dirpath, name)
            rel = os.path.relpath(full, os.fsencode(root))
            data = Path(os.fsdecode(full)).read_bytes()
            digest = "xxh3_128:" + xxhash.xxh3_128(data).hexdigest()
            lines.append(rel + b"\0" + str(len(data)).encode() + b"\0" + digest.encode() + b"\n")
    return "xxh3_128:" + xxhash.xxh3_128(b"".join(sorted(lines))).hexdigest()


def test_file_digest_is_xxh3_128_of_content(tmp_path: Path) -> None:
    (tmp_path / "a.csv").write_bytes(b"x,y\n1,2\n")
    assert hash_file(tmp_path / "a.csv") == "xxh3_128:" + xxhash.xxh3_128(b"x,y\n1,2\n").hexdigest()


def test_sha256_is_pluggable(tmp_path: Path) -> None:
    (tmp_path / "a").write_bytes(b"abc")
    assert hash_file(tmp_path / "a", "sha256") == "sha256:" + hashlib.sha256(b"abc").hexdigest()
    with pytest.raises(DataError, match="unknown hash algorithm"):
        hash_file(tmp_path / "a", "crc7")


def test_multi_buffer_file_matches_plain_hash(tmp_path: Path) -> None:
    data = os.urandom(1 << 20) * 3 + b"tail"  # several 1 MiB buffers and a partial one
    (tmp_path / "big").write_bytes(data)
    expected = "xxh3_128:" + xxhash.xxh3_128(data).hexdigest()
    assert Hasher(workers=2).hash_file(tmp_path / "big") == expected
    assert Hasher(workers=1).hash_file(tmp_path / "big") == expected


def test_parse_digest() -> None:
    parsed = parse_digest("xxh3_128:" + "0" * 32)
    assert (parsed.algorithm, str(parsed)) == ("xxh3_128", "xxh3_128:" + "0" * 32)
    for bad in ("xxh3_128:abc", "nohex", "sha256:" + "G" * 64, ":00"):
        with pytest.raises(DataError, match="malformed digest"):
            parse_digest(bad)


def test_directory_hash_follows_documented_formula(tmp_path: Path) -> None:
    names = {
        "train.csv": b"a,b\n1,2\n",
        "with space.txt": b"s",
        "new\nline.txt": b"n",
        "ünï/cødé.bin": b"\x00\x01",
        "sub/deeper/x": b"",
    }
    write(tmp_path / "d", names)
    tree = hash_directory(tmp_path / "d")
    assert tree.digest == documented_tree_hash(tmp_path / "d")
    assert (tree.files, tree.size) == (5, sum(len(v) for v in names.values()))
    assert [e.path for e in tree.entries] == sorted(names, key=os.fsencode)


def test_non_utf8_name(tmp_path: Path) -> None:
    (tmp_path / "d").mkdir()
    raw = os.path.join(os.fsencode(tmp_path / "d"), b"caf\xe9.csv")
    with open(raw, "wb") as fh:
        fh.write(b"1")
    tree = hash_directory(tmp_path / "d")
    assert tree.digest == documented_tree_hash(tmp_path / "d")
    assert manifest_from_bytes(manifest_to_bytes(tree.entries)) == list(tree.entries)


def test_stable_and_sensitive_to_one_row(tmp_path: Path) -> None:
    rows = "".join(f"{i},{i * i}\n" for i in range(1000))
    write(tmp_path / "d", {"a.csv": rows.encode(), "b.csv": b"z"})
    first = hash_directory(tmp_path / "d").digest
    assert hash_directory(tmp_path / "d").digest == first
    (tmp_path / "d" / "a.csv").write_text(rows.replace("500,250000", "500,250001"))
    assert hash_directory(tmp_path / "d").digest != first


def test_empty_directory(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    tree = hash_directory(tmp_path / "empty")
    assert (tree.digest, tree.files, tree.size) == (
        "xxh3_128:" + xxhash.xxh3_128(b"").hexdigest(),
        0,
        0,
    )


def test_glob_relative_to_root(tmp_path: Path) -> None:
    write(tmp_path, {"data/a.csv": b"1", "data/b.csv": b"2", "data/c.txt": b"3"})
    write(tmp_path, {"data/x/y/z.parquet": b"4", "data/.hidden.csv": b"5"})
    tree = hash_glob(tmp_path, "data/*.csv")
    assert [e.path for e in tree.entries] == ["data/a.csv", "data/b.csv"]
    deep = hash_glob(tmp_path, "data/**/*.parquet")
    assert [e.path for e in deep.entries] == ["data/x/y/z.parquet"]
    with pytest.raises(DataError, match="matched no files"):
        hash_glob(tmp_path, "data/*.json")
    with pytest.raises(DataError, match="relative"):
        hash_glob(tmp_path, "../*.csv")


def test_missing_path(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="not found"):
        hash_file(tmp_path / "nope")


def test_symlink_refused_by_default(tmp_path: Path) -> None:
    write(tmp_path, {"real/a": b"1", "d/b": b"2"})
    (tmp_path / "d" / "link").symlink_to(tmp_path / "real")
    with pytest.raises(DataError, match=r"symlink in dataset: .*link.*--follow-symlinks"):
        hash_directory(tmp_path / "d")
    (tmp_path / "top").symlink_to(tmp_path / "real")
    with pytest.raises(DataError, match="dataset path is a symlink"):
        hash_directory(tmp_path / "top")


def test_symlink_followed_and_recorded(tmp_path: Path) -> None:
    write(tmp_path, {"real/a": b"1", "d/b": b"2"})
    (tmp_path / "d" / "link").symlink_to(tmp_path / "real")
    tree = hash_directory(tmp_path / "d", follow_symlinks=True)
    assert [e.path for e in tree.entries] == ["b", "link/a"]
    assert [(s.path, s.target) for s in tree.symlinks] == [("link", str(tmp_path / "real"))]


def test_symlink_loop_is_an_error_not_a_hang(tmp_path: Path) -> None:
    write(tmp_path, {"d/sub/a": b"1"})
    (tmp_path / "d" / "sub" / "loop").symlink_to("..")
    with pytest.raises(DataError, match="symlink loop"):
        hash_directory(tmp_path / "d", follow_symlinks=True)


def test_fifo_refused(tmp_path: Path) -> None:
    (tmp_path / "d").mkdir()
    os.mkfifo(tmp_path / "d" / "pipe")
    with pytest.raises(DataError, match="not a regular file"):
        hash_directory(tmp_path / "d")


@pytest.mark.skipif(os.geteuid() == 0, reason="root can read any file")
def test_unreadable_file_is_named(tmp_path: Path) -> None:
    write(tmp_path, {"d/secret": b"x"})
    (tmp_path / "d" / "secret").chmod(0)
    try:
        with pytest.raises(DataError, match="secret"):
            hash_directory(tmp_path / "d")
    finally:
        (tmp_path / "d" / "secret").chmod(0o644)


def _write_after_each_read(monkeypatch: pytest.MonkeyPatch, write: Any) -> None:
    """A writer that touches each file right after mlog read it, before the stat check."""
    original = hashing.Hasher._read_fd

    def read_then_write(self: Hasher, fd: int, item: Any, view: memoryview) -> Any:
        found = original(self, fd, item, view)
        write(item.abspath)
        return found

    monkeypatch.setattr(hashing.Hasher, "_read_fd", read_then_write)


def test_file_changing_while_hashed_is_detected(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write(tmp_path, {"d/a": b"1" * 100, "d/b": b"2"})
    hasher = Hasher()

    def append(path: str) -> None:
        if path.endswith("a"):
            with open(path, "ab") as fh:
                fh.write(b"more")

    _write_after_each_read(monkeypatch, append)
    with pytest.raises(DataError, match=r"unstable input: .*a changed while it was hashed"):
        hasher.hash_directory(tmp_path / "d")


def test_progress_reports_totals_and_done(tmp_path: Path) -> None:
    write(tmp_path, {f"d/{i}": b"x" * i for i in range(10)})
    seen: list[tuple[int, int]] = []
    totals: list[tuple[int, int]] = []
    Hasher(
        on_progress=lambda f, b: seen.append((f, b)), on_total=lambda f, b: totals.append((f, b))
    ).hash_directory(tmp_path / "d")
    assert totals == [(10, 45)]
    assert seen[-1] == (10, 45)


def test_many_files_parallel_matches_sequential(tmp_path: Path) -> None:
    write(tmp_path, {f"d/{i:03d}": os.urandom(200_000) for i in range(60)})
    assert Hasher(workers=2).hash_directory(tmp_path / "d") == Hasher(workers=1).hash_directory(
        tmp_path / "d"
    )


# ---------------------------------------------------------------- manifests

entries_strategy = st.dictionaries(
    st.text(min_size=1, max_size=20).filter(lambda s: "\0" not in s),
    st.tuples(st.integers(0, 2**40), st.sampled_from(["xxh3_128:" + c * 32 for c in "0af"])),
    max_size=20,
).map(lambda d: [ManifestEntry(p, s, h) for p, (s, h) in d.items()])


@given(entries_strategy)
def test_manifest_round_trip(entries: list[ManifestEntry]) -> None:
    blob = manifest_to_bytes(entries)
    assert manifest_to_bytes(entries) == blob
    assert sorted(manifest_from_bytes(blob)) == sorted(entries)


@given(entries_strategy)
def test_diff_of_identical_manifests_is_empty(entries: list[ManifestEntry]) -> None:
    diff = diff_manifests(entries, list(reversed(entries)))
    assert diff.empty and diff.bytes_changed == 0


@given(entries_strategy, entries_strategy)
def test_diff_mirrors(a: list[ManifestEntry], b: list[ManifestEntry]) -> None:
    forward, backward = diff_manifests(a, b), diff_manifests(b, a)
    assert forward.added == backward.removed and forward.removed == backward.added
    assert forward.modified == backward.modified
    assert forward.bytes_changed == backward.bytes_changed


def test_diff_reports_paths_and_bytes() -> None:
    old = [
        ManifestEntry("a", 10, "h:1"),
        ManifestEntry("b", 5, "h:2"),
        ManifestEntry("c", 1, "h:3"),
    ]
    new = [
        ManifestEntry("a", 12, "h:9"),
        ManifestEntry("c", 1, "h:3"),
        ManifestEntry("d", 7, "h:4"),
    ]
    diff = diff_manifests(old, new)
    assert (diff.added, diff.removed, diff.modified) == (("d",), ("b",), ("a",))
    assert diff.bytes_changed == 7 + 5 + 12


def test_corrupt_manifest() -> None:
    with pytest.raises(DataError, match="corrupt manifest"):
        manifest_from_bytes(b"not gzip")


def test_large_files_take_the_mapped_path_with_the_same_digest(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    big = tmp_path / "big.bin"
    block = bytes(range(256)) * 4096
    with open(big, "wb") as handle:
        for _ in range(hashing.MAP_MIN_BYTES // len(block) + 3):
            handle.write(block)
    expected = "xxh3_128:" + xxhash.xxh3_128(big.read_bytes()).hexdigest()
    assert hashing.hash_file(big) == expected

    def append(path: str) -> None:
        with open(path, "ab") as handle:
            handle.write(b"late")

    hasher = hashing.Hasher()
    _write_after_each_read(monkeypatch, append)
    with pytest.raises(DataError, match="unstable input"):
        hasher.hash_file(big)


@pytest.mark.parametrize("strategy", ["read", "mapped"])
def test_every_read_strategy_gives_xxh3_of_the_bytes_across_boundaries(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, strategy: str
) -> None:
    """Digests never depend on the strategy: sizes around the buffer and window edges."""
    import mmap

    edge = hashing.BUFFER_SIZE
    if strategy == "mapped":  # windows one allocation unit wide, every file above SMALL_FILE
        edge = mmap.ALLOCATIONGRANULARITY * 4
        monkeypatch.setattr(hashing, "MAP_WINDOW", edge)
        monkeypatch.setattr(hashing, "MAP_MIN_BYTES", hashing.SMALL_FILE + 1)
    else:
        monkeypatch.setattr(hashing, "MAP_MIN_BYTES", 1 << 62)
    sizes = [
        0,
        1,
        hashing.SMALL_FILE,
        hashing.SMALL_FILE + 1,
        edge - 1,
        edge,
        edge + 1,
        3 * edge + 7,
    ]
    pattern = bytes(range(251)) * (3 * edge // 251 + 2)  # period 251: no window repeats
    for size in sizes:
        path = tmp_path / f"{strategy}-{size}.bin"
        path.write_bytes(pattern[:size])
        expected = "xxh3_128:" + xxhash.xxh3_128(pattern[:size]).hexdigest()
        assert hashing.hash_file(path) == expected, size
