"""Hashing benchmarks: each figure beside `dd`, MD5 (DVC's algorithm), DVC itself and the target.

Run: ``python benchmarks/bench_hashing.py [--quick] [--repeat N] [--dvc PATH] [--mlog-src DIR]``.

- 1 GiB file in page cache, in process: mlog against ``dd bs=1M`` (target >= 85% of dd), and
  the two read strategies mlog chooses between (1 MiB ``readinto`` loop; 16 MiB windows mapped
  with ``MAP_POPULATE``), plus a streaming MD5. Runs alternate; medians.
- 200 x 5 MiB and 20,000 x 4 KiB files: hashing with and without the hash cache.
- 20,000 x 4 KiB unchanged files: the whole ``mlog run --data`` extra cost (median of
  ``mlog run --data data`` minus median of ``mlog run``, alternating, same repository; target
  <= 0.15 s), beside ``dvc status`` over a copy of the same files when a DVC executable is
  given or found on PATH, in /tmp/dvc/bin or /tmp/dvc15/bin.
  ``--mlog-src DIR`` measures another checkout's ``src`` too (before/after in one sitting).

``--quick`` shrinks the data 8x; ``--drop-caches`` (root) adds a cold-read figure.
Prints the load average before and after.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import re
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

SRC = Path(__file__).resolve().parents[1] / "src"
sys.path.insert(0, str(SRC))

from mlog.storage import hashing  # noqa: E402
from mlog.storage.hashcache import HashCache  # noqa: E402
from mlog.storage.hashing import Hasher  # noqa: E402

MiB = 1 << 20
Row = tuple[str, str, str, str]
RUN_MLOG = (
    "import sys; sys.path.insert(0, sys.argv.pop(1)); from mlog.cli.entry import main; main()"
)


def timed(fn: Callable[[], object]) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def median_of(n: int, fn: Callable[[], object]) -> float:
    return statistics.median(timed(fn) for _ in range(n))


def alternate(n: int, fns: dict[str, Callable[[], object]]) -> dict[str, float]:
    """Median time of each function, the functions run in turn ``n`` times (fair under load)."""
    times: dict[str, list[float]] = {name: [] for name in fns}
    for _ in range(n):
        for name, fn in fns.items():
            times[name].append(timed(fn))
    return {name: statistics.median(values) for name, values in times.items()}


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


def strategy(path: Path, mapped: bool) -> Callable[[], object]:
    """One of the two large-file strategies alone, as ``Hasher`` runs it."""
    size = path.stat().st_size
    view = memoryview(bytearray(hashing.BUFFER_SIZE))

    def run() -> object:
        h = hashing.new_hash()
        fd = os.open(path, os.O_RDONLY)
        try:
            if mapped:
                hashing._read_mapped(fd, size, h)
            else:
                hashing._read_sequential(fd, size, h, view)
        finally:
            os.close(fd)
        return h.hexdigest()

    return run


def bench_big_file(tmp: Path, size: int, repeat: int, rows: list[Row]) -> None:
    big = tmp / "big.bin"
    with open(big, "wb") as fh:
        for _ in range(max(1, size // (64 * MiB))):
            fh.write(os.urandom(min(size, 64 * MiB)))
    subprocess.run(["sync"], check=True)
    hasher = Hasher()
    hasher.hash_file(big)  # into the page cache
    found = alternate(
        repeat,
        {
            "dd": lambda: dd_seconds(big),
            "mlog": lambda: hasher.hash_file(big),
            "read": strategy(big, mapped=False),
            "mapped": strategy(big, mapped=True),
        },
    )
    dd = statistics.median(dd_seconds(big) for _ in range(repeat))  # dd's own figure, not wall
    md5 = median_of(max(1, repeat // 3), lambda: md5_file(big))
    gb = size / 1e9
    label = f"{size // MiB} MiB file in page cache"

    def pct(seconds: float) -> str:
        return f"{gb / seconds:.2f} GB/s, {100 * dd / seconds:.0f}% of dd"

    rows.append((label, "dd if=F of=/dev/null bs=1M", f"{gb / dd:.2f} GB/s", "the read limit"))
    chosen = "mapped" if size >= hashing.MAP_MIN_BYTES and hashing._CAN_MAP else "read"
    rows.append((label, f"mlog xxh3_128 (chooses {chosen})", pct(found["mlog"]), ">= 85% of dd"))
    rows.append((label, "  readinto loop, 1 MiB buffer", pct(found["read"]), ""))
    rows.append((label, "  16 MiB MAP_POPULATE windows", pct(found["mapped"]), ""))
    rows.append((label, "streaming MD5 (DVC's algorithm)", pct(md5), ""))
    big.unlink()


def bench_medium(tmp: Path, count: int, drop: bool, rows: list[Row]) -> None:
    root = tmp / "medium"
    write_tree(root, count, 5 * MiB)
    label = f"{count} x 5 MiB files"
    found = alternate(
        3, {"mlog": lambda: Hasher().hash_directory(root), "md5": lambda: md5_walk(root)}
    )
    gb = count * 5 * MiB / 1e9
    ratio = found["md5"] / found["mlog"]
    rows.append(
        (
            label,
            "mlog, page cache",
            f"{found['mlog']:.3f} s ({gb / found['mlog']:.2f} GB/s)",
            f"{ratio:.0f}x the MD5 walk (>= 10x)",
        )
    )
    rows.append((label, "MD5 walk, page cache", f"{found['md5']:.3f} s", ""))
    mode = drop_caches() if drop else ""
    if mode.startswith("cold"):
        cold = timed(lambda: Hasher().hash_directory(root))
        rows.append((label, f"mlog, {mode}", f"{cold:.3f} s ({gb / cold:.2f} GB/s)", ""))


def bench_small(tmp: Path, count: int, rows: list[Row]) -> None:
    root = tmp / "small"
    write_tree(root, count, 4096)
    time.sleep(0.1)  # leave the cache's racy window
    label = f"{count} x 4 KiB files"
    cold = median_of(3, lambda: Hasher().hash_directory(root))
    rows.append((label, "no cache, page-cached", f"{cold:.3f} s", "< 0.5 s"))
    cache = HashCache(tmp / "cache" / "hashes.sqlite")
    first = timed(lambda: Hasher(cache=cache).hash_directory(root))
    rows.append((label, "filling the cache (page-cached)", f"{first:.3f} s", ""))
    warm = median_of(5, lambda: Hasher(cache=cache).hash_directory(root))
    rows.append((label, "warm re-check, in process", f"{warm:.3f} s", ""))
    (root / "d000" / "f000000.bin").write_bytes(os.urandom(4096))
    hasher = Hasher(cache=cache)
    touched = timed(lambda: hasher.hash_directory(root))
    rows.append((label, f"one file touched ({hasher.files_read} re-read)", f"{touched:.3f} s", ""))


def git(repo: Path, *args: str) -> None:
    subprocess.run(["git", *args], cwd=repo, check=True, capture_output=True)


def make_run_repo(repo: Path, count: int) -> None:
    write_tree(repo / "data", count, 4096)
    git(repo, "init", "-q")
    git(repo, "config", "user.email", "bench@example.com")
    git(repo, "config", "user.name", "bench")
    (repo / ".gitignore").write_text("data/\n")
    git(repo, "add", ".gitignore")
    git(repo, "commit", "-qm", "init")


def mlog_command(src: Path) -> list[str]:
    return [sys.executable, "-c", RUN_MLOG, str(src)]


def bench_run_data(
    tmp: Path, count: int, repeat: int, sources: dict[str, Path], dvc: str | None, rows: list[Row]
) -> None:
    cpu: dict[str, list[float]] = {}

    def run(repo: Path, src: Path, *extra: str, name: str = "") -> Callable[[], object]:
        cmd = [*mlog_command(src), "run", *extra, "--", sys.executable, "-c", "pass"]

        def go() -> None:
            before = resource.getrusage(resource.RUSAGE_CHILDREN)
            subprocess.run(cmd, cwd=repo, check=True, capture_output=True)
            after = resource.getrusage(resource.RUSAGE_CHILDREN)
            used = after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime
            cpu.setdefault(name, []).append(used)  # CPU seconds: less sensitive to load

        return go

    fns: dict[str, Callable[[], object]] = {}
    for name, src in sources.items():  # one repository each: versions may differ in caches
        repo = tmp / f"run-{name}"
        repo.mkdir()
        make_run_repo(repo, count)
        subprocess.run([*mlog_command(src), "init"], cwd=repo, check=True, capture_output=True)
        git(repo, "add", "-A")
        git(repo, "commit", "-qm", "mlog")
        time.sleep(0.1)  # leave the hash cache's racy window
        for _ in range(2):  # fill the hash cache and the manifest note, warm the page cache
            run(repo, src, "--data", "data")()
        fns[f"{name} plain"] = run(repo, src, name=f"{name} plain")
        fns[f"{name} data"] = run(repo, src, "--data", "data", name=f"{name} data")
    cpu.clear()
    found = alternate(repeat, fns)
    label = f"{count} x 4 KiB unchanged"
    for name in sources:
        extra = found[f"{name} data"] - found[f"{name} plain"]
        what = f"`mlog run --data` extra ({name})"
        detail = f"{found[f'{name} data']:.2f} - {found[f'{name} plain']:.2f} s"
        rows.append((label, what, f"{extra:.3f} s ({detail})", "<= 0.15 s"))
        spent = statistics.median(cpu[f"{name} data"]) - statistics.median(cpu[f"{name} plain"])
        rows.append((label, f"  the same in CPU time ({name})", f"{spent:.3f} s", ""))
    if dvc:
        bench_dvc_status(tmp / "run-this", dvc, repeat, label, rows)


def bench_dvc_status(repo: Path, dvc: str, repeat: int, label: str, rows: list[Row]) -> None:
    peer = repo.parent / "dvc-repo"
    peer.mkdir()
    shutil.copytree(repo / "data", peer / "data")
    git(peer, "init", "-q")
    subprocess.run([dvc, "init", "-q"], cwd=peer, check=True, capture_output=True)
    added = timed(
        lambda: subprocess.run([dvc, "add", "data"], cwd=peer, check=True, capture_output=True)
    )
    status = median_of(
        repeat, lambda: subprocess.run([dvc, "status"], cwd=peer, check=True, capture_output=True)
    )
    version = subprocess.run([dvc, "--version"], capture_output=True, text=True).stdout.strip()
    what = f"peer: `dvc status` (dvc {version}, nothing changed)"
    rows.append((label, what, f"{status:.3f} s", ""))
    rows.append((label, "peer: `dvc add data` (first hash)", f"{added:.3f} s", ""))


SPARSE_CHILD = """
import sys
sys.path.insert(0, sys.argv[2])
from mlog.storage.hashing import Hasher
Hasher().hash_file(sys.argv[1])
"""


def bench_rss(tmp: Path, size: int, rows: list[Row]) -> None:
    sparse = tmp / "sparse.bin"
    with open(sparse, "wb") as fh:
        fh.truncate(size)
    took = timed(
        lambda: subprocess.run(
            [sys.executable, "-c", SPARSE_CHILD, str(sparse), str(SRC)], check=True
        )
    )
    rss_mib = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    label = f"{size // MiB} MiB sparse file"
    rows.append(
        (label, "peak RSS of a hashing process", f"{rss_mib:.0f} MiB ({took:.2f} s)", "< 100 MB")
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="8x less data")
    parser.add_argument("--repeat", type=int, default=7, help="runs per figure (medians)")
    parser.add_argument("--dvc", help="a dvc executable for the `dvc status` peer")
    parser.add_argument("--mlog-src", type=Path, help="another checkout's src/ to measure too")
    parser.add_argument(
        "--drop-caches",
        action="store_true",
        help="also time a cold read (drops the whole machine's page cache: not on a shared box)",
    )
    parser.add_argument("--only", choices=["big", "run"], help="one part only")
    args = parser.parse_args()
    scale = 8 if args.quick else 1
    places = os.pathsep.join([os.environ.get("PATH", ""), "/tmp/dvc/bin", "/tmp/dvc15/bin"])
    dvc = args.dvc or shutil.which("dvc", path=places)
    sources = {"this": SRC}
    if args.mlog_src:
        sources["other"] = args.mlog_src.resolve()
    rows: list[Row] = []
    before = Path("/proc/loadavg").read_text().strip()
    with tempfile.TemporaryDirectory(dir=os.environ.get("BENCH_DIR")) as name:
        tmp = Path(name)
        if args.only in (None, "big"):
            bench_big_file(tmp, (1024 // scale) * MiB, args.repeat, rows)
        if args.only is None:
            bench_rss(tmp, (4096 // scale) * MiB, rows)
            bench_medium(tmp, 200 // scale, args.drop_caches, rows)
            bench_small(tmp, 20000 // scale, rows)
        if args.only in (None, "run"):
            bench_run_data(tmp, 20000 // scale, args.repeat, sources, dvc, rows)
    after = Path("/proc/loadavg").read_text().strip()
    header: Row = ("data", "what", "figure (medians)", "target / peer")
    width = [max(len(r[i]) for r in [header, *rows]) for i in range(4)]
    print(f"cpus: {os.cpu_count()}  python: {sys.version.split()[0]}  repeat: {args.repeat}")
    print(f"load average before: {before}  after: {after}")
    for row in [header, *rows]:
        print("  ".join(cell.ljust(w) for cell, w in zip(row, width, strict=True)).rstrip())


if __name__ == "__main__":
    main()
