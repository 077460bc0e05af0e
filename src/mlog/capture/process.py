"""Run the training command as a well-behaved child: same terminal, forwarded signals.

The child gets its own process group. When mlog owns the terminal, that group is
made the foreground group, so Ctrl-C reaches the child exactly once (and
progress bars and debuggers work); signals sent to mlog itself (``kill``, a
scheduler's SIGTERM) are forwarded to the child's group.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from types import FrameType

from mlog.errors import UsageError

FORWARDED = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP, signal.SIGQUIT)
_RSS_UNIT = 1 if sys.platform == "darwin" else 1024


@dataclass(frozen=True)
class Outcome:
    """How the child ended and what it cost."""

    exit_code: int  # the code mlog itself exits with: the child's, or 128+N for signal N
    signal: str | None
    received: str | None  # a signal mlog got and forwarded while the child ran
    duration_s: float
    cpu_user_s: float
    cpu_system_s: float
    peak_rss_bytes: int


def run_child(
    argv: Sequence[str],
    *,
    env: Mapping[str, str],
    on_start: Callable[[int], None] | None = None,
    cwd: str | os.PathLike[str] | None = None,
) -> Outcome:
    """Start ``argv``, wait for it with rusage, and report how it ended."""
    started = time.monotonic()
    received: list[int] = []
    group: list[int] = []
    with _forwarding(group, received):
        child = _spawn(argv, env, cwd)
        group.append(child.pid)
        for signum in received:  # arrived before the child existed
            os.killpg(child.pid, signum)
        if on_start is not None:
            on_start(child.pid)
        with _foreground(child.pid):
            _, status, usage = os.wait4(child.pid, 0)
    child.returncode = os.waitstatus_to_exitcode(status)
    return _outcome(child.returncode, received, time.monotonic() - started, usage)


def _spawn(
    argv: Sequence[str], env: Mapping[str, str], cwd: str | os.PathLike[str] | None
) -> subprocess.Popen[bytes]:
    try:
        if sys.version_info >= (3, 11):
            return subprocess.Popen(list(argv), env=dict(env), cwd=cwd, process_group=0)
        return subprocess.Popen(list(argv), env=dict(env), cwd=cwd, preexec_fn=os.setpgrp)
    except FileNotFoundError:
        raise UsageError(f"command not found: {argv[0]} (check the command after `--`)") from None
    except PermissionError:
        raise UsageError(f"command is not executable: {argv[0]}") from None


def _outcome(returncode: int, received: list[int], elapsed: float, usage: object) -> Outcome:
    signum = -returncode if returncode < 0 else None
    return Outcome(
        exit_code=128 + signum if signum else returncode,
        signal=signal.Signals(signum).name if signum else None,
        received=signal.Signals(received[0]).name if received else None,
        duration_s=round(elapsed, 3),
        cpu_user_s=round(getattr(usage, "ru_utime", 0.0), 3),
        cpu_system_s=round(getattr(usage, "ru_stime", 0.0), 3),
        peak_rss_bytes=int(getattr(usage, "ru_maxrss", 0)) * _RSS_UNIT,
    )


@contextlib.contextmanager
def _forwarding(group: list[int], received: list[int]) -> Iterator[None]:
    def forward(signum: int, _frame: FrameType | None) -> None:
        received.append(signum)
        if group:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(group[0], signum)

    previous = {sig: signal.signal(sig, forward) for sig in FORWARDED}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


@contextlib.contextmanager
def _foreground(pgid: int) -> Iterator[None]:
    """Hand the terminal to the child's group while it runs, then take it back."""
    fd = _controlling_tty()
    if fd is None:
        yield
        return
    own = os.getpgrp()
    previous = signal.signal(signal.SIGTTOU, signal.SIG_IGN)
    try:
        os.tcsetpgrp(fd, pgid)
        yield
    finally:
        with contextlib.suppress(OSError):
            os.tcsetpgrp(fd, own)
        signal.signal(signal.SIGTTOU, previous)
        os.close(fd)


def _controlling_tty() -> int | None:
    """An fd on our terminal, only when mlog is the terminal's foreground process group."""
    if not sys.stdin.isatty():
        return None
    try:
        fd = os.open("/dev/tty", os.O_RDWR)
    except OSError:
        return None
    try:
        if os.tcgetpgrp(fd) == os.getpgrp():
            return fd
    except OSError:
        pass
    os.close(fd)
    return None
