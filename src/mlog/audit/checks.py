"""Checks shared by ``mlog validate``, the pre-commit hooks and ``mlog check``.

Each check returns plain :class:`Finding` values instead of raising, so one pass
reports every problem of every record at once, which is what CI and auditors need.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mlog.errors import MlogError
from mlog.registry.events import event_problems
from mlog.storage import atomic, forking, records, yamlio
from mlog.storage.schema import problems
from mlog.storage.store import RECORD_FILE, Store, sidecar_digests

GUARDED_PREFIXES = (".mlog/runs", ".mlog/registry")
REHASHED_KINDS = ("file", "directory", "glob")


@dataclass(frozen=True)
class Finding:
    """One problem (``error``) or doubt (``warning``) about one file."""

    check: str
    path: str
    message: str
    severity: str = "error"
    run: str | None = None

    def to_json(self) -> dict[str, Any]:
        return dict(self.__dict__)


@dataclass(frozen=True)
class CheckReport:
    """Everything ``mlog check`` found, with counts of what it looked at."""

    findings: tuple[Finding, ...]
    counts: dict[str, int] = field(default_factory=dict)

    @property
    def errors(self) -> list[Finding]:
        return [f for f in self.findings if f.severity == "error"]

    @property
    def warnings(self) -> list[Finding]:
        return [f for f in self.findings if f.severity == "warning"]

    def failed(self, *, strict: bool = False) -> bool:
        return bool(self.errors or (strict and self.warnings))

    def to_json(self, *, strict: bool = False) -> dict[str, Any]:
        return {
            "ok": not self.failed(strict=strict),
            "checked": dict(self.counts),
            "errors": len(self.errors),
            "warnings": len(self.warnings),
            "findings": [finding.to_json() for finding in self.findings],
        }


# -- files: schema and integrity -------------------------------------------------


def validate_files(store: Store, paths: list[Path]) -> list[tuple[str, str]]:
    """``(path, problem)`` for every file that is not a valid config, record or event."""
    found: list[tuple[str, str]] = []
    for path in dict.fromkeys(_sealing_record(store, p) for p in paths):
        shown = _shown(store, path)
        try:
            found.extend((shown, message) for message in _file_problems(store, path))
        except MlogError as exc:
            found.append((shown, _strip_source(str(exc), path)))
    return found


def _sealing_record(store: Store, path: Path) -> Path:
    """A file beside a record (series.jsonl, patch.diff) is checked through the record."""
    try:
        parts = path.resolve().relative_to(store.runs_dir.resolve()).parts
    except ValueError:
        return path
    if parts and records.MONTH.match(parts[0]):
        parts = parts[1:]  # runs/<YYYY-MM>/<id>/...: filed by month
    if len(parts) >= 2 and parts[-1] != RECORD_FILE:
        return store.record_path(parts[0])
    return path


def _file_problems(store: Store, path: Path) -> list[str]:
    resolved = path.resolve()
    if resolved == store.config_path.resolve():
        return config_problems(yamlio.load_file(path))
    if path.name == RECORD_FILE:
        return record_problems(yamlio.load_file(path, allow_aliases=False), path)
    if _is_event_path(store, resolved):
        return event_problems(yamlio.load_file(path, allow_aliases=False), path)
    return []


def _is_event_path(store: Store, resolved: Path) -> bool:
    try:
        parts = resolved.relative_to(store.registry_dir.resolve()).parts
    except ValueError:
        return False
    return len(parts) == 2 and resolved.suffix == ".yaml"


def config_problems(document: object) -> list[str]:
    """Schema violations of the config (alias bombs are refused by yamlio on loading)."""
    return problems(document if document is not None else {"schema_version": 1}, "config")


def record_problems(document: object, path: Path) -> list[str]:
    """Schema violations, a wrong integrity hash or sidecar digest, and an id that disagrees
    with its directory."""
    if not isinstance(document, dict):
        return ["a record must be a mapping"]
    found = problems(document, "run")
    if found:
        return found
    found.extend(records.integrity_problems(document, sidecar_digests(path.parent)))
    if document.get("id") != path.parent.name:
        found.append(f"id {document.get('id')} does not match its directory {path.parent.name}")
    return found


def _shown(store: Store, path: Path) -> str:
    try:
        return path.resolve().relative_to(store.repo_root).as_posix()
    except ValueError:
        return str(path)


def _strip_source(message: str, path: Path) -> str:
    prefix = f"{path}: "
    return message[len(prefix) :] if message.startswith(prefix) else message


# -- the whole repository (mlog check) ---------------------------------------------


@dataclass
class _Loaded:
    """Valid records and events, keyed for the checks that relate them."""

    records: dict[str, dict[str, Any]] = field(default_factory=dict)
    events: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    # run id -> content key of records parsed in this pass (not taken from the cache)
    parsed: dict[str, str] = field(default_factory=dict)
    # content key -> [commit, tree] of records verified in this pass or an earlier one
    verified: dict[str, list[str]] = field(default_factory=dict)
    # records parsed in this pass whose signature no longer matches their content
    signed: list[Finding] = field(default_factory=list)
    # run id -> the alias number on its ``alias:`` line, when this pass read every record
    heads: dict[str, int] | None = None


def check_repository(store: Store, *, full: bool = False) -> CheckReport:
    """Run every check over the repository; ``full`` also re-hashes data and artifacts on disk."""
    findings: list[Finding] = []
    loaded = _load_all(store, findings, use_cache=not full)
    findings.extend(history_findings(store))
    findings.extend(cache_findings(store))
    findings.extend(commit_findings(store, loaded.records))
    findings.extend(alias_findings(store, loaded.heads))
    findings.extend(loaded.signed)  # checked where each record was parsed
    _remember_verified(store, loaded, {finding.run for finding in loaded.signed})
    for model, model_events in loaded.events.items():
        findings.extend(registry_findings(store, model, model_events, full=full))
    counts = {
        "records": len(store.run_ids()),
        "events": sum(len(events) for events in loaded.events.values()),
    }
    imported = sum(1 for record in loaded.records.values() if "imported" in record)
    if imported:  # schema and integrity checked; commit reachability skipped
        counts["imported"] = imported
    if full:
        rehash, counts["rehashed"] = rehash_findings(store, loaded.records)
        findings.extend(rehash)
    return CheckReport(tuple(findings), counts)


def cache_findings(store: Store) -> list[Finding]:
    """Files under ``.mlog/cache/`` that are committed: caches are per clone, and one that
    came with the repository (verified records, signature verdicts) is never trusted."""
    return [
        Finding(
            "cache",
            path,
            "a per-clone cache is committed; mlog never trusts it "
            f"(remove it from git: `git rm --cached {path}`)",
        )
        for path in store.committed_caches()
    ]


def _load_all(store: Store, findings: list[Finding], *, use_cache: bool = True) -> _Loaded:
    """Parse each file once: report its problems, keep it for the cross-file checks if valid.

    A record whose exact bytes (and signature file) an earlier ``mlog check`` of the same
    mlog version verified is not parsed again: only its commit and tree are taken from
    ``.mlog/cache/check-verified.json`` for the reachability check. ``--full`` (or
    ``use_cache=False``) re-validates every record. New records are parsed on every core
    when there are many.
    """
    loaded = _Loaded()
    if store.config_path.exists():
        findings.extend(
            Finding("schema", path, message)
            for path, message in validate_files(store, [store.config_path])
        )
    cache = _read_verified(store) if use_cache else {}
    todo: list[tuple[str, str | None]] = []
    run_ids = store.run_ids()
    keys: list[str | None] = [None] * len(run_ids)
    if cache:
        keys = list(_content_keys(store, run_ids))
    for run_id, key in zip(run_ids, keys, strict=True):
        if key is None:  # nothing to look up: the workers hash each record as they parse it
            todo.append((run_id, None))
            continue
        known = cache.get(key)
        if known is not None:
            loaded.records[run_id] = {"code": {"commit": known[0], "tree": known[1]}}
            if len(known) > 2 and known[2] == "imported":  # its commit need not be reachable here
                loaded.records[run_id]["imported"] = True
            loaded.verified[key] = known
        else:
            todo.append((run_id, key))
    heads: dict[str, int] | None = None if cache else {}  # every record is read: note aliases
    for run_id, key, found, record, head in _validated(store, todo, files=not use_cache):
        if heads is not None and head is not None:
            heads[run_id] = head
        findings.extend(f for f in found if f.check != "signature")
        loaded.signed.extend(f for f in found if f.check == "signature")
        if record is not None:
            loaded.records[run_id] = record
            loaded.parsed[run_id] = key
    for model, path in _event_paths(store):
        event = _load_valid(store, path, event_problems, None, findings)
        if event is not None:
            loaded.events.setdefault(model, []).append(event)
    loaded.heads = heads
    return loaded


def _load_valid(
    store: Store,
    path: Path,
    problems_of: Callable[[object, Path], list[str]],
    run_id: str | None,
    findings: list[Finding],
    raw: bytes | None = None,
) -> dict[str, Any] | None:
    """The document at ``path`` (parsed from ``raw`` when its bytes were read already) if it
    is valid; its problems go to ``findings``."""
    try:
        if raw is None:
            document = yamlio.load_file(path, allow_aliases=False)
        else:
            document = yamlio.loads(raw, source=str(path), allow_aliases=False)
    except MlogError as exc:
        message = "file is missing" if not path.exists() else _strip_source(str(exc), path)
        findings.append(Finding("schema", _shown(store, path), message, run=run_id))
        return None
    found = problems_of(document, path)
    if found:  # the shown path costs a resolve(): only for the few files with problems
        shown = _shown(store, path)
        findings.extend(
            Finding("integrity" if "integrity" in m else "schema", shown, m, run=run_id)
            for m in found
        )
    return document if not found and isinstance(document, dict) else None


def _validate_record(
    root: str, item: tuple[str, str | None, bool]
) -> tuple[str, list[Finding], dict[str, Any] | None, int | None]:
    """One record's content key (hashed here when not given, before parsing, so a record
    changed meanwhile is not remembered as verified), its schema, integrity and signature
    findings, and what the other checks need of it when it is valid (with its files, for
    ``--full``, when the item's last field says so)."""
    run_id, key, files = item
    store = forking.store_for(root)
    path = store.record_path(run_id)
    try:  # read once: the key is the hash of the very bytes parsed
        raw: bytes | None = path.read_bytes()
    except OSError:
        raw = None  # reported as unreadable or missing below
    if key is None:
        key = "" if raw is None else _content_key(store, run_id, raw)
    from mlog.query.index import alias_in_head  # loaded before the workers fork

    head = None if raw is None else alias_in_head(raw)
    found: list[Finding] = []
    record = _load_valid(store, path, record_problems, run_id, found, raw)
    if record is None:
        return key, found, None, head
    found.extend(signature_findings(store, {run_id: record}))
    return key, found, _kept(record, files), head


def _kept(record: dict[str, Any], files: bool) -> dict[str, Any]:
    """What the checks across records need of a valid one: its commit and tree for
    reachability, whether it was imported, and its files only for ``--full``, so that
    memory does not grow with whole records."""
    code = record.get("code")
    kept: dict[str, Any] = {}
    if isinstance(code, dict):
        kept["code"] = {name: code[name] for name in ("commit", "tree") if name in code}
    if "imported" in record:
        kept["imported"] = True  # only its presence counts
    if files:
        kept.update((name, record[name]) for name in ("artifacts", "data") if name in record)
    return kept


_PARALLEL_MIN = 1000


def _validated(
    store: Store, todo: list[tuple[str, str | None]], *, files: bool
) -> Iterator[tuple[str, str, list[Finding], dict[str, Any] | None, int | None]]:
    """Each record validated, on every core when there are many; ``files`` keeps what
    ``--full`` re-hashes."""
    from mlog.query import index  # noqa: F401  (imported once here, not in every worker)

    items = [(run_id, key, files) for run_id, key in todo]
    results = forking.mapped(store, _validate_record, items, each=_PARALLEL_MIN // 2)
    for (run_id, _), (key, found, record, head) in zip(todo, results, strict=True):
        yield run_id, key, found, record, head


_VERIFIED_FILE = "check-verified.json"


def _content_keys(store: Store, run_ids: list[str]) -> list[str]:
    """:func:`_content_key` of each run, on every core when there are many (each key is an
    open or two and a read: 1.5 s at 100,000 runs on one core)."""
    return list(forking.mapped(store, _key_in_worker, run_ids, each=2 * _PARALLEL_MIN))


def _key_in_worker(root: str, run_id: str) -> str:
    return _content_key(forking.store_for(root), run_id)


def _content_key(store: Store, run_id: str, raw: bytes | None = None) -> str:
    """The hash of a record's bytes (``raw`` when read already) and of its signature file,
    if any ("" if unreadable). Read by path text and unbuffered: a check that finds every
    record verified before does this for each of them (2.9 s of Path work at 100,000)."""
    import xxhash

    from mlog.storage.signing import SIGNATURE_SUFFIX

    folder = store.run_folder(run_id)
    digest = xxhash.xxh3_128()
    try:
        digest.update(_read(f"{folder}/{RECORD_FILE}") if raw is None else raw)
    except OSError:
        return ""
    with contextlib.suppress(OSError):
        digest.update(b"\0" + _read(f"{folder}/{RECORD_FILE}{SIGNATURE_SUFFIX}"))
    return digest.hexdigest()


def _read(path: str) -> bytes:
    with open(path, "rb", buffering=0) as file:
        return file.readall()


def _cache_version() -> str:
    """mlog's installed version and the record schema version: either change drops the cache."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        installed = version("mlog-cli")
    except PackageNotFoundError:
        installed = "unknown"
    return f"{installed}/{records.SCHEMA_VERSION}"


def _read_verified(store: Store) -> dict[str, list[str]]:
    path = store.trusted_cache(_VERIFIED_FILE)  # never one that came with the repository
    if path is None:
        return {}
    try:
        document = json.loads(path.read_text("utf-8"))
    except (OSError, ValueError):
        return {}
    if not isinstance(document, dict) or document.get("version") != _cache_version():
        return {}
    found = document.get("records")
    return found if isinstance(found, dict) else {}


def _remember_verified(store: Store, loaded: _Loaded, refused: set[str | None]) -> None:
    """Keep the keys of every record that passed its own checks, for the next run."""
    verified = dict(loaded.verified)
    for run_id, key in loaded.parsed.items():
        code = loaded.records[run_id].get("code") or {}
        if key and run_id not in refused:
            mark = "imported" if "imported" in loaded.records[run_id] else ""
            verified[key] = [str(code.get("commit")), str(code.get("tree")), mark]
    document = {"version": _cache_version(), "records": verified}
    with contextlib.suppress(OSError):  # a read-only cache only costs a slower next check
        atomic.write_text(store.local_cache() / _VERIFIED_FILE, json.dumps(document))


def _event_paths(store: Store) -> Iterator[tuple[str, Path]]:
    from mlog.registry import events

    for model in events.models(store):
        for path in events.event_files(store, model):
            yield model, path


def history_findings(store: Store) -> list[Finding]:
    """Records and events that git history (or the working tree) shows modified or deleted."""
    from mlog.storage import gitio

    root = store.repo_root
    changes = gitio.history_changes(root, GUARDED_PREFIXES)
    changes += gitio.uncommitted_changes(root, GUARDED_PREFIXES, staged_only=False)
    by_path: dict[str, list[gitio.PathChange]] = {}
    for change in changes:
        by_path.setdefault(change.path, []).append(change)
    return [_history_finding(path, found) for path, found in sorted(by_path.items())]


def _history_finding(path: str, changes: list[Any]) -> Finding:
    verb = {"D": "deleted", "M": "modified", "T": "replaced"}
    where = [
        f"{verb.get(c.status, 'changed')} in commit {c.commit[:12]}"
        if c.commit
        else f"{verb.get(c.status, 'changed')} in the working tree (not committed)"
        for c in changes
    ]
    message = f"{'; '.join(where)} after it was added (records and events are immutable)"
    return Finding("history", path, message, run=_run_of(path))


def _run_of(path: str) -> str | None:
    return records.run_of_path(path)


def commit_findings(store: Store, loaded: dict[str, dict[str, Any]]) -> list[Finding]:
    """Every recorded commit must be reachable; a rewritten history is told from a lost one."""
    from mlog.storage import gitio

    history = gitio.reachable(store.repo_root)
    found = []
    for run_id, record in loaded.items():
        if "imported" in record:  # made elsewhere: its commit need not be in this repository
            continue
        commit, tree = record["code"]["commit"], record["code"]["tree"]
        if commit in history.commits:
            continue
        path = _shown(store, store.record_path(run_id))
        found.append(_unreachable(path, run_id, commit, tree, history))
    return found


def _unreachable(path: str, run_id: str, commit: str, tree: str, history: Any) -> Finding:
    if tree in history.trees:
        message = (
            f"commit unreachable: {commit[:12]} (history rewritten?); tree identical: "
            f"the same code is commit {history.trees[tree][:12]}"
        )
        return Finding("commit", path, message, "warning", run_id)
    if history.shallow:
        message = (
            f"unverifiable: commit {commit[:12]} is not in this shallow clone "
            "(fetch the full history, e.g. fetch-depth: 0)"
        )
        return Finding("commit", path, message, "warning", run_id)
    message = (
        f"commit unreachable: {commit[:12]} is on no branch or tag "
        "(rebased or force-pushed? push the original commit to a branch or tag)"
    )
    return Finding("commit", path, message, run=run_id)


def signature_findings(store: Store, loaded: dict[str, dict[str, Any]]) -> list[Finding]:
    """Signed run records whose content changed after signing."""
    from mlog.registry.signatures import record_problem

    found = []
    for run_id, record in loaded.items():
        problem = record_problem(store, run_id, record)
        if problem:
            path = _shown(store, store.record_path(run_id))
            found.append(Finding("signature", path, problem, run=run_id))
    return found


def alias_findings(store: Store, heads: dict[str, int] | None = None) -> list[Finding]:
    """Short aliases that name several runs after a merge: ``vN`` then refuses to resolve.
    ``heads``: the alias line of every record, when the caller read them all."""
    from mlog.query.index import alias_collisions

    found = []
    for alias, run_ids in sorted(alias_collisions(store, heads).items()):
        message = f"alias {alias} names {len(run_ids)} runs: {', '.join(run_ids)} (use full ids)"
        path = _shown(store, store.record_path(run_ids[-1]))
        found.append(Finding("alias", path, message, "warning", run_ids[-1]))
    return found


# -- registry: the fold's conflicts, chain breaks, signatures and gate results --------


def registry_findings(
    store: Store, model: str, events: list[dict[str, Any]], *, full: bool = False
) -> list[Finding]:
    """What the registry fold says is wrong with a model; no rule of its own lives here."""
    from mlog.registry import fold, signatures

    directory = _shown(store, store.registry_dir / model)
    judged = signatures.trust(store, model, events)
    found = [
        Finding("signature", _event_path(store, event), judged[event["id"]].problem(event))
        for event in events
        if judged[event["id"]].status == "bad signature" or not judged[event["id"]].counts
    ]
    found += _missing_runs(store, model, events)
    state = fold.fold(model, events, judged)
    found += [Finding("registry", directory, conflict) for conflict in state.conflicts]
    for version in state.in_stage("production"):
        problem = _production_problem(store, state, version, full)
        if problem:
            message = f"gate violation: {model}@{version.version} is in production but {problem}"
            found.append(Finding("gate", directory, message, run=version.run))
    return found


def _missing_runs(store: Store, model: str, events: list[dict[str, Any]]) -> list[Finding]:
    """Events that name a run whose record is gone (deleted, or lost in a squash)."""
    return [
        Finding(
            "registry",
            _event_path(store, event),
            f"{event['kind']} event of model {model} names run {event['run']}, whose record is "
            "missing from .mlog/runs (restore it from git history)",
            run=event["run"],
        )
        for event in events
        if event.get("run") and not store.record_path(event["run"]).exists()
    ]


def _event_path(store: Store, event: dict[str, Any]) -> str:
    return _shown(store, store.registry_dir / event["model"] / f"{event['id']}.yaml")


def _production_problem(store: Store, state: Any, version: Any, full: bool) -> str | None:
    """The failed gates of a production version, by the same rule ``promote`` applies."""
    from mlog.registry import fold

    promotions = [h for h in version.history if h["kind"] == "promote"]
    if promotions and promotions[-1]["forced"] and (promotions[-1]["reason"] or "").strip():
        return None  # overridden on the record, with a reason
    try:
        gates = fold.check_gates(store, state, version, "production", on_disk=full)
    except MlogError as exc:
        return f"its run {version.run} has no valid record ({exc})"
    failed = [f"{gate.name}: {gate.detail}" for gate in gates if not gate.passed]
    if not failed:
        return None
    return f"{len(failed)} gate(s) fail: {'; '.join(failed)} (and it was not forced with a reason)"


# -- --full: data and artifacts on disk ----------------------------------------------


def rehash_findings(store: Store, loaded: dict[str, dict[str, Any]]) -> tuple[list[Finding], int]:
    """Files on disk must match the hash some record gives them; absent ones are skipped."""
    found, rehashed = [], 0
    for (label, path), claims in sorted(_declared_files(loaded).items()):
        full = store.repo_root / path
        if "*" not in path and not full.exists():
            continue
        rehashed += 1
        problem = _rehash_problem(store, path, claims)
        if problem:
            run_id = claims[-1][0]
            shown = _shown(store, store.record_path(run_id))
            severity = "warning" if problem.startswith("cannot") else "error"
            found.append(Finding(label, shown, f"{label} {path}: {problem}", severity, run_id))
    return found, rehashed


def _declared_files(loaded: dict[str, dict[str, Any]]) -> dict[tuple[str, str], list[Any]]:
    """``(artifact|dataset, path) -> [(run id, kind, digest)]``, oldest run first."""
    declared: dict[tuple[str, str], list[Any]] = {}
    for run_id in sorted(loaded):
        record = loaded[run_id]
        entries = [("artifact", a) for a in record.get("artifacts") or []]
        entries += [("dataset", d) for d in (record.get("data") or {}).values()]
        for label, entry in entries:
            if entry.get("hash") and entry.get("kind", "file") in REHASHED_KINDS:
                claim = (run_id, entry.get("kind", "file"), entry["hash"])
                declared.setdefault((label, entry["path"]), []).append(claim)
    return declared


def _rehash_problem(store: Store, path: str, claims: list[Any]) -> str | None:
    """None when the content on disk matches any claim (the shared ``hashing.rehash`` rule)."""
    from mlog.storage.hashing import rehash

    current: dict[str, str | None] = {}
    for _run_id, kind, digest in claims:
        algorithm = digest.partition(":")[0]
        if algorithm not in current:
            found = rehash(store.repo_root, path, digest, kind)
            if found.status == "unreadable":
                return f"cannot re-hash ({found.error})"
            current[algorithm] = found.actual
        if current[algorithm] == digest:
            return None
    newest = claims[-1]
    return (
        f"content on disk matches no recorded hash (run {newest[0]} recorded {newest[2]}, "
        f"now {current.get(newest[2].partition(':')[0])})"
    )
