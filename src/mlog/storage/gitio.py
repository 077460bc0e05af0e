"""The only module that talks to git. Returns plain frozen dataclasses.

What ``mlog run`` needs (HEAD, status, the patch, config values) goes through
:func:`_git`, a plain subprocess call, so the run path never imports GitPython (0.15 s);
the history questions of ``check``/``diff`` still use GitPython, imported lazily so that
``mlog --help`` and ``import mlog`` stay fast.
"""

from __future__ import annotations

import contextlib
import functools
import os
import shutil
import subprocess
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, ParamSpec, TypeVar

from mlog.errors import MlogError, NotARepoError, StorageError
from mlog.storage.redact import strip_url_credentials

if TYPE_CHECKING:
    from git import Repo

MLOG_DIR = ".mlog"
P = ParamSpec("P")
R = TypeVar("R")


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


def _require_git_binary() -> None:
    executable = os.environ.get("GIT_PYTHON_GIT_EXECUTABLE", "git")
    if shutil.which(executable) is None:
        raise NotARepoError(f"git is not installed or not on PATH ({executable}); install git")


def _git_module() -> Any:
    _require_git_binary()
    try:
        import git
    except ImportError as exc:  # GitPython raises ImportError when the git binary is missing
        raise NotARepoError(
            f"git is not available ({str(exc).splitlines()[0]}); install git and retry"
        ) from None
    return git


def _git_failures(func: Callable[P, R]) -> Callable[P, R]:
    """Git refusing to work (a full disk, a read-only clone, another user's repository)
    becomes one line with git's own words, instead of a raw ``GitCommandError``."""

    @functools.wraps(func)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return func(*args, **kwargs)
        except Exception as exc:
            failure = _git_failure(exc)
            if failure is None:
                raise
            raise failure from None

    return wrapper


_STORAGE_WORDS = ("out of diskspace", "no space left", "read-only file system",
                  "permission denied", "disk quota")  # fmt: skip


def _git_failure(exc: Exception) -> MlogError | None:
    if type(exc).__name__ != "GitCommandError":
        return None
    return _failure_from(str(getattr(exc, "stderr", "") or ""))


def _failure_from(stderr: str) -> MlogError | None:
    """What git's own words say went wrong, when it is the disk or the repository's owner."""
    stderr = stderr.strip().removeprefix("stderr:").strip(" '\n")
    lines = [line.strip() for line in stderr.splitlines() if line.strip()]
    said = next((line for line in lines if line.startswith(("fatal:", "error:"))), "")
    said = said.partition(":")[2].strip() or (lines[0] if lines else "")
    if "dubious ownership" in said:
        return NotARepoError(_git_refusal(stderr, Path.cwd()))
    if any(word in stderr.lower() for word in _STORAGE_WORDS):
        return StorageError(
            f"git cannot write: {said} (free space or make it writable, then retry)"
        )
    return None


class _GitFailed(NotARepoError):
    """A git command exited non-zero; unhandled, it is a one-line error naming git's own."""


def _git(root: Path, *args: str, check: bool = True) -> str:
    """Output of one git command run in ``root``, decoded as GitPython did; with ``check``
    a non-zero exit raises :class:`_GitFailed`, else it gives the output it has."""
    return _Started(root, args).output(check=check)


class _Started:
    """A git command started in ``root`` and not yet waited for, so that independent
    commands run side by side (each is mostly git's own start-up and I/O)."""

    def __init__(self, root: Path, args: tuple[str, ...]) -> None:
        _require_git_binary()
        executable = os.environ.get("GIT_PYTHON_GIT_EXECUTABLE", "git")
        self._args = args
        self._done: tuple[bytes, bytes] | None = None
        self._process = subprocess.Popen(
            [executable, *args],
            cwd=root,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )

    def output(self, *, check: bool = True) -> str:
        """Wait for the command; its output, or with ``check`` :class:`_GitFailed` on a
        non-zero exit (one line with git's own words)."""
        if self._done is None:
            self._done = self._process.communicate()
        stdout, stderr = self._done
        if check and self._process.returncode != 0:
            said = stderr.decode("utf-8", "replace")
            failure = _failure_from(said)
            if failure is not None:
                raise failure
            reason = said.strip().splitlines()
            last = reason[-1] if reason else self._process.returncode
            raise _GitFailed(f"git {self._args[0]} failed: {last}")
        return stdout.decode("utf-8", "surrogateescape")


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
    """The working tree's top directory: found by looking for ``.git`` upwards, which
    spares read-only commands the GitPython import; unusual layouts ask git itself."""
    _require_git_binary()
    here = start.resolve()
    for folder in (here, *here.parents):
        marker = folder / ".git"
        if marker.is_dir() and (marker / "HEAD").is_file():
            if _owned_by_someone_else(folder):
                _ask_git_about_ownership(folder)
            return folder
        if marker.exists():
            break  # a worktree or submodule (.git file): let git resolve it
    return _repo_root_from_git(start)


def _owned_by_someone_else(folder: Path) -> bool:
    """Cheap pre-check; git itself decides (it honours the user's ``safe.directory``)."""
    if "GIT_TEST_ASSUME_DIFFERENT_OWNER" in os.environ:  # git's own switch for this check
        return True
    try:
        return folder.stat().st_uid != os.geteuid()
    except (OSError, AttributeError):
        return False


def _ask_git_about_ownership(folder: Path) -> None:
    """Raise git's own message when git refuses the repository (never sets safe.directory)."""
    import subprocess

    done = subprocess.run(
        [os.environ.get("GIT_PYTHON_GIT_EXECUTABLE", "git"), "rev-parse", "--git-dir"],
        cwd=folder,
        capture_output=True,
        text=True,
        errors="replace",
        check=False,
    )
    if done.returncode != 0:
        raise NotARepoError(_git_refusal(done.stderr, folder))


def _git_refusal(stderr: str, folder: Path) -> str:
    lines = [line.strip() for line in stderr.splitlines() if line.strip()]
    first = next((line for line in lines if line.startswith("fatal:")), lines[0] if lines else "")
    reason = first.removeprefix("fatal:").strip() or f"git cannot open {folder}"
    if "dubious ownership" in reason:
        return (
            f"git refuses the repository: {reason} (it belongs to another user: work in your own "
            f"clone, or if you trust it run `git config --global --add safe.directory {folder}`)"
        )
    return f"git refuses the repository at {folder}: {reason}"


def _repo_root_from_git(start: Path) -> Path:
    repo = open_repo(start)
    try:
        if repo.working_tree_dir is None:
            raise NotARepoError(f"{start} is inside a bare repository; mlog needs a working tree")
        return Path(repo.working_tree_dir).resolve()
    finally:
        repo.close()


def working_tree(root: Path) -> WorkingTree:
    """Dirty paths from one ``git status``, never walking mlog's own directory."""
    return Snapshot(root).result()[1]


class Snapshot:
    """HEAD's code state and the working tree's dirty paths, from git commands started at
    once and run side by side: :meth:`result` waits for them. ``mlog run`` starts them before
    it imports the capture code, so that git reads its index meanwhile (at 100,000 committed
    runs ``git status`` alone takes 60 ms; the five commands in turn took 25 ms more).

    ``git status`` never walks mlog's own directory. git prunes its walk for untracked files
    (and its index refresh) only by positive pathspecs: an ``:(exclude).mlog`` pathspec still
    walked every run directory (0.12 s of every ``mlog run`` at 10,000 runs, growing with each
    run). So the pathspecs name every top-level entry but ``.mlog``: those on disk, and those
    of HEAD's tree (a deleted file is in no directory listing). One command reads git's
    index, which at 100,000 committed runs is 18 MB, instead of two.
    """

    @_git_failures
    def __init__(self, root: Path) -> None:
        self.root = root
        self._head = _Started(root, ("rev-parse", "--is-shallow-repository", "HEAD",
                                     "HEAD^{tree}", "--symbolic-full-name", "HEAD"))  # fmt: skip
        self._describe = _Started(root, ("describe", "--tags", "--always"))
        self._remotes = _Started(root, ("config", "-z", "--get-regexp", r"^remote\..*\.url$"))
        self._status = _status(root)

    def wait(self) -> None:
        """Wait for every command, whichever fails (no process outlives the snapshot)."""
        for started in (self._head, self._describe, self._remotes, self._status):
            if started is not None:
                started.output(check=False)

    @_git_failures
    def result(self) -> tuple[CodeState, WorkingTree]:
        self.wait()
        try:
            lines = self._head.output().splitlines()
        except _GitFailed:
            raise NotARepoError(
                "the repository has no commit yet (commit your code first)"
            ) from None
        shallow, commit, tree_id, ref = lines[:4]
        state = CodeState(
            commit=commit,
            tree=tree_id,
            branch=ref.removeprefix("refs/heads/") if ref.startswith("refs/heads/") else None,
            describe=_quiet_output(self._describe),  # informative only
            remote=_remote_url(self._remotes.output(check=False)),
            shallow=shallow == "true",
        )
        status = self._status
        return state, (_parse_status(status.output()) if status is not None else WorkingTree())


@contextlib.contextmanager
def snapshot_started(
    root: Path | None, started: Snapshot | None = None
) -> Iterator[Snapshot | None]:
    """A :class:`Snapshot` of ``root`` (None without one), ``started`` earlier or started now,
    waited for on exit whatever happens in between (the consumer checks its root)."""
    snapshot = started or (Snapshot(root) if root is not None else None)
    try:
        yield snapshot
    finally:
        if snapshot is not None:
            snapshot.wait()


def _quiet_output(started: _Started) -> str | None:
    try:
        text = started.output().strip()
    except _GitFailed:
        return None
    return text or None


def _remote_url(raw: str) -> str | None:
    """URL of ``origin`` (else the first remote) from ``git config`` output, credentials
    stripped."""
    urls: dict[str, str] = {}
    for entry in filter(None, raw.split("\0")):
        key, _, url = entry.partition("\n")
        urls.setdefault(key[len("remote.") : -len(".url")], url)
    url = urls.get("origin") or next(iter(urls.values()), "")
    return strip_url_credentials(url) if url else None


def _status(root: Path) -> _Started | None:
    """``git status`` over every top-level entry but ``.mlog``; None when there is none."""
    names = _top_level_names(root)
    if not names:
        return None
    return _Started(root, ("status", "--porcelain=v1", "-z", "--untracked-files=all", "--",
                           *names))  # fmt: skip


_WALK_LIMIT = 4096  # top-level entries passed to git one by one; beyond, git walks "." itself


def _top_level_names(root: Path) -> list[str]:
    """Literal pathspecs for the top-level entries of the work tree and of HEAD but .mlog."""
    try:
        with os.scandir(root) as entries:
            names = {e.name for e in entries}
    except OSError:
        names = set()
    names.update(_git(root, "ls-tree", "-z", "--name-only", "HEAD", check=False).split("\0"))
    names.difference_update({"", ".git", MLOG_DIR})
    if len(names) > _WALK_LIMIT:
        return [".", f":(exclude){MLOG_DIR}"]
    return [f":(literal){name}" for name in sorted(names)]


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


@_git_failures
def tracked_patch(root: Path) -> str:
    """Unified diff of staged and unstaged changes to tracked files, against HEAD."""
    patch = _git(root, "diff", "HEAD", "--binary", "--", ".", f":(exclude){MLOG_DIR}")
    patch = patch.removesuffix("\n")
    return patch + "\n" if patch else ""


# -- history between two runs (used by `mlog diff`) ---------------------------
@dataclass(frozen=True)
class CodeHistory:
    """Commits and changed files between two commits; ``reachable`` is False when one is unknown.

    ``ahead`` are commits in ``new`` but not ``old``, ``behind`` the reverse (both newest
    first), so swapping the two commits swaps the two lists. ``files`` is the numstat diff
    ``old -> new`` as ``(path, added, deleted)``; binary files count ``None`` lines.
    """

    reachable: bool
    ahead: tuple[tuple[str, str], ...] = ()
    behind: tuple[tuple[str, str], ...] = ()
    files: tuple[tuple[str, int | None, int | None], ...] = ()


@_git_failures
def code_history(root: Path, old: str, new: str, *, limit: int = 50) -> CodeHistory:
    """What happened to the code between two runs' commits; tolerates commits not in this clone."""
    repo = open_repo(root)
    try:
        if not (_has_commit(repo, old) and _has_commit(repo, new)):
            return CodeHistory(reachable=False)
        return CodeHistory(
            reachable=True,
            ahead=tuple(commits_between(repo, old, new, limit=limit)),
            behind=tuple(commits_between(repo, new, old, limit=limit)),
            files=tuple(diffstat(repo, old, new)),
        )
    finally:
        repo.close()


def _has_commit(repo: Repo, sha: str) -> bool:
    try:
        repo.git.cat_file("-e", f"{sha}^{{commit}}")
    except Exception:
        return False
    return True


def commits_between(repo: Repo, old: str, new: str, *, limit: int = 50) -> list[tuple[str, str]]:
    """``(sha, subject)`` of commits reachable from ``new`` but not ``old``, newest first."""
    text: str = repo.git.log(f"{old}..{new}", f"--max-count={limit}", "--format=%H%x00%s")
    return [
        (sha, subject)
        for sha, _, subject in (line.partition("\0") for line in text.splitlines() if line)
    ]


def diffstat(repo: Repo, old: str, new: str) -> list[tuple[str, int | None, int | None]]:
    """``(path, lines added, lines deleted)`` from ``old`` to ``new``, mlog's own files excluded."""
    text: str = repo.git.diff(
        "--numstat", "--no-renames", old, new, "--", ".", f":(exclude){MLOG_DIR}"
    )
    stats = []
    for line in text.splitlines():
        added, deleted, path = [*line.split("\t", 2), "", ""][:3]
        stats.append((path, _count(added), _count(deleted)))
    return stats


def _count(text: str) -> int | None:
    return int(text) if text.isdigit() else None


# -- enforcement: history, reachability and staged changes (mlog check, hooks) ------------


@dataclass(frozen=True)
class PathChange:
    """A path under ``.mlog/`` that was modified (M), deleted (D) or retyped (T).

    ``commit`` is None for a change not committed yet (staged or in the working tree).
    """

    status: str
    path: str
    commit: str | None


@dataclass(frozen=True)
class Reachable:
    """Commits and root trees reachable from any ref: tells a rewritten history from a lost one."""

    commits: frozenset[str]
    trees: dict[str, str]
    shallow: bool


@_git_failures
def history_changes(root: Path, prefixes: tuple[str, ...]) -> list[PathChange]:
    """Every commit of HEAD's history that modified or deleted a path under ``prefixes``.

    One ``git log`` over the whole history; merges are diffed against their first
    parent, so an edit hidden in a merge commit shows up too.
    """
    repo = open_repo(root)
    try:
        if not repo.head.is_valid():
            return []
        text: str = repo.git.log(
            "HEAD", "--format=commit %H", "--name-status", "--no-renames",
            "--diff-filter=MDT", "--diff-merges=first-parent", "--", *prefixes,
        )  # fmt: skip
    finally:
        repo.close()
    return _parse_log_changes(text)


def _parse_log_changes(text: str) -> list[PathChange]:
    changes: list[PathChange] = []
    commit: str | None = None
    for line in text.splitlines():
        if line.startswith("commit "):
            commit = line[len("commit ") :]
        elif "\t" in line:
            status, _, path = line.partition("\t")
            changes.append(PathChange(status[:1], path, commit))
    return changes


@_git_failures
def uncommitted_changes(
    root: Path, prefixes: tuple[str, ...], *, staged_only: bool
) -> list[PathChange]:
    """Paths under ``prefixes`` in HEAD that the index (or also the working tree) changes."""
    repo = open_repo(root)
    try:
        if not repo.head.is_valid():
            return []
        cached = ("--cached",) if staged_only else ()
        text: str = repo.git.diff(
            *cached, "HEAD", "--name-status", "--no-renames", "--diff-filter=MDT", "--", *prefixes
        )
    finally:
        repo.close()
    return [
        PathChange(status[:1], path, None)
        for status, _, path in (line.partition("\t") for line in text.splitlines() if line)
    ]


@_git_failures
def staged_files(root: Path) -> list[str]:
    """Paths added, copied, modified or renamed in the index (what the next commit adds)."""
    repo = open_repo(root)
    try:
        base = ("HEAD",) if repo.head.is_valid() else ()
        text: str = repo.git.diff("--cached", *base, "--name-only", "--diff-filter=ACMRT")
    finally:
        repo.close()
    return [line for line in text.splitlines() if line]


@_git_failures
def reachable(root: Path) -> Reachable:
    """Commits and trees reachable from any ref or HEAD, and whether the clone is shallow."""
    repo = open_repo(root)
    try:
        shallow = Path(repo.git_dir, "shallow").exists()
        head = ("HEAD",) if repo.head.is_valid() else ()
        if not head and not repo.refs:
            return Reachable(frozenset(), {}, shallow)
        text: str = repo.git.log("--all", *head, "--format=%H %T")
    finally:
        repo.close()
    commits: set[str] = set()
    trees: dict[str, str] = {}
    for line in text.splitlines():
        commit, _, tree = line.partition(" ")
        commits.add(commit)
        trees.setdefault(tree, commit)
    return Reachable(frozenset(commits), trees, shallow)


# -- identity and config as git itself reads them ---------------------------------
def committed_under(root: Path, folder: str) -> list[str]:
    """Paths HEAD holds under ``folder`` (repository-relative); none without a commit.
    Reads HEAD's tree only, not git's index."""
    raw = _git(root, "ls-tree", "-r", "-z", "--name-only", "HEAD", "--", folder, check=False)
    return [path for path in raw.split("\0") if path]


def config_value(root: Path, key: str) -> str | None:
    """``git config --get KEY`` as git reads it: files, ``-c``, and ``GIT_CONFIG_*`` variables."""
    return _git(root, "config", "--get", key, check=False).strip() or None


def author_email(root: Path) -> str | None:
    """The email git would write as the author of a commit made here, or None when unset.

    Git's own order: ``GIT_AUTHOR_EMAIL``, then ``author.email``, then ``user.email``, then
    ``EMAIL``; no guess from the host name, so an event never names an invented person.
    """
    return (
        os.environ.get("GIT_AUTHOR_EMAIL", "").strip()
        or config_value(root, "author.email")
        or config_value(root, "user.email")
        or os.environ.get("EMAIL", "").strip()
        or None
    )


def added_in(root: Path, path: str) -> list[str]:
    """Commits of HEAD's history that changed ``path``, oldest first (empty before any commit)."""
    repo = open_repo(root)
    try:
        if not repo.head.is_valid():
            return []
        text: str = repo.git.log("HEAD", "--format=%H", "--reverse", "--", path)
    finally:
        repo.close()
    return text.split()


def file_at(root: Path, commit: str, path: str) -> str | None:
    """The text of ``path`` at ``commit``, or None when it did not exist there."""
    repo = open_repo(root)
    try:
        text: str = repo.git.show(f"{commit}:{path}", with_exceptions=False)
        exists = bool(repo.git.ls_tree(commit, "--", path, with_exceptions=False))
    finally:
        repo.close()
    return text if exists else None


def files_under(root: Path, commit: str, prefix: str) -> frozenset[str]:
    """Paths under ``prefix`` in the tree of ``commit``."""
    repo = open_repo(root)
    try:
        text: str = repo.git.ls_tree(
            "-r", "--name-only", commit, "--", prefix, with_exceptions=False
        )
    finally:
        repo.close()
    return frozenset(text.splitlines())


def head_commit(root: Path) -> str | None:
    """HEAD's commit id, or None before the first commit."""
    repo = open_repo(root)
    try:
        return repo.head.commit.hexsha if repo.head.is_valid() else None
    finally:
        repo.close()


# -- temporary worktrees (used by `mlog rerun`) ---------------------------------------------
def has_commit(root: Path, sha: str) -> bool:
    """Whether this clone has the commit ``sha``."""
    repo = open_repo(root)
    try:
        return _has_commit(repo, sha)
    finally:
        repo.close()


def add_worktree(root: Path, path: Path, commit: str) -> None:
    """Check ``commit`` out, detached, into a new worktree at ``path`` (the user's is untouched)."""
    repo = open_repo(root)
    try:
        repo.git.worktree("add", "--detach", "--quiet", str(path), commit)
    finally:
        repo.close()


def remove_worktree(root: Path, path: Path) -> None:
    """Remove a worktree made by :func:`add_worktree`, with whatever the run wrote into it."""
    repo = open_repo(root)
    try:
        repo.git.worktree("remove", "--force", "--force", str(path))
    except Exception:  # already gone, or half made: drop the folder and git's note of it
        shutil.rmtree(path, ignore_errors=True)
        repo.git.worktree("prune")
    finally:
        repo.close()


def apply_patch(worktree: Path, patch: Path) -> str | None:
    """Apply a stored ``git diff --binary`` patch in ``worktree``; the reason when it fails."""
    git = _git_module()
    repo = open_repo(worktree)
    try:
        repo.git.apply("--binary", "--whitespace=nowarn", str(patch))
    except git.GitCommandError as exc:
        lines = str(exc.stderr or "").strip().splitlines()
        return lines[-1].strip("' ") if lines else "git apply failed"
    finally:
        repo.close()
    return None
