"""The highest alias in use, kept in a small local file so ``mlog run`` need not list runs.

``.mlog/cache/alias-high`` holds the stamp of ``.mlog/runs`` (see ``storage.dirstamp``)
and the highest alias number among the records at that stamp. While the stamp holds,
allocating the next alias costs one stat and one small read whatever the number of runs.
A run written by mlog updates the file in the same step, under a lock; anything else
that adds or removes runs (a pull, a merge, a branch switch) moves the stamp, and the
next allocation recounts through the index (which re-reads only the new records).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path

from mlog.storage import atomic, dirstamp
from mlog.storage.store import Store

HIGH_FILE = "alias-high"


def _path(store: Store) -> Path:
    return store.cache_dir / HIGH_FILE


def _read(store: Store) -> tuple[dirstamp.Stamp | None, int]:
    try:
        stamp_text, high = _path(store).read_text("utf-8").split()
        return dirstamp.parse(stamp_text), int(high)
    except (OSError, ValueError):
        return None, 0


def _write(store: Store, stamp: dirstamp.Stamp, high: int) -> None:
    with contextlib.suppress(OSError):  # a read-only cache only costs a recount next time
        text = f"{stamp.text()} {high}\n"  # a cache: after a crash at worst a recount
        atomic.write_text(store.local_cache() / HIGH_FILE, text, durable=False)


def highest(store: Store) -> int:
    """The highest alias number of any record (0 with none)."""
    recorded, high = _read(store)
    current = dirstamp.take(store.runs_dir, recorded)
    if current is None:
        return 0
    if dirstamp.still_valid(recorded, current):
        return high
    from mlog.query import index  # only when the high-water file is stale: not on most runs

    high = max(index.alias_numbers(store).values(), default=0)
    _write(store, current, high)
    return high


@contextlib.contextmanager
def writing(store: Store, number: int | None) -> Iterator[None]:
    """Around mlog's own write of a run with alias ``number``: keep the file current.

    Held under its own lock so that the stamps before and after the write bracket only
    this write; if the file was current before it, it is current after it.
    """
    with store.lock("alias"):
        recorded, high = _read(store)
        before = dirstamp.take(store.runs_dir, recorded)
        yield
        if number is None or not dirstamp.still_valid(recorded, before):
            return
        after = dirstamp.take(store.runs_dir, before)
        if after is not None:
            _write(store, dirstamp.own_write(after), max(high, number))
