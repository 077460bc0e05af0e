"""Overhead of `mlog run` and start-up time of the CLI.

Creates a throwaway repository with N tracked files (default 5,000), then prints the median of
several timings of: plain `python -c pass`, `mlog run -- python -c pass`, `mlog --version` and
`mlog --help`.

Usage: python benchmarks/bench_run.py [--files N] [--repeat K]
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

MLOG = shutil.which("mlog") or str(Path(sys.executable).parent / "mlog")


def make_repo(root: Path, files: int) -> None:
    env = {
        **os.environ,
        "GIT_AUTHOR_NAME": "b",
        "GIT_AUTHOR_EMAIL": "b@x",
        "GIT_COMMITTER_NAME": "b",
        "GIT_COMMITTER_EMAIL": "b@x",
    }
    subprocess.run(["git", "init", "-q", "-b", "main"], cwd=root, check=True)
    for index in range(files):
        folder = root / "src" / f"pkg{index // 100}"
        folder.mkdir(parents=True, exist_ok=True)
        (folder / f"mod{index}.py").write_text(f"VALUE = {index}\n")
    subprocess.run([MLOG, "init"], cwd=root, check=True, capture_output=True)
    subprocess.run(["git", "add", "-A"], cwd=root, check=True)
    subprocess.run(["git", "commit", "-qm", "bench"], cwd=root, check=True, env=env)


def median_seconds(cmd: list[str], cwd: Path, repeat: int) -> float:
    timings = []
    for _ in range(repeat):
        start = time.perf_counter()
        subprocess.run(cmd, cwd=cwd, check=True, capture_output=True)
        timings.append(time.perf_counter() - start)
    return statistics.median(timings)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", type=int, default=5000)
    parser.add_argument("--repeat", type=int, default=7)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        make_repo(root, args.files)
        python = [sys.executable, "-c", "pass"]
        plain = median_seconds(python, root, args.repeat)
        wrapped = median_seconds([MLOG, "run", "--", *python], root, args.repeat)
        version = median_seconds([MLOG, "--version"], root, args.repeat)
        helptext = median_seconds([MLOG, "--help"], root, args.repeat)
    print(f"repository with {args.files} tracked files, median of {args.repeat} runs")
    print(f"{'python -c pass':<36}{plain * 1000:8.0f} ms")
    print(f"{'mlog run -- python -c pass':<36}{wrapped * 1000:8.0f} ms")
    print(f"{'overhead of mlog run':<36}{(wrapped - plain) * 1000:8.0f} ms   (target < 300 ms)")
    print(f"{'mlog --version':<36}{version * 1000:8.0f} ms   (target < 150 ms)")
    print(f"{'mlog --help':<36}{helptext * 1000:8.0f} ms")


if __name__ == "__main__":
    main()
