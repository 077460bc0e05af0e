#!/usr/bin/env bash
# Three retraining cycles of a real scikit-learn model, each captured by `mlog run`.
# Runs in a throwaway git repository so it never touches this checkout.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
work="$(mktemp -d "${TMPDIR:-/tmp}/mlog-quickstart.XXXXXX")"
export COLUMNS="${COLUMNS:-120}"  # wide enough for the tables when not on a terminal
step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }

cp "$here/train.py" "$here/prepare_data.py" "$here/params.yaml" "$here/.gitignore" "$work/"
cd "$work"
git init -q -b main
git config user.email "demo@example.com"
git config user.name "mlog demo"
mlog init
cp "$here/config.yaml" .mlog/config.yaml
git add -A && git commit -qm "Quickstart model with mlog"
python prepare_data.py 2

step "cycle 1: baseline"
mlog run --note "baseline" -- python train.py
mlog champion v1 --reason "first model" 2>/dev/null || true

step "cycle 2: stronger regularisation (params change, committed)"
sed -i.bak 's/alpha: 0.01/alpha: 0.1/' params.yaml && rm params.yaml.bak
git commit -qam "Raise alpha to 0.1"
mlog run --note "alpha 0.1" -- python train.py

step "cycle 3: retrain on one more shard of data"
python prepare_data.py 3
mlog run --note "more data" -- python train.py

step "mlog ls"
mlog ls
step "mlog show v3"
mlog show v3
if mlog diff --help >/dev/null 2>&1; then
  step "mlog diff v1 v3"
  mlog diff v1 v3
fi
step "mlog validate"
mlog validate
printf '\nThe demo repository is kept at %s\n' "$work"
