"""`mlog report`, `mlog diff --html`, `mlog card --format html`: chart data and the real CLI.

The data fed to the charts is checked on plain records (pure functions); the pages are
written by the real CLI from runs recorded by the real `mlog run`. What a browser draws
is checked in tests/test_report_browser.py.
"""

from __future__ import annotations

import json
import re
import shutil
import sys
from pathlib import Path
from typing import Any

import pytest

from mlog.report import data, style
from tests.conftest import PYTHON, Repo

TRAIN = """\
import sys
import mlog
lr, seed = float(sys.argv[1]), int(sys.argv[2])
mlog.log_param("lr", lr)
mlog.log_param("layers", 3)
for step in range(1, 6):
    mlog.log_metric("loss", 1.0 / (step * lr * 10) + seed * 0.01, step=step)
mlog.log_metric("auc", 0.7 + lr)
"""


def record(n: int, *, model: str = "fraud", auc: Any = 0.8, **params: Any) -> dict[str, Any]:
    return {
        "id": f"20260101T0000{n:02d}000000Z-0000000{n % 10}",
        "alias": f"v{n}",
        "model": model,
        "status": "succeeded",
        "code": {"commit": f"{n:02d}" + "0" * 38},
        "command": {"started_at": f"2026-01-01T00:00:{n:02d}Z"},
        "params": {"lr": 0.1, **params},
        "metrics": {"auc": auc, "note": "text"},
        "validation": {"verdict": "improved"},
    }


def listed_runs(page: str) -> list[str]:
    """Aliases in the runs table, in the order of its rows."""
    return re.findall(r'<tr[^>]*><td data-sort="\d+">(v\d+)', page)


def points(*values: float, name: str = "loss") -> list[dict[str, Any]]:
    return [{"name": name, "step": i + 1, "value": v} for i, v in enumerate(values)]


# -- the runs table ----------------------------------------------------------------------------
def test_runs_table_is_newest_first_with_varying_params_first_and_the_champion_marked() -> None:
    runs = [record(1, depth=3, batch=32), record(2, depth=5, batch=32)]
    table = data.runs_table(runs, {"fraud": runs[0]["id"]})
    assert [row.alias for row in table.rows] == ["v2", "v1"]
    assert table.param_keys == ["depth", "batch", "lr"]
    assert table.metric_keys == ["auc"]  # "note" is text, not a number
    assert [row.champion for row in table.rows] == [False, True]
    assert table.rows[0].commit == "02" + "0" * 8
    assert table.rows[0].verdict == "improved"
    assert not table.rows[0].intact  # these records carry no integrity hash


def test_runs_table_marks_a_record_whose_integrity_hash_does_not_match() -> None:
    from mlog.storage.records import seal

    sealed = seal(record(1))
    edited = {**seal(record(2)), "metrics": {"auc": 0.99}}
    table = data.runs_table([sealed, edited], {})
    assert [(row.alias, row.intact) for row in table.rows] == [("v2", False), ("v1", True)]


# -- series over steps -------------------------------------------------------------------------
def test_series_charts_draw_the_newest_runs_alone_the_rest_in_one_trace_and_the_champion() -> None:
    runs = [record(n) for n in range(1, 6)]
    champion = record(9)
    pts = {r["id"]: points(1.0, 0.5, n / 10) for n, r in enumerate(runs, start=1)}
    pts[champion["id"]] = points(0.9, 0.2)
    (chart,) = data.series_charts(runs, pts, {"fraud": champion}, {}, max_runs=2)
    assert chart.name == "loss" and chart.goal == "minimize"
    roles = [(t.role, t.name, t.runs) for t in chart.traces]
    assert roles == [
        ("older", "3 older runs", ["v1", "v2", "v3"]),
        ("run", "v4", ["v4"]),
        ("run", "v5", ["v5"]),
        ("champion", "v9 (champion)", ["v9"]),
    ]
    assert chart.traces[0].xs == [[1, 2, 3]] * 3
    assert chart.traces[0].ys[2] == [1.0, 0.5, 0.3]
    assert chart.traces[3].ys == [[0.9, 0.2]]


def test_series_points_are_ordered_by_step_rounded_and_non_numbers_are_skipped() -> None:
    run = record(1)
    pts = [
        {"name": "loss", "step": 3, "value": 0.123456789},
        {"name": "loss", "step": 1, "value": 1},
        {"name": "loss", "step": 2, "value": "nan-ish"},
        {"name": "acc", "step": 1, "value": True},
    ]
    charts = data.series_charts([run], {run["id"]: pts}, {}, {})
    assert [c.name for c in charts] == ["loss"]  # acc has no numeric point: no chart
    assert charts[0].traces[0].xs == [[1, 3]]
    assert charts[0].traces[0].ys == [[1.0, 0.123457]]


def test_a_champion_that_is_also_selected_is_drawn_once_as_the_champion() -> None:
    runs = [record(1), record(2)]
    pts = {r["id"]: points(1.0, 0.5) for r in runs}
    (chart,) = data.series_charts(runs, pts, {"fraud": runs[0]}, {})
    assert [(t.role, t.runs) for t in chart.traces] == [("run", ["v2"]), ("champion", ["v1"])]


# -- final metrics across runs -------------------------------------------------------------------
def judged(run: dict[str, Any], **verdicts: str) -> dict[str, Any]:
    """Give a run the validation report `mlog run` would have written."""
    entries = [{"name": name, "verdict": verdict} for name, verdict in verdicts.items()]
    run["validation"] = {"verdict": "regressed", "metrics": entries}
    return run


def test_metric_chart_marks_the_runs_whose_validation_said_regressed() -> None:
    runs = [record(n, auc=auc) for n, auc in enumerate([0.80, 0.795, 0.70, 0.9], start=1)]
    judged(runs[1], auc="within_tolerance")
    judged(runs[2], auc="regressed", loss="improved")
    config = {"auc": {"goal": "maximize", "tolerance": 0.01}}
    (chart,) = data.metric_charts(runs, {"fraud": runs[3]}, config)
    assert chart.name == "auc" and chart.goal == "maximize" and not chart.guessed
    (series,) = chart.series
    assert series.runs == ["v1", "v2", "v3", "v4"]
    assert series.values == [0.8, 0.795, 0.7, 0.9]
    assert series.started_at[0] == "2026-01-01T00:00:01Z"
    # v1 and v2 are worse than today's champion v4, but were not regressions when they ran
    assert series.regressed == [False, False, True, False]
    assert chart.baselines == [data.Baseline("fraud", "v4", 0.9, 0.01)]
    assert chart.regressions == 1


def test_metric_chart_of_a_lower_is_better_metric_and_without_a_champion() -> None:
    runs = [record(1), judged(record(2), val_loss="regressed")]
    runs[0]["metrics"] = {"val_loss": 0.3}
    runs[1]["metrics"] = {"val_loss": 0.5}
    (chart,) = data.metric_charts(runs, {"fraud": runs[0]}, {})
    assert chart.goal == "minimize" and chart.guessed
    assert chart.baselines == [data.Baseline("fraud", "v1", 0.3, 0.0)]
    assert chart.series[0].regressed == [False, True]
    (alone,) = data.metric_charts(runs, {}, {})
    assert alone.baselines == []


def test_metric_chart_keeps_each_model_against_its_own_champion() -> None:
    runs = [record(1, model="a", auc=0.9), record(2, model="b", auc=0.5),
            judged(record(3, model="a", auc=0.6), auc="regressed"),
            record(4, model="b", auc=0.6)]  # fmt: skip
    (chart,) = data.metric_charts(runs, {"a": runs[0], "b": runs[1]}, {})
    by_model = {s.model: s for s in chart.series}
    assert by_model["a"].runs == ["v1", "v3"] and by_model["a"].regressed == [False, True]
    assert by_model["b"].runs == ["v2", "v4"] and by_model["b"].regressed == [False, False]
    assert [(b.model, b.value) for b in chart.baselines] == [("a", 0.9), ("b", 0.5)]


# -- registry timeline -------------------------------------------------------------------------
def test_timeline_is_oldest_first_and_names_runs_by_alias() -> None:
    events = {
        "fraud": [
            {"at": "2026-01-02T00:00:00Z", "kind": "promote", "version": "v1",
             "stage": "staging", "by": "ada", "run": "run-1"},
            {"at": "2026-01-01T00:00:00Z", "kind": "register", "version": "v1",
             "by": "ada", "run": "run-1", "reason": "first"},
        ]
    }  # fmt: skip
    found = data.timeline(events, {"run-1": "v7"})
    assert [(e.kind, e.run, e.stage) for e in found] == [
        ("register", "v7", None),
        ("promote", "v7", "staging"),
    ]


# -- HTML pieces -------------------------------------------------------------------------------
def test_tables_escape_every_value_and_carry_sort_keys() -> None:
    html = style.table(["a<b"], [[(style.esc("<script>x</script>"), 10)]], sortable=True)
    assert "<script>x" not in html
    assert "&lt;script&gt;x&lt;/script&gt;" in html
    assert 'data-sort="10"' in html and 'class="sortable"' in html
    assert "<th>a&lt;b</th>" in html


# -- the real CLI -------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def recorded(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Four real runs of model fraud, v2 the champion, each logging a five-step loss.

    Recorded once per module (each `mlog run` starts a Python); tests copy it.
    """
    from typer.testing import CliRunner

    from mlog.cli.app import app

    home = tmp_path_factory.mktemp("home")
    path = tmp_path_factory.mktemp("recorded") / "project"
    path.mkdir()
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("HOME", str(home))
        patch.setenv("GIT_CONFIG_NOSYSTEM", "1")
        patch.setenv("GIT_CONFIG_GLOBAL", str(home / ".gitconfig"))
        for kind in ("AUTHOR", "COMMITTER"):
            patch.setenv(f"GIT_{kind}_NAME", "Ada Tester")
            patch.setenv(f"GIT_{kind}_EMAIL", "ada@example.com")
        patch.chdir(path)
        repo = Repo(path)
        repo.git("init", "-q", "-b", "main")
        runner = CliRunner()
        assert runner.invoke(app, ["init"]).exit_code == 0
        repo.gen({"train.py": TRAIN, "data/a.csv": "x\n1\n"})
        repo.gen({".mlog/config.yaml": "schema_version: 1\nmodel: fraud\nmetrics:\n"
                  "  auc: {goal: maximize, tolerance: 0.01}\n"})  # fmt: skip
        repo.commit("training")
        for n, lr in enumerate(("0.1", "0.2", "0.15", "0.25"), start=1):
            if n == 3:
                repo.gen({"data/b.csv": "y\n2\n"})
                repo.commit("more data")
            args = ["run", "-d", "train=data", "--", PYTHON, "train.py", lr, str(n)]
            result = runner.invoke(app, args)
            assert result.exit_code == 0, result.output
            if n == 2:
                assert runner.invoke(app, ["champion", "v2"]).exit_code == 0
    return path


@pytest.fixture
def runs(recorded: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Repo:
    """A copy of the recorded repository, as the working directory."""
    path = tmp_path / "project"
    shutil.copytree(recorded, path, symlinks=True)
    monkeypatch.chdir(path)
    return Repo(path)


def test_report_writes_one_self_contained_page(runs: Repo, cli: Any) -> None:
    result = cli("report", "-o", "out/report.html")
    assert result.exit_code == 0, result
    assert "wrote out/report.html (4 runs" in result.stderr, result
    page = (runs.path / "out" / "report.html").read_text()
    assert page.startswith("<!DOCTYPE html>")
    assert listed_runs(page) == ["v4", "v3", "v2", "v1"]
    assert 'data-chart="series:loss"' in page
    assert 'data-chart="metric:auc"' in page
    assert "Diff v2 → v4" in page  # the newest run against the champion
    assert "b.csv" in page  # the data file v3 added
    assert 'class="star"' in page  # the champion's row
    assert "hash mismatch</span>" not in page  # real records are intact
    assert "<script src" not in page and "<link" not in page and "@import" not in page
    assert "cdn.bokeh.org" not in page


def test_report_of_two_runs_shows_their_diff_and_json_says_what_was_written(
    runs: Repo, cli: Any
) -> None:
    result = cli("report", "v1", "v3", "-o", "two.html", "--json")
    assert result.exit_code == 0, result
    written = json.loads(result.stdout)
    assert written["runs"] == 2 and written["path"] == "two.html"
    assert written["bytes"] == len((runs.path / "two.html").read_bytes())
    page = (runs.path / "two.html").read_text()
    assert "Diff v1 → v3" in page
    assert listed_runs(page) == ["v3", "v1"]


def test_report_where_and_last_select_runs(runs: Repo, cli: Any) -> None:
    result = cli("report", "--where", "params.lr > 0.12", "--last", "2", "-o", "r.html")
    assert result.exit_code == 0, result
    page = (runs.path / "r.html").read_text()
    assert listed_runs(page) == ["v4", "v3"]


@pytest.mark.parametrize(
    ("args", "code", "message"),
    [
        (["--last", "0"], 2, "--last must be at least 1"),
        (["v99"], 6, "unknown run v99"),
        (["--where", "params.lr >"], 2, ""),
        (["--where", "params.lr > 5"], 6, "no runs to report"),
        (["-o", "missing-dir/x/../../.."], 2, "cannot write"),
    ],
)
def test_report_refuses_bad_input_with_one_line(
    runs: Repo, cli: Any, args: list[str], code: int, message: str
) -> None:
    result = cli("report", *args)
    assert result.exit_code == code, result
    assert result.stderr.startswith("error: ") and message in result.stderr, result
    assert "Traceback" not in result.stderr


def test_report_without_bokeh_names_the_extra(
    runs: Repo, cli: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "bokeh", None)  # what a core-only install sees
    result = cli("report", "-o", "r.html")
    assert result.exit_code == 2, result
    assert "pip install 'mlog-cli[report]'" in result.stderr, result
    assert not (runs.path / "r.html").exists()


def test_report_in_a_repo_without_runs(repo: Repo, cli: Any) -> None:
    result = cli("report")
    assert result.exit_code == 6, result
    assert "no runs recorded yet" in result.stderr or "no runs to report" in result.stderr


def test_diff_html_writes_the_two_run_page(runs: Repo, cli: Any) -> None:
    result = cli("diff", "v1", "v4", "--html", "-o", "diff.html")
    assert result.exit_code == 0, result
    page = (runs.path / "diff.html").read_text()
    assert "mlog diff v1 → v4" in page
    assert "<td>lr</td>" in page and "1 added" in page
    assert 'data-chart="series:loss"' in page
    assert style.CSS in page


def test_diff_output_needs_html(runs: Repo, cli: Any) -> None:
    result = cli("diff", "v1", "v4", "-o", "diff.html")
    assert result.exit_code == 2, result
    assert "--html" in result.stderr
    assert not (runs.path / "diff.html").exists()


def test_card_html_uses_the_report_stylesheet(runs: Repo, cli: Any) -> None:
    result = cli("card", "v2", "--format", "html", "-o", "card.html")
    assert result.exit_code == 0, result
    page = (runs.path / "card.html").read_text()
    assert style.CSS in page
    assert "<h2>Model Details</h2>" in page


# -- in a real browser --------------------------------------------------------------------------
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", "--no-first-run",
]  # fmt: skip
IDLE = """() => window.Bokeh && Bokeh.documents.length > 0
    && Bokeh.documents.every(d => d.is_idle)"""
INK = """(colors) => {
  // Per chart: how many pixels of its canvases have each colour (the data's marks).
  function canvases(root, found) {
    root.querySelectorAll("*").forEach(el => {
      if (el.shadowRoot) canvases(el.shadowRoot, found);
      if (el.tagName === "CANVAS" && el.width > 100) found.push(el);
    });
    return found;
  }
  const counts = {};
  document.querySelectorAll(".chart[data-chart]").forEach(chart => {
    const seen = Object.fromEntries(Object.keys(colors).map(k => [k, 0]));
    for (const canvas of canvases(chart, [])) {
      const px = canvas.getContext("2d").getImageData(0, 0, canvas.width, canvas.height).data;
      for (let i = 0; i < px.length; i += 4) {
        for (const [name, [r, g, b]] of Object.entries(colors)) {
          if (Math.abs(px[i] - r) < 14 && Math.abs(px[i + 1] - g) < 14
              && Math.abs(px[i + 2] - b) < 14 && px[i + 3] > 200) seen[name]++;
        }
      }
    }
    counts[chart.dataset.chart] = seen;
  });
  return counts;
}"""
COLORS = {"champion": [191, 135, 0], "first": [9, 105, 218], "second": [130, 80, 223],
          "fourth": [188, 76, 0], "regressed": [207, 34, 46]}  # fmt: skip
"""Colours of the data's marks (mlog.report.plots): PALETTE[0], [1], [3], gold and red."""


def chromium() -> str:
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    if found is None:
        pytest.skip("no Chromium on this machine (Debian: apt-get install -y chromium)")
    return found


def test_the_report_draws_every_chart_offline_in_headless_chromium(
    runs: Repo, cli: Any, tmp_path: Path
) -> None:
    from playwright.sync_api import sync_playwright

    executable = chromium()
    assert cli("report", "-o", "report.html").exit_code == 0
    url = (runs.path / "report.html").as_uri()
    problems: list[str] = []
    requests: list[str] = []
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch_persistent_context(
            str(tmp_path / "profile"), executable_path=executable, args=CHROMIUM_ARGS,
            headless=True, offline=True, viewport={"width": 1280, "height": 900},
        )  # fmt: skip
        try:
            browser.route("**/*", lambda route: _only_the_page(route, url, requests))
            page = browser.new_page()
            page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
            page.on("pageerror", lambda exc: problems.append(str(exc)))
            page.goto(url)
            page.wait_for_function(IDLE, timeout=30_000)
            ink = page.evaluate(INK, COLORS)
            page.screenshot(path=str(tmp_path / "report.png"), full_page=True)
            header = page.locator("table.sortable th", has_text="auc")
            header.click()
            ascending = page.locator("table.sortable tbody tr td:first-child").all_inner_texts()
        finally:
            browser.close()
    assert problems == [] and requests == [], (problems, requests)
    assert set(ink) == {"series:loss", "metric:auc", "metric:loss", "registry"}, ink
    assert ink["series:loss"]["champion"] > 50, ink  # v2's thick gold line
    assert ink["series:loss"]["first"] > 20 and ink["series:loss"]["second"] > 20, ink
    assert ink["metric:auc"]["first"] > 20 and ink["metric:auc"]["champion"] > 20, ink
    assert ink["metric:auc"]["regressed"] > 10, ink  # v3 regressed against the champion v2
    assert ink["metric:loss"]["first"] > 20, ink
    assert ink["registry"]["fourth"] > 20, ink  # the diamond of the champion event
    assert (tmp_path / "report.png").stat().st_size > 10_000
    assert [cell.strip(" ★") for cell in ascending] == ["v1", "v3", "v2", "v4"]


def _only_the_page(route: Any, url: str, requests: list[str]) -> None:
    if route.request.url == url:
        route.continue_()
    else:
        requests.append(route.request.url)
        route.abort()


def test_the_report_reads_without_javascript(runs: Repo, cli: Any, tmp_path: Path) -> None:
    from playwright.sync_api import sync_playwright

    executable = chromium()
    assert cli("report", "-o", "report.html").exit_code == 0
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS)
        try:
            context = browser.new_context(java_script_enabled=False, offline=True)
            page = context.new_page()
            page.goto((runs.path / "report.html").as_uri())
            rows = page.locator("table.sortable tbody tr").count()
            notice = page.locator("noscript").first.inner_text()
        finally:
            browser.close()
    assert rows == 4
    assert "every table on this page reads without it" in notice


def test_open_hands_the_page_to_the_browser_of_the_desktop(
    runs: Repo, cli: Any, tmp_path: Path
) -> None:
    opened = tmp_path / "opened.txt"
    browser = tmp_path / "browser.sh"
    browser.write_text(f'#!/bin/sh\necho "$1" > {opened}\n')
    browser.chmod(0o755)
    result = cli("report", "-o", "r.html", "--open", env={"BROWSER": str(browser)})
    assert result.exit_code == 0, result
    assert opened.read_text().strip() == (runs.path / "r.html").as_uri()


def test_a_damaged_series_sidecar_costs_its_lines_not_the_page(runs: Repo, cli: Any) -> None:
    newest = runs.run_dir(runs.run_ids()[-1])
    with open(newest / "series.jsonl", "a") as sidecar:
        sidecar.write('{"name": "loss", "step": \n')
    result = cli("report", "-o", "r.html")
    assert result.exit_code == 0, result
    assert "1 unreadable line(s) in series.jsonl left out" in result.stderr, result
    assert 'data-chart="series:loss"' in (runs.path / "r.html").read_text()


def test_diff_html_of_an_unknown_run(runs: Repo, cli: Any) -> None:
    result = cli("diff", "v1", "v77", "--html")
    assert result.exit_code == 6, result
    assert result.stderr.startswith("error: unknown run v77"), result
    assert not (runs.path / "diff.html").exists()


def test_the_report_shows_which_selected_run_produced_anothers_data(repo: Repo, cli: Any) -> None:
    """A two-stage pipeline: v1 writes features.csv, v2 trains on it."""
    repo.gen({"make.py": "open('features.csv', 'w').write('x\\n1\\n2\\n')\n",
              ".gitignore": "features.csv\n"})  # fmt: skip
    repo.commit("pipeline")
    made = cli("run", "-a", "features.csv", "--", PYTHON, "make.py")
    assert made.exit_code == 0, made
    trained = cli("run", "--allow-dirty", "-d", "features=features.csv", "--", PYTHON, "-c", "pass")
    assert trained.exit_code == 0, trained
    result = cli("report", "-o", "report.html")
    assert result.exit_code == 0, result
    page = (repo.path / "report.html").read_text()
    lineage = page.split("<h2>Lineage</h2>", 1)[1].split("<h2>", 1)[0]
    assert "features.csv" in lineage and "v1" in lineage and "v2" in lineage, lineage
    assert "No run of this selection" not in lineage
