"""Container detection, and the image a run used when the user tells us.

A process cannot reliably learn its own image digest from inside, so the image comes from
environment variables the user (or the CI job, or the Dockerfile) sets:

* ``MLOG_IMAGE``: the image name, e.g. ``ghcr.io/org/train:1.4``;
* ``MLOG_IMAGE_DIGEST``: its content digest, e.g. ``sha256:9f86d0...``.

Podman writes ``/run/.containerenv`` with the image name, used when ``MLOG_IMAGE`` is unset.
Detection order: Kubernetes (``KUBERNETES_SERVICE_HOST``), ``/.dockerenv``,
``/run/.containerenv``, then hints in ``/proc/1/cgroup``. Paths hang off an injectable ``root``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

_CGROUP_HINTS = (
    ("kubepods", "kubernetes"),
    ("docker", "docker"),
    ("libpod", "podman"),
    ("containerd", "containerd"),
    ("lxc", "lxc"),
)


@dataclass(frozen=True)
class Container:
    """The container kind (``None`` on bare metal), image name and digest."""

    kind: str | None = None
    image: str | None = None
    digest: str | None = None

    def to_record(self) -> dict[str, str | None]:
        return {"kind": self.kind, "image": self.image, "digest": self.digest}


def detect_container(environ: Mapping[str, str], root: Path = Path("/")) -> Container:
    """Which container, if any, this process runs in, plus the user-declared image."""
    image = environ.get("MLOG_IMAGE") or _podman_image(root)
    return Container(
        kind=container_kind(environ, root),
        image=image,
        digest=environ.get("MLOG_IMAGE_DIGEST") or None,
    )


def container_kind(environ: Mapping[str, str], root: Path = Path("/")) -> str | None:
    """``kubernetes``, ``docker``, ``podman``, ``containerd``, ``lxc`` or ``None``."""
    if environ.get("KUBERNETES_SERVICE_HOST"):
        return "kubernetes"
    if _exists(root / ".dockerenv"):
        return "docker"
    if _exists(root / "run" / ".containerenv"):
        return "podman"
    cgroup = _read_text(root / "proc" / "1" / "cgroup")
    return next((kind for hint, kind in _CGROUP_HINTS if hint in cgroup), None)


def _podman_image(root: Path) -> str | None:
    for line in _read_text(root / "run" / ".containerenv").splitlines():
        key, _, value = line.partition("=")
        if key.strip() == "image" and value.strip().strip('"'):
            return value.strip().strip('"')
    return None


def _exists(path: Path) -> bool:
    try:
        return path.exists()
    except OSError:
        return False


def _read_text(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return ""
