"""The case mlog diff exists for: a retrained fraud model got worse because of new data.

v1 trains on markets A and B and becomes champion. v2 is the scheduled retraining with
many extra rows of market C, whose fraud pattern is different, so the AUC on the A/B
holdout drops. `mlog diff v1 v2` must name the added files and the regressed metric, and
v2's own record must say the validation regressed.
"""

from __future__ import annotations

import json
import random
from typing import Any

import yaml

from tests.conftest import PYTHON, Repo

TRAIN = '''\
"""Logistic regression on every CSV under data/, scored by AUC on a fixed A/B holdout."""
import csv, glob, json
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score

def load(pattern):
    rows = [r for path in sorted(glob.glob(pattern)) for r in csv.DictReader(open(path))]
    return [[float(r["amount"]), float(r["hour"])] for r in rows], [int(r["fraud"]) for r in rows]

X, y = load("data/*.csv")
X_test, y_test = load("holdout/*.csv")
model = LogisticRegression(max_iter=1000).fit(X, y)
auc = roc_auc_score(y_test, model.predict_proba(X_test)[:, 1])
json.dump({"auc": round(float(auc), 4), "rows": len(y)}, open("metrics.json", "w"))
'''


def _market(seed: int, rows: int, *, fraud_when_large: bool) -> str:
    """Fraud is a large night-time amount in A/B; in C it is a small daytime one."""
    rng = random.Random(seed)
    lines = ["amount,hour,fraud"]
    for _ in range(rows):
        fraud = rng.random() < 0.3
        large = fraud == fraud_when_large
        amount = rng.gauss(900 if large else 100, 60)
        hour = rng.gauss(3 if large else 14, 2)
        lines.append(f"{amount:.2f},{hour:.2f},{int(fraud)}")
    return "\n".join(lines) + "\n"


def test_retraining_on_market_c_is_caught(repo: Repo, cli: Any) -> None:
    repo.gen(
        {
            "train.py": TRAIN,
            ".gitignore": "metrics.json\n",
            "data/market_a.csv": _market(1, 200, fraud_when_large=True),
            "data/market_b.csv": _market(2, 200, fraud_when_large=True),
            "holdout/market_ab.csv": _market(3, 200, fraud_when_large=True),
        }
    )
    repo.commit("fraud model trained on markets A and B")
    run = ("run", "-d", "train=data", "-m", "metrics.json")
    command = ("--", PYTHON, "train.py")
    v1 = cli(*run, *command)
    assert v1.exit_code == 0, v1
    assert cli("champion", "v1", "--reason", "Q1 model").exit_code == 0

    repo.gen(
        {f"data/market_c_{i}.csv": _market(10 + i, 400, fraud_when_large=False) for i in range(3)}
    )
    repo.commit("scheduled retraining: add market C")
    v2 = cli(*run, "--fail-on-regression", *command)
    assert v2.exit_code == 1, v2
    assert "REGRESSED" in v2.stderr, v2

    diff = cli("diff", "v1", "v2", "--json")
    assert diff.exit_code == 0, diff
    result = json.loads(diff.stdout)
    train = next(entry for entry in result["data"] if entry["key"] == "train")
    assert train["files"]["added"]["paths"] == [f"market_c_{i}.csv" for i in range(3)]
    auc = next(entry for entry in result["metrics"] if entry["key"] == "auc")
    assert auc["verdict"] == "regressed" and auc["new"] < auc["old"], auc
    assert [c["subject"] for c in result["code"]["ahead"]] == ["scheduled retraining: add market C"]

    text = cli("diff", "v1", "v2")
    for expected in ("market_c_0.csv", "market_c_2.csv", "auc", "regressed"):
        assert expected in text.stdout, (expected, text)

    record_path = repo.run_dir(repo.run_ids()[-1]) / "record.yaml"
    validation = yaml.safe_load(record_path.read_text())["validation"]
    assert validation["verdict"] == "regressed"
    assert validation["champion"]["alias"] == "v1"
    assert validation["data"]["datasets"][0]["files"]["added"]["count"] == 3
