#!/usr/bin/env bash
# The second half of the budget question: which reduced configuration gets closest to the published number
# fastest? Beside scripts/reproduce_budget.sh's 2x256 / batch 512 / 40k runs, pointmaze-medium-navigate is run at
# 2x64 / batch 256 for 40k steps (all six agents, eval every 10k) and for 200k steps (the four fast agents, eval
# every 20k), 3 seeds; scripts/budget_table.py then puts the three side by side in training minutes on 2 cores
# (rates: benchmarks/results/agents-{256x2-b512,64x2-b256}.json), adds the finished runs to the committed ledger
# docs/results/budget-runs.json and rewrites docs/results/budget*.json, docs/results/budget_curves.png and the
# tables in docs/results.md. Resumable: rerun it; finished runs are skipped.
# On the other datasets the 40k-step 2x64 runs can be skipped (SHORT_AGENTS=): a 200k-step run's evaluations at
# 20k and 40k equal those of the 40k-step run of the same seed (training is deterministic in the steps).
# Usage: scripts/budget_configs.sh   (env: JOBS=1 SEEDS=0,1,2 DATASET=pointmaze-medium-navigate
#                                     SHORT_AGENTS=gcivl,gciql,hiql,gcbc,crl,qrl LONG_AGENTS=gcivl,gciql,hiql,gcbc)
set -euo pipefail
cd "$(dirname "$0")/.."
JOBS=${JOBS:-1}
SEEDS=${SEEDS:-0,1,2}
DATASET=${DATASET:-pointmaze-medium-navigate}
SHORT_AGENTS=${SHORT_AGENTS-gcivl,gciql,hiql,gcbc,crl,qrl}
LONG_AGENTS=${LONG_AGENTS-gcivl,gciql,hiql,gcbc}
# Both through scripts/reproduce_budget.sh (cells already in the ledger are skipped; each ends with the tables).
if [ -n "$SHORT_AGENTS" ]; then
  NETS=64x2 BATCH=256 STEPS=40000 EVAL_EVERY=10000 OUT=runs/budget-64x2 CONFIG=2x64/b256 AGENTS="$SHORT_AGENTS" \
    DATASETS="$DATASET" SEEDS="$SEEDS" JOBS="$JOBS" scripts/reproduce_budget.sh
fi
if [ -n "$LONG_AGENTS" ]; then
  NETS=64x2 BATCH=256 STEPS=200000 EVAL_EVERY=20000 OUT=runs/budget-64x2-200k CONFIG=2x64/b256/200k \
    AGENTS="$LONG_AGENTS" DATASETS="$DATASET" SEEDS="$SEEDS" JOBS="$JOBS" scripts/reproduce_budget.sh
fi
