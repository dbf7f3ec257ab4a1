#!/usr/bin/env bash
# The budget question: what success does each agent reach on pointmaze-{medium,large}-{navigate,stitch} with
# 30 minutes of training per run on this 2-core machine (two runs at a time, one core and one XLA thread each),
# 3 seeds, evaluated with the full OGBench protocol (5 tasks x 50 episodes)?
#
# Each agent's step budget is calibrated first: its steps/s at the chosen size, one thread, times the minutes.
# Then `ethogram reproduce` runs each agent's grid (resumable: rerun the script after an interruption) and
# `ethogram summarize` writes one table of everything to docs/results/budget-30min.json.
#
# Cost: 6 agents x 4 datasets x 3 seeds = 72 runs x 30 min / 2 at a time = about 18 hours plus evaluations.
# Usage: scripts/reproduce_budget.sh            (env: MINUTES=30 NETS=256x2 BATCH=512 SEEDS=0,1,2 AGENTS=...)
set -euo pipefail
cd "$(dirname "$0")/.."
MINUTES=${MINUTES:-30}
NETS=${NETS:-256x2}
BATCH=${BATCH:-512}
SEEDS=${SEEDS:-0,1,2}
AGENTS=${AGENTS:-"gcbc gcivl gciql qrl crl hiql"}
DATASETS=${DATASETS:-pointmaze-medium-navigate,pointmaze-large-navigate,pointmaze-medium-stitch,pointmaze-large-stitch}
OUT=${OUT:-runs/budget-${MINUTES}min}
BIN=.venv/bin
export XLA_FLAGS="--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1"
mkdir -p "$OUT"

steps_for() {  # agent -> training steps that take MINUTES on one thread (rounded down to 1000s, cached)
  local cache="$OUT/steps-$1.txt"
  if [ ! -f "$cache" ]; then
    $BIN/python - "$1" "$NETS" "$BATCH" "$MINUTES" > "$cache" <<'EOF'
import dataclasses, sys, time
import jax
from ethogram.agents import get_agent
from ethogram.data.collect import CollectConfig, collect
from ethogram.data.dataset import Dataset, to_transitions
from ethogram.envs.registry import parse_dataset_name
from ethogram.sweep import parse_nets
from ethogram.train import make_train_chunk

name, nets, batch, minutes = sys.argv[1], parse_nets(sys.argv[2]), int(sys.argv[3]), float(sys.argv[4])
arrays = collect(parse_dataset_name("pointmaze-medium-navigate"), CollectConfig(episodes=20, episode_steps=1001,
                 val_fraction=0.0), progress=False)
flat = {k: v.reshape((-1,) + v.shape[2:]) for k, v in arrays.items()}
data = Dataset(**{k: jax.numpy.asarray(v) for k, v in to_transitions(flat).items()})
agent = get_agent(name)
fields = {f.name for f in dataclasses.fields(agent.Config)}
config = dataclasses.replace(agent.Config(), batch_size=batch, actor_hidden_dims=nets,
                             **({"value_hidden_dims": nets} if "value_hidden_dims" in fields else {}))
state = agent.init(jax.random.PRNGKey(0), 2, 2, config)
chunk = make_train_chunk(agent, config, 100)
state, _ = jax.block_until_ready(chunk(state, data, jax.random.PRNGKey(1)))  # compile
t, n = time.perf_counter(), 0
while time.perf_counter() - t < 30 or n < 300:
    state, _ = jax.block_until_ready(chunk(state, data, jax.random.PRNGKey(2 + n)))
    n += 100
rate = n / (time.perf_counter() - t)
print(max(1000, int(rate * minutes * 60) // 1000 * 1000))
EOF
  fi
  cat "$cache"
}

for agent in $AGENTS; do
  steps=$(steps_for "$agent")
  echo "== $agent: $steps steps (~$MINUTES min at $NETS / batch $BATCH on one thread)"
  $BIN/ethogram reproduce --agents "$agent" --datasets "$DATASETS" --seeds "$SEEDS" --steps "$steps" \
    --nets "$NETS" --batch "$BATCH" --jobs 2 --eval-episodes 50 --out "$OUT/$agent" --data-dir data
done

mkdir -p docs/results
runs=$(ls -d "$OUT"/*/pointmaze-*/*-s* | grep -v '\.log$')
$BIN/ethogram summarize $runs --json "docs/results/budget-${MINUTES}min.json" \
  --command "scripts/reproduce_budget.sh  # MINUTES=$MINUTES NETS=$NETS BATCH=$BATCH SEEDS=$SEEDS" \
  | tee "$OUT/results.md"
