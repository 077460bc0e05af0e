"""The champion of a model: the run new runs are validated and diffed against.

The rule, in one place (docs/champion.md repeats it):

1. When the registry has a version of the model in the ``production`` stage, the run
   behind that version is the champion. Production is what serves users, so it is
   what a new run has to beat.
2. Otherwise the champion is the run named by the model's latest ``champion`` event
   (written by ``mlog champion RUN``) under ``.mlog/registry/<model>/``.
3. Otherwise the model has no champion. A first run never becomes champion by itself:
   someone has to say so, and the event records who, when and why.

Nothing here is stored as state: the champion is a fold over the events.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from mlog.errors import GateError, NotFoundError
from mlog.registry import events
from mlog.registry import fold as registry
from mlog.storage.store import Store

SOURCE_PRODUCTION = "production"
SOURCE_EVENT = "champion"


@dataclass(frozen=True)
class Champion:
    """Who the champion is and where that comes from (``production`` or a ``champion`` event)."""

    model: str
    run: str
    source: str
    set_by: str | None = None
    set_at: str | None = None
    reason: str | None = None
    event: str | None = None

    def to_json(self) -> dict[str, Any]:
        return dict(self.__dict__)


@dataclass(frozen=True)
class SetResult:
    """The outcome of ``mlog champion RUN``: the new champion and anything worth a warning."""

    champion: Champion
    alias: str
    changed: bool
    warnings: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {
            **self.champion.to_json(),
            "alias": self.alias,
            "changed": self.changed,
            "warnings": self.warnings,
        }


def _production_run(store: Store, model: str) -> str | None:
    """The run of the model's production version in the registry, if any (rule 1 above).

    None when a merge left two production versions, so no champion is picked silently.
    """
    return registry.production_run(store, model)


def current_champion(store: Store, model: str) -> Champion | None:
    """The champion by the rule of :attr:`mlog.registry.fold.ModelState.champion`, or None."""
    state = registry.state_if_any(store, model)
    if state is None or state.champion is None:
        return None
    if state.champion_source == SOURCE_PRODUCTION:
        return Champion(model=model, run=state.champion, source=SOURCE_PRODUCTION)
    event = state.champion_event or {}
    return Champion(
        model=model,
        run=state.champion,
        source=SOURCE_EVENT,
        set_by=event.get("by"),
        set_at=event.get("at"),
        reason=event.get("reason"),
        event=event.get("id"),
    )


def champion_record(store: Store, champion: Champion) -> dict[str, Any]:
    """Load the champion's record; a deleted one is a clear ``NotFoundError``."""
    if not store.has_run(champion.run):
        raise NotFoundError(
            f"the champion of model {champion.model} is run {champion.run}, but its record is "
            f"missing from .mlog/runs (restore it from git, or set a new one with "
            f"`mlog champion RUN --model {champion.model}`)"
        )
    return store.load_record(champion.run)


def set_champion(
    store: Store,
    record: dict[str, Any],
    *,
    model: str | None,
    by: str,
    reason: str | None,
    force: bool = False,
) -> SetResult:
    """Append a ``champion`` event naming the run; refuses runs that did not succeed."""
    target = model or record["model"]
    warnings = _set_warnings(store, record, target)
    if record.get("status") != "succeeded" and not force:
        raise GateError(
            f"run {record['alias']} {record.get('status')}: only a succeeded run can be "
            "champion (pass --force to set it anyway)"
        )
    current = current_champion(store, target)
    if current is not None and current.run == record["id"] and current.source == SOURCE_EVENT:
        return SetResult(current, record["alias"], changed=False, warnings=warnings)
    event = events.append_event(
        store,
        target,
        "champion",
        by=by,
        reason=reason,
        run=record["id"],
        run_hash=record["integrity"]["hash"],
    )
    new = Champion(target, record["id"], SOURCE_EVENT, by, event["at"], reason, event["id"])
    return SetResult(new, record["alias"], changed=True, warnings=warnings)


def _set_warnings(store: Store, record: dict[str, Any], model: str) -> list[str]:
    warnings = []
    if record["model"] != model:
        warnings.append(
            f"run {record['alias']} was recorded for model {record['model']}, "
            f"not {model}; it is set as champion of {model} anyway"
        )
    production = _production_run(store, model)
    if production and production != record["id"]:
        warnings.append(
            f"model {model} has a production version (run {production}); it stays the "
            "champion until it leaves production (see docs/champion.md)"
        )
    return warnings
