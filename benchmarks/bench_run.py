"""Overhead of `mlog run` and start-up of the CLI, beside DVC's `dvc exp run` and `dvc --version`.

Creates two throwaway repositories with N tracked files each (default 5,000): one for mlog, one
for DVC (a one-stage ``dvc.yaml`` whose command is the same ``python -c pass``). Prints the
median of several timings of each command beside its peer and the target of issue 19, with the
load average before and after. Child processes run with bytecode caching on (a
``PYTHONDONTWRITEBYTECODE`` in the caller's environment would make every start-up compile mlog
from source), after one warm-up each.

Usage: python benchmarks/bench_run.py [--files N] [--repeat K] [--dvc PATH/TO/dvc]
DVC is never a dependency of mlog: install it in a throwaway venv
(``python -m venv /tmp/dvc && /tmp/dvc/bin/pip install dvc``) and pass ``--dvc /tmp/dvc/bin/dvc``.
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
ENV = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
ENV.update(GIT_AUTHOR_NAME="b", GIT_AUTHOR_EMAIL="b@x", GIT_COMMITTER_NAME="b",
           GIT_COMMITTER_EMAIL="b@x")  # fmt: skip
PYTHON = [sys.executable, "-c", "pass"]


def load() -> str:
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


def make_repo(root: Path, files: int) -> None:
    root.mkdir(parents=True)
    subprocess.run(["git", "init", "-q", "-b", "main"], cwd=root, check=True)
    for index in range(files):
        folder = root / "src" / f"pkg{index // 100}"
        folder.mkdir(parents=True, exist_ok=True)
        (folder / f"mod{index}.py").write_text(f"VALUE = {index}\n")


def commit(root: Path) -> None:
    subprocess.run(["git", "add", "-A"], cwd=root, check=True, env=ENV)
    subprocess.run(["git", "commit", "-qm", "bench"], cwd=root, check=True, env=ENV)


def median_seconds(cmd: list[str], cwd: Path, repeat: int) -> float:
    subprocess.run(cmd, cwd=cwd, check=True, capture_output=True, env=ENV)  # warm-up
    timings = []
    for _ in range(repeat):
        start = time.perf_counter()
        subprocess.run(cmd, cwd=cwd, check=True, capture_output=True, env=ENV)
        timings.append(time.perf_counter() - start)
    return statistics.median(timings)


def row(what: str, mine: float, peer: str, target: str) -> None:
    print(f"{what:<34}{mine * 1000:8.0f} ms   {peer:<30} target {target}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", type=int, default=5000)
    parser.add_argument("--repeat", type=int, default=7)
    parser.add_argument("--dvc", default=shutil.which("dvc"), help="a dvc executable (peer)")
    args = parser.parse_args()
    print(f"load average at start: {load()}")
    with tempfile.TemporaryDirectory() as tmp:
        mine, theirs = Path(tmp) / "mlog", Path(tmp) / "dvc"
        make_repo(mine, args.files)
        subprocess.run([MLOG, "init"], cwd=mine, check=True, capture_output=True, env=ENV)
        commit(mine)
        plain = median_seconds(PYTHON, mine, args.repeat)
        wrapped = median_seconds([MLOG, "run", "--", *PYTHON], mine, args.repeat)
        version = median_seconds([MLOG, "--version"], mine, args.repeat)
        helptext = median_seconds([MLOG, "--help"], mine, args.repeat)
        dvc_run = dvc_version = None
        if args.dvc:
            make_repo(theirs, args.files)
            subprocess.run([args.dvc, "init", "-q"], cwd=theirs, check=True, env=ENV)
            (theirs / "dvc.yaml").write_text(
                f"stages:\n  train:\n    cmd: {sys.executable} -c pass\n    always_changed: true\n"
            )
            commit(theirs)
            dvc_run = median_seconds([args.dvc, "exp", "run"], theirs, args.repeat) - plain
            dvc_version = median_seconds([args.dvc, "--version"], theirs, args.repeat)
    print(f"repository with {args.files} tracked files, median of {args.repeat} runs")
    print(f"{'python -c pass':<34}{plain * 1000:8.0f} ms")
    peer = f"dvc exp run: +{dvc_run * 1000:.0f} ms" if dvc_run is not None else "dvc: not given"
    row("overhead of mlog run", wrapped - plain, peer, "<= 200 ms")
    peer = f"dvc --version: {dvc_version * 1000:.0f} ms" if dvc_version is not None else ""
    row("mlog --version", version, peer, "<= 100 ms")
    row("mlog --help", helptext, "", "-")
    print(f"load average at end: {load()}")


if __name__ == "__main__":
    main()
