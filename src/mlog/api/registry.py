"""The model registry: ``register``, ``promote``, ``approve``, ``registry ls``/``history``,
``deployable`` and ``card``. Runs are resolved here; the registry package gets run ids."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mlog.api import open_store, refs
from mlog.errors import UsageError
from mlog.registry import cards
from mlog.registry import fold as registry
from mlog.registry.fold import (
    Approval,
    Deployable,
    GatesFailed,
    ModelState,
    Promotion,
    Version,
    approvers,
)

__all__ = [
    "Approval",
    "CardOutput",
    "Deployable",
    "GatesFailed",
    "ModelState",
    "Promotion",
    "Version",
    "approve",
    "approvers",
    "card",
    "deployable",
    "history",
    "promote",
    "register",
    "review_data",
    "states",
]
CARD_FORMATS = ("md", "html", "json")


def register(
    *,
    cwd: Path,
    ref: str,
    model: str | None = None,
    version: str | None = None,
    by: str | None = None,
    reason: str | None = None,
) -> Version:
    """``mlog register RUN``: a new immutable version pinned to the run's commit and artifacts."""
    store = open_store(cwd)
    run_id = refs.resolve(store, ref)
    return registry.register(store, run_id, model=model, version=version, by=by, reason=reason)


def promote(
    *,
    cwd: Path,
    target: str,
    to: str,
    by: str | None = None,
    reason: str | None = None,
    force: bool = False,
) -> Promotion:
    """``mlog promote MODEL@VERSION --to STAGE``; raises :class:`GatesFailed` with every gate."""
    return registry.promote(open_store(cwd), target, to=to, by=by, reason=reason, force=force)


def approve(
    *, cwd: Path, target: str, by: str | None = None, reason: str | None = None
) -> Approval:
    """``mlog approve MODEL@VERSION``: one person's approval."""
    return registry.approve(open_store(cwd), target, by=by, reason=reason)


def review_data(
    *,
    cwd: Path,
    model: str,
    flagged: bool,
    ref: str | None = None,
    by: str | None = None,
    reason: str | None = None,
) -> dict[str, Any]:
    """Set or clear the data-review flag of a model (or of one run) that the gate reads."""
    store = open_store(cwd)
    run_id = refs.resolve(store, ref) if ref else None
    return registry.review_data(store, model, flagged=flagged, run_id=run_id, by=by, reason=reason)


def states(*, cwd: Path, model: str | None = None) -> list[ModelState]:
    """``mlog registry ls``: the folded state of one model, or of every model."""
    store = open_store(cwd)
    found = [registry.load_state(store, model)] if model else registry.all_states(store)
    return [registry.mark_tampered(store, state) for state in found]


def history(*, cwd: Path, model: str, limit: int | None = None) -> list[dict[str, Any]]:
    """``mlog registry history MODEL``: the audit trail, newest first; the events of a
    version whose run record fails its integrity check carry ``tampered: true``."""
    store = open_store(cwd)
    trail = registry.history(store, model, limit=limit)
    state = registry.mark_tampered(store, registry.load_state(store, model))
    tampered = {v.version for v in state.versions.values() if v.tampered}
    return [{**e, "tampered": True} if e.get("version") in tampered else e for e in trail]


def deployable(
    *, cwd: Path, model: str, stage: str = "production", verify: bool = False
) -> Deployable:
    """``mlog deployable MODEL``: the single version in a stage, optionally re-verified."""
    return registry.deployable(open_store(cwd), model, stage=stage, verify=verify)


@dataclass(frozen=True)
class CardOutput:
    """A rendered model card, and the warning to show when its narrative fields are empty."""

    text: str
    warning: str | None


def card(*, cwd: Path, ref: str, fmt: str = "md", output: Path | None = None) -> CardOutput:
    """``mlog card RUN|MODEL@VERSION``: the card of a run or of a registered version,
    written atomically to ``output`` when given."""
    if fmt not in CARD_FORMATS:
        raise UsageError(f"unknown card format {fmt!r} (use md, html or json)")
    store = open_store(cwd)
    version = registry.resolve_version(store, ref) if "@" in ref else None
    run_id = version.run if version else refs.resolve(store, ref)
    built = cards.build_card(store, run_id, version)
    text = cards.render(built, fmt)
    if output is not None:
        from mlog.storage import atomic

        atomic.write_text(output, text)
    return CardOutput(text, cards.warning_text(built))
