"""The only module that talks to git. Returns plain frozen dataclasses.

GitPython is imported lazily so that ``mlog --help`` and ``import mlog`` stay fast.
"""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mlog.errors import NotARepoError
from mlog.redact import strip_url_credentials

if TYPE_CHECKING:
    from git import Repo

MLOG_DIR = ".mlog"


@dataclass(frozen=True)
class CodeState:
    """What identifies the code of a run, even after a rebase (the tree) or a push (the remote)."""

    commit: str
    tree: str
    branch: str | None
    describe: str | None
    remote: str | None
    shallow: bool


@dataclass(frozen=True)
class WorkingTree:
    """Paths that make the tree dirty, grouped the way the user has to act on them."""

    modified: tuple[str, ...] = ()
    staged: tuple[str, ...] = ()
    untracked: tuple[str, ...] = ()
    all_paths: tuple[str, ...] = field(default=())

    @property
    def dirty(self) -> bool:
        return bool(self.all_paths)


def _git_module() -> Any:
    executable = os.environ.get("GIT_PYTHON_GIT_EXECUTABLE", "git")
    if shutil.which(executable) is None:
        raise NotARepoError(f"git is not installed or not on PATH ({executable}); install git")
    try:
        import git
    except ImportError as exc:  # GitPython raises ImportError when the git binary is missing
        raise NotARepoError(
            f"git is not available ({str(exc).splitlines()[0]}); install git and retry"
        ) from None
    return git


def open_repo(start: Path) -> Repo:
    """Open the repository containing ``start``; a clear error when there is none."""
    git = _git_module()
    try:
        return git.Repo(start, search_parent_directories=True)  # type: ignore[no-any-return]
    except (git.InvalidGitRepositoryError, git.NoSuchPathError):
        raise NotARepoError(
            f"not a git repository: {start} (run inside one, or `git init`)"
        ) from None


def repo_root(start: Path) -> Path:
    repo = open_repo(start)
    try:
        if repo.working_tree_dir is None:
            raise NotARepoError(f"{start} is inside a bare repository; mlog needs a working tree")
        return Path(repo.working_tree_dir).resolve()
    finally:
        repo.close()


def code_state(root: Path) -> CodeState:
    """Commit, tree, branch, describe, remote and shallowness of HEAD."""
    repo = open_repo(root)
    try:
        if not repo.head.is_valid():
            raise NotARepoError("the repository has no commit yet (commit your code first)")
        commit = repo.head.commit
        return CodeState(
            commit=commit.hexsha,
            tree=commit.tree.hexsha,
            branch=None if repo.head.is_detached else repo.active_branch.name,
            describe=_describe(repo),
            remote=_remote_url(repo),
            shallow=Path(repo.git_dir, "shallow").exists(),
        )
    finally:
        repo.close()


def _describe(repo: Repo) -> str | None:
    try:
        text: str = repo.git.describe("--tags", "--always", "--dirty")
    except Exception:
        return None
    return text or None


def _remote_url(repo: Repo) -> str | None:
    remotes = {remote.name: remote for remote in repo.remotes}
    remote = remotes.get("origin") or next(iter(remotes.values()), None)
    if remote is None:
        return None
    try:
        url = next(iter(remote.urls))
    except Exception:
        return None
    return strip_url_credentials(url)


def working_tree(root: Path) -> WorkingTree:
    """Dirty paths from ``git status``, ignoring mlog's own directory."""
    repo = open_repo(root)
    try:
        raw: str = repo.git.status("--porcelain=v1", "-z", "--untracked-files=all")
    finally:
        repo.close()
    return _parse_status(raw)


def _parse_status(raw: str) -> WorkingTree:
    modified: list[str] = []
    staged: list[str] = []
    untracked: list[str] = []
    entries = iter(raw.split("\0"))
    for entry in entries:
        if len(entry) < 4:
            continue
        code, path = entry[:2], entry[3:]
        if code[0] in "RC":
            next(entries, None)  # the rename source follows; the new path is what matters
        if path == MLOG_DIR or path.startswith(MLOG_DIR + "/"):
            continue
        if code == "??":
            untracked.append(path)
            continue
        if code[0] not in " ?":
            staged.append(path)
        if code[1] != " ":
            modified.append(path)
    every = tuple(sorted({*modified, *staged, *untracked}))
    return WorkingTree(tuple(modified), tuple(staged), tuple(untracked), every)


def tracked_patch(root: Path) -> str:
    """Unified diff of staged and unstaged changes to tracked files, against HEAD."""
    repo = open_repo(root)
    try:
        patch: str = repo.git.diff("HEAD", "--binary", "--", ".", f":(exclude){MLOG_DIR}")
    finally:
        repo.close()
    return patch + "\n" if patch else ""


def user_identity(root: Path) -> str | None:
    """The git user's email (or name), used to say who did something."""
    repo = open_repo(root)
    try:
        reader = repo.config_reader()
        for option in ("email", "name"):
            value = reader.get_value("user", option, default="")
            if value:
                return str(value)
        return None
    finally:
        repo.close()


def system_user() -> str | None:
    for name in ("USER", "LOGNAME", "USERNAME"):
        if os.environ.get(name):
            return os.environ[name]
    return None
