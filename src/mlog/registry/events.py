"""Append-only registry events: one file per event, chained by the previous event's hash.

State (versions, stages, approvals, the champion) is never stored; it is a fold
over these events, so two branches that both add events merge without conflict
and a fork in the chain (two events with the same ``prev``) shows a concurrent history.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, cast

from mlog.errors import RecordError, UsageError
from mlog.registry import signatures
from mlog.storage import records, yamlio
from mlog.storage.schema import problems, validate
from mlog.storage.store import Store

EVENT_KINDS = ("register", "promote", "approve", "champion", "data_review")
MODEL_NAME = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]*$")
_EVENT_FILE = re.compile(r"^\d{8}T\d{12}Z-[0-9a-f]{8}\.yaml$")


def check_model_name(model: str) -> str:
    if not MODEL_NAME.match(model):
        raise UsageError(
            f"invalid model name {model!r}: use letters, digits, '_', '-' and '.', "
            "starting with a letter, digit or '_'"
        )
    return model


def model_dir(store: Store, model: str) -> Path:
    return store.registry_dir / check_model_name(model)


def event_files(store: Store, model: str) -> list[Path]:
    directory = model_dir(store, model)
    if not directory.is_dir():
        return []
    return sorted(p for p in directory.iterdir() if _EVENT_FILE.match(p.name))


def models(store: Store) -> list[str]:
    """Models that have at least one event."""
    if not store.registry_dir.is_dir():
        return []
    return sorted(
        p.name for p in store.registry_dir.iterdir() if p.is_dir() and MODEL_NAME.match(p.name)
    )


def load_event(path: Path) -> dict[str, Any]:
    """Read one event strictly; a malformed or edited event is a ``RecordError``."""
    document = yamlio.load_file(path, allow_aliases=False)
    found = event_problems(document, path)
    if found:
        more = f" (and {len(found) - 1} more)" if len(found) > 1 else ""
        raise RecordError(f"{path}: {found[0]}{more}")
    return cast("dict[str, Any]", document)  # event_problems refused anything but a mapping


def event_problems(document: object, path: Path) -> list[str]:
    """Schema violations, a wrong integrity hash, an id or model that disagrees with its path."""
    if not isinstance(document, dict):
        return ["an event must be a mapping"]
    found = problems(document, "registry-event")
    if found:
        return found
    if not records.integrity_matches(document):
        found.append("integrity hash does not match the content (the event was edited)")
    if document.get("id") != path.stem:
        found.append(f"id {document.get('id')} does not match its file name {path.name}")
    if document.get("model") != path.parent.name:
        found.append(f"model {document.get('model')} does not match its directory")
    return found


def load_events(store: Store, model: str) -> list[dict[str, Any]]:
    """Every event of a model, oldest first."""
    return [load_event(path) for path in event_files(store, model)]


def append_event(store: Store, model: str, kind: str, **fields: Any) -> dict[str, Any]:
    """Write a new event after the model's latest one, signed with git's ssh key when set;
    never touches existing files."""
    if kind not in EVENT_KINDS:
        raise UsageError(f"unknown event kind {kind!r}")
    with store.lock("registry"):
        previous = event_files(store, model)
        prev = load_event(previous[-1])["integrity"]["hash"] if previous else None
        event = _build(model, kind, prev, fields)
        validate(event, "registry-event", source=f"new {kind} event of {model}")
        signature = signatures.sign_new_event(store, event)
        path = model_dir(store, model) / f"{event['id']}.yaml"
        if signature is not None:  # first, so an event never lacks the signature it was given
            store.write_new_file(signatures.signature_path(store, event), signature)
        store.write_new_file(path, yamlio.dumps(event))
    return event


def _free_text(text: str | None) -> str | None:
    """A reason is committed: secrets in it are redacted, bytes that are not UTF-8 escaped."""
    from mlog.storage.escape import escape, needs_escape
    from mlog.storage.redact import redact_text

    if text is None:
        return None
    return redact_text(escape(text) if needs_escape(text) else text)


def _build(model: str, kind: str, prev: str | None, fields: dict[str, Any]) -> dict[str, Any]:
    event: dict[str, Any] = {
        "schema_version": 1,
        "id": records.new_id(),  # sortable: a fold sees events in the order they were made
        "model": model,
        "kind": kind,
        "at": records.utc_timestamp(),
        "by": fields.pop("by"),
        "reason": _free_text(fields.pop("reason", None)),
    }
    event.update(fields)
    event["prev"] = prev
    return _seal(event)


def _seal(event: dict[str, Any]) -> dict[str, Any]:
    body = {key: value for key, value in event.items() if key != "integrity"}
    body["integrity"] = {"algorithm": "sha256", "hash": records.integrity_hash(body)}
    return body


def forks(events: list[dict[str, Any]]) -> list[tuple[str, list[str]]]:
    """``(prev, [event ids])`` wherever two events claim the same predecessor (a merge)."""
    by_prev: dict[str, list[str]] = {}
    for event in events:
        by_prev.setdefault(str(event["prev"]), []).append(event["id"])
    return [(prev, ids) for prev, ids in by_prev.items() if len(ids) > 1]
