"""The remote itself: one fsspec filesystem and a root, addressed by digest.

Every backend call goes through :func:`_guard`, which turns the backends' own exceptions
(OSError, botocore, azure, google errors) into one-line :class:`RemoteError` messages.
fsspec and the backend library are imported only here, when a remote command runs.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mlog.errors import ConfigError, MlogError, NotFoundError, RemoteError
from mlog.storage.hashing import new_hash, parse_digest
from mlog.storage.redact import is_secret_name, strip_url_credentials

if TYPE_CHECKING:
    from mlog.storage.config import Config

DEFAULT_JOBS = 8
LIST_THRESHOLD = 64  # more keys than this: one listing beats a request per key
CHUNK = 4 << 20
SMALL_OBJECT = 8 << 20  # fetched in one request
EXTRAS = {
    "s3": "pip install 'mlog-cli[s3]'",
    "s3a": "pip install 'mlog-cli[s3]'",
    "gs": "pip install gcsfs",
    "gcs": "pip install gcsfs",
    "az": "pip install adlfs",
    "abfs": "pip install adlfs",
    "abfss": "pip install adlfs",
}
_SECRET_OPTIONS = {"connection_string", "credential", "credentials", "sas"}


@dataclass(frozen=True)
class RemoteSettings:
    """Where the remote is and how to reach it; ``url`` is None when none is configured."""

    url: str | None
    options: dict[str, Any] = field(default_factory=dict)
    push_on_register: bool = True
    jobs: int = DEFAULT_JOBS


def settings_from(config: Config, repo_root: Path) -> RemoteSettings:
    """The config's remote, overridden by ``MLOG_REMOTE``; a relative folder is repo-relative."""
    url = os.environ.get("MLOG_REMOTE", "").strip() or config.remote
    if url and "://" not in url and not os.path.isabs(url):
        url = str(repo_root / url)
    _refuse_credentials(config.remote_options, "remote_options")
    return RemoteSettings(
        url or None,
        dict(config.remote_options),
        config.remote_push_on_register,
        config.remote_jobs or DEFAULT_JOBS,
    )


def _refuse_credentials(options: Any, where: str) -> None:
    if not isinstance(options, dict):
        return
    for key, value in options.items():
        if is_secret_name(str(key)) or str(key).lower() in _SECRET_OPTIONS:
            raise ConfigError(
                f"{where}.{key} looks like a credential; credentials are never recorded "
                "(use the backend's environment variables, profile or instance role)"
            )
        _refuse_credentials(value, f"{where}.{key}")


class Remote:
    """A content-addressed object store on one fsspec filesystem."""

    def __init__(self, url: str, options: dict[str, Any], jobs: int = DEFAULT_JOBS) -> None:
        self.url = strip_url_credentials(url)
        self.jobs = jobs
        protocol = url.split("://", 1)[0] if "://" in url else "file"
        self.fs, self.root = _open_filesystem(url, options, protocol)
        self.root = self.root.rstrip("/")
        self.local = protocol == "file" or "file" in _protocols(self.fs)

    # ------------------------------------------------------------ naming

    def key(self, digest: str) -> str:
        """``<root>/<algorithm>/<first two hex>/<rest>`` for ``algorithm:hex``."""
        algorithm, hexpart = parse_digest(digest)
        return f"{self.root}/{algorithm}/{hexpart[:2]}/{hexpart[2:]}"

    # ------------------------------------------------------------ queries

    def present(self, digests: list[str]) -> set[str]:
        """Which of ``digests`` exist: a request each when few, one listing when many."""
        wanted = sorted(set(digests))
        if not wanted:
            return set()
        if len(wanted) <= LIST_THRESHOLD:
            from concurrent.futures import ThreadPoolExecutor  # not for `mlog show`'s settings

            with ThreadPoolExecutor(min(self.jobs, len(wanted))) as pool:
                found = list(pool.map(self.exists, wanted))
            return {d for d, ok in zip(wanted, found, strict=True) if ok}
        listed: set[str] = set()
        for algorithm in sorted({parse_digest(d).algorithm for d in wanted}):
            listed.update(self._listing(algorithm))
        return {d for d in wanted if self.key(d) in listed}

    def exists(self, digest: str) -> bool:
        with _guard(self.url, "check"):
            return bool(self.fs.exists(self.key(digest)))

    def size(self, digest: str) -> int:
        with _guard(self.url, "read", digest):
            return int(self.fs.info(self.key(digest))["size"])

    def _listing(self, algorithm: str) -> set[str]:
        top = f"{self.root}/{algorithm}"
        with _guard(self.url, "list"):
            try:
                return {p.rstrip("/") for p in self.fs.find(top)}
            except FileNotFoundError:
                return set()

    # ------------------------------------------------------------ writes (once)

    def put_file(self, local: str, digest: str) -> None:
        """Upload a file under its digest; a local remote gets it via a temp name and rename."""
        key = self.key(digest)
        with _guard(self.url, "write", digest):
            if not self.local:
                self.fs.put_file(local, key)
                return
            tmp = self._tmp_name(key)
            try:
                self.fs.put_file(local, tmp)
                self.fs.mv(tmp, key)
            finally:
                _quietly(self.fs.rm_file, tmp)

    def put_bytes(self, data: bytes, digest: str) -> None:
        key = self.key(digest)
        with _guard(self.url, "write", digest):
            if not self.local:
                self.fs.pipe_file(key, data)
                return
            tmp = self._tmp_name(key)
            try:
                self.fs.pipe_file(tmp, data)
                self.fs.mv(tmp, key)
            finally:
                _quietly(self.fs.rm_file, tmp)

    def _tmp_name(self, key: str) -> str:
        self.fs.makedirs(key.rsplit("/", 1)[0], exist_ok=True)
        import uuid

        return f"{key}.tmp-{uuid.uuid4().hex}"

    # ------------------------------------------------------------ reads

    def download(self, digest: str, local: str, size: int | None) -> tuple[str, int]:
        """Write the object to ``local``, hashing it on the way: one pass over its bytes.

        Returns the digest (with the pinned digest's algorithm) and size of what arrived.
        A small object is one GET; a large one is streamed in chunks, never held whole.
        """
        algorithm = parse_digest(digest).algorithm
        h = new_hash(algorithm)
        total = 0
        with _guard(self.url, "read", digest), open(local, "wb") as out:
            if size is not None and size <= SMALL_OBJECT:
                data = bytes(self.fs.cat_file(self.key(digest)))
                h.update(data)
                out.write(data)
                return f"{algorithm}:{h.hexdigest()}", len(data)
            with self.fs.open(self.key(digest), "rb") as handle:
                while chunk := handle.read(CHUNK):
                    h.update(chunk)
                    out.write(chunk)
                    total += len(chunk)
        return f"{algorithm}:{h.hexdigest()}", total

    def read_bytes(self, digest: str) -> bytes:
        with _guard(self.url, "read", digest):
            return bytes(self.fs.cat_file(self.key(digest)))

    def hash_object(self, digest: str) -> str:
        """Stream the object through the digest's own hash; nothing is written locally."""
        algorithm = parse_digest(digest).algorithm
        h = new_hash(algorithm)
        with _guard(self.url, "read", digest), self.fs.open(self.key(digest), "rb") as handle:
            while chunk := handle.read(CHUNK):
                h.update(chunk)
        return f"{algorithm}:{h.hexdigest()}"


def _protocols(fs: Any) -> tuple[str, ...]:
    protocol = fs.protocol
    return (protocol,) if isinstance(protocol, str) else tuple(protocol)


def _open_filesystem(url: str, options: dict[str, Any], protocol: str) -> tuple[Any, str]:
    try:
        import fsspec
    except ImportError:
        raise RemoteError(
            "remote storage needs fsspec (pip install 'mlog-cli[s3]', or fsspec for a folder)"
        ) from None
    try:
        fs, root = fsspec.core.url_to_fs(url, skip_instance_cache=True, **options)
    except ImportError:
        hint = EXTRAS.get(protocol, f"install the fsspec backend for {protocol}://")
        raise RemoteError(f"no backend for {protocol}:// remotes is installed ({hint})") from None
    except ValueError as exc:
        raise ConfigError(f"remote {strip_url_credentials(url)}: {exc} (check `remote:`)") from None
    except (TypeError, OSError) as exc:
        raise ConfigError(
            f"remote {strip_url_credentials(url)}: {_first_line(exc)} (check `remote_options:`)"
        ) from None
    return fs, str(root)


@contextlib.contextmanager
def _guard(url: str, action: str, digest: str | None = None) -> Iterator[None]:
    """One funnel from backend exceptions to mlog errors, each one line."""
    try:
        yield
    except MlogError:
        raise
    except FileNotFoundError as exc:
        if digest is None or action != "read":
            raise RemoteError(
                f"remote {url}: cannot {action}: {_first_line(exc)} "
                "(check that the bucket or folder exists)"
            ) from None
        raise NotFoundError(
            f"object {digest} is not on the remote {url} (push it from a clone that has it)"
        ) from None
    except PermissionError as exc:
        raise RemoteError(
            f"remote {url} refused to {action}: {_first_line(exc)} (check credentials)"
        ) from None
    except Exception as exc:
        raise RemoteError(
            f"remote {url}: cannot {action}: {type(exc).__name__}: {_first_line(exc)} "
            "(check the URL, credentials and network)"
        ) from None


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0][:200] if text else type(exc).__name__


def _quietly(func: Any, *args: Any) -> None:
    with contextlib.suppress(Exception):
        func(*args)
