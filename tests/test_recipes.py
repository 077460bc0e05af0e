"""The CI and pre-commit recipes in docs/ work as written, from a fresh clone of mlog.

The GitHub Actions `check` job of docs/ci.md runs as a shell script: a fresh virtual
environment stands in for `actions/setup-python`, a clone of the user's project with its full
history for `actions/checkout`, and the job's own `run:` steps install mlog from a fresh clone of
this repository at a pinned commit (`MLOG_REPO`, `MLOG_REF`) and check the project. The install
is offline: the new environment sees this environment's packages through a `.pth` file, and pip
is told not to use an index.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sysconfig
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.conftest import PYTHON, Repo, git

ROOT = Path(__file__).resolve().parent.parent
pytestmark = pytest.mark.e2e


def yaml_blocks(doc: str) -> list[Any]:
    text = (ROOT / "docs" / doc).read_text(encoding="utf-8")
    return [yaml.safe_load(block) for block in re.findall(r"```yaml\n(.*?)```", text, re.S)]


def github_workflow() -> dict[str, Any]:
    [workflow] = [b for b in yaml_blocks("ci.md") if isinstance(b, dict) and "jobs" in b]
    return workflow


def job_script(workflow: dict[str, Any], job: str) -> str:
    steps = workflow["jobs"][job]["steps"]
    emulated = {"actions/checkout", "actions/setup-python", "actions/cache"}  # cache: a miss
    for step in steps:
        if "uses" in step:
            assert step["uses"].split("@")[0] in emulated, step
    return "set -eu\n" + "\n".join(step["run"] for step in steps if "run" in step) + "\n"


@pytest.fixture(scope="module")
def mlog_clone(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, str]:
    """A fresh clone of this repository and the commit to pin, as MLOG_REPO and MLOG_REF."""
    clone = tmp_path_factory.mktemp("mlog-src") / "mlog"
    subprocess.run(["git", "clone", "-q", "--no-local", str(ROOT), str(clone)], check=True)
    head = subprocess.run(
        ["git", "-C", str(clone), "rev-parse", "HEAD"], check=True, capture_output=True, text=True
    ).stdout.strip()
    return f"file://{clone}", head


@pytest.fixture(scope="module")
def runner_python(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A new virtual environment, as `actions/setup-python` gives a job: no mlog in it."""
    venv = tmp_path_factory.mktemp("runner") / "venv"
    subprocess.run([PYTHON, "-m", "venv", str(venv)], check=True)
    site = next((venv / "lib").glob("python3*/site-packages"))
    for own in [
        *site.glob("setuptools*"),
        *site.glob("_distutils_hack"),
        *site.glob("distutils-*"),
    ]:
        shutil.rmtree(own) if own.is_dir() else own.unlink()
    (site / "offline-deps.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    return venv / "bin"


def run_job(project: Path, bin_dir: Path, script: str, clone: tuple[str, str]) -> Any:
    env = {
        **os.environ,
        "PATH": f"{bin_dir}{os.pathsep}/usr/bin{os.pathsep}/bin",
        "MLOG_REPO": clone[0],
        "MLOG_REF": clone[1],
        "PIP_NO_INDEX": "1",
        "PIP_NO_BUILD_ISOLATION": "0",
        "PIP_DISABLE_PIP_VERSION_CHECK": "1",
        "VIRTUAL_ENV": str(bin_dir.parent),
    }
    return subprocess.run(
        ["bash", "-c", script], cwd=project, env=env, capture_output=True, text=True, timeout=600
    )


def test_the_check_job_installs_the_pinned_mlog_and_guards_the_log(
    repo: Repo, cli: Any, tmp_path: Path, mlog_clone: tuple[str, str], runner_python: Path
) -> None:
    workflow = github_workflow()
    assert set(workflow["env"]) == {"MLOG_REPO", "MLOG_REF"}
    script = job_script(workflow, "check")
    assert 'pip install "git+${MLOG_REPO}@${MLOG_REF}"' in script
    repo.gen({"train.py": "print('trained')\n"})
    repo.commit("training")
    assert cli("run", "--", PYTHON, "train.py").exit_code == 0
    repo.commit("record v1")
    checkout = tmp_path / "checkout"  # actions/checkout with fetch-depth: 0
    subprocess.run(["git", "clone", "-q", str(repo.path), str(checkout)], check=True)

    good = run_job(checkout, runner_python, script, mlog_clone)
    assert good.returncode == 0, good
    assert (runner_python / "mlog").exists(), "the job did not install mlog"

    [record] = checkout.glob(".mlog/runs/*/*/record.yaml")  # runs/<YYYY-MM>/<id>/
    record.write_text(record.read_text().replace("status: succeeded", "status: failed"))
    git(checkout, "commit", "-qam", "quietly edit a record")
    bad = run_job(checkout, runner_python, script, mlog_clone)
    assert bad.returncode != 0, bad
    assert "::error" in bad.stdout, bad


def test_every_install_line_in_the_ci_recipes_is_pinned() -> None:
    text = (ROOT / "docs" / "ci.md").read_text(encoding="utf-8")
    installs = re.findall(r'pip install ("[^"]+")', text)
    assert installs, "no install step found"
    assert set(installs) - {'"git+${MLOG_REPO}@${MLOG_REF}"', '"mlog-cli==VERSION"'} == set()
    gitlab = next(b for b in yaml_blocks("ci.md") if isinstance(b, dict) and "variables" in b)
    assert {"MLOG_REPO", "MLOG_REF"} <= set(gitlab["variables"])
    for ref in (gitlab["variables"]["MLOG_REF"], github_workflow()["env"]["MLOG_REF"]):
        assert exists_here(str(ref)), f"MLOG_REF {ref} is not a commit of mlog"


def exists_here(ref: str) -> bool:
    """Whether a tag or commit id names a commit of this repository."""
    found = subprocess.run(
        ["git", "-C", str(ROOT), "cat-file", "-e", f"{ref}^{{commit}}"], capture_output=True
    )
    return found.returncode == 0


def test_the_hooks_recipe_names_the_shipped_hooks_at_a_pinned_revision() -> None:
    shipped = {hook["id"] for hook in yaml.safe_load((ROOT / ".pre-commit-hooks.yaml").read_text())}
    configs = [b for b in yaml_blocks("hooks.md") if isinstance(b, dict) and "repos" in b]
    remote = [r for c in configs for r in c["repos"] if r["repo"] != "local"]
    assert remote, "docs/hooks.md has no recipe that installs the hooks from the repository"
    for repo in remote:
        assert re.fullmatch(r"[0-9a-f]{40}", str(repo["rev"])) and exists_here(repo["rev"])
        assert {hook["id"] for hook in repo["hooks"]} <= shipped
    local = [r for c in configs for r in c["repos"] if r["repo"] == "local"]
    for repo in local:
        for hook in repo["hooks"]:
            assert hook["id"] in shipped and hook["entry"].startswith("mlog hook "), hook
