"""Does one flat `.mlog/runs/` of 100,000 run directories slow git or the file system?

Issue 19 asks to shard run directories (by month, say) only if the flat layout measurably
slows git or the file system. For a committed REPO (``benchmarks/synthesize.py`` then a
commit), this makes a second clone whose runs are moved under ``runs/YYYY-MM/`` and prints,
for both layouts side by side (median of K):

- listing ``.mlog/runs`` (``os.scandir``) and stat-ing one record;
- ``git status`` (what every user runs) and ``git add`` + ``git commit`` of one new run;
- the bytes that one commit adds to ``.git/objects`` (the rewritten tree objects);
- ``git log -1 -- <one record>`` (what ``mlog check`` asks of history).

Usage: python benchmarks/bench_layout.py REPO [--repeat K]
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

ENV = {**os.environ, "GIT_AUTHOR_NAME": "b", "GIT_AUTHOR_EMAIL": "b@x",
       "GIT_COMMITTER_NAME": "b", "GIT_COMMITTER_EMAIL": "b@x"}  # fmt: skip


def load() -> str:
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


def git(repo: Path, *args: str) -> str:
    done = subprocess.run(["git", *args], cwd=repo, check=True, capture_output=True, env=ENV)
    return done.stdout.decode()


def seconds(action: Callable[[], object], repeat: int) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        action()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def loose_bytes(repo: Path) -> int:
    objects = repo / ".git" / "objects"
    return sum(f.stat().st_size for d in objects.glob("[0-9a-f][0-9a-f]") for f in d.iterdir())


def shard(repo: Path) -> None:
    """Move each run directory under runs/YYYY-MM/ (from its id) and commit the move."""
    runs = repo / ".mlog" / "runs"
    moved = False
    for entry in list(os.scandir(runs)):
        if entry.is_dir() and len(entry.name) > 8 and entry.name[:8].isdigit():  # filed flat
            month = runs / f"{entry.name[:4]}-{entry.name[4:6]}"
            month.mkdir(exist_ok=True)
            os.rename(entry.path, month / entry.name)
            moved = True
    if moved:
        git(repo, "add", "-A", ".mlog")
        git(repo, "commit", "-qm", "shard runs by month")
    git(repo, "gc", "-q")


def unshard(repo: Path) -> None:
    """Move each run out of its month folder into runs/<id> (as mlog 0.1 filed them)."""
    runs = repo / ".mlog" / "runs"
    moved = False
    for month in [
        p for p in runs.iterdir() if p.is_dir() and len(p.name) == 7 and p.name[4] == "-"
    ]:
        for run in list(month.iterdir()):
            os.rename(run, runs / run.name)
        month.rmdir()
        moved = True
    if moved:
        git(repo, "add", "-A", ".mlog")
        git(repo, "commit", "-qm", "runs filed flat")


def one_record(repo: Path) -> Path:
    return next((repo / ".mlog" / "runs").rglob("record.yaml"))


def measure(repo: Path, sharded: bool, repeat: int) -> dict[str, str]:
    runs = repo / ".mlog" / "runs"
    record = one_record(repo)
    relative = str(record.relative_to(repo))
    listing = seconds(lambda: list(os.scandir(runs)), repeat)
    status = seconds(lambda: git(repo, "status", "--porcelain"), repeat)
    history = seconds(lambda: git(repo, "log", "-1", "--", relative), repeat)
    figures = {
        "scandir .mlog/runs": f"{listing * 1000:.1f} ms",
        "stat one record": f"{seconds(record.stat, repeat) * 1e6:.0f} us",
        "git status": f"{status:.3f} s",
        "git log -1 -- RECORD": f"{history:.3f} s",
    }
    adds, grown = [], []
    for n in range(repeat):
        name = f"20991231T2359{n:02d}000000Z-0000000{n}"
        fullest = max(runs.iterdir(), key=lambda p: len(os.listdir(p))).name if sharded else ""
        folder = runs / fullest / name  # the worst case: the month with the most runs
        folder.mkdir(parents=True)
        (folder / "record.yaml").write_text(f"id: {name}\n")
        before = loose_bytes(repo)
        start = time.perf_counter()
        git(repo, "add", "--", str(folder.relative_to(repo)))
        git(repo, "commit", "-qm", f"run {n}")
        adds.append(time.perf_counter() - start)
        grown.append(loose_bytes(repo) - before)
    figures["git add + commit of one run"] = f"{statistics.median(adds):.3f} s"
    figures["bytes one commit adds"] = f"{statistics.median(grown) / 1024:.0f} KiB"
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("repo", type=Path)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    print(f"load average at start: {load()}")
    with tempfile.TemporaryDirectory() as tmp:
        flat, sharded = Path(tmp) / "flat", Path(tmp) / "sharded"
        for target in (flat, sharded):
            git(Path(tmp), "clone", "-q", str(args.repo.resolve()), str(target))
        unshard(flat)
        git(flat, "gc", "-q")
        shard(sharded)
        results = {"flat": measure(flat, False, args.repeat),
                   "by month": measure(sharded, True, args.repeat)}  # fmt: skip
    runs = sum(1 for _ in (args.repo / ".mlog" / "runs").glob("**/record.yaml"))
    print(f"{runs} run directories, median of {args.repeat}")
    print(f"{'':32}{'flat':>14}{'by month':>14}")
    for what in results["flat"]:
        print(f"{what:32}{results['flat'][what]:>14}{results['by month'][what]:>14}")
    print(f"load average at end: {load()}")
    shutil.rmtree(Path(tmp), ignore_errors=True)


if __name__ == "__main__":
    main()
