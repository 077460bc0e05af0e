"""Query figures for docs/benchmarks.md: mlog ls / show / --version at scale, and MLflow as peer.

Usage: python benchmarks/bench_query.py [REPO] [N] [--mlflow-venv DIR] [--no-mlflow]

Synthesizes N runs into REPO (default /tmp/mlog-bench, 10000) when it has fewer,
then times the installed ``mlog`` in fresh processes (median of 5). The peer
logs the same runs into MLflow's local file store from a throwaway virtual
environment (created with ``pip install mlflow-skinny`` when missing; nothing
is added to this project) and times ``mlflow.search_runs`` with the same filter.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
WHERE = 'metrics.acc > 0.9 and tags.team = "fraud" and params.lr <= 0.01'
MLFLOW_FILTER = "metrics.acc > 0.9 and tags.team = 'fraud'"
MLFLOW_SCRIPT = r"""
import sys, time, glob, yaml, mlflow
from mlflow.entities import Metric, Param, RunTag
from mlflow.tracking import MlflowClient
repo, store, mode = sys.argv[1], sys.argv[2], sys.argv[3]
mlflow.set_tracking_uri("file://" + store)
client = MlflowClient()
if mode == "log":
    exp = client.create_experiment("bench")
    for path in sorted(glob.glob(repo + "/.mlog/runs/**/record.yaml", recursive=True)):
        rec = yaml.load(open(path), Loader=yaml.CSafeLoader)
        run = client.create_run(exp, tags={"team": rec["tags"]["team"], "model": rec["model"]})
        client.log_batch(run.info.run_id,
            metrics=[Metric(k, v, 0, 0) for k, v in rec["metrics"].items()],
            params=[Param(k, str(v)) for k, v in rec["params"].items()])
        status = "FINISHED" if rec["status"] == "succeeded" else "FAILED"
        client.set_terminated(run.info.run_id, status)
    sys.exit(0)
t = time.perf_counter()
runs = mlflow.search_runs(experiment_names=["bench"], filter_string=sys.argv[4],
    order_by=["metrics.acc DESC"], max_results=10, output_format="list")
# the numeric params.lr <= 0.01 part cannot be expressed: MLflow params are strings
runs = [r for r in runs if float(r.data.params["lr"]) <= 0.01]
print(f"{time.perf_counter() - t:.3f} {len(runs)}")
"""


def median_seconds(
    argv: list[str], cwd: Path, env: dict[str, str] | None = None, repeat: int = 5
) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        subprocess.run(argv, cwd=cwd, check=True, capture_output=True, env=env)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def prepare(repo: Path, count: int) -> None:
    runs = repo / ".mlog" / "runs"
    have = len(list(runs.glob("**/record.yaml"))) if runs.exists() else 0
    if have < count:
        subprocess.run(
            [sys.executable, str(HERE / "synthesize.py"), str(repo), str(count - have)], check=True
        )


def mlog_figures(repo: Path, count: int) -> dict[str, float]:
    mlog = shutil.which("mlog") or "mlog"
    query = [mlog, "ls", "--where", WHERE, "--sort", "-metrics.acc", "--limit", "10"]
    for suffix in ("", "-wal", "-shm"):
        Path(f"{repo}/.mlog/cache/index.sqlite{suffix}").unlink(missing_ok=True)
    return {
        "ls, index deleted (cold)": median_seconds(query, repo, repeat=1),
        "ls, warm (median of 5)": median_seconds(query, repo),
        f"show v{count // 2} (median of 5)": median_seconds([mlog, "show", f"v{count // 2}"], repo),
        "--version (median of 5)": median_seconds([mlog, "--version"], repo),
        "--help (median of 5)": median_seconds([mlog, "--help"], repo),
    }


def mlflow_python(venv: Path) -> Path | str:
    """The venv's python, creating it if needed; a string says why MLflow is unavailable."""
    python = venv / "bin" / "python"
    if not python.exists():
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
        done = subprocess.run(
            [str(python), "-m", "pip", "install", "-q", "mlflow-skinny"], capture_output=True
        )
        if done.returncode:
            return "pip install mlflow-skinny failed: " + done.stderr.decode()[-300:]
    return python


def mlflow_figures(repo: Path, venv: Path) -> dict[str, float] | str:
    python = mlflow_python(venv)
    if isinstance(python, str):
        return python
    store = Path("/tmp/mlflow-bench-store")
    script = Path("/tmp/mlflow_bench.py")
    script.write_text(MLFLOW_SCRIPT)
    env = {**os.environ, "MLFLOW_ALLOW_FILE_STORE": "true"}  # its local store, in maintenance
    if not store.exists():
        start = time.perf_counter()
        log = [str(python), str(script), str(repo), str(store), "log"]
        subprocess.run(log, check=True, env=env)
        print(f"  (logged into MLflow in {time.perf_counter() - start:.0f} s)")
    argv = [str(python), str(script), str(repo), str(store), "search", MLFLOW_FILTER]
    inner = []
    for _ in range(5):
        done = subprocess.run(argv, check=True, capture_output=True, text=True, env=env)
        inner.append(float(done.stdout.split()[0]))
    return {
        "search_runs in process (median of 5)": statistics.median(inner),
        "python + import mlflow + search_runs (median of 5)": median_seconds(argv, repo, env),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("repo", nargs="?", type=Path, default=Path("/tmp/mlog-bench"))
    parser.add_argument("count", nargs="?", type=int, default=10_000)
    parser.add_argument("--mlflow-venv", type=Path, default=Path("/tmp/mlflow-venv"))
    parser.add_argument("--no-mlflow", action="store_true")
    args = parser.parse_args()
    prepare(args.repo, args.count)
    print(f"mlog, {args.count} runs, query: {WHERE} --sort -metrics.acc --limit 10")
    for name, seconds in mlog_figures(args.repo, args.count).items():
        print(f"  {name:<40} {seconds:7.3f} s")
    if not args.no_mlflow:
        peer = mlflow_figures(args.repo, args.mlflow_venv)
        print(f"MLflow file store, same runs, filter: {MLFLOW_FILTER}")
        for name, seconds in peer.items() if isinstance(peer, dict) else ():
            print(f"  {name:<40} {seconds:7.3f} s")
        if isinstance(peer, str):
            print(f"  not measured: {peer}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
