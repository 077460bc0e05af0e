"""Where each artifact is: verified on the remote by streaming hash, or present locally."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from mlog.errors import GateError, MlogError, NotFoundError
from mlog.remote.units import Unit, hash_local
from mlog.storage.hashing import Hasher, new_hash, parse_digest, tree_from_bytes

if TYPE_CHECKING:  # the status readers (`mlog show`) need neither the backend nor threads
    from mlog.remote.backend import Remote


def verify_on_remote(remote: Remote, units: list[Unit]) -> list[dict[str, Any]]:
    """Hash every byte of each unit's objects where they are: ``ok``, ``missing``, ``corrupt``."""
    return [{**unit.to_json(), "hash": unit.digest, **_verify_unit(remote, unit)} for unit in units]


def _verify_unit(remote: Remote, unit: Unit) -> dict[str, str]:
    try:
        if not unit.is_tree:
            return _compare(unit.digest, remote.hash_object(unit.digest))
        listing = remote.read_bytes(unit.digest)
        algorithm = parse_digest(unit.digest).algorithm
        h = new_hash(algorithm)
        h.update(listing)
        verdict = _compare(unit.digest, f"{algorithm}:{h.hexdigest()}")
        if verdict["status"] != "ok":
            return verdict
        return _verify_files([e.digest for e in tree_from_bytes(listing)], remote)
    except NotFoundError:
        return {"status": "missing", "detail": "not on the remote"}
    except MlogError as exc:
        return {"status": "corrupt", "detail": str(exc)}


def _compare(expected: str, actual: str) -> dict[str, str]:
    if actual == expected:
        return {"status": "ok", "detail": ""}
    return {"status": "corrupt", "detail": f"content hashes to {actual}"}


def _verify_files(digests: list[str], remote: Remote) -> dict[str, str]:
    from mlog.remote.push import _run_all

    bad: list[str] = []

    def check(digest: str) -> None:
        if remote.hash_object(digest) != digest:
            bad.append(digest)

    try:
        _run_all(check, sorted(set(digests)), remote.jobs)
    except NotFoundError as exc:
        return {"status": "missing", "detail": str(exc)}
    if bad:
        return {"status": "corrupt", "detail": f"{len(bad)} file object(s) differ, e.g. {bad[0]}"}
    return {"status": "ok", "detail": ""}


def refuse_unless_ok(checked: list[dict[str, Any]], what: str) -> None:
    bad = [f"{c['path']} ({c['status']})" for c in checked if c["status"] != "ok"]
    if bad:
        raise GateError(
            f"{what}: artifacts on the remote do not match the registered hashes: "
            f"{', '.join(bad)} (refusing to deploy; push them from a clone that has them)"
        )


def local_status(unit: Unit, base: Path, hasher: Hasher) -> str:
    """``ok`` (matches the record), ``missing`` or ``differs``."""
    try:
        tree = hash_local(unit, base, hasher)
    except MlogError:
        return "differs"
    if tree is None:
        return "missing"
    return "ok" if tree.digest == unit.digest else "differs"


def remote_status(remote: Remote | None, units: list[Unit]) -> dict[str, str]:
    """``present``/``missing`` by digest; ``unknown`` when the remote cannot be asked."""
    if remote is None:
        return {u.digest: "-" for u in units}
    try:
        there = remote.present([u.digest for u in units])
    except MlogError:
        return {u.digest: "unknown" for u in units}
    return {u.digest: "present" if u.digest in there else "missing" for u in units}
