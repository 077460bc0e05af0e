"""One run from start to record: prepare (refuse early), execute, finish (never drop it).

Everything that can be wrong with the input is checked in ``prepare`` before the
command starts. Everything after the command is best effort: problems become
warnings in the record, because a run that happened must always be recorded.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import platform
import resource
import signal
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mlog.capture import freshness
from mlog.capture import metrics as metrics_capture
from mlog.capture.options import RunOptions
from mlog.capture.params import find_seed
from mlog.capture.process import Outcome, run_child
from mlog.capture.spool import RUN_ID_ENV, SPOOL_ENV
from mlog.errors import (
    DirtyTreeError,
    MlogError,
    RecordError,
    StorageError,
    UsageError,
    os_error,
)
from mlog.query import aliases
from mlog.registry import signatures
from mlog.registry.events import check_model_name, event_files
from mlog.storage import gitio, records, sections, yamlio
from mlog.storage.limits import bound_record, bound_sections
from mlog.storage.schema import validate
from mlog.storage.store import PATCH_FILE, SERIES_FILE, Store

if TYPE_CHECKING:
    from mlog.capture.inputs import Inputs

INTERRUPT_SIGNALS = {"SIGINT", "SIGTERM", "SIGHUP", "SIGQUIT"}
INTERRUPT_EXIT_CODES = {130, 143}  # what scripts exit with after handling SIGINT / SIGTERM


@dataclass
class RunResult:
    """The outcome of a run as the caller sees it."""

    run_id: str
    alias: str
    exit_code: int
    record: dict[str, Any] = field(default_factory=dict)
    path: Path | None = None
    notices: list[str] = field(default_factory=list)


@dataclass
class Prepared:
    """A run that passed every check and has its alias, ready to execute."""

    store: Store
    run_id: str
    alias: str
    record: dict[str, Any]
    artifacts: list[str]
    metrics_files: list[str]
    patch: str
    hash_algorithm: str = "xxh3_128"
    before: dict[str, Any] = field(default_factory=dict)  # output identities: capture.freshness
    stale: set[str] = field(default_factory=set)  # outputs unchanged by the command (finish)
    argv: tuple[str, ...] = ()  # as given: the record's copy is redacted and escaped
    grace_s: float = 30.0
    notices: list[str] = field(default_factory=list)  # about other runs (recoveries)


def prepare(
    options: RunOptions,
    cwd: Path,
    *,
    store: Store | None = None,
    early: gitio.Snapshot | None = None,
) -> Prepared:
    """Check everything, capture what exists before the command, reserve an alias.

    A caller that passes its own ``store`` (a rerun's) has recorded orphaned runs itself;
    one that passes ``early`` started the git commands of the repository itself.
    """
    if not options.argv:
        raise UsageError("no command given: put it after `--`, e.g. `mlog run -- python train.py`")
    given = store is not None
    store = store or Store(gitio.repo_root(cwd))
    root = store.repo_root
    store.check_writable()
    config = store.config()
    check_model_name(options.model or config.model)
    signatures.record_key(store)  # sign_records without a key: refuse before running
    recovery = Recovery() if given else recover_orphans(store)
    snapshot = early if early is not None and early.root == root else gitio.Snapshot(root)
    from mlog.capture.inputs import capture_inputs, read_environment

    environment = read_environment(store, config, options)  # reads only: while git works
    code, tree = snapshot.result()
    if tree.dirty and not options.allow_dirty:
        raise DirtyTreeError(_dirty_message(tree.all_paths))
    inputs = capture_inputs(store, config, options, cwd, tree, environment)
    record = storable(_base_record(config.model, options, code, tree, cwd, root, inputs))
    check_before_run(record)
    prepared = Prepared(
        store,
        "",
        "",
        record,
        inputs.artifacts,
        inputs.metrics_files,
        inputs.patch,
        config.hash_algorithm,
        freshness.snapshot(root, [*inputs.metrics_files, *inputs.artifacts]),
        argv=options.argv,
        grace_s=config.stop_grace_s,
        notices=recovery.quarantined,
    )
    return _reserve_alias(prepared)


def storable(record: dict[str, Any]) -> dict[str, Any]:
    """Escape what is not UTF-8 and redact every string; both name what they touched."""
    from mlog.storage.escape import escape_tree
    from mlog.storage.redact import redact_record

    record, escaped = escape_tree(record)
    if escaped:
        record["escaped"] = sorted({*record.get("escaped", []), *escaped})
    return redact_record(record)


def _dirty_message(paths: tuple[str, ...]) -> str:
    shown = ", ".join(paths[:5]) + (f" and {len(paths) - 5} more" if len(paths) > 5 else "")
    return (
        f"working tree is dirty: {shown} "
        "(commit or stash them, or pass --allow-dirty to record the patch)"
    )


def _base_record(
    default_model: str,
    options: RunOptions,
    code: gitio.CodeState,
    tree: gitio.WorkingTree,
    cwd: Path,
    root: Path,
    inputs: Inputs,
) -> dict[str, Any]:
    return {
        "schema_version": records.SCHEMA_VERSION,
        "id": "",
        "alias": "",
        "model": options.model or default_model,
        "status": "interrupted",
        "note": options.note,
        "tags": inputs.tags,
        "code": {**inputs.code_extra, **_code_section(code, tree)},
        "command": {
            "argv": inputs.argv,
            "cwd": _relative_cwd(cwd, root),
            "started_at": records.utc_timestamp(),
            "user": _system_user(),
            "host": platform.node(),
        },
        "environment": inputs.environment,
        "params": inputs.params,
        "param_sources": inputs.param_sources,
        "seed": find_seed(inputs.params),
        "metrics": {},
        "data": inputs.data,
        "lineage": inputs.lineage,
        "artifacts": [],
        "validation": None,
        "redactions": inputs.redactions,
        "warnings": list(inputs.warnings),
    }


def _system_user() -> str | None:
    """The login name running mlog (``getpass`` checks the usual variables, then the OS)."""
    import getpass

    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return None


def _code_section(code: gitio.CodeState, tree: gitio.WorkingTree) -> dict[str, Any]:
    return {
        "commit": code.commit,
        "tree": code.tree,
        "branch": code.branch,
        "describe": code.describe,
        "remote": code.remote,
        "shallow": code.shallow,
        "dirty": tree.dirty,
    }


def _relative_cwd(cwd: Path, root: Path) -> str:
    try:
        return cwd.resolve().relative_to(root).as_posix() or "."
    except ValueError:
        return "."


def _reserve_alias(prepared: Prepared) -> Prepared:
    """Give the run its id and the next ``vN`` under the store lock, then mark it in flight.

    Both are taken under one lock so that ids (sorted by time) and aliases agree in order.
    """
    store = prepared.store
    with deferred_interrupts() as received, store.lock():
        prepared.run_id = prepared.record["id"] = records.new_id()
        taken = {aliases.highest(store)}
        taken.update(
            records.alias_number(p.get("alias", "")) or 0 for p in store.pending_runs().values()
        )
        alias = f"v{max(taken, default=0) + 1}"
        prepared.alias = alias
        prepared.record["alias"] = alias
        store.write_pending(prepared.run_id, _pending_state(prepared, os.getpid(), None))
    if received:  # interrupted while reserving: the command never started
        store.drop_pending(prepared.run_id)
        raise KeyboardInterrupt
    return prepared


@contextlib.contextmanager
def deferred_interrupts() -> Iterator[list[int]]:
    """Hold SIGINT/SIGTERM back during bookkeeping so no half-written state is left."""
    received: list[int] = []
    if threading.current_thread() is not threading.main_thread():
        yield received  # signals are only delivered to the main thread anyway
        return

    def hold(signum: int, _frame: object) -> None:
        received.append(signum)

    previous = {sig: signal.signal(sig, hold) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield received
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def _pending_state(prepared: Prepared, mlog_pid: int, child_pid: int | None) -> dict[str, Any]:
    return {
        "alias": prepared.alias,
        "record": prepared.record,
        "artifacts": prepared.artifacts,
        "metrics_files": prepared.metrics_files,
        "patch": prepared.patch,
        "hash_algorithm": prepared.hash_algorithm,
        "before": prepared.before,
        "mlog_pid": mlog_pid,
        "mlog_started": _process_start(mlog_pid),
        "child_pid": child_pid,
        "child_started": _process_start(child_pid) if child_pid else None,
        "host": platform.node(),
    }


def execute(prepared: Prepared, *, cwd: Path | None = None) -> Outcome:
    """Run the command (in ``cwd``, default mlog's own) with the spool wired in; the
    pending marker learns the child's pid."""
    env = dict(os.environ)
    env[SPOOL_ENV] = str(prepared.store.spool_path(prepared.run_id))
    env[RUN_ID_ENV] = prepared.run_id

    warming = threading.Thread(target=_ready_to_finish, daemon=True)

    def remember_child(pid: int) -> None:
        state = _pending_state(prepared, os.getpid(), pid)
        with contextlib.suppress(MlogError):  # the reserved marker stays; never stop the run
            prepared.store.write_pending(prepared.run_id, state)
        warming.start()  # after the fork: a thread must not be running through one

    outcome = run_child(
        prepared.argv, env=env, on_start=remember_child, cwd=cwd, grace_s=prepared.grace_s
    )
    if warming.is_alive():
        warming.join()
    note_outcome(prepared, outcome)
    return outcome


def _ready_to_finish() -> None:
    """Load what :func:`finish` needs while the command runs, rather than after it: the
    validation module and the checker of a report's shape (3-5 ms of a run's overhead)."""
    with contextlib.suppress(Exception):  # only a head start: finish loads them anyway
        from mlog.compare import validation  # noqa: F401
        from mlog.storage.schema import part_problems

        part_problems({}, "run")


@dataclass
class Collected:
    """What one collector found after the command ended: record sections, and its warnings."""

    sections: dict[str, Any] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)
    sidecars: dict[str, bytes] = field(default_factory=dict)


def finish(prepared: Prepared, outcome: Outcome | None, recovered: str | None = None) -> RunResult:
    """Complete the record from the outcome and what the script reported; write it."""
    record = prepared.record
    store = prepared.store
    prepared.stale = freshness.stale_paths(store.repo_root, prepared.before)
    reported = metrics_capture.read_spool(store.spool_path(prepared.run_id))
    _apply_outcome(record, outcome, recovered)
    sidecars: dict[str, bytes] = {}
    for collect in (_reported, _file_metrics, _artifacts, _stale_outputs):
        found = collect(prepared, reported)
        _assemble(record, found)
        sidecars.update(found.sidecars)
    record["warnings"].extend(bound_sections(record))  # before the costly passes below
    record["status"] = _status(record, outcome)
    _assemble(record, _validation(store, record))
    if sidecars:  # sealed with the record: an edit to any of them breaks its integrity
        record["sidecars"] = {name: records.sidecar_digest(data) for name, data in sidecars.items()}
    record = storable(record)
    record["warnings"].extend(bound_record(record, _yaml_size))
    sealed = _valid_record(record)
    sidecars.update(_signature(store, sealed))
    with aliases.writing(store, records.alias_number(prepared.alias)):
        path = store.write_run(prepared.run_id, yamlio.dumps(sealed), sidecars)
    store.drop_pending(prepared.run_id)
    exit_code = _exit_code(sealed, outcome)
    return RunResult(prepared.run_id, prepared.alias, exit_code, sealed, path, prepared.notices)


def unwritten(prepared: Prepared, outcome: Outcome, exc: Exception) -> StorageError:
    """The error for a run whose record could not be written: it exits with the command's code.

    The pending marker (and the outcome noted beside it) stay, so the next ``mlog run`` (or
    ``mlog recover``) records the run as what it was once the cause is fixed.
    """
    ended = f"signal {outcome.signal}" if outcome.signal else f"exit code {outcome.exit_code}"
    cause = str(os_error(exc)) if isinstance(exc, OSError) else str(exc)
    error = StorageError(
        f"run {prepared.alias} ended ({ended}) but its record could not be written: {cause} "
        "-- it stays pending and the next `mlog run` records it"
    )
    error.exit_code = outcome.exit_code
    return error


def _yaml_size(record: dict[str, Any]) -> int:
    return len(yamlio.dumps(record).encode("utf-8"))


def _exit_code(record: dict[str, Any], outcome: Outcome | None) -> int:
    """The command's exit code, made to agree with the status: never 0 unless it succeeded."""
    exit_code = outcome.exit_code if outcome else 1
    if exit_code == 0 and record["status"] == "failed":
        return 1
    if exit_code == 0 and record["status"] == "interrupted":
        received = outcome.received if outcome else None
        return 128 + signal.Signals[received].value if received else 130
    return exit_code


def _assemble(record: dict[str, Any], found: Collected) -> None:
    record.update(found.sections)
    record["warnings"].extend(found.warnings)


def _valid_record(record: dict[str, Any]) -> dict[str, Any]:
    """The sealed record; a field the schema refuses is quoted or dropped and named in the
    warnings, because a run that executed must be recorded (status and exit code kept)."""
    from mlog.storage.schema import repair

    body = records.seal(_drop_empty(record))
    always = tuple(key for key in sections.KEYS if key not in sections.OPTIONAL)
    notes = repair(body, "run", keep=always)
    if notes:
        body.setdefault("warnings", []).extend(notes)
    sealed = records.seal(body)
    validate(sealed, "run", source=f"record of run {record['id']}")
    return sealed


def check_before_run(record: dict[str, Any]) -> None:
    """Refuse, before anything runs, input that would make the record fail its schema."""
    from mlog.storage.schema import problems

    trial = {**record, "id": records.new_id(), "alias": "v1"}
    found = problems(records.seal(_drop_empty(trial)), "run")
    if found:
        more = f" (and {len(found) - 1} more)" if len(found) > 1 else ""
        raise UsageError(
            f"this run's input cannot be recorded: {found[0]}{more} "
            "(fix it and retry; the command was not started)"
        )


def _validation(store: Store, record: dict[str, Any]) -> Collected:
    """The report against the champion; failures become warnings, never a lost record."""
    from mlog.compare.validation import attach

    model = str(record.get("model"))
    against = None
    if event_files(store, model):  # no events, no champion: the fold (~5 ms to import) can wait
        from mlog.registry.fold import validation_target

        try:
            against = validation_target(store, model)
        except MlogError as exc:
            return Collected({"validation": None}, [f"validation skipped: {exc}"])
    report, warnings = attach(store, record, against)
    return Collected({"validation": report}, warnings)


def _signature(store: Store, sealed: dict[str, Any]) -> dict[str, bytes]:
    """The record's signature; a key that stopped working never costs the record."""
    try:
        return signatures.record_signature(store, sealed)
    except MlogError:
        return {}


def _apply_outcome(record: dict[str, Any], outcome: Outcome | None, recovered: str | None) -> None:
    command = record["command"]
    command["ended_at"] = records.utc_timestamp()
    if outcome is None:
        command.update(exit_code=None, signal=None, recovered=recovered)
        return
    if recovered:
        command["recovered"] = recovered
    command.update(
        exit_code=None if outcome.signal else outcome.exit_code,
        signal=outcome.signal,
        duration_s=outcome.duration_s,
        cpu_user_s=outcome.cpu_user_s,
        cpu_system_s=outcome.cpu_system_s,
        peak_rss_bytes=outcome.peak_rss_bytes,
    )


def _reported(prepared: Prepared, reported: metrics_capture.Reported) -> Collected:
    """What the script logged through the Python API: params, note, series."""
    from mlog.storage.redact import redact_mapping, redact_points

    record = prepared.record
    params, redacted = redact_mapping({**record["params"], **reported.params}, "params")
    found = Collected({"params": params, "redactions": sorted({*record["redactions"], *redacted})})
    if record.get("seed") is None:
        found.sections["seed"] = find_seed(params)
    if reported.note and not record.get("note"):
        found.sections["note"] = reported.note
    if reported.signature is not None:
        found.sections["signature"] = reported.signature
    if reported.points:
        found.sections["series"] = metrics_capture.summarize_series(reported.points)
        found.sidecars[SERIES_FILE] = metrics_capture.series_jsonl(redact_points(reported.points))
    if prepared.patch:
        found.sidecars[PATCH_FILE] = prepared.patch.encode("utf-8")
    if reported.skipped_lines:
        found.warnings.append(f"{reported.skipped_lines} unreadable spool line(s) skipped")
    return found


def _file_metrics(prepared: Prepared, reported: metrics_capture.Reported) -> Collected:
    """Metrics from the declared metrics files, overridden by those logged through the API."""
    root = prepared.store.repo_root
    fresh = [p for p in prepared.metrics_files if p not in prepared.stale]
    found = [root / p for p in fresh if (root / p).exists()]
    written = {p.relative_to(root).as_posix() for p in found}
    collected = Collected(
        warnings=[
            f"metrics file not written by the command: {missing}"
            for missing in sorted(set(fresh) - written)
        ]
    )
    if found:
        collected.sections["metric_sources"] = [p.relative_to(root).as_posix() for p in found]
    try:
        from_files = metrics_capture.read_metrics_files(found)
    except MlogError as exc:
        collected.warnings.append(str(exc))
        from_files = {}
    collected.sections["metrics"] = {**from_files, **reported.metrics}
    return collected


def _artifacts(prepared: Prepared, reported: metrics_capture.Reported) -> Collected:
    """The declared outputs and those logged through the API, hashed now the command ended."""
    from mlog.capture.data import HashSettings
    from mlog.capture.inputs import hash_artifacts

    settings = HashSettings(algorithm=prepared.hash_algorithm)
    paths = [p for p in prepared.artifacts if p not in _stale_artifacts(prepared, reported)]
    artifacts, warnings = hash_artifacts(prepared.store, paths + reported.artifacts, settings)
    return Collected({"artifacts": artifacts}, warnings)


def _stale_outputs(prepared: Prepared, reported: metrics_capture.Reported) -> Collected:
    """Declared outputs the command left unchanged (``capture.freshness``): recorded apart,
    never as this run's metrics or artifacts. What the script logs through the API (metrics,
    ``mlog.log_artifact``) is its own claim and always fresh."""
    from mlog.capture.data import HashSettings
    from mlog.capture.inputs import hash_artifacts

    files = [p for p in prepared.metrics_files if p in prepared.stale]
    paths = sorted(_stale_artifacts(prepared, reported))
    settings = HashSettings(algorithm=prepared.hash_algorithm)
    artifacts = hash_artifacts(prepared.store, paths, settings)[0] if paths else []
    stale = {"metrics_files": files, "artifacts": artifacts}
    unchanged = "not written by this run (unchanged since before it started)"
    return Collected(
        {"stale": {key: value for key, value in stale.items() if value}},
        [f"metrics file {unchanged}: {path}" for path in files]
        + [f"artifact {unchanged}: {path}" for path in paths],
    )


def _stale_artifacts(prepared: Prepared, reported: metrics_capture.Reported) -> set[str]:
    from mlog.capture.inputs import repo_relative_output

    claimed = {repo_relative_output(prepared.store, p) for p in reported.artifacts}
    return {p for p in prepared.artifacts if p in prepared.stale and p not in claimed}


def _status(record: dict[str, Any], outcome: Outcome | None) -> str:
    if outcome is None or outcome.received or outcome.signal in INTERRUPT_SIGNALS:
        return "interrupted"
    if outcome.exit_code in INTERRUPT_EXIT_CODES:
        return "interrupted"
    if outcome.exit_code != 0:
        return "failed"
    if any(not artifact["present"] for artifact in record["artifacts"]):
        return "failed"
    return "succeeded"


def _drop_empty(record: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in record.items() if not (k in sections.OPTIONAL and not v)}


# -- orphans ---------------------------------------------------------------
def orphans(store: Store) -> list[str]:
    """Ids of runs whose mlog process died before writing the record (nothing is written)."""
    if not store.has_pending():
        return []
    return [run_id for run_id, state in store.pending_runs().items() if _is_orphan(state)]


@dataclass
class Recovery:
    """What ``recover_orphans`` did: runs recorded, and warnings about the ones it could not
    record (moved aside when they never can be, left pending when the cause may pass)."""

    recovered: list[str] = field(default_factory=list)
    quarantined: list[str] = field(default_factory=list)


def recover_orphans(store: Store) -> Recovery:
    """Record every run whose mlog process died without writing it; never block on one.

    A run whose command had ended is recorded as what it was (exit code, status, artifacts),
    from the outcome mlog noted; otherwise as interrupted. A marker that cannot be recorded
    is moved to ``.mlog/cache/quarantine/`` with a warning, so no later command trips on it.
    """
    recovery = Recovery()
    if not store.pending_dir.exists():
        return recovery
    with store.lock():
        for run_id, state in store.pending_runs().items():
            if state and not _is_orphan(state):
                continue
            if store.run_dir(run_id).exists():  # written, then killed before the marker went
                store.drop_pending(run_id)
                continue
            try:
                _recover(store, run_id, state)
                recovery.recovered.append(run_id)
            except (StorageError, OSError) as exc:  # passing (a full disk): it stays pending
                recovery.quarantined.append(f"in-flight run {run_id} not recorded yet: {exc}")
            except (MlogError, ValueError, KeyError, TypeError) as exc:
                recovery.quarantined.append(_quarantine(store, run_id, exc))
    return recovery


def _recover(store: Store, run_id: str, state: dict[str, Any]) -> None:
    if not state:
        raise RecordError("its marker is unreadable")
    prepared = _prepared_from_state(store, run_id, state)
    noted = store.read_outcome(run_id)
    mlog = f"mlog process {state.get('mlog_pid')}"
    if noted is None:
        finish(prepared, None, recovered=f"{mlog} ended before the run finished")
        return
    outcome = Outcome(**noted)
    finish(prepared, outcome, recovered=f"{mlog} could not write the record when the run ended")


def _quarantine(store: Store, run_id: str, exc: BaseException) -> str:
    reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    try:
        where = store.quarantine_pending(run_id).relative_to(store.repo_root).as_posix()
    except MlogError as moved:
        return f"in-flight run {run_id} cannot be recorded ({reason}) nor moved aside ({moved})"
    return (
        f"in-flight run {run_id} cannot be recorded ({reason}); its marker was moved to "
        f"{where}/ so it no longer blocks mlog"
    )


def note_outcome(prepared: Prepared, outcome: Outcome) -> None:
    """Keep how the command ended beside its marker, so a recovery records what happened."""
    with contextlib.suppress(MlogError, OSError):
        prepared.store.write_outcome(prepared.run_id, dataclasses.asdict(outcome))


def _is_orphan(state: dict[str, Any]) -> bool:
    if state.get("host") != platform.node():
        return False
    mlog_alive = _alive(state.get("mlog_pid"), state.get("mlog_started"))
    child_alive = _alive(state.get("child_pid"), state.get("child_started"))
    return not mlog_alive and not child_alive


def _prepared_from_state(store: Store, run_id: str, state: dict[str, Any]) -> Prepared:
    return Prepared(
        store=store,
        run_id=run_id,
        alias=state["alias"],
        record=state["record"],
        artifacts=list(state.get("artifacts", [])),
        metrics_files=list(state.get("metrics_files", [])),
        patch=state.get("patch", ""),
        hash_algorithm=state.get("hash_algorithm", "xxh3_128"),
        before=dict(state.get("before") or {}),
    )


def _alive(pid: int | None, started: int | None) -> bool:
    if not pid:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return started is None or _process_start(pid) == started


def _process_start(pid: int | None) -> int | None:
    """Start time in clock ticks from /proc, so a reused pid is not mistaken for ours."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as handle:
            fields = handle.read().rsplit(b")", 1)[1].split()
        if fields[0] == b"Z":
            return -1  # a zombie has finished: never equal to a recorded start
        return int(fields[19])
    except (OSError, IndexError, ValueError):
        return None


# -- in-process runs ---------------------------------------------------------
@contextlib.contextmanager
def in_process_run(**kwargs: Any) -> Iterator[RunResult]:
    """``mlog.start_run()``: the same capture, with this process as the command."""
    options = RunOptions(
        argv=interpreter_argv(),
        data=tuple(kwargs["data"]),
        artifacts=tuple(kwargs["artifacts"]),
        params_files=tuple(kwargs["params_files"]),
        model=kwargs["model"],
        note=kwargs["note"],
        tags=kwargs["tags"],
        allow_dirty=kwargs["allow_dirty"],
    )
    prepared = prepare(options, Path.cwd())
    prepared.record["command"]["in_process"] = True
    result = RunResult(prepared.run_id, prepared.alias, 0)
    previous = os.environ.get(SPOOL_ENV)
    os.environ[SPOOL_ENV] = str(prepared.store.spool_path(prepared.run_id))
    started, before = time.monotonic(), resource.getrusage(resource.RUSAGE_SELF)
    try:
        yield result
    except BaseException as exc:
        code = 130 if isinstance(exc, KeyboardInterrupt) else 1
        _finish_in_process(prepared, result, code, started, before, exc)
        raise
    else:
        _finish_in_process(prepared, result, 0, started, before, None)
    finally:
        _restore_env(SPOOL_ENV, previous)


CODE_SHOWN = 2000
"""Characters of ``python -c CODE`` kept in the record (the rest is counted, not kept)."""


def interpreter_argv() -> tuple[str, ...]:
    """The command line of this Python process, as a user would retype it.

    ``sys.argv`` alone loses the interpreter and, for ``python -c CODE``, the code itself
    (``['-c']``); ``sys.orig_argv`` has both. Long code is truncated, and the argv is
    redacted like any other before it is written.
    """
    args = list(sys.argv)
    original = list(getattr(sys, "orig_argv", []) or [])
    if args[:1] == ["-c"] and "-c" in original:
        code = original[original.index("-c") + 1] if original[-1] != "-c" else ""
        if len(code) > CODE_SHOWN:
            code = f"{code[:CODE_SHOWN]}... [{len(code) - CODE_SHOWN} more characters]"
        return (sys.executable or "python", "-c", code, *args[1:])
    if args and args[0]:
        return (sys.executable or "python", *args)
    return (sys.executable or "python",)


def _finish_in_process(
    prepared: Prepared,
    result: RunResult,
    code: int,
    started: float,
    before: resource.struct_rusage,
    exc: BaseException | None,
) -> None:
    after = resource.getrusage(resource.RUSAGE_SELF)
    outcome = Outcome(
        exit_code=code,
        signal=None,
        received="SIGINT" if isinstance(exc, KeyboardInterrupt) else None,
        duration_s=round(time.monotonic() - started, 3),
        cpu_user_s=round(after.ru_utime - before.ru_utime, 3),
        cpu_system_s=round(after.ru_stime - before.ru_stime, 3),
        peak_rss_bytes=after.ru_maxrss * (1 if sys.platform == "darwin" else 1024),
    )
    done = finish(prepared, outcome)
    result.exit_code, result.record, result.path = done.exit_code, done.record, done.path


def _restore_env(name: str, previous: str | None) -> None:
    if previous is None:
        os.environ.pop(name, None)
    else:
        os.environ[name] = previous
