"""Run the training command as a well-behaved child: same terminal, forwarded signals.

The child gets its own process group. When mlog owns the terminal, that group is
made the foreground group, so Ctrl-C reaches the child exactly once (and
progress bars and debuggers work); signals sent to mlog itself (``kill``, a
scheduler's SIGTERM) are forwarded to the child's group. A command that is still running
``grace_s`` seconds after the first forwarded signal is killed (SIGKILL), so a command
that ignores SIGTERM cannot keep mlog waiting forever.

On Linux the child asks the kernel for SIGKILL when mlog dies (``PR_SET_PDEATHSIG``), so
``kill -9`` of mlog does not leave the training running unrecorded; its own children
(a launcher's workers) are not covered. Elsewhere there is no such signal: the child
survives mlog, and the next ``mlog run`` records the run as interrupted once it ends.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import threading
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
    grace_s: float = 30.0,
) -> Outcome:
    """Start ``argv``, wait for it with rusage, and report how it ended."""
    started = time.monotonic()
    received: list[int] = []
    group: list[int] = []
    with _forwarding(group, received, grace_s) as stopper:
        child = _spawn(argv, env, cwd)
        group.append(child.pid)
        for signum in received:  # arrived before the child existed
            os.killpg(child.pid, signum)
        if received:
            stopper.start()
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
        return subprocess.Popen(list(argv), env=dict(env), cwd=cwd, preexec_fn=_child_setup())
    except FileNotFoundError:
        raise UsageError(f"command not found: {argv[0]} (check the command after `--`)") from None
    except PermissionError:
        raise UsageError(f"command is not executable: {argv[0]}") from None


def _child_setup() -> Callable[[], None]:
    """What the child does between fork and exec: its own group, and (Linux) die with mlog."""
    if not sys.platform.startswith("linux"):
        return os.setpgrp
    import ctypes

    libc = ctypes.CDLL(None, use_errno=True)
    parent = os.getpid()

    def setup() -> None:
        os.setpgrp()
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
        if os.getppid() != parent:  # mlog died before the request took effect
            os._exit(128 + signal.SIGKILL)

    return setup


_PR_SET_PDEATHSIG = 1


class _Stopper:
    """Kills the child's group ``grace_s`` seconds after the first forwarded signal."""

    def __init__(self, group: list[int], grace_s: float) -> None:
        self._group, self._grace_s = group, grace_s
        self._timer: threading.Timer | None = None

    def start(self) -> None:
        if self._timer is None and self._group:
            self._timer = threading.Timer(self._grace_s, self._kill)
            self._timer.daemon = True
            self._timer.start()

    def _kill(self) -> None:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self._group[0], signal.SIGKILL)

    def cancel(self) -> None:
        if self._timer is not None:
            self._timer.cancel()


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
def _forwarding(group: list[int], received: list[int], grace_s: float) -> Iterator[_Stopper]:
    stopper = _Stopper(group, grace_s)

    def forward(signum: int, _frame: FrameType | None) -> None:
        received.append(signum)
        if group:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(group[0], signum)
            stopper.start()

    previous = {sig: signal.signal(sig, forward) for sig in FORWARDED}
    try:
        yield stopper
    finally:
        stopper.cancel()
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
