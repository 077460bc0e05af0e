"""SSH signatures with the key git signs with: ``ssh-keygen -Y sign`` / ``-Y verify``.

The one place that runs ``ssh-keygen``. The key is git's own (``gpg.format=ssh`` and
``user.signingkey``, read through git so ``-c`` and ``GIT_CONFIG_*`` variables apply),
so a person who signs commits signs mlog events with no extra setup. Signatures are
armored SSH signatures over bytes the caller chooses, under a namespace (``mlog`` for
registry events and run records) so a signature made for one purpose cannot be replayed
for another. Verification maps keys to people through an ssh ``allowed_signers`` file.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

from mlog.errors import ConfigError
from mlog.storage import atomic, gitio

NAMESPACE = "mlog"
SIGNATURE_SUFFIX = ".sig"
VERIFIED = "verified"  # the key is the named person's in allowed_signers, content unchanged
WRONG_SIGNER = "wrong signer"  # a known key, but of someone else than the named person
UNKNOWN_KEY = "unknown key"  # content unchanged, the key is in no allowed_signers line
BAD = "bad signature"  # the content changed after signing, or the signature is garbage
UNSIGNED = "unsigned"


@dataclass(frozen=True)
class SigningKey:
    """Where git's ssh signing key is: a key file, or a literal public key held by an agent."""

    program: str
    path: str | None = None
    literal: str | None = None


@dataclass(frozen=True)
class Verification:
    """What a signature proves: ``status`` (see the constants) and the principal it names."""

    status: str
    signer: str | None = None

    @property
    def verified(self) -> bool:
        return self.status == VERIFIED


def signing_key(root: Path) -> SigningKey | None:
    """Git's ssh signing key for this repository, or None when git does not sign with ssh."""
    if (gitio.config_value(root, "gpg.format") or "openpgp").lower() != "ssh":
        return None
    value = gitio.config_value(root, "user.signingkey")
    if not value:
        return None
    program = gitio.config_value(root, "gpg.ssh.program") or "ssh-keygen"
    if value.startswith("key::"):
        return SigningKey(program, literal=value[len("key::") :])
    if value.startswith(("ssh-", "ecdsa-", "sk-")):
        return SigningKey(program, literal=value)
    return SigningKey(program, path=str(Path(value).expanduser()))


def sign(key: SigningKey, message: bytes, namespace: str = NAMESPACE) -> str:
    """An armored SSH signature of ``message``; a clear ``ConfigError`` when the key cannot sign."""
    with tempfile.TemporaryDirectory(prefix="mlog-sign-") as tmp:
        if key.literal is not None:
            public = Path(tmp, "key.pub")
            public.write_text(key.literal.strip() + "\n")
            args = ["-Y", "sign", "-U", "-f", str(public), "-n", namespace]
        else:
            args = ["-Y", "sign", "-f", str(key.path), "-n", namespace]
        done = _run(key.program, args, message)
    if done.returncode != 0 or "BEGIN SSH SIGNATURE" not in done.stdout:
        raise ConfigError(
            f"ssh-keygen could not sign with git's user.signingkey ({_last_line(done.stderr)}) "
            "(check `git config user.signingkey`: a key file, or a key loaded in ssh-agent)"
        )
    return done.stdout


def verify(
    message: bytes,
    signature: str | None,
    person: str,
    allowed_signers: Path | None,
    namespace: str = NAMESPACE,
) -> Verification:
    """Check ``signature`` over ``message`` as made by ``person`` (emails: case-insensitive)."""
    if not signature:
        return Verification(UNSIGNED)
    with tempfile.TemporaryDirectory(prefix="mlog-verify-") as tmp:
        sig = Path(tmp, "message.sig")
        sig.write_text(signature)
        principals = _principals(sig, allowed_signers)
        mine = [p for p in principals if p.casefold() == person.casefold()]
        for principal in mine:
            args = ["-Y", "verify", "-f", str(allowed_signers), "-I", principal, "-n", namespace]
            if _run("ssh-keygen", [*args, "-s", str(sig)], message).returncode == 0:
                return Verification(VERIFIED, principal)
        intact = _run(
            "ssh-keygen", ["-Y", "check-novalidate", "-n", namespace, "-s", str(sig)], message
        )
    if intact.returncode != 0:
        return Verification(BAD, principals[0] if principals else None)
    if principals:
        return Verification(WRONG_SIGNER, principals[0])
    return Verification(UNKNOWN_KEY)


class Verdicts:
    """Verdicts :func:`verify` reached, kept by everything a verdict depends on: the bytes
    signed, the signature, the person named, the namespace and the allowed_signers file's
    bytes. Each verdict costs ssh-keygen two or three runs (a few ms each), and every read of a
    model's registry judged all its events again: hundreds of signed events made `registry
    ls` take seconds. An allowed_signers file with validity dates (``valid-before``,
    ``valid-after``) makes verdicts depend on the time: none is kept then.

    The file is a local cache (``.mlog/cache/``): lost or unreadable, everything is verified
    again; never committed, so a clone (CI) verifies for itself.
    """

    def __init__(self, path: Path | None) -> None:
        self._path = path
        self._added = False
        self._known: dict[str, list[str | None]] = {}
        if path is not None:
            with contextlib.suppress(OSError, ValueError, TypeError):
                loaded = json.loads(path.read_text(encoding="utf-8"))
                if isinstance(loaded, dict):
                    self._known = loaded

    def verify(
        self,
        message: bytes,
        signature: str | None,
        person: str,
        allowed_signers: Path | None,
        namespace: str = NAMESPACE,
    ) -> Verification:
        """:func:`verify`, answered from the kept verdicts when the same question was asked."""
        allowed = b""
        if allowed_signers is not None:
            try:
                allowed = allowed_signers.read_bytes()
            except OSError:
                allowed = b"\0unreadable"  # ssh-keygen fails the same way, and is asked
        if not signature or b"valid-" in allowed:
            return verify(message, signature, person, allowed_signers, namespace)
        parts = (namespace.encode(), message, signature.encode(), person.casefold().encode(),
                 str(allowed_signers).encode(), allowed)  # fmt: skip
        digest = hashlib.sha256()
        for part in parts:
            digest.update(len(part).to_bytes(8, "big") + part)
        key = digest.hexdigest()
        known = self._known.get(key)
        if isinstance(known, list) and len(known) == 2 and known[0] in _STATUSES:
            return Verification(str(known[0]), known[1] if isinstance(known[1], str) else None)
        checked = verify(message, signature, person, allowed_signers, namespace)
        self._known[key] = [checked.status, checked.signer]
        self._added = True
        return checked

    def save(self) -> None:
        """Keep the new verdicts (a cache: written without fsync, failures ignored)."""
        if not self._added or self._path is None:
            return
        with contextlib.suppress(OSError):
            atomic.write_text(self._path, json.dumps(self._known), durable=False)
        self._added = False


_STATUSES = (VERIFIED, WRONG_SIGNER, UNKNOWN_KEY, BAD)


def fingerprint(key: SigningKey) -> str:
    """The key's ``SHA256:...`` fingerprint (what DSSE envelopes name as ``keyid``)."""
    with tempfile.TemporaryDirectory(prefix="mlog-key-") as tmp:
        path = key.path
        if key.literal is not None:
            path = str(Path(tmp, "key.pub"))
            Path(path).write_text(key.literal.strip() + "\n")
        done = _run(key.program, ["-l", "-E", "sha256", "-f", str(path)], b"")
    if done.returncode != 0 or len(done.stdout.split()) < 2:
        raise ConfigError(
            f"ssh-keygen cannot read git's user.signingkey ({_last_line(done.stderr)}) "
            "(check `git config user.signingkey`)"
        )
    return done.stdout.split()[1]


def principals(signature: str, allowed_signers: Path | None) -> list[str]:
    """Who ``allowed_signers`` lists for the key that made ``signature`` (not yet verified)."""
    with tempfile.TemporaryDirectory(prefix="mlog-verify-") as tmp:
        sig = Path(tmp, "message.sig")
        sig.write_text(signature)
        return _principals(sig, allowed_signers)


def _principals(sig: Path, allowed_signers: Path | None) -> list[str]:
    if allowed_signers is None or not allowed_signers.is_file():
        return []
    args = ["-Y", "find-principals", "-f", str(allowed_signers), "-s", str(sig)]
    done = _run("ssh-keygen", args, b"")
    return (
        [line.strip() for line in done.stdout.splitlines() if line.strip()]
        if done.returncode == 0
        else []
    )


def _run(program: str, args: list[str], message: bytes) -> subprocess.CompletedProcess[str]:
    executable = shutil.which(program) or shutil.which(os.path.expanduser(program))
    if executable is None:
        raise ConfigError(
            f"{program} is not installed or not on PATH; it signs and verifies ssh signatures "
            "(install OpenSSH 8.2 or newer, e.g. `apt-get install openssh-client`)"
        )
    done = subprocess.run([executable, *args], input=message, capture_output=True, check=False)
    return subprocess.CompletedProcess(
        done.args, done.returncode, done.stdout.decode(errors="replace"),
        done.stderr.decode(errors="replace"),
    )  # fmt: skip


def _last_line(text: str) -> str:
    lines = [line for line in text.strip().splitlines() if line.strip()]
    return lines[-1] if lines else "no output"
