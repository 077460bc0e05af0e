"""Constant-cost paths at scale: the alias high-water file, the index's runs stamp, and
warm ``ls --limit`` re-checking the rows it shows. Correctness only, no timing."""

from __future__ import annotations

import json
import os
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest

from mlog.api import refs
from mlog.audit import checks
from mlog.errors import AmbiguousRefError, RecordError
from mlog.query import aliases, index, listing
from mlog.query import language as query
from mlog.storage import dirstamp, records, yamlio
from mlog.storage.store import Store
from tests.test_index import make_record, write


def _settle(store: Store) -> None:
    """Make the runs directory's mtime old enough that a stamp of it is trusted."""
    past = time.time_ns() - 5_000_000_000
    for folder in (store.runs_dir, *store.runs_dir.glob("[0-9][0-9][0-9][0-9]-[0-9][0-9]")):
        os.utime(folder, ns=(past, past))


def _store(tmp_path: Path, count: int) -> Store:
    store = Store(tmp_path)
    store.init()
    for number in range(1, count + 1):
        write(store, make_record(number, params={"n": number}))
    _settle(store)
    return store


def test_highest_alias_is_cached_and_trusted_while_runs_are_unchanged(tmp_path: Path) -> None:
    store = _store(tmp_path, 3)
    assert aliases.highest(store) == 3
    stamp_text, high = (store.cache_dir / aliases.HIGH_FILE).read_text().split()
    assert high == "3"
    # While the directory stamp holds, the file is the answer: nothing is listed.
    (store.cache_dir / aliases.HIGH_FILE).write_text(f"{stamp_text} 41\n")
    assert aliases.highest(store) == 41


def test_a_run_added_by_git_moves_the_stamp_and_is_counted(tmp_path: Path) -> None:
    store = _store(tmp_path, 3)
    assert aliases.highest(store) == 3
    write(store, make_record(9))  # as a pull or merge would bring it: not through mlog
    assert aliases.highest(store) == 9
    assert index.runs_with_alias(store, 9) == [make_record(9)["id"]]


def test_own_write_keeps_the_file_current(tmp_path: Path) -> None:
    store = _store(tmp_path, 2)
    assert aliases.highest(store) == 2
    with aliases.writing(store, 3):
        write(store, make_record(3))
    recorded, high = (store.cache_dir / aliases.HIGH_FILE).read_text().split()
    assert high == "3"
    assert dirstamp.still_valid(dirstamp.parse(recorded), dirstamp.take(store.runs_dir))
    assert aliases.highest(store) == 3


def test_unreadable_high_file_is_recounted(tmp_path: Path) -> None:
    store = _store(tmp_path, 2)
    store.cache_dir.mkdir(parents=True, exist_ok=True)
    (store.cache_dir / aliases.HIGH_FILE).write_text("garbage")
    assert aliases.highest(store) == 2


def test_racy_and_coarse_stamps_are_not_trusted() -> None:
    now = time.time_ns()
    fresh = dirstamp.Stamp(now - 1_000_000, 2, 7, now)  # changed 1 ms before it was taken
    assert not dirstamp.still_valid(fresh, fresh)
    settled = dirstamp.Stamp(now - 1_000_000_000, 2, 7, now)
    assert dirstamp.still_valid(settled, settled)
    coarse = dirstamp.Stamp(now // 10**9 * 10**9 - 10**9, 2, 7, now)  # whole seconds
    assert not dirstamp.still_valid(coarse, coarse)
    assert not dirstamp.still_valid(coarse, dirstamp.own_write(coarse))
    moved = dirstamp.Stamp(settled.mtime_ns + 1, 2, 7, now)
    assert not dirstamp.still_valid(settled, moved)
    assert dirstamp.parse("not a stamp") is None


def test_show_by_alias_after_runs_arrive_and_after_a_merge_collision(tmp_path: Path) -> None:
    store = _store(tmp_path, 3)
    assert refs.resolve(store, "v2") == make_record(2)["id"]
    twin = make_record(2)
    twin["id"] = twin["id"][:-8] + "ffffffff"
    write(store, records.seal({**twin, "integrity": None}))
    with pytest.raises(AmbiguousRefError, match="alias v2 names 2 runs"):
        refs.resolve(store, "v2")


def _ls(store: Store, **kwargs: Any) -> list[dict[str, Any]]:
    return listing.list_runs(store, **kwargs)


def test_warm_limited_ls_sees_new_runs_and_rechecks_shown_rows(tmp_path: Path) -> None:
    store = _store(tmp_path, 4)
    assert [row["alias"] for row in _ls(store, limit=2)] == ["v4", "v3"]
    write(store, make_record(5))
    assert [row["alias"] for row in _ls(store, limit=2)] == ["v5", "v4"]
    _settle(store)
    _ls(store, limit=2)
    # A shown record edited in place (no run added): the listing still shows what is on disk.
    path = store.record_path(make_record(5)["id"])
    edited = yamlio.load_file(path)
    edited["note"] = "edited in place"
    path.write_text(yamlio.dumps(edited))
    assert _ls(store, limit=1)[0]["note"] == "edited in place"


def test_warm_limited_ls_refuses_a_shown_record_broken_in_place(tmp_path: Path) -> None:
    store = _store(tmp_path, 3)
    _ls(store, limit=2)
    store.record_path(make_record(3)["id"]).write_text("alias: v3\n: [broken\n")
    with pytest.raises(RecordError, match="fix or remove run"):
        _ls(store, limit=2)


def test_bulk_build_on_all_cores_matches_one_by_one(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The parallel, batched cold build gives the same index as the serial path, keeps
    broken records as errors, leaves out a run folder without a record (the workers take
    the signatures a cold build does not), and recreates the lookup index it dropped."""
    monkeypatch.setattr(index, "_BULK_MIN", 4)
    monkeypatch.setattr(index, "_BATCH", 3)
    store = _store(tmp_path, 9)
    store.record_path(make_record(4)["id"]).write_text("alias: v4\n: [broken\n")
    empty = make_record(10)["id"]
    (store.runs_dir / records.month_of(empty) / empty).mkdir()
    assert empty in list(store.run_ids())
    with index.opened(store) as runs:
        assert runs.last_refresh.total == 9
        assert runs.refresh().added == 0  # the signatures the workers took are the scan's
        assert list(runs.last_refresh.errors) == [make_record(4)["id"]]
        assert runs.alias_numbers() == {make_record(n)["id"]: n for n in range(1, 10)}
        hits = runs.search(query.parse("params.n >= 7"), keys=("params.n",))
        assert [hit.values["params.n"] for hit in hits] == [9, 8, 7]
        names = {row[0] for row in runs.conn.execute("SELECT name FROM sqlite_master")}
        assert "kv_lookup" in names


def test_a_records_leaves_are_encoded_as_present_values_and_encode_give_them() -> None:
    """The parse workers' one-pass encoding keeps exactly the leaves ``--where`` sees."""
    record = make_record(3, params={"lr": 0.1, "none": None, "nan": float("nan"), "big": 10**30},
                         tags={}, metrics={"empty": {}, "nested": {"x": {}, "y": True}},
                         data={"a.b": 1, "a": {"b": 2, "c": "x"}})  # fmt: skip
    leaves = query.present_values(record)
    keys, kinds, values = index._encoded_leaves(record)
    assert keys == tuple(leaves)
    expected = [index.encode(value) for value in leaves.values()]
    assert list(zip(kinds, values, strict=True)) == [
        (kind, value) if kind != "nan" else ("nan", None) for kind, value in expected
    ]


KILLED_BUILD = """
import os, sys
from pathlib import Path
from mlog.query import index
from mlog.storage.store import Store
index._BULK_MIN, index._BATCH = 4, 3
index._workers = lambda count: 1
written = index.RunIndex._apply_batch
def apply_then_die(self, batch, gone):
    written(self, batch, gone)
    os._exit(9)  # killed after the first committed batch: no cleanup runs
index.RunIndex._apply_batch = apply_then_die
with index.opened(Store(Path(sys.argv[1]))):
    pass
"""


def test_a_cold_build_killed_midway_is_completed_by_the_next_refresh(tmp_path: Path) -> None:
    """A killed cold build leaves its committed batches and no lookup index; the next
    refresh adds the runs it had not reached and creates the lookup index again, giving
    the same answers as an uninterrupted build."""
    import sys

    store = _store(tmp_path, 9)
    killed = subprocess.run([sys.executable, "-c", KILLED_BUILD, str(tmp_path)], check=False)
    assert killed.returncode == 9
    with index.opened(store) as runs:
        assert runs.last_refresh.total == 9 and runs.last_refresh.added == 6
        names = {row[0] for row in runs.conn.execute("SELECT name FROM sqlite_master")}
        assert "kv_lookup" in names
        after_kill = runs.search(query.parse("params.n >= 2"), keys=("params.n",))
    index.remove(store)
    with index.opened(store) as runs:
        assert runs.search(query.parse("params.n >= 2"), keys=("params.n",)) == after_kill
    assert [hit.values["params.n"] for hit in after_kill] == list(range(9, 1, -1))


# -- incremental, parallel `mlog check` -------------------------------------------------
def _commit_all(repo_dir: Path) -> None:
    subprocess.run(["git", "init", "-q", "-b", "main"], cwd=repo_dir, check=True)
    subprocess.run(["git", "add", "-A"], cwd=repo_dir, check=True)
    subprocess.run(["git", "commit", "-qm", "runs"], cwd=repo_dir, check=True)


def _checked_store(tmp_path: Path, count: int) -> Store:
    store = Store(tmp_path)
    store.init()
    _commit_all(tmp_path)
    head = subprocess.run(
        ["git", "rev-parse", "HEAD", "HEAD^{tree}"],
        cwd=tmp_path,
        check=True,
        capture_output=True,
        text=True,
    ).stdout.split()
    for number in range(1, count + 1):
        record = make_record(number)
        record["code"] = {"commit": head[0], "tree": head[1], "dirty": False}
        write(store, records.seal({k: v for k, v in record.items() if k != "integrity"}))
    subprocess.run(["git", "add", "-A"], cwd=tmp_path, check=True)
    subprocess.run(["git", "commit", "-qm", "runs"], cwd=tmp_path, check=True)
    return store


def _errors(store: Store, *, full: bool = False) -> list[tuple[str, str | None]]:
    report = checks.check_repository(store, full=full)
    return sorted((f.check, f.run) for f in report.errors)


def test_check_remembers_verified_records_and_full_revalidates(tmp_path: Path) -> None:
    store = _checked_store(tmp_path, 3)
    assert _errors(store) == []
    cache = json.loads((store.cache_dir / "check-verified.json").read_text())
    assert len(cache["records"]) == 3
    # A record changed after it was verified has other bytes: it is validated again.
    victim = make_record(2)["id"]
    path = store.record_path(victim)
    path.write_text(path.read_text().replace("status: succeeded", "status: failed"))
    assert ("integrity", victim) in _errors(store)
    # A verified key is trusted without parsing; --full re-validates every record.
    (store.cache_dir / "check-verified.json").write_text(json.dumps(cache))
    assert ("integrity", victim) in _errors(store, full=True)


def test_check_from_another_mlog_version_ignores_the_cache(tmp_path: Path) -> None:
    store = _checked_store(tmp_path, 2)
    _errors(store)
    cache_path = store.cache_dir / "check-verified.json"
    cache = json.loads(cache_path.read_text())
    victim = make_record(1)["id"]
    path = store.record_path(victim)
    path.write_text(path.read_text() + "extra: 1\n")
    forged_key = checks._content_key(store, victim)
    cache["records"][forged_key] = ["0" * 40, "0" * 40]
    cache["version"] = "0.0.0/1"
    cache_path.write_text(json.dumps(cache))
    assert ("schema", victim) in _errors(store)


def test_parallel_check_reports_the_same_findings(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = _checked_store(tmp_path, 8)
    broken = make_record(5)["id"]
    store.record_path(broken).write_text("alias: v5\n: [broken\n")
    serial = _errors(store, full=True)
    monkeypatch.setattr(checks, "_PARALLEL_MIN", 4)
    assert _errors(store, full=True) == serial
    assert ("schema", broken) in serial


def test_a_check_after_a_verified_one_hashes_on_every_core_and_sees_an_edit(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With many records verified before, their content keys are taken on every core; an
    edited record (or a signature file put beside one) still has another key."""
    store = _checked_store(tmp_path, 8)
    assert _errors(store) == []
    monkeypatch.setattr(checks, "_PARALLEL_MIN", 2)  # 8 keys: two workers
    ids = store.run_ids()
    assert checks._content_keys(store, ids) == [checks._content_key(store, i) for i in ids]
    victim, signed = make_record(3)["id"], make_record(6)["id"]
    path = store.record_path(victim)
    path.write_text(path.read_text().replace("status: succeeded", "status: failed"))
    (store.run_dir(signed) / "record.yaml.sig").write_text("not a signature")
    found = _errors(store)
    assert ("integrity", victim) in found
    assert any(run == signed for _, run in found)


BENCHMARKS = Path(__file__).parents[1] / "benchmarks"


def _benchmark(name: str) -> Any:
    """A script of ``benchmarks/`` loaded as a module, as it imports its siblings
    (``from synthesize import ...``): the folder is on ``sys.path`` while it loads."""
    import importlib.util
    import sys

    spec = importlib.util.spec_from_file_location(name, BENCHMARKS / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    sys.path.insert(0, str(BENCHMARKS))
    try:
        spec.loader.exec_module(module)
    finally:
        sys.path.remove(str(BENCHMARKS))
    return module


def test_synthesized_records_are_valid_deterministic_and_showable(tmp_path: Path) -> None:
    """benchmarks/synthesize.py: what the scale figures are measured on must be real records."""
    synthesize = _benchmark("synthesize")
    one, two = tmp_path / "one", tmp_path / "two"
    assert synthesize.synthesize(one, 30, jobs=1) == 30
    assert synthesize.synthesize(two, 30, jobs=2) == 30
    ids = Store(one).run_ids()
    assert ids == Store(two).run_ids() and len(ids) == 30
    store = Store(one)
    assert _errors(store) == []
    record = store.load_record(ids[0])
    packages = store.packages(record)
    assert packages is not None and len(packages) == 120


def test_first_parallel_check_remembers_the_same_keys_as_a_serial_one(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With no verification cache (a fresh CI clone) the workers hash each record as they
    parse it; the keys they remember are the ones a later check looks up."""
    store = _checked_store(tmp_path, 8)
    cache_path = store.cache_dir / "check-verified.json"
    assert _errors(store) == []
    serial = json.loads(cache_path.read_text())["records"]
    cache_path.unlink()
    monkeypatch.setattr(checks, "_PARALLEL_MIN", 4)
    assert _errors(store) == []
    assert json.loads(cache_path.read_text())["records"] == serial
    assert set(serial) == {checks._content_key(store, run_id) for run_id in store.run_ids()}
    victim = make_record(3)["id"]
    path = store.record_path(victim)
    path.write_text(path.read_text().replace("status: succeeded", "status: failed"))
    assert ("integrity", victim) in _errors(store)


def test_a_first_check_in_a_fresh_clone_finds_alias_collisions_without_rereading(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With no index (a fresh clone) a first check takes each record's alias line from the
    read it validates it with, and finds the same collisions as with the index."""
    store = _checked_store(tmp_path, 4)
    twin = {k: v for k, v in make_record(9).items() if k != "integrity"}
    twin["alias"] = "v2"
    twin["code"] = store.load_record(make_record(2)["id"])["code"]
    write(store, records.seal(twin))
    store = Store(tmp_path)
    collision = ("alias v2 names 2 runs", "warning")

    def alias_warnings(report: checks.CheckReport) -> list[tuple[str, str]]:
        return [(f.message[:21], f.severity) for f in report.findings if f.check == "alias"]

    for parallel in (False, True):
        monkeypatch.setattr(checks, "_PARALLEL_MIN", 4 if parallel else 1000)
        (store.cache_dir / "check-verified.json").unlink(missing_ok=True)
        index.remove(store)
        with monkeypatch.context() as patched:
            patched.setattr(index, "_alias_heads", lambda _store: pytest.fail("read twice"))
            assert alias_warnings(checks.check_repository(store)) == [collision]
        with index.opened(store):
            pass
        (store.cache_dir / "check-verified.json").unlink()
        assert alias_warnings(checks.check_repository(store)) == [collision]
        assert alias_warnings(checks.check_repository(store)) == [collision]  # incremental


@pytest.mark.parametrize("script", ["bench_lineage", "bench_report"])
def test_the_benchmarks_that_write_their_own_runs_still_write_valid_ones(
    tmp_path: Path, script: str
) -> None:
    """bench_lineage and bench_report build on synthesize.make_record: a change to it must
    not leave them failing before they measure anything (as a new argument once did)."""
    module = _benchmark(script)
    repo = tmp_path / "repo"
    if script == "bench_report":
        module.synthesize(repo, 12, 5)
    else:
        module.synthesize(repo, 12)
    store = Store(repo)
    assert len(store.run_ids()) == 12
    assert _errors(store) == []
