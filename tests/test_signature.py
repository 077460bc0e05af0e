"""Model signatures: logged by a training script, diffed as breaking, shown by deployable and card."""

from __future__ import annotations

import json
import subprocess
import sys
from typing import Any

import pytest

import mlog
from mlog.profile.signature import describe, fields_by_key, summary
from mlog.storage import yamlio
from tests.conftest import Repo

SKLEARN_TRAIN = """\
import pathlib
import pickle
import sys

import numpy as np
import pandas as pd
from sklearn.linear_model import LogisticRegression

import mlog

columns = sys.argv[1].split(",")
rng = np.random.default_rng(0)
X = pd.DataFrame(rng.normal(size=(200, len(columns))), columns=columns)
X["age"] = rng.integers(18, 80, size=200)
y = (X[columns[0]] > 0).astype("int64")
model = LogisticRegression().fit(X, y)
pathlib.Path("model.pkl").write_bytes(pickle.dumps(model))
mlog.log_signature(X, model.predict_proba(X.head(2)))
mlog.log_metric("accuracy", float(model.score(X, y)))
"""


def record(repo: Repo, alias: str) -> dict[str, Any]:
    for run_id in repo.run_ids():
        loaded = yamlio.load_file(repo.run_dir(run_id) / "record.yaml")
        if loaded["alias"] == alias:
            return loaded
    raise AssertionError(f"no run {alias}")


def train(cli: Any, columns: str) -> None:
    result = cli(
        "run", "--model", "churn", "--artifact", "model.pkl", "--",
        sys.executable, "train.py", columns,
    )  # fmt: skip
    assert result.exit_code == 0, result


@pytest.fixture
def trained(repo: Repo, cli: Any) -> Repo:
    repo.gen({"train.py": SKLEARN_TRAIN, ".gitignore": "model.pkl\n"})
    repo.commit("sklearn training")
    train(cli, "amount,balance")
    return repo


def test_scikit_learn_training_logs_its_signature(trained: Repo, cli: Any) -> None:
    signature = record(trained, "v1")["signature"]
    assert signature["inputs"] == [
        {"name": "amount", "type": "float64", "shape": None},
        {"name": "balance", "type": "float64", "shape": None},
        {"name": "age", "type": "int64", "shape": None},
    ]
    assert signature["outputs"] == [{"name": None, "type": "float64", "shape": [-1, 2]}]
    shown_run = cli("show", "v1")
    assert "signature" in shown_run.stdout and "balance" in shown_run.stdout
    config = trained.path / ".mlog" / "config.yaml"
    config.write_text(config.read_text() + "registry:\n  gates:\n    production: [succeeded]\n")
    for args in (("register", "v1"), ("promote", "churn@v1", "--to", "production")):
        assert cli(*args).exit_code == 0, cli(*args)
    shown = cli("deployable", "churn")
    assert shown.exit_code == 0, shown
    assert "input: amount float64" in shown.stdout
    assert "output: - float64 [-1, 2]" in shown.stdout
    data = json.loads(cli("deployable", "churn", "--json").stdout)
    assert data["signature"]["inputs"][2] == {"name": "age", "type": "int64", "shape": None}
    card = cli("card", "churn@v1")
    assert card.exit_code == 0, card
    assert "## Model Signature" in card.stdout
    assert "| inputs | balance | float64 | - |" in card.stdout
    assert json.loads(cli("card", "churn@v1", "-f", "json").stdout)["signature"]["outputs"]


LIGHT_TRAIN = """\
import sys

import mlog

mlog.log_signature({name: "float64" for name in sys.argv[1].split(",")}, {"score": "float64"})
"""


def test_a_changed_signature_is_a_breaking_diff(repo: Repo, cli: Any) -> None:
    repo.gen({"train.py": LIGHT_TRAIN})
    repo.commit("training")
    for columns in ("amount,balance", "amount,income"):
        assert cli("run", "--", sys.executable, "train.py", columns).exit_code == 0
    result = cli("diff", "v1", "v2", "--json")
    assert result.exit_code == 0, result
    entries = {e["key"]: e for e in json.loads(result.stdout)["signature"]}
    assert entries["inputs.balance"]["change"] == "removed"
    assert entries["inputs.income"]["change"] == "added"
    assert all(e["breaking"] for e in entries.values())
    assert "inputs.amount" not in entries and "outputs.score" not in entries
    text = cli("diff", "v1", "v2")
    assert "BREAKING" in text.stdout and "inputs.income" in text.stdout
    markdown = cli("diff", "v1", "v2", "--md")
    assert "**Signature (breaking)**" in markdown.stdout
    assert json.loads(cli("diff", "v1", "v1", "--json").stdout)["signature"] == []


def test_a_run_without_a_signature_says_so(repo: Repo, cli: Any) -> None:
    config = repo.path / ".mlog" / "config.yaml"
    config.write_text(config.read_text() + "registry:\n  gates:\n    production: [succeeded]\n")
    repo.commit("gates")
    assert cli("run", "--", sys.executable, "train.py").exit_code == 0
    assert "signature" not in record(repo, "v1")
    for args in (("register", "v1", "--model", "m"), ("promote", "m@v1", "--to", "production")):
        assert cli(*args).exit_code == 0, cli(*args)
    assert "signature: none logged" in cli("deployable", "m").stdout
    assert "No signature was logged" in cli("card", "m@v1").stdout


def test_describe_reads_arrays_frames_and_dicts_by_attribute() -> None:
    np = pytest.importorskip("numpy")
    pd = pytest.importorskip("pandas")
    assert describe(np.zeros((5, 3, 2), dtype="float32")) == [
        {"name": None, "type": "float32", "shape": [-1, 3, 2]}
    ]
    frame = pd.DataFrame({"a": [1], "b": ["x"]})
    assert [f["name"] for f in describe(frame)] == ["a", "b"]
    assert describe(pd.Series([1.0], name="score")) == [
        {"name": "score", "type": "float64", "shape": [-1]}
    ]
    assert describe(
        {
            "age": "int64",
            "image": (None, 28, 28),
            "text": {"dtype": str, "shape": [1]},
            "x": np.ones((2, 4)),
        }
    ) == [
        {"name": "age", "type": "int64", "shape": None},
        {"name": "image", "type": None, "shape": [-1, 28, 28]},
        {"name": "text", "type": "str", "shape": [1]},
        {"name": "x", "type": "float64", "shape": [-1, 4]},
    ]
    assert summary(describe({"x": np.ones((2, 4))})) == "x:float64[-1,4]"
    assert summary(None) == "-"
    assert fields_by_key({"inputs": describe(np.ones((2, 2))), "outputs": None}) == {
        "inputs.0": {"type": "float64", "shape": [-1, 2]}
    }


def test_log_signature_refuses_what_it_cannot_read(
    monkeypatch: pytest.MonkeyPatch, tmp_path
) -> None:
    monkeypatch.setenv("MLOG_SPOOL", str(tmp_path / "spool"))
    with pytest.raises(TypeError, match="cannot read a signature from int"):
        mlog.log_signature(42)
    with pytest.raises(TypeError, match="a shape must be a sequence of integers"):
        mlog.log_signature({"x": ["a", "b"]})
    mlog.log_signature({"x": "float32"})
    event = json.loads((tmp_path / "spool").read_text())
    assert event == {
        "type": "signature",
        "inputs": [{"name": "x", "type": "float32", "shape": None}],
        "outputs": None,
    }


def test_log_signature_imports_neither_numpy_nor_pandas_nor_pyarrow() -> None:
    code = (
        "import sys, mlog, warnings\n"
        "warnings.simplefilter('ignore')\n"
        "mlog.log_signature({'age': 'int64'}, {'score': 'float64'})\n"
        "print(sorted(m for m in ('numpy', 'pandas', 'pyarrow') if m in sys.modules))\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]", done.stderr
