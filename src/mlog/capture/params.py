"""Params from declared config files (YAML, JSON, TOML), flattened to dotted names."""

from __future__ import annotations

import datetime
import json
import sys
from pathlib import Path
from typing import Any

from mlog.errors import ConfigError, RecordError
from mlog.storage import yamlio
from mlog.storage.flatten import flatten
from mlog.storage.limits import oversize

SEED_NAMES = ("seed", "random_seed", "random_state", "rng_seed")


def read_structured(path: Path, *, what: str) -> dict[str, Any]:
    """Parse a YAML, JSON or TOML mapping by extension; errors name the file and the fix."""
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise ConfigError(f"{what} file not found: {path}") from None
    except OSError as exc:
        raise ConfigError(f"cannot read {what} file {path}: {exc.strerror}") from None
    document = _parse(raw, path, what)
    if document is None:
        return {}
    if not isinstance(document, dict):
        raise ConfigError(f"{what} file {path} must hold a mapping of names to values")
    return document


def _parse(raw: bytes, path: Path, what: str) -> Any:
    suffix = path.suffix.lower()
    try:
        if suffix == ".json":
            return json.loads(raw.decode("utf-8"), object_pairs_hook=_unique_keys)
        if suffix == ".toml":
            return _toml().loads(raw.decode("utf-8"))
        return yamlio.loads(raw, source=str(path))
    except (ValueError, RecordError) as exc:  # JSONDecodeError, TOMLDecodeError, UnicodeError
        reason = str(exc).splitlines()[0].removeprefix(f"{path}: ")  # yamlio names it too
        raise ConfigError(f"malformed {what} file {path}: {reason}") from None


def _toml() -> Any:
    """The TOML parser, imported only when a TOML file is read (not on every run)."""
    if sys.version_info >= (3, 11):
        import tomllib
    else:  # pragma: no cover - exercised on Python 3.10 only
        import tomli as tomllib
    return tomllib


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    """A JSON object, refused when a key repeats (as YAML and TOML files are)."""
    result: dict[str, Any] = {}
    for key, value in pairs:
        if key in result:
            raise ValueError(f"duplicate key {key!r}")
        result[key] = value
    return result


def read_params(paths: list[Path], repo_root: Path) -> tuple[dict[str, Any], list[str]]:
    """Flattened params of every file, later files winning; and the files' repo paths."""
    params: dict[str, Any] = {}
    sources = []
    for path in paths:
        flat = flatten(read_structured(path, what="params"))
        params.update({key: _plain(value, path, key) for key, value in flat.items()})
        sources.append(_display(path, repo_root))
    problem = oversize(params, "params")
    if problem:
        raise ConfigError(f"params too large to record: {problem} (declare fewer or smaller files)")
    return params, sources


def _plain(value: Any, path: Path, key: str) -> Any:
    """A value a record can hold: dates and times become ISO text, anything else that JSON
    cannot express (binary, sets) is refused before the command runs."""
    if value is None or isinstance(value, (str, int, float, bool)):
        return value
    if isinstance(value, (datetime.date, datetime.time)):
        return value.isoformat()
    if isinstance(value, (list, tuple)):
        return [_plain(item, path, key) for item in value]
    if isinstance(value, dict):
        return {str(k): _plain(v, path, key) for k, v in value.items()}
    raise ConfigError(
        f"params file {path}: {key} holds a {type(value).__name__} value, which a record "
        "cannot store (use a string, number, list or mapping)"
    )


def find_seed(params: dict[str, Any]) -> int | str | None:
    """The run's seed: a param named like one (``seed``, ``train.random_state``...)."""
    for key, value in params.items():
        if key.rsplit(".", 1)[-1].lower() in SEED_NAMES and isinstance(value, (int, str)):
            return value if not isinstance(value, bool) else None
    return None


def _display(path: Path, repo_root: Path) -> str:
    try:
        return path.resolve().relative_to(repo_root).as_posix()
    except ValueError:
        return str(path)
