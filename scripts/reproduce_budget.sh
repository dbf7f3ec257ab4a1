#!/usr/bin/env bash
# The budget question: what success does each agent reach on pointmaze-{medium,large}-{navigate,stitch} within
# 30 minutes of training on this 2-core machine, 3 seeds, evaluated with the full OGBench protocol (5 tasks x 50
# episodes)?
#
# Running 72 runs for 30 minutes each would take 36 hours of the machine, so the grid trains a fixed number of
# steps (STEPS, default 40k) at a reduced size (NETS x BATCH, default 2x256 / 512), evaluating every EVAL_EVERY
# steps for the learning curve; `python -m benchmarks.bench_agents` (no reference, same size) gives each agent's steps/s
# on both cores of an idle machine, which turns steps into wall-clock minutes (docs/results.md, budget section).
# Training is deterministic in the steps, so the runs themselves may share the machine with anything.
#
# Order: one dataset at a time, agent by agent. Resumable: rerun the script; cells in the ledger and finished runs
# are skipped, interrupted ones continue from their last checkpoint (while their run directories exist: they are
# git-ignored, so commit docs/results/budget-runs.json before the machine or the checkout goes away).
# Usage: scripts/reproduce_budget.sh   (env: STEPS=40000 NETS=256x2 BATCH=512 SEEDS=0,1,2 JOBS=1 DATASETS=...)
set -euo pipefail
cd "$(dirname "$0")/.."
STEPS=${STEPS:-40000}
NETS=${NETS:-256x2}
BATCH=${BATCH:-512}
SEEDS=${SEEDS:-0,1,2}
JOBS=${JOBS:-1}
EVAL_EVERY=${EVAL_EVERY:-10000}
AGENTS=${AGENTS:-gcbc,gcivl,gciql,qrl,crl,hiql}
DATASETS=${DATASETS:-pointmaze-medium-navigate pointmaze-large-navigate pointmaze-medium-stitch pointmaze-large-stitch}
OUT=${OUT:-runs/budget}
CONFIG=${CONFIG:-2x256/b512}  # the ledger's name for runs in $OUT (scripts/budget_table.py DEFAULT_CONFIGS)
BIN=.venv/bin
mkdir -p "$OUT" docs/results

# Only the cells the committed ledger (docs/results/budget-runs.json) lacks: run directories may be gone, the
# ledger is committed.
mapfile -t todo < <($BIN/python scripts/budget_table.py --todo "$CONFIG:$DATASETS:$AGENTS:$SEEDS")
for cell in "${todo[@]}"; do
  read -r d a s <<< "$cell"
  echo "== $d: $a, seeds $s, $STEPS steps, $NETS nets, batch $BATCH"
  $BIN/ethogram reproduce --agents "$a" --datasets "$d" --seeds "$s" --steps "$STEPS" --nets "$NETS" \
    --batch "$BATCH" --eval-every "$EVAL_EVERY" --eval-episodes 50 --jobs "$JOBS" --out "$OUT" --data-dir data \
    --json "$OUT/results-$d.json"
done

# Every finished run goes into the committed ledger (docs/results/budget-runs.json; run directories are
# git-ignored), and the tables, records and plot are rebuilt from it.
$BIN/python scripts/budget_table.py --docs docs/results.md
