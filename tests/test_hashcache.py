"""The SQLite hash cache: hits, misses, rebuilds and concurrent writers."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from mlog.storage.hashcache import HashCache
from mlog.storage.hashing import FileKey, Hasher, Manifest, paths_ending_with, tree_bytes


@pytest.fixture
def dataset(tmp_path: Path) -> Path:
    root = tmp_path / "data"
    for i in range(50):
        (root / f"part{i % 5}").mkdir(parents=True, exist_ok=True)
        (root / f"part{i % 5}" / f"{i:02d}.csv").write_text(f"{i},{i * i}\n")
    return root


def cache_at(tmp_path: Path) -> HashCache:
    # racy_window_ns=0: files written a moment ago may be cached in these tests
    return HashCache(tmp_path / ".mlog" / "cache" / "hashes.sqlite", racy_window_ns=0)


def hash_with(cache: HashCache, root: Path, **kwargs: bool) -> Hasher:
    hasher = Hasher(cache=cache, **kwargs)
    hasher.hash_directory(root)
    return hasher


def test_warm_run_reads_nothing(tmp_path: Path, dataset: Path) -> None:
    cache = cache_at(tmp_path)
    first = hash_with(cache, dataset)
    assert first.files_read == 50
    second = hash_with(cache, dataset)
    assert second.files_read == 0
    assert second.hash_directory(dataset) == first.hash_directory(dataset)


def test_touching_one_file_rereads_only_it(tmp_path: Path, dataset: Path) -> None:
    cache = cache_at(tmp_path)
    before = Hasher(cache=cache).hash_directory(dataset)
    (dataset / "part3" / "13.csv").write_text("13,170\n")
    hasher = Hasher(cache=cache)
    after = hasher.hash_directory(dataset)
    assert (hasher.files_read, hasher.bytes_read) == (1, len("13,170\n"))
    assert after.digest != before.digest


def test_rehash_ignores_but_refreshes_cache(tmp_path: Path, dataset: Path) -> None:
    cache = cache_at(tmp_path)
    hash_with(cache, dataset)
    assert hash_with(cache, dataset, rehash=True).files_read == 50
    assert hash_with(cache, dataset).files_read == 0


def test_corrupt_cache_is_rebuilt_silently(tmp_path: Path, dataset: Path) -> None:
    cache = cache_at(tmp_path)
    hash_with(cache, dataset)
    Path(cache.path).write_bytes(b"this is not a database" * 100)
    for suffix in ("-wal", "-shm"):
        Path(cache.path + suffix).unlink(missing_ok=True)
    assert hash_with(cache, dataset).files_read == 50
    assert hash_with(cache, dataset).files_read == 0


def test_deleted_cache_is_rebuilt(tmp_path: Path, dataset: Path) -> None:
    cache = cache_at(tmp_path)
    hash_with(cache, dataset)
    cache.clear()
    assert not os.path.exists(cache.path)
    assert hash_with(cache, dataset).files_read == 50
    assert hash_with(cache, dataset).files_read == 0


def test_fresh_files_are_not_cached(tmp_path: Path, dataset: Path) -> None:
    """A file changed within the racy window could change again unseen: not cached."""
    cache = HashCache(tmp_path / "c.sqlite", racy_window_ns=10**15)
    hash_with(cache, dataset)
    assert hash_with(cache, dataset).files_read == 50


def test_algorithms_are_cached_separately(tmp_path: Path, dataset: Path) -> None:
    cache = cache_at(tmp_path)
    Hasher(cache=cache).hash_directory(dataset)
    sha = Hasher("sha256", cache=cache)
    assert sha.hash_directory(dataset).digest.startswith("sha256:")
    assert sha.files_read == 50


def test_large_inode_numbers_fit(tmp_path: Path) -> None:
    cache = cache_at(tmp_path)
    key = FileKey(2**64 - 1, 2**63 + 5, 1, -5, 7)
    cache.store("xxh3_128", [("/x/a", key, "xxh3_128:" + "0" * 32)])
    assert cache.lookup("xxh3_128", ["/x/a"])["/x/a"][1] == "xxh3_128:" + "0" * 32


WRITER = textwrap.dedent(
    """
    import sys
    from mlog.storage.hashcache import HashCache
    from mlog.storage.hashing import FileKey
    cache = HashCache(sys.argv[1], racy_window_ns=0, timeout=60)
    tag = sys.argv[2]
    for batch in range(20):
        rows = [(f"/d/{tag}/{batch}/{i}", FileKey(1, i, i, 0, 0), f"x:{i}") for i in range(200)]
        cache.store("xxh3_128", rows)
    """
)


def test_concurrent_writers_both_land(tmp_path: Path) -> None:
    db = str(tmp_path / "cache" / "hashes.sqlite")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    procs = [
        subprocess.Popen([sys.executable, "-c", WRITER, db, tag], env=env) for tag in ("p", "q")
    ]
    assert [p.wait(timeout=120) for p in procs] == [0, 0]
    cache = HashCache(db)
    for tag in ("p", "q"):
        paths = [f"/d/{tag}/{b}/{i}" for b in range(20) for i in range(200)]
        assert len(cache.lookup("xxh3_128", paths)) == 4000


def test_unchanged_tree_is_one_cache_row_and_the_same_manifest(
    tmp_path: Path, dataset: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cache = cache_at(tmp_path)
    first = Hasher(cache=cache).hash_directory(dataset)
    asked: list[int] = []
    real_lookup = HashCache.lookup

    def counting(self: HashCache, algorithm: str, paths: list[str]) -> object:
        asked.append(len(paths))
        return real_lookup(self, algorithm, paths)

    monkeypatch.setattr(HashCache, "lookup", counting)
    hasher = Hasher(cache=cache)
    again = hasher.hash_directory(dataset)
    assert (hasher.files_read, asked) == (0, [])  # served by the tree row alone
    assert again == first == Hasher().hash_directory(dataset)
    glob = Hasher(cache=cache).hash_glob(dataset.parent, "data/part1/*.csv")
    assert Hasher(cache=cache).hash_glob(dataset.parent, "data/part1/*.csv") == glob
    assert glob == Hasher().hash_glob(dataset.parent, "data/part1/*.csv")


@pytest.mark.parametrize(
    "change", ["same size, new bytes", "added", "removed", "renamed", "moved to another folder"]
)
def test_any_change_in_the_tree_misses_the_tree_row(
    tmp_path: Path, dataset: Path, change: str
) -> None:
    cache = cache_at(tmp_path)
    Hasher(cache=cache).hash_directory(dataset)
    target = dataset / "part3" / "13.csv"
    if change == "same size, new bytes":
        stat_before = target.stat()
        target.write_text("13,170\n"[: len(target.read_text())].replace("1", "9"))
        os.utime(target, ns=(stat_before.st_atime_ns, stat_before.st_mtime_ns))  # mtime kept
    elif change == "added":
        (dataset / "part3" / "new.csv").write_text("x\n")
    elif change == "removed":
        target.unlink()
    elif change == "renamed":
        target.rename(dataset / "part3" / "13b.csv")
    else:
        target.rename(dataset / "part4" / "13.csv")
    hasher = Hasher(cache=cache)
    assert hasher.hash_directory(dataset) == Hasher().hash_directory(dataset)
    assert hasher.files_read == (0 if change == "removed" else 1)  # a rename is a new path


def test_a_tree_inside_the_racy_window_is_not_remembered(tmp_path: Path, dataset: Path) -> None:
    cache = HashCache(tmp_path / "c.sqlite", racy_window_ns=10**15)
    Hasher(cache=cache).hash_directory(dataset)
    assert cache.lookup_tree("xxh3_128", str(dataset), b"") is None
    hasher = Hasher(cache=cache)
    hasher.hash_directory(dataset)
    assert hasher.files_read == 50


def test_a_version_2_cache_is_upgraded_in_place(tmp_path: Path, dataset: Path) -> None:
    import sqlite3

    path = tmp_path / "c.sqlite"
    conn = sqlite3.connect(path)
    conn.execute(
        "CREATE TABLE hashes (algorithm TEXT NOT NULL, path BLOB NOT NULL, key BLOB NOT NULL,"
        " digest TEXT NOT NULL, PRIMARY KEY (algorithm, path)) WITHOUT ROWID"
    )
    conn.execute("PRAGMA user_version=2")
    conn.commit()
    conn.close()
    cache = HashCache(path, racy_window_ns=0)
    first = hash_with(cache, dataset)
    assert first.files_read == 50
    assert hash_with(cache, dataset).files_read == 0
    with sqlite3.connect(path) as check:
        assert check.execute("PRAGMA user_version").fetchone()[0] == 3
        assert check.execute("SELECT count(*) FROM trees").fetchone()[0] == 1


def test_an_empty_tree_round_trips_through_its_row(tmp_path: Path) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    cache = cache_at(tmp_path)
    first = Hasher(cache=cache).hash_directory(empty)
    assert Hasher(cache=cache).hash_directory(empty) == first == Hasher().hash_directory(empty)
    assert first.files == 0


def test_a_tree_served_by_its_row_reads_its_entries_only_when_asked(
    tmp_path: Path, dataset: Path
) -> None:
    (dataset / "part1" / "README").write_text("not a table\n")
    cache = cache_at(tmp_path)
    fresh = Hasher(cache=cache).hash_directory(dataset)
    served = Hasher(cache=cache).hash_directory(dataset)
    assert isinstance(served.entries, Manifest) and not isinstance(fresh.entries, Manifest)
    assert len(served.entries) == served.files == 51
    assert tree_bytes(served.entries) == tree_bytes(fresh.entries)
    for suffixes in ((".csv",), (".csv", ".parquet"), (".parquet",), ("readme",)):
        assert paths_ending_with(served.entries, suffixes) == paths_ending_with(
            fresh.entries, suffixes
        )
    assert paths_ending_with(served.entries, (".parquet",)) == []
    assert served.entries[0] == fresh.entries[0] and list(served.entries) == list(fresh.entries)
    assert served == fresh


@pytest.mark.parametrize(
    "names",
    [["A.CSV", "b.txt"], ["x.csv.gz", "y.csvx"], ["caf\u00e9.csv", "z.bin"], ["x.\u212a", "y.K"]],
)
def test_suffix_search_of_a_listing_agrees_with_the_names(tmp_path: Path, names: list[str]) -> None:
    root = tmp_path / "d"
    root.mkdir()
    for name in names:
        (root / name).write_text("1\n")
    cache = cache_at(tmp_path)
    fresh = Hasher(cache=cache).hash_directory(root)
    served = Hasher(cache=cache).hash_directory(root)
    assert isinstance(served.entries, Manifest)
    for suffixes in ((".csv", ".csv.gz"), (".bin",), (".k",), (".txt", ".csvx")):
        expected = [n for n in sorted(names) if n.lower().endswith(suffixes)]
        assert paths_ending_with(served.entries, suffixes) == expected
        assert paths_ending_with(fresh.entries, suffixes) == expected


def test_non_utf8_names_and_globs_are_served_in_tree_order(tmp_path: Path) -> None:
    root = tmp_path / "d"
    (root / "a").mkdir(parents=True)
    for name in (b"a.b", b"a/b", b"Z\xff", b"\xc3\xa9", b"a/\xfe.csv", b"line\nbreak.csv"):
        with open(os.path.join(os.fsencode(root), name), "wb") as fh:
            fh.write(name)
    cache = cache_at(tmp_path)
    fresh = Hasher().hash_directory(root)
    Hasher(cache=cache).hash_directory(root)
    served = Hasher(cache=cache)
    again = served.hash_directory(root)
    assert again == fresh and served.files_read == 0 and isinstance(again.entries, Manifest)
    assert paths_ending_with(again.entries, (".csv",)) == ["a/\udcfe.csv", "line\nbreak.csv"]
    glob = Hasher(cache=cache).hash_glob(tmp_path, "d/**")
    assert (
        Hasher(cache=cache).hash_glob(tmp_path, "d/**")
        == glob
        == Hasher().hash_glob(tmp_path, "d/**")
    )


def test_a_corrupt_tree_row_is_a_miss(tmp_path: Path, dataset: Path) -> None:
    import sqlite3

    cache = cache_at(tmp_path)
    fresh = Hasher(cache=cache).hash_directory(dataset)
    with sqlite3.connect(cache.path) as conn:
        conn.execute("UPDATE trees SET listing = substr(listing, 1, 100)")
    hasher = Hasher(cache=cache)
    again = hasher.hash_directory(dataset)
    assert again == fresh and not isinstance(again.entries, Manifest)  # rebuilt from file rows
    assert hasher.files_read == 0
    assert isinstance(Hasher(cache=cache).hash_directory(dataset).entries, Manifest)  # row redone


@pytest.mark.parametrize("mtime_ns", [-(10**18), 10**19 + 7], ids=["1938", "2286"])
def test_times_before_1970_and_past_2262_hash_and_cache(tmp_path: Path, mtime_ns: int) -> None:
    """A time past 2262 does not fit the key's signed 64 bits: it is kept modulo 2**64."""
    root = tmp_path / "d"
    root.mkdir()
    (root / "old.csv").write_text("1\n")
    (root / "new.csv").write_text("2\n")
    try:
        os.utime(root / "old.csv", ns=(mtime_ns, mtime_ns))
    except (OSError, OverflowError):
        pytest.skip("this file system cannot store that time")
    if os.stat(root / "old.csv").st_mtime_ns != mtime_ns:
        pytest.skip("this file system cannot store that time")
    cache = cache_at(tmp_path)
    plain = Hasher().hash_directory(root)
    first = Hasher(cache=cache)
    assert first.hash_directory(root) == plain and first.files_read == 2
    again = Hasher(cache=cache)
    served = again.hash_directory(root)
    assert served == plain and again.files_read == 0 and isinstance(served.entries, Manifest)
    os.utime(root / "old.csv", ns=(mtime_ns, mtime_ns + 1))
    changed = Hasher(cache=cache)
    assert changed.hash_directory(root) == plain and changed.files_read == 1


def test_a_listing_that_does_not_parse_is_a_data_error_when_read() -> None:
    from mlog.errors import DataError

    broken = Manifest(b"a.csv\0twelve\0xxh3_128:00\n", 1)
    assert len(broken) == 1 and broken.paths() == ["a.csv"]
    with pytest.raises(DataError, match="corrupt tree listing"):
        list(broken)
