"""Create N valid run records in a repository, to reproduce mlog's scale figures.

Usage: python benchmarks/synthesize.py REPO N [--seed S] [--no-validate] [--jobs J]

REPO is created (git init, mlog init, one commit) when it does not exist yet.
Records go through mlog's own ``records.seal`` and ``Store.write_run`` and are
schema-validated, so they are exactly what ``mlog run`` would have written. The
values come from ``random.Random``, seeded per block of 1,000 runs from ``seed`` and the
block's first alias, so the same N and seed give the same runs whatever the number of
processes (all cores by default): 100,000 records take a few minutes.
"""

from __future__ import annotations

import argparse
import os
import random
import subprocess
import sys
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from mlog.storage import records, yamlio
from mlog.storage.schema import validate
from mlog.storage.store import Store

MODELS = ("fraud-gbm", "churn-xgb", "ranker", "default")
TEAMS = ("fraud", "growth", "search")
STATUSES = ("succeeded",) * 16 + ("failed",) * 3 + ("interrupted",)
LEARNING_RATES = (0.3, 0.1, 0.03, 0.01, 0.003, 0.001)
BATCH_SIZES = (16, 32, 64, 128, 256)
START = datetime(2024, 1, 1, tzinfo=timezone.utc)


def git(repo: Path, *args: str) -> str:
    done = subprocess.run(["git", *args], cwd=repo, check=True, capture_output=True, text=True)
    return done.stdout.strip()


def ensure_repo(repo: Path) -> Store:
    """A git repository with mlog initialised and one commit."""
    repo.mkdir(parents=True, exist_ok=True)
    if not (repo / ".git").exists():
        git(repo, "init", "-q", "-b", "main")
    store = Store(repo)
    store.init()
    if subprocess.run(["git", "rev-parse", "HEAD"], cwd=repo, capture_output=True).returncode:
        (repo / "train.py").write_text("print('training')\n")
        git(repo, "add", "-A")
        git(repo, "-c", "user.name=bench", "-c", "user.email=b@x", "commit", "-qm", "init")
    return store


def make_record(
    rng: random.Random, number: int, commit: str, tree: str, packages: list[str]
) -> dict[str, Any]:
    """One record with the shape of a real ``mlog run`` on this machine."""
    started = START + timedelta(minutes=7 * number, seconds=rng.randint(0, 59))
    duration = round(rng.uniform(30, 3600), 3)
    status = rng.choice(STATUSES)
    params = {
        "lr": rng.choice(LEARNING_RATES),
        "batch_size": rng.choice(BATCH_SIZES),
        "epochs": rng.randint(1, 50),
        "optimizer": rng.choice(("adam", "sgd", "adamw")),
        "seed": rng.randint(0, 2**31 - 1),
    }
    return {
        "schema_version": records.SCHEMA_VERSION,
        "id": _run_id(rng, started),
        "alias": f"v{number}",
        "model": rng.choice(MODELS),
        "status": status,
        "note": rng.choice((None, "baseline", "more trees", "new features", "try warmup")),
        "tags": {"team": rng.choice(TEAMS)},
        "code": _code(rng, commit, tree),
        "command": _command(rng, started, duration, status),
        "environment": _environment(rng, packages),
        "params": params,
        "param_sources": ["params.yaml"],
        "seed": params["seed"],
        "metrics": _metrics(rng, status),
        "data": _data(rng),
        "artifacts": [],
        "validation": None,
    }


def _run_id(rng: random.Random, started: datetime) -> str:
    """mlog's own id format, with the random suffix drawn from ``rng`` for reproducibility."""
    return records.new_id(started).rsplit("-", 1)[0] + f"-{rng.getrandbits(32):08x}"


def _code(rng: random.Random, commit: str, tree: str) -> dict[str, Any]:
    return {
        "commit": commit,
        "tree": tree,
        "branch": rng.choice(("main", "main", "feature/warmup")),
        "describe": commit[:7],
        "remote": "https://github.com/example/fraud-model.git",
        "shallow": False,
        "dirty": False,
    }


def _command(rng: random.Random, started: datetime, duration: float, status: str) -> dict[str, Any]:
    exit_code = {"succeeded": 0, "failed": 1, "interrupted": 130}[status]
    return {
        "argv": ["python", "train.py", "--config", "params.yaml"],
        "cwd": ".",
        "started_at": records.utc_timestamp(started),
        "user": "ada",
        "host": f"gpu-{rng.randint(1, 8):02d}",
        "ended_at": records.utc_timestamp(started + timedelta(seconds=duration)),
        "exit_code": exit_code,
        "signal": "SIGINT" if status == "interrupted" else None,
        "duration_s": duration,
        "cpu_user_s": round(duration * rng.uniform(0.8, 1.9), 3),
        "cpu_system_s": round(duration * rng.uniform(0.01, 0.1), 3),
        "peak_rss_bytes": rng.randint(500, 16000) * 2**20,
    }


PACKAGE_LISTS = 3


def package_list(variant: int) -> bytes:
    """One of a few package lists (120 ``name==version`` lines), as ``mlog run`` stores them."""
    lines = [f"pkg-{n:03d}=={1 + (n * 7 + variant) % 9}.{variant}.0" for n in range(120)]
    return ("\n".join(lines) + "\n").encode()


def _environment(rng: random.Random, packages: list[str]) -> dict[str, Any]:
    return {
        "python": {"version": rng.choice(("3.11.7", "3.11.9")), "implementation": "CPython"},
        "os": {"system": "Linux", "release": "6.1.0-18-amd64", "machine": "x86_64"},
        "cpu": {"model": "AMD EPYC 7B13", "count": 16},
        "memory_bytes": 135089938432,
        "lock_files": [],
        "gpus": [],
        "cuda": None,
        "driver": None,
        "variables": {"PYTHONHASHSEED": "0", "OMP_NUM_THREADS": "8"},
        "packages": {"object": rng.choice(packages), "count": 120},
    }


def _metrics(rng: random.Random, status: str) -> dict[str, Any]:
    if status == "interrupted":
        return {}
    acc = round(rng.uniform(0.6, 0.99), 4)
    metrics = {"acc": acc, "loss": round((1 - acc) * rng.uniform(0.8, 1.6), 4)}
    if status == "succeeded":
        metrics["auc"] = round(min(0.999, acc + rng.uniform(-0.05, 0.05)), 4)
    return metrics


def _data(rng: random.Random) -> dict[str, Any]:
    version = rng.randint(1, 12)
    return {
        "train": {
            "path": f"data/train-v{version}.parquet",
            "kind": "file",
            "hash": f"xxh3_128:{version:032x}",
            "size": 1_000_000 * version,
            "files": 1,
        }
    }


BLOCK = 1000


def synthesize(
    repo: Path, count: int, *, seed: int = 0, check: bool = True, jobs: int | None = None
) -> int:
    """Write ``count`` records after the existing ones; returns how many were written."""
    from concurrent.futures import ProcessPoolExecutor

    from mlog.query.index import alias_from_head

    store = ensure_repo(repo)
    commit, tree = git(repo, "rev-parse", "HEAD"), git(repo, "rev-parse", "HEAD^{tree}")
    first = max((alias_from_head(store, r) or 0 for r in store.run_ids()), default=0) + 1
    blocks = [(n, min(BLOCK, first + count - n)) for n in range(first, first + count, BLOCK)]
    with ProcessPoolExecutor(max_workers=jobs or os.cpu_count()) as pool:
        done = pool.map(
            _write_block,
            *zip(*[(repo, n, size, seed, commit, tree, check) for n, size in blocks], strict=True),
        )
        return sum(done)


def package_objects(store: Store) -> list[str]:
    """The package-list objects synthetic records name, stored in ``store`` (once each)."""
    return [store.put_object(package_list(v)) for v in range(PACKAGE_LISTS)]


def _write_block(
    repo: Path, first: int, size: int, seed: int, commit: str, tree: str, check: bool
) -> int:
    store = Store(repo)
    rng = random.Random(f"{seed}:{first}")
    packages = package_objects(store)
    for number in range(first, first + size):
        record = records.seal(make_record(rng, number, commit, tree, packages))
        if check:
            validate(record, "run", source=f"synthetic run v{number}")
        store.write_run(record["id"], yamlio.dumps(record), {})
    return size


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("repo", type=Path)
    parser.add_argument("count", type=int)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--no-validate", action="store_true", help="skip schema validation")
    parser.add_argument("--jobs", type=int, default=None, help="processes (default: all cores)")
    args = parser.parse_args(argv)
    written = synthesize(
        args.repo, args.count, seed=args.seed, check=not args.no_validate, jobs=args.jobs
    )
    print(f"wrote {written} records to {args.repo / '.mlog' / 'runs'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
