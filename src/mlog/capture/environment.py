"""Environment capture: the machine, interpreter, packages, GPUs and variables of a run.

Plain data, cheap (no subprocess except ``nvidia-smi``, and the training interpreter when
asked for its packages), and forgiving: a capture that fails records ``None`` or an empty
value and never stops a run. Environment variables are taken from an allowlist, never
wholesale, and secret-looking names are redacted even when allowlisted (``HF_TOKEN``).
Container image name and digest come from ``MLOG_IMAGE`` and ``MLOG_IMAGE_DIGEST``
(see :mod:`mlog.capture.container`).
"""

from __future__ import annotations

import os
import platform
import sys
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mlog.capture.container import Container, detect_container
from mlog.capture.gpu import GpuReport, capture_gpus
from mlog.capture.packages import (
    LockFile,
    current_packages,
    lock_file_hashes,
    packages_of_interpreter,
)
from mlog.storage.redact import REDACTED, is_secret_name, strip_url_credentials

ALLOWED_VARIABLES = frozenset(
    {
        "TOKENIZERS_PARALLELISM",
        "CUBLAS_WORKSPACE_CONFIG",
        "LANG",
        "LC_ALL",
        "TZ",
        "WORLD_SIZE",
        "RANK",
        "LOCAL_RANK",
        "LOCAL_WORLD_SIZE",
        "MASTER_ADDR",
        "MASTER_PORT",
        "MLOG_IMAGE",
        "MLOG_IMAGE_DIGEST",
    }
)
"""Environment variables recorded by exact name."""

ALLOWED_PREFIXES = (
    "CUDA_",
    "NVIDIA_",
    "PYTHON",
    "OMP_",
    "MKL_",
    "OPENBLAS_",
    "NCCL_",
    "TORCH_",
    "TF_CPP_",
    "TF_ENABLE_",
    "TF_DETERMINISTIC",
    "TF_FORCE_",
    "TF_GPU_",
    "TF_XLA_",
    "XLA_",
    "JAX_",
    "HF_",
    "SLURM_",
)
"""Environment variables recorded by prefix (case-sensitive, as on Linux)."""


@dataclass(frozen=True)
class PythonInfo:
    version: str
    implementation: str


@dataclass(frozen=True)
class OsInfo:
    system: str
    release: str
    version: str
    machine: str
    distro: str | None


@dataclass(frozen=True)
class CpuInfo:
    model: str | None
    count: int | None


@dataclass(frozen=True)
class Environment:
    """Everything captured about where a run ran; ``packages`` is ``None`` when unknown."""

    python: PythonInfo
    os: OsInfo
    cpu: CpuInfo
    memory_bytes: int | None
    packages: tuple[str, ...] | None
    lock_files: tuple[LockFile, ...]
    gpu: GpuReport
    container: Container
    variables: Mapping[str, str] = field(default_factory=dict)

    def to_record(self) -> dict[str, Any]:
        """The record's ``environment`` section, without ``packages`` (the caller stores it)."""
        return {
            "python": {
                "version": self.python.version,
                "implementation": self.python.implementation,
            },
            "os": _os_record(self.os),
            "cpu": {"model": self.cpu.model, "count": self.cpu.count},
            "memory_bytes": self.memory_bytes,
            "lock_files": [{"path": lock.path, "hash": lock.hash} for lock in self.lock_files],
            "gpus": [gpu.to_record() for gpu in self.gpu.gpus],
            "cuda": self.gpu.cuda,
            "driver": self.gpu.driver,
            "gpu_error": self.gpu.error,
            "container": self.container.to_record(),
            "variables": dict(self.variables),
        }


def _os_record(info: OsInfo) -> dict[str, str | None]:
    return {
        "system": info.system,
        "release": info.release,
        "version": info.version,
        "machine": info.machine,
        "distro": info.distro,
    }


def capture_environment(
    repo_root: Path,
    environ: Mapping[str, str],
    *,
    python_executable: str | None = None,
    extra_variables: Iterable[str] = (),
    gpu_timeout: float = 5.0,
    root: Path = Path("/"),
) -> Environment:
    """Capture the environment of a run about to start in ``repo_root`` with ``environ``.

    ``python_executable`` is the training interpreter (see ``training_interpreter``); when
    given, its packages are listed in a subprocess, otherwise mlog's own are listed.
    """
    packages = (
        current_packages()
        if python_executable is None
        else packages_of_interpreter(python_executable, environ=environ)
    )
    return Environment(
        python=PythonInfo(platform.python_version(), platform.python_implementation()),
        os=capture_os(root),
        cpu=CpuInfo(model=cpu_model(root), count=os.cpu_count()),
        memory_bytes=memory_bytes(),
        packages=None if packages is None else tuple(packages),
        lock_files=tuple(lock_file_hashes(repo_root)),
        gpu=capture_gpus(environ, timeout=gpu_timeout),
        container=detect_container(environ, root),
        variables=capture_variables(environ, extra_variables),
    )


def capture_os(root: Path = Path("/")) -> OsInfo:
    """Kernel facts from ``platform.uname`` plus the distro's friendly name."""
    uname = platform.uname()
    return OsInfo(uname.system, uname.release, uname.version, uname.machine, distro_name(root))


def distro_name(root: Path = Path("/")) -> str | None:
    """``PRETTY_NAME`` of ``/etc/os-release`` (or ``/usr/lib/os-release``), if present."""
    for candidate in (root / "etc" / "os-release", root / "usr" / "lib" / "os-release"):
        for line in _read_lines(candidate):
            key, _, value = line.partition("=")
            if key.strip() == "PRETTY_NAME" and value.strip().strip("\"'"):
                return value.strip().strip("\"'")
    return None


def cpu_model(root: Path = Path("/")) -> str | None:
    """CPU model from ``/proc/cpuinfo``; ``platform.processor()`` off Linux only.

    On Linux ``platform.processor()`` spawns ``uname -p``, and says only ``x86_64`` anyway.
    """
    for line in _read_lines(root / "proc" / "cpuinfo"):
        key, _, value = line.partition(":")
        if key.strip() in ("model name", "Model", "Hardware", "cpu model") and value.strip():
            return value.strip()
    if sys.platform.startswith("linux"):
        return None
    return platform.processor() or None


def memory_bytes() -> int | None:
    """Physical RAM in bytes, or ``None`` where sysconf cannot tell."""
    try:
        total = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):
        return None
    return total if total > 0 else None


def is_allowed_variable(name: str, extra: Iterable[str] = ()) -> bool:
    """Allowlisted by exact name, by prefix, or by ``extra`` (a trailing ``*`` is a prefix)."""
    if name in ALLOWED_VARIABLES or name.startswith(ALLOWED_PREFIXES):
        return True
    return any(name.startswith(e[:-1]) if e.endswith("*") else name == e for e in extra)


def capture_variables(environ: Mapping[str, str], extra: Iterable[str] = ()) -> dict[str, str]:
    """Allowlisted variables, sorted; secret-named ones redacted, URL credentials stripped."""
    extra = tuple(extra)
    return {
        name: REDACTED if is_secret_name(name) else strip_url_credentials(environ[name])
        for name in sorted(environ)
        if is_allowed_variable(name, extra)
    }


def _read_lines(path: Path) -> list[str]:
    try:
        return path.read_text(encoding="utf-8", errors="replace").splitlines()
    except OSError:
        return []
