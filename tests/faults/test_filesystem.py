"""A disk that fills while the command trains, and a repository mounted read-only.

Both run in a private mount namespace (see ``_support.in_namespace``) and skip where
mounting is not allowed.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.conftest import Repo
from tests.faults._support import in_namespace

pytestmark = pytest.mark.e2e

FILL = """
import mlog, pathlib
mlog.log_metric("acc", 0.9)
pathlib.Path("model.bin").write_bytes(b"m")
try:
    with open("ballast", "wb") as handle:
        while True:
            handle.write(b"x" * 65536)
except OSError:
    pass
raise SystemExit(3)
"""

DISK_FULL = """
import os, pathlib, subprocess, yaml
repo = pathlib.Path(os.environ["REPO"])
def git(*args):
    subprocess.run(["git", *args], cwd=repo, check=True, capture_output=True)
git("init", "-q", "-b", "main")
(repo / "fill.py").write_text(os.environ["FILL"])
(repo / ".gitignore").write_text("ballast\\nmodel.bin\\n")
report("init", run("init", cwd=repo))
git("add", "-A"); git("commit", "-qm", "fill")
report("full", run("run", "-a", "model.bin", "--", PYTHON, "fill.py", cwd=repo))
report("staging", [p.name for p in (repo / ".mlog" / "runs").glob(".*")]
       if (repo / ".mlog" / "runs").exists() else [])
report("still_full", run("run", "--", PYTHON, "-c", "pass", cwd=repo))
(repo / "ballast").unlink()
report("recover", run("recover", cwd=repo))
records = sorted((repo / ".mlog" / "runs").glob("*/*/record.yaml"))  # runs/<YYYY-MM>/<id>/
report("records", [yaml.safe_load(r.read_text()) for r in records])
report("ls", run("ls", "--json", cwd=repo))
"""


def test_disk_full_keeps_the_exit_code_and_recovers_the_run_as_it_was(tmp_path: Path) -> None:
    mount = tmp_path / "small"
    mount.mkdir()
    env = {**os.environ, "REPO": str(mount), "FILL": FILL}
    found = in_namespace(tmp_path, f"mount -t tmpfs -o size=3m tmpfs {mount}", DISK_FULL, env)
    assert found["init"]["code"] == 0, found["init"]
    full = found["full"]
    assert full["code"] == 3, full  # the command's own code, not mlog's "internal error"
    assert "Traceback" not in full["stderr"] and "unexpected error" not in full["stderr"]
    assert "could not be written" in full["stderr"], full["stderr"]
    assert "No space left on device" in full["stderr"], full["stderr"]
    assert found["staging"] == []
    still = found["still_full"]
    assert still["code"] == 13, still
    disk_full = ("No space left", "Out of diskspace")  # the OS's words, or git's for its index
    assert still["stderr"].count("error:") == 1, still
    assert any(words in still["stderr"] for words in disk_full), still
    assert found["recover"]["code"] == 0, found["recover"]
    [record] = found["records"]
    assert record["status"] == "failed" and record["command"]["exit_code"] == 3
    assert record["metrics"] == {"acc": 0.9}
    assert [a["path"] for a in record["artifacts"] if a["present"]] == ["model.bin"]
    assert "could not write the record" in record["command"]["recovered"]
    assert found["ls"]["code"] == 0


READ_ONLY = """
import os, pathlib
repo = pathlib.Path(os.environ["REPO"])
report("run", run("run", "--", PYTHON, "-c", "pass", cwd=repo))
report("register", run("register", "v1", "--model", "m", cwd=repo))
report("ls", run("ls", "--json", cwd=repo))
report("show", run("show", "v1", "--json", cwd=repo))
report("check", run("check", cwd=repo))
"""


def test_read_only_repository_gets_one_line_errors_and_reads_still_work(
    repo: Repo, tmp_path: Path
) -> None:
    from tests.faults._support import mlog

    assert mlog(repo.path, "run", "--", "true").returncode == 0
    repo.git("add", ".mlog")
    repo.git("commit", "-qm", "a run")
    setup = f"mount --bind {repo.path} {repo.path}\nmount -o remount,ro,bind {repo.path}"
    found = in_namespace(tmp_path, setup, READ_ONLY, {**os.environ, "REPO": str(repo.path)})
    for command in ("run", "register"):
        result = found[command]
        assert result["code"] == 13, (command, result)
        assert "Traceback" not in result["stderr"] and "GitCommandError" not in result["stderr"]
        [line] = [x for x in result["stderr"].splitlines() if x.strip()]
        assert line.startswith("error:") and "Read-only file system" in line, line
        assert ".mlog" in line, line
    for command in ("ls", "show", "check"):
        assert found[command]["code"] == 0, (command, found[command])
