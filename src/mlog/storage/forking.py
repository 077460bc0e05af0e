"""Forked worker processes that read a store's runs: when to fork, and the store they use.

Workers are forked (no re-import of the caller's ``__main__``, no start-up cost), which is
only safe while this process runs a single thread. A worker inherits the parent's memory, so
while :func:`lending` holds, it takes the parent's :class:`Store` with the run folders that
store located when it listed the runs, instead of a new store that looks for each run's
folder again. The bulk index build (``query.index``) and ``mlog check`` (``audit.checks``)
both use this.
"""

from __future__ import annotations

import contextlib
import os
import threading
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import TypeVar

from mlog.storage.store import Store

_Item = TypeVar("_Item")
_Result = TypeVar("_Result")
_LENT: dict[str, Store] = {}  # repository root -> the store lent to workers forked now


def can_fork() -> bool:
    """Whether workers may be forked: only while this process runs one thread."""
    return threading.active_count() == 1 and hasattr(os, "fork")


def cores() -> int:
    """The cores this process may run on."""
    found = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return found or 1


def workers(count: int, each: int) -> int:
    """How many workers to fork for ``count`` items: one per ``each`` items, at most one
    per core and eight in all, and at least one (1 means: do it in this process)."""
    return max(1, min(cores(), 8, count // each))


@contextlib.contextmanager
def lending(store: Store) -> Iterator[str]:
    """Lend ``store`` to the workers forked while this holds; yields the root they are given."""
    root = str(store.repo_root)
    _LENT[root] = store
    try:
        yield root
    finally:
        _LENT.pop(root, None)


def store_for(root: str) -> Store:
    """In a worker: the store lent for ``root``, else a new one."""
    return _LENT.get(root) or Store(Path(root))


def mapped(
    store: Store,
    work: Callable[[str, _Item], _Result],
    items: Sequence[_Item],
    *,
    each: int,
) -> Iterator[_Result]:
    """``work(root, item)`` for each item, in order: in forked workers (one per ``each``
    items, see :func:`workers`) when there are many and forking is safe, else here. ``work``
    is a module-level function that takes its store with :func:`store_for`; what it raises
    is raised here."""
    count = workers(len(items), each)
    with lending(store) as root:
        if count < 2 or not can_fork():
            for item in items:
                yield work(root, item)
            return
        import multiprocessing
        from concurrent.futures import ProcessPoolExecutor

        context = multiprocessing.get_context("fork")
        with ProcessPoolExecutor(count, mp_context=context) as pool:
            yield from pool.map(work, [root] * len(items), items, chunksize=64)
