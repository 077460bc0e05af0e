"""A few-stat change detector for ``.mlog/runs``: has any run been added or removed?

Adding or removing a run directory (``mlog run``, ``git pull``, a merge, a branch switch)
changes the parent directory's mtime, and on most file systems its link count. So a
cache of something derived from the *set* of runs (the highest alias, the index's list
of runs) stays valid while the directory's stamp is unchanged: one ``stat`` instead of a
listing of 100,000 entries. Runs are filed in month folders (``runs/2026-11/<id>``), so the
stamp also holds each month folder's: one ``stat`` per month.

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

from mlog.storage import records

_COARSE_MARGIN_NS = 2_000_000_000
_FINE_MARGIN_NS = 20_000_000


@dataclass(frozen=True)
class Stamp:
    """The state of a directory and of its month folders (a run added to an existing month
    changes that folder, not the parent)."""

    mtime_ns: int
    nlink: int
    ino: int
    taken_ns: int
    months: tuple[tuple[str, int, int, int], ...] = ()

    def text(self) -> str:
        base = f"{self.mtime_ns}:{self.nlink}:{self.ino}:{self.taken_ns}"
        if not self.months:
            return base
        return base + ";" + ",".join(f"{n}={m}:{k}:{i}" for n, m, k, i in self.months)

    def same_directory_state(self, other: Stamp) -> bool:
        mine = (self.mtime_ns, self.nlink, self.ino, self.months)
        return mine == (other.mtime_ns, other.nlink, other.ino, other.months)

    @property
    def newest_ns(self) -> int:
        return max([self.mtime_ns, *(m for _, m, _, _ in self.months)])


def take(path: str | Path, hint: Stamp | None = None) -> Stamp | None:
    """The directory's stamp now; None when it does not exist.

    Its month folders are listed only when the directory itself changed since ``hint`` (an
    earlier stamp): a directory of 100,000 runs filed before months were used is then not
    listed again just to find the few month folders in it.
    """
    now = time.time_ns()
    try:
        st = os.stat(path)
    except OSError:
        return None
    if hint is not None and (hint.mtime_ns, hint.nlink, hint.ino) == (
        st.st_mtime_ns, st.st_nlink, st.st_ino):  # fmt: skip
        names = [name for name, _, _, _ in hint.months]
    else:
        try:
            with os.scandir(path) as entries:
                names = sorted(e.name for e in entries if records.MONTH.match(e.name))
        except OSError:
            names = []
    months = []
    for name in names:
        try:
            month = os.stat(os.path.join(path, name))
        except OSError:
            month = None
        if month is None:  # gone since: the directory itself changed, the parent stamp shows it
            months.append((name, 0, 0, 0))
        else:
            months.append((name, month.st_mtime_ns, month.st_nlink, month.st_ino))
    return Stamp(st.st_mtime_ns, st.st_nlink, st.st_ino, now, tuple(months))


def parse(text: str | None) -> Stamp | None:
    base, _, rest = (text or "").partition(";")
    try:
        mtime, nlink, ino, taken = (int(part) for part in base.split(":"))
        months = []
        for item in filter(None, rest.split(",")):
            name, _, numbers = item.partition("=")
            m, k, i = (int(part) for part in numbers.split(":"))
            months.append((name, m, k, i))
    except ValueError:
        return None
    return Stamp(mtime, nlink, ino, taken, tuple(months))


def still_valid(recorded: Stamp | None, current: Stamp | None) -> bool:
    """Whether what was derived when ``recorded`` was taken still holds for ``current``."""
    if recorded is None or current is None or not recorded.same_directory_state(current):
        return False
    return _settled(recorded.newest_ns, recorded.taken_ns)


def changed_months(recorded: Stamp | None, current: Stamp | None) -> list[str] | None:
    """The month folders whose runs may have changed since ``recorded`` was taken, when the
    directory itself did not change (no month folder and no flat run added or removed):
    those whose stamp moved, or was too young to trust. None when that is not known, and
    everything must be listed."""
    if recorded is None or current is None:
        return None
    same_parent = (recorded.mtime_ns, recorded.nlink, recorded.ino) == (
        current.mtime_ns, current.nlink, current.ino)  # fmt: skip
    if not same_parent or not _settled(recorded.mtime_ns, recorded.taken_ns):
        return None
    before = {name: (m, k, i) for name, m, k, i in recorded.months}
    if set(before) != {name for name, _, _, _ in current.months}:
        return None
    return [
        name
        for name, m, k, i in current.months
        if before[name] != (m, k, i) or not _settled(m, recorded.taken_ns)
    ]


def _settled(mtime_ns: int, taken_ns: int) -> bool:
    return mtime_ns < taken_ns - _margin(mtime_ns)


def own_write(stamp: Stamp) -> Stamp:
    """The stamp right after mlog's own locked write, trusted at once on file systems with
    fine timestamps (see the module doc); on whole-second ones it must settle first."""
    newest = stamp.newest_ns
    if newest % 1_000_000_000 == 0:
        return stamp
    return Stamp(stamp.mtime_ns, stamp.nlink, stamp.ino, newest + _FINE_MARGIN_NS + 1,
                 stamp.months)  # fmt: skip


def _margin(mtime_ns: int) -> int:
    return _COARSE_MARGIN_NS if mtime_ns % 1_000_000_000 == 0 else _FINE_MARGIN_NS
