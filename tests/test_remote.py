"""push / pull / fetch against a local-folder remote, through the real CLI in real repos."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path
from typing import Any

import pytest

from mlog.remote.units import safe_relative
from mlog.storage.hashing import ManifestEntry, hash_file, tree_bytes, tree_digest, tree_from_bytes
from tests.conftest import PYTHON, Repo

TRAIN = """
import os, sys
seed = sys.argv[1] if len(sys.argv) > 1 else "1"
open("model.pkl", "wb").write(("weights " + seed).encode() * 1000)
os.makedirs("features", exist_ok=True)
for i in range(4):
    open(f"features/part-{i}.txt", "w").write(f"feature {i} {seed}\\n")
open("features/same.txt", "w").write("feature 0 " + seed + "\\n")
"""


def ok(result: Any) -> Any:
    assert result.exit_code == 0, result
    return result


@pytest.fixture
def remote_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    where = tmp_path / "remote"
    monkeypatch.setenv("MLOG_REMOTE", str(where))
    return where


@pytest.fixture
def trained(repo: Repo, cli: Any) -> Repo:
    repo.gen({"train.py": TRAIN, "data.csv": "a,b\n1,2\n", ".gitignore": "model.pkl\nfeatures/\n"})
    repo.commit("training")
    ok(cli("run", "--model", "fraud", "-a", "model.pkl", "-a", "features", "--data", "data.csv",
           "--", PYTHON, "train.py"))  # fmt: skip
    return repo


def where(cli: Any) -> dict[str, list[str]]:
    """The artifact/local/remote table at the end of `mlog show` (tab-separated in a pipe)."""
    lines = ok(cli("show", "latest")).stdout.splitlines()
    table = lines[lines.index("artifact\tlocal\tremote") + 1 :]
    return {row.split("\t")[0]: row.split("\t")[1:] for row in table if row.count("\t") == 2}


def objects(remote: Path) -> list[Path]:
    return sorted(p for p in remote.rglob("*") if p.is_file())


def record(cli: Any, ref: str = "latest") -> dict[str, Any]:
    return json.loads(ok(cli("show", ref, "--json")).stdout)


def test_push_then_pull_restores_every_byte(trained: Repo, remote_dir: Path, cli: Any) -> None:
    model = (trained.path / "model.pkl").read_bytes()
    features = {p.name: p.read_bytes() for p in (trained.path / "features").iterdir()}
    pushed = json.loads(ok(cli("push", "latest", "--json")).stdout)
    assert pushed["sent"]["files"] == 5  # model + 4 distinct feature files (same.txt = part-0)
    assert [u["status"] for u in pushed["units"]] == ["sent", "sent"]
    digest = hash_file(trained.path / "model.pkl")
    algorithm, hexpart = digest.split(":")
    stored = remote_dir / algorithm / hexpart[:2] / hexpart[2:]
    assert stored.read_bytes() == model
    (trained.path / "model.pkl").unlink()
    for path in (trained.path / "features").iterdir():
        path.unlink()
    (trained.path / "features").rmdir()
    pulled = ok(cli("pull", "latest"))
    assert "wrote 6 file(s)" in pulled.stderr and pulled.stdout.count("written:") == 2, pulled
    assert (trained.path / "model.pkl").read_bytes() == model
    assert {p.name: p.read_bytes() for p in (trained.path / "features").iterdir()} == features
    again = ok(cli("pull", "latest"))
    assert "wrote 0 file(s)" in again.stderr and "6 already up to date" in again.stderr, again
    assert not list((trained.path / ".mlog" / "cache").glob(".mlog-pull-*"))


def test_repush_skips_everything_without_reading_files(
    trained: Repo, remote_dir: Path, cli: Any
) -> None:
    ok(cli("push", "latest"))
    before = {p: p.stat().st_mtime_ns for p in objects(remote_dir)}
    again = ok(cli("push", "latest"))
    assert "sent 0 file(s), 0 B; skipped 6 already on" in again.stderr, again
    assert again.stdout.count("already there") == 2
    assert {p: p.stat().st_mtime_ns for p in objects(remote_dir)} == before  # never rewritten


def test_dry_run_lists_what_is_missing_and_sends_nothing(
    trained: Repo, remote_dir: Path, cli: Any
) -> None:
    result = ok(cli("push", "latest", "--dry-run"))
    assert result.stdout.count("missing (would send)") == 2, result
    assert "dry run: 2 artifact(s) missing" in result.stderr
    assert not remote_dir.exists() or not objects(remote_dir)


def test_pull_to_another_directory_and_data(trained: Repo, remote_dir: Path, cli: Any) -> None:
    ok(cli("push", "latest", "--data"))
    target = trained.path.parent / "elsewhere"
    ok(cli("pull", "latest", "--to", str(target), "--data"))
    assert (target / "model.pkl").read_bytes() == (trained.path / "model.pkl").read_bytes()
    assert (target / "features" / "part-3.txt").read_text() == "feature 3 1\n"
    assert (target / "data.csv").read_text() == "a,b\n1,2\n"
    assert not list(target.glob(".mlog-pull-*"))


def test_fetch_one_artifact_and_never_clobber(trained: Repo, remote_dir: Path, cli: Any) -> None:
    ok(cli("push", "latest"))
    out = trained.path.parent / "deploy" / "model.bin"
    result = ok(cli("fetch", "latest", "--artifact", "model.pkl", "-o", str(out)))
    assert out.read_bytes() == (trained.path / "model.pkl").read_bytes(), result
    out.write_bytes(b"someone else's file")
    refused = cli("fetch", "latest", "-a", "model.pkl", "-o", str(out))
    assert refused.exit_code == 10, refused
    assert refused.stderr.startswith("error: refusing to overwrite 1 local file(s) that differ")
    assert "--force" in refused.stderr and len(refused.stderr.strip().splitlines()) == 1
    assert out.read_bytes() == b"someone else's file"
    ok(cli("fetch", "latest", "-a", "model.pkl", "-o", str(out), "--force"))
    assert out.read_bytes() == (trained.path / "model.pkl").read_bytes()


def test_fetch_into_a_directory_and_a_tree_artifact(
    trained: Repo, remote_dir: Path, cli: Any
) -> None:
    ok(cli("push", "latest"))
    into = trained.path.parent / "srv"
    into.mkdir()
    ok(cli("fetch", "latest", "-a", "model.pkl", "-o", str(into)))
    assert (into / "model.pkl").exists()
    ok(cli("fetch", "latest", "-a", "features", "-o", str(into / "feats")))
    assert sorted(p.name for p in (into / "feats").iterdir()) == [
        "part-0.txt", "part-1.txt", "part-2.txt", "part-3.txt", "same.txt",
    ]  # fmt: skip


def test_fetch_needs_a_name_when_there_are_several(
    trained: Repo, remote_dir: Path, cli: Any
) -> None:
    result = cli("fetch", "latest", "-o", "x")
    assert result.exit_code == 6, result
    assert "several artifacts, name one with --artifact: model.pkl, features" in result.stderr
    unknown = cli("fetch", "latest", "-a", "nope", "-o", "x")
    assert unknown.exit_code == 6 and "no artifact 'nope'" in unknown.stderr, unknown


def corrupt(remote: Path, digest: str, data: bytes) -> None:
    algorithm, hexpart = digest.split(":")
    path = remote / algorithm / hexpart[:2] / hexpart[2:]
    path.chmod(0o644)
    path.write_bytes(data)


@pytest.mark.parametrize("damage", ["corrupt", "truncated"])
def test_a_damaged_object_is_refused_and_nothing_written(
    trained: Repo, remote_dir: Path, cli: Any, damage: str
) -> None:
    ok(cli("push", "latest"))
    model = trained.path / "model.pkl"
    digest = hash_file(model)
    original = model.read_bytes()
    corrupt(remote_dir, digest, original[:100] if damage == "truncated" else b"x" * len(original))
    model.unlink()
    out = trained.path.parent / "m.pkl"
    for args in (("pull", "latest"), ("fetch", "latest", "-a", "model.pkl", "-o", str(out))):
        result = cli(*args)
        assert result.exit_code == 9, result
        assert f"error: object {digest} on the remote" in result.stderr
        assert "corrupt or truncated" in result.stderr and "nothing was written" in result.stderr
        assert len(result.stderr.strip().splitlines()) == 1, result
    assert not model.exists() and not out.exists()
    assert not list(trained.path.parent.glob(".mlog-pull-*"))
    assert not list((trained.path / ".mlog" / "cache").glob(".mlog-pull-*"))


def test_pull_of_an_object_nobody_pushed(trained: Repo, remote_dir: Path, cli: Any) -> None:
    remote_dir.mkdir()
    (trained.path / "model.pkl").unlink()
    result = cli("fetch", "latest", "-a", "model.pkl", "-o", "m.pkl")
    assert result.exit_code == 6, result
    assert "is not on the remote" in result.stderr and "push it" in result.stderr


def test_a_changed_local_copy_is_not_uploaded(trained: Repo, remote_dir: Path, cli: Any) -> None:
    (trained.path / "model.pkl").write_bytes(b"overwritten by the next training")
    result = cli("push", "latest")
    assert result.exit_code == 10, result
    assert "model.pkl (local copy differs from the record)" in result.stderr
    assert "sent 4 file(s)" in result.stderr  # the features still went
    assert hash_file(trained.path / "model.pkl") not in {
        f"xxh3_128:{p.parent.name}{p.name}" for p in objects(remote_dir)
    }


def test_no_remote_configured(trained: Repo, cli: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("MLOG_REMOTE", raising=False)
    result = cli("push", "latest")
    assert result.exit_code == 8, result
    assert "no remote configured (set `remote:` in .mlog/config.yaml, or MLOG_REMOTE)" in (
        result.stderr
    )
    assert where(cli)["model.pkl"] == ["ok", "-"]


def test_push_needs_something_to_push(trained: Repo, remote_dir: Path, cli: Any) -> None:
    result = cli("push")
    assert result.exit_code == 2 and "name what to push" in result.stderr, result
    both = cli("push", "latest", "--all")
    assert both.exit_code == 2 and "not both" in both.stderr, both
    every = ok(cli("push", "--all"))
    assert "sent 5 file(s)" in every.stderr


def write_config(repo: Repo, extra: str) -> None:
    path = repo.path / ".mlog" / "config.yaml"
    path.write_text(path.read_text() + extra)


def test_config_remote_and_env_override(
    trained: Repo, cli: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("MLOG_REMOTE", raising=False)
    write_config(trained, "remote: ../store\nremote_jobs: 2\n")
    ok(cli("push", "latest"))
    assert objects(trained.path.parent / "store")
    monkeypatch.setenv("MLOG_REMOTE", f"file://{tmp_path / 'other'}")
    ok(cli("push", "latest"))
    assert len(objects(tmp_path / "other")) == 6  # 5 distinct files + the features listing


def test_credentials_in_remote_options_are_refused(trained: Repo, cli: Any) -> None:
    write_config(trained, "remote: s3://bucket/x\nremote_options: {secret: abc}\n")
    result = cli("push", "latest")
    assert result.exit_code == 8, result
    assert "remote_options.secret looks like a credential" in result.stderr


def test_a_missing_backend_names_the_install(
    trained: Repo, cli: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    pytest.importorskip("fsspec")
    if importlib.util.find_spec("gcsfs") is not None:
        pytest.skip("gcsfs is installed")
    monkeypatch.setenv("MLOG_REMOTE", "gs://bucket/prefix")
    result = cli("push", "latest")
    assert result.exit_code == 12, result
    assert result.stderr.strip() == (
        "error: no backend for gs:// remotes is installed (pip install gcsfs)"
    )


def test_register_pushes_and_deployable_verifies_on_the_remote(
    trained: Repo, remote_dir: Path, cli: Any
) -> None:
    registered = ok(cli("register", "latest", "--model", "fraud"))
    assert "pushed 5 file(s) to" in registered.stderr, registered
    ok(cli("promote", "fraud@v1", "--to", "production", "--force", "--reason", "test"))
    listed = ok(cli("registry", "ls"))
    assert "ok/present" in listed.stdout, listed
    verified = json.loads(ok(cli("deployable", "fraud", "--verify", "--remote", "--json")).stdout)
    assert verified["verified"] is True
    assert [a["status"] for a in verified["artifacts"]] == ["ok", "ok"]
    feature = trained.path / "features" / "part-2.txt"
    corrupt(remote_dir, hash_file(feature), b"tampered")
    refused = cli("deployable", "fraud", "--verify", "--remote")
    assert refused.exit_code == 11, refused
    assert "features (corrupt)" in refused.stderr and "model.pkl" not in refused.stderr
    usage = cli("deployable", "fraud", "--remote")
    assert usage.exit_code == 2 and "--remote goes with --verify" in usage.stderr
    out = trained.path.parent / "prod.pkl"
    ok(cli("fetch", "fraud@production", "-a", "model.pkl", "-o", str(out)))
    assert out.read_bytes() == (trained.path / "model.pkl").read_bytes()


def test_register_without_auto_push(trained: Repo, remote_dir: Path, cli: Any) -> None:
    write_config(trained, "remote_push_on_register: false\n")
    registered = ok(cli("register", "latest", "--model", "fraud"))
    assert "pushed" not in registered.stderr
    assert not remote_dir.exists()
    assert where(cli) == {"model.pkl": ["ok", "missing"], "features": ["ok", "missing"]}


def test_register_reports_a_failed_push(trained: Repo, remote_dir: Path, cli: Any) -> None:
    (trained.path / "model.pkl").write_bytes(b"changed after the run")
    result = cli("register", "latest", "--model", "fraud")
    assert result.exit_code == 10, result
    assert "warning: fraud@v1 is registered, but its artifacts were not pushed" in result.stderr
    assert "model.pkl (local copy differs from the record)" in result.stderr


def test_show_says_where_each_artifact_is(trained: Repo, remote_dir: Path, cli: Any) -> None:
    ok(cli("push", "latest"))
    (trained.path / "model.pkl").unlink()
    assert where(cli) == {"model.pkl": ["missing", "present"], "features": ["ok", "present"]}


# ---------------------------------------------------------------- units


def test_tree_listing_round_trips_and_is_content_addressed() -> None:
    entries = [
        ManifestEntry("b/odd\nname.txt", 3, "xxh3_128:" + "1" * 32),
        ManifestEntry("a.txt", 0, "xxh3_128:" + "2" * 32),
    ]
    data = tree_bytes(entries)
    assert sorted(tree_from_bytes(data)) == sorted(entries)
    import xxhash

    assert tree_digest(entries) == "xxh3_128:" + xxhash.xxh3_128_hexdigest(data)


@pytest.mark.parametrize("bad", ["/etc/passwd", "../up", "a/../../b", "", "/"])
def test_recorded_paths_must_stay_inside(bad: str) -> None:
    from mlog.errors import DataError

    with pytest.raises(DataError, match="must stay inside"):
        safe_relative(bad)
