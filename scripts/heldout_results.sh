#!/usr/bin/env bash
# Regenerates docs/results/heldout.json: success on the five published tasks and on five held-out start/goal
# pairs (ethogram eval --tasks heldout; envs/tasksets.py) of HILP and of the search agent (SNS) on every pointmaze
# dataset, 3 seeds, the full OGBench protocol on each task set (5 tasks x 50 episodes, 1000-step episodes).
#   - HILP: one run per seed (the budget of scripts/hilp_results.sh);
#   - sns (learned, hilp): seed s searches a graph of dataset states with HILP seed s as its controller and
#     distance, so the +- covers the controller's training as well as the search and the episodes;
#   - sns (learned, gcivl): the same with a GCIVL controller per seed (2x256 nets, batch 256, 20k steps);
#   - sns (online): no data; practises on one task set, evaluated on both (published -> heldout and the reverse).
# Resumable: finished evaluations are kept. Two units run at a time, each on one XLA thread, niced.
# The records of docs/results/heldout.json that these runs do not replace are kept (heldout_records.py --merge), so
# one stage or a few datasets can be run again on their own, e.g. STAGES=gcivl DATASETS="pointmaze-giant-stitch".
# Usage: scripts/heldout_results.sh        (env: SEEDS, DATASETS, MAZES, JOBS, EPISODES,
#                                            STAGES: any of "hilp online gcivl", all by default)
set -euo pipefail
cd "$(dirname "$0")/.."
SEEDS=${SEEDS:-"0 1 2"}
DATASETS=${DATASETS:-"pointmaze-medium-navigate pointmaze-medium-stitch pointmaze-large-navigate pointmaze-large-stitch pointmaze-giant-navigate pointmaze-giant-stitch"}
MAZES=${MAZES:-"medium large giant"}
JOBS=${JOBS:-2}
EPISODES=${EPISODES:-50}
STAGES=${STAGES:-"hilp online gcivl"}
NODES=${NODES:-500}
ONLINE_STEPS=${ONLINE_STEPS:-20000}
OUT=runs/heldout
BIN=$PWD/.venv/bin
export XLA_FLAGS="--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1"
export BIN OUT EPISODES NODES ONLINE_STEPS
mkdir -p "$OUT" data

for ds in $DATASETS; do
  [ -f "data/$ds-v0.npz" ] || nice -n 10 "$BIN/ethogram" collect "$ds" --seed 0 --out "data/$ds-v0.npz" --quiet
done

both() {  # run_dir: evaluate on both task sets (each skipped when written)
  [ -f "$1/eval.json" ] || nice -n 10 "$BIN/ethogram" eval "$1" --episodes "$EPISODES" --quiet --no-video >/dev/null
  [ -f "$1/eval-heldout.json" ] || nice -n 10 "$BIN/ethogram" eval "$1" --tasks heldout --episodes "$EPISODES" \
    --quiet --no-video >/dev/null
}

unit() {  # "agent dataset seed": train the controller, evaluate it, search with it, evaluate the search
  set -euo pipefail
  read -r agent ds s <<<"$1"
  data=data/$ds-v0.npz
  run=$OUT/$ds/$agent-s$s
  if [ ! -f "$run/checkpoint.json" ] || ! grep -q '"step": 20000' "$run/checkpoint.json"; then
    if [ "$agent" = hilp ]; then
      sets=(--set actor_hidden_dims=64,64 --set value_hidden_dims=64,64 --set batch_size=256 --set lr=2e-3 --set tau=0.05)
    else
      sets=(--set actor_hidden_dims=256,256 --set value_hidden_dims=256,256 --set batch_size=256)
    fi
    nice -n 10 "$BIN/ethogram" train "$agent" --dataset "$data" --out "$run" --steps 20000 --seed "$s" \
      --eval-every 0 "${sets[@]}" --force --quiet >/dev/null
  fi
  [ "$agent" = hilp ] && both "$run"
  sns=$OUT/$ds/sns-$agent-s$s
  [ -f "$sns/config.json" ] && [ -f "$sns/search.json" ] || nice -n 10 "$BIN/ethogram" search "$data" \
    --controller "$run" --nodes "$NODES" --seed "$s" --out "$sns" --force --quiet >/dev/null
  both "$sns"
  echo "done: $1"
}

online() {  # "maze seed practice"
  set -euo pipefail
  read -r maze s practice <<<"$1"
  dir=$OUT/online-$maze/sns-practice-$practice-s$s
  [ -f "$dir/search.json" ] || nice -n 10 "$BIN/ethogram" search "pointmaze-$maze" --practice "$practice" \
    --steps "$ONLINE_STEPS" --seed "$s" --out "$dir" --force --quiet >/dev/null
  both "$dir"
  echo "done: online $1"
}
export -f both unit online

# A unit that fails does not stop the others (nor the later stages); the script exits 1 at the end, after the
# records of what finished, and a rerun does what is left.
failed=0
has() { [[ " $STAGES " == *" $1 "* ]]; }
if has hilp; then
  units=()
  for ds in $DATASETS; do for s in $SEEDS; do units+=("hilp $ds $s"); done; done
  printf '%s\n' "${units[@]}" | xargs -P "$JOBS" -I{} bash -c 'unit "{}"' || failed=1
fi
if has online; then
  onl=()
  for maze in $MAZES; do for s in $SEEDS; do for p in published heldout; do onl+=("$maze $s $p"); done; done; done
  printf '%s\n' "${onl[@]}" | xargs -P "$JOBS" -I{} bash -c 'online "{}"' || failed=1
fi
if has gcivl; then
  units=()
  for ds in $DATASETS; do for s in $SEEDS; do units+=("gcivl $ds $s"); done; done
  printf '%s\n' "${units[@]}" | xargs -P "$JOBS" -I{} bash -c 'unit "{}"' || failed=1
fi

"$BIN/python" scripts/heldout_records.py "$OUT" --out docs/results/heldout.json --merge \
  --command "scripts/heldout_results.sh  # SEEDS='$SEEDS' EPISODES=$EPISODES NODES=$NODES ONLINE_STEPS=$ONLINE_STEPS STAGES='$STAGES'"
[ "$failed" = 0 ] || { echo "some units failed (their errors are above); run the script again to finish them"; exit 1; }
