"""Everything captured before the command starts, and the artifacts hashed after it ends.

Input problems (a missing dataset, an unreadable params file, a path escaping the
repo) raise here, before anything runs or is written.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mlog.capture.params import read_params
from mlog.errors import MlogError, UsageError
from mlog.storage import gitio

if TYPE_CHECKING:
    from mlog.capture.data import HashSettings
    from mlog.capture.environment import Environment
    from mlog.capture.options import RunOptions
    from mlog.storage.config import Config
    from mlog.storage.store import Store


@dataclass(frozen=True)
class Inputs:
    argv: list[str]
    tags: dict[str, str]
    params: dict[str, Any]
    param_sources: list[str]
    data: dict[str, Any]
    lineage: dict[str, Any]
    environment: dict[str, Any]
    redactions: list[str]
    code_extra: dict[str, Any]
    artifacts: list[str]
    metrics_files: list[str]
    patch: str
    warnings: list[str]


def capture_inputs(
    store: Store,
    config: Config,
    options: RunOptions,
    cwd: Path,
    tree: gitio.WorkingTree,
    environment: ReadEnvironment | None = None,
) -> Inputs:
    """Validate and capture the run's inputs, merging config defaults with the options.

    Paths from ``.mlog/config.yaml`` are relative to the repository root, paths given on
    the command line to the current folder (as git does), wherever mlog is started.
    """
    from mlog.storage.redact import redact_argv, redact_mapping, redact_text

    _refuse_oversize(options)
    root = store.repo_root
    argv, argv_redacted = redact_argv(list(options.argv))
    params, param_sources = read_params(
        [
            *(_in_cwd(p, root) for p in config.params),
            *(_in_cwd(p, cwd) for p in options.params_files),
        ],
        root,
    )
    params, params_redacted = redact_mapping(params, "params")
    tags, tags_redacted = redact_mapping({**config.tags, **options.tags}, "tags")
    artifacts = [_artifact_path(store, p, root) for p in config.artifacts]
    artifacts += [_artifact_path(store, p, cwd) for p in options.artifacts]
    data, warnings = _hash_datasets(store, config, options, cwd)
    raw_patch = gitio.tracked_patch(root) if tree.dirty else ""
    patch = redact_text(raw_patch)
    return Inputs(
        argv=argv,
        tags={str(k): str(v) for k, v in tags.items()},
        params=params,
        param_sources=param_sources,
        data=data,
        lineage=_lineage(config, options),
        environment=_environment(store, environment or read_environment(store, config, options)),
        redactions=sorted(
            {*argv_redacted, *params_redacted, *tags_redacted}
            | ({"patch.diff"} if patch != raw_patch else set())
        ),
        code_extra=_dirty_evidence(store, tree) if tree.dirty else {},
        artifacts=artifacts,
        metrics_files=[
            *(_repo_relative(root, _in_cwd(p, root)) for p in config.metrics_files),
            *(_repo_relative(root, _in_cwd(p, cwd)) for p in options.metrics_files),
        ],
        patch=patch,
        warnings=[*warnings, *_unpinned(data)],
    )


def _unpinned(data: dict[str, Any]) -> list[str]:
    """Remote datasets named without a version: the record cannot say which data it was."""
    return [
        f"dataset {name}: {entry.get('path')} has no @VERSION, so the record pins nothing "
        "(name a version: an S3 object version, a snapshot or a partition date)"
        for name, entry in data.items()
        if entry.get("kind") == "uri" and not entry.get("version")
    ]


def _refuse_oversize(options: RunOptions) -> None:
    """Inputs too big for a record are refused before anything runs."""
    from mlog.storage.limits import oversize

    problem = oversize({"note": options.note or ""}, "--note") or oversize(options.tags, "--tag")
    if problem:
        raise UsageError(f"too large to record: {problem} (shorten it)")


def _in_cwd(path: str, cwd: Path) -> Path:
    return (cwd / path) if not os.path.isabs(path) else Path(path)


def _repo_relative(root: Path, path: Path) -> str:
    resolved = Path(os.path.abspath(path))
    try:
        return resolved.relative_to(root).as_posix()
    except ValueError:
        raise UsageError(f"{path} is outside the repository {root}") from None


def _artifact_path(store: Store, path: str, cwd: Path) -> str:
    from mlog.capture.data import resolve_artifact_path

    return resolve_artifact_path(path, repo_root=store.repo_root, cwd=cwd)


def _hash_datasets(
    store: Store, config: Config, options: RunOptions, cwd: Path
) -> tuple[dict[str, Any], list[str]]:
    """Config entries are relative to the repo root, command-line ones to the working dir."""
    from mlog.capture.data import hash_datasets

    declared = [(text, store.repo_root) for text in config.data]
    declared += [(text, cwd) for text in options.data]
    if not declared:
        return {}, []
    return hash_datasets(store, declared, hash_settings(config, options))


def hash_settings(config: Config, options: RunOptions) -> HashSettings:
    from mlog.capture.data import HashSettings

    return HashSettings(
        algorithm=config.hash_algorithm,
        rehash=options.rehash,
        follow_symlinks=options.follow_symlinks,
        progress=options.progress,
    )


def parse_window(window: str) -> tuple[str, str]:
    """``START..END``, both ISO dates or date-times, START not after END."""
    from datetime import date, datetime

    start, sep, end = window.partition("..")
    example = "e.g. 2026-01-01..2026-03-31"
    if not sep or not start.strip() or not end.strip():
        raise UsageError(f"--data-window {window!r}: expected START..END, {example}")
    moments = []
    for text in (start.strip(), end.strip()):
        try:
            moment = datetime.fromisoformat(text) if "T" in text else date.fromisoformat(text)
        except ValueError:
            raise UsageError(
                f"--data-window {window!r}: {text!r} is not an ISO date or date-time ({example})"
            ) from None
        moments.append(moment.isoformat())
    if moments[0] > moments[1]:
        raise UsageError(f"--data-window {window!r}: START is after END (swap them)")
    return start.strip(), end.strip()


def _lineage(config: Config, options: RunOptions) -> dict[str, Any]:
    lineage: dict[str, Any] = {}
    window = options.data_window or config.raw.get("data_window")
    if window:
        start, end = parse_window(str(window))
        lineage["data_window"] = {"start": start, "end": end}
    if config.raw.get("feature_views"):
        lineage["feature_views"] = [
            {"name": str(v["name"]), "version": str(v["version"])}
            for v in config.raw["feature_views"]
        ]
    return lineage


@dataclass(frozen=True)
class ReadEnvironment:
    """The environment as read before the run, nothing stored yet: the packages object is
    written only once the run is going ahead (see :func:`read_environment`)."""

    environment: Environment
    interpreter: str | None


def read_environment(store: Store, config: Config, options: RunOptions) -> ReadEnvironment:
    """Python, OS, hardware, variables and the training interpreter's packages. It only
    reads, so ``mlog run`` reads it while git is still reporting on the working tree."""
    from mlog.capture.environment import capture_environment
    from mlog.capture.packages import same_environment, training_interpreter

    interpreter = training_interpreter(options.argv, os.environ)
    own = interpreter is not None and same_environment(interpreter)
    environment = capture_environment(
        store.repo_root,
        os.environ,
        python_executable=None if (own or interpreter is None) else interpreter,
        extra_variables=config.env,
    )
    return ReadEnvironment(environment, interpreter)


def _environment(store: Store, read: ReadEnvironment) -> dict[str, Any]:
    from mlog.capture.packages import packages_blob

    section = read.environment.to_record()
    if read.environment.packages is not None:
        section["packages"] = {
            "object": store.put_object(packages_blob(read.environment.packages)),
            "count": len(read.environment.packages),
            "interpreter": read.interpreter,
        }
    return section


def _dirty_evidence(store: Store, tree: gitio.WorkingTree) -> dict[str, Any]:
    """What makes a dirty run reproducible anyway: the patch and the untracked files' hashes."""
    from mlog.storage.hashing import hash_file

    untracked = []
    for path in tree.untracked:
        full = store.repo_root / path
        try:
            untracked.append({"path": path, "hash": hash_file(full), "size": full.stat().st_size})
        except (OSError, MlogError):
            untracked.append({"path": path, "hash": None, "size": None})
    return {"dirty_paths": list(tree.all_paths), "untracked": untracked}


def hash_artifacts(
    store: Store, paths: list[str], settings: HashSettings
) -> tuple[list[dict[str, Any]], list[str]]:
    """Hash each declared output, with a warning for each one missing (the run then fails)."""
    from mlog.capture.data import hash_artifact

    entries, warnings = [], []
    for path in dict.fromkeys(repo_relative_output(store, p) for p in paths):
        try:
            entry = hash_artifact(store, path, settings)
        except MlogError as exc:
            entry = {"path": path, "present": False, "hash": None, "error": str(exc)}
        if not entry["present"]:
            warnings.append(f"artifact missing after the run: {path}")
        entries.append(entry)
    return entries, warnings


def repo_relative_output(store: Store, path: str) -> str:
    """Repo-relative: declared paths already are, the API reports absolute ones."""
    try:
        return Path(os.path.abspath(store.repo_root / path)).relative_to(store.repo_root).as_posix()
    except ValueError:
        return path
