"""A one-stat change detector for ``.mlog/runs``: has any run been added or removed?

Adding or removing a run directory (``mlog run``, ``git pull``, a merge, a branch switch)
changes the parent directory's mtime, and on most file systems its link count. So a
cache of something derived from the *set* of runs (the highest alias, the index's list
of runs) stays valid while the directory's stamp is unchanged: one ``stat`` instead of a
listing of 100,000 entries.

The racy case (as in git's index): a change made within the same timestamp tick as the
stamp was taken would not move the mtime. So a stamp whose mtime is younger than a margin
(20 ms, beyond the kernel's timestamp tick; two seconds on file systems with whole-second
timestamps) when it was taken is not trusted: the next reader checks again and takes a
settled stamp. The one exception is mlog's own write of a run, made under a lock
(:func:`own_write`): a foreign change landing in the same few milliseconds as that write
could be missed, and at worst gives two runs one alias, which every reader already
reports as a merge collision.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from pathlib import Path

_COARSE_MARGIN_NS = 2_000_000_000
_FINE_MARGIN_NS = 20_000_000


@dataclass(frozen=True)
class Stamp:
    mtime_ns: int
    nlink: int
    ino: int
    taken_ns: int

    def text(self) -> str:
        return f"{self.mtime_ns}:{self.nlink}:{self.ino}:{self.taken_ns}"

    def same_directory_state(self, other: Stamp) -> bool:
        return (self.mtime_ns, self.nlink, self.ino) == (other.mtime_ns, other.nlink, other.ino)


def take(path: str | Path) -> Stamp | None:
    """The directory's stamp now; None when it does not exist."""
    now = time.time_ns()
    try:
        st = os.stat(path)
    except OSError:
        return None
    return Stamp(st.st_mtime_ns, st.st_nlink, st.st_ino, now)


def parse(text: str | None) -> Stamp | None:
    try:
        mtime, nlink, ino, taken = (int(part) for part in (text or "").split(":"))
    except ValueError:
        return None
    return Stamp(mtime, nlink, ino, taken)


def still_valid(recorded: Stamp | None, current: Stamp | None) -> bool:
    """Whether what was derived when ``recorded`` was taken still holds for ``current``."""
    if recorded is None or current is None or not recorded.same_directory_state(current):
        return False
    return recorded.mtime_ns < recorded.taken_ns - _margin(recorded.mtime_ns)


def own_write(stamp: Stamp) -> Stamp:
    """The stamp right after mlog's own locked write, trusted at once on file systems with
    fine timestamps (see the module doc); on whole-second ones it must settle first."""
    if stamp.mtime_ns % 1_000_000_000 == 0:
        return stamp
    return Stamp(stamp.mtime_ns, stamp.nlink, stamp.ino, stamp.mtime_ns + _FINE_MARGIN_NS + 1)


def _margin(mtime_ns: int) -> int:
    return _COARSE_MARGIN_NS if mtime_ns % 1_000_000_000 == 0 else _FINE_MARGIN_NS
