"""Report figures for docs/benchmarks.md: `mlog report` of 1,000 runs with 100-step series.

Usage: python benchmarks/bench_report.py [REPO] [N] [--steps S] [--no-peer]

Synthesizes N runs of one model into REPO (default /tmp/mlog-bench-report, 1000), each
with two series (loss, val_loss) of S steps (default 100) in its sidecar, and a champion.
Then times:
- writing the page with the installed ``mlog report --last N`` (a fresh process);
- opening and drawing it in headless Chromium (Debian's, driven by Playwright, network
  off, a fresh profile each time): from navigation to every Bokeh document idle, median of 5;
- the page's size.
The peer draws the same runs' loss series with plotly.js inlined (plotly installed in a
throwaway venv under /tmp, nothing added to this project): the library not chosen.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from synthesize import ensure_repo, git, make_record, package_objects  # noqa: E402

from mlog.storage import records, yamlio  # noqa: E402

ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--no-first-run"]  # fmt: skip
BOKEH_IDLE = (
    "() => window.Bokeh && Bokeh.documents.length > 0 && Bokeh.documents.every(d => d.is_idle)"
)
MLOG = shutil.which("mlog") or str(Path(sys.executable).parent / "mlog")  # this venv's
PLOTLY_DRAWN = "() => document.querySelectorAll('.plotly-graph-div .main-svg').length > 0"
PEER_VENV = Path("/tmp/mlog-bench-plotly-venv")


def series(rng: random.Random, steps: int) -> tuple[list[dict[str, object]], dict[str, object]]:
    """Two decaying curves with noise, as a training script would log them."""
    rate, floor = rng.uniform(0.02, 0.08), rng.uniform(0.05, 0.2)
    points = []
    for step in range(1, steps + 1):
        loss = floor + math.exp(-rate * step) + rng.uniform(-0.01, 0.01)
        points.append({"name": "loss", "step": step, "value": round(loss, 6)})
        points.append({"name": "val_loss", "step": step, "value": round(loss * 1.1, 6)})
    summary = {}
    for name in ("loss", "val_loss"):
        values = [float(str(p["value"])) for p in points if p["name"] == name]
        summary[name] = {"steps": steps, "first_step": 1, "last_step": steps,
                         "min": min(values), "max": max(values), "last": values[-1]}  # fmt: skip
    return points, summary


def synthesize(repo: Path, count: int, steps: int) -> None:
    store = ensure_repo(repo)
    if len(store.run_ids()) >= count:
        return
    commit, tree = git(repo, "rev-parse", "HEAD"), git(repo, "rev-parse", "HEAD^{tree}")
    rng = random.Random(0)
    packages = package_objects(store)
    for number in range(len(store.run_ids()) + 1, count + 1):
        record = make_record(rng, number, commit, tree, packages)
        record["model"] = "fraud"
        points, record["series"] = series(rng, steps)
        sidecar = b"".join(json.dumps(p, sort_keys=True).encode() + b"\n" for p in points)
        record["sidecars"] = {"series.jsonl": records.sidecar_digest(sidecar)}  # as run seals it
        sealed = records.seal(record)
        store.write_run(sealed["id"], yamlio.dumps(sealed), {"series.jsonl": sidecar})
    mlog(repo, "champion", f"v{count // 2}", "--model", "fraud", "--force")


def mlog(repo: Path, *args: str) -> float:
    started = time.perf_counter()
    subprocess.run([MLOG, *args], cwd=repo, check=True, capture_output=True)
    return time.perf_counter() - started


def draw_times(page_path: Path, ready: str, rounds: int = 5) -> tuple[list[float], list[float]]:
    """Seconds from navigation to drawn, and of them the renderer's main thread was busy
    (CPU time, from the DevTools protocol), each in a fresh profile with the network off."""
    from playwright.sync_api import sync_playwright

    times, busy = [], []
    errors: list[str] = []
    with sync_playwright() as playwright:
        for _ in range(rounds):
            profile = tempfile.mkdtemp(prefix="mlog-bench-profile-")
            context = playwright.chromium.launch_persistent_context(
                profile, executable_path=shutil.which("chromium"), args=ARGS, headless=True,
                offline=True, viewport={"width": 1280, "height": 900},
            )  # fmt: skip
            page = context.new_page()
            devtools = context.new_cdp_session(page)
            devtools.send("Performance.enable", {"timeDomain": "threadTicks"})
            page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
            started = time.perf_counter()
            page.goto(page_path.as_uri())
            page.wait_for_function(ready, timeout=120_000)
            times.append(time.perf_counter() - started)
            metrics = devtools.send("Performance.getMetrics")["metrics"]
            busy.append(next(m["value"] for m in metrics if m["name"] == "TaskDuration"))
            context.close()
            shutil.rmtree(profile, ignore_errors=True)
            if errors:
                raise SystemExit(f"console errors in {page_path}: {errors[:3]}")
    return times, busy


def _figures(times: list[float], busy: list[float]) -> str:
    return (
        f"{statistics.median(times):5.2f} s wall, {statistics.median(busy):5.2f} s main thread"
        f"  (wall: {', '.join(f'{t:.2f}' for t in times)})"
    )


def peer_page(repo: Path, out: Path) -> Path | None:
    """The runs' loss series as one plotly figure (one trace per run), plotly.js inlined."""
    python = PEER_VENV / "bin" / "python"
    if not python.exists():
        subprocess.run([sys.executable, "-m", "venv", str(PEER_VENV)], check=True)
        subprocess.run([str(python), "-m", "pip", "install", "-q", "plotly"], check=True)
    script = r"""
import glob, json, sys
import plotly.graph_objects as go
fig = go.Figure()
for path in sorted(glob.glob(sys.argv[1] + "/.mlog/runs/**/series.jsonl", recursive=True)):
    pts = [json.loads(l) for l in open(path)]
    pts = [p for p in pts if p["name"] == "loss"]
    fig.add_trace(go.Scatter(x=[p["step"] for p in pts], y=[p["value"] for p in pts],
                             mode="lines", showlegend=False))
fig.write_html(sys.argv[2], include_plotlyjs=True, full_html=True)
"""
    subprocess.run([str(python), "-c", script, str(repo), str(out)], check=True)
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("repo", type=Path, nargs="?", default=Path("/tmp/mlog-bench-report"))
    parser.add_argument("count", type=int, nargs="?", default=1000)
    parser.add_argument("--steps", type=int, default=100)
    parser.add_argument("--no-peer", action="store_true", help="skip the plotly.js peer")
    args = parser.parse_args(argv)
    if shutil.which("chromium") is None:
        raise SystemExit("needs Debian's chromium: apt-get install -y chromium")
    synthesize(args.repo, args.count, args.steps)
    page = args.repo / "report.html"
    print(f"load average before: {Path('/proc/loadavg').read_text().strip()}")
    written = mlog(args.repo, "report", "--last", str(args.count), "-o", str(page))
    drawn = draw_times(page, BOKEH_IDLE)
    size = page.stat().st_size
    print(f"runs: {args.count}, series: 2 x {args.steps} steps each")
    print(f"mlog report (write the page): {written:5.2f} s")
    print(f"open and draw in Chromium, median of 5: {_figures(*drawn)}")
    print(f"page size: {size / 1e6:.2f} MB")
    if not args.no_peer:
        peer = peer_page(args.repo, args.repo / "peer-plotly.html")
        if peer is not None:
            peer_drawn = draw_times(peer, PLOTLY_DRAWN)
            print(f"peer, plotly.js inlined, the loss chart alone: {_figures(*peer_drawn)}"
                  f"; {peer.stat().st_size / 1e6:.2f} MB")  # fmt: skip
    print(f"load average after: {Path('/proc/loadavg').read_text().strip()}")
    return 0


if __name__ == "__main__":
    os.environ.setdefault("PYTHONHASHSEED", "0")
    sys.exit(main())
