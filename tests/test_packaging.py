"""The wheel ships the JSON Schemas: an installed, non-editable copy validates a record."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from tests.conftest import PYTHON, Repo

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.e2e
def test_a_built_wheel_validates_a_record_without_the_source_tree(
    repo: Repo, cli, tmp_path: Path
) -> None:
    assert cli("run", "--", PYTHON, "train.py").exit_code == 0
    wheels = tmp_path / "wheels"
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", str(ROOT), "--no-deps", "-q", "-w", str(wheels)],
        check=True,
        capture_output=True,
    )
    [wheel] = wheels.glob("mlog_cli-*.whl")
    site = tmp_path / "site"
    with zipfile.ZipFile(wheel) as archive:
        assert "mlog/schemas/run.schema.json" in archive.namelist()
        archive.extractall(site)
    record = next((repo.path / ".mlog/runs").glob("*/*/record.yaml"))  # runs/<YYYY-MM>/<id>/
    script = (
        "import sys, mlog.storage.schema, mlog.storage.yamlio, pathlib;"
        "assert mlog.storage.schema.__file__.startswith(sys.argv[2]), mlog.storage.schema.__file__;"
        "doc = mlog.storage.yamlio.load_file(pathlib.Path(sys.argv[1]));"
        "print(mlog.storage.schema.problems(doc, 'run'))"
    )
    done = subprocess.run(
        [
            sys.executable,
            "-I",
            "-c",
            f"import sys; sys.path.insert(0, {str(site)!r}); {script}",
            str(record),
            str(site),
        ],
        capture_output=True,
        text=True,
        cwd=tmp_path,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"
