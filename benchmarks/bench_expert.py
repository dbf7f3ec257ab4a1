"""The ant expert's training speed: ethogram's SAC (envs/locomotor.py) beside OGBench's main_sac.py loop, one run.

Both train OGBench's directional ant task (online-ant-v0 + GymXYWrapper, resample interval 100) with the same
settings (256-256 nets, batch 256, lr 1e-4, one update per environment step after the seed steps) for
`--seed-steps` random steps and then `--updates` more steps, each followed by one update. Reported per side:
environment steps/s of the seed phase and updates/s of the training phase (environment step, action and update
together, compile included), and the minutes that rate gives for OGBench's 400k-step recipe.

The reference side runs OGBench's own code (impls/agents/sac.py, impls/utils/datasets.py's ReplayBuffer,
data_gen_scripts/online_env_utils.py) in a subprocess, stepping and updating as data_gen_scripts/main_sac.py does
(one `agent.update` per step, wandb and evaluation left out). It needs an OGBench checkout with impls/ and
data_gen_scripts/ (`--ref-ogbench DIR`, the directory that holds both) and an interpreter with its dependencies
(`--ref-python`, default /tmp/refvenv/bin/python; benchmarks/README.md says how to make one).

    python -m benchmarks.bench_expert --ref-ogbench /tmp/ogbench_ref            # about 10 minutes
    python -m benchmarks.bench_expert --quick                                     # ours only, seconds
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from benchmarks.common import log, machine_info
from ethogram.io import atomic_write_text

STEPS_RECIPE = 400_000

REFERENCE = r'''
import json, sys, time
args = json.loads(sys.argv[1])
import numpy as np, jax
from agents.sac import SACAgent, get_config          # OGBench impls/
from utils.datasets import ReplayBuffer
from online_env_utils import make_online_env          # OGBench data_gen_scripts/
env = make_online_env("online-ant-xy-v0")
cfg = get_config()
ex = dict(observations=env.observation_space.sample(), actions=env.action_space.sample(), rewards=0.0, masks=1.0,
          next_observations=env.observation_space.sample())
buf = ReplayBuffer.create(ex, size=args["seed_steps"] + args["updates"] + 10)
np.random.seed(0)
agent = SACAgent.create(0, ex["observations"], ex["actions"], cfg)
rng = jax.random.PRNGKey(0)
ob, _ = env.reset(seed=0)
marks = {}
t0 = time.perf_counter()
for i in range(1, args["seed_steps"] + args["updates"] + 1):
    if i < args["seed_steps"]:
        action = env.action_space.sample()
    else:
        rng, key = jax.random.split(rng)
        action = agent.sample_actions(observations=ob, seed=key)
    action = np.array(action)
    next_ob, reward, terminated, truncated, info = env.step(action)
    buf.add_transition(dict(observations=ob, actions=action, rewards=reward, masks=float(not terminated),
                            next_observations=next_ob))
    ob = next_ob
    if terminated or truncated:
        ob, _ = env.reset()
    if buf.size < args["seed_steps"]:
        continue
    if "seed_end" not in marks:
        marks["seed_end"] = time.perf_counter() - t0
    agent, info = agent.update(buf.sample(cfg["batch_size"]))
jax.block_until_ready(info)
marks["end"] = time.perf_counter() - t0
cfg_record = {k: v for k, v in cfg.to_dict().items() if isinstance(v, (int, float, str, bool, tuple, list))}
json.dump({"marks": marks, "config": cfg_record, "jax": jax.__version__}, open(args["out"], "w"))
'''


def ours(seed_steps: int, updates: int, chunk: int) -> dict:
    from ethogram.envs.locomotor import SACConfig, train_expert

    with tempfile.TemporaryDirectory() as d:
        c = SACConfig(steps=seed_steps + updates, seed_steps=seed_steps, save_every=10**9, chunk=chunk)
        t0 = time.perf_counter()
        res = train_expert(d, c, progress=False, log=lambda *_: None)
        total = time.perf_counter() - t0
        rows = list(csv.DictReader(open(Path(d) / "metrics.csv")))
    seed_row = next((r for r in rows if int(r["step"]) >= seed_steps), rows[-1])
    seed_s = float(seed_row["wall_s"]) * seed_steps / int(seed_row["step"])
    train_s = res["seconds"] - seed_s
    return {"chunk": chunk, "seed_steps_per_s": round(seed_steps / seed_s, 1),
            "updates_per_s": round(updates / train_s, 1), "wall_s": round(total, 1),
            "minutes_for_400k": round((seed_steps / (seed_steps / seed_s) +
                                       (STEPS_RECIPE - seed_steps) / (updates / train_s)) / 60, 1)}


def reference(root: Path, python: str, seed_steps: int, updates: int, timeout_s: float) -> dict:
    with tempfile.TemporaryDirectory() as d:
        snippet, out = Path(d) / "ref_sac.py", Path(d) / "out.json"
        snippet.write_text(REFERENCE)
        env = {**os.environ, "PYTHONPATH": f"{root / 'impls'}:{root / 'data_gen_scripts'}", "MUJOCO_GL": "egl"}
        r = subprocess.run([python, str(snippet), json.dumps({"seed_steps": seed_steps, "updates": updates,
                                                              "out": str(out)})],
                           env=env, cwd=d, capture_output=True, text=True, timeout=timeout_s)
        if r.returncode != 0:
            return {"error": (r.stderr.strip().splitlines() or ["?"])[-1]}
        got = json.loads(out.read_text())
    seed_s, end = got["marks"]["seed_end"], got["marks"]["end"]
    train_s = end - seed_s
    return {"seed_steps_per_s": round(seed_steps / seed_s, 1), "updates_per_s": round(updates / train_s, 1),
            "wall_s": round(end, 1), "jax": got["jax"], "config": got["config"],
            "minutes_for_400k": round((seed_s + (STEPS_RECIPE - seed_steps) / (updates / train_s)) / 60, 1)}


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--seed-steps", type=int, default=10_000)
    p.add_argument("--updates", type=int, default=10_000, help="training steps timed after the seed steps")
    p.add_argument("--chunks", default="10", help="ours: environment steps per fused round, comma-separated")
    p.add_argument("--ref-ogbench", help="directory holding OGBench's impls/ and data_gen_scripts/")
    p.add_argument("--ref-python", default="/tmp/refvenv/bin/python")
    p.add_argument("--quick", action="store_true", help="smoke test: 300 seed steps, 200 updates, ours only")
    p.add_argument("--out", default="benchmarks/results/expert.json")
    args = p.parse_args(argv)
    seed_steps, updates = (300, 200) if args.quick else (args.seed_steps, args.updates)
    out = {"machine": machine_info(), "seed_steps": seed_steps, "updates": updates, "recipe_steps": STEPS_RECIPE,
           "ours": [], "reference": None}
    for chunk in (int(x) for x in args.chunks.split(",")):
        r = ours(seed_steps, updates, chunk)
        log(f"ethogram chunk {chunk}: {r['updates_per_s']} updates/s, {r['minutes_for_400k']} min for 400k")
        out["ours"].append(r)
    if args.ref_ogbench and not args.quick:
        root = Path(args.ref_ogbench)
        if not (root / "impls" / "agents" / "sac.py").exists() or not (root / "data_gen_scripts").is_dir():
            out["reference"] = {"error": f"{root} has no impls/agents/sac.py and data_gen_scripts/"}
        else:
            out["reference"] = reference(root, args.ref_python, seed_steps, updates, 3600)
        log(f"OGBench main_sac.py loop: {out['reference']}")
    out["machine"]["load_end"] = os.getloadavg()
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(args.out, json.dumps(out, indent=2, default=str) + "\n")
    log(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
