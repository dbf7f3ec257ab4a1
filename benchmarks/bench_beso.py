"""BESO's time per action: one jitted call drawing actions for a batch of episodes, for 1, 3 and 10 DDIM steps and
the many-step DDPM sampler, and its training-step rate (writes JSON).

    python -m benchmarks.bench_beso                      # batch 250 (OGBench's 5 tasks x 50 episodes)
    python -m benchmarks.bench_beso --quick --out /tmp/b.json

Timing: the policy of `make_policy` (what evaluation calls every step: a jitted act, numpy in and out) after a
compile call, median over calls of at least `--min-s` seconds; the network is the default MLP denoiser (4 x 256)
with its default guidance (1: one network evaluation per step). Guidance other than 0 and 1 doubles the work.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import time
from pathlib import Path

import jax
import numpy as np

from benchmarks.common import collect_flat, log, machine_info, time_train_chunk, to_device
from ethogram.agents import beso
from ethogram.agents.base import Spec, make_policy
from ethogram.io import atomic_write_text

SAMPLERS = (("ddim", 1), ("ddim", 3), ("ddim", 10), ("ddpm", 25))


def time_policy(config, state, batch: int, min_s: float, obs_dim: int = 2) -> dict:
    policy = make_policy(beso, config, state)
    rng = np.random.default_rng(0)
    obs = rng.normal(size=(batch, obs_dim)).astype(np.float32)
    goals = rng.normal(size=(batch, obs_dim)).astype(np.float32)
    policy(obs, goals)  # compile
    times = []
    start = time.perf_counter()
    while time.perf_counter() - start < min_s or len(times) < 5:
        t0 = time.perf_counter()
        policy(obs, goals)
        times.append(time.perf_counter() - t0)
    return {"calls": len(times), "ms_per_call": round(1e3 * float(np.median(times)), 4),
            "ms_per_action": round(1e3 * float(np.median(times)) / batch, 6)}


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--batch", type=int, default=250)
    p.add_argument("--min-s", type=float, default=3.0)
    p.add_argument("--quick", action="store_true", help="smoke test: short timings")
    p.add_argument("--out", default="benchmarks/results/beso.json")
    args = p.parse_args(argv)
    min_s = 0.2 if args.quick else args.min_s
    config = beso.Config()
    state = beso.init(jax.random.PRNGKey(0), Spec(2, 2), config)
    out = {"machine": machine_info(), "batch": args.batch, "denoiser": list(config.actor_hidden_dims),
           "guidance": config.guidance, "sampling": []}
    for sampler, steps in SAMPLERS:
        c = dataclasses.replace(config, sampler=sampler, sampling_steps=steps if sampler != "ddpm" else 3,
                                ddpm_steps=steps)
        r = {"sampler": sampler, "steps": steps, **time_policy(c, state, args.batch, min_s)}
        log(f"{sampler} {steps} steps: {r['ms_per_call']:.3f} ms per call of {args.batch} episodes")
        out["sampling"].append(r)
    data = to_device(collect_flat(20 if args.quick else 200, 101 if args.quick else 1001))
    figures, _ = time_train_chunk(beso, config, data, 10 if args.quick else 100, 2 if args.quick else 5, min_s, 0)
    out["train"] = {"batch_size": config.batch_size, "steps_per_s": round(figures["steps_per_s"], 2),
                    "finite": figures["finite"]}
    log(f"training: {out['train']['steps_per_s']} steps/s at batch {config.batch_size}")
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(args.out, json.dumps(out, indent=2) + "\n")
    log(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
