"""mlog's Python API for training scripts: cheap to import, safe to call anywhere.

Under ``mlog run`` the calls append to a spool file named by ``MLOG_SPOOL``, so they
work from any subprocess (data-loader workers, torchrun ranks). Inside
``with mlog.start_run():`` the same happens in-process. Outside both, the first
call warns once and every call does nothing, so a script never breaks for lack
of mlog.
"""

from __future__ import annotations

import os
import time
import warnings
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from mlog.capture.spool import RUN_ID_ENV as RUN_ID_ENV
from mlog.capture.spool import SPOOL_ENV as SPOOL_ENV

if TYPE_CHECKING:
    from mlog.capture.session import RunResult

__all__ = [
    "__version__",
    "log_artifact",
    "log_metric",
    "log_metrics",
    "log_param",
    "log_params",
    "log_signature",
    "require_run",
    "set_note",
    "start_run",
]
__version__ = "0.1.0"

_warned = False


class NotTrackedError(RuntimeError):
    """Raised by ``require_run`` when a script runs outside ``mlog run`` / ``start_run``."""


def _emit(event: dict[str, Any]) -> None:
    global _warned
    spool = os.environ.get(SPOOL_ENV)
    if not spool:
        if not _warned:
            _warned = True
            warnings.warn(
                "mlog: not inside `mlog run` or `mlog.start_run()`; logging calls are ignored",
                RuntimeWarning,
                stacklevel=3,
            )
        return
    import json  # here, not at the top: `import mlog` (and `mlog --version`) stay cheap

    line = (json.dumps(event, default=str, allow_nan=True) + "\n").encode("utf-8")
    try:
        fd = os.open(spool, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        try:
            os.write(fd, line)  # one O_APPEND write per event: safe across processes
        finally:
            os.close(fd)
    except OSError as exc:  # a full disk must not crash the training; the record will say so
        if not _warned:
            _warned = True
            message = f"mlog: cannot log ({exc.strerror}): {spool}"
            warnings.warn(message, RuntimeWarning, stacklevel=3)


def log_param(name: str, value: Any) -> None:
    """Record one hyperparameter (later values of the same name win)."""
    _emit({"type": "param", "name": str(name), "value": _plain(value)})


def log_params(params: Mapping[str, Any]) -> None:
    """Record several hyperparameters; nested mappings become dotted names."""
    for name, value in params.items():
        log_param(name, value)


def log_metric(name: str, value: float, step: int | None = None) -> None:
    """Record a metric value; with ``step`` it also joins the per-step series."""
    event: dict[str, Any] = {"type": "metric", "name": str(name), "value": _number(value)}
    if step is not None:
        event["step"] = int(step)
    event["time"] = time.time()
    _emit(event)


def log_metrics(metrics: Mapping[str, float], step: int | None = None) -> None:
    """Record several metrics at the same step."""
    for name, value in metrics.items():
        log_metric(name, value, step=step)


def log_artifact(path: str | os.PathLike[str]) -> None:
    """Declare an output file or directory to hash when the run ends."""
    _emit({"type": "artifact", "path": os.path.abspath(os.fspath(path))})


def log_signature(inputs: Any, outputs: Any = None) -> None:
    """Record the model's input (and output) signature: names, types and shapes.

    ``inputs``/``outputs``: a pandas DataFrame or Series, a numpy array, or a dict of
    name -> dtype, shape or ``{"dtype": ..., "shape": ...}``. Read from the objects'
    attributes (pandas and numpy are never imported here); mlog never loads a model.
    """
    from mlog.errors import UsageError
    from mlog.profile.signature import signature

    try:
        described = signature(inputs, outputs)
    except UsageError as exc:
        raise TypeError(str(exc)) from None
    _emit({"type": "signature", **described})


def set_note(text: str) -> None:
    """Set the run's note (the hypothesis, or what changed and why)."""
    _emit({"type": "note", "text": str(text)})


def require_run() -> None:
    """Refuse to train untracked: raise unless running under ``mlog run``/``start_run``.

    Set ``MLOG_ALLOW_UNTRACKED=1`` to opt out explicitly (for a quick local try).
    """
    if os.environ.get(SPOOL_ENV) or os.environ.get("MLOG_ALLOW_UNTRACKED") == "1":
        return
    raise NotTrackedError(
        "this training script must run under `mlog run -- ...` or inside `mlog.start_run()` "
        "(set MLOG_ALLOW_UNTRACKED=1 to run it untracked on purpose)"
    )


@contextmanager
def start_run(
    *,
    model: str | None = None,
    note: str | None = None,
    data: list[str] | None = None,
    artifacts: list[str] | None = None,
    params_files: list[str] | None = None,
    tags: Mapping[str, str] | None = None,
    allow_dirty: bool = False,
) -> Iterator[RunResult]:
    """Capture the enclosed block as a run, for notebooks and scripts run without the wrapper.

    The record is written when the block ends, with status ``failed`` or
    ``interrupted`` if it raised. The yielded object's ``record`` is filled then.
    """
    from mlog.capture.session import in_process_run

    with in_process_run(
        model=model,
        note=note,
        data=data or [],
        artifacts=artifacts or [],
        params_files=params_files or [],
        tags=dict(tags or {}),
        allow_dirty=allow_dirty,
    ) as result:
        yield result


def _plain(value: Any) -> Any:
    if isinstance(value, (str, int, bool)) or value is None:
        return value
    if isinstance(value, float):
        return _number(value)
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    item = getattr(value, "item", None)  # numpy scalars
    return _plain(item()) if callable(item) else str(value)


def _number(value: Any) -> float | int:
    """A plain number; NaN and infinities stay numbers (the record writes .nan, .inf)."""
    item = getattr(value, "item", None)
    if callable(item):
        value = item()
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, int):
        return value
    return float(value)
