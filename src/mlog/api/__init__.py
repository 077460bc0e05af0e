"""The facade the CLI calls: one module per command group, one function per operation.

Each function takes keyword arguments, opens the store of the repository around ``cwd``,
resolves what the user typed (``v3``, ``latest``, ``MODEL@VERSION``: :mod:`mlog.api.refs`),
calls the domain packages and returns plain data. Nothing here prints.

| module | commands |
|---|---|
| :mod:`mlog.api.runs` | init, run, recover, ls, show, validate |
| :mod:`mlog.api.compare` | diff, data diff, champion |
| :mod:`mlog.api.data` | data profile, data review |
| :mod:`mlog.api.registry` | register, promote, approve, registry ls/history, deployable, card |
| :mod:`mlog.api.audit` | check, hook |
| :mod:`mlog.api.remote` | push, pull, fetch, deployable --remote, artifact status |
| :mod:`mlog.api.interop` | import mlflow, export mlflow/in-toto/parquet, verify-provenance |
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from mlog.storage import gitio

if TYPE_CHECKING:
    from mlog.storage.store import Store


def open_store(cwd: Path) -> Store:
    """The store of the repository around ``cwd``. Opening never writes anything.

    The store module (with YAML and the schemas) is imported here, not with the package,
    so that ``mlog run`` can start git before paying for it.
    """
    from mlog.storage.store import Store

    return Store(gitio.repo_root(cwd))


def take_unverified() -> dict[str, list[str]]:
    """Runs read since the last call whose record failed its integrity check, with why;
    the CLI warns once per run after every command."""
    from mlog.storage import store

    found = store.unverified_runs()
    store.forget_unverified()
    return found
