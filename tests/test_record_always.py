"""A run that executed is always recorded: bad input is refused before the command starts,
and a field that still fails the schema afterwards is quoted or dropped, never the record."""

from __future__ import annotations

import json
import sys
from typing import TYPE_CHECKING, Any

import pytest

from mlog.storage import schema, yamlio

if TYPE_CHECKING:
    from tests.conftest import Repo

PYTHON = sys.executable
MARK = "touch trained.txt"
LFS = "version https://git-lfs.github.com/spec/v1\noid sha256:zzzz\nsize 12\n"
DVC = "outs:\n- md5: notahash\n  size: 12\n  path: raw.csv\n"

# kind -> (files to commit, extra `mlog run` options, exit code, what the error says)
BEFORE: dict[str, tuple[dict[str, str], tuple[str, ...], int, str]] = {
    "lfs-pointer": ({"data/big.bin": LFS}, ("-d", "data/big.bin"), 10,
                    "data/big.bin: malformed git-lfs pointer: oid 'sha256:zzzz' is not a SHA-256"),
    "dvc-md5": ({"data/raw.csv.dvc": DVC}, ("-d", "data/raw.csv.dvc"), 10,
                "md5 'notahash' is not an MD5 digest"),
    "params-binary": ({"bad.yaml": "blob: !!binary aGVsbG8=\n"}, ("-p", "bad.yaml"), 8,
                      "bad.yaml: blob holds a bytes value, which a record cannot store"),
    "dvc-size": ({"data/raw.csv.dvc": DVC.replace("notahash", "ab" * 16).replace("12", "-5")},
                 ("-d", "data/raw.csv.dvc"), 2,
                 "this run's input cannot be recorded: data.raw.size: -5 is less than the minimum"),
    "config": ({".mlog/config.yaml": "schema_version: 1\nhash_algorithm: md4\n"}, (), 8,
               "hash_algorithm"),
}  # fmt: skip


def _pending(repo: Repo) -> list[str]:
    folder = repo.path / ".mlog" / "cache" / "pending"
    return sorted(p.name for p in folder.iterdir()) if folder.exists() else []


@pytest.mark.parametrize("kind", sorted(BEFORE))
def test_bad_input_is_refused_before_the_command_starts(repo: Repo, cli: Any, kind: str) -> None:
    files, options, code, expected = BEFORE[kind]
    repo.gen(files)
    repo.commit(kind)
    refused = cli("run", *options, "--", "sh", "-c", MARK)
    assert refused.exit_code == code, refused
    assert expected in refused.stderr and len(refused.stderr.splitlines()) == 1, refused
    assert "Traceback" not in refused.stderr + refused.stdout
    assert not (repo.path / "trained.txt").exists()  # the command never ran
    assert repo.run_ids() == [] and _pending(repo) == [], _pending(repo)


def test_a_refused_run_burns_no_alias(repo: Repo, cli: Any) -> None:
    repo.gen({"data/big.bin": LFS})
    repo.commit("bad pointer")
    assert cli("run", "-d", "data/big.bin", "--", "true").exit_code == 10
    ok = cli("run", "--", "true")
    assert ok.exit_code == 0 and "run v1 " in ok.stderr, ok


def test_dates_in_params_are_recorded_as_iso_text(repo: Repo, cli: Any) -> None:
    repo.gen({"dated.yaml": "start: 2024-01-31\nwindow: {end: 2024-03-01T12:00:00}\n"})
    repo.commit("dated params")
    assert cli("run", "-p", "dated.yaml", "--", "true").exit_code == 0
    params = json.loads(cli("show", "latest", "--json").stdout)["params"]
    assert params["start"] == "2024-01-31" and params["window.end"] == "2024-03-01T12:00:00"


def test_a_field_that_fails_the_schema_after_the_run_is_quoted(repo: Repo, cli: Any) -> None:
    """A spool line written without the API (any tool can append to it) with a list value."""
    script = (
        "import json, os\n"
        "with open(os.environ['MLOG_SPOOL'], 'a') as spool:\n"
        "    spool.write(json.dumps({'type': 'metric', 'name': 'cm', 'value': [[5, 1], [0, 4]]}))\n"
        "    spool.write('\\n')\n"
        "open('trained.txt', 'w').write('yes')\n"
        "raise SystemExit(3)\n"
    )
    result = cli("run", "--", PYTHON, "-c", script)
    assert result.exit_code == 3, result
    (run_id,) = repo.run_ids()
    record = json.loads(cli("show", run_id, "--json").stdout)
    assert record["status"] == "failed" and record["command"]["exit_code"] == 3
    assert record["metrics"]["cm"] == "[[5, 1], [0, 4]]"
    assert any(
        w.startswith("record field metrics.cm quoted as a string") for w in record["warnings"]
    )
    assert _pending(repo) == [] and cli("validate").exit_code == 0


def test_repair_drops_a_field_that_cannot_be_quoted(repo: Repo, cli: Any) -> None:
    assert cli("run", "--", "true").exit_code == 0
    (run_id,) = repo.run_ids()
    record = yamlio.load_file(repo.run_dir(run_id) / "record.yaml")
    record["artifacts"] = [{"path": "model.pt", "present": "yes"}]
    record["command"]["exit_code"] = [1]
    notes = schema.repair(record, "run")
    assert record["artifacts"] == [] and "exit_code" not in record["command"], record
    assert notes == [
        "record field artifacts.0.present dropped: 'yes' is not of type 'boolean'",
        "record field artifacts.0 dropped: 'present' is a required property",
        "record field command.exit_code dropped: [1] is not of type 'integer', 'null'",
    ], notes
    assert schema.problems(record, "run") == []


def test_a_marker_left_after_the_record_was_written_is_cleared(repo: Repo, cli: Any) -> None:
    """mlog killed between writing the record and removing its pending marker."""
    import socket
    import subprocess

    assert cli("run", "--", "true").exit_code == 0
    (run_id,) = repo.run_ids()
    record = yamlio.load_file(repo.run_dir(run_id) / "record.yaml")
    dead = subprocess.Popen(["true"])
    dead.wait()
    state = {"alias": "v1", "record": record, "artifacts": [], "metrics_files": [], "patch": "",
             "mlog_pid": dead.pid, "mlog_started": None, "child_pid": None,
             "child_started": None, "host": socket.gethostname()}  # fmt: skip
    marker = repo.path / ".mlog" / "cache" / "pending" / f"{run_id}.json"
    marker.write_text(json.dumps(state))
    assert run_id in cli("ls").stderr  # named as waiting for `mlog recover`
    assert cli("recover").exit_code == 0
    assert not marker.exists() and repo.run_ids() == [run_id]
    again = cli("run", "--", "true")
    assert again.exit_code == 0 and "run v2 " in again.stderr, again
