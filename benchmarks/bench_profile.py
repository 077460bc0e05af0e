"""Data-profile benchmark: profiling a 1 GiB CSV and a 1 GiB Parquet file against pyarrow alone.

For each file, each measurement runs in a fresh Python process (so its peak RSS is its own):

* ``read (table)``: ``pyarrow.csv.read_csv`` / ``pyarrow.parquet.read_table``, the whole table
  in memory: the plain read most scripts do;
* ``read (stream)``: the same file batch by batch with pyarrow's default options and nothing
  else (``open_csv``, ``ParquetFile.iter_batches``), the floor for a streaming pass;
* ``mlog profile``: :func:`mlog.profile.compute.profile_files` on the file (no sampling).

Target (issue 18): profile within 1.5x of the plain read, peak RSS under 500 MB.
Run: ``python benchmarks/bench_profile.py [--size-mib N] [--repeat N] [--dir DIR]``.
Files are generated once (numpy + pyarrow) and kept in DIR for later runs.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from pathlib import Path

SRC = str(Path(__file__).resolve().parents[1] / "src")
MiB = 1 << 20
CHUNK_ROWS = 250_000

READ_TABLE = {
    "csv": "import pyarrow.csv as c, sys; t = c.read_csv(sys.argv[1]); print(t.num_rows)",
    "parquet": "import pyarrow.parquet as p, sys; t = p.read_table(sys.argv[1]); print(t.num_rows)",
}
READ_STREAM = {
    "csv": (
        "import pyarrow.csv as c, sys\n"
        "r = c.open_csv(sys.argv[1])\n"
        "print(sum(b.num_rows for b in r))"
    ),
    "parquet": (
        "import pyarrow.parquet as p, sys\n"
        "f = p.ParquetFile(sys.argv[1])\n"
        "print(sum(b.num_rows for b in f.iter_batches(batch_size=256 * 1024)))"
    ),
}
PROFILE = (
    "import sys\n"
    f"sys.path.insert(0, {SRC!r})\n"
    "from mlog.profile.compute import ProfileSettings, profile_files\n"
    "p = profile_files([sys.argv[1]], settings=ProfileSettings(sample_above_bytes=None))\n"
    "print(p['rows'])"
)


def chunk(rows: int, start: int, seed: int) -> object:
    import numpy as np
    import pyarrow as pa

    rng = np.random.default_rng(seed)
    cities = np.array([f"city_{i:03d}" for i in range(200)])
    age = rng.integers(18, 90, rows)
    return pa.table(
        {
            "id": pa.array(np.arange(start, start + rows)),
            "amount": pa.array(np.round(rng.lognormal(4, 1, rows), 2)),
            "score": pa.array(rng.normal(0, 1, rows)),
            "age": pa.array(age, mask=rng.random(rows) < 0.05),
            "city": pa.array(cities[rng.zipf(1.5, rows) % 200]),
            "segment": pa.array(np.array(["retail", "sme", "corp", "gov"])[age % 4]),
            "fraud": pa.array(rng.random(rows) < 0.01),
        }
    )


def generate(path: Path, fmt: str, size: int) -> None:
    """Append 1M-row chunks until the file reaches ``size`` bytes."""
    import pyarrow.csv as pcsv
    import pyarrow.parquet as pq

    tmp = path.with_suffix(path.suffix + ".partial")
    written, index = 0, 0
    first = chunk(CHUNK_ROWS, 0, 0)
    sink = open(tmp, "wb") if fmt == "csv" else None  # noqa: SIM115
    writer = (
        pcsv.CSVWriter(sink, first.schema)  # type: ignore[attr-defined]
        if fmt == "csv"
        else pq.ParquetWriter(tmp, first.schema)  # type: ignore[attr-defined]
    )
    while written < size:
        table = first if index == 0 else chunk(CHUNK_ROWS, index * CHUNK_ROWS, index)
        writer.write_table(table)
        index += 1
        written = sink.tell() if sink else tmp.stat().st_size
    writer.close()
    if sink:
        sink.close()
    tmp.rename(path)


def measure(code: str, path: Path) -> tuple[float, int, str]:
    """Wall seconds, peak RSS bytes and stdout of ``python -c code path`` in a fresh process."""
    start = time.perf_counter()
    proc = subprocess.Popen(
        [sys.executable, "-c", code, str(path)], stdout=subprocess.PIPE, text=True
    )
    out = proc.stdout.read() if proc.stdout else ""
    _, status, usage = os.wait4(proc.pid, 0)
    elapsed = time.perf_counter() - start
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode:
        raise SystemExit(f"measurement failed ({proc.returncode}): {code}")
    return elapsed, usage.ru_maxrss * 1024, out.strip()


def best(code: str, path: Path, repeat: int) -> tuple[float, int, str]:
    runs = [measure(code, path) for _ in range(repeat)]
    return min(r[0] for r in runs), max(r[1] for r in runs), runs[0][2]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size-mib", type=int, default=1024, help="size of each file")
    parser.add_argument("--repeat", type=int, default=2, help="runs per measurement (best time)")
    parser.add_argument("--dir", default="/tmp/mlog-bench-profile", help="where the files live")
    parser.add_argument(
        "--formats", default="csv,parquet", help="comma-separated: csv, parquet (default both)"
    )
    args = parser.parse_args()
    folder = Path(args.dir)
    folder.mkdir(parents=True, exist_ok=True)
    import pyarrow

    print(f"pyarrow {pyarrow.__version__}, python {sys.version.split()[0]}, {os.cpu_count()} CPUs")
    for fmt, name in (("csv", "data.csv"), ("parquet", "data.parquet")):
        if fmt not in args.formats.split(","):
            continue
        path = folder / f"{args.size_mib}MiB-{name}"
        if not path.exists():
            started = time.perf_counter()
            generate(path, fmt, args.size_mib * MiB)
            print(f"generated {path} in {time.perf_counter() - started:.0f} s")
        size = path.stat().st_size
        print(f"\n{fmt}: {path} ({size / MiB:.0f} MiB)")
        print(f"  load average before: {Path('/proc/loadavg').read_text().strip()}")
        table = best(READ_TABLE[fmt], path, args.repeat)
        stream = best(READ_STREAM[fmt], path, args.repeat)
        profile = best(PROFILE, path, args.repeat)
        assert table[2] == stream[2] == profile[2], (table, stream, profile)
        print(f"  rows: {profile[2]}")
        for label, (seconds, rss, _) in (
            ("pyarrow read (table)", table),
            ("pyarrow read (stream)", stream),
            ("mlog profile", profile),
        ):
            print(f"  {label:22s} {seconds:7.2f} s  peak RSS {rss / MiB:7.0f} MiB")
        print(
            f"  profile / table read: {profile[0] / table[0]:.2f}x   "
            f"profile / stream read: {profile[0] / stream[0]:.2f}x   "
            f"(target <= 1.5x, RSS < 500 MB: {'met' if profile[1] < 500e6 else 'NOT met'})"
        )
        print(f"  load average after: {Path('/proc/loadavg').read_text().strip()}")


if __name__ == "__main__":
    main()
