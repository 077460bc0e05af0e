"""Helpers of the fault campaign: the installed mlog in a subprocess, and mount namespaces.

Disk-full and read-only faults need a file system of their own. They run inside a private
user and mount namespace (``unshare -rm``): a small tmpfs, or a read-only bind mount, visible
to that process tree only. Where the kernel or the container forbids it, those tests skip.
"""

from __future__ import annotations

import functools
import json
import os
import shutil
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.conftest import Repo

MLOG = str(Path(sys.executable).parent / "mlog")
PYTHON = sys.executable


def mlog(cwd: Path, *args: str | bytes, **kwargs: Any) -> subprocess.CompletedProcess[str]:
    """The installed mlog; stdout and stderr decoded leniently (they may hold odd bytes)."""
    return subprocess.run(
        [MLOG, *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        errors="backslashreplace",
        timeout=120,
        **kwargs,
    )


def records(repo: Repo) -> list[dict[str, Any]]:
    return [yaml.safe_load((repo.run_dir(i) / "record.yaml").read_text()) for i in repo.run_ids()]


def one_line_error(result: subprocess.CompletedProcess[str]) -> str:
    """The stderr of a refused command: exactly one ``error:`` line and no traceback."""
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert "Traceback" not in result.stderr, result.stderr
    errors = [line for line in lines if line.startswith("error:")]
    assert len(errors) == 1, result.stderr
    return errors[0]


def wait_for(predicate: Any, timeout: float = 20.0, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.02)


def alive(pid: int) -> bool:
    """True while ``pid`` exists and is not a zombie."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as handle:
            return handle.read().rsplit(b")", 1)[1].split()[0] != b"Z"
    except (OSError, IndexError):
        return False


@functools.cache
def namespaces_allowed() -> bool:
    if shutil.which("unshare") is None or not sys.platform.startswith("linux"):
        return False
    probe = "d=$(mktemp -d) && mount -t tmpfs -o size=1m tmpfs $d && umount $d && rmdir $d"
    done = subprocess.run(["unshare", "-rm", "sh", "-c", probe], capture_output=True, timeout=30)
    return done.returncode == 0


def in_namespace(tmp_path: Path, setup: str, driver: str, env: dict[str, str]) -> dict[str, Any]:
    """Run shell ``setup`` (mounts) then Python ``driver`` in a private mount namespace.

    The driver gets ``MLOG``, ``PYTHON``, ``run(*args)`` and ``report(key, value)``; what it
    reports comes back as a dict (written outside the namespace's mounts).
    """
    if not namespaces_allowed():
        pytest.skip("mounting is not allowed here (unshare -rm with a tmpfs failed)")
    out = tmp_path / "report.json"
    prelude = f"""
import json, subprocess, sys
MLOG, PYTHON, _found = {MLOG!r}, {PYTHON!r}, {{}}
def run(*args, cwd=None):
    done = subprocess.run([MLOG, *args], cwd=cwd, capture_output=True, text=True,
                          errors="backslashreplace", timeout=120)
    return {{"code": done.returncode, "stdout": done.stdout, "stderr": done.stderr}}
def report(key, value):
    _found[key] = value
    with open({str(out)!r}, "w") as handle:
        json.dump(_found, handle)
"""
    script = tmp_path / "driver.py"
    script.write_text(prelude + textwrap.dedent(driver))
    done = subprocess.run(
        ["unshare", "-rm", "sh", "-ec", f"{setup}\nexec {PYTHON} {script}"],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    found: dict[str, Any] = json.loads(out.read_text())
    return found


def git_env() -> dict[str, str]:
    return dict(os.environ)
