"""Rendering: rich on a terminal, plain JSON for scripts. The only place that prints."""

from __future__ import annotations

import json
import sys
from functools import cache
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from rich.console import Console


@cache
def out() -> Console:
    from rich.console import Console

    return Console(highlight=False, soft_wrap=True)


@cache
def err() -> Console:
    from rich.console import Console

    return Console(stderr=True, highlight=False, soft_wrap=True)


def print_json(data: Any) -> None:
    """Stable, machine-readable output: sorted keys, no colour, no wrapping."""
    sys.stdout.write(json.dumps(data, indent=2, sort_keys=True, default=str) + "\n")


def print_text(text: str) -> None:
    sys.stdout.write(text if text.endswith("\n") else text + "\n")


def error(message: str) -> None:
    err().print(f"[bold red]error:[/] {_escape(message)}")


def warning(message: str) -> None:
    err().print(f"[yellow]warning:[/] {_escape(message)}")


def info(message: str) -> None:
    err().print(_escape(message), style="dim")


def success(message: str) -> None:
    err().print(f"[green]✓[/] {_escape(message)}")


def _escape(text: str) -> str:
    from rich.markup import escape

    return escape(text)


def table(
    columns: list[str], rows: list[list[str]], *, title: str | None = None, no_wrap: int = 0
) -> None:
    """A table on stdout; the first ``no_wrap`` columns are never wrapped (ids, numbers)."""
    from rich.table import Table

    grid = Table(title=title, header_style="bold", show_edge=False, pad_edge=False)
    for index, column in enumerate(columns):
        grid.add_column(column, overflow="fold", no_wrap=index < no_wrap)
    for row in rows:
        grid.add_row(*row)
    out().print(grid)


def format_value(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.6g}"
    if value is None:
        return "-"
    return str(value)


def format_bytes(size: int | None) -> str:
    if size is None:
        return "-"
    number = float(size)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if number < 1024 or unit == "TiB":
            return f"{number:.0f} {unit}" if unit == "B" else f"{number:.1f} {unit}"
        number /= 1024
    return f"{size} B"


def format_duration(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    if seconds < 60:
        return f"{seconds:.1f}s"
    minutes, secs = divmod(int(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m" if hours else f"{minutes}m{secs:02d}s"


class HashProgress:
    """A rich progress bar on stderr for slow hashing: only on a terminal, only after ~1 s."""

    DELAY_S = 1.0

    def __init__(self) -> None:
        import time

        self._clock = time.monotonic
        self._started = self._clock()
        self._total = (0, 0)
        self._bar: Any = None
        self._task: Any = None

    @classmethod
    def for_terminal(cls) -> HashProgress | None:
        """A progress reporter when stderr is a terminal; None (silent) otherwise."""
        return cls() if sys.stderr.isatty() else None

    def on_total(self, files: int, size: int) -> None:
        self._total = (files, size)

    def on_progress(self, files: int, size: int) -> None:
        if self._bar is None and self._clock() - self._started >= self.DELAY_S:
            self._start()
        if self._bar is not None:
            self._bar.update(self._task, completed=size, description=f"hashing {files} files")
            if size >= self._total[1]:
                self.close()

    def _start(self) -> None:
        from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn

        self._bar = Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            DownloadColumn(),
            console=err(),
            transient=True,
        )
        self._bar.start()
        self._task = self._bar.add_task("hashing", total=self._total[1] or None)

    def close(self) -> None:
        if self._bar is not None:
            self._bar.stop()
            self._bar = None
