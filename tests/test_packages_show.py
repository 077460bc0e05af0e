"""The installed packages of a run are readable where people look: show, show --json, ls."""

from __future__ import annotations

import importlib.metadata
import json
import sys
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from tests.conftest import Repo

PYTHON = sys.executable
NAME = "markdown-it-py"  # installed wherever mlog is (rich needs it), with a hyphen in its name
VERSION = importlib.metadata.version(NAME)


def test_show_lists_packages_and_ls_queries_them(repo: Repo, cli: Any) -> None:
    done = cli("run", "--", PYTHON, "train.py")
    assert done.exit_code == 0, done
    shown = json.loads(cli("show", "latest", "--json").stdout)
    packages = shown["packages"]
    assert packages[NAME] == VERSION
    assert list(packages) == sorted(packages)
    assert len(packages) == shown["environment"]["packages"]["count"]
    human = cli("show", "latest")
    assert human.exit_code == 0, human
    line = next(line for line in human.stdout.splitlines() if line.split()[:1] == [NAME])
    assert line.split() == [NAME, VERSION], human
    hit = cli("ls", "--json", "--where", f'packages.{NAME} = "{VERSION}"')
    assert [row["alias"] for row in json.loads(hit.stdout)] == ["v1"], hit
    miss = cli("ls", "--json", "--where", f'packages.{NAME} = "0.0.0"')
    assert json.loads(miss.stdout) == [], miss
    yaml_text = cli("show", "latest", "--yaml").stdout
    assert "\npackages:" not in yaml_text  # --yaml is the record exactly as stored


def test_diff_keeps_its_package_section(repo: Repo, cli: Any) -> None:
    for _ in range(2):
        assert cli("run", "--", PYTHON, "train.py").exit_code == 0
    result = json.loads(cli("diff", "v1", "v2", "--json").stdout)
    assert set(result["packages"]) >= {"added", "removed", "upgraded", "downgraded"}


def test_show_still_shows_a_run_whose_package_list_object_is_missing(repo: Repo, cli: Any) -> None:
    assert cli("run", "--", PYTHON, "train.py").exit_code == 0
    shown = json.loads(cli("show", "latest", "--json").stdout)
    digest = shown["environment"]["packages"]["object"].partition(":")[2]
    (repo.path / ".mlog" / "objects" / digest[:2] / digest[2:]).unlink()
    human = cli("show", "latest")
    assert human.exit_code == 0, human
    assert "warning: packages not shown: object" in human.stderr
    assert "is missing from .mlog/objects" in human.stderr
    assert "succeeded" in human.stdout
    as_json = cli("show", "latest", "--json")
    assert as_json.exit_code == 0 and json.loads(as_json.stdout)["packages"] is None


def test_runs_of_one_environment_share_one_package_list_in_the_index(repo: Repo, cli: Any) -> None:
    import sqlite3

    for _ in range(3):
        assert cli("run", "--", PYTHON, "train.py").exit_code == 0
    hit = cli("ls", "--json", "--where", f'packages.{NAME} = "{VERSION}"',
              "--columns", f"packages.{NAME}", "--sort", f"-packages.{NAME}")  # fmt: skip
    rows = json.loads(hit.stdout)
    assert [row["alias"] for row in rows] == ["v3", "v2", "v1"], hit
    assert all(row["columns"][f"packages.{NAME}"] == VERSION for row in rows), rows
    exists = cli("ls", "--json", "--where", f"packages.{NAME} exists and packages exists")
    assert len(json.loads(exists.stdout)) == 3, exists
    with sqlite3.connect(repo.path / ".mlog" / "cache" / "index.sqlite") as conn:
        assert conn.execute("SELECT count(*) FROM pkgsets").fetchone() == (1,)
        (sets,) = conn.execute("SELECT count(DISTINCT pkgs) FROM runs").fetchone()
        assert sets == 1
        (listed,) = conn.execute("SELECT count(*) FROM kv WHERE run < 0").fetchone()
        assert listed == len(json.loads(cli("show", "v1", "--json").stdout)["packages"])


def test_not_over_a_package_holds_for_a_run_without_a_package_list(repo: Repo, cli: Any) -> None:
    """A run recorded without a package list has none of its keys: `not packages.x = v`
    and `not packages.x exists` hold for it, whether `ls` lists every match or looks among
    the newest runs first (`--limit`)."""
    from mlog.storage.store import Store
    from tests.test_index import make_record, write

    assert cli("run", "--", PYTHON, "train.py").exit_code == 0
    bare = write(Store(repo.path), make_record(9))  # no environment.packages
    for where, expected in (
        (f'not packages.{NAME} = "0.0.0"', 2),
        (f"not packages.{NAME} exists", 1),
        (f'packages.{NAME} = "{VERSION}"', 1),
    ):
        for limit in ((), ("--limit", "5")):
            found = cli("ls", "--json", "--where", where, *limit)
            ids = [row["id"] for row in json.loads(found.stdout)]
            assert len(ids) == expected, (where, limit, found)
            assert (bare in ids) == where.startswith("not"), (where, limit, found)
