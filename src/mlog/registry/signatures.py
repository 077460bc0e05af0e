"""Signed registry events: who signed what, and which events count under ``require_signed``.

An event's signature is an ssh signature (namespace ``mlog``) over the event's canonical
content, stored beside it as ``<id>.yaml.sig``. Unlike a commit signature it travels
with the event file, so it survives rebases, cherry-picks and squash merges.
``.mlog/allowed_signers`` (ssh's allowed-signers format) says which key is whose.

With ``registry: {require_signed: true}``, events present in the commit before the one
that turned the policy on keep counting unsigned (a team need not re-sign its history);
every other event counts only when its signature verifies for the email it names.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mlog.errors import GateError, MlogError
from mlog.storage import gitio, records, signing, yamlio
from mlog.storage.store import Store

ALLOWED_SIGNERS = "allowed_signers"
CONFIG_PATH = ".mlog/config.yaml"
REGISTRY_PATH = ".mlog/registry"
VERDICTS_FILE = "signature-verdicts.json"  # in .mlog/cache: see signing.Verdicts


@dataclass(frozen=True)
class SigningPolicy:
    """Whether events must be signed, since which commit, and the events made before it."""

    required: bool
    since: str | None = None
    grandfathered: frozenset[str] = frozenset()


@dataclass(frozen=True)
class EventTrust:
    """What an event's signature proves, and whether the policy requires one of it."""

    status: str
    signer: str | None
    required: bool

    @property
    def counts(self) -> bool:
        return not self.required or self.status == signing.VERIFIED

    def problem(self, event: dict[str, Any]) -> str:
        """Why an event does not count (or is suspect), naming the event and its person."""
        what = f"{event['kind']} event {event['id']} by {event['by']}"
        if self.status == signing.UNSIGNED:
            return f"{what} is unsigned, made under registry.require_signed; it does not count"
        if self.status == signing.BAD:
            return f"{what}: its signature does not match its content (the event was edited)"
        signer = f" (signed by {self.signer})" if self.signer else ""
        return (
            f"{what} is not signed by {event['by']}'s key in .mlog/allowed_signers: "
            f"{self.status}{signer}; it does not count"
        )


def signature_path(store: Store, event: dict[str, Any]) -> Path:
    name = f"{event['id']}.yaml{signing.SIGNATURE_SUFFIX}"
    return store.registry_dir / str(event["model"]) / name


def allowed_signers(store: Store) -> Path:
    return store.root / ALLOWED_SIGNERS


def message(document: dict[str, Any]) -> bytes:
    """What a signature covers: the canonical content, so any edit breaks it."""
    return records.canonical_json(document)


# -- making signatures -------------------------------------------------------------


def sign_new_event(store: Store, event: dict[str, Any]) -> str | None:
    """The signature a new event gets from git's ssh key; refuses unsigned acting when required.

    None when git has no ssh signing key and the policy does not require one.
    """
    key = signing.signing_key(store.repo_root)
    required = policy(store).required
    if key is None:
        if required:
            raise GateError(
                "registry.require_signed is on and git has no ssh signing key "
                "(set one: `git config gpg.format ssh && git config user.signingkey "
                "~/.ssh/id_ed25519.pub`, and list it in .mlog/allowed_signers)"
            )
        return None
    signature = signing.sign(key, message(event))
    if required:
        checked = signing.verify(message(event), signature, event["by"], allowed_signers(store))
        if not checked.verified:
            raise GateError(
                f"registry.require_signed is on and your signing key is not listed for "
                f"{event['by']} in .mlog/allowed_signers (add a line `{event['by']} "
                'namespaces="mlog" <your public key>` and commit it)'
            )
    return signature


def record_key(store: Store) -> signing.SigningKey | None:
    """Git's key when config says ``sign_records: true``; refuses (before a run) when unset."""
    if not store.config().raw.get("sign_records"):
        return None
    key = signing.signing_key(store.repo_root)
    if key is None:
        raise GateError(
            "sign_records is on and git has no ssh signing key (set one: `git config "
            "gpg.format ssh && git config user.signingkey ~/.ssh/id_ed25519.pub`)"
        )
    return key


def record_signature(store: Store, record: dict[str, Any]) -> dict[str, bytes]:
    """``{"record.yaml.sig": ...}`` for a sealed record when records are signed, else empty."""
    key = record_key(store)
    if key is None:
        return {}
    return {f"record.yaml{signing.SIGNATURE_SUFFIX}": signing.sign(key, message(record)).encode()}


# -- judging signatures ------------------------------------------------------------


def policy(store: Store) -> SigningPolicy:
    """``registry.require_signed`` and the events it grandfathers (see the module docstring)."""
    section = store.config().raw.get("registry") or {}
    if not section.get("require_signed"):
        return SigningPolicy(required=False)
    return _since(store.repo_root)


@functools.lru_cache(maxsize=8)
def _since_cached(root: Path, head: str | None) -> SigningPolicy:
    commits = gitio.added_in(root, CONFIG_PATH)
    enabling: str | None = None
    for commit in reversed(commits):
        if not _requires_at(root, commit):
            break
        enabling = commit
    if enabling is None:  # turned on in the working tree: everything committed is before
        base = "HEAD" if commits else None
        since = "the working tree"
    else:
        base, since = f"{enabling}^", enabling
    before = gitio.files_under(root, base, REGISTRY_PATH) if base else frozenset()
    ids = frozenset(Path(p).name.removesuffix(".yaml") for p in before if p.endswith(".yaml"))
    return SigningPolicy(required=True, since=since, grandfathered=ids)


def _since(root: Path) -> SigningPolicy:
    return _since_cached(root, gitio.head_commit(root))


def _requires_at(root: Path, commit: str) -> bool:
    text = gitio.file_at(root, commit, CONFIG_PATH)
    if text is None:
        return False
    try:
        document = yamlio.loads(text, source=f"{commit[:12]}:{CONFIG_PATH}")
    except MlogError:
        return False
    section = document.get("registry") if isinstance(document, dict) else None
    return bool(isinstance(section, dict) and section.get("require_signed"))


def trust(
    store: Store, model: str, loaded: list[dict[str, Any]], *, only_if_required: bool = False
) -> dict[str, EventTrust]:
    """Each event's signature status; ``only_if_required`` skips the work when nothing needs it."""
    rules = policy(store)
    if only_if_required and not rules.required:
        return {}
    signers = allowed_signers(store)
    verdicts = signing.Verdicts(_verdicts_file(store))
    judged = {}
    for event in loaded:
        path = signature_path(store, event)
        text = path.read_text(errors="replace") if path.is_file() else None
        checked = verdicts.verify(message(event), text, event["by"], signers)
        required = rules.required and event["id"] not in rules.grandfathered
        judged[event["id"]] = EventTrust(checked.status, checked.signer, required)
    verdicts.save()
    return judged


def _verdicts_file(store: Store) -> Path | None:
    """Where this clone keeps signature verdicts; None when git holds that file (a committed
    cache is never trusted, see ``Store.trusted_cache``) or a symlink would divert writes.
    git is asked only when there is a file to trust."""
    path = store.cache_dir / VERDICTS_FILE
    if path.exists() and store.trusted_cache(VERDICTS_FILE) is None:
        return None
    return path if store.safe_to_write(path) else None


def record_problem(store: Store, run_id: str, record: dict[str, Any]) -> str | None:
    """A run record whose signature no longer matches its content (edited after signing)."""
    path = store.run_dir(run_id) / f"record.yaml{signing.SIGNATURE_SUFFIX}"
    if not path.is_file():
        return None
    checked = signing.verify(message(record), path.read_text(errors="replace"), "", None)
    if checked.status == signing.BAD:
        return "its signature does not match its content (the record was edited after signing)"
    return None
