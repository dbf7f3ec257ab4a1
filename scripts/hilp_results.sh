#!/usr/bin/env bash
# Regenerates docs/results/hilp*.json: HILP and HILP-Plan on pointmaze {medium, large, giant} x {navigate, stitch},
# 3 seeds, under the reduced budget below (2 CPU cores), evaluated with the full OGBench protocol (5 tasks x 50
# episodes); reward and demonstration prompts on the navigate datasets. Resumable: finished evaluations are kept.
# Usage: scripts/hilp_results.sh [STEPS]     (env: NETS, BATCH, LR, TAU, SEEDS, BANK, DATASETS, JOBS)
set -euo pipefail
cd "$(dirname "$0")/.."
STEPS=${1:-20000}
NETS=${NETS:-64x2}
BATCH=${BATCH:-256}
LR=${LR:-2e-3}
TAU=${TAU:-0.05}
SEEDS=${SEEDS:-0,1,2}
BANK=${BANK:-10000}
JOBS=${JOBS:-2}
DATASETS=${DATASETS:-pointmaze-medium-navigate,pointmaze-medium-stitch,pointmaze-large-navigate,pointmaze-large-stitch,pointmaze-giant-navigate,pointmaze-giant-stitch}
OUT=runs/hilp
BIN=$PWD/.venv/bin
export XLA_FLAGS="--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1"
CMD="scripts/hilp_results.sh $STEPS  # NETS=$NETS BATCH=$BATCH LR=$LR TAU=$TAU SEEDS=$SEEDS BANK=$BANK"

# 1. Train and evaluate goal prompts (ethogram reproduce: parallel, resumable, learning curves).
$BIN/ethogram reproduce --agents hilp --datasets "$DATASETS" --seeds "$SEEDS" --steps "$STEPS" --nets "$NETS" \
  --batch "$BATCH" --set lr="$LR" --set tau="$TAU" --jobs "$JOBS" --out "$OUT" --json docs/results/hilp.json \
  --eval-every $((STEPS / 2)) --command-text "$CMD"

# 2. HILP-Plan, reward prompts and demonstrations on every finished run (each skipped when already written).
evals() {  # run_dir
  local d=$1
  [ -f "$d/eval-plan.json" ] || $BIN/ethogram eval "$d" --plan --plan-bank "$BANK" --episodes 50 --quiet >/dev/null
  case "$d" in *navigate*)
    [ -f "$d/eval-reward.json" ] || $BIN/ethogram eval "$d" --prompt reward:all --episodes 50 --quiet >/dev/null
    [ -f "$d/eval-demo.json" ] || $BIN/ethogram eval "$d" --prompt demo:all --episodes 20 --quiet >/dev/null ;;
  esac
}
export -f evals; export BIN BANK
ls -d $OUT/*/hilp-*s[0-9]*/ | sed "s:/$::" | xargs -P "$JOBS" -I{} bash -c 'evals {}'

$BIN/ethogram summarize $OUT/*/hilp-*s[0-9]*/ --eval-file eval-plan.json --json docs/results/hilp-plan.json --command "$CMD"
$BIN/ethogram summarize $OUT/*navigate/hilp-*s[0-9]*/ --eval-file eval-reward.json --json docs/results/hilp-reward.json \
  --command "$CMD"
$BIN/ethogram summarize $OUT/*navigate/hilp-*s[0-9]*/ --eval-file eval-demo.json --json docs/results/hilp-demo.json \
  --command "$CMD"
