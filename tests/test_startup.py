"""Startup stays light: no GitPython, jsonschema or rich tables for --version, --help, import mlog."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

HEAVY = ("git", "jsonschema", "rich.table", "sqlite3", "pyarrow", "numpy", "pandas")
PROBE = """
import sys
import time
sys.argv = ["mlog", *{args!r}]
{code}
heavy = {heavy!r}
print(",".join(sorted(m for m in heavy if m in sys.modules)))
"""
RUN_APP = """
from mlog.cli.app import app
try:
    app()
except SystemExit:
    pass
"""


def loaded(code: str, args: tuple[str, ...] = (), heavy: tuple[str, ...] = HEAVY) -> list[str]:
    script = PROBE.format(args=list(args), code=code, heavy=heavy)
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True
    )
    last = done.stdout.strip().splitlines()[-1] if done.stdout.strip() else ""
    return [name for name in last.split(",") if name in heavy]


def test_import_mlog_is_light() -> None:
    assert loaded("import mlog") == []


def test_version_is_light() -> None:
    assert loaded(RUN_APP, ("--version",)) == []


@pytest.mark.parametrize("args", [("--help",), ("ls", "--help")])
def test_help_does_not_import_git_or_jsonschema(args: tuple[str, ...]) -> None:
    # Typer renders --help itself with rich (tables included); mlog adds nothing heavy.
    assert loaded(RUN_APP, args, heavy=("git", "jsonschema", "sqlite3", "pyarrow")) == []


def test_version_fast_path_imports_neither_typer_nor_rich() -> None:
    code = "from mlog.cli.entry import main\nmain()"
    assert loaded(code, ("--version",), heavy=("typer", "rich", "json", "git")) == []


def test_git_status_never_walks_the_mlog_directory(repo: Any) -> None:
    from mlog.storage import gitio

    (repo.path / ".mlog" / "runs" / "x").mkdir(parents=True)
    (repo.path / ".mlog" / "runs" / "x" / "record.yaml").write_text("id: x\n")
    (repo.path / "stray.txt").write_text("dirty\n")
    tree = gitio.working_tree(repo.path)
    assert tree.untracked == ("stray.txt",) and tree.dirty


def test_untracked_walk_never_enters_the_mlog_directory(
    repo: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """git's own trace counts the directories it visited looking for untracked files:
    50 run directories under .mlog must not add to that count."""
    from mlog.storage import gitio

    for n in range(50):
        (repo.path / ".mlog" / "runs" / f"r{n}").mkdir(parents=True)
        (repo.path / ".mlog" / "runs" / f"r{n}" / "record.yaml").write_text("id: r\n")
    (repo.path / "src").mkdir()
    (repo.path / "src" / "new.py").write_text("x = 1\n")
    trace = tmp_path / "trace2.txt"
    monkeypatch.setenv("GIT_TRACE2_PERF", str(trace))
    tree = gitio.working_tree(repo.path)
    assert tree.untracked == ("src/new.py",)
    visited = [int(line.rsplit(":", 1)[1]) for line in trace.read_text().splitlines()
               if "directories-visited:" in line]  # fmt: skip
    assert visited and max(visited) <= 3


def test_every_kind_of_dirty_path_is_still_seen(repo: Any) -> None:
    from mlog.storage import gitio

    (repo.path / "keep.txt").write_text("a\n")
    (repo.path / "gone.txt").write_text("b\n")
    (repo.path / "deep").mkdir()
    (repo.path / "deep" / "tracked.txt").write_text("c\n")
    (repo.path / ".gitignore").write_text("*.log\n")
    repo.commit("base")
    (repo.path / "keep.txt").write_text("changed\n")  # modified
    (repo.path / "gone.txt").unlink()  # a deleted top-level file is in no directory listing
    (repo.path / "staged.txt").write_text("s\n")
    repo.git("add", "staged.txt")
    (repo.path / "deep" / "more").mkdir()
    (repo.path / "deep" / "more" / "u.txt").write_text("u\n")  # untracked, two levels down
    (repo.path / "noise.log").write_text("ignored\n")
    (repo.path / "odd [name]*.txt").write_text("glob characters are literal\n")
    tree = gitio.working_tree(repo.path)
    assert set(tree.modified) == {"keep.txt", "gone.txt"}
    assert tree.staged == ("staged.txt",)
    assert tree.untracked == ("deep/more/u.txt", "odd [name]*.txt")
    assert "noise.log" not in tree.all_paths and tree.dirty


def test_the_command_table_names_every_command_and_its_module() -> None:
    from mlog.cli import app as app_module

    seen: dict[str, str] = {}
    for module in app_module.MODULES:
        tree = app_module.build((module,))
        names = [info.name for info in tree.registered_commands]
        names += [info.name for info in tree.registered_groups]
        for name in names:
            assert name is not None
            seen[name] = module
    assert seen == app_module.COMMANDS
    full = app_module.build()
    assert len(full.registered_commands) + len(full.registered_groups) == len(seen)


def test_run_builds_only_its_own_command() -> None:
    code = "from mlog.cli.app import main\ntry:\n    main()\nexcept SystemExit:\n    pass\n"
    others = ("mlog.cli.registry", "mlog.cli.compare", "mlog.cli.report", "mlog.cli.interop",
              "mlog.cli.lineage", "mlog.api.registry", "mlog.registry.fold")  # fmt: skip
    assert loaded(code, ("run", "--help"), heavy=others) == []
    assert loaded(code, ("--help",), heavy=("mlog.cli.registry",)) == ["mlog.cli.registry"]


RUN_PROBE = """
import atexit, sys
heavy = {heavy!r}
atexit.register(lambda: print("LOADED", sorted(m for m in heavy if m in sys.modules)))
sys.argv = ["mlog", "run", "--", sys.executable, "-c", "pass"]
from mlog.cli.entry import main
main()
"""


def test_run_does_not_import_jsonschema(repo: Any) -> None:
    """A valid record is recognised by storage.shape; jsonschema only words invalid ones.
    A model without registry events has no champion, so the registry fold is not loaded."""
    probe = RUN_PROBE.format(heavy=("jsonschema", "mlog.registry.fold"))
    done = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines()[-1] == "LOADED []", done.stdout
    assert "succeeded" in done.stderr and len(repo.run_ids()) == 1


def test_a_run_with_a_current_alias_file_opens_no_index(repo: Any) -> None:
    """The alias comes from the high-water file; the index (sqlite3 and the query language)
    is loaded only to recount when that file is missing or stale: the first runs of a new
    repository write it, and from then on a run never opens the index."""
    heavy = ("sqlite3", "mlog.query.index", "mlog.query.language")
    loaded_by_run = []
    for _ in range(3):
        time.sleep(0.05)  # past the stamp's racy window
        done = subprocess.run([sys.executable, "-c", RUN_PROBE.format(heavy=heavy)],
                              capture_output=True, text=True, check=False)  # fmt: skip
        assert done.returncode == 0, done.stderr
        loaded_by_run.append(done.stdout.splitlines()[-1])
    assert loaded_by_run[-1] == "LOADED []", loaded_by_run
    assert len(repo.run_ids()) == 3


def test_show_piped_draws_without_rich_and_prints_user_text_literally(repo: Any, cli: Any) -> None:
    """Piped, `mlog show` writes plain lines itself (rich's import and first layout were a
    third of it); on a terminal rich draws them. Either way text from the record is text,
    never markup."""
    import re

    note = "[bold]not markup[/] \\[x]"
    made = cli("run", "--note", note, "--tag", "t=[red]", "--", sys.executable, "-c", "pass")
    assert made.exit_code == 0, made
    code = "from mlog.cli.entry import main\ntry:\n    main()\nexcept SystemExit:\n    pass"
    script = PROBE.format(args=["show", "v1"], code=code, heavy=("rich",))
    done = subprocess.run(
        [sys.executable, "-c", script], cwd=repo.path, capture_output=True, text=True, check=True
    )
    *shown, loaded_heavy = done.stdout.splitlines()
    assert loaded_heavy == "", done.stdout  # the probe's last line: rich was not imported
    assert shown[0].endswith("succeeded  t=[red]") and shown[1] == f"  {note}", shown
    assert "code" in shown and any(line.startswith("commit    ") for line in shown)
    drawn = cli("show", "v1", env={"FORCE_COLOR": "1"})
    plain = re.sub(r"\x1b\[[0-9;]*m", "", drawn.stdout)
    assert drawn.exit_code == 0 and "\x1b[" in drawn.stdout, drawn
    assert note in plain and "t=[red]" in plain


def test_warm_piped_ls_reads_neither_yaml_nor_rich(repo: Any, cli: Any) -> None:
    """A warm `ls --limit` answers from the index: no record is parsed, nothing drawn."""
    for _ in range(2):
        assert cli("run", "--", sys.executable, "-c", "pass").exit_code == 0
    assert cli("ls", "--limit", "1").exit_code == 0  # builds the index
    code = "from mlog.cli.entry import main\ntry:\n    main()\nexcept SystemExit:\n    pass"
    script = PROBE.format(args=["ls", "--limit", "5"], code=code, heavy=("yaml", "rich"))
    done = subprocess.run(
        [sys.executable, "-c", script], cwd=repo.path, capture_output=True, text=True, check=True
    )
    *listed, loaded_heavy = done.stdout.splitlines()
    assert loaded_heavy == "", done.stdout
    assert [line.split("\t")[0] for line in listed[1:]] == ["v2", "v1"], listed


def test_a_reader_that_closes_the_pipe_ends_the_command_quietly(repo: Any, cli: Any) -> None:
    """`mlog show v1 | head -1`: the reader went away; no `unexpected error`, no traceback."""
    assert cli("run", "--", sys.executable, "-c", "pass").exit_code == 0
    mlog = str(Path(sys.executable).parent / "mlog")
    child = subprocess.Popen(
        [mlog, "show", "v1"], cwd=repo.path, stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    assert child.stdout is not None and child.stderr is not None
    child.stdout.close()  # before anything was read: the first write meets a closed pipe
    with child.stderr:
        said = child.stderr.read().decode()
    assert child.wait(timeout=60) == 141 and said == "", said
