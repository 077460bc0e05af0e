"""in-toto Statement v1 with a SLSA Provenance v1 predicate, DSSE signing, and verification.

The subjects are the run's outputs with their sha256 (recorded at capture time); the
predicate says how they were made: the command and params (external parameters), the git
commit and every dataset with its digest (resolved dependencies), who ran it and when.
docs/interop.md maps each field to the record.
"""

from __future__ import annotations

import base64
import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mlog.errors import DataError, RecordError, UsageError
from mlog.storage.store import SERIES_FILE, Store

STATEMENT_TYPE = "https://in-toto.io/Statement/v1"
PREDICATE_TYPE = "https://slsa.dev/provenance/v1"
BUILD_TYPE = "https://mlog.dev/provenance/training-run/v1"
BUILDER_ID = "https://mlog.dev/builder/mlog-cli"
PAYLOAD_TYPE = "application/vnd.in-toto+json"
NAMESPACE = "mlog-provenance"  # ssh-keygen -n: a signature for one purpose is not valid for another


@dataclass(frozen=True)
class Statement:
    run_id: str
    document: dict[str, Any]


def statement(store: Store, run_id: str, *, ref: str | None = None) -> Statement:
    """The provenance of one run (``ref`` as the user named it: a run or MODEL@VERSION)."""
    from mlog.registry import fold

    pinned = fold.resolve_version(store, ref).run_hash if ref and "@" in ref else None
    record = fold.load_verified_record(store, run_id, pinned)  # never attest an edited record
    document = {
        "_type": STATEMENT_TYPE,
        "subject": _subjects(store, record),
        "predicateType": PREDICATE_TYPE,
        "predicate": {
            "buildDefinition": _build_definition(record, ref),
            "runDetails": _run_details(store, record),
        },
    }
    return Statement(run_id, document)


# -- subjects --------------------------------------------------------------------------


def _subjects(store: Store, record: dict[str, Any]) -> list[dict[str, Any]]:
    subjects = []
    for artifact in record.get("artifacts") or []:
        if artifact.get("present"):
            subjects.extend(_artifact_subjects(store, record["id"], artifact))
    if not subjects:
        raise DataError(
            f"run {record['id']} has no artifact to attest (declare outputs with --artifact)"
        )
    return subjects


def _artifact_subjects(store: Store, run_id: str, artifact: dict[str, Any]) -> list[dict[str, Any]]:
    files = artifact.get("sha256_files")
    if files is None and artifact.get("kind", "file") == "file" and artifact.get("sha256"):
        files = [{"path": artifact["path"], "sha256": artifact["sha256"].partition(":")[2]}]
    if files is None:
        files = _sha256_now(store, run_id, artifact)
    return [{"name": f["path"], "digest": {"sha256": f["sha256"]}} for f in files]


def _sha256_now(store: Store, run_id: str, artifact: dict[str, Any]) -> list[dict[str, str]]:
    """A record made before mlog kept sha256: hash the file now, if it is still the same."""
    from mlog.storage.hashing import Hasher

    path, recorded = artifact["path"], str(artifact.get("hash") or "")
    algorithm = recorded.partition(":")[0] or "xxh3_128"
    kind = artifact.get("kind", "file")

    def tree(hasher: Hasher) -> Any:
        if kind == "glob":
            return hasher.hash_glob(store.repo_root, path)
        return hasher.hash_path(store.repo_root / path)

    if not (store.repo_root / path).exists() and kind != "glob":
        raise DataError(f"artifact {path} of run {run_id} has no recorded sha256 and is not here")
    if tree(Hasher(algorithm)).digest != recorded:
        raise DataError(
            f"artifact {path} has no recorded sha256 and changed since run {run_id} "
            "(restore it, e.g. `mlog pull`, or attest a newer run)"
        )
    prefix = f"{path}/" if kind == "directory" else ""
    entries = tree(Hasher("sha256")).entries
    if kind == "file":
        return [{"path": path, "sha256": entries[0].digest.partition(":")[2]}]
    return [{"path": prefix + e.path, "sha256": e.digest.partition(":")[2]} for e in entries]


# -- predicate -------------------------------------------------------------------------


def _build_definition(record: dict[str, Any], ref: str | None) -> dict[str, Any]:
    command = record["command"]
    internal: dict[str, Any] = {"run": record["id"], "alias": record["alias"]}
    internal.update(model=record["model"], cwd=command.get("cwd"), environment=_environment(record))
    if ref and "@" in ref:
        internal["modelVersion"] = ref
    return {
        "buildType": BUILD_TYPE,
        "externalParameters": {"argv": command["argv"], "params": record["params"]},
        "internalParameters": internal,
        "resolvedDependencies": _source(record) + _datasets(record) + _environment_deps(record),
    }


def _environment(record: dict[str, Any]) -> dict[str, Any]:
    env = record.get("environment") or {}
    keep = ("python", "os", "cuda", "driver", "container")
    return {key: env[key] for key in keep if env.get(key) is not None}


def _source(record: dict[str, Any]) -> list[dict[str, Any]]:
    """The git commit, under the SLSA convention's ``gitCommit`` digest key."""
    code = record["code"]
    if not code.get("commit"):
        return []
    digest = {"gitCommit": code["commit"]}
    if code.get("tree"):
        digest["gitTree"] = code["tree"]
    entry: dict[str, Any] = {"name": "source", "digest": digest}
    if code.get("remote") and "://" in code["remote"]:
        branch = f"@refs/heads/{code['branch']}" if code.get("branch") else ""
        entry["uri"] = f"git+{code['remote']}{branch}"
    annotations = {"dirty": bool(code.get("dirty"))}
    if code.get("describe"):
        annotations["describe"] = code["describe"]
    entry["annotations"] = annotations
    return [entry]


def _datasets(record: dict[str, Any]) -> list[dict[str, Any]]:
    found = []
    for name, entry in sorted((record.get("data") or {}).items()):
        dependency: dict[str, Any] = {"name": f"data/{name}"}
        if entry.get("kind") == "uri":
            dependency["uri"] = entry["path"]
        digest = _digest_set(entry.get("hash"))
        if digest:
            dependency["digest"] = digest
        annotations = {key: entry[key] for key in ("path", "kind", "size", "files") if key in entry}
        for key in ("manifest", "version", "mlflow_digest"):
            if entry.get(key):
                annotations[key] = entry[key]
        dependency["annotations"] = annotations
        found.append(dependency)
    return found


def _environment_deps(record: dict[str, Any]) -> list[dict[str, Any]]:
    env = record.get("environment") or {}
    found = []
    packages = env.get("packages") or {}
    if packages.get("object"):
        found.append(
            {
                "name": "python-packages",
                "digest": _digest_set(packages["object"]),
                "annotations": {"count": packages.get("count"), "object": packages["object"]},
            }
        )
    for lock in env.get("lock_files") or []:
        digest = _digest_set(lock.get("hash"))
        if digest:
            found.append({"name": lock["path"], "digest": digest})
    return found


def _digest_set(digest: str | None) -> dict[str, str]:
    """``xxh3_128:ab12`` -> ``{"xxh3_128": "ab12"}`` (an in-toto DigestSet)."""
    if not digest or ":" not in digest:
        return {}
    algorithm, _, hex_digest = digest.partition(":")
    return {algorithm: hex_digest}


def _run_details(store: Store, record: dict[str, Any]) -> dict[str, Any]:
    command = record["command"]
    metadata = {"invocationId": record["id"], "startedOn": command["started_at"]}
    if command.get("ended_at"):
        metadata["finishedOn"] = command["ended_at"]
    return {
        "builder": {"id": BUILDER_ID, "version": {"mlog-cli": _version()}},
        "metadata": metadata,
        "byproducts": _byproducts(store, record["id"]),
    }


def _version() -> str:
    """The installed mlog's version (read from its metadata: the package root is above us)."""
    from importlib import metadata

    try:
        return metadata.version("mlog-cli")
    except metadata.PackageNotFoundError:
        return "unknown"


def _byproducts(store: Store, run_id: str) -> list[dict[str, Any]]:
    """The record itself (and its series), so a verifier can tie the statement to git."""
    found = []
    for name, media in (("record.yaml", "application/yaml"), (SERIES_FILE, "application/jsonl")):
        path = store.run_dir(run_id) / name
        if path.exists():
            digest = hashlib.sha256(path.read_bytes()).hexdigest()
            relative = path.relative_to(store.repo_root).as_posix()
            found.append({"name": relative, "digest": {"sha256": digest}, "mediaType": media})
    return found


# -- DSSE ------------------------------------------------------------------------------


def pae(payload_type: str, payload: bytes) -> bytes:
    """DSSE's pre-authentication encoding: what is signed, never the bare payload."""
    kind = payload_type.encode()
    return b"DSSEv1 %d %s %d %s" % (len(kind), kind, len(payload), payload)


def sign(store: Store, signed: Statement) -> dict[str, Any]:
    """A DSSE envelope of the statement, signed with git's ssh signing key."""
    from mlog.storage import signing

    key = signing.signing_key(store.repo_root)
    if key is None:
        raise UsageError(
            "no signing key (set one: `git config gpg.format ssh` and "
            "`git config user.signingkey ~/.ssh/id_ed25519.pub`)"
        )
    payload = json.dumps(signed.document, sort_keys=True, separators=(",", ":")).encode()
    signature = signing.sign(key, pae(PAYLOAD_TYPE, payload), NAMESPACE)
    return {
        "payloadType": PAYLOAD_TYPE,
        "payload": base64.b64encode(payload).decode(),
        "signatures": [
            {
                "keyid": signing.fingerprint(key),
                "sig": base64.b64encode(signature.encode()).decode(),
            }
        ],
    }


# -- verification ----------------------------------------------------------------------


@dataclass
class Verification:
    """Each subject re-hashed here, each signature checked against the allowed signers."""

    subjects: list[dict[str, Any]] = field(default_factory=list)
    signatures: list[dict[str, Any]] = field(default_factory=list)
    invocation: str | None = None

    @property
    def ok(self) -> bool:
        return all(s["status"] == "ok" for s in self.subjects + self.signatures)

    def summary(self) -> str:
        bad = [s for s in self.subjects if s["status"] != "ok"]
        unsigned = "unsigned" if not self.signatures else f"{len(self.signatures)} signature(s)"
        return f"{len(self.subjects) - len(bad)}/{len(self.subjects)} subject(s) match, {unsigned}"

    def lines(self) -> list[str]:
        shown = [f"{s['status']:<9} {s['name']}" for s in self.subjects]
        shown += [
            f"{s['status']:<9} signature {s['keyid']} {s['by'] or s['note']}"
            for s in self.signatures
        ]
        return shown

    def to_json(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "invocation": self.invocation,
            "subjects": self.subjects,
            "signatures": self.signatures,
        }


def verify(store: Store, path: Path) -> Verification:
    """Check a statement or DSSE envelope written by ``export in-toto`` against this tree."""
    document = _read_json(path)
    report = Verification()
    if "payloadType" in document:
        payload = _envelope_payload(document, path)
        report.signatures = _check_signatures(store, document, payload)
        document = _parse(payload, path)
    _check_structure(document, path)
    report.invocation = document["predicate"]["runDetails"].get("metadata", {}).get("invocationId")
    report.subjects = [_check_subject(store, s) for s in document["subject"]]
    return report


def _read_json(path: Path) -> dict[str, Any]:
    try:
        text = path.read_text("utf-8")
    except FileNotFoundError:
        raise UsageError(f"no such provenance file: {path}") from None
    return _parse(text.encode(), path)


def _parse(data: bytes, path: Path) -> dict[str, Any]:
    try:
        document = json.loads(data)
    except ValueError as exc:
        raise RecordError(f"{path}: not JSON ({exc})") from None
    if not isinstance(document, dict):
        raise RecordError(f"{path}: expected a JSON object")
    return document


def _envelope_payload(envelope: dict[str, Any], path: Path) -> bytes:
    if envelope.get("payloadType") != PAYLOAD_TYPE:
        raise RecordError(f"{path}: DSSE payloadType is not {PAYLOAD_TYPE}")
    try:
        return base64.b64decode(str(envelope.get("payload", "")), validate=True)
    except ValueError:
        raise RecordError(f"{path}: DSSE payload is not base64") from None


def _check_structure(document: dict[str, Any], path: Path) -> None:
    from mlog.storage.schema import validate

    validate(document, "intoto-provenance", source=str(path))


def _check_signatures(
    store: Store, envelope: dict[str, Any], payload: bytes
) -> list[dict[str, Any]]:
    from mlog.registry.signatures import allowed_signers

    allowed = allowed_signers(store)
    signed = pae(PAYLOAD_TYPE, payload)
    found: list[dict[str, Any]] = []
    for entry in envelope.get("signatures") or []:
        keyid = str(entry.get("keyid", ""))
        if not allowed.is_file():
            found.append(_signature(keyid, None, "no allowed_signers file"))
            continue
        try:
            signature = base64.b64decode(str(entry.get("sig", "")), validate=True).decode("ascii")
        except ValueError:
            found.append(_signature(keyid, None, "sig is not base64"))
            continue
        found.append(_verified(keyid, signed, signature, allowed))
    if not found:
        found.append(_signature("", None, "envelope has no signature"))
    return found


def _verified(keyid: str, signed: bytes, signature: str, allowed: Path) -> dict[str, Any]:
    """Verified when a person allowed_signers names for the key made it over these bytes."""
    from mlog.storage import signing

    checked = signing.Verification(signing.UNKNOWN_KEY)
    for person in signing.principals(signature, allowed) or [""]:
        checked = signing.verify(signed, signature, person, allowed, NAMESPACE)
        if checked.verified:
            return _signature(keyid, checked.signer, None)
    return _signature(keyid, None, checked.status)


def _signature(keyid: str, by: str | None, note: str | None) -> dict[str, Any]:
    status = "ok" if by else "unknown" if note == "no allowed_signers file" else "invalid"
    return {"keyid": keyid, "status": status, "by": by, "note": note}


def _check_subject(store: Store, subject: dict[str, Any]) -> dict[str, Any]:
    name, expected = subject.get("name", ""), subject["digest"].get("sha256")
    row = {"name": name, "expected": expected, "actual": None}
    target = (store.repo_root / name).resolve()
    if not target.is_relative_to(store.repo_root.resolve()):
        return {**row, "status": "outside"}
    if expected is None:
        return {**row, "status": "no-sha256"}
    if not target.is_file():
        return {**row, "status": "missing"}
    actual = _sha256_file(target)
    return {**row, "actual": actual, "status": "ok" if actual == expected else "mismatch"}


def _sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()
