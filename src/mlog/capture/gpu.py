"""GPUs, driver and CUDA version from ``nvidia-smi``, when it is on PATH.

The only subprocess of environment capture. A missing, failing or hanging ``nvidia-smi``
yields no GPUs and an error note; it never stops a run. Both calls share one deadline.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import time
from collections.abc import Mapping
from dataclasses import dataclass

QUERY_FIELDS = "name,driver_version,memory.total,uuid"
_CSV_FORMAT = "--format=csv,noheader,nounits"
_CUDA_PATTERN = re.compile(r"CUDA Version\s*:\s*([0-9][0-9.]*)")


@dataclass(frozen=True)
class Gpu:
    """One device as ``nvidia-smi --query-gpu`` reports it."""

    name: str
    driver: str
    memory_mib: int | None
    uuid: str

    def to_record(self) -> dict[str, object]:
        return {
            "name": self.name,
            "driver": self.driver,
            "memory_mib": self.memory_mib,
            "uuid": self.uuid,
        }


@dataclass(frozen=True)
class GpuReport:
    """What ``nvidia-smi`` told us; ``error`` says why the list is empty when it failed."""

    gpus: tuple[Gpu, ...] = ()
    cuda: str | None = None
    driver: str | None = None
    error: str | None = None


class _SmiFailed(Exception):
    """nvidia-smi could not answer; the message becomes the report's error note."""


def capture_gpus(environ: Mapping[str, str], timeout: float = 5.0) -> GpuReport:
    """Query ``nvidia-smi`` found on ``environ``'s PATH; no GPUs and no error when it is absent."""
    executable = shutil.which("nvidia-smi", path=environ.get("PATH", os.defpath))
    if executable is None:
        return GpuReport()
    deadline = time.monotonic() + timeout
    try:
        query = _run_smi(executable, deadline, f"--query-gpu={QUERY_FIELDS}", _CSV_FORMAT)
    except _SmiFailed as failure:
        return GpuReport(error=str(failure))
    gpus = parse_gpu_query(query)
    driver = gpus[0].driver if gpus else None
    try:
        cuda = parse_cuda_version(_run_smi(executable, deadline))
    except _SmiFailed as failure:
        return GpuReport(gpus=gpus, driver=driver, error=f"CUDA version unknown: {failure}")
    return GpuReport(gpus=gpus, cuda=cuda, driver=driver)


def _run_smi(executable: str, deadline: float, *arguments: str) -> str:
    remaining = max(deadline - time.monotonic(), 0.01)
    try:
        completed = subprocess.run(
            [executable, *arguments],
            capture_output=True,
            text=True,
            timeout=remaining,
            check=False,
            stdin=subprocess.DEVNULL,
        )
    except subprocess.TimeoutExpired as error:
        raise _SmiFailed(f"nvidia-smi timed out after {error.timeout:.1f}s") from None
    except OSError as error:
        raise _SmiFailed(f"nvidia-smi could not start: {error.strerror or error}") from None
    if completed.returncode != 0:
        detail = (completed.stderr or completed.stdout).strip().splitlines()[:1]
        suffix = f": {detail[0]}" if detail else ""
        raise _SmiFailed(f"nvidia-smi exited with {completed.returncode}{suffix}")
    return completed.stdout


def parse_gpu_query(text: str) -> tuple[Gpu, ...]:
    """Parse ``name, driver, memory MiB, uuid`` CSV lines; names may contain commas."""
    gpus = []
    for line in text.splitlines():
        fields = [field.strip() for field in line.rsplit(",", 3)]
        if len(fields) != 4 or not fields[0]:
            continue
        name, driver, memory, uuid = fields
        gpus.append(Gpu(name=name, driver=driver, memory_mib=_int_or_none(memory), uuid=uuid))
    return tuple(gpus)


def parse_cuda_version(text: str) -> str | None:
    """The ``CUDA Version: 12.4`` of the ``nvidia-smi`` banner (or ``-q``), if any."""
    match = _CUDA_PATTERN.search(text)
    return match.group(1) if match else None


def _int_or_none(text: str) -> int | None:
    try:
        return int(float(text))
    except ValueError:
        return None
