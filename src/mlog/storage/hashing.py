"""Streaming content hashes of files, directories and globs, with per-file manifests.

Every digest is written ``"<algorithm>:<hex>"`` (``xxh3_128`` by default). A tree (a
directory or a glob) is hashed over its sorted per-file lines, so anyone can recompute
it without mlog: the exact algorithm is in docs/record-format.md, "How data and artifacts are
hashed". Files are read once, in large reused buffers, by a thread pool (xxhash and ``read``
release the GIL), and unchanged files are served from the optional
:mod:`mlog.storage.hashcache` cache.
"""

from __future__ import annotations

import fnmatch
import gzip
import hashlib
import json
import mmap
import os
import re
import stat
import struct
import sys
import threading
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from itertools import repeat
from operator import itemgetter
from stat import S_IFDIR, S_IFLNK, S_IFREG
from typing import TYPE_CHECKING, NamedTuple, Protocol, overload

import xxhash

from mlog.errors import DataError

if TYPE_CHECKING:
    from concurrent.futures import Future

    from mlog.storage.hashcache import HashCache

DEFAULT_ALGORITHM = "xxh3_128"
BUFFER_SIZE = 1 << 20
BATCH_BYTES = 16 << 20
BATCH_FILES = 512
INLINE_BYTES = 8 << 20
SMALL_FILE = 64 << 10
PARALLEL_MIN_AVG = 64 << 10
MAP_MIN_BYTES = 64 << 20  # files this large are mapped: see _read_mapped for the measured rule
MAP_WINDOW = 16 << 20  # a multiple of every page size (mmap offsets must be aligned)
_CAN_MAP = hasattr(mmap, "MAP_POPULATE")
_MAP_FLAGS = mmap.MAP_SHARED | getattr(mmap, "MAP_POPULATE", 0)
FOLLOW_HINT = "pass --follow-symlinks to hash what it points to"

ProgressFn = Callable[[int, int], None]
"""Called with (files done, bytes done) as hashing advances."""


class _HashObject(Protocol):
    def update(self, data: bytes | bytearray | memoryview, /) -> None: ...
    def hexdigest(self) -> str: ...


ALGORITHMS: dict[str, Callable[[], _HashObject]] = {
    "xxh3_128": xxhash.xxh3_128,
    "sha256": hashlib.sha256,
}
_FS_ENCODING = sys.getfilesystemencoding()
HEX_LENGTHS: dict[str, int] = {"xxh3_128": 32, "sha256": 64, "md5": 32, "sha1": 40}


class Digest(NamedTuple):
    """A parsed ``algorithm:hex`` digest."""

    algorithm: str
    hex: str

    def __str__(self) -> str:
        return f"{self.algorithm}:{self.hex}"


class FileKey(NamedTuple):
    """What identifies one version of a file without reading it (the cache key)."""

    dev: int
    ino: int
    size: int
    mtime_ns: int
    ctime_ns: int

    @classmethod
    def of(cls, st: os.stat_result) -> FileKey:
        return cls(st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns)


class ManifestEntry(NamedTuple):
    """One file of a tree: POSIX path relative to the tree, size in bytes, digest."""

    path: str
    size: int
    digest: str


class SymlinkEntry(NamedTuple):
    """A symlink that was followed: its path relative to the tree and its target."""

    path: str
    target: str


class Manifest(Sequence[ManifestEntry]):
    """A tree's entries kept as its listing (see :func:`tree_bytes`), parsed when first read.

    An unchanged tree served by the hash cache arrives as its listing; most runs never look at
    its 20,000 entries, so they are not built: ``len``, :attr:`listing`, :func:`tree_bytes` and
    :func:`paths_ending_with` answer from the bytes.
    """

    __slots__ = ("_count", "_entries", "listing")

    def __init__(self, listing: bytes, count: int) -> None:
        self.listing = listing
        self._count = count
        self._entries: tuple[ManifestEntry, ...] | None = None

    def __len__(self) -> int:
        return self._count

    @overload
    def __getitem__(self, index: int) -> ManifestEntry: ...
    @overload
    def __getitem__(self, index: slice) -> tuple[ManifestEntry, ...]: ...
    def __getitem__(self, index: int | slice) -> ManifestEntry | tuple[ManifestEntry, ...]:
        return self._parsed()[index]

    def __iter__(self) -> Iterator[ManifestEntry]:
        return iter(self._parsed())

    def __eq__(self, other: object) -> bool:
        if isinstance(other, Manifest):
            return self.listing == other.listing
        if isinstance(other, tuple | list):
            return self._parsed() == tuple(other)
        return NotImplemented

    __hash__ = None  # type: ignore[assignment]  # like a list: equal to tuples, not hashable

    def __repr__(self) -> str:
        return f"Manifest({self._count} entries)"

    def paths(self) -> list[str]:
        """Every entry's path in tree order, without building the entries."""
        return self._paths(self.listing.split(b"\0"))

    def _paths(self, parts: list[bytes]) -> list[str]:
        """Paths from the listing split on NUL: path, size, "digest LF path", ..., "digest LF"
        (paths hold no NUL, digests no LF)."""
        if not self._count:
            return []
        raw = [parts[0], *(part.partition(b"\n")[2] for part in parts[2:-1:2])]
        return [path.decode(_FS_ENCODING, "surrogateescape") for path in raw]

    def _parsed(self) -> tuple[ManifestEntry, ...]:
        if self._entries is None:
            parts = self.listing.split(b"\0")
            try:
                sizes = list(map(int, parts[1::2]))
                digests = [part.partition(b"\n")[0].decode("ascii") for part in parts[2::2]]
            except ValueError as exc:  # UnicodeDecodeError too
                raise DataError(f"corrupt tree listing: {exc}") from None
            rows = zip(self._paths(parts), sizes, digests, strict=True)
            self._entries = tuple(map(ManifestEntry._make, rows))
        return self._entries


@dataclass(frozen=True)
class TreeHash:
    """The identity of a file, directory or glob and the manifest it was computed from."""

    digest: str
    size: int
    files: int
    entries: Sequence[ManifestEntry]
    """In tree order; a :class:`Manifest` when the tree came whole from the hash cache."""
    symlinks: tuple[SymlinkEntry, ...] = ()


@dataclass(frozen=True)
class ManifestDiff:
    """Per-file difference of two manifests; paths sorted, ``bytes_changed`` symmetric."""

    added: tuple[str, ...]
    removed: tuple[str, ...]
    modified: tuple[str, ...]
    bytes_changed: int

    @property
    def empty(self) -> bool:
        return not (self.added or self.removed or self.modified)


class _Item(NamedTuple):
    rel: str
    abspath: str
    key: FileKey


# ---------------------------------------------------------------- digests


def new_hash(algorithm: str = DEFAULT_ALGORITHM) -> _HashObject:
    """A fresh streaming hash object, so the algorithm stays a config choice."""
    try:
        return ALGORITHMS[algorithm]()
    except KeyError:
        known = ", ".join(sorted(ALGORITHMS))
        raise DataError(f"unknown hash algorithm {algorithm!r} (use one of: {known})") from None


def parse_digest(text: str) -> Digest:
    """Split ``algorithm:hex`` and check the hex, so malformed digests fail early."""
    algorithm, sep, hexpart = text.partition(":")
    valid = sep and algorithm and hexpart and all(c in "0123456789abcdef" for c in hexpart)
    expected = HEX_LENGTHS.get(algorithm)
    if not valid or (expected is not None and len(hexpart) != expected):
        raise DataError(f"malformed digest {text!r} (expected algorithm:lowercase-hex)")
    return Digest(algorithm, hexpart)


def _fs(path: str) -> bytes:
    """``os.fsencode`` without its per-call overhead (it matters for 20,000 files)."""
    return path.encode(_FS_ENCODING, "surrogateescape")


def entry_line(entry: ManifestEntry) -> bytes:
    """The bytes one file contributes to a tree digest (docs/record-format.md documents it)."""
    return b"%s\0%d\0%s\n" % (_fs(entry.path), entry.size, entry.digest.encode())


def sort_entries(entries: Iterable[ManifestEntry]) -> list[ManifestEntry]:
    """Entries in tree-digest order: by the raw bytes of their path."""
    return sorted(entries, key=lambda e: _fs(e.path))


def tree_bytes(entries: Iterable[ManifestEntry]) -> bytes:
    """The sorted entry lines a tree digest hashes: the tree's own content-addressed listing."""
    if isinstance(entries, Manifest):
        return entries.listing
    return b"".join(sorted(entry_line(e) for e in entries))


def paths_ending_with(entries: Sequence[ManifestEntry], suffixes: tuple[str, ...]) -> list[str]:
    """Paths of ``entries`` whose lower-cased name ends with one of ``suffixes`` (lower case).

    A :class:`Manifest` whose listing has none of them answers from its bytes, unparsed (an
    unchanged 20,000-image folder is not turned into 20,000 entries to find no table in it).
    """
    if not suffixes:
        return []
    if (
        isinstance(entries, Manifest)
        and entries.listing.isascii()
        and all(map(str.isascii, suffixes))
    ):
        ends = b"|".join(re.escape(s.encode("ascii")) for s in suffixes)
        if not re.search(b"(?:%s)\\0" % ends, entries.listing, re.IGNORECASE):
            return []  # an ASCII path ending in a suffix is followed by NUL in its line
    if isinstance(entries, Manifest):
        return [path for path in entries.paths() if path.lower().endswith(suffixes)]
    return [e.path for e in entries if e.path.lower().endswith(suffixes)]


def tree_digest(entries: Iterable[ManifestEntry], algorithm: str = DEFAULT_ALGORITHM) -> str:
    """Digest of a set of files: hash of their sorted lines; an empty set is valid."""
    h = new_hash(algorithm)
    h.update(tree_bytes(entries))
    return f"{algorithm}:{h.hexdigest()}"


def tree_from_bytes(data: bytes) -> list[ManifestEntry]:
    """Inverse of :func:`tree_bytes` (``path NUL size NUL digest LF``, paths may hold LF)."""
    entries: list[ManifestEntry] = []
    pos = 0
    try:
        while pos < len(data):
            end_path = data.index(b"\0", pos)
            end_size = data.index(b"\0", end_path + 1)
            end_line = data.index(b"\n", end_size + 1)
            path = data[pos:end_path].decode(_FS_ENCODING, "surrogateescape")
            size = int(data[end_path + 1 : end_size])
            digest = data[end_size + 1 : end_line].decode("ascii")
            entries.append(ManifestEntry(path, size, str(parse_digest(digest))))
            pos = end_line + 1
    except (ValueError, DataError) as exc:
        raise DataError(f"corrupt tree listing: {exc}") from None
    return entries


# ---------------------------------------------------------------- manifests


def manifest_to_bytes(entries: Iterable[ManifestEntry]) -> bytes:
    """Sorted JSON lines, deterministic; the object store compresses and names them."""
    lines = [
        json.dumps({"path": e.path, "size": e.size, "hash": e.digest}, sort_keys=True) + "\n"
        for e in sort_entries(entries)
    ]
    return "".join(lines).encode("ascii")


def manifest_from_bytes(data: bytes) -> list[ManifestEntry]:
    """Inverse of :func:`manifest_to_bytes`; corrupt input is a DataError."""
    try:
        text = (gzip.decompress(data) if data[:2] == b"\x1f\x8b" else data).decode("ascii")
        rows = [json.loads(line) for line in text.splitlines() if line]
        return [ManifestEntry(str(r["path"]), int(r["size"]), str(r["hash"])) for r in rows]
    except (OSError, EOFError, ValueError, KeyError, TypeError) as exc:
        raise DataError(f"corrupt manifest: {exc}") from exc


def diff_manifests(old: Iterable[ManifestEntry], new: Iterable[ManifestEntry]) -> ManifestDiff:
    """Which files were added, removed or modified between two manifests (pure)."""
    before = {e.path: e for e in old}
    after = {e.path: e for e in new}
    added = sorted(after.keys() - before.keys())
    removed = sorted(before.keys() - after.keys())
    modified = sorted(p for p in before.keys() & after.keys() if before[p][1:] != after[p][1:])
    changed = sum(after[p].size for p in added) + sum(before[p].size for p in removed)
    changed += sum(max(before[p].size, after[p].size) for p in modified)
    return ManifestDiff(tuple(added), tuple(removed), tuple(modified), changed)


# ---------------------------------------------------------------- glob matching


def glob_parts(pattern: str) -> list[str]:
    """Split a relative POSIX glob into components; ``..`` and absolute globs are refused."""
    parts = [p for p in pattern.split("/") if p not in ("", ".")]
    if pattern.startswith("/") or ".." in parts or not parts:
        raise DataError(f"glob must be relative and stay below its root: {pattern!r}")
    return parts


def has_magic(text: str) -> bool:
    """Whether a path contains glob wildcards."""
    return any(c in text for c in "*?[")


def glob_matches(parts: Sequence[str], path_parts: Sequence[str]) -> bool:
    """Match like :mod:`glob`: ``**`` spans directories, wildcards skip dot-names."""
    if not parts:
        return not path_parts
    head = parts[0]
    if head == "**":
        return any(
            glob_matches(parts[1:], path_parts[i:])
            for i in range(len(path_parts) + 1)
            if not any(p.startswith(".") for p in path_parts[:i])
        )
    if not path_parts or (path_parts[0].startswith(".") and not head.startswith(".")):
        return False
    return fnmatch.fnmatchcase(path_parts[0], head) and glob_matches(parts[1:], path_parts[1:])


# ---------------------------------------------------------------- the engine


class Hasher:
    """Hashes files and trees with one configuration; counts what it really reads.

    ``files_read``/``bytes_read`` count files opened and read (not served by the cache),
    which is how tests prove that unchanged files are not re-read.
    """

    def __init__(
        self,
        algorithm: str = DEFAULT_ALGORITHM,
        *,
        cache: HashCache | None = None,
        rehash: bool = False,
        follow_symlinks: bool = False,
        workers: int | None = None,
        on_progress: ProgressFn | None = None,
        on_total: ProgressFn | None = None,
    ) -> None:
        new_hash(algorithm)
        self.algorithm = algorithm
        self.cache = cache
        self.rehash = rehash
        self.follow_symlinks = follow_symlinks
        self.workers = workers or min(32, os.cpu_count() or 1)
        self.on_progress = on_progress
        self.on_total = on_total
        self.files_read = 0
        self.bytes_read = 0
        self._local = threading.local()

    # ------------------------------------------------------------ public API

    def hash_file(self, path: str | os.PathLike[str]) -> str:
        """Digest of one regular file's content."""
        return self.hash_path(path).entries[0].digest

    def hash_path(self, path: str | os.PathLike[str]) -> TreeHash:
        """Hash a file (digest of its content) or a directory (tree digest)."""
        top = os.path.abspath(path)
        st, links = self._stat_top(top)
        if stat.S_ISDIR(st.st_mode):
            found = self._walk_dir(top, st)
            return self._tree(top, found, (*links, *found.links))
        items = [self._top_file_item(top, st)]
        entry = self._entries(items)[0]
        return TreeHash(entry.digest, entry.size, 1, (entry,), tuple(links))

    def hash_directory(self, path: str | os.PathLike[str]) -> TreeHash:
        """Tree digest of every file below a directory, paths relative to it."""
        top = os.path.abspath(path)
        st, links = self._stat_top(top)
        if not stat.S_ISDIR(st.st_mode):
            raise DataError(f"not a directory: {top}")
        found = self._walk_dir(top, st)
        return self._tree(top, found, (*links, *found.links))

    def hash_glob(self, root: str | os.PathLike[str], pattern: str) -> TreeHash:
        """Tree digest of the files a glob selects, paths relative to ``root``."""
        base = os.path.abspath(root)
        parts = glob_parts(pattern)
        fixed = 0
        while fixed < len(parts) - 1 and not has_magic(parts[fixed]):
            fixed += 1
        prefix = "/".join(parts[:fixed])
        found = self._glob_items(base, prefix, parts)
        if not found.rels:
            raise DataError(f"glob matched no files: {pattern} (relative to {base})")
        return self._tree(f"{base}\0{pattern}", found, found.links)

    # ------------------------------------------------------------ walking

    def _stat_top(self, top: str) -> tuple[os.stat_result, list[SymlinkEntry]]:
        """lstat the declared path; a symlink is refused unless following is on."""
        try:
            st = os.lstat(top)
            if not stat.S_ISLNK(st.st_mode):
                return st, []
            target = os.readlink(top)
            if not self.follow_symlinks:
                raise DataError(f"dataset path is a symlink: {top} -> {target} ({FOLLOW_HINT})")
            return os.stat(top), [SymlinkEntry(".", target)]
        except FileNotFoundError:
            raise DataError(f"path not found: {top}") from None
        except OSError as exc:
            raise DataError(f"cannot access {top}: {exc.strerror}") from exc

    def _top_file_item(self, top: str, st: os.stat_result) -> _Item:
        if not stat.S_ISREG(st.st_mode):
            raise DataError(f"not a regular file or directory: {top}")
        return _Item(os.path.basename(top), top, FileKey.of(st))

    def _walk_dir(
        self, top: str, st: os.stat_result, rel_prefix: str = "", max_depth: int | None = None
    ) -> _Found:
        """Every regular file below ``top``; refuses special files and symlink loops."""
        found = _Found(top, [], [], [])
        stack = [(rel_prefix, top, frozenset({(st.st_dev, st.st_ino)}), 0)]
        while stack:
            rel_dir, abs_dir, ancestors, depth = stack.pop()
            for rel, path, dst in self._scan(rel_dir, abs_dir, found):
                ident = (dst.st_dev, dst.st_ino)
                if ident in ancestors:
                    raise DataError(f"symlink loop at {path} (it leads back to a parent)")
                if max_depth is None or depth + 1 < max_depth:
                    stack.append((rel + "/", path, ancestors | {ident}, depth + 1))
        return found

    def _scan(
        self, rel_dir: str, abs_dir: str, found: _Found
    ) -> list[tuple[str, str, os.stat_result]]:
        """Append one directory's files to ``found``; return its subdirectories."""
        try:
            fd = os.open(abs_dir, _DIR_FLAGS)
            try:
                return self._scan_open(fd, rel_dir, os.path.join(abs_dir, ""), found)
            finally:
                os.close(fd)
        except OSError as exc:
            where = os.path.join(abs_dir, exc.filename) if exc.filename else abs_dir
            raise DataError(f"cannot read {where}: {exc.strerror}") from exc

    def _scan_open(
        self, fd: int, rel_dir: str, prefix: str, found: _Found
    ) -> list[tuple[str, str, os.stat_result]]:
        """The hot loop: one ``lstat`` per entry relative to the open directory ``fd`` (the
        kernel does not resolve the whole path again for each of 20,000 files) and two list
        appends per file; no object is built per file, as an unchanged tree needs none."""
        subdirs: list[tuple[str, str, os.stat_result]] = []
        rels, keys, lstat, pack = found.rels, found.keys, os.stat, _KEY.pack
        for name in os.listdir(fd):
            st = lstat(name, dir_fd=fd, follow_symlinks=False)
            kind = st.st_mode & _S_IFMT
            if kind == S_IFLNK:
                st = self._follow(prefix + name, rel_dir + name, found.links)
                kind = st.st_mode & _S_IFMT
            if kind == S_IFREG:
                rels.append(rel_dir + name)
                try:
                    keys.append(
                        pack(st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns)
                    )
                except struct.error:  # a time past 2262: see hashcache.pack_key
                    keys.append(_far_key(st))
            elif kind == S_IFDIR:
                subdirs.append((rel_dir + name, prefix + name, st))
            else:
                special = prefix + name
                raise DataError(f"not a regular file (fifo, socket, device): {special}")
        return subdirs

    def _follow(self, path: str, rel: str, links: list[SymlinkEntry]) -> os.stat_result:
        """Stat a symlink's target when following is on; refuse it otherwise."""
        target = os.readlink(path)
        if not self.follow_symlinks:
            raise DataError(f"symlink in dataset: {path} -> {target} ({FOLLOW_HINT})")
        links.append(SymlinkEntry(rel, target))
        return os.stat(path)

    def _glob_items(self, base: str, prefix: str, parts: list[str]) -> _Found:
        """Walk below the glob's fixed prefix and keep the files the pattern selects."""
        start = os.path.join(base, prefix) if prefix else base
        try:
            st = os.stat(start)
        except OSError:
            return _Found(base, [], [], [])
        if not stat.S_ISDIR(st.st_mode):
            return _Found(base, [], [], [])
        depth = None if "**" in parts else len(parts) - prefix.count("/") - bool(prefix)
        rel0 = prefix + "/" if prefix else ""
        found = self._walk_dir(start, st, rel0, depth)
        kept = [n for n, rel in enumerate(found.rels) if glob_matches(parts, rel.split("/"))]
        rels, keys = found.rels, found.keys
        return _Found(base, [rels[n] for n in kept], [keys[n] for n in kept], found.links)

    # ------------------------------------------------------------ digests

    def _tree(self, root: str, found: _Found, links: Sequence[SymlinkEntry]) -> TreeHash:
        """Tree digest of the ``found`` files; an unchanged tree is served whole by the cache.

        ``root`` names the tree in the cache (the directory, or the glob's base and pattern).
        A hit builds nothing per file: the tree is its cached listing (a :class:`Manifest`).
        """
        order = _tree_order(found.rels)
        rels = list(map(found.rels.__getitem__, order))
        keys = b"".join(map(found.keys.__getitem__, order))
        count = len(rels)
        size = sum(map(_SIZE, _KEY.iter_unpack(keys)))
        stamp = b""
        if self.cache is not None and not self.rehash:
            stamp = _stamp(rels, keys)
            listing = self.cache.lookup_tree(self.algorithm, root, stamp)
            if listing is not None and _fits(listing, count):
                if self.on_total:
                    self.on_total(count, size)
                self._report([count, size])
                manifest = Manifest(listing, count)
                return TreeHash(self._digest_of(listing), size, count, manifest, tuple(links))
        paths = map(os.path.join, repeat(found.base), rels)
        items = [
            _Item(r, p, FileKey._make(k) if k[3] >= 0 and k[4] >= 0 else _exact_key(p))
            for r, p, k in zip(rels, paths, _KEY.iter_unpack(keys), strict=True)
        ]
        ordered = tuple(self._entries(items))
        listing = tree_bytes(ordered)
        if self.cache is not None and stamp:
            newest = max((i.key.ctime_ns for i in items), default=0)
            self.cache.store_tree(self.algorithm, root, stamp, listing, newest)
        return TreeHash(self._digest_of(listing), size, count, ordered, tuple(links))

    def _digest_of(self, listing: bytes) -> str:  # the tree digest: a hash of its listing
        h = new_hash(self.algorithm)
        h.update(listing)
        return f"{self.algorithm}:{h.hexdigest()}"

    def _entries(self, items: list[_Item]) -> list[ManifestEntry]:
        digests = self._digests(items)
        return [ManifestEntry(i.rel, i.key.size, d) for i, d in zip(items, digests, strict=True)]

    def _digests(self, items: list[_Item]) -> list[str]:
        """Digest of every item: cache hits first, then the rest read in parallel."""
        if self.on_total:
            self.on_total(len(items), sum(i.key.size for i in items))
        known = self._cached(items)
        done = [len(known), sum(items[i].key.size for i in known)]
        self._report(done)
        todo = [i for i in range(len(items)) if i not in known]
        fresh = self._hash_many([items[i] for i in todo], done)
        known.update(zip(todo, fresh, strict=True))
        if self.cache is not None and todo:
            self.cache.store(
                self.algorithm, [(items[i].abspath, items[i].key, known[i]) for i in todo]
            )
        return [known[i] for i in range(len(items))]

    def _cached(self, items: list[_Item]) -> dict[int, str]:
        if self.cache is None or self.rehash or not items:
            return {}
        from mlog.storage.hashcache import pack_key

        rows = self.cache.lookup(self.algorithm, [i.abspath for i in items])
        hits: dict[int, str] = {}
        for n, item in enumerate(items):
            row = rows.get(item.abspath)
            if row is not None and row[0] == pack_key(item.key):
                hits[n] = row[1]
        return hits

    def _report(self, done: list[int]) -> None:
        if self.on_progress:
            self.on_progress(done[0], done[1])

    def _hash_many(self, items: list[_Item], done: list[int]) -> list[str]:
        """Hash items in batches; a thread pool when there is enough work for it."""
        batches = list(_batches(items))
        total = sum(i.key.size for i in items)
        results: dict[int, list[str]] = {}
        if len(batches) <= 1 or not self._worth_threads(len(items), total):
            for n, batch in enumerate(batches):
                results[n] = self._finish_batch(self._hash_batch(batch), batch, done)
            return [d for n in range(len(batches)) for d in results[n]]
        from concurrent.futures import FIRST_COMPLETED, ThreadPoolExecutor, wait  # 4 ms: lazily

        with ThreadPoolExecutor(self.workers, thread_name_prefix="mlog-hash") as pool:
            futures = {pool.submit(self._hash_batch, b): n for n, b in enumerate(batches)}
            pending: set[Future[list[str]]] = set(futures)
            while pending:
                finished, pending = wait(pending, return_when=FIRST_COMPLETED)
                for fut in finished:
                    n = futures[fut]
                    results[n] = self._finish_batch(fut.result(), batches[n], done)
        return [d for n in range(len(batches)) for d in results[n]]

    def _worth_threads(self, files: int, total: int) -> bool:
        """Threads pay off for big reads; small files are bound by the GIL (measured)."""
        return self.workers > 1 and total >= INLINE_BYTES and total >= files * PARALLEL_MIN_AVG

    def _finish_batch(self, digests: list[str], batch: list[_Item], done: list[int]) -> list[str]:
        nbytes = sum(i.key.size for i in batch)
        self.files_read += len(batch)
        self.bytes_read += nbytes
        done[0] += len(batch)
        done[1] += nbytes
        self._report(done)
        return digests

    def _hash_batch(self, batch: list[_Item]) -> list[str]:
        buf: bytearray | None = getattr(self._local, "buf", None)
        if buf is None:
            buf = self._local.buf = bytearray(BUFFER_SIZE)
        view = memoryview(buf)
        try:
            return [self._hash_item(item, view) for item in batch]
        finally:
            view.release()

    def _hash_item(self, item: _Item, view: memoryview) -> str:
        """Read one file and prove it did not change while it was read."""
        flags = os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0)
        if not self.follow_symlinks:
            flags |= getattr(os, "O_NOFOLLOW", 0)
        try:
            fd = os.open(item.abspath, flags)
        except OSError as exc:
            raise DataError(f"cannot read {item.abspath}: {exc.strerror}") from exc
        try:
            h, nread = self._read_fd(fd, item, view)
            after = FileKey.of(os.fstat(fd))
        finally:
            os.close(fd)
        if after != item.key or nread != item.key.size:
            raise DataError(
                f"unstable input: {item.abspath} changed while it was hashed "
                "(wait for the writer to finish, or hash a snapshot)"
            )
        return f"{self.algorithm}:{h.hexdigest()}"

    def _read_fd(self, fd: int, item: _Item, view: memoryview) -> tuple[_HashObject, int]:
        h = ALGORITHMS[self.algorithm]()
        want = item.key.size
        try:
            if want <= SMALL_FILE:
                data = os.read(fd, want)
                h.update(data)
                return h, len(data)
            if want >= MAP_MIN_BYTES and _CAN_MAP:
                return h, _read_mapped(fd, want, h)
            return h, _read_sequential(fd, want, h, view)
        except OSError as exc:
            raise DataError(f"cannot read {item.abspath}: {exc.strerror}") from exc


def _read_mapped(fd: int, want: int, h: _HashObject) -> int:
    """Hash a large file through pre-faulted memory-mapped windows.

    The read strategy is chosen by measurement (``benchmarks/bench_hashing.py``, issue 19, on
    the 2-core reference machine, 1 GiB file in page cache, medians of alternating runs):
    16 MiB ``MAP_POPULATE`` windows hashed in place ran at 101-146% of ``dd bs=1M`` where a
    ``readinto`` loop copying into a reused 1 MiB buffer ran at 32-90% (4/8/16 MiB buffers,
    ``posix_fadvise(SEQUENTIAL)``, ``MADV_SEQUENTIAL``/``WILLNEED`` and a two-thread
    read/hash pipeline did no better). The rule: a file of ``MAP_MIN_BYTES`` or more is mapped
    when the platform has ``MAP_POPULATE``; smaller files, and every file on other platforms,
    are read into the reused buffer (in the thread pool, reads of 4-16 MiB files beat
    mapping them, so the threshold stays high). Memory stays bounded by the window. The
    residual risk: a file truncated during the few milliseconds a window is hashed would end
    mlog with SIGBUS (before anything is written); smaller changes are caught by the stat
    check after reading.
    """
    nread = 0
    while nread < want:
        length = min(MAP_WINDOW, want - nread)
        if os.fstat(fd).st_size < nread + length:
            break  # shrank: the stat check reports it as unstable input
        window = mmap.mmap(fd, length, flags=_MAP_FLAGS, prot=mmap.PROT_READ, offset=nread)
        try:
            with memoryview(window) as view:
                h.update(view)
        finally:
            window.close()
        nread += length
    return nread


def _read_sequential(fd: int, want: int, h: _HashObject, view: memoryview) -> int:
    """Read into one reused buffer and hash it: constant memory, no copies."""
    nread = 0
    while nread < want:
        n = os.readv(fd, [view])
        if n == 0:
            break
        h.update(view[:n])
        nread += n
    return nread


_DIR_FLAGS = os.O_RDONLY | getattr(os, "O_DIRECTORY", 0) | getattr(os, "O_CLOEXEC", 0)
_S_IFMT = 0o170000  # the file-type bits of st_mode (stat.S_IFMT() as a mask)
_KEY = struct.Struct("<QQQqq")  # a file's (dev, ino, size, mtime_ns, ctime_ns), as in FileKey
_SIZE = itemgetter(2)


class _Found(NamedTuple):
    """What a stat walk found below ``base``, a list per field: the files' paths relative to
    ``base``, their (dev, ino, size, mtime_ns, ctime_ns) keys packed by ``_KEY`` (of the
    target, for a followed symlink; 40 bytes cost less to keep and to stamp than a stat result
    or a tuple per file), and the symlinks followed."""

    base: str
    rels: list[str]
    keys: list[bytes]
    links: list[SymlinkEntry]


def _tree_order(rels: list[str]) -> list[int]:
    """Indexes of ``rels`` in tree order (by path bytes); ASCII paths sort the same as str."""
    if _FS_ENCODING == "utf-8" and all(map(str.isascii, rels)):
        return sorted(range(len(rels)), key=rels.__getitem__)
    return sorted(range(len(rels)), key=lambda n: _fs(rels[n]))


def _far_key(st: os.stat_result) -> bytes:
    """The packed key of a file whose times do not fit 64 signed bits of nanoseconds."""
    from mlog.storage.hashcache import pack_key

    return pack_key(FileKey.of(st))


def _exact_key(path: str) -> FileKey:
    """A file's key stated again: a packed key with a time before 1970 may be one wrapped
    by :func:`_far_key` (only files read on a miss need it exact)."""
    try:
        return FileKey.of(os.stat(path))
    except OSError as exc:
        raise DataError(f"cannot read {path}: {exc.strerror}") from exc


def _stamp(rels: Sequence[str], keys: bytes) -> bytes:
    """A digest of every file's relative path and packed (dev, ino, size, mtime, ctime) key.

    Unambiguous: paths hold no NUL, so the joined paths hold one NUL fewer than there are
    files, and the packed keys that follow are 40 bytes a file.
    """
    h = xxhash.xxh3_128()
    h.update("\0".join(rels).encode(_FS_ENCODING, "surrogateescape"))
    h.update(keys)
    return h.digest()


def _fits(listing: bytes, count: int) -> bool:
    """Whether a cached listing has the shape of ``count`` lines (two NULs a line)."""
    return listing.count(b"\0") == 2 * count and (count > 0 or listing == b"")


def _batches(items: list[_Item]) -> Iterator[list[_Item]]:
    """Group small files so per-task overhead stays low; a big file is a batch alone."""
    batch: list[_Item] = []
    nbytes = 0
    for item in items:
        batch.append(item)
        nbytes += item.key.size
        if nbytes >= BATCH_BYTES or len(batch) >= BATCH_FILES:
            yield batch
            batch, nbytes = [], 0
    if batch:
        yield batch


# ---------------------------------------------------------------- convenience


def hash_file(path: str | os.PathLike[str], algorithm: str = DEFAULT_ALGORITHM) -> str:
    """Digest of one file's content, e.g. ``xxh3_128:<32 hex>``."""
    return Hasher(algorithm).hash_file(path)


def hash_directory(
    path: str | os.PathLike[str],
    algorithm: str = DEFAULT_ALGORITHM,
    *,
    follow_symlinks: bool = False,
) -> TreeHash:
    """Tree digest and manifest of a directory."""
    return Hasher(algorithm, follow_symlinks=follow_symlinks).hash_directory(path)


def hash_glob(
    root: str | os.PathLike[str],
    pattern: str,
    algorithm: str = DEFAULT_ALGORITHM,
    *,
    follow_symlinks: bool = False,
) -> TreeHash:
    """Tree digest and manifest of the files a glob selects below ``root``."""
    return Hasher(algorithm, follow_symlinks=follow_symlinks).hash_glob(root, pattern)


@dataclass(frozen=True)
class Rehash:
    """A file hashed again against a recorded digest: ``ok``, ``mismatch``, ``missing``,
    ``unreadable`` (``error`` says why) or ``outside the repository``."""

    status: str
    actual: str | None = None
    error: str | None = None


def rehash(root: os.PathLike[str], path: str, digest: str, kind: str = "file") -> Rehash:
    """Hash ``path`` below ``root`` again with ``digest``'s algorithm and compare.

    The one re-hash rule: registry gates, ``deployable --verify`` and ``check --full`` use it.
    """
    base = os.path.realpath(root)
    full = os.path.realpath(os.path.join(base, path))
    if kind != "glob":
        if os.path.commonpath([base, full]) != base:
            return Rehash("outside the repository")
        if not os.path.lexists(full):
            return Rehash("missing")
    try:
        hasher = Hasher(parse_digest(digest).algorithm)
        tree = hasher.hash_glob(base, path) if kind == "glob" else hasher.hash_path(full)
    except (DataError, KeyError, ValueError, OSError) as exc:
        return Rehash("unreadable", error=str(exc))
    return Rehash("ok" if tree.digest == digest else "mismatch", tree.digest)
