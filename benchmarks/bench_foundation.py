"""Foundation benchmark: how fast ethogram trains, collects and evaluates on this machine.

Measures (see benchmarks/README.md):
  1. training steps/s of GCBC and GCIVL with the fused jitted chunk (ethogram.train.make_train_chunk),
     at the reference size (512x3 MLPs, batch 1024) and a small size (256x2, batch 256), plus the unfused
     variant (one jitted step per Python call) at the small size;
  2. dataset collection speed (env steps/s) for pointmaze-medium-navigate, and the projected time of the
     full 1M-transition dataset;
  3. the time of a full OGBench evaluation (5 tasks x 50 episodes x up to 1000 steps) of a GCIVL policy;
  4. optionally, the public OGBench reference implementation's update on the same data and sizes, run in
     the same invocation (benchmarks/ogbench_reference.py: a subprocess with an interpreter that has distrax and
     ml_collections).

Usage (from the repository root):
  .venv/bin/python -m benchmarks.bench_foundation                      # full run, several minutes
  .venv/bin/python -m benchmarks.bench_foundation --quick              # smoke test, < 60 s
  .venv/bin/python -m benchmarks.bench_foundation --ref-ogbench /tmp/ogbench_ref/impls \
      --ref-python /tmp/refvenv/bin/python                            # + the OGBench reference, same data
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import sys
import tempfile
import time
from pathlib import Path

import jax
import numpy as np

from benchmarks import ogbench_reference
from benchmarks.common import (
    DATASET,
    REPO,
    collect_flat,
    init_agent,
    log,
    machine_info,
    make_policy,
    sized_config,
    time_train_chunk,
    timed_calls,
    to_device,
)
from ethogram.agents import get_agent
from ethogram.data.collect import CollectConfig, collect
from ethogram.data.dataset import Dataset
from ethogram.envs.registry import make_env, parse_dataset_name
from ethogram.evaluate import evaluate
from ethogram.train import make_train_chunk

SIZES = {  # name -> (hidden dims of every MLP, batch size)
    "reference": ((512, 512, 512), 1024),
    "small": ((256, 256), 256),
}
FULL_DATASET_STEPS = 1100 * 1001  # 1000 training + 100 validation episodes x 1001 stored states

# Settings per mode. min_s / min_chunks: time chunks until both are reached (after one warm-up chunk).
MODES = {
    "full": dict(train_episodes=100, train_episode_steps=1001, fuse=100, min_chunks=3, min_s=20.0,
                 unfused_min_steps=200, unfused_min_s=10.0, collect_episodes=300, collect_episode_steps=1001,
                 eval_episodes=50, eval_max_steps=None, ref_min_steps=50, ref_min_s=20.0),
    "quick": dict(train_episodes=10, train_episode_steps=201, fuse=2, min_chunks=2, min_s=0.3,
                  unfused_min_steps=10, unfused_min_s=0.3, collect_episodes=20, collect_episode_steps=201,
                  eval_episodes=2, eval_max_steps=100, ref_min_steps=10, ref_min_s=1.0),
}


# ------------------------------------------------------------------------------------------------ 1. training

def bench_train_fused(agent, size: str, data: Dataset, mode: dict, seed: int) -> dict:
    hidden, batch_size = SIZES[size]
    n = mode["fuse"]
    r, _ = time_train_chunk(agent, sized_config(agent, hidden, batch_size), data, n, mode["min_chunks"],
                            mode["min_s"], seed)
    return {
        "what": "train_fused", "agent": agent.NAME, "size": size, "hidden_dims": list(hidden),
        "batch_size": batch_size, "steps_per_chunk": n, "chunks_timed": r["chunks_timed"],
        "steps_per_s": round(r["steps_per_s"], 3),
        "seconds_per_chunk": round(r["seconds_per_chunk"], 5),
        "seconds_per_chunk_min": round(r["seconds_per_chunk_min"], 5),
        "first_call_s": round(r["first_call_s"], 3), "dataset_transitions": data.size, "finite": r["finite"],
        "note": "compile excluded: one warm-up chunk (first_call_s = compile + one chunk) before timing",
    }


def bench_train_unfused(agent, size: str, data: Dataset, mode: dict, seed: int) -> dict:
    hidden, batch_size = SIZES[size]
    config = sized_config(agent, hidden, batch_size)
    key = jax.random.PRNGKey(seed)
    state = init_agent(agent, jax.random.fold_in(key, 0), data.observations.shape[-1], data.actions.shape[-1],
                       config)
    step = make_train_chunk(agent, config, 1)
    t = time.perf_counter()
    state, _ = jax.block_until_ready(step(state, data, jax.random.fold_in(key, 1)))
    first_call_s = time.perf_counter() - t
    group = 10  # Python dispatches `group` single-step calls, then blocks once (async dispatch, like a loop)
    holder = {"state": state, "i": 2}

    def call():
        m = None
        for _ in range(group):
            holder["state"], m = step(holder["state"], data, jax.random.fold_in(key, holder["i"]))
            holder["i"] += 1
        return holder["state"], m

    calls, total, _ = timed_calls(call, max(1, mode["unfused_min_steps"] // group), mode["unfused_min_s"])
    steps = calls * group
    return {
        "what": "train_unfused", "agent": agent.NAME, "size": size, "hidden_dims": list(hidden),
        "batch_size": batch_size, "steps_per_chunk": 1, "steps_timed": steps,
        "steps_per_s": round(steps / total, 3), "seconds_per_step": round(total / steps, 6),
        "first_call_s": round(first_call_s, 3), "dataset_transitions": data.size,
        "note": "make_train_chunk(agent, config, 1) called once per step from Python, blocking every 10 calls",
    }


# ------------------------------------------------------------------------------------------------ 2. collection

def bench_collect(mode: dict) -> dict:
    make_env(DATASET)  # build (and cache) the MuJoCo model outside the timing
    episodes, steps = mode["collect_episodes"], mode["collect_episode_steps"]
    t = time.perf_counter()
    arrays = collect(parse_dataset_name(DATASET), CollectConfig(episodes=episodes, episode_steps=steps,
                                                                val_fraction=0.0), progress=False)
    seconds = time.perf_counter() - t
    env_steps = int(arrays["observations"].shape[0] * arrays["observations"].shape[1])
    rate = env_steps / seconds
    return {
        "what": "collect", "agent": None, "hidden_dims": None, "batch_size": None, "dataset": DATASET,
        "episodes": episodes, "episode_steps": steps, "env_steps": env_steps, "seconds": round(seconds, 3),
        "env_steps_per_s": round(rate, 1), "full_dataset_env_steps": FULL_DATASET_STEPS,
        "projected_full_dataset_s": round(FULL_DATASET_STEPS / rate, 2),
        "note": "all episodes step as one batch, so the full dataset (1100 episodes) may run at a higher rate "
                "than this smaller batch; the projection is rate-based",
    }


# ------------------------------------------------------------------------------------------------ 3. evaluation

class _ShortEpisodes:
    """The environment with a shorter episode cap (quick mode only); everything else is the real env."""

    def __init__(self, env, episode_steps: int):
        self._env = env
        self.episode_steps = episode_steps

    def __getattr__(self, name):
        return getattr(self._env, name)


def bench_evaluate(size: str, mode: dict, seed: int) -> dict:
    agent = get_agent("gcivl")
    hidden, batch_size = SIZES[size]
    config = sized_config(agent, hidden, batch_size)
    env = make_env(DATASET)
    state = init_agent(agent, jax.random.PRNGKey(seed), env.obs_dim, env.action_dim, config)
    policy = make_policy(agent, config, state)
    episodes = mode["eval_episodes"]
    n_episodes = episodes * len(env.tasks)
    t = time.perf_counter()  # compile the policy for the evaluation batch shape outside the timing
    policy(np.zeros((n_episodes, env.obs_dim), np.float32), np.zeros((n_episodes, env.obs_dim), np.float32))
    compile_s = time.perf_counter() - t
    eval_env = env if mode["eval_max_steps"] is None else _ShortEpisodes(env, mode["eval_max_steps"])
    t = time.perf_counter()
    res, ro = evaluate(eval_env, policy, episodes, seed=seed)
    seconds = time.perf_counter() - t
    max_steps = eval_env.episode_steps
    worst = bool((ro.length == max_steps).all())
    return {
        "what": "evaluate", "agent": agent.NAME, "size": size, "hidden_dims": list(hidden),
        "batch_size": batch_size, "seconds": round(seconds, 3), "tasks": len(env.tasks),
        "episodes_per_task": episodes, "max_episode_steps": max_steps, "full_protocol": mode["eval_max_steps"] is None,
        "mean_episode_length": res["mean_episode_length"], "success": res["success"],
        "env_steps": int(ro.length.sum()), "policy_compile_s": round(compile_s, 3), "worst_case": worst,
        "note": "freshly initialised (untrained) policy: it almost never reaches a goal, so every episode runs "
                "to the step cap - the worst case; a trained policy ends episodes early and evaluates faster. "
                "batch_size is the training config's, unused here; all episodes step as one batch",
    }


# ------------------------------------------------------------------------------------------------ 4. OGBench reference

def bench_reference(impls: str, ref_python: str | None, flat: dict[str, np.ndarray], agents: list[str],
                    sizes: list[str], mode: dict, seed: int, timeout_s: int) -> dict:
    """OGBench's update (`ogbench_reference.time_updates`) for each agent and size, on our data."""
    impls, py, why = ogbench_reference.resolve(impls, ref_python)
    if py is None:
        return {"status": "skipped", "reason": why}
    out = {"status": "ok", "impls": str(impls), "records": []}
    with tempfile.TemporaryDirectory(prefix="bench_ref_") as tmp:
        dataset = ogbench_reference.write_dataset(flat, Path(tmp) / "dataset.npz")
        for agent in agents:
            for size in sizes:
                hidden, batch_size = SIZES[size]
                r = ogbench_reference.time_updates(
                    impls=impls, python=py, dataset=dataset, agent=agent, hidden=hidden, batch_size=batch_size,
                    overrides=ogbench_reference.POINTMAZE_OVERRIDES.get(agent, {}), seed=seed,
                    min_steps=mode["ref_min_steps"], min_s=mode["ref_min_s"], group=10, timeout_s=timeout_s)
                if r["status"] != "ok":
                    return {"status": "failed", "python": py, "reason": r["reason"]}
                for k in ("python", "executable", "jax", "flax", "jax_devices"):
                    out.setdefault(k, r[k])
                out["records"].append({
                    "what": "train_ogbench_reference", "agent": agent, "size": size, "hidden_dims": list(hidden),
                    "batch_size": batch_size, **{k: r[k] for k in ("steps_timed", "steps_per_s", "seconds_per_step",
                                                                   "sample_s_per_step", "warmup_s", "flops_per_step",
                                                                   "finite")},
                    "note": "OGBench impls: GCDataset.sample (numpy) + Agent.update (jitted) per step from Python, "
                            "blocking every 10 steps"})
    return out


# ------------------------------------------------------------------------------------------------ report

def fmt_rate(x: float | None, unit: str) -> str:
    if x is None:
        return "-"
    return f"{x:,.1f} {unit}" if x < 1000 else f"{x:,.0f} {unit}"


def table(report: dict) -> str:
    rows = [("measurement", "ethogram", "OGBench, same run", "ours/theirs")]
    res = report["results"]
    ref_recs = {(r["agent"], r["size"]): r for r in report.get("ogbench_reference", {}).get("records", [])}
    for r in res:
        if r["what"] in ("train_fused", "train_unfused"):
            dims = "x".join(map(str, r["hidden_dims"]))
            label = f"train {r['agent']} {dims} b{r['batch_size']} {r['what'].split('_')[1]}"
            here = ref_recs.get((r["agent"], r["size"])) if r["what"] == "train_fused" else None
            rows.append((label, fmt_rate(r["steps_per_s"], "steps/s"),
                         fmt_rate(here["steps_per_s"], "steps/s") if here else "-",
                         f"{r['steps_per_s'] / here['steps_per_s']:.2f}x" if here else "-"))
        elif r["what"] == "collect":
            rows.append((f"collect {r['episodes']}x{r['episode_steps']}", fmt_rate(r["env_steps_per_s"], "env st/s"),
                         "-", "-"))
            rows.append(("  projected full dataset (1.1M st)", f"{r['projected_full_dataset_s']:.1f} s", "-", "-"))
        elif r["what"] == "evaluate":
            dims = "x".join(map(str, r["hidden_dims"]))
            proto = "full" if r["full_protocol"] else f"QUICK {r['episodes_per_task']}ep x{r['max_episode_steps']}"
            rows.append((f"evaluate gcivl {dims} ({proto})", f"{r['seconds']:.2f} s", "-", "-"))
    for r in res:
        if r["what"] == "train_unfused":
            fused = next((f for f in res if f["what"] == "train_fused" and f["agent"] == r["agent"]
                          and f["size"] == r["size"]), None)
            if fused:
                rows.append((f"  fusing speed-up {r['agent']} ({r['size']})",
                             f"{fused['steps_per_s'] / r['steps_per_s']:.1f}x", "-", "-"))
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    lines = ["  ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(row, widths, strict=True)))
             for row in rows]
    lines.insert(1, "-" * len(lines[0]))
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out", default=None,
                   help="JSON output (default benchmarks/results/foundation.json, or foundation-quick.json "
                        "with --quick)")
    p.add_argument("--quick", action="store_true", help="smoke mode: tiny dataset and timings, < 60 s")
    p.add_argument("--agents", default="gcbc,gcivl", help="comma-separated agents to time (default gcbc,gcivl)")
    p.add_argument("--ref-ogbench", default=None, metavar="DIR",
                   help="OGBench's impls/ directory: also time the reference update on the same data and sizes")
    p.add_argument("--ref-python", default=None, metavar="PY",
                   help="interpreter for the reference (needs jax, flax, optax, distrax, ml_collections); default: "
                        "this one if it has them, else /tmp/refvenv/bin/python")
    p.add_argument("--ref-timeout", type=int, default=1800,
                   help="seconds allowed for each reference subprocess (one per agent and size)")
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args(argv)

    mode_name = "quick" if args.quick else "full"
    mode = MODES[mode_name]
    out = Path(args.out or REPO / "benchmarks" / "results" /
               ("foundation-quick.json" if args.quick else "foundation.json"))
    agents = [get_agent(a.strip()) for a in args.agents.split(",") if a.strip()]
    if not agents:
        p.error("--agents names no agent")
    t_start = time.perf_counter()
    report = {
        "benchmark": "foundation",
        "mode": mode_name,
        "started": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        "machine": machine_info(),
        "settings": {**mode, "dataset": DATASET, "sizes": {k: {"hidden_dims": list(h), "batch_size": b}
                                                            for k, (h, b) in SIZES.items()},
                     "agents": [a.NAME for a in agents], "seed": args.seed},
        "results": [],
    }
    results = report["results"]
    log(f"ethogram foundation benchmark ({mode_name}); jax {jax.__version__} on {jax.devices()}, "
        f"{os.cpu_count()} cpus, load {report['machine']['load_average_at_start']}")

    # Dataset for training (our collector), on the device.
    t = time.perf_counter()
    flat = collect_flat(mode["train_episodes"], mode["train_episode_steps"], args.seed)
    data = to_device(flat)
    log(f"training dataset: {DATASET}, {mode['train_episodes']} episodes, {data.size} transitions "
        f"({time.perf_counter() - t:.1f} s)")

    # 1. training
    for agent in agents:
        for size in ("reference", "small"):
            r = bench_train_fused(agent, size, data, mode, args.seed)
            results.append(r)
            log(f"  train fused   {agent.NAME:5s} {size:9s}: {r['steps_per_s']:9.1f} steps/s "
                f"({r['seconds_per_chunk']:.3f} s per {r['steps_per_chunk']}-step chunk, first call "
                f"{r['first_call_s']:.1f} s)")
        r = bench_train_unfused(agent, "small", data, mode, args.seed)
        results.append(r)
        log(f"  train unfused {agent.NAME:5s} small    : {r['steps_per_s']:9.1f} steps/s")

    # 2. collection
    r = bench_collect(mode)
    results.append(r)
    log(f"  collect {r['episodes']}x{r['episode_steps']}: {r['env_steps_per_s']:,.0f} env steps/s, "
        f"projected full dataset {r['projected_full_dataset_s']:.1f} s")

    # 3. evaluation
    for size in ("reference", "small"):
        r = bench_evaluate(size, mode, args.seed)
        results.append(r)
        log(f"  evaluate gcivl {size:9s}: {r['seconds']:.2f} s ({r['tasks']}x{r['episodes_per_task']} episodes, "
            f"mean length {r['mean_episode_length']:.0f}, worst case {r['worst_case']})")

    # 4. the OGBench reference, same data and sizes
    if args.ref_ogbench:
        log(f"  OGBench reference from {args.ref_ogbench} ...")
        ref = bench_reference(args.ref_ogbench, args.ref_python, flat, [a.NAME for a in agents],
                              list(SIZES), mode, args.seed, args.ref_timeout)
        if ref["status"] == "ok":
            ours = {(r["agent"], r["size"]): r for r in results if r["what"] == "train_fused"}
            for rec in ref["records"]:
                mine = ours.get((rec["agent"], rec["size"]))
                if mine:
                    rec["ratio_ethogram_fused_over_reference"] = round(mine["steps_per_s"] / rec["steps_per_s"], 3)
                log(f"  reference {rec['agent']:5s} {rec['size']:9s}: {rec['steps_per_s']:9.1f} steps/s "
                    f"(ours/theirs {rec.get('ratio_ethogram_fused_over_reference', '-')}x)")
        else:
            log(f"  reference {ref['status']}: {ref['reason'][-500:]}")
        report["ogbench_reference"] = ref
    else:
        report["ogbench_reference"] = {"status": "not requested", "reason": "pass --ref-ogbench DIR"}

    report["total_seconds"] = round(time.perf_counter() - t_start, 2)
    report["load_average_at_end"] = list(os.getloadavg()) if hasattr(os, "getloadavg") else None
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=2) + "\n")
    log("")
    log(table(report))
    load = max((report["machine"]["load_average_at_start"] or [0])[0], (report["load_average_at_end"] or [0])[0])
    if load > 0.5 * (os.cpu_count() or 1):
        log(f"\nwarning: the machine was busy (1-min load average up to {load:.1f} on {os.cpu_count()} cpus); "
            "absolute rates are lower bounds - compare with the OGBench column, measured in the same run")
    if args.quick:
        log("\n(quick mode: tiny timings on a tiny dataset; compare full-mode numbers only)")
    log(f"\nwrote {out} ({report['total_seconds']:.1f} s in all)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
