"""mlog at scale: the per-command costs that must not grow with the number of runs.

For each REPO made by ``benchmarks/synthesize.py REPO N`` (say 1k, 10k, 50k, 100k runs), prints
the median of several timings of each command beside its target (from issue 19), and the load
average before and after, so figures from a busy machine are read as such:

- ``mlog run -- python -c pass`` (minus ``python -c pass``): the same at every size (alias from a
  stamped high-water file, no listing of runs);
- warm ``ls --where ... --limit 10``, ``show v500``, ``ls`` without ``--limit``;
- cold index build (the index deleted, then ``ls --limit 1``) with its peak memory;
- ``mlog check`` with an empty verification cache, then again (incremental).

MLflow's ``search_runs`` side by side is in ``bench_query.py`` (same repositories).

Usage: python benchmarks/bench_scale.py REPO [REPO ...] [--repeat K]
Runs are added to each REPO by the ``mlog run`` timings (``--allow-dirty``; they stay uncommitted).
"""

from __future__ import annotations

import argparse
import resource
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

MLOG = shutil.which("mlog") or str(Path(sys.executable).parent / "mlog")
WHERE = "params.lr > 0.01 and status = 'succeeded'"


def timed(cmd: list[str], cwd: Path) -> tuple[float, int]:
    """(seconds, peak RSS in MB of the child) of one command."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    start = time.perf_counter()
    subprocess.run(cmd, cwd=cwd, check=True, capture_output=True)
    seconds = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    return seconds, max(before, after) // 1024


def median(cmd: list[str], cwd: Path, repeat: int) -> float:
    return statistics.median(timed(cmd, cwd)[0] for _ in range(repeat))


def load() -> str:
    return Path("/proc/loadavg").read_text().split(" ")[0]


def count_runs(repo: Path) -> int:
    return sum(1 for p in (repo / ".mlog" / "runs").iterdir() if not p.name.startswith("."))


def bench(repo: Path, repeat: int) -> None:
    runs = count_runs(repo)
    print(f"\n== {repo}: {runs} runs (load {load()} at start)")
    cache = repo / ".mlog" / "cache"
    for name in ("index.sqlite", "index.sqlite-wal", "index.sqlite-shm", "check-verified.json"):
        (cache / name).unlink(missing_ok=True)
    cold, cold_mb = timed([MLOG, "ls", "--limit", "1"], repo)
    rows = [("cold index build (ls --limit 1)", f"{cold:.2f} s, {cold_mb} MB", "<= 3 s at 10k")]
    check, check_mb = timed([MLOG, "check"], repo)
    rows.append(("mlog check, nothing verified yet", f"{check:.2f} s, {check_mb} MB", ""))
    again = median([MLOG, "check"], repo, repeat)
    rows.append(("mlog check, incremental", f"{again:.2f} s", "<= 3 s at 10k"))
    python = median([sys.executable, "-c", "pass"], repo, repeat)
    run = median([MLOG, "run", "--allow-dirty", "--", sys.executable, "-c", "pass"], repo, repeat)
    rows.append(("mlog run overhead", f"{run - python:.2f} s", "<= 0.20 s, same at any size"))
    warm = median([MLOG, "ls", "--where", WHERE, "--limit", "10"], repo, repeat)
    rows.append(("warm ls --where --limit 10", f"{warm:.2f} s", "<= 0.25 s at 100k"))
    show = median([MLOG, "show", "v500"], repo, repeat)
    rows.append(("show v500", f"{show:.2f} s", "<= 0.2 s at 100k"))
    full = median([MLOG, "ls"], repo, max(1, repeat // 2))
    rows.append(("ls without --limit", f"{full:.2f} s", "<= 1 s at 10k"))
    version = median([MLOG, "--version"], repo, repeat)
    rows.append(("mlog --version", f"{version:.3f} s", "<= 0.10 s"))
    for what, figure, target in rows:
        print(f"{what:36} {figure:>18}   target {target}")
    print(f"(load {load()} at end)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("repos", nargs="+", type=Path)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    for repo in args.repos:
        bench(repo, args.repeat)


if __name__ == "__main__":
    main()
