"""The model registry: versions, stages, gates and approvals, folded from append-only events.

Nothing here stores state. Every action appends one event under
``.mlog/registry/<model>/`` and the current state is recomputed by folding the
events in time order, so branches that both add events merge without a git
conflict. A promotion archives only the production versions its author could
see (listed in its ``details``), so when two branches promote different versions
the merged fold shows two production versions and reports the conflict instead
of silently picking one; a new promotion on the merged branch resolves it.
"""

from __future__ import annotations

import os
import re
from dataclasses import asdict, dataclass, field
from typing import Any

from mlog.compare.validation import Against
from mlog.errors import GateError, MlogError, NotFoundError, RecordError, UsageError
from mlog.registry import events
from mlog.storage import gitio, records
from mlog.storage.store import Store

STAGES = ("staging", "production", "archived")
GATES = ("succeeded", "not_dirty", "artifacts", "validation", "data_review", "approvals")
DEFAULT_GATES: dict[str, tuple[str, ...]] = {
    "staging": ("succeeded", "not_dirty", "artifacts"),
    "production": GATES,
}
DEFAULT_APPROVALS = {"staging": 0, "production": 1}
REGRESSED_VERDICTS = frozenset({"regressed"})
_TARGET = re.compile(
    r"^(?P<model>[A-Za-z0-9_][A-Za-z0-9_.-]*)@(?P<version>[A-Za-z0-9_][A-Za-z0-9_.-]*)$"
)


# ------------------------------------------------------------------ state


@dataclass
class Approval:
    by: str
    at: str
    reason: str | None
    event: str


@dataclass
class Version:
    """One immutable model version, pinned to a run, its commit and its artifact hashes."""

    model: str
    version: str
    run: str
    run_hash: str
    commit: str | None
    artifacts: list[dict[str, Any]]
    registered_at: str
    registered_by: str
    stage: str | None = None
    forced: bool = False
    approvals: list[Approval] = field(default_factory=list)
    history: list[dict[str, Any]] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class ModelState:
    """What the fold of one model's events says now."""

    model: str
    versions: dict[str, Version] = field(default_factory=dict)
    events: int = 0
    data_review: dict[str, bool] = field(default_factory=dict)
    champion_event: dict[str, Any] | None = None
    conflicts: list[str] = field(default_factory=list)

    def in_stage(self, stage: str) -> list[Version]:
        return [v for v in self.versions.values() if v.stage == stage]

    @property
    def production(self) -> Version | None:
        """The production version, or None when there is none or a merge left two."""
        found = self.in_stage("production")
        return found[0] if len(found) == 1 else None

    @property
    def champion(self) -> str | None:
        """The champion rule, the one place it is written (docs/champion.md):

        the production version's run when there is exactly one production version, else
        the run of the latest ``champion`` event, else none.
        """
        if self.production:
            return self.production.run
        return self.champion_event["run"] if self.champion_event else None

    @property
    def champion_source(self) -> str | None:
        """Where :attr:`champion` comes from: ``production``, ``champion`` (an event) or None."""
        if self.production:
            return "production"
        return "champion" if self.champion_event else None

    def version(self, name: str) -> Version:
        if name not in self.versions:
            known = ", ".join(self.versions) or "none"
            raise NotFoundError(
                f"unknown version {self.model}@{name} (registered: {known}; see `mlog registry ls`)"
            )
        return self.versions[name]

    def to_json(self) -> dict[str, Any]:
        return {
            "model": self.model,
            "champion": self.champion,
            "production": [v.version for v in self.in_stage("production")],
            "conflicts": list(self.conflicts),
            "events": self.events,
            "versions": [_version_row(v) for v in self.versions.values()],
        }


def _version_row(version: Version) -> dict[str, Any]:
    return {
        "version": version.version,
        "run": version.run,
        "stage": version.stage,
        "commit": version.commit,
        "registered_at": version.registered_at,
        "registered_by": version.registered_by,
        "approvals": sorted({a.by for a in version.approvals}),
        "forced": version.forced,
    }


# ------------------------------------------------------------------ fold


def load_state(store: Store, model: str) -> ModelState:
    """Fold a model's events; an unknown model is a ``NotFoundError``."""
    loaded = events.load_events(store, model)
    if not loaded:
        known = ", ".join(events.models(store)) or "none yet"
        raise NotFoundError(
            f"unknown model {model!r} (registered models: {known}; "
            "register one with `mlog register RUN --model NAME`)"
        )
    return fold(model, loaded)


def fold(model: str, loaded: list[dict[str, Any]]) -> ModelState:
    """The state after applying ``loaded`` (oldest first); pure, so it is easy to test."""
    state = ModelState(model=model, events=len(loaded))
    for event in loaded:
        _APPLY[event["kind"]](state, event)
    state.conflicts.extend(_chain_problems(loaded))
    production = state.in_stage("production")
    if len(production) > 1:
        names = ", ".join(v.version for v in production)
        state.conflicts.insert(
            0,
            f"{model} has {len(production)} production versions after a merge ({names}); "
            f"resolve with `mlog promote {model}@VERSION --to production`",
        )
    return state


def _apply_register(state: ModelState, event: dict[str, Any]) -> None:
    name, details = event["version"], event.get("details") or {}
    existing = state.versions.get(name)
    if existing is not None:
        state.conflicts.append(
            f"{state.model}@{name} was registered twice (runs {existing.run} and {event['run']}), "
            "probably on two branches; the first registration is kept"
        )
        return
    state.versions[name] = Version(
        model=state.model,
        version=name,
        run=event["run"],
        run_hash=event["run_hash"],
        commit=details.get("commit"),
        artifacts=list(details.get("artifacts") or []),
        registered_at=event["at"],
        registered_by=event["by"],
        history=[_history_entry(event)],
    )


def _apply_promote(state: ModelState, event: dict[str, Any]) -> None:
    version = state.versions.get(event["version"])
    if version is None:
        state.conflicts.append(f"promote event {event['id']} names unknown version")
        return
    for archived in (event.get("details") or {}).get("archived", []):
        previous = state.versions.get(archived)
        if previous is not None and previous.stage == "production":
            previous.stage = "archived"
            previous.history.append(_history_entry(event, stage="archived"))
    version.stage = event["stage"]
    version.forced = bool(event.get("forced"))
    version.history.append(_history_entry(event))


def _apply_approve(state: ModelState, event: dict[str, Any]) -> None:
    version = state.versions.get(event["version"])
    if version is None:
        state.conflicts.append(f"approve event {event['id']} names unknown version")
        return
    if any(a.by == event["by"] for a in version.approvals):
        return  # the same person on two branches: one approval, not two
    version.approvals.append(Approval(event["by"], event["at"], event.get("reason"), event["id"]))
    version.history.append(_history_entry(event))


def _apply_champion(state: ModelState, event: dict[str, Any]) -> None:
    if event.get("run"):
        state.champion_event = event


def _apply_data_review(state: ModelState, event: dict[str, Any]) -> None:
    """``details.flagged`` sets or clears the flag, for one run or (no run) the whole model."""
    flagged = bool((event.get("details") or {}).get("flagged"))
    state.data_review[event.get("run") or "*"] = flagged


_APPLY = {
    "register": _apply_register,
    "promote": _apply_promote,
    "approve": _apply_approve,
    "champion": _apply_champion,
    "data_review": _apply_data_review,
}


def _history_entry(event: dict[str, Any], stage: str | None = None) -> dict[str, Any]:
    details = event.get("details") or {}
    return {
        "event": event["id"],
        "kind": event["kind"],
        "at": event["at"],
        "by": event["by"],
        "stage": stage or event.get("stage"),
        "from": details.get("from"),
        "forced": bool(event.get("forced")),
        "reason": event.get("reason"),
    }


def _chain_problems(loaded: list[dict[str, Any]]) -> list[str]:
    """Forks (concurrent histories) and links to events that no longer exist (deleted)."""
    hashes = {event["integrity"]["hash"] for event in loaded}
    found = [
        f"event {event['id']} follows an event that is missing (was an event file deleted?)"
        for event in loaded
        if event["prev"] is not None and event["prev"] not in hashes
    ]
    for prev, ids in events.forks(loaded):
        after = "the first event" if prev == "None" else f"{prev[:19]}..."
        found.append(f"concurrent histories merged: events {', '.join(ids)} all follow {after}")
    return found


def all_states(store: Store) -> list[ModelState]:
    return [load_state(store, model) for model in events.models(store)]


def problems(store: Store) -> list[str]:
    """Registry problems for ``mlog check``: malformed events, merge conflicts, broken chains."""
    found: list[str] = []
    for model in events.models(store):
        try:
            found.extend(load_state(store, model).conflicts)
        except MlogError as exc:
            found.append(str(exc))
    return found


def state_if_any(store: Store, model: str) -> ModelState | None:
    """The folded state of a model, or None when it has no events yet."""
    return load_state(store, model) if events.event_files(store, model) else None


def production_run(store: Store, model: str) -> str | None:
    """The run of the model's single production version, else None."""
    state = state_if_any(store, model)
    production = state.production if state else None
    return production.run if production else None


def validation_target(store: Store, model: str) -> Against | None:
    """The champion (by :attr:`ModelState.champion`) a run of ``model`` is judged against."""
    state = state_if_any(store, model)
    if state is None or state.champion is None:
        return None
    run_id = state.champion
    if not store.has_run(run_id):
        raise NotFoundError(
            f"the champion of model {model} is run {run_id}, but its record is "
            f"missing from .mlog/runs (restore it from git, or set a new one with "
            f"`mlog champion RUN --model {model}`)"
        )
    return Against(run_id, model, str(state.champion_source), store.load_record(run_id))


# ------------------------------------------------------------------ references


def parse_target(target: str) -> tuple[str, str]:
    """Split ``MODEL@VERSION``; anything else is a usage error that shows the form."""
    match = _TARGET.match(target.strip())
    if not match:
        raise UsageError(f"expected MODEL@VERSION (e.g. fraud@v2), got {target!r}")
    return match.group("model"), match.group("version")


def resolve_version(store: Store, target: str) -> Version:
    model, name = parse_target(target)
    return load_state(store, events.check_model_name(model)).version(name)


def who(store: Store, by: str | None) -> str:
    """``--by``, else the identity git would commit as (env, then config): every event names one."""
    name = (
        (by or "").strip()
        or os.environ.get("GIT_AUTHOR_EMAIL", "").strip()
        or gitio.user_identity(store.repo_root)
    )
    if not name:
        raise UsageError("cannot tell who you are: set `git config user.email`, or pass --by EMAIL")
    return name


# ------------------------------------------------------------------ register


def register(
    store: Store,
    run_id: str,
    *,
    model: str | None = None,
    version: str | None = None,
    by: str | None = None,
    reason: str | None = None,
) -> Version:
    """Append a register event pinning the run, its commit and its artifact hashes."""
    person = who(store, by)
    record = load_verified_record(store, run_id, None)
    name = events.check_model_name(model or record.get("model") or "default")
    with store.lock("registry-actions"):
        state = _state_or_empty(store, name)
        _refuse_double_registration(state, run_id)
        label = _new_version_name(state, version)
        details = {
            "commit": (record.get("code") or {}).get("commit"),
            "alias": record.get("alias"),
            "artifacts": _pinned_artifacts(record),
        }
        event = events.append_event(
            store,
            name,
            "register",
            by=person,
            reason=reason,
            run=run_id,
            run_hash=record["integrity"]["hash"],
            version=label,
            details=details,
        )
    return load_state(store, name).versions[event["version"]]


def _state_or_empty(store: Store, model: str) -> ModelState:
    loaded = events.load_events(store, model)
    return fold(model, loaded) if loaded else ModelState(model=model)


def _refuse_double_registration(state: ModelState, run_id: str) -> None:
    for existing in state.versions.values():
        if existing.run == run_id:
            raise GateError(
                f"run {run_id} is already registered as {state.model}@{existing.version} "
                "(versions are immutable; train a new run to register a new version)"
            )


def _new_version_name(state: ModelState, requested: str | None) -> str:
    if requested is not None:
        if not events.MODEL_NAME.match(requested):
            raise UsageError(f"invalid version {requested!r}: use letters, digits, '_', '-', '.'")
        if requested in state.versions:
            raise GateError(
                f"{state.model}@{requested} already exists (versions are immutable; "
                "omit --version to get the next vN)"
            )
        return requested
    numbers = [n for v in state.versions if (n := records.alias_number(v)) is not None]
    return f"v{max(numbers, default=0) + 1}"


def _pinned_artifacts(record: dict[str, Any]) -> list[dict[str, Any]]:
    return [
        {"path": a["path"], "hash": a.get("hash"), "size": a.get("size")}
        for a in record.get("artifacts") or []
        if a.get("present")
    ]


def load_verified_record(store: Store, run_id: str, pinned_hash: str | None) -> dict[str, Any]:
    """The run's record, refusing one that was edited (or differs from what was pinned)."""
    record = store.load_record(run_id)
    actual = records.integrity_hash(record)
    stored = (record.get("integrity") or {}).get("hash")
    if actual != stored or (pinned_hash is not None and actual != pinned_hash):
        raise RecordError(
            f"run {run_id}: record content does not match its integrity hash "
            "(it was edited after it was written; restore it with `git checkout`)"
        )
    return record


# ------------------------------------------------------------------ gates


@dataclass(frozen=True)
class GateResult:
    name: str
    passed: bool
    detail: str


class GatesFailed(GateError):
    """A promotion refused by its gates; carries every result so all can be shown at once."""

    def __init__(self, message: str, gates: list[GateResult]) -> None:
        super().__init__(message, details={"gates": [asdict(gate) for gate in gates]})
        self.gates = gates


@dataclass(frozen=True)
class GatePolicy:
    """Which gates guard a stage and how many distinct approvers it needs."""

    gates: tuple[str, ...]
    approvals: int


def gate_policy(store: Store, stage: str) -> GatePolicy:
    """The ``registry:`` section of config for ``stage``, over the documented defaults."""
    section = store.config().raw.get("registry") or {}
    configured = (section.get("gates") or {}).get(stage)
    chosen = set(DEFAULT_GATES.get(stage, ()) if configured is None else configured)
    approvals = (section.get("approvals") or {}).get(stage, DEFAULT_APPROVALS.get(stage, 0))
    return GatePolicy(tuple(g for g in GATES if g in chosen), int(approvals))


@dataclass(frozen=True)
class _GateInput:
    store: Store
    state: ModelState
    version: Version
    record: dict[str, Any]
    policy: GatePolicy


def check_gates(store: Store, state: ModelState, version: Version, stage: str) -> list[GateResult]:
    """Every gate configured for ``stage``, in the fixed order, each with a reason."""
    record = load_verified_record(store, version.run, version.run_hash)
    policy = gate_policy(store, stage)
    given = _GateInput(store, state, version, record, policy)
    return [_GATE_CHECKS[name](given) for name in policy.gates]


def _gate_succeeded(given: _GateInput) -> GateResult:
    status = given.record.get("status")
    return GateResult("succeeded", status == "succeeded", f"run status is {status}")


def _gate_not_dirty(given: _GateInput) -> GateResult:
    dirty = bool((given.record.get("code") or {}).get("dirty"))
    detail = "run was recorded from a dirty working tree" if dirty else "run was recorded clean"
    return GateResult("not_dirty", not dirty, detail)


def _gate_artifacts(given: _GateInput) -> GateResult:
    checked = verify_artifacts(given.store, given.version)
    if not checked:
        return GateResult("artifacts", False, "the run recorded no artifacts (use --artifact)")
    bad = [f"{a['path']} {a['status']}" for a in checked if a["status"] != "ok"]
    detail = ", ".join(bad) if bad else f"{len(checked)} artifact(s) match their hashes"
    return GateResult("artifacts", not bad, detail)


def _gate_validation(given: _GateInput) -> GateResult:
    if given.state.champion == given.version.run:
        return GateResult("validation", True, "this run is the champion")
    report = _current_validation(given.store, given.record)
    verdict = report.get("verdict") if isinstance(report, dict) else None
    if verdict is None:
        return GateResult("validation", True, "no validation report (no champion to compare)")
    regressed = str(verdict).lower() in REGRESSED_VERDICTS
    worse = [
        str(m.get("name"))
        for m in report.get("metrics") or []
        if isinstance(m, dict) and m.get("verdict") in REGRESSED_VERDICTS
    ]
    against = (report.get("champion") or {}).get("run")
    detail = f"verdict against the champion{f' {against}' if against else ''}: {verdict}"
    return GateResult(
        "validation", not regressed, detail + (f" ({', '.join(worse)})" if worse else "")
    )


def _current_validation(store: Store, record: dict[str, Any]) -> dict[str, Any]:
    """Judge against today's champion (it may have changed since the run), else the stored one."""
    from mlog.compare import validation

    try:
        return validation.report(store, record, validation_target(store, str(record.get("model"))))
    except MlogError:
        stored = record.get("validation")
        return stored if isinstance(stored, dict) else {}


def _gate_data_review(given: _GateInput) -> GateResult:
    flags = given.state.data_review
    flagged = flags.get(given.version.run, False) or flags.get("*", False)
    detail = "data review flag is set (clear it after review)" if flagged else "no data flag"
    return GateResult("data_review", not flagged, detail)


def _gate_approvals(given: _GateInput) -> GateResult:
    people = sorted({a.by for a in given.version.approvals})
    need = given.policy.approvals
    shown = f" ({', '.join(people)})" if people else ""
    detail = f"{len(people)} of {need} required approval(s){shown}"
    return GateResult("approvals", len(people) >= need, detail)


_GATE_CHECKS = {
    "succeeded": _gate_succeeded,
    "not_dirty": _gate_not_dirty,
    "artifacts": _gate_artifacts,
    "validation": _gate_validation,
    "data_review": _gate_data_review,
    "approvals": _gate_approvals,
}


def verify_artifacts(store: Store, version: Version) -> list[dict[str, Any]]:
    """Re-hash each pinned artifact: status ``ok``, ``missing``, ``mismatch`` or ``unreadable``."""
    return [{**artifact, **_artifact_check(store, artifact)} for artifact in version.artifacts]


def _artifact_check(store: Store, artifact: dict[str, Any]) -> dict[str, Any]:
    from mlog.storage.hashing import Hasher, parse_digest

    path = (store.repo_root / artifact["path"]).resolve()
    if not path.is_relative_to(store.repo_root):
        return {"status": "outside the repository", "actual": None}
    if not path.exists():
        return {"status": "missing", "actual": None}
    try:
        algorithm = parse_digest(str(artifact.get("hash"))).algorithm
        actual = Hasher(algorithm).hash_path(path).digest
    except MlogError:
        return {"status": "unreadable", "actual": None}
    return {"status": "ok" if actual == artifact["hash"] else "mismatch", "actual": actual}


# ------------------------------------------------------------------ promote


@dataclass
class Promotion:
    model: str
    version: str
    stage: str
    from_stage: str | None
    forced: bool
    reason: str | None
    archived: list[str]
    gates: list[GateResult]
    event: str

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["from"] = data.pop("from_stage")
        return data


def promote(
    store: Store,
    target: str,
    *,
    to: str,
    by: str | None = None,
    reason: str | None = None,
    force: bool = False,
) -> Promotion:
    """Move a version to a stage after its gates pass (or are forced, with a reason)."""
    stage = _check_stage(to)
    if force and not (reason or "").strip():
        raise UsageError("--force needs --reason TEXT saying why the gates are overridden")
    person = who(store, by)
    model, name = parse_target(target)
    with store.lock("registry-actions"):
        state = load_state(store, events.check_model_name(model))
        version = state.version(name)
        _check_transition(state, version, stage, force)
        gates = check_gates(store, state, version, stage) if stage != "archived" else []
        _refuse_failed_gates(version, stage, gates, force)
        return _append_promotion(store, state, version, stage, person, reason, force, gates)


def _check_stage(stage: str) -> str:
    if stage not in STAGES:
        raise UsageError(f"unknown stage {stage!r} (use one of: {', '.join(STAGES)})")
    return stage


def _check_transition(state: ModelState, version: Version, stage: str, force: bool) -> None:
    label = f"{state.model}@{version.version}"
    if version.stage == "archived" and not force:
        raise GateError(
            f"{label} is archived and archived versions are retired "
            "(to restore it, e.g. for a rollback, pass --force --reason TEXT)"
        )
    conflict = stage == "production" and len(state.in_stage("production")) > 1
    if version.stage == stage and not conflict:
        raise GateError(f"{label} is already in {stage} (see `mlog registry ls`)")


def _refuse_failed_gates(
    version: Version, stage: str, gates: list[GateResult], force: bool
) -> None:
    failed = [gate for gate in gates if not gate.passed]
    if failed and not force:
        listed = "; ".join(f"{gate.name}: {gate.detail}" for gate in failed)
        raise GatesFailed(
            f"{version.model}@{version.version} cannot go to {stage}: "
            f"{len(failed)} gate(s) failed: {listed} "
            "(fix them, or override with --force --reason TEXT)",
            gates,
        )


def _append_promotion(
    store: Store,
    state: ModelState,
    version: Version,
    stage: str,
    person: str,
    reason: str | None,
    force: bool,
    gates: list[GateResult],
) -> Promotion:
    others = [v.version for v in state.in_stage("production") if v.version != version.version]
    archived = others if stage == "production" else []
    details = {
        "from": version.stage,
        "archived": archived,
        "gates": [asdict(gate) for gate in gates],
        "failed_gates": [gate.name for gate in gates if not gate.passed],
    }
    event = events.append_event(
        store, state.model, "promote", by=person, reason=reason, run=version.run,
        run_hash=version.run_hash, version=version.version, stage=stage, forced=force,
        details=details,
    )  # fmt: skip
    return Promotion(
        state.model, version.version, stage, version.stage, force, reason, archived, gates,
        event["id"],
    )  # fmt: skip


# ------------------------------------------------------------------ approve and review


def approve(
    store: Store, target: str, *, by: str | None = None, reason: str | None = None
) -> Approval:
    """Record one person's approval of a version; the same person twice is refused."""
    person = who(store, by)
    model, name = parse_target(target)
    with store.lock("registry-actions"):
        state = load_state(store, events.check_model_name(model))
        version = state.version(name)
        if version.stage == "archived":
            raise GateError(f"{model}@{name} is archived; approving it would change nothing")
        for earlier in version.approvals:
            if earlier.by == person:
                raise GateError(
                    f"{person} already approved {model}@{name} at {earlier.at} "
                    "(approvals must come from distinct people; --by names the approver)"
                )
        event = events.append_event(
            store, model, "approve", by=person, reason=reason, run=version.run,
            run_hash=version.run_hash, version=name,
        )  # fmt: skip
    return Approval(person, event["at"], reason, event["id"])


def review_data(
    store: Store,
    model: str,
    *,
    flagged: bool,
    run_id: str | None = None,
    by: str | None = None,
    reason: str | None = None,
) -> dict[str, Any]:
    """Set or clear the data review flag of a model (or of one run); the gate reads it."""
    person = who(store, by)
    return events.append_event(
        store, events.check_model_name(model), "data_review", by=person, reason=reason,
        run=run_id, details={"flagged": flagged},
    )  # fmt: skip


# ------------------------------------------------------------------ read side


def history(store: Store, model: str, *, limit: int | None = None) -> list[dict[str, Any]]:
    """The audit trail of a model, newest first, exactly as the event files say."""
    load_state(store, model)  # a clear error for an unknown model
    trail = events.load_events(store, model)[::-1]
    return trail[:limit] if limit is not None else trail


@dataclass
class Deployable:
    """What a deploy script needs: the version in a stage and its pinned artifacts."""

    model: str
    version: str
    stage: str
    run: str
    run_hash: str
    commit: str | None
    forced: bool
    approvals: list[str]
    artifacts: list[dict[str, Any]]
    verified: bool

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def deployable(
    store: Store, model: str, *, stage: str = "production", verify: bool = False
) -> Deployable:
    """The single version in ``stage``; refuses none, a merge conflict, or (verify) tampering."""
    if stage not in ("staging", "production"):
        raise UsageError(f"cannot deploy from stage {stage!r} (use staging or production)")
    state = load_state(store, events.check_model_name(model))
    version = _single_in_stage(state, stage)
    artifacts = [dict(a) for a in version.artifacts]
    if verify:
        load_verified_record(store, version.run, version.run_hash)
        artifacts = _verified_or_raise(store, version)
    return Deployable(
        model, version.version, stage, version.run, version.run_hash, version.commit,
        version.forced, sorted({a.by for a in version.approvals}), artifacts, verify,
    )  # fmt: skip


def _single_in_stage(state: ModelState, stage: str) -> Version:
    found = state.in_stage(stage)
    if not found:
        raise NotFoundError(
            f"no {stage} version of {state.model} "
            f"(promote one with `mlog promote {state.model}@VERSION --to {stage}`)"
        )
    if len(found) > 1 and stage == "production":
        raise GateError(state.conflicts[0])
    return max(found, key=_promoted_at)


def _promoted_at(version: Version) -> str:
    return max((h["at"] for h in version.history if h["kind"] == "promote"), default="")


def _verified_or_raise(store: Store, version: Version) -> list[dict[str, Any]]:
    checked = verify_artifacts(store, version)
    if not checked:
        raise GateError(f"{version.model}@{version.version} pins no artifacts to verify")
    bad = [f"{a['path']} ({a['status']})" for a in checked if a["status"] != "ok"]
    if bad:
        raise GateError(
            f"refusing to deploy {version.model}@{version.version}: artifacts do not match "
            f"the registered hashes: {', '.join(bad)} (rebuild them from run {version.run})",
            details={"model": version.model, "version": version.version, "artifacts": checked},
        )
    return checked
