"""Typed errors: every user mistake becomes one of these, never a traceback.

Each class carries its exit code, so the CLI funnel maps errors to codes in one
place and ``docs/exit-codes.md`` can list them all.
"""

from __future__ import annotations

import errno
from typing import Any


class MlogError(Exception):
    """Base of every error mlog reports to the user; the message says what to do next.

    ``details`` is data a script needs to act on the refusal (which gates failed, which
    artifacts do not match); ``--json`` prints it beside the message.
    """

    exit_code = 1

    def __init__(self, message: str, *, details: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.details: dict[str, Any] = details or {}

    def to_json(self) -> dict[str, Any]:
        """What ``--json`` prints on stdout when a command refuses."""
        error = {"message": str(self), "exit_code": self.exit_code, "type": type(self).__name__}
        return {"error": error, **self.details}


class UsageError(MlogError):
    """The command line or an argument value is wrong."""

    exit_code = 2


class MissingExtraError(UsageError):
    """An optional dependency is not installed; the message names the extra that brings it."""


class NotARepoError(MlogError):
    """Not inside a git repository, git is missing, or the repository has no commit."""

    exit_code = 4


class DirtyTreeError(MlogError):
    """The working tree has changes a run would not be able to identify."""

    exit_code = 5


class NotFoundError(MlogError):
    """A run, model, version, file or path the user named does not exist."""

    exit_code = 6


class AmbiguousRefError(MlogError):
    """A reference matches several runs (an alias collision after a merge, a short prefix)."""

    exit_code = 7


class ConfigError(MlogError):
    """``.mlog/config.yaml`` or a declared params/metrics file is malformed or invalid."""

    exit_code = 8


class RecordError(MlogError):
    """A record, event or object on disk is malformed, invalid, or fails its integrity check."""

    exit_code = 9


class DataError(MlogError):
    """A dataset or artifact cannot be hashed: missing, unreadable, unstable, unsafe."""

    exit_code = 10


class GateError(MlogError):
    """A registry action was refused by a gate or by the registry's state."""

    exit_code = 11


class RemoteError(MlogError):
    """The artifact remote is unreachable, refuses access, or its backend is not installed."""

    exit_code = 12


class StorageError(MlogError):
    """mlog cannot write where it must: disk full, read-only, permission denied, or a symlink
    under ``.mlog/`` that would lead the write outside the repository."""

    exit_code = 13


_OS_HINTS = {
    errno.ENOSPC: "free some space, then retry",
    errno.EDQUOT: "free some space within your quota, then retry",
    errno.EROFS: "the file system is read-only; work in a writable clone",
    errno.EACCES: "you may not write there; check its owner and permissions",
    errno.EPERM: "you may not write there; check its owner and permissions",
}
OS_WRITE_ERRNOS = frozenset(_OS_HINTS)


def os_error(exc: OSError, path: object = None, *, what: str = "cannot write") -> StorageError:
    """One line for an OS error: the path, the cause in the system's words, what to do."""
    where = path if path is not None else exc.filename
    cause = exc.strerror or type(exc).__name__
    hint = _OS_HINTS.get(exc.errno or 0, "check the path and retry")
    return StorageError(f"{what} {where}: {cause} ({hint})")


class CheckFailed(MlogError):
    """``mlog check`` or a hook found problems; the report itself has the details."""

    exit_code = 1


class InternalError(MlogError):
    """A bug in mlog rather than in the input; reported with a hint to rerun with --traceback."""

    exit_code = 3


EXIT_CODES: dict[int, str] = {
    0: "success",
    1: "failure: `mlog check` or `mlog diff --exit-code` found something, "
    "`mlog run --fail-on-regression` regressed, or a declared artifact is missing",
    2: "usage error: bad option, argument or value, or a missing optional extra",
    3: "unexpected internal error (rerun with --traceback and report it)",
    4: "not a git repository, git missing, or no commit yet",
    5: "working tree is dirty",
    6: "run, model, version or path not found",
    7: "ambiguous reference (alias collision, short prefix)",
    8: "malformed or invalid config, params or metrics file",
    9: "malformed, invalid or tampered record, event or object",
    10: "dataset or artifact cannot be hashed safely",
    11: "refused by a registry gate or state",
    12: "artifact remote unreachable, refusing access, or its backend not installed",
    13: "cannot write under .mlog/: disk full, read-only, permission denied, or a symlink",
    141: "stdout was closed by its reader (`mlog show v3 | head`): nothing more is printed",
}
CLOSED_PIPE = 141
"""Exit code when stdout's reader went away, as a command killed by SIGPIPE reports it."""
