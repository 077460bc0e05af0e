"""A small retrainable model: SGD logistic regression over the CSV shards in data/.

Reads params.yaml, logs the loss per epoch through mlog's Python API, writes
metrics.json (final metrics, DVC style) and model.pkl.
"""

from __future__ import annotations

import csv
import json
import pickle
from pathlib import Path

import yaml
from sklearn.linear_model import SGDClassifier
from sklearn.metrics import log_loss, roc_auc_score
from sklearn.model_selection import train_test_split
from sklearn.preprocessing import StandardScaler

import mlog


def load_rows() -> tuple[list[list[float]], list[int]]:
    features, targets = [], []
    for shard in sorted(Path("data").glob("*.csv")):
        with open(shard, newline="") as handle:
            reader = csv.reader(handle)
            next(reader)
            for row in reader:
                features.append([float(x) for x in row[:-1]])
                targets.append(int(row[-1]))
    return features, targets


def main() -> None:
    params = yaml.safe_load(Path("params.yaml").read_text())
    X, y = load_rows()
    X_train, X_test, y_train, y_test = train_test_split(
        X, y, test_size=0.3, random_state=params["seed"], stratify=y
    )
    scaler = StandardScaler().fit(X_train)
    X_train, X_test = scaler.transform(X_train), scaler.transform(X_test)
    model = SGDClassifier(loss="log_loss", alpha=params["alpha"], random_state=params["seed"])
    for epoch in range(params["epochs"]):
        model.partial_fit(X_train, y_train, classes=[0, 1])
        loss = log_loss(y_test, model.predict_proba(X_test))
        mlog.log_metric("val_loss", loss, step=epoch)
        print(f"epoch {epoch + 1}/{params['epochs']}  val_loss={loss:.4f}")
    metrics = {
        "auc": roc_auc_score(y_test, model.predict_proba(X_test)[:, 1]),
        "accuracy": model.score(X_test, y_test),
    }
    mlog.log_param("train_rows", len(y_train))
    mlog.log_signature(X_test, model.predict_proba(X_test[:2]))  # what the model takes and gives
    Path("metrics.json").write_text(json.dumps(metrics, indent=2))
    Path("model.pkl").write_bytes(pickle.dumps((scaler, model)))


if __name__ == "__main__":
    main()
