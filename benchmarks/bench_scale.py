"""mlog at scale: the per-command costs that must not grow with the number of runs.

For each REPO made by ``benchmarks/synthesize.py REPO N`` (1k, 10k, 50k, 100k runs, committed),
prints the median of several timings of each command beside its target (issue 19) and, where
given, its peer measured in the same sitting, with the load average before and after:

- cold index build, as in a fresh clone (``.mlog/cache`` deleted, then ``ls --limit 1``), with
  the child's peak RSS and CPU time (its workers' included; ``--cold K`` takes medians of K);
- ``mlog check`` with nothing verified yet (a fresh CI clone), then again (incremental);
- ``mlog run -- python -c pass`` minus ``python -c pass`` (the same at every size);
- warm ``ls --where ... --limit 10`` beside MLflow's ``search_runs`` over the same runs in a
  sqlite store (``--mlflow-python``; logged once per size, then reused);
- ``show vN`` (the middle run), ``ls`` without ``--limit`` (piped), ``mlog --version``;
- one ``export parquet --where`` (when pyarrow, the ``data`` extra, is installed).

Child processes run with bytecode caching on, after a warm-up (a ``PYTHONDONTWRITEBYTECODE``
in the caller's environment would otherwise make every figure include compiling mlog).

Usage: python benchmarks/bench_scale.py REPO [REPO ...] [--repeat K] [--cold K]
[--mlflow-python PY]
Runs that the ``mlog run`` timings add are removed again (with their cache entries), so a REPO
can be measured again.
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

MLOG = shutil.which("mlog") or str(Path(sys.executable).parent / "mlog")
WHERE = "params.lr > 0.01 and status = 'succeeded'"
MLFLOW_FILTER = "attributes.status = 'FINISHED'"
ENV = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
MLFLOW_SCRIPT = r"""
import glob, sys, time
import yaml
from mlflow.entities import Metric, Param, RunTag
from mlflow.tracking import MlflowClient
repo, uri, mode = sys.argv[1], sys.argv[2], sys.argv[3]
client = MlflowClient(tracking_uri=uri)
if mode == "log":
    exp = client.create_experiment("bench")
    for path in sorted(glob.glob(repo + "/.mlog/runs/**/record.yaml", recursive=True)):
        rec = yaml.load(open(path), Loader=yaml.CSafeLoader)
        tags = {"team": (rec.get("tags") or {}).get("team", "-"), "model": rec["model"]}
        run = client.create_run(exp, tags=tags)
        client.log_batch(run.info.run_id,
            metrics=[Metric(k, v, 0, 0) for k, v in rec["metrics"].items()],
            params=[Param(k, str(v)) for k, v in rec["params"].items()])
        client.set_terminated(run.info.run_id,
                              "FINISHED" if rec["status"] == "succeeded" else "FAILED")
    sys.exit(0)
exp = client.get_experiment_by_name("bench").experiment_id
start = time.perf_counter()
runs = client.search_runs([exp], filter_string=sys.argv[4], max_results=1000,
                          order_by=["attributes.start_time DESC"])
# MLflow params are strings, compared as strings: lr > 0.01 cannot be said in its filter
# language (nor an OR of values), so the newest page is fetched and filtered here
runs = [r for r in runs if float(r.data.params.get("lr", "0")) > 0.01][:10]
print(f"{time.perf_counter() - start:.4f} {len(runs)}")
"""


def load() -> str:
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


def timed(cmd: list[str], cwd: Path) -> tuple[float, int, float]:
    """(seconds, peak RSS in MB of this child alone: ``wait4`` reports its own usage, where
    ``RUSAGE_CHILDREN`` would report the largest child so far, and CPU seconds of the child
    and the workers it waited for) of one command."""
    start = time.perf_counter()
    child = subprocess.Popen(
        cmd, cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=ENV
    )
    assert child.stderr is not None
    said = child.stderr.read()
    _, status, usage = os.wait4(child.pid, 0)
    seconds = time.perf_counter() - start
    child.returncode = os.waitstatus_to_exitcode(status)
    if child.returncode:
        raise SystemExit(f"{' '.join(cmd)} failed in {cwd}: {said.decode()[-400:]}")
    return seconds, usage.ru_maxrss // 1024, usage.ru_utime + usage.ru_stime


def median(cmd: list[str], cwd: Path, repeat: int) -> float:
    timed(cmd, cwd)  # warm-up
    return statistics.median(timed(cmd, cwd)[0] for _ in range(repeat))


def run_ids(repo: Path) -> dict[str, Path]:
    """Run id -> folder, in either layout (``runs/<id>`` or ``runs/<YYYY-MM>/<id>``)."""
    runs = repo / ".mlog" / "runs"
    found = {p.parent.name: p.parent for p in runs.glob("*/record.yaml")}
    found.update({p.parent.name: p.parent for p in runs.glob("*/*/record.yaml")})
    return found


def mlflow_search(repo: Path, runs: int, python: str, repeat: int) -> str:
    """MLflow ``search_runs`` over the same runs: in-process time and whole-process time."""
    db = Path(f"/tmp/mlflow-bench-{runs}.db")
    uri = f"sqlite:///{db}"
    script = Path("/tmp/mlflow_bench_scale.py")
    script.write_text(MLFLOW_SCRIPT)
    if not db.exists():
        start = time.perf_counter()
        logged = subprocess.run([python, str(script), str(repo), uri, "log"], env=ENV)
        if logged.returncode:
            db.unlink(missing_ok=True)
            return "MLflow: logging the runs failed"
        print(f"  (logged {runs} runs into MLflow in {time.perf_counter() - start:.0f} s)")
    argv = [python, str(script), str(repo), uri, "search", MLFLOW_FILTER]
    inner = []
    for _ in range(repeat):
        done = subprocess.run(argv, check=True, capture_output=True, text=True, env=ENV)
        inner.append(float(done.stdout.split()[0]))
    whole = median(argv, repo, repeat)
    return f"MLflow search_runs {statistics.median(inner):.2f} s ({whole:.2f} s with start-up)"


def cold(repo: Path, times: int) -> tuple[str, str]:
    """The cold index build and the first check of a fresh clone, ``times`` pairs in turn:
    medians of wall time and CPU time (workers included; under load the CPU time moves
    less than the wall time), the largest peak RSS."""
    builds, checks = [], []
    for _ in range(times):
        shutil.rmtree(repo / ".mlog" / "cache", ignore_errors=True)
        builds.append(timed([MLOG, "ls", "--limit", "1"], repo))
        (repo / ".mlog" / "cache" / "check-verified.json").unlink(missing_ok=True)
        checks.append(timed([MLOG, "check"], repo))

    def shown(runs: list[tuple[float, int, float]]) -> str:
        wall = statistics.median(run[0] for run in runs)
        cpu = statistics.median(run[2] for run in runs)
        return f"{wall:.2f} s (CPU {cpu:.1f} s), {max(run[1] for run in runs)} MB"

    return shown(builds), shown(checks)


def exported(repo: Path) -> str:
    """One ``mlog export parquet --where WHERE`` (pyarrow, the ``data`` extra, must be in
    mlog's environment): seconds and peak MB, with the rows written. The rows are counted in
    a child: a child's peak RSS starts from this process's, so this one never loads pyarrow."""
    import importlib.util

    if importlib.util.find_spec("pyarrow") is None:
        return "needs mlog[data]"
    output = Path("/tmp/mlog-bench-export.parquet")
    seconds, peak, _ = timed([MLOG, "export", "parquet", "-o", str(output), "--where", WHERE], repo)
    count = "import pyarrow.parquet as p, sys; print(p.read_metadata(sys.argv[1]).num_rows)"
    rows = subprocess.run([sys.executable, "-c", count, str(output)], capture_output=True,
                          text=True, check=True).stdout.strip()  # fmt: skip
    output.unlink()
    return f"{seconds:.2f} s, {peak} MB ({rows} rows)"


def bench(
    repo: Path, repeat: int, mlflow: str | None, mlflow_upto: int, cold_times: int = 1
) -> None:
    before = run_ids(repo)
    print(f"\n== {repo}: {len(before)} runs (load {load()} at start)")
    build, check = cold(repo, cold_times)
    rows = [("cold index build (fresh clone)", build, "",
             "<= 3 s at 10k; <= 30 s, 200 MB at 100k")]  # fmt: skip
    rows.append(("mlog check, nothing verified", check, "", "<= 3 s at 10k (CI)"))
    again = median([MLOG, "check"], repo, repeat)
    rows.append(("mlog check, incremental", f"{again:.2f} s", "", "<= 3 s at 10k"))
    python = median([sys.executable, "-c", "pass"], repo, repeat)
    run = median([MLOG, "run", "--allow-dirty", "--", sys.executable, "-c", "pass"], repo, repeat)
    rows.append(("mlog run overhead", f"{run - python:.3f} s", "", "<= 0.20 s, same at any size"))
    listing = [MLOG, "ls", "--where", WHERE, "--limit", "10"]
    after = []
    for _ in range(repeat):  # the everyday sequence: a run, then a look at the newest runs
        timed([MLOG, "run", "--allow-dirty", "--", sys.executable, "-c", "pass"], repo)
        after.append(timed(listing, repo)[0])
    rows.append(("ls --limit 10 right after a run", f"{statistics.median(after):.3f} s", "",
                 "(as warm ls)"))  # fmt: skip
    warm = median(listing, repo, repeat)
    peer = ""
    if mlflow and len(before) <= mlflow_upto:
        peer = mlflow_search(repo, len(before), mlflow, repeat)
    rows.append(("warm ls --where --limit 10", f"{warm:.3f} s", peer, "<= 0.25 s at 100k"))
    middle = f"v{len(before) // 2}"
    show = median([MLOG, "show", middle], repo, repeat)
    rows.append((f"show {middle}", f"{show:.3f} s", "", "<= 0.2 s at 100k"))
    full = median([MLOG, "ls"], repo, max(1, repeat // 2))
    rows.append(("ls without --limit (piped)", f"{full:.2f} s", "", "<= 1 s at 10k"))
    version = median([MLOG, "--version"], repo, repeat)
    rows.append(("mlog --version", f"{version:.3f} s", "", "<= 0.10 s"))
    rows.append(("export parquet --where (once)", exported(repo), "", "(no target)"))
    for what, figure, against, target in rows:
        print(f"{what:32} {figure:>16}   {against:44} target {target}")
    for added, folder in run_ids(repo).items():  # leave the repository as it was
        if added not in before:
            shutil.rmtree(folder)
    print(f"(load {load()} at end)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("repos", nargs="+", type=Path)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--cold", type=int, default=1, help="cold builds and first checks "
                        "to take the median of (each rebuilds the whole index)")  # fmt: skip
    parser.add_argument("--mlflow-python", help="python of a venv with mlflow(-skinny) and "
                        "sqlalchemy: MLflow's search_runs is timed beside warm ls")  # fmt: skip
    parser.add_argument("--mlflow-upto", type=int, default=10_000,
                        help="MLflow only for repositories of at most this many runs (logging "
                        "runs into MLflow takes about 30 s per 1,000)")  # fmt: skip
    args = parser.parse_args()
    for repo in args.repos:
        bench(repo, args.repeat, args.mlflow_python, args.mlflow_upto, args.cold)


if __name__ == "__main__":
    main()
