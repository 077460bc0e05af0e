"""Installed packages and lock files: what the training code could import.

The list must describe the interpreter that runs the *training* command, which is often not
mlog's own (mlog installed with pipx, training in a project venv). :func:`training_interpreter`
finds it from argv, :func:`same_environment` tells whether it is mlog's own by ``sys.prefix``,
:func:`packages_of_interpreter` reads a virtual environment's ``site-packages`` or asks the
interpreter in a subprocess, and :func:`current_packages` is the in-process answer.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import xxhash

LOCK_FILE_NAMES = (
    "poetry.lock",
    "uv.lock",
    "environment.yml",
    "environment.yaml",
    "conda.yaml",
    "conda-lock.yml",
    "Pipfile.lock",
    "pdm.lock",
)
"""Lock files hashed at the repo root, besides every ``requirements*.txt``."""

_LIST_SCRIPT = (
    "import importlib.metadata as m, json, sys\n"
    "json.dump([[d.metadata['Name'], d.version] for d in m.distributions()], sys.stdout)\n"
)
_PYTHON_NAME = re.compile(r"^(python|pypy)(\d+(\.\d+)*)?(\.exe)?$")


@dataclass(frozen=True)
class LockFile:
    """A lock file at the repo root and the hash of its bytes."""

    path: str
    hash: str


def normalize_name(name: str) -> str:
    """PEP 503 normalisation, so ``Foo_Bar`` and ``foo.bar`` count as one distribution."""
    return re.sub(r"[-_.]+", "-", name).lower()


def package_lines(pairs: Iterable[tuple[object, object]]) -> list[str]:
    """Sorted, unique ``name==version`` lines; entries with a missing name or version dropped."""
    lines = {
        f"{normalize_name(name)}=={version}"
        for name, version in pairs
        if isinstance(name, str) and isinstance(version, str) and name and version
    }
    return sorted(lines)


_DIST_INFO = re.compile(r"^(?P<name>[^-]+)-(?P<version>[^-]+)\.dist-info$")
_EGG_INFO = re.compile(r"^(?P<name>[^-]+)-(?P<version>[^-]+?)(-py\d+(\.\d+)*)?\.egg-info$")


def current_packages() -> list[str]:
    """Distributions visible to the running interpreter, as ``name==version`` lines.

    The same search as :func:`importlib.metadata.distributions` (every ``sys.path`` entry),
    but name and version come from the ``NAME-VERSION.dist-info`` directory name, which the
    wheel spec guarantees. A folder named otherwise (``src/proj.egg-info`` of an editable
    install) has its two header fields read; ``importlib.metadata`` (12 ms of imports with
    the ``email`` package) is imported only for a zip archive on ``sys.path``.
    """
    return package_lines(_installed_pairs(sys.path))


def _installed_pairs(folders: Iterable[str | Path]) -> list[tuple[object, object]]:
    """(name, version) of every distribution in ``folders`` (``sys.path`` entries or
    ``site-packages`` folders); a metadata folder whose name carries no version, and an
    archive entry, are read from their metadata files (no code of the distribution runs)."""
    pairs: list[tuple[object, object]] = []
    odd: list[Path] = []
    for folder in folders:
        where = Path(folder or ".")
        try:
            names = os.listdir(where)
        except NotADirectoryError:
            odd.append(where)
            continue
        except OSError:
            continue
        for name in names:
            match = _DIST_INFO.match(name) or _EGG_INFO.match(name)
            if match:
                pairs.append((match["name"], match["version"]))
            elif name.endswith((".dist-info", ".egg-info")):
                odd.append(where / name)
    if odd:
        pairs.extend(_metadata_pairs(odd))
    return pairs


def _metadata_pairs(paths: Iterable[Path]) -> list[tuple[object, object]]:
    pairs: list[tuple[object, object]] = []
    archives = []
    for path in paths:
        if path.is_dir():
            pairs.append(_name_and_version(path))
        else:
            archives.append(str(path))
    if archives:
        import importlib.metadata  # only for an archive on sys.path (a zipped egg)

        found = importlib.metadata.distributions(path=archives)
        pairs.extend((dist.metadata["Name"], dist.version) for dist in found)
    return pairs


def _name_and_version(folder: Path) -> tuple[str | None, str | None]:
    """``Name`` and ``Version`` from a metadata folder's header block (core metadata: each
    a single-line field before the first blank line); ``(None, None)`` when unreadable."""
    fields: dict[str, str] = {}
    for file_name in ("METADATA", "PKG-INFO"):
        try:
            with open(folder / file_name, encoding="utf-8", errors="replace") as handle:
                for line in handle:
                    if not line.strip():
                        break
                    key, colon, value = line.partition(":")
                    if colon and key in ("Name", "Version"):
                        fields.setdefault(key, value.strip())
        except OSError:
            continue
        break
    return fields.get("Name"), fields.get("Version")


def interpreter_prefix(python_executable: str) -> Path:
    """The environment an interpreter belongs to: its virtual environment, else its install.

    Two virtual environments made from one base Python have interpreters that resolve to
    the same binary, so the binary cannot tell them apart; ``pyvenv.cfg`` beside ``bin/``
    can (it is how Python itself sets ``sys.prefix``).
    """
    path = Path(os.path.abspath(python_executable))
    if (path.parent.parent / "pyvenv.cfg").is_file():
        return path.parent.parent
    return Path(os.path.realpath(python_executable)).parent.parent


def same_environment(python_executable: str) -> bool:
    """Whether ``python_executable`` sees the packages of the running interpreter."""
    prefix = interpreter_prefix(python_executable)
    return os.path.realpath(prefix) == os.path.realpath(sys.prefix)


def venv_packages(prefix: Path) -> list[str] | None:
    """The distributions of a virtual environment, read from its ``site-packages`` names.

    Cheaper than starting its interpreter (0.13 s instead of 0.3 s); ``None`` when the
    environment also sees its base's packages, or is not a virtual environment at all.
    """
    config = prefix / "pyvenv.cfg"
    try:
        text = config.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return None
    if re.search(r"^\s*include-system-site-packages\s*=\s*true", text, re.I | re.M):
        return None
    sites = [*prefix.glob("lib/python*/site-packages"), *prefix.glob("Lib/site-packages")]
    if not sites:
        return None
    return package_lines(_installed_pairs(sites))


def packages_of_interpreter(
    python_executable: str,
    timeout: float = 10.0,
    environ: Mapping[str, str] | None = None,
) -> list[str] | None:
    """Another Python's distributions: read from its virtual environment when it is one, else
    asked of the interpreter itself; ``None`` when it cannot answer in time."""
    listed = venv_packages(interpreter_prefix(python_executable))
    if listed is not None:
        return listed
    try:
        completed = subprocess.run(
            [python_executable, "-c", _LIST_SCRIPT],
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
            stdin=subprocess.DEVNULL,
            env=None if environ is None else dict(environ),
        )
    except (OSError, subprocess.SubprocessError):
        return None
    if completed.returncode != 0:
        return None
    return _parse_package_json(completed.stdout)


def _parse_package_json(text: str) -> list[str] | None:
    try:
        entries = json.loads(text)
    except ValueError:
        return None
    if not isinstance(entries, list):
        return None
    pairs = [
        (entry[0], entry[1]) for entry in entries if isinstance(entry, list) and len(entry) == 2
    ]
    return package_lines(pairs)


def packages_blob(lines: Iterable[str]) -> bytes:
    """The stored form of a package list: sorted unique lines, each ``\\n``-terminated, UTF-8."""
    return "".join(f"{line}\n" for line in sorted(set(lines))).encode("utf-8")


def training_interpreter(argv: Sequence[str], environ: Mapping[str, str]) -> str | None:
    """The Python that will run ``argv``: argv[0] itself, or its ``#!`` line (torchrun, ...).

    Returns ``None`` when the command is not recognisably Python (``uv run``, a binary).
    """
    if not argv:
        return None
    search_path = environ.get("PATH", os.defpath)
    executable = shutil.which(argv[0], path=search_path)
    if executable is None:
        return None
    if _PYTHON_NAME.match(Path(argv[0]).name):
        return executable
    return _shebang_python(Path(executable), search_path)


def _shebang_python(script: Path, search_path: str) -> str | None:
    try:
        with script.open("rb") as handle:
            first_line = handle.readline(512).decode("utf-8", "replace").strip()
    except OSError:
        return None
    if not first_line.startswith("#!"):
        return None
    words = first_line[2:].split()
    if words and Path(words[0]).name == "env":
        words = [word for word in words[1:] if not word.startswith("-")]
        return _which_python(words[0], search_path) if words else None
    return words[0] if words and _PYTHON_NAME.match(Path(words[0]).name) else None


def _which_python(name: str, search_path: str) -> str | None:
    return shutil.which(name, path=search_path) if _PYTHON_NAME.match(name) else None


def lock_file_hashes(repo_root: Path) -> list[LockFile]:
    """xxh3-128 of every lock file present at the repo root, sorted by path."""
    candidates = [*repo_root.glob("requirements*.txt"), *(repo_root / n for n in LOCK_FILE_NAMES)]
    found: dict[str, LockFile] = {}
    for candidate in candidates:
        digest = _file_hash(candidate)
        if digest is not None:
            found[candidate.name] = LockFile(path=candidate.name, hash=digest)
    return [found[name] for name in sorted(found)]


def _file_hash(path: Path) -> str | None:
    if not path.is_file():
        return None
    try:
        data = path.read_bytes()
    except OSError:
        return None
    return f"xxh3_128:{xxhash.xxh3_128(data).hexdigest()}"
