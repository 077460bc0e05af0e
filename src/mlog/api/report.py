"""``mlog report`` and ``mlog diff --html``: read what the pages show, render, write the file."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mlog.api import open_store, refs
from mlog.errors import NotFoundError, UsageError

if TYPE_CHECKING:
    from mlog.report.page import ReportInput
    from mlog.storage.store import Store

DEFAULT_LAST = 100
"""Without REFs or ``--last``, a report shows the newest 100 runs."""


@dataclass(frozen=True)
class PageResult:
    """A page written: where, how many runs it shows, its size, and what to warn about."""

    path: Path
    runs: int
    bytes: int
    warnings: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {**self.__dict__, "path": str(self.path)}


def report(
    *,
    cwd: Path,
    output: Path,
    run_refs: list[str] | None = None,
    where: str | None = None,
    last: int | None = None,
) -> PageResult:
    """Write one self-contained HTML page about the selected runs (oldest first)."""
    from mlog.report.page import report_page

    store = open_store(cwd)
    ids = select_runs(store, run_refs or [], where, last)
    given = read_input(store, ids)
    given.diff = _diff(store, ids, given.warnings)
    models = sorted({str(r.get("model")) for r in given.records})
    given.subtitle = f"{len(ids)} runs of {', '.join(models)}, {_span(given.records)}"
    return _write(output, report_page(given), len(ids), given.warnings)


def diff_page(*, cwd: Path, output: Path, a: str | None = None, b: str | None = None) -> PageResult:
    """``mlog diff A B --html``: the two-run page, with the same defaults as ``mlog diff``."""
    from mlog.api.compare import pick_runs
    from mlog.compare import diff
    from mlog.report.page import diff_page as render

    store = open_store(cwd)
    old_id, new_id, _how = pick_runs(store, a, b)
    result = diff.compare(store, old_id, new_id)
    given = read_input(store, [old_id, new_id], champions=False)
    given.warnings.extend(result["warnings"])
    given.title = f"mlog diff {result['a']['alias']} → {result['b']['alias']}"
    given.subtitle = f"{result['a']['model']}: {_span(given.records)}"
    return _write(output, render(result, given), 2, given.warnings)


def select_runs(
    store: Store, run_refs: list[str], where: str | None, last: int | None
) -> list[str]:
    """Run ids oldest first: the REFs (else every run), filtered by WHERE, cut to the LAST N."""
    if last is not None and last < 1:
        raise UsageError(f"--last must be at least 1, not {last}")
    ids = sorted({refs.resolve(store, ref) for ref in run_refs}) if run_refs else store.run_ids()
    if where and where.strip():
        from mlog.query import listing

        matched = {row["id"] for row in listing.list_runs(store, where=where)}
        ids = [run_id for run_id in ids if run_id in matched]
    if last is None and not run_refs:
        last = DEFAULT_LAST
    ids = ids[-last:] if last else ids
    if not ids:
        raise NotFoundError(
            "no runs to report (record one with `mlog run -- CMD`, or loosen --where)"
        )
    return ids


def read_input(store: Store, ids: list[str], *, champions: bool = True) -> ReportInput:
    """Records, series points, champions and registry events of the runs, for the page."""
    from mlog.report.page import ReportInput

    records = [store.load_record(run_id) for run_id in ids]
    given = ReportInput(records, {}, {}, store.config().metrics)
    models = sorted({str(record.get("model")) for record in records})
    if champions:
        given.champions = _champions(store, models, given.warnings)
        given.events = _events(store, models)
    for record in [*records, *given.champions.values()]:
        run_id = str(record["id"])
        given.points[run_id] = read_points(store, run_id, given.warnings)
    if champions:
        given.lineage = _lineage_links(store, ids)
    return given


def _lineage_links(store: Store, ids: list[str]) -> list[dict[str, Any]]:
    """Producer → consumer links among the selected runs, from the lineage index."""
    from mlog.lineage import graph, index

    selected = set(ids)
    links = []
    with index.opened(store, quick=True) as found:  # as `ls --limit`: these runs re-checked
        if not found.unchanged(ids):
            found.refresh()
        for run_id in ids:
            consumer = found.run(run_id)
            for row in graph.producers_of(found, run_id):
                if row["run"] in selected:
                    links.append({
                        "producer": row["alias"] or row["run"],
                        "artifact": row["file"] or row["artifact"],
                        "consumer": consumer.alias if consumer else run_id,
                        "dataset": row["dataset"],
                    })  # fmt: skip
    return links


def read_points(store: Store, run_id: str, warnings: list[str]) -> list[dict[str, Any]]:
    """The per-step points of a run's sidecar; none when it logged no series.

    A line that is not a JSON point (a sidecar edited by hand) is left out with a warning,
    so one damaged file does not cost the whole page.
    """
    from mlog.storage.store import SERIES_FILE

    try:
        lines = (store.run_dir(run_id) / SERIES_FILE).read_bytes().splitlines()
    except FileNotFoundError:
        return []
    found, bad = [], 0
    for line in lines:
        try:
            point = json.loads(line)
            found.append({"name": str(point["name"]), "step": int(point["step"]),
                          "value": point["value"]})  # fmt: skip
        except (ValueError, TypeError, KeyError):
            bad += line.strip() != b""
    if bad:
        warnings.append(f"run {run_id}: {bad} unreadable line(s) in {SERIES_FILE} left out")
    return found


def _champions(store: Store, models: list[str], warnings: list[str]) -> dict[str, dict[str, Any]]:
    from mlog.registry.champion import champion_record, current_champion

    found = {}
    for model in models:
        champion = current_champion(store, model)
        if champion is None:
            continue
        try:
            found[model] = champion_record(store, champion)
        except NotFoundError as exc:
            warnings.append(str(exc))
    return found


def _events(store: Store, models: list[str]) -> dict[str, list[dict[str, Any]]]:
    from mlog.registry import events

    return {
        model: events.load_events(store, model)
        for model in models
        if events.event_files(store, model)
    }


def _diff(store: Store, ids: list[str], warnings: list[str]) -> dict[str, Any] | None:
    """Two runs: their diff. More: the newest against its champion, else the run before it."""
    from mlog.api.compare import pick_runs
    from mlog.compare import diff

    if len(ids) < 2:
        return None
    if len(ids) == 2:
        old_id, new_id = ids
    else:
        old_id, new_id, _how = pick_runs(store, None, ids[-1])
    result = diff.compare(store, old_id, new_id)
    warnings.extend(result["warnings"])
    return result


def _span(records: list[dict[str, Any]]) -> str:
    starts = sorted(str((r.get("command") or {}).get("started_at") or "")[:10] for r in records)
    starts = [s for s in starts if s]
    if not starts:
        return "no start times"
    return starts[0] if starts[0] == starts[-1] else f"{starts[0]} to {starts[-1]}"


def _write(output: Path, text: str, runs: int, warnings: list[str]) -> PageResult:
    from mlog.storage import atomic

    try:
        atomic.write_text(output, text)
    except OSError as exc:
        raise UsageError(
            f"cannot write {output}: {exc.strerror} (choose another -o path)"
        ) from None
    return PageResult(output, runs, len(text.encode("utf-8")), warnings)
