"""Lineage figures for docs/benchmarks.md: `mlog lineage` over N runs linked by content hash.

Usage: python benchmarks/bench_lineage.py [REPO] [N]

Writes N synthetic records (default 10,000, into /tmp/mlog-bench-lineage) shaped like a
pipeline: every run writes a ``features.parquet`` artifact; every run trains on the
artifact of one of the 40 runs before it and on a raw dataset no run produced; every tenth
run also reads a directory whose manifest (200 files) holds an earlier run's artifact as one
of its files. Then times the installed ``mlog`` in fresh processes (median of 5): the first
walk (which builds the index), warm walks up and down, and a walk after one new run.

The peer, measured in the same session, is the same upstream walk done by reading the
records themselves (CSafeLoader over every record.yaml, then hash maps): what any tool
without a derived index pays, and what mlog paid before this index.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import resource
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import xxhash  # noqa: E402
from synthesize import ensure_repo, git, make_record, package_objects  # noqa: E402

from mlog.storage import records, yamlio  # noqa: E402
from mlog.storage.hashing import ManifestEntry, manifest_to_bytes  # noqa: E402
from mlog.storage.schema import validate  # noqa: E402
from mlog.storage.store import Store  # noqa: E402

FILES_PER_MANIFEST = 200


def digest(kind: str, number: int) -> str:
    return "xxh3_128:" + xxhash.xxh3_128_hexdigest(f"{kind}:{number}".encode())


def pipeline_record(
    rng: random.Random, store: Store, number: int, commit: str, tree: str, packages: list[str]
) -> dict[str, Any]:
    record = make_record(rng, number, commit, tree, packages)
    record["artifacts"] = [
        {"path": "features.parquet", "present": True, "kind": "file",
         "hash": digest("features", number), "size": 1000, "files": 1}
    ]  # fmt: skip
    record["data"] = {
        "raw": {"path": "data/raw.csv", "kind": "file", "hash": digest("raw", number % 12),
                "size": 10, "files": 1},
    }  # fmt: skip
    if number > 1:
        parent = rng.randint(max(1, number - 40), number - 1)
        record["data"]["features"] = {
            "path": "features.parquet", "kind": "file", "hash": digest("features", parent),
            "size": 1000, "files": 1,
        }  # fmt: skip
    if number % 10 == 0:
        record["data"]["shards"] = _shards(rng, store, number)
    return record


def _shards(rng: random.Random, store: Store, number: int) -> dict[str, Any]:
    inside = rng.randint(1, number - 1)
    entries = [
        ManifestEntry(f"part-{i:04d}.parquet", 100, digest(f"shard{number}", i))
        for i in range(FILES_PER_MANIFEST - 1)
    ]
    entries.append(ManifestEntry("from-run.parquet", 1000, digest("features", inside)))
    manifest = store.put_object(manifest_to_bytes(entries))
    size, files = 100 * FILES_PER_MANIFEST, FILES_PER_MANIFEST
    return {"path": "shards", "kind": "directory", "hash": digest("shards", number),
            "size": size, "files": files, "manifest": manifest}  # fmt: skip


def synthesize(repo: Path, count: int) -> None:
    store = ensure_repo(repo)
    commit, tree = git(repo, "rev-parse", "HEAD"), git(repo, "rev-parse", "HEAD^{tree}")
    rng = random.Random(0)
    packages = package_objects(store)
    for number in range(1, count + 1):
        record = records.seal(pipeline_record(rng, store, number, commit, tree, packages))
        if number <= 50:
            validate(record, "run", source=f"synthetic run v{number}")
        store.write_run(record["id"], yamlio.dumps(record), {})


def timed(argv: list[str], cwd: Path, repeat: int = 5) -> str:
    """Median wall time and median CPU time (user + system) of ``argv`` in fresh processes.

    On a shared machine the wall time includes waiting for a core; the CPU time does not.
    """
    walls, cpus = [], []
    for _ in range(repeat):
        wall, cpu = once(argv, cwd)
        walls.append(wall)
        cpus.append(cpu)
    return f"{statistics.median(walls):.3f} s wall, {statistics.median(cpus):.3f} s CPU"


def once(argv: list[str], cwd: Path) -> tuple[float, float]:
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    subprocess.run(argv, cwd=cwd, check=True, capture_output=True)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu


PEER = r"""
import glob, gzip, json, sys, time, yaml
start = time.perf_counter()
root = sys.argv[1] + "/.mlog"
runs = {}
for path in glob.glob(root + "/runs/**/record.yaml", recursive=True):
    with open(path) as handle:
        rec = yaml.load(handle, Loader=yaml.CSafeLoader)
    runs[rec["id"]] = rec
producers = {}
for run_id, rec in runs.items():
    for artifact in rec.get("artifacts") or []:
        producers.setdefault(artifact["hash"], []).append(run_id)
def hashes(data):
    found = [data.get("hash")]
    if data.get("manifest"):  # the files inside a directory dataset, as mlog links them
        digest = data["manifest"].partition(":")[2]
        with open(f"{root}/objects/{digest[:2]}/{digest[2:]}", "rb") as handle:
            lines = gzip.decompress(handle.read()).decode().splitlines()
        found += [json.loads(line)["hash"] for line in lines]
    return found
target = next(r for r in runs if runs[r]["alias"] == sys.argv[2])
seen, todo = {target}, [target]
while todo:
    current = todo.pop()
    for data in (runs[current].get("data") or {}).values():
        for digest in hashes(data):
            for producer in producers.get(digest, []):
                if producer < current and producer not in seen:
                    seen.add(producer)
                    todo.append(producer)
print(f"{time.perf_counter() - start:.3f} {len(seen)}")
"""


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("repo", type=Path, nargs="?", default=Path("/tmp/mlog-bench-lineage"))
    parser.add_argument("count", type=int, nargs="?", default=10_000)
    args = parser.parse_args(argv)
    repo: Path = args.repo
    store = ensure_repo(repo)
    if len(store.run_ids()) < args.count:
        shutil.rmtree(repo)
        started = time.perf_counter()
        synthesize(repo, args.count)
        print(f"synthesized {args.count} runs in {time.perf_counter() - started:.1f} s")
    mlog = shutil.which("mlog") or "mlog"
    last, mid = f"v{args.count}", f"v{args.count // 2}"
    cache = repo / ".mlog" / "cache"

    shutil.rmtree(cache, ignore_errors=True)
    wall, cpu = once([mlog, "lineage", last, "--depth", "1"], repo)
    print(f"first `mlog lineage` in a fresh clone (builds run index and lineage tables): "
          f"{wall:.2f} s wall, {cpu:.2f} s CPU")  # fmt: skip
    shutil.rmtree(cache)
    wall, cpu = once([mlog, "ls", "-n", "1"], repo)
    print(f"  of which `mlog ls` building the run index alone: {wall:.2f} s wall, {cpu:.2f} s CPU")
    wall, cpu = once([mlog, "lineage", last, "--depth", "1"], repo)
    print(f"  then the lineage tables (200,000 manifest files): {wall:.2f} s wall, {cpu:.2f} s CPU")

    done = subprocess.run([mlog, "lineage", last, "--json"], cwd=repo, check=True,
                          capture_output=True, text=True)  # fmt: skip
    graph = json.loads(done.stdout)
    runs = sum(1 for node in graph["nodes"] if node["kind"] == "run")
    print(f"upstream graph of {last}: {runs} runs, {len(graph['nodes'])} nodes, "
          f"{len(graph['edges'])} edges")  # fmt: skip
    print(
        f"warm `mlog lineage {last}` (whole upstream, tree): {timed([mlog, 'lineage', last], repo)}"
    )
    shallow = timed([mlog, "lineage", last, "--depth", "3"], repo)
    print(f"warm `mlog lineage {last} --depth 3`: {shallow}")
    down = timed([mlog, "lineage", mid, "--down", "--depth", "3"], repo)
    print(f"warm `mlog lineage {mid} --down --depth 3`: {down}")
    print(f"warm `mlog show {last}` (with producers): {timed([mlog, 'show', last], repo)}")
    print(f"`mlog --version` (start-up floor): {timed([mlog, '--version'], repo)}")

    rng = random.Random(1)
    commit, tree = git(repo, "rev-parse", "HEAD"), git(repo, "rev-parse", "HEAD^{tree}")
    number = len(store.run_ids()) + 1
    extra = records.seal(pipeline_record(rng, store, number, commit, tree, package_objects(store)))
    store.write_run(extra["id"], yamlio.dumps(extra), {})
    wall, cpu = once([mlog, "lineage", f"v{number}"], repo)
    print(f"lineage after one new run (incremental): {wall:.3f} s wall, {cpu:.3f} s CPU")

    peer = []
    for _ in range(3):
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        out = subprocess.run([sys.executable, "-c", PEER, str(repo), last], check=True,
                             capture_output=True, text=True).stdout.split()  # fmt: skip
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        peer.append((float(out[0]), after.ru_utime - before.ru_utime))
    wall = statistics.median(p[0] for p in peer)
    cpu = statistics.median(p[1] for p in peer)
    print(f"peer: parse every record and manifest, same upstream walk: {wall:.2f} s wall, "
          f"{cpu:.2f} s CPU ({out[1]} runs found; mlog found {runs})")  # fmt: skip
    print(f"load average: {Path('/proc/loadavg').read_text().strip()}; cores: {os.cpu_count()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
