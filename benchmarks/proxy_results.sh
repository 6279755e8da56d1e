#!/usr/bin/env bash
# Proxy learning, the paper's three-way comparison on one data split (docs/results.md):
#   1. the SNN trained through its ReLU proxy      (snnviz train --algorithm proxy)
#   2. baseline (a): the same ANN trained alone   (--set mode=ann)
#   3. baseline (b): that ANN converted to an SNN at the same T (threshold balancing)
# Runs 1 and 2 train side by side (on one GPU they share it), then
# `python -m snnviz.algorithms.proxy` scores all three on the test set.
#
#   DATA=../shared/datasets DEVICE=cuda benchmarks/proxy_results.sh
#
# Settings (environment): PY (python), DATA (dataset root), DATASET (fashion-mnist),
# ARCH (fmnist: the paper's network), DEVICE (cpu|cuda), EPOCHS (100, the reference's),
# SEED (0), ROOT (runs/results), BUDGET (seconds of training per run; 0 = none). With a
# BUDGET each run is stopped (SIGTERM: checkpoint saved) when it runs out and then finished
# on the epochs it completed: the model is still selected on validation and the test set is
# scored once. Continue a stopped run later with the same command and a larger EPOCHS.
# Extra arguments go to both `snnviz train` commands (e.g. --train-size 2000).
set -euo pipefail
PY=${PY:-python3}
DATA=${DATA:-${SNNVIZ_DATA:-../shared/datasets}}
DATASET=${DATASET:-fashion-mnist}
ARCH=${ARCH:-fmnist}
DEVICE=${DEVICE:-cpu}
EPOCHS=${EPOCHS:-100}
SEED=${SEED:-0}
ROOT=${ROOT:-runs/results}
BUDGET=${BUDGET:-0}
tag=${DATASET}-${ARCH}

epochs_done() {   # completed epochs in a run's checkpoint (0 if none)
    "$PY" - "$1/checkpoint.pt" <<'EOF'
import os, sys, torch
p = sys.argv[1]
print(torch.load(p, weights_only=True)["epoch"] if os.path.exists(p) else 0)
EOF
}

train() {         # train OUT [--set ...]: one run, resumed if OUT holds one
    local out=$1 rc=0 done_
    shift
    local args=(-m snnviz train --algorithm proxy --dataset "$DATASET" --data-root "$DATA"
                --set arch="$ARCH" --device "$DEVICE" --seed "$SEED" --quiet "$@")
    local resume=()
    [ -f "$out/checkpoint.pt" ] && resume=(--resume)
    if [ "$BUDGET" -gt 0 ]; then
        timeout -s TERM "$BUDGET" "$PY" "${args[@]}" --epochs "$EPOCHS" --out "$out" \
            "${resume[@]}" || rc=$?
        if [ "$rc" -ne 0 ] && [ "$rc" -ne 124 ] && [ "$rc" -ne 130 ]; then return "$rc"; fi
        [ -f "$out/result.json" ] && [ "$rc" -eq 0 ] && return 0
        done_=$(epochs_done "$out")
        if [ "$done_" -lt 1 ]; then
            echo "$out: no epoch finished within BUDGET=$BUDGET s" >&2
            return 1
        fi
        echo "$out: budget spent after $done_ epochs; selecting on validation, testing" >&2
        "$PY" "${args[@]}" --epochs "$done_" --out "$out" --resume
    else
        "$PY" "${args[@]}" --epochs "$EPOCHS" --out "$out" "${resume[@]}"
    fi
}

train "$ROOT/proxy-$tag" "$@" &
p1=$!
train "$ROOT/ann-$tag" --set mode=ann "$@" &
p2=$!
wait "$p1"
wait "$p2"
"$PY" -m snnviz.algorithms.proxy --proxy-run "$ROOT/proxy-$tag" --ann-run "$ROOT/ann-$tag" \
    --out "$ROOT/proxy-compare-$tag.json"
