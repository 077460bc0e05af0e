"""Write the bundled breast-cancer dataset as CSV shards under data/ (no download needed).

Usage: python prepare_data.py SHARDS   (each shard holds a slice of the rows)
"""

from __future__ import annotations

import csv
import sys
from pathlib import Path

from sklearn.datasets import load_breast_cancer


def main(shards: int) -> None:
    data = load_breast_cancer()
    out = Path("data")
    out.mkdir(exist_ok=True)
    rows = list(zip(data.data.tolist(), data.target.tolist(), strict=True))
    size = len(rows) // 3
    for shard in range(shards):
        with open(out / f"part-{shard}.csv", "w", newline="") as handle:
            writer = csv.writer(handle)
            writer.writerow([*data.feature_names, "target"])
            for features, target in rows[shard * size : (shard + 1) * size]:
                writer.writerow([*features, target])


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 2)
