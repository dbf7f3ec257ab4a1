#!/usr/bin/env bash
# Regenerates docs/results/antmaze.json: every agent on antmaze-medium-navigate and HIQL, GCIVL and HILP on
# antmaze-large-navigate and antmaze-{medium,large}-stitch, 3 seeds, under the reduced budget below (2 CPU cores),
# each run evaluated once at the end with the full OGBench protocol (5 tasks x 50 episodes of 1000 steps, success
# within 0.5 in x-y). The datasets are collected first (with the expert in $EXPERT), recorded in
# docs/results/antmaze-datasets.json (scripts/dataset_records.py: size, sha256, expert_stats, time) and drawn.
#
# Resumable across machines and sessions: every evaluated run is added to the committed ledger
# docs/results/antmaze-runs.json (scripts/run_ledger.py) and skipped when its label is there, and the records are
# rebuilt from the ledger alone; run directories (runs/antmaze) need not survive. Top-view rollouts of every run go
# to docs/results/antmaze/.
#
# Usage: scripts/antmaze_results.sh   (env: STEPS, NETS, BATCH, SEEDS, JOBS, MEDIUM_AGENTS, OTHER_AGENTS,
#                                      OTHER_DATASETS, EXPERT, ONLY=collect)
set -euo pipefail
cd "$(dirname "$0")/.."
STEPS=${STEPS:-50000}
NETS=${NETS:-256,256}
BATCH=${BATCH:-512}
SEEDS=${SEEDS:-"0 1 2"}
JOBS=${JOBS:-2}
MEDIUM_AGENTS=${MEDIUM_AGENTS:-"gcivl hiql hilp gcbc gciql crl qrl"}
OTHER_AGENTS=${OTHER_AGENTS:-"hiql gcivl hilp"}
OTHER_DATASETS=${OTHER_DATASETS:-"antmaze-large-navigate antmaze-medium-stitch antmaze-large-stitch"}
EXPERT=${EXPERT:-docs/results/ant-expert}
HILP_SET=${HILP_SET:-}
SAVE_EVERY=${SAVE_EVERY:-10000}  # a checkpoint every SAVE_EVERY steps, so a stopped run loses at most that
OUT=runs/antmaze
LEDGER=docs/results/antmaze-runs.json
PICS=docs/results/antmaze
BIN=$PWD/.venv/bin
TAG="${NETS//,/x}-b${BATCH}-${STEPS}"
export XLA_FLAGS="--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1"
CMD="scripts/antmaze_results.sh  # STEPS=$STEPS NETS=$NETS BATCH=$BATCH SEEDS='$SEEDS' HILP_SET='$HILP_SET'"
mkdir -p data "$PICS"

for d in antmaze-medium-navigate $OTHER_DATASETS; do  # collected one at a time: each uses both cores
  [ -f "data/$d-v0.npz" ] || XLA_FLAGS= $BIN/python scripts/dataset_records.py "$d" --expert "$EXPERT" \
    --json docs/results/antmaze-datasets.json --picture "$PICS/$d.png"
done
[ "${ONLY:-}" = collect ] && exit 0

one() {  # agent dataset seed
  local agent=$1 data=$2 seed=$3
  local label="$TAG/$data/$agent-s$seed" dir="$OUT/$TAG/$data/$agent-s$seed"
  $BIN/python scripts/run_ledger.py has "$LEDGER" "$label" && return 0
  mkdir -p "$(dirname "$dir")"
  local extra=(--set actor_hidden_dims=$NETS)
  [ "$agent" = gcbc ] || extra+=(--set value_hidden_dims=$NETS)
  [ "$agent" = hilp ] && extra+=($HILP_SET)
  if [ ! -f "$dir/eval.json" ]; then
    if [ -f "$dir/checkpoint.json" ]; then  # a run stopped part-way continues from its last checkpoint
      $BIN/ethogram train --resume "$dir" --quiet >>"$dir.log" 2>&1 || {
        echo "FAILED $label (see $dir.log)"; return 0; }
    else
      $BIN/ethogram train "$agent" --dataset "data/$data-v0.npz" --steps "$STEPS" --seed "$seed" --out "$dir" \
        --force --quiet --eval-every 0 --save-every "$SAVE_EVERY" --set batch_size="$BATCH" "${extra[@]}" \
        >"$dir.log" 2>&1 || { echo "FAILED $label (see $dir.log)"; return 0; }
    fi
    $BIN/ethogram eval "$dir" --episodes 50 --seed "$seed" --quiet --no-video >>"$dir.log" 2>&1
  fi
  [ -f "$dir/rollouts.png" ] && cp "$dir/rollouts.png" "$PICS/$agent-$data-s$seed.png"
  flock "$LEDGER.lock" $BIN/python scripts/run_ledger.py add "$LEDGER" "$label" "$dir"
}
export -f one; export OUT TAG LEDGER PICS BIN STEPS NETS BATCH HILP_SET SAVE_EVERY

jobs=()
for seed in $SEEDS; do
  for agent in $MEDIUM_AGENTS; do jobs+=("$agent antmaze-medium-navigate $seed"); done
  for data in $OTHER_DATASETS; do for agent in $OTHER_AGENTS; do jobs+=("$agent $data $seed"); done; done
done
printf '%s\n' "${jobs[@]}" | xargs -P "$JOBS" -L 1 bash -c 'one $0 $1 $2'

$BIN/python scripts/run_ledger.py records "$LEDGER" --json docs/results/antmaze.json --command "$CMD"
$BIN/python scripts/results_tables.py
