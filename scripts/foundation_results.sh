#!/usr/bin/env bash
# Regenerates docs/results/foundation.json: GCBC and GCIVL on pointmaze-medium-navigate, 3 seeds, under the
# reduced budget stated below (2 CPU cores), evaluated with the full OGBench protocol (5 tasks x 50 episodes).
# Two runs at a time, one thread each. Usage: scripts/foundation_results.sh [STEPS]
set -euo pipefail
cd "$(dirname "$0")/.."
STEPS=${1:-50000}
SEEDS=${SEEDS:-"0 1 2"}
NETS=${NETS:-256,256}
BATCH=${BATCH:-512}
OUT=runs/foundation
DATA=data/pointmaze-medium-navigate-v0.npz
BIN=.venv/bin
export XLA_FLAGS="--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1"

[ -f "$DATA" ] || $BIN/ethogram collect pointmaze-medium-navigate --seed 0 --out "$DATA" --quiet

one() {  # agent seed
  local dir=$OUT/$1-s$2
  local extra=()
  [ "$1" = gcbc ] || extra=(--set value_hidden_dims=$NETS)
  if [ ! -f "$dir/eval.json" ]; then
    $BIN/ethogram train "$1" --dataset "$DATA" --steps "$STEPS" --seed "$2" --out "$dir" --force --quiet \
      --eval-every 0 --set actor_hidden_dims=$NETS --set batch_size=$BATCH "${extra[@]}"
    $BIN/ethogram eval "$dir" --episodes 50 --quiet
  fi
}
export -f one; export OUT DATA STEPS NETS BATCH BIN
jobs=()
for agent in gcbc gcivl; do for seed in $SEEDS; do jobs+=("$agent $seed"); done; done
printf '%s\n' "${jobs[@]}" | xargs -P 2 -L 1 bash -c 'one $0 $1'

mkdir -p docs/results
$BIN/ethogram summarize $OUT/gcbc-s* $OUT/gcivl-s* --json docs/results/foundation.json \
  --command "scripts/foundation_results.sh $STEPS  # NETS=$NETS BATCH=$BATCH SEEDS='$SEEDS'"
