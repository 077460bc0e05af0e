"""Runs filed by month (``.mlog/runs/<YYYY-MM>/<id>/``), and runs written before that
(``.mlog/runs/<id>/``) still read everywhere: no repository has to move a record."""

from __future__ import annotations

import json
import os
import shutil
import sys
import time
from pathlib import Path
from typing import Any

from mlog.query import aliases, listing
from mlog.storage import dirstamp, records, yamlio
from mlog.storage.store import Store
from tests.conftest import Repo
from tests.test_index import make_record, write

PYTHON = sys.executable


def test_a_new_run_goes_to_its_month_folder(repo: Repo, cli: Any) -> None:
    assert cli("run", "--", PYTHON, "train.py").exit_code == 0
    (run_id,) = repo.run_ids()
    folder = repo.run_dir(run_id)
    assert folder.parent.name == f"{run_id[:4]}-{run_id[4:6]}"
    assert folder.parent.parent == repo.path / ".mlog" / "runs"
    assert (folder / "record.yaml").is_file()


def test_a_repository_with_runs_in_both_layouts_reads_lists_shows_and_checks_them(
    repo: Repo, cli: Any
) -> None:
    assert cli("run", "--", PYTHON, "train.py").exit_code == 0
    (old,) = repo.run_ids()
    shutil.move(repo.run_dir(old), repo.path / ".mlog" / "runs" / old)  # as an older mlog filed it
    repo.commit("a run filed flat")
    assert cli("run", "--", PYTHON, "train.py").exit_code == 0
    repo.commit("a run filed by month")
    new = next(r for r in repo.run_ids() if r != old)
    assert repo.run_dir(old) == repo.path / ".mlog" / "runs" / old
    assert repo.run_dir(new).parent.name == records.month_of(new)
    listed = json.loads(cli("ls", "--json").stdout)
    assert [row["alias"] for row in listed] == ["v2", "v1"]
    shown = cli("show", "v1", "--json")
    assert shown.exit_code == 0 and json.loads(shown.stdout)["id"] == old, shown
    checked = cli("check", "--json")
    assert checked.exit_code == 0, checked
    assert json.loads(checked.stdout)["checked"]["records"] == 2
    # An edit is found in either layout, and named by its run.
    for run_id in (old, new):
        path = repo.run_dir(run_id) / "record.yaml"
        path.write_text(path.read_text().replace("status: succeeded", "status: failed"))
    found = json.loads(cli("check", "--json").stdout)["findings"]
    assert {f["run"] for f in found if f["check"] == "integrity"} == {old, new}


def test_a_run_brought_into_an_existing_month_folder_moves_the_stamp(tmp_path: Path) -> None:
    """git adding a run beside others of its month changes that folder, not ``runs/``: the
    stamp holds each month folder, so warm readers notice."""
    store = Store(tmp_path)
    store.init()
    for number in (1, 2):
        write(store, make_record(number))
    past = time.time_ns() - 5_000_000_000
    for folder in (store.runs_dir, *store.runs_dir.iterdir()):
        os.utime(folder, ns=(past, past))
    assert aliases.highest(store) == 2
    assert [r["alias"] for r in listing.list_runs(store, limit=1)] == ["v2"]
    runs_before = os.stat(store.runs_dir).st_mtime_ns
    third = make_record(3)  # written where git would put it, beside its month's runs
    folder = store.runs_dir / records.month_of(third["id"]) / third["id"]
    folder.mkdir()
    (folder / "record.yaml").write_text(yamlio.dumps(third))
    assert os.stat(store.runs_dir).st_mtime_ns == runs_before
    assert aliases.highest(store) == 3
    assert [r["alias"] for r in listing.list_runs(store, limit=1)] == ["v3"]


def test_stamps_round_trip_with_their_month_folders(tmp_path: Path) -> None:
    runs = tmp_path / "runs"
    (runs / "2026-10").mkdir(parents=True)
    (runs / "2026-11").mkdir()
    (runs / "20261001T000000000000Z-00000001").mkdir()  # a flat run is not a month folder
    stamp = dirstamp.take(runs)
    assert stamp is not None and [m[0] for m in stamp.months] == ["2026-10", "2026-11"]
    assert dirstamp.parse(stamp.text()) == stamp
    again = dirstamp.take(runs, stamp)  # unchanged parent: month names from the hint
    assert again is not None and again.same_directory_state(stamp)
    past = time.time_ns() - 5_000_000_000
    os.utime(runs / "2026-11", ns=(past, past))
    moved = dirstamp.take(runs, stamp)
    assert moved is not None and not moved.same_directory_state(stamp)


def test_run_of_path_in_both_layouts() -> None:
    run = "20261125T101010123456Z-0a1b2c3d"
    assert records.run_of_path(f".mlog/runs/2026-11/{run}/record.yaml") == run
    assert records.run_of_path(f".mlog/runs/{run}/series.jsonl") == run
    assert records.run_of_path(".mlog/runs/2026-11/record.yaml") is None
    assert records.run_of_path(".mlog/registry/m/x.yaml") is None


def _settle(store: Store) -> None:
    """Date every folder under runs/ back beyond the racy margin, as time would."""
    past = time.time_ns() - 5_000_000_000
    for folder in (store.runs_dir, *store.runs_dir.iterdir()):
        os.utime(folder, ns=(past, past))


def _in_month(number: int, month: str) -> dict[str, Any]:
    """A valid record whose id (hence folder) falls in ``month``, e.g. ``2025-03``."""
    record = make_record(number)
    record["id"] = month.replace("-", "") + record["id"][6:]
    return record


def _listed(store: Store) -> list[str]:
    return [row["alias"] for row in listing.list_runs(store, limit=100)]


def test_a_run_written_into_an_existing_month_leaves_the_runs_folder_alone(
    tmp_path: Path,
) -> None:
    store = Store(tmp_path)
    store.init()
    write(store, make_record(1))
    _settle(store)
    before = os.stat(store.runs_dir).st_mtime_ns
    write(store, make_record(2))  # staged inside the month folder, renamed within it
    assert os.stat(store.runs_dir).st_mtime_ns == before
    assert not [p for p in store.runs_dir.rglob(".staging-*")]


def test_after_runs_change_in_one_month_readers_relist_that_month_only(
    tmp_path: Path, monkeypatch: Any
) -> None:
    store = Store(tmp_path)
    store.init()
    for number, month in ((1, "2025-01"), (2, "2025-02"), (3, "2025-03")):
        write(store, _in_month(number, month))
    _settle(store)
    assert _listed(store) == ["v3", "v2", "v1"]  # the first reader lists every run
    added = write(store, _in_month(4, "2025-02"))
    shutil.rmtree(store.runs_dir / "2025-01" / _in_month(1, "2025-01")["id"])  # a checkout

    def every_run(self: Store) -> list[str]:
        raise AssertionError("listed every run to find a change in one month")

    monkeypatch.setattr(Store, "run_ids", every_run)
    fresh = Store(tmp_path)
    assert _listed(fresh) == ["v3", "v4", "v2"]  # newest first by id: v4 is February's
    assert aliases.highest(fresh) == 4
    assert added in [row["id"] for row in listing.list_runs(fresh, limit=100)]


def test_a_run_filed_in_another_months_folder_or_flat_makes_readers_list_everything(
    tmp_path: Path, monkeypatch: Any
) -> None:
    """A reader that re-listed one month would not see a misfiled run leave, so any doubt
    about where runs are filed means listing all of them (still correct, just slower)."""
    store = Store(tmp_path)
    store.init()
    for number, month in ((1, "2025-01"), (2, "2025-02")):
        write(store, _in_month(number, month))
    _settle(store)
    assert _listed(store) == ["v2", "v1"]
    misfiled = _in_month(3, "2025-03")  # copied by hand into January's folder
    folder = store.runs_dir / "2025-01" / misfiled["id"]
    folder.mkdir()
    (folder / "record.yaml").write_text(yamlio.dumps(misfiled))
    full_listings: list[int] = []
    run_ids = Store.run_ids

    def counted(self: Store) -> list[str]:
        full_listings.append(1)
        return run_ids(self)

    monkeypatch.setattr(Store, "run_ids", counted)
    assert _listed(Store(tmp_path)) == ["v3", "v2", "v1"] and full_listings == [1]
    _settle(store)
    shutil.rmtree(folder)  # it leaves its folder: the next reader must notice
    assert _listed(Store(tmp_path)) == ["v2", "v1"] and full_listings == [1, 1]
    flat = make_record(4)  # an older mlog filed runs flat
    (store.runs_dir / flat["id"]).mkdir()
    (store.runs_dir / flat["id"] / "record.yaml").write_text(yamlio.dumps(flat))
    assert sorted(_listed(Store(tmp_path))) == ["v1", "v2", "v4"] and len(full_listings) == 3
