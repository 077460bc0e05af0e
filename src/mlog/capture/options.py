"""What the user asked ``mlog run`` for: a plain dataclass, cheap to import from the CLI."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class RunOptions:
    """What the user asked for; config defaults are merged in by ``prepare``."""

    argv: tuple[str, ...]
    data: tuple[str, ...] = ()
    artifacts: tuple[str, ...] = ()
    params_files: tuple[str, ...] = ()
    metrics_files: tuple[str, ...] = ()
    model: str | None = None
    note: str | None = None
    tags: dict[str, str] = field(default_factory=dict)
    allow_dirty: bool = False
    rehash: bool = False
    follow_symlinks: bool = False
    data_window: str | None = None
    progress: Any = None  # shows hashing progress; see capture.data.Progress
