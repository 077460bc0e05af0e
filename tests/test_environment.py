"""Environment capture against fake roots, fake nvidia-smi scripts and fake interpreters."""

from __future__ import annotations

import json
import stat
import sys
from pathlib import Path
from typing import Any

import pytest
import xxhash

from mlog.capture.container import detect_container
from mlog.capture.environment import (
    capture_environment,
    capture_variables,
    cpu_model,
    distro_name,
    memory_bytes,
)
from mlog.capture.gpu import Gpu, capture_gpus, parse_cuda_version, parse_gpu_query
from mlog.capture.packages import (
    current_packages,
    lock_file_hashes,
    normalize_name,
    package_lines,
    packages_blob,
    packages_of_interpreter,
    same_environment,
    training_interpreter,
)
from mlog.storage.redact import REDACTED

BANNER = """\
+-----------------------------------------------------------------------------------------+
| NVIDIA-SMI 550.54.15              Driver Version: 550.54.15      CUDA Version: 12.4     |
+-----------------------------------------+------------------------+----------------------+
"""
TWO_GPUS = """\
NVIDIA H100 80GB HBM3, 550.54.15, 81559, GPU-11111111-2222-3333-4444-555555555555
NVIDIA A100-SXM4-40GB, 550.54.15, 40960, GPU-aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee
"""


def write_script(directory: Path, name: str, body: str) -> Path:
    """An executable ``#!/bin/sh`` script named ``name`` in ``directory``."""
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / name
    path.write_text(f"#!/bin/sh\n{body}\n")
    path.chmod(path.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
    return path


def fake_smi(directory: Path) -> dict[str, str]:
    """A working two-GPU nvidia-smi; returns an environ whose PATH finds it first."""
    body = (
        'if [ "${1#--query-gpu=}" != "$1" ]; then\n'
        f"cat <<'EOF'\n{TWO_GPUS}EOF\nexit 0\nfi\n"
        f"cat <<'EOF'\n{BANNER}EOF"
    )
    write_script(directory, "nvidia-smi", body)
    return {"PATH": str(directory)}


# --- GPUs ------------------------------------------------------------------------------


def test_two_gpus_driver_and_cuda(tmp_path: Path) -> None:
    report = capture_gpus(fake_smi(tmp_path / "bin"))
    assert report.error is None
    assert report.cuda == "12.4"
    assert report.driver == "550.54.15"
    assert [gpu.to_record() for gpu in report.gpus] == [
        {
            "name": "NVIDIA H100 80GB HBM3",
            "driver": "550.54.15",
            "memory_mib": 81559,
            "uuid": "GPU-11111111-2222-3333-4444-555555555555",
        },
        {
            "name": "NVIDIA A100-SXM4-40GB",
            "driver": "550.54.15",
            "memory_mib": 40960,
            "uuid": "GPU-aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee",
        },
    ]


def test_failing_nvidia_smi_gives_no_gpus_and_a_note(tmp_path: Path) -> None:
    write_script(tmp_path, "nvidia-smi", "echo 'NVIDIA-SMI has failed: no driver' >&2; exit 9")
    report = capture_gpus({"PATH": str(tmp_path)})
    assert report.gpus == ()
    assert report.error == "nvidia-smi exited with 9: NVIDIA-SMI has failed: no driver"


def test_hanging_nvidia_smi_times_out(tmp_path: Path) -> None:
    write_script(tmp_path, "nvidia-smi", "exec sleep 30")
    report = capture_gpus({"PATH": str(tmp_path)}, timeout=0.3)
    assert report.gpus == ()
    assert report.error is not None
    assert "timed out" in report.error


def test_banner_failure_keeps_the_gpus(tmp_path: Path) -> None:
    body = f"if [ -n \"$1\" ]; then\ncat <<'EOF'\n{TWO_GPUS}EOF\nexit 0\nfi\nexit 3"
    write_script(tmp_path, "nvidia-smi", body)
    report = capture_gpus({"PATH": str(tmp_path)})
    assert len(report.gpus) == 2
    assert report.cuda is None
    assert report.error == "CUDA version unknown: nvidia-smi exited with 3"


def test_no_nvidia_smi_is_not_an_error(tmp_path: Path) -> None:
    report = capture_gpus({"PATH": str(tmp_path)})
    assert (report.gpus, report.cuda, report.driver, report.error) == ((), None, None, None)


def test_parse_gpu_query_tolerates_odd_lines() -> None:
    text = "Weird, Name GPU, 535.1, [N/A], GPU-x\n\ngarbage\n"
    assert parse_gpu_query(text) == (
        Gpu(name="Weird, Name GPU", driver="535.1", memory_mib=None, uuid="GPU-x"),
    )


def test_parse_cuda_version_from_banner_or_query_output() -> None:
    assert parse_cuda_version(BANNER) == "12.4"
    assert parse_cuda_version("    CUDA Version                          : 12.2\n") == "12.2"
    assert parse_cuda_version("no cuda here") is None


# --- container -------------------------------------------------------------------------


def test_docker_detected_from_dockerenv(tmp_path: Path) -> None:
    (tmp_path / ".dockerenv").touch()
    environ = {"MLOG_IMAGE": "ghcr.io/o/train:1", "MLOG_IMAGE_DIGEST": "sha256:abc"}
    assert detect_container(environ, tmp_path).to_record() == {
        "kind": "docker",
        "image": "ghcr.io/o/train:1",
        "digest": "sha256:abc",
    }


def test_podman_image_read_from_containerenv(tmp_path: Path) -> None:
    (tmp_path / "run").mkdir()
    (tmp_path / "run" / ".containerenv").write_text('engine="podman"\nimage="quay.io/o/t:2"\n')
    container = detect_container({}, tmp_path)
    assert (container.kind, container.image, container.digest) == ("podman", "quay.io/o/t:2", None)


@pytest.mark.parametrize(
    ("cgroup", "kind"),
    [
        ("0::/kubepods/burstable/pod1/abc\n", "kubernetes"),
        ("12:cpu:/docker/0123abcd\n", "docker"),
        ("0::/system.slice/containerd.service\n", "containerd"),
        ("0::/lxc/c1\n", "lxc"),
        ("0::/\n", None),
    ],
)
def test_cgroup_hints(tmp_path: Path, cgroup: str, kind: str | None) -> None:
    (tmp_path / "proc" / "1").mkdir(parents=True)
    (tmp_path / "proc" / "1" / "cgroup").write_text(cgroup)
    assert detect_container({}, tmp_path).kind == kind


def test_kubernetes_from_environment_and_bare_metal(tmp_path: Path) -> None:
    assert detect_container({"KUBERNETES_SERVICE_HOST": "10.0.0.1"}, tmp_path).kind == "kubernetes"
    assert detect_container({}, tmp_path).to_record() == {
        "kind": None,
        "image": None,
        "digest": None,
    }


# --- variables -------------------------------------------------------------------------


def test_variables_are_allowlisted_and_secrets_redacted() -> None:
    environ = {
        "CUDA_VISIBLE_DEVICES": "0,1",
        "PYTHONHASHSEED": "0",
        "OMP_NUM_THREADS": "8",
        "HF_TOKEN": "hf_supersecret",
        "HF_ENDPOINT": "https://user:pw@hf.example/",
        "AWS_SECRET_ACCESS_KEY": "aws_supersecret",
        "HOME": "/home/me",
        "MY_VAR": "x",
        "WANDB_PROJECT": "p",
        "SLURM_JOB_ID": "42",
        "RANK": "0",
    }
    captured = capture_variables(environ, extra=["MY_VAR", "WANDB_*"])
    assert captured == {
        "CUDA_VISIBLE_DEVICES": "0,1",
        "HF_ENDPOINT": f"https://{REDACTED}@hf.example/",
        "HF_TOKEN": REDACTED,
        "MY_VAR": "x",
        "OMP_NUM_THREADS": "8",
        "PYTHONHASHSEED": "0",
        "RANK": "0",
        "SLURM_JOB_ID": "42",
        "WANDB_PROJECT": "p",
    }
    assert list(captured) == sorted(captured)
    assert "supersecret" not in json.dumps(captured)


# --- packages and lock files -----------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "normal"),
    [("Foo_Bar", "foo-bar"), ("foo.bar", "foo-bar"), ("a-_.b", "a-b"), ("PyYAML", "pyyaml")],
)
def test_normalize_name(name: str, normal: str) -> None:
    assert normalize_name(name) == normal


def test_package_lines_sorted_unique_and_blob_deterministic() -> None:
    pairs = [("Foo_Bar", "1.0"), ("foo-bar", "1.0"), ("abc", "2"), (None, "1"), ("x", "")]
    lines = package_lines(pairs)
    assert lines == ["abc==2", "foo-bar==1.0"]
    assert packages_blob(lines) == b"abc==2\nfoo-bar==1.0\n"
    assert packages_blob(reversed(lines)) == packages_blob(lines)
    assert packages_blob([]) == b""


def test_current_packages_match_a_subprocess_of_the_same_interpreter() -> None:
    lines = current_packages()
    assert any(line.startswith("xxhash==") for line in lines)
    assert packages_of_interpreter(sys.executable) == lines


def test_current_packages_read_folder_names_and_fall_back_for_odd_ones(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Names come from ``NAME-VERSION.dist-info``; a folder named otherwise and a zip on
    ``sys.path`` are read from their metadata files, as ``importlib.metadata`` would."""
    import zipfile

    site = tmp_path / "site"
    (site / "Plain_Pkg-1.2.dist-info").mkdir(parents=True)
    (site / "old-0.9-py3.11.egg-info").mkdir()
    odd = site / "odd.dist-info"
    odd.mkdir()
    (odd / "METADATA").write_text("Metadata-Version: 2.1\nName: Odd.Name\nVersion: 3.1\n")
    (site / "nameless.dist-info").mkdir()  # no METADATA at all: dropped, not an error
    editable = site / "my_proj.egg-info"  # `pip install -e .` of a setuptools project
    editable.mkdir()
    (editable / "PKG-INFO").write_text("Name: my_proj\nVersion: 0.3.dev1\n\nVersion: body\n")
    archive = tmp_path / "bundle.zip"
    with zipfile.ZipFile(archive, "w") as bundle:
        bundle.writestr("zipped-2.0.dist-info/METADATA", "Name: zipped\nVersion: 2.0\n")
    monkeypatch.setattr(sys, "path", [str(site), str(archive), str(tmp_path / "missing")])
    assert current_packages() == [
        "my-proj==0.3.dev1", "odd-name==3.1", "old==0.9", "plain-pkg==1.2", "zipped==2.0"
    ]  # fmt: skip


@pytest.mark.parametrize("body", ["exit 1", "echo not json", "echo '{\"a\": 1}'", "exec sleep 30"])
def test_broken_interpreter_gives_none(tmp_path: Path, body: str) -> None:
    python = write_script(tmp_path, "python3", body)
    assert packages_of_interpreter(str(python), timeout=0.5) is None


def test_missing_interpreter_gives_none(tmp_path: Path) -> None:
    assert packages_of_interpreter(str(tmp_path / "nope")) is None


def test_training_interpreter_from_argv_and_shebangs(tmp_path: Path) -> None:
    python = write_script(tmp_path, "python3", "exit 0")
    environ = {"PATH": str(tmp_path)}
    (tmp_path / "torchrun").write_text("#!/usr/bin/env python3\n")
    (tmp_path / "accelerate").write_text("#!/opt/venv/bin/python3.11 -E\n")
    write_script(tmp_path, "tool", "exit 0")
    for name in ("torchrun", "accelerate"):
        (tmp_path / name).chmod(0o755)
    assert training_interpreter(["python3", "train.py"], environ) == str(python)
    assert training_interpreter(["torchrun", "train.py"], environ) == str(python)
    assert training_interpreter(["accelerate", "launch"], environ) == "/opt/venv/bin/python3.11"
    assert training_interpreter(["tool"], environ) is None
    assert training_interpreter(["missing"], environ) is None
    assert training_interpreter([], environ) is None


def test_lock_files_hashed_and_sorted(tmp_path: Path) -> None:
    (tmp_path / "uv.lock").write_bytes(b"uv")
    (tmp_path / "requirements.txt").write_bytes(b"numpy==2\n")
    (tmp_path / "requirements-dev.txt").write_bytes(b"pytest\n")
    (tmp_path / "poetry.lock").mkdir()
    (tmp_path / "notes.txt").write_text("ignored")
    hashes = [(lock.path, lock.hash) for lock in lock_file_hashes(tmp_path)]
    assert hashes == [
        ("requirements-dev.txt", xxh3_id(b"pytest\n")),
        ("requirements.txt", xxh3_id(b"numpy==2\n")),
        ("uv.lock", xxh3_id(b"uv")),
    ]


def xxh3_id(data: bytes) -> str:
    return "xxh3_128:" + xxhash.xxh3_128(data).hexdigest()


# --- machine facts and the whole capture -----------------------------------------------


def fake_root(root: Path) -> Path:
    (root / "etc").mkdir(parents=True)
    (root / "etc" / "os-release").write_text('NAME="Ubuntu"\nPRETTY_NAME="Ubuntu 22.04.4 LTS"\n')
    (root / "proc").mkdir()
    (root / "proc" / "cpuinfo").write_text("processor\t: 0\nmodel name\t: Fake CPU @ 3GHz\n")
    (root / ".dockerenv").touch()
    return root


def test_distro_and_cpu_model_from_fake_root(tmp_path: Path) -> None:
    root = fake_root(tmp_path)
    assert distro_name(root) == "Ubuntu 22.04.4 LTS"
    assert cpu_model(root) == "Fake CPU @ 3GHz"


def test_distro_falls_back_to_usr_lib_and_to_none(tmp_path: Path) -> None:
    assert distro_name(tmp_path) is None
    (tmp_path / "usr" / "lib").mkdir(parents=True)
    (tmp_path / "usr" / "lib" / "os-release").write_text("PRETTY_NAME='Arch Linux'\n")
    assert distro_name(tmp_path) == "Arch Linux"


def test_memory_is_positive_or_unknown() -> None:
    memory = memory_bytes()
    assert memory is None or memory > 0


def test_capture_environment_record_shape(tmp_path: Path) -> None:
    root = fake_root(tmp_path / "root")
    repo = tmp_path / "repo"
    repo.mkdir()
    (repo / "uv.lock").write_text("lock")
    environ = {**fake_smi(tmp_path / "bin"), "HF_TOKEN": "hf_leak", "MLOG_IMAGE": "img:1"}
    environment = capture_environment(repo, environ, root=root)
    record = environment.to_record()
    assert list(record) == [
        "python",
        "os",
        "cpu",
        "memory_bytes",
        "lock_files",
        "gpus",
        "cuda",
        "driver",
        "gpu_error",
        "container",
        "variables",
    ]
    assert record["python"]["version"] == ".".join(map(str, sys.version_info[:3]))
    assert set(record["os"]) == {"system", "release", "version", "machine", "distro"}
    assert record["os"]["distro"] == "Ubuntu 22.04.4 LTS"
    assert record["cpu"]["model"] == "Fake CPU @ 3GHz"
    assert [lock["path"] for lock in record["lock_files"]] == ["uv.lock"]
    assert (len(record["gpus"]), record["cuda"], record["gpu_error"]) == (2, "12.4", None)
    assert record["container"] == {"kind": "docker", "image": "img:1", "digest": None}
    assert record["variables"] == {"HF_TOKEN": REDACTED, "MLOG_IMAGE": "img:1"}
    assert "hf_leak" not in json.dumps(record)
    assert environment.packages == tuple(current_packages())


def test_capture_survives_a_broken_training_interpreter(tmp_path: Path) -> None:
    python = write_script(tmp_path, "python3", "exit 1")
    environment = capture_environment(
        tmp_path, {"PATH": str(tmp_path)}, python_executable=str(python), root=tmp_path
    )
    assert environment.packages is None
    assert environment.to_record()["gpus"] == []


def test_two_virtual_environments_on_one_base_python_list_their_own_packages(
    repo: Any, cli: Any, tmp_path: Path
) -> None:
    """venvB's python resolves to the same binary as mlog's; its packages are still its own."""
    import subprocess

    base = getattr(sys, "_base_executable", sys.executable)
    venv = tmp_path / "venvB"
    subprocess.run([base, "-m", "venv", "--without-pip", str(venv)], check=True)
    [site] = venv.glob("lib/python*/site-packages")
    (site / "onlyinb-1.2.3.dist-info").mkdir()
    (site / "legacy_tool-0.9-py3.11.egg-info").mkdir()
    python_b = str(venv / "bin" / "python")
    assert not same_environment(python_b) and same_environment(sys.executable)
    done = cli("run", "--", python_b, "-c", "pass")
    assert done.exit_code == 0, done
    record = json.loads(cli("show", "latest", "--json").stdout)
    packages = record["environment"]["packages"]
    digest = packages["object"].partition(":")[2]
    objects = repo.path / ".mlog" / "objects"
    [blob] = [p for p in objects.rglob("*") if p.is_file() and digest.endswith(p.name)]
    import gzip

    raw = blob.read_bytes()
    lines = (gzip.decompress(raw) if raw[:2] == b"\x1f\x8b" else raw).decode().split()
    assert lines == ["legacy-tool==0.9", "onlyinb==1.2.3"], lines
    assert packages["count"] == 2 and packages["interpreter"] == python_b
