#!/usr/bin/env bash
# Regenerates docs/results/search.json: the behavioural search agent (SNS), 3 seeds, evaluated with the full
# OGBench protocol (5 tasks x 50 episodes, 1000-step episodes).
#   1. no data: online search on pointmaze-{medium,large,giant} (straight-line controller): env steps and wall
#      time to the first success of each task, graph size, then success;
#   2. with data: a graph of dataset states, GCIVL as the edge controller (its learned value measures
#      distances), on every pointmaze dataset; and the raw x-y roadmap reference (straight-line controller);
#   3. adaptation: a corridor cell of the learned route blocked, or the goal moved; env steps to re-solve with
#      mutation, with the frozen graph (ablation) and from scratch.
# Controllers: one GCIVL run per dataset (seed 0, 2x256 nets, batch 256, CTRL_STEPS steps; see docs/results.md);
# the seeds of the table are the search seeds (graph sampling and episode noise).
# Resumable: a run that has its eval.json is not run again. Usage: scripts/search_results.sh
set -euo pipefail
cd "$(dirname "$0")/.."
SEEDS=${SEEDS:-"0 1 2"}
MAZES=${MAZES:-"medium large giant"}
DATASETS=${DATASETS:-"pointmaze-medium-navigate pointmaze-medium-stitch pointmaze-large-navigate pointmaze-large-stitch pointmaze-giant-navigate pointmaze-giant-stitch"}
CTRL_STEPS=${CTRL_STEPS:-20000}
ONLINE_STEPS=${ONLINE_STEPS:-20000}
NODES=${NODES:-500}
EPISODES=${EPISODES:-50}
ADAPT_MAZES=${ADAPT_MAZES:-"medium large"}
CHANGES=${CHANGES:-"block move-goal"}
ADAPT_BUDGET=${ADAPT_BUDGET:-20000}
OUT=runs/search
BIN=.venv/bin
NICE="nice -n 10"

runs=()
for maze in $MAZES; do for s in $SEEDS; do
  dir=$OUT/online-$maze-s$s
  if [ ! -f "$dir/eval.json" ]; then
    $NICE $BIN/ethogram search pointmaze-$maze --out "$dir" --steps "$ONLINE_STEPS" --seed "$s" --force --quiet
    $NICE $BIN/ethogram eval "$dir" --episodes "$EPISODES" --quiet
  fi
  runs+=("$dir")
done; done

for ds in $DATASETS; do
  data=data/$ds-v0.npz
  ctrl=$OUT/ctrl-gcivl-$ds-s0
  [ -f "$data" ] || $NICE $BIN/ethogram collect "$ds" --seed 0 --out "$data" --quiet
  if [ ! -f "$ctrl/checkpoint.safetensors" ]; then
    $NICE $BIN/ethogram train gcivl --dataset "$data" --out "$ctrl" --steps "$CTRL_STEPS" --seed 0 --eval-every 0 \
      --set actor_hidden_dims=256,256 --set value_hidden_dims=256,256 --set batch_size=256 --force --quiet
  fi
  for s in $SEEDS; do
    for kind in learned xy; do
      dir=$OUT/$kind-$ds-s$s
      extra=(); [ "$kind" = learned ] && extra=(--controller "$ctrl")
      if [ ! -f "$dir/eval.json" ]; then
        $NICE $BIN/ethogram search "$data" --out "$dir" --nodes "$NODES" --seed "$s" --force --quiet "${extra[@]}"
        $NICE $BIN/ethogram eval "$dir" --episodes "$EPISODES" --quiet
      fi
      runs+=("$dir")
    done
  done
done

adapt=()
for change in $CHANGES; do for maze in $ADAPT_MAZES; do for s in $SEEDS; do
  f=$OUT/adapt-$maze-s$s.json
  [ "$change" = block ] || f=$OUT/adapt-$change-$maze-s$s.json
  [ -f "$f" ] || $NICE $BIN/python -m ethogram.search.adapt "$maze" --change "$change" --seed "$s" \
    --budget "$ADAPT_BUDGET" --out "$f"
  adapt+=("$f")
done; done; done

mkdir -p docs/results
$BIN/python -m ethogram.search.results "${runs[@]}" --adapt "${adapt[@]}" --out docs/results/search.json \
  --command "scripts/search_results.sh  # SEEDS='$SEEDS' NODES=$NODES CTRL_STEPS=$CTRL_STEPS ONLINE_STEPS=$ONLINE_STEPS EPISODES=$EPISODES ADAPT_BUDGET=$ADAPT_BUDGET"
