#!/usr/bin/env bash
# Regenerates docs/results/antmaze-search.json: the search agent (sns) on antmaze datasets, its local controller
# and learned distance a HIQL run trained per seed at the agents' grid budget (scripts/antmaze_results.sh: 256-256
# nets, batch 256, 40k steps; the same run directories, trained here when missing), with a mutating and a frozen
# graph (the ablation), each evaluated with the OGBench protocol (5 tasks x 50 episodes, evaluation seed = seed).
# The variants named in HELDOUT (default: mutate), and the controller alone, are evaluated on the held-out tasks too
# (`ethogram eval --tasks heldout`: five other start/goal pairs of the maze), since the settings were chosen on the
# published tasks.
#
# Resumable across machines like the agents' grid: every evaluated search run is added to the committed ledger
# docs/results/antmaze-search-runs.json (scripts/run_ledger.py) and skipped when its label is there.
#
# Usage: scripts/antmaze_search.sh   (env: DATASETS, SEEDS, NODES, SETS, VARIANTS, HELDOUT, JOBS, STEPS, NETS, BATCH)
set -euo pipefail
cd "$(dirname "$0")/.."
DATASETS=${DATASETS:-"antmaze-large-navigate antmaze-medium-stitch antmaze-large-stitch antmaze-medium-navigate"}
SEEDS=${SEEDS:-"0 1 2"}
NODES=${NODES:-500}
SETS=${SETS:-"node_filter=0.5"}  # SNS settings over the learned-mode defaults, space-separated KEY=VALUE
VARIANTS=${VARIANTS:-"mutate frozen"}
HELDOUT=${HELDOUT-"mutate"}  # variants also evaluated on the held-out tasks ("" for none)
JOBS=${JOBS:-2}
STEPS=${STEPS:-40000}
NETS=${NETS:-256,256}
BATCH=${BATCH:-256}
TAG="${NETS//,/x}-b${BATCH}-${STEPS}"
STAG="hiql-n${NODES}-${SETS// /-}"
LEDGER=docs/results/antmaze-search-runs.json
PICS=docs/results/antmaze-search
BIN=$PWD/.venv/bin
export XLA_FLAGS="--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1"
CMD="NODES=N SETS='K=V ...' DATASETS=D SEEDS=S scripts/antmaze_search.sh  # N and the K=V: the record's settings (nodes=500 where none is named); controllers: HIQL $TAG"
mkdir -p "$PICS"

one() {  # dataset seed
  local data=$1 seed=$2
  local ctrl="runs/antmaze/$TAG/$data/hiql-s$seed"
  [ -f "data/$data-v0.npz" ] || { echo "MISSING data/$data-v0.npz: ethogram collect $data --expert docs/results/ant-expert"; return 0; }
  if [ ! -f "$ctrl/checkpoint.json" ]; then
    mkdir -p "$(dirname "$ctrl")"
    $BIN/ethogram train hiql --dataset "data/$data-v0.npz" --steps "$STEPS" --seed "$seed" --out "$ctrl" --force \
      --quiet --eval-every 0 --save-every 10000 --set batch_size="$BATCH" --set actor_hidden_dims=$NETS \
      --set value_hidden_dims=$NETS >"$ctrl.log" 2>&1 || { echo "FAILED training $ctrl (see $ctrl.log)"; return 0; }
  fi
  if [ -n "$HELDOUT" ] && [ ! -f "$ctrl/eval-heldout.json" ]; then  # the controller alone, on the held-out tasks
    $BIN/ethogram eval "$ctrl" --tasks heldout --episodes 50 --seed "$seed" --quiet --no-video >>"$ctrl.log" 2>&1 ||
      echo "FAILED held-out eval of $ctrl (see $ctrl.log)"
  fi
  for variant in $VARIANTS; do
    local label="$STAG/$data/$variant-s$seed" dir="runs/antmaze-sns/$STAG/$data/$variant-s$seed"
    $BIN/python scripts/run_ledger.py has "$LEDGER" "$label" && continue
    local sets=()
    for kv in $SETS; do sets+=(--set "$kv"); done
    [ "$variant" = frozen ] && sets+=(--set mutate=false)
    mkdir -p "$(dirname "$dir")"
    $BIN/ethogram search "$data" --controller "$ctrl" --nodes "$NODES" --seed "$seed" --out "$dir" --force --quiet \
      "${sets[@]}" >"$dir.log" 2>&1 || { echo "FAILED search $label (see $dir.log)"; continue; }
    $BIN/ethogram eval "$dir" --episodes 50 --seed "$seed" --quiet --no-video >>"$dir.log" 2>&1 || {
      echo "FAILED eval $label (see $dir.log)"; continue; }
    cp "$dir/graph.png" "$PICS/$variant-$data-s$seed.png"
    if [[ " $HELDOUT " == *" $variant "* ]]; then
      $BIN/ethogram eval "$dir" --tasks heldout --episodes 50 --seed "$seed" --quiet --no-video >>"$dir.log" 2>&1 || {
        echo "FAILED held-out eval $label (see $dir.log)"; continue; }
    fi
    flock "$LEDGER.lock" $BIN/python scripts/run_ledger.py add "$LEDGER" "$label" "$dir"
  done
}
export -f one; export TAG STAG LEDGER PICS BIN STEPS NETS BATCH NODES SETS VARIANTS HELDOUT

jobs=()
for seed in $SEEDS; do for data in $DATASETS; do jobs+=("$data $seed"); done; done
printf '%s\n' "${jobs[@]}" | xargs -P "$JOBS" -L 1 bash -c 'one $0 $1'

$BIN/python scripts/run_ledger.py records "$LEDGER" --json docs/results/antmaze-search.json --command "$CMD"
$BIN/python scripts/results_tables.py
