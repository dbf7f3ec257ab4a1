#!/usr/bin/env bash
# BESO's results (docs/results.md, "BESO"): avoiding, BESO beside GCBC with the same 4x256 MLP, 3 seeds, 50k steps
# (BESO's paper trains 40-60k); BESO on pointmaze-{medium,large}-navigate at 30k steps; then the sampler, step and
# guidance studies on the avoiding runs (act settings, no retraining), the pictures and the time per action.
# Usage: scripts/beso_results.sh [RUNS] [DATA]
set -euo pipefail
RUNS=${1:-runs/beso}
DATA=${2:-data}
PY=${PY:-.venv/bin/python}
E="$PY -m ethogram.cli"

$E reproduce --agents beso,gcbc --datasets avoiding --seeds 0,1,2 --steps 50000 --eval-episodes 50 \
  --set actor_hidden_dims=256,256,256,256 --out "$RUNS/avoiding" --data-dir "$DATA" \
  --json docs/results/beso-avoiding.json
$E reproduce --agents beso --datasets pointmaze-medium-navigate,pointmaze-large-navigate --seeds 0,1,2 \
  --steps 30000 --eval-episodes 50 --out "$RUNS/pointmaze" --data-dir "$DATA" --json docs/results/beso-pointmaze.json

# Act settings of the same BESO runs: samplers and steps, guidance weights.
B="$RUNS/avoiding/avoiding/beso-s0 $RUNS/avoiding/avoiding/beso-s1 $RUNS/avoiding/avoiding/beso-s2"
SETTINGS="sampling_steps=1 sampling_steps=3 sampling_steps=10 sampler=ddpm sampler=euler_ancestral
  guidance=0 guidance=1 guidance=1.5 guidance=2 guidance=3"
for s in $SETTINGS; do
  for r in $B; do $E eval "$r" --set "$s" --episodes 50 --quiet > /dev/null; done
done
$PY scripts/beso_figures.py "$RUNS/avoiding" "$DATA/avoiding-v0.json" --settings $SETTINGS
$PY -m benchmarks.bench_beso --out benchmarks/results/beso.json
