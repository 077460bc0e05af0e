"""The model registry: versions, stages, gates and approvals, folded from append-only events.

Nothing here stores state. Every action appends one event under
``.mlog/registry/<model>/`` and the current state is recomputed by folding the
events in time order, so branches that both add events merge without a git
conflict. This module is the one place for every policy question: the champion,
the gates, who counts as an approver, and what a merge left in conflict.

Events point at the registration they act on by its register event id
(``target``), never by its label, so a merge cannot move an approval or a
promotion to another run. Two registrations that share a label for different
runs are a conflict: the label refuses to resolve until one is archived. A
promotion archives only the production versions its author could see (listed in
its ``details``), so when two branches promote different versions the merged
fold shows two production versions and reports the conflict instead of silently
picking one; a new promotion on the merged branch resolves it.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass, field
from typing import Any

from mlog.compare.validation import Against
from mlog.errors import GateError, MlogError, NotFoundError, RecordError, UsageError
from mlog.registry import events, signatures
from mlog.storage import gitio, records
from mlog.storage.store import Store

STAGES = ("staging", "production", "archived")
GATES = (
    "succeeded",
    "not_dirty",
    "artifacts",
    "validation",
    "data_review",
    "data_drift",
    "approvals",
)
DEFAULT_GATES: dict[str, tuple[str, ...]] = {
    "staging": ("succeeded", "not_dirty", "artifacts"),
    "production": GATES,
}
DEFAULT_APPROVALS = {"staging": 0, "production": 1}
REGRESSED_VERDICTS = frozenset({"regressed"})
_TARGET = re.compile(
    r"^(?P<model>[A-Za-z0-9_][A-Za-z0-9_.-]*)@(?P<version>[A-Za-z0-9_][A-Za-z0-9_.-]*)"
    r"(?:#(?P<pick>[0-9A-Za-z-]+))?$"
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
    run_hash: str | None
    commit: str | None
    artifacts: list[dict[str, Any]]
    registered_at: str
    registered_by: str
    event: str = ""
    stage: str | None = None
    forced: bool = False
    approvals: list[Approval] = field(default_factory=list)
    history: list[dict[str, Any]] = field(default_factory=list)
    tampered: list[str] = field(default_factory=list)  # filled by mark_tampered

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class ModelState:
    """What the fold of one model's events says now.

    ``registrations`` holds every registration by its register event id; a label
    (``v2``) names one of them only while no other live registration shares it.
    """

    model: str
    registrations: dict[str, Version] = field(default_factory=dict)
    events: int = 0
    data_review: dict[str, bool] = field(default_factory=dict)
    drift_reviews: dict[str, list[Approval]] = field(default_factory=dict)
    champion_event: dict[str, Any] | None = None
    conflicts: list[str] = field(default_factory=list)
    ignored: list[str] = field(default_factory=list)

    @property
    def versions(self) -> dict[str, Version]:
        """Label to registration, for labels that name exactly one (see ``ambiguous``)."""
        found: dict[str, Version] = {}
        for version in self.registrations.values():
            if version.version not in self.ambiguous:
                found.setdefault(version.version, version)
        return found

    @property
    def ambiguous(self) -> dict[str, list[Version]]:
        """Labels that two live (not archived) registrations of different runs share."""
        by_label: dict[str, list[Version]] = {}
        for version in self.registrations.values():
            if version.stage != "archived":
                by_label.setdefault(version.version, []).append(version)
        return {
            label: found for label, found in by_label.items() if len({v.run for v in found}) > 1
        }

    def in_stage(self, stage: str) -> list[Version]:
        return [v for v in self.registrations.values() if v.stage == stage]

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

    def version(self, name: str, pick: str | None = None) -> Version:
        """The registration a label names; refuses an unknown or (unless picked) ambiguous one."""
        found = [v for v in self.registrations.values() if v.version == name]
        if pick is not None:
            found = [v for v in found if v.run.startswith(pick) or v.event.startswith(pick)]
        if not found:
            known = ", ".join(sorted({v.version for v in self.registrations.values()})) or "none"
            shown = f"{name}#{pick}" if pick else name
            raise NotFoundError(
                f"unknown version {self.model}@{shown} (registered: {known}; "
                "see `mlog registry ls`)"
            )
        if len(found) > 1:
            live = [v for v in found if v.stage != "archived"]
            found = live if len(live) == 1 else found
        if len({v.run for v in found}) > 1:
            raise GateError(ambiguity(self.model, name, found))
        return found[0]

    def to_json(self) -> dict[str, Any]:
        return {
            "model": self.model,
            "champion": self.champion,
            "production": [v.version for v in self.in_stage("production")],
            "conflicts": list(self.conflicts),
            "ambiguous": sorted(self.ambiguous),
            "events": self.events,
            "versions": [_version_row(v, self) for v in self.registrations.values()],
        }


def ambiguity(model: str, label: str, found: list[Version]) -> str:
    """The one message for a label two registrations share: names both, says how to resolve."""
    named = " and ".join(f"run {v.run} (register event {v.event})" for v in found)
    return (
        f"{model}@{label} names {len(found)} registrations after a merge: {named}; "
        f"resolve it by archiving one, e.g. `mlog promote {model}@{label}#{found[-1].run} "
        "--to archived --reason TEXT`, then register its run again under a new label "
        "if you still want it (docs/registry.md)"
    )


def _version_row(version: Version, state: ModelState) -> dict[str, Any]:
    return {
        "version": version.version,
        "event": version.event,
        "run": version.run,
        "stage": version.stage,
        "commit": version.commit,
        "registered_at": version.registered_at,
        "registered_by": version.registered_by,
        "approvals": approvers(version),
        "forced": version.forced,
        "ambiguous": version.version in state.ambiguous,
        "verified": not version.tampered,
    }


def approvers(version: Version, *, allow_self: bool = True) -> list[str]:
    """Distinct approvers (emails compared case-insensitively), the registrant's own dropped
    unless ``allow_self``."""
    people: dict[str, str] = {}
    for approval in version.approvals:
        key = approval.by.casefold()
        if allow_self or key != version.registered_by.casefold():
            people.setdefault(key, approval.by)
    return sorted(people.values(), key=str.casefold)


# ------------------------------------------------------------------ fold


def load_state(
    store: Store, model: str, *, trust: dict[str, signatures.EventTrust] | None = None
) -> ModelState:
    """Fold a model's events; an unknown model is a ``NotFoundError``.

    Under ``registry.require_signed`` only events that count (signed by the person they
    name, or made before the policy) are folded; the rest are listed in ``ignored``.
    """
    loaded = events.load_events(store, model)
    if not loaded:
        known = ", ".join(events.models(store)) or "none yet"
        raise NotFoundError(
            f"unknown model {model!r} (registered models: {known}; "
            "register one with `mlog register RUN --model NAME`)"
        )
    if trust is None:
        trust = signatures.trust(store, model, loaded, only_if_required=True)
    return fold(model, loaded, trust)


def fold(
    model: str, loaded: list[dict[str, Any]], trust: dict[str, signatures.EventTrust] | None = None
) -> ModelState:
    """The state after applying ``loaded`` (oldest first); pure, so it is easy to test."""
    state = ModelState(model=model, events=len(loaded))
    for event in loaded:
        judged = (trust or {}).get(event["id"])
        if judged is not None and not judged.counts:
            state.ignored.append(judged.problem(event))
            continue
        _APPLY[event["kind"]](state, event)
    state.conflicts.extend(_chain_problems(loaded))
    state.conflicts[:0] = [
        ambiguity(model, label, found) for label, found in state.ambiguous.items()
    ]
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
    details = event.get("details") or {}
    same = [
        v for v in state.registrations.values()
        if v.version == event["version"] and v.run == event["run"]
    ]  # fmt: skip
    if same:  # the same run under the same label on two branches: one version
        state.registrations[event["id"]] = same[0]
        return
    state.registrations[event["id"]] = Version(
        model=state.model,
        version=event["version"],
        run=event["run"],
        run_hash=event.get("run_hash"),
        commit=details.get("commit"),
        artifacts=list(details.get("artifacts") or []),
        registered_at=event["at"],
        registered_by=event["by"],
        event=event["id"],
        history=[_history_entry(event)],
    )


def _target(state: ModelState, event: dict[str, Any]) -> Version | None:
    """The registration an event acts on: by id; events written before ids, by label."""
    if event.get("target"):
        return state.registrations.get(event["target"])
    found = [v for v in state.registrations.values() if v.version == event.get("version")]
    return found[0] if found else None


def _apply_promote(state: ModelState, event: dict[str, Any]) -> None:
    version = _target(state, event)
    if version is None:
        state.conflicts.append(f"promote event {event['id']} names an unknown version")
        return
    details = event.get("details") or {}
    for previous in _archived_by(state, details):
        if previous.stage == "production":
            previous.stage = "archived"
            previous.history.append(_history_entry(event, stage="archived"))
    version.stage = event["stage"]
    version.forced = bool(event.get("forced"))
    version.history.append(_history_entry(event))


def _archived_by(state: ModelState, details: dict[str, Any]) -> list[Version]:
    if "archived_targets" in details:
        return [
            state.registrations[t] for t in details["archived_targets"] if t in state.registrations
        ]
    labels = set(details.get("archived") or [])
    return [v for v in state.registrations.values() if v.version in labels]


def _apply_approve(state: ModelState, event: dict[str, Any]) -> None:
    version = _target(state, event)
    if version is None:
        state.conflicts.append(f"approve event {event['id']} names an unknown version")
        return
    if any(a.by.casefold() == event["by"].casefold() for a in version.approvals):
        return  # the same person twice (two branches, or case variants): one approval
    version.approvals.append(Approval(event["by"], event["at"], event.get("reason"), event["id"]))
    version.history.append(_history_entry(event))


def _apply_champion(state: ModelState, event: dict[str, Any]) -> None:
    if event.get("run"):
        state.champion_event = event


def _apply_data_review(state: ModelState, event: dict[str, Any]) -> None:
    """``details.flagged`` sets or clears the flag, for one run or (no run) the whole model;
    ``details.reviewed`` is a signed-off review of a version's data drift (``mlog data review``).
    """
    details = event.get("details") or {}
    if "flagged" in details:
        state.data_review[event.get("run") or "*"] = bool(details["flagged"])
    if details.get("reviewed") and event.get("run"):
        review = Approval(event["by"], event["at"], event.get("reason"), event["id"])
        state.drift_reviews.setdefault(event["run"], []).append(review)
        version = _target(state, event)
        if version is not None:
            version.history.append(_history_entry(event))


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
    """Links to events that no longer exist (deleted); forks are normal after a merge."""
    hashes = {event["integrity"]["hash"] for event in loaded}
    return [
        f"event chain broken: event {event['id']} follows an event that is missing "
        "(was an event file deleted?)"
        for event in loaded
        if event["prev"] is not None and event["prev"] not in hashes
    ]


def mark_tampered(store: Store, state: ModelState) -> ModelState:
    """Note on each version whether its run's record still holds: its own integrity, its
    sidecars, and the hash the registration pinned (a missing record is `mlog check`'s)."""
    present = set(store.run_ids())
    for version in state.versions.values():
        if version.run not in present:
            continue
        try:
            record = store.load_record(version.run)
        except MlogError as exc:
            version.tampered = [str(exc)]
            continue
        version.tampered = list(store.unverified.get(version.run, []))
        if not version.tampered and records.integrity_hash(record) != version.run_hash:
            version.tampered = [f"the record differs from the one {state.model}@"
                                f"{version.version} pinned"]  # fmt: skip
            store.mark_unverified(version.run, version.tampered)
    return state


def all_states(store: Store) -> list[ModelState]:
    return [load_state(store, model) for model in events.models(store)]


def problems(store: Store) -> list[str]:
    """Registry problems: malformed events, merge conflicts, broken chains."""
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
    model, name, _pick = parse_target_pick(target)
    return model, name


def parse_target_pick(target: str) -> tuple[str, str, str | None]:
    """``MODEL@VERSION`` or ``MODEL@VERSION#RUN`` (a run or register event id prefix that
    picks one of two registrations sharing a label after a merge)."""
    match = _TARGET.match(target.strip())
    if not match:
        raise UsageError(f"expected MODEL@VERSION (e.g. fraud@v2), got {target!r}")
    return match.group("model"), match.group("version"), match.group("pick")


def resolve_version(store: Store, target: str) -> Version:
    model, name, pick = parse_target_pick(target)
    return load_state(store, events.check_model_name(model)).version(name, pick)


def who(store: Store, by: str | None = None) -> str:
    """The person git would commit as; ``--by`` is accepted only when it names that person.

    Emails compare case-insensitively. Acting as someone else takes being them in git
    (and, under ``registry.require_signed``, holding their signing key).
    """
    person = gitio.author_email(store.repo_root)
    if not person:
        raise UsageError(
            "cannot tell who you are: set `git config user.email` "
            "(mlog names the person git would commit as)"
        )
    claimed = (by or "").strip()
    if claimed and claimed.casefold() != person.casefold():
        raise UsageError(
            f"--by {claimed} is not you: git says you are {person} (events name the person "
            "git would commit as; drop --by, or run as that person)"
        )
    return person


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
    _refuse_stale_artifacts(record)
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
    return load_state(store, name).registrations[event["id"]]


def _state_or_empty(store: Store, model: str) -> ModelState:
    if not events.event_files(store, model):
        return ModelState(model=model)
    return load_state(store, model)


def _refuse_double_registration(state: ModelState, run_id: str) -> None:
    for existing in state.registrations.values():
        if existing.run == run_id and existing.stage != "archived":
            raise GateError(
                f"run {run_id} is already registered as {state.model}@{existing.version} "
                "(versions are immutable; train a new run to register a new version, or "
                "archive that one first)"
            )


def _new_version_name(state: ModelState, requested: str | None) -> str:
    if requested is not None:
        if not events.MODEL_NAME.match(requested):
            raise UsageError(f"invalid version {requested!r}: use letters, digits, '_', '-', '.'")
        if any(v.version == requested for v in state.registrations.values()):
            raise GateError(
                f"{state.model}@{requested} already exists (versions are immutable; "
                "omit --version to get the next vN)"
            )
        return requested
    labels = {v.version for v in state.registrations.values()}
    numbers = [n for v in labels if (n := records.alias_number(v)) is not None]
    return f"v{max(numbers, default=0) + 1}"


def _pinned_artifacts(record: dict[str, Any]) -> list[dict[str, Any]]:
    return [
        {"path": a["path"], "hash": a.get("hash"), "size": a.get("size")}
        for a in record.get("artifacts") or []
        if a.get("present")
    ]


def _refuse_stale_artifacts(record: dict[str, Any]) -> None:
    """A run whose declared outputs were left by something earlier did not make that model."""
    stale = [a["path"] for a in (record.get("stale") or {}).get("artifacts") or []]
    if stale:
        raise GateError(
            f"run {record.get('alias')} did not write its artifacts: {', '.join(stale)} "
            "unchanged since before it started (stale; register a run that produced them)"
        )


def load_verified_record(store: Store, run_id: str, pinned_hash: str | None) -> dict[str, Any]:
    """The run's record, refusing one that was edited (or differs from what was pinned)."""
    record = store.load_record(run_id, verify=False)
    actual = records.integrity_hash(record)
    stored = (record.get("integrity") or {}).get("hash")
    if actual != stored or (pinned_hash is not None and actual != pinned_hash):
        raise RecordError(
            f"run {run_id}: record content does not match its integrity hash "
            "(it was edited after it was written; restore it with `git checkout`)"
        )
    sidecars = store.verify(run_id, record)
    if sidecars:
        raise RecordError(
            f"run {run_id}: {sidecars[0]} (a file of the run was changed after it was "
            "written; restore the run directory with `git checkout`)"
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
    allow_self: bool = False


def gate_policy(store: Store, stage: str) -> GatePolicy:
    """The ``registry:`` section of config for ``stage``, over the documented defaults."""
    section = store.config().raw.get("registry") or {}
    configured = (section.get("gates") or {}).get(stage)
    chosen = set(DEFAULT_GATES.get(stage, ()) if configured is None else configured)
    counts = section.get("approvals") or {}
    approvals = counts.get(stage, DEFAULT_APPROVALS.get(stage, 0))
    ordered = tuple(g for g in GATES if g in chosen)
    return GatePolicy(ordered, int(approvals), bool(counts.get("allow_self", False)))


@dataclass(frozen=True)
class _GateInput:
    store: Store
    state: ModelState
    version: Version
    record: dict[str, Any]
    policy: GatePolicy


def check_gates(
    store: Store, state: ModelState, version: Version, stage: str, *, on_disk: bool = True
) -> list[GateResult]:
    """Every gate configured for ``stage``, in the fixed order, each with a reason.

    The one gate rule: ``promote`` asks it before moving a version and ``mlog check``
    asks it of every production version. ``on_disk=False`` leaves out the artifacts
    gate, whose files a CI checkout usually does not have (``mlog check --full`` keeps it).
    """
    record = load_verified_record(store, version.run, version.run_hash)
    policy = gate_policy(store, stage)
    given = _GateInput(store, state, version, record, policy)
    chosen = [name for name in policy.gates if on_disk or name != "artifacts"]
    return [_GATE_CHECKS[name](given) for name in chosen]


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


def _gate_data_drift(given: _GateInput) -> GateResult:
    """Refuse data that drifted from the champion's past the ``drift:`` thresholds, unless a
    person signed off a review of it (``mlog data review``). Passes when nothing was profiled."""
    if given.state.champion == given.version.run:
        return GateResult("data_drift", True, "this run is the champion")
    data = _current_validation(given.store, given.record).get("data") or {}
    profiled = [d for d in data.get("datasets") or [] if d.get("drift") is not None]
    drifted = [d for d in profiled if d["drift"]["drifted"]]
    if not profiled:
        return GateResult("data_drift", True, "no changed dataset with profiles on both sides")
    if not drifted:
        return GateResult("data_drift", True, "no column drifted past the thresholds")
    shown = "; ".join(f"{d['name']}: {', '.join(d['drift']['drifted'])}" for d in drifted)
    reviews = given.state.drift_reviews.get(given.version.run) or []
    if reviews:
        last = reviews[-1]
        detail = f"drift ({shown}) reviewed by {last.by}: {last.reason}"
        return GateResult("data_drift", True, detail)
    target = f"{given.version.model}@{given.version.version}"
    hint = f"review it with `mlog data review {target} --reason TEXT`"
    return GateResult("data_drift", False, f"data drifted from the champion's ({shown}); {hint}")


def _gate_approvals(given: _GateInput) -> GateResult:
    people = approvers(given.version, allow_self=given.policy.allow_self)
    need = given.policy.approvals
    shown = f" ({', '.join(people)})" if people else ""
    detail = f"{len(people)} of {need} required approval(s){shown}"
    everyone = approvers(given.version)
    if len(everyone) > len(people):
        detail += f"; the registrant's own approval ({given.version.registered_by}) does not count"
    return GateResult("approvals", len(people) >= need, detail)


_GATE_CHECKS = {
    "succeeded": _gate_succeeded,
    "not_dirty": _gate_not_dirty,
    "artifacts": _gate_artifacts,
    "validation": _gate_validation,
    "data_review": _gate_data_review,
    "data_drift": _gate_data_drift,
    "approvals": _gate_approvals,
}


def verify_artifacts(store: Store, version: Version) -> list[dict[str, Any]]:
    """Re-hash each pinned artifact: status ``ok``, ``missing``, ``mismatch`` or ``unreadable``."""
    return [{**artifact, **_artifact_check(store, artifact)} for artifact in version.artifacts]


def _artifact_check(store: Store, artifact: dict[str, Any]) -> dict[str, Any]:
    from mlog.storage.hashing import rehash

    found = rehash(store.repo_root, artifact["path"], str(artifact.get("hash")))
    return {"status": found.status, "actual": found.actual}


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
    model, name, pick = parse_target_pick(target)
    with store.lock("registry-actions"):
        state = load_state(store, events.check_model_name(model))
        version = _chosen(state, name, pick, stage)
        _check_transition(state, version, stage, force)
        gates = check_gates(store, state, version, stage) if stage != "archived" else []
        _refuse_failed_gates(version, stage, gates, force)
        return _append_promotion(store, state, version, stage, person, reason, force, gates)


def _chosen(state: ModelState, name: str, pick: str | None, stage: str) -> Version:
    """``#RUN`` may pick between registrations sharing a label only to archive one."""
    if pick is not None and stage != "archived" and name in state.ambiguous:
        raise GateError(
            f"{state.model}@{name} is ambiguous; only archiving one of its registrations "
            "resolves it (`--to archived`), see docs/registry.md"
        )
    return state.version(name, pick)


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
    others = [v for v in state.in_stage("production") if v is not version]
    retired = others if stage == "production" else []
    archived = [v.version for v in retired]
    details = {
        "from": version.stage,
        "archived": archived,
        "archived_targets": [v.event for v in retired],
        "gates": [asdict(gate) for gate in gates],
        "failed_gates": [gate.name for gate in gates if not gate.passed],
    }
    event = events.append_event(
        store, state.model, "promote", by=person, reason=reason, run=version.run,
        run_hash=version.run_hash, version=version.version, target=version.event, stage=stage,
        forced=force, details=details,
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
        _refuse_approval(store, version, person)
        event = events.append_event(
            store, model, "approve", by=person, reason=reason, run=version.run,
            run_hash=version.run_hash, version=name, target=version.event,
        )  # fmt: skip
    return Approval(person, event["at"], reason, event["id"])


def _refuse_approval(store: Store, version: Version, person: str) -> None:
    label = f"{version.model}@{version.version}"
    if version.stage == "archived":
        raise GateError(f"{label} is archived; approving it would change nothing")
    for earlier in version.approvals:
        if earlier.by.casefold() == person.casefold():
            raise GateError(
                f"{person} already approved {label} at {earlier.at} "
                "(approvals must come from distinct people)"
            )
    allow_self = gate_policy(store, "production").allow_self
    if person.casefold() == version.registered_by.casefold() and not allow_self:
        raise GateError(
            f"{person} registered {label}; the registrant's own approval does not count "
            "(ask another person, or set `registry: {approvals: {allow_self: true}}`)"
        )


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


def review_drift(
    store: Store, target: str, *, reason: str, by: str | None = None
) -> dict[str, Any]:
    """A signed-off review of a version's data drift: the ``data_drift`` gate then passes.

    The event keeps which columns drifted when it was signed, for the audit trail.
    """
    if not reason.strip():
        raise UsageError("a data review needs --reason TEXT saying what was checked")
    person = who(store, by)
    model, name = parse_target(target)
    with store.lock("registry-actions"):
        state = load_state(store, events.check_model_name(model))
        version = state.version(name)
        if version.stage == "archived":
            raise GateError(f"{model}@{name} is archived; reviewing its data would change nothing")
        record = load_verified_record(store, version.run, version.run_hash)
        data = _current_validation(store, record).get("data") or {}
        drifted = {
            d["name"]: list(d["drift"]["drifted"])
            for d in data.get("datasets") or []
            if d.get("drift") and d["drift"]["drifted"]
        }
        return events.append_event(
            store, model, "data_review", by=person, reason=reason, run=version.run,
            run_hash=version.run_hash, version=name, target=version.event,
            details={"reviewed": True, "drifted": drifted},
        )  # fmt: skip


# ------------------------------------------------------------------ read side


def history(store: Store, model: str, *, limit: int | None = None) -> list[dict[str, Any]]:
    """The audit trail of a model, newest first, as the event files say, each with
    ``signature``: its status (``verified``, ``unsigned``...), signer, and whether it counts."""
    load_state(store, model)  # a clear error for an unknown model
    trail = events.load_events(store, model)[::-1]
    trail = trail[:limit] if limit is not None else trail
    judged = signatures.trust(store, model, trail)
    return [{**event, "signature": _signature_row(judged[event["id"]])} for event in trail]


def _signature_row(trust: signatures.EventTrust) -> dict[str, Any]:
    return {"status": trust.status, "signer": trust.signer, "counts": trust.counts}


@dataclass
class Deployable:
    """What a deploy script needs: the version in a stage and its pinned artifacts."""

    model: str
    version: str
    stage: str
    run: str
    run_hash: str | None
    commit: str | None
    forced: bool
    approvals: list[str]
    artifacts: list[dict[str, Any]]
    verified: bool
    signature: dict[str, Any] | None = None

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
        version.forced, approvers(version, allow_self=gate_policy(store, stage).allow_self),
        artifacts, verify,
        _signature_of(store, version.run),
    )  # fmt: skip


def _signature_of(store: Store, run_id: str) -> dict[str, Any] | None:
    """The input/output signature the run logged; None when it logged none (or is gone)."""
    try:
        found = store.load_record(run_id).get("signature")
    except MlogError:
        return None
    return found if isinstance(found, dict) else None


def _single_in_stage(state: ModelState, stage: str) -> Version:
    found = state.in_stage(stage)
    if not found:
        raise NotFoundError(
            f"no {stage} version of {state.model} "
            f"(promote one with `mlog promote {state.model}@VERSION --to {stage}`)"
        )
    if len(found) > 1 and stage == "production":
        raise GateError(next(c for c in state.conflicts if "production versions" in c))
    chosen = max(found, key=_promoted_at)
    if chosen.version in state.ambiguous:
        raise GateError(ambiguity(state.model, chosen.version, state.ambiguous[chosen.version]))
    return chosen


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
