"""Rendering: rich on a terminal, plain JSON for scripts. The only place that prints."""

from __future__ import annotations

import json
import os
import re
import sys
from functools import cache
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from rich.console import Console


_ONE_STYLE = re.compile(r"\[[a-z][a-z ]*\]([^\[\]\\]*)\[/\]")
"""A cell that is one styled run of plain text; its plain text is the group."""

PIPE_WIDTH = 4096
"""Width of stdout when it is not a terminal: rows are never folded, so `grep` sees whole ids."""


def out() -> Console:
    """The console for data, on stdout."""
    return _console(sys.stdout, stderr=False)


def err() -> Console:
    """The console for messages, on stderr."""
    return _console(sys.stderr, stderr=True)


@cache
def _console(stream: object, *, stderr: bool) -> Console:
    """One console per stream (tests swap the streams; a real run has one of each)."""
    from rich.console import Console

    console = Console(stderr=stderr, highlight=False, soft_wrap=True)
    if not stderr and not console.is_terminal and "COLUMNS" not in os.environ:
        console.width = PIPE_WIDTH
    return console


_TERMINAL_ENV = ("FORCE_COLOR", "TTY_INTERACTIVE", "TTY_COMPATIBLE")
"""Variables with which rich may treat a pipe as a terminal: then rich decides."""


def piped() -> bool:
    """Whether stdout goes to a pipe or a file rather than a terminal."""
    if not any(os.environ.get(name) for name in _TERMINAL_ENV) and not _isatty(sys.stdout):
        return True  # known without importing rich
    return not out().is_terminal


def width() -> int:
    """Columns of stdout: the terminal's, ``COLUMNS``, or :data:`PIPE_WIDTH` when piped."""
    if not piped():
        return out().width
    columns = os.environ.get("COLUMNS", "")
    if not columns:
        return PIPE_WIDTH
    return int(columns) if columns.isdigit() else out().width


def print_json(data: Any, *, one_line: bool = False) -> None:
    """Stable, machine-readable output: sorted keys, no colour, no wrapping.

    ``one_line`` prints it as a single line, for output that follows other text (the
    training command's own output under ``mlog run --json``): ``tail -n 1 | jq`` reads it.
    """
    indent = None if one_line else 2
    sys.stdout.write(json.dumps(data, indent=indent, sort_keys=True, default=str) + "\n")


def print_text(text: str) -> None:
    sys.stdout.write(text if text.endswith("\n") else text + "\n")


def error(message: str) -> None:
    _say("error:", "1;31", message)


def warning(message: str) -> None:
    _say("warning:", "33", message)


def info(message: str) -> None:
    _say("", "2", message, whole=True)


def success(message: str) -> None:
    _say("✓", "32", message)


def _say(label: str, style: str, message: str, *, whole: bool = False) -> None:
    """One message line on stderr, written directly: importing rich for a line of text was a
    third of what ``mlog run`` spent on start-up. Coloured only on a terminal, like rich."""
    stream = sys.stderr
    text = f"{label} {message}" if label else message
    if _colour(stream):
        sgr = f"\x1b[{style}m"
        text = f"{sgr}{text}\x1b[0m" if whole else f"{sgr}{label}\x1b[0m {message}"
    stream.write(text + "\n")
    stream.flush()


def _colour(stream: Any) -> bool:
    """Rich's rule for colour: NO_COLOR wins, then FORCE_COLOR, then a terminal not ``dumb``."""
    if os.environ.get("NO_COLOR"):
        return False
    if os.environ.get("FORCE_COLOR"):
        return True
    return _isatty(stream) and os.environ.get("TERM", "") not in ("dumb", "unknown")


def _isatty(stream: Any) -> bool:
    isatty = getattr(stream, "isatty", None)
    return bool(isatty and isatty())


def table(
    columns: list[str], rows: list[list[str]], *, title: str | None = None, no_wrap: int = 0
) -> None:
    """A table on stdout; the first ``no_wrap`` columns are never wrapped (ids, numbers).

    Piped, it is plain tab-separated lines (a header line, then one line per row, markup
    removed), so `grep`, `cut -f` and `awk -F'\t'` work on it.
    """
    if piped():
        _plain_table(columns, rows)
        return
    from rich.table import Table

    grid = Table(title=title, header_style="bold", show_edge=False, pad_edge=False)
    for index, column in enumerate(columns):
        grid.add_column(column, overflow="fold", no_wrap=index < no_wrap)
    for row in rows:
        grid.add_row(*row)
    out().print(grid)


def _plain_table(columns: list[str], rows: list[list[str]]) -> None:
    def cell(value: str) -> str:
        if "[" in value:  # only text with a bracket can hold markup (2 s of `ls` at 10k rows)
            simple = _ONE_STYLE.fullmatch(value)  # `[green]succeeded[/]`: no parser needed
            if simple:
                value = simple.group(1)
            else:
                from rich.text import Text

                value = Text.from_markup(value).plain
        return value.replace("\t", " ").replace("\n", " ")

    lines = ["\t".join(cell(c) for c in columns)]
    lines += ["\t".join(cell(c) for c in row) for row in rows]
    sys.stdout.write("\n".join(lines) + "\n")


def line(*parts: tuple[str, str]) -> None:
    """One line on stdout from ``(text, style)`` parts (style ``""`` for none). The text is
    never read as markup; piped, it is written as is, without importing rich."""
    if piped():
        sys.stdout.write("".join(text for text, _ in parts) + "\n")
        return
    from rich.text import Text

    out().print(Text.assemble(*parts))


def pairs(title: str, rows: list[tuple[str, str]]) -> None:
    """A titled grid of names and values, the values aligned in one column.

    Piped, it is plain text (``mlog show`` draws a dozen of these: rich's import and first
    layout were a third of a ``show``): the title, then ``name  value`` lines, a value's
    further lines indented under it, nothing folded.
    """
    if not rows:
        return
    if piped():
        width = max(len(name) for name, _ in rows)
        lines = [title]
        for name, value in rows:
            first, *more = value.split("\n") or [""]
            lines.append(f"{name:<{width}}  {first}".rstrip())
            lines += [f"{'':<{width}}  {rest}".rstrip() for rest in more]
        sys.stdout.write("\n".join(lines) + "\n")
        return
    from rich.table import Table
    from rich.text import Text

    grid = Table(title=title, title_justify="left", title_style="bold", show_header=False,
                 show_edge=False, box=None, pad_edge=False)  # fmt: skip
    grid.add_column(style="cyan", no_wrap=True)
    grid.add_column(overflow="fold")
    for name, value in rows:
        grid.add_row(Text(name), Text(value))
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

    def __init__(self, verb: str = "hashing") -> None:
        import time

        self.verb = verb
        self._clock = time.monotonic
        self._started = self._clock()
        self._total = (0, 0)
        self._bar: Any = None
        self._task: Any = None

    @classmethod
    def for_terminal(cls, verb: str = "hashing") -> HashProgress | None:
        """A progress reporter when stderr is a terminal; None (silent) otherwise."""
        return cls(verb) if sys.stderr.isatty() else None

    def on_total(self, files: int, size: int) -> None:
        self._total = (files, size)

    def on_progress(self, files: int, size: int) -> None:
        if self._bar is None and self._clock() - self._started >= self.DELAY_S:
            self._start()
        if self._bar is not None:
            self._bar.update(self._task, completed=size, description=f"{self.verb} {files} files")
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
        self._task = self._bar.add_task(self.verb, total=self._total[1] or None)

    def close(self) -> None:
        if self._bar is not None:
            self._bar.stop()
            self._bar = None
