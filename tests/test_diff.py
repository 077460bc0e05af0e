"""`mlog diff` and `mlog data diff`: the pure diff, its properties, and the real CLI."""

from __future__ import annotations

import json
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from mlog.compare.diff import Side, compare_versions, diff_records, package_changes
from mlog.storage import gitio
from mlog.storage.hashing import ManifestEntry
from tests.conftest import PYTHON, Repo
from tests.diff_mirror import mirror

TRAIN = """\
import json, os, sys
value = float(sys.argv[1]) if len(sys.argv) > 1 else 0.9
json.dump({"auc": value, "loss": 1 - value}, open("metrics.json", "w"))
"""


def _setup(repo: Repo) -> None:
    repo.gen({"train.py": TRAIN, ".gitignore": "metrics.json\n", "data/a.csv": "x\n1\n"})
    repo.commit("training script")


def _run(cli: Any, repo: Repo, auc: str, *extra: str) -> Any:
    result = cli(
        "run", "-m", "metrics.json", "-d", "train=data", *extra, "--", PYTHON, "train.py", auc
    )
    assert result.exit_code == 0, result
    return result


# -- properties ---------------------------------------------------------------------
scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-1000, 1000),
    st.floats(allow_nan=True, allow_infinity=False, width=32),
    st.text(max_size=5),
)
names = st.sampled_from(["lr", "auc", "loss", "val_loss", "epochs", "latency_ms", "f1"])
digests = st.sampled_from(["xxh3_128:" + c * 32 for c in "abc"])
datasets = st.fixed_dictionaries(
    {"path": st.just("data"), "kind": st.just("directory"), "hash": digests}
)
manifest = st.lists(
    st.builds(
        ManifestEntry,
        st.sampled_from(["a.csv", "b.csv", "c/d.csv"]),
        st.integers(0, 9),
        digests,
    ),
    unique_by=lambda e: e.path,
    max_size=3,
).map(tuple)
packages = st.lists(
    st.builds(
        lambda n, v: f"{n}=={v}",
        st.sampled_from(["numpy", "torch", "pandas"]),
        st.sampled_from(["1.0", "1.0.0", "1.2", "2.0rc1", "weird-x"]),
    ),
    unique_by=lambda line: line.split("==")[0],
    max_size=3,
).map(tuple)


@st.composite
def records(draw: st.DrawFn) -> tuple[dict[str, Any], Side]:
    record = {
        "id": draw(st.sampled_from(["r1", "r2"])),
        "alias": draw(st.sampled_from(["v1", "v2"])),
        "model": draw(st.sampled_from(["fraud", "churn"])),
        "status": "succeeded",
        "params": draw(st.dictionaries(names, scalars, max_size=4)),
        "metrics": draw(st.dictionaries(names, scalars, max_size=4)),
        "series": draw(
            st.dictionaries(
                names,
                st.fixed_dictionaries(
                    {"steps": st.integers(1, 5), "min": scalars, "max": scalars, "last": scalars}
                ),
                max_size=2,
            )
        ),
        "data": draw(st.dictionaries(st.sampled_from(["train", "test"]), datasets, max_size=2)),
        "code": {
            "commit": draw(st.sampled_from(["a" * 40, "b" * 40])),
            "dirty": draw(st.booleans()),
        },
        "command": {"argv": ["python", "train.py"], "duration_s": draw(scalars)},
        "environment": {"python": {"version": draw(st.sampled_from(["3.11.7", "3.12.1"]))}},
    }
    side = Side(draw(st.none() | packages), draw(st.dictionaries(st.just("train"), manifest)))
    return record, side


def _diff(a: tuple[dict[str, Any], Side], b: tuple[dict[str, Any], Side], **kw: Any) -> Any:
    return diff_records(a[0], b[0], old_side=a[1], new_side=b[1], **kw)


def _canonical(data: Any) -> str:
    return json.dumps(data, sort_keys=True, default=str)


@settings(max_examples=300, deadline=None)
@given(records())
def test_diff_of_a_run_with_itself_is_empty(a: tuple[dict[str, Any], Side]) -> None:
    result = _diff(a, a, metric_config={"auc": {"goal": "maximize", "tolerance": 0.01}})
    assert not result["differs"], result
    for section in ("params", "metrics", "series", "data", "environment", "command", "resources"):
        assert result[section] == [], section
    assert all(not items for items in result["packages"].values())


@settings(max_examples=300, deadline=None)
@given(records(), records())
def test_diff_b_a_is_the_mirror_of_diff_a_b(
    a: tuple[dict[str, Any], Side], b: tuple[dict[str, Any], Side]
) -> None:
    config = {"auc": {"goal": "maximize", "tolerance": 0.01}}
    forward = _diff(a, b, metric_config=config, include_same=True)
    backward = _diff(b, a, metric_config=config, include_same=True)
    assert _canonical(mirror(forward)) == _canonical(backward)
    assert _canonical(mirror(mirror(forward))) == _canonical(forward)


def test_metric_verdicts_follow_direction_and_tolerance() -> None:
    old = {"metrics": {"auc": 0.90, "loss": 0.5, "f1": 0.8, "gone": 1.0}}
    new = {"metrics": {"auc": 0.901, "loss": 0.6, "f1": 0.9, "fresh": 2}}
    config = {"auc": {"goal": "maximize", "tolerance": 0.002}}
    result = diff_records(old, new, metric_config=config)
    verdicts = {e["key"]: (e["verdict"], e["guessed"]) for e in result["metrics"]}
    assert verdicts == {
        "auc": ("within_tolerance", False),
        "f1": ("improved", True),
        "loss": ("regressed", True),
        "gone": ("removed", True),
        "fresh": ("added", True),
    }


def test_packages_are_compared_by_version_order() -> None:
    old = ("numpy==1.26.4", "torch==2.1.0", "pandas==2.2.0", "old==1.0")
    new = ("numpy==2.0.0", "torch==2.0.1", "pandas==2.2", "fresh==0.1")
    changes = package_changes(old, new)
    assert changes["upgraded"] == [{"name": "numpy", "old": "1.26.4", "new": "2.0.0"}]
    assert changes["downgraded"] == [{"name": "torch", "old": "2.1.0", "new": "2.0.1"}]
    assert changes["changed"] == [{"name": "pandas", "old": "2.2.0", "new": "2.2"}]
    assert changes["added"] == [{"name": "fresh", "version": "0.1"}]
    assert changes["removed"] == [{"name": "old", "version": "1.0"}]
    assert compare_versions("1.10", "1.9") == 1
    assert compare_versions("build-7", "build-12") == -1


def test_code_history_tolerates_a_commit_not_in_this_clone(repo: Repo) -> None:
    head = repo.git("rev-parse", "HEAD")
    assert gitio.code_history(repo.path, "0" * 40, head).reachable is False
    repo.gen({"model.py": "a\nb\n"})
    new = repo.commit("add the model")
    history = gitio.code_history(repo.path, head, new)
    assert history.ahead == ((new, "add the model"),)
    assert history.behind == ()
    assert history.files == (("model.py", 2, 0),)


# -- the CLI ----------------------------------------------------------------------------
def test_diff_defaults_to_newest_against_previous_run(repo: Repo, cli: Any) -> None:
    _setup(repo)
    _run(cli, repo, "0.9")
    repo.gen({"params.yaml": "lr: 0.2\nepochs: 3\n"})
    repo.commit("raise the learning rate")
    _run(cli, repo, "0.8", "-p", "params.yaml")
    result = cli("diff")
    assert result.exit_code == 0, result
    assert "diff v1 → v2 (A: previous run)" in result.stdout, result
    assert "auc" in result.stdout and "regressed" in result.stdout, result
    assert "raise the learning rate" in result.stdout, result
    assert "params.yaml" in result.stdout, result


def test_diff_json_has_a_stable_shape(repo: Repo, cli: Any) -> None:
    _setup(repo)
    _run(cli, repo, "0.9")
    _run(cli, repo, "0.95")
    result = cli("diff", "v1", "v2", "--json")
    assert result.exit_code == 0, result
    data = json.loads(result.stdout)
    assert set(data) == {
        "a", "b", "a_chosen_as", "differs", "warnings", "params", "metrics", "series", "data",
        "artifacts", "signature", "code", "environment", "packages", "command", "resources",
        "tampered", "stale",
    }  # fmt: skip
    auc = next(e for e in data["metrics"] if e["key"] == "auc")
    assert auc["verdict"] == "improved" and auc["old"] == 0.9 and auc["new"] == 0.95
    assert data["a"]["alias"] == "v1" and data["b"]["alias"] == "v2"
    assert data["differs"] is True and data["code"]["change"] == "same"


def test_diff_exit_code_all_and_markdown(repo: Repo, cli: Any) -> None:
    _setup(repo)
    _run(cli, repo, "0.9")
    _run(cli, repo, "0.9")
    same = cli("diff", "v1", "v2", "--exit-code")
    assert same.exit_code == 0, same  # only resources differ: they never count
    itself = cli("diff", "v1", "v1", "--exit-code")
    assert itself.exit_code == 0 and "no differences" in itself.stdout, itself
    everything = cli("diff", "v1", "v2", "--all")
    assert everything.exit_code == 0 and "auc" in everything.stdout, everything
    _run(cli, repo, "0.5")
    changed = cli("diff", "v1", "v3", "--exit-code", "--md")
    assert changed.exit_code == 1, changed
    assert changed.stdout.startswith("### mlog diff `v1` → `v3`"), changed
    assert "| auc | 0.9 | 0.5 |" in changed.stdout and "❌ regressed" in changed.stdout, changed


def test_diff_of_different_models_warns(repo: Repo, cli: Any) -> None:
    _setup(repo)
    _run(cli, repo, "0.9", "--model", "fraud")
    _run(cli, repo, "0.9", "--model", "churn")
    result = cli("diff", "v1", "v2")
    assert result.exit_code == 0, result
    assert "warning: comparing runs of different models" in result.stderr, result
    assert "model" in result.stdout and "churn" in result.stdout, result


def test_diff_errors_are_one_line(repo: Repo, cli: Any) -> None:
    none = cli("diff")
    assert none.exit_code == 6, none
    assert "error: no runs recorded yet" in none.stderr and "Traceback" not in none.stderr, none
    _setup(repo)
    _run(cli, repo, "0.9")
    alone = cli("diff")
    assert alone.exit_code == 6 and "error: nothing to compare with" in alone.stderr, alone
    unknown = cli("diff", "v9", "v1")
    assert unknown.exit_code == 6 and "error: unknown run v9" in unknown.stderr, unknown


def test_diff_of_a_run_without_metrics(repo: Repo, cli: Any) -> None:
    _setup(repo)
    _run(cli, repo, "0.9")
    bare = cli("run", "--", PYTHON, "-c", "pass")
    assert bare.exit_code == 0, bare
    result = cli("diff", "v1", "v2", "--json")
    assert result.exit_code == 0, result
    verdicts = {e["key"]: e["verdict"] for e in json.loads(result.stdout)["metrics"]}
    assert verdicts == {"auc": "removed", "loss": "removed"}


def test_data_diff_lists_every_file(repo: Repo, cli: Any) -> None:
    _setup(repo)
    _run(cli, repo, "0.9")
    repo.gen({f"data/extra_{i}.csv": f"{i}\n" for i in range(12)})
    (repo.path / "data" / "a.csv").write_text("x\n2\n")
    repo.commit("more data")
    _run(cli, repo, "0.9")
    result = cli("data", "diff", "v1", "v2", "--json")
    assert result.exit_code == 0, result
    files = json.loads(result.stdout)["datasets"][0]["files"]
    assert files["added"]["count"] == 12 and len(files["added"]["paths"]) == 12
    assert files["modified"]["paths"] == ["a.csv"]
    table = cli("data", "diff", "v1", "v2")
    assert "+ extra_11.csv" in table.stdout and "~ a.csv" in table.stdout, table
    short = cli("diff", "v1", "v2")
    assert "… and 2 more added" in short.stdout, short
    missing = cli("data", "diff", "v1", "v2", "--dataset", "nope")
    assert missing.exit_code == 6, missing
    assert "error: neither run declares a dataset named 'nope'" in missing.stderr, missing
