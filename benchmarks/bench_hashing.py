"""Hashing benchmarks: throughput against dd and MD5, small files, cache, memory.

Run: ``python benchmarks/bench_hashing.py [--quick]`` (``--quick`` shrinks the data 8x).
"""

from __future__ import annotations

import argparse
import hashlib
import os
import re
import resource
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from mlog.storage.hashcache import HashCache
from mlog.storage.hashing import Hasher

MiB = 1 << 20


def best_of(n: int, fn: Callable[[], object]) -> float:
    times = []
    for _ in range(n):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def drop_caches() -> str:
    try:
        subprocess.run(["sync"], check=True)
        Path("/proc/sys/vm/drop_caches").write_text("3\n")
        return "cold (caches dropped)"
    except OSError:
        return "page-cached (could not drop caches)"


def dd_seconds(path: Path) -> float:
    out = subprocess.run(
        ["dd", f"if={path}", "of=/dev/null", "bs=1M"], capture_output=True, text=True, check=True
    ).stderr
    match = re.search(r"copied, ([0-9.]+) s", out)
    return float(match.group(1)) if match else float("nan")


def md5_file(path: Path) -> str:
    h = hashlib.md5()
    with open(path, "rb") as fh:
        while chunk := fh.read(MiB):
            h.update(chunk)
    return h.hexdigest()


def md5_walk(root: Path) -> None:
    for dirpath, _dirs, names in os.walk(root):
        for name in names:
            md5_file(Path(dirpath) / name)


def write_tree(root: Path, count: int, size: int) -> None:
    for i in range(count):
        sub = root / f"d{i // 1000:03d}"
        sub.mkdir(parents=True, exist_ok=True)
        (sub / f"f{i:06d}.bin").write_bytes(os.urandom(size))


def bench_big_file(tmp: Path, size: int, rows: list[tuple[str, str, str]]) -> None:
    big = tmp / "big.bin"
    with open(big, "wb") as fh:
        for _ in range(size // (64 * MiB)):
            fh.write(os.urandom(64 * MiB))
    hasher = Hasher()
    hasher.hash_file(big)
    gb = size / 1e9
    dd = min(dd_seconds(big) for _ in range(5))
    ours = best_of(5, lambda: hasher.hash_file(big))
    md5 = best_of(3, lambda: md5_file(big))
    label = f"{size // MiB} MiB cached file"
    rows.append((label, "dd bs=1M (read limit)", f"{gb / dd:.2f} GB/s"))
    rows.append((label, "mlog xxh3_128", f"{gb / ours:.2f} GB/s ({100 * dd / ours:.0f}% of dd)"))
    rows.append((label, "hashlib.md5 stream", f"{gb / md5:.2f} GB/s ({100 * dd / md5:.0f}% of dd)"))
    big.unlink()


def bench_medium(tmp: Path, count: int, rows: list[tuple[str, str, str]]) -> None:
    root = tmp / "medium"
    write_tree(root, count, 5 * MiB)
    label = f"{count} x 5 MiB files"
    mode = drop_caches()
    ours = best_of(1, lambda: Hasher().hash_directory(root))
    mode_md5 = drop_caches()
    md5 = best_of(1, lambda: md5_walk(root))
    gb = count * 5 * MiB / 1e9
    rows.append((label, f"mlog parallel, {mode}", f"{ours:.3f} s ({gb / ours:.2f} GB/s)"))
    rows.append((label, f"md5 walk, {mode_md5}", f"{md5:.3f} s ({gb / md5:.2f} GB/s)"))


def bench_small(tmp: Path, count: int, rows: list[tuple[str, str, str]]) -> None:
    root = tmp / "small"
    write_tree(root, count, 4096)
    time.sleep(0.1)  # leave the cache's racy window
    label = f"{count} x 4 KiB files"
    mode = drop_caches()
    cold = best_of(1, lambda: Hasher().hash_directory(root))
    rows.append((label, f"no cache, {mode}", f"{cold:.3f} s"))
    cache = HashCache(tmp / "cache" / "hashes.sqlite")
    first = best_of(1, lambda: Hasher(cache=cache).hash_directory(root))
    rows.append((label, "cold, filling the cache (page-cached)", f"{first:.3f} s"))
    warm = best_of(5, lambda: Hasher(cache=cache).hash_directory(root))
    rows.append((label, "warm re-check with cache", f"{warm:.3f} s"))
    (root / "d000" / "f000000.bin").write_bytes(os.urandom(4096))
    hasher = Hasher(cache=cache)
    touched = best_of(1, lambda: hasher.hash_directory(root))
    rows.append((label, f"one file touched ({hasher.files_read} re-read)", f"{touched:.3f} s"))


SPARSE_CHILD = """
import sys
sys.path.insert(0, sys.argv[2])
from mlog.storage.hashing import Hasher
Hasher().hash_file(sys.argv[1])
"""


def bench_rss(tmp: Path, size: int, rows: list[tuple[str, str, str]]) -> None:
    sparse = tmp / "sparse.bin"
    with open(sparse, "wb") as fh:
        fh.truncate(size)
    src = str(Path(__file__).resolve().parents[1] / "src")
    start = time.perf_counter()
    subprocess.run([sys.executable, "-c", SPARSE_CHILD, str(sparse), src], check=True)
    took = time.perf_counter() - start
    rss_mib = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    label = f"{size // MiB} MiB sparse file"
    rows.append((label, "peak RSS of a hashing process", f"{rss_mib:.0f} MiB ({took:.2f} s)"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="8x less data")
    args = parser.parse_args()
    scale = 8 if args.quick else 1
    rows: list[tuple[str, str, str]] = []
    with tempfile.TemporaryDirectory(dir=os.environ.get("BENCH_DIR")) as name:
        tmp = Path(name)
        bench_rss(tmp, (4096 // scale) * MiB, rows)
        bench_big_file(tmp, (1024 // scale) * MiB, rows)
        bench_medium(tmp, 200 // scale, rows)
        bench_small(tmp, 20000 // scale, rows)
    width = [max(len(r[i]) for r in rows) for i in range(3)]
    print(f"cpus: {os.cpu_count()}  python: {sys.version.split()[0]}")
    for row in rows:
        print("  ".join(cell.ljust(w) for cell, w in zip(row, width, strict=True)))


if __name__ == "__main__":
    main()
