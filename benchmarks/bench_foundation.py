"""Foundation benchmark: how fast ethogram trains, collects and evaluates on this machine.

Measures (see benchmarks/README.md):
  1. training steps/s of GCBC and GCIVL with the fused jitted chunk (ethogram.train.make_train_chunk),
     at the reference size (512x3 MLPs, batch 1024) and a small size (256x2, batch 256), plus the unfused
     variant (one jitted step per Python call) at the small size;
  2. dataset collection speed (env steps/s) for pointmaze-medium-navigate, and the projected time of the
     full 1M-transition dataset;
  3. the time of a full OGBench evaluation (5 tasks x 50 episodes x up to 1000 steps) of a GCIVL policy;
  4. optionally, the public OGBench reference implementation's update on the same data and sizes, run in
     the same invocation (in a subprocess, with an interpreter that has distrax and ml_collections).

Usage:
  .venv/bin/python benchmarks/bench_foundation.py                      # full run, several minutes
  .venv/bin/python benchmarks/bench_foundation.py --quick              # smoke test, < 60 s
  .venv/bin/python benchmarks/bench_foundation.py --ref-ogbench /tmp/ogbench_ref/impls \
      --ref-python /tmp/refvenv/bin/python                            # + the OGBench reference, same data
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import jax
import numpy as np

from ethogram import __version__
from ethogram.agents import get_agent
from ethogram.data.collect import CollectConfig, collect
from ethogram.data.dataset import Dataset, to_transitions, validate_arrays
from ethogram.envs.registry import make_env, parse_dataset_name
from ethogram.evaluate import evaluate
from ethogram.train import make_policy, make_train_chunk

REPO = Path(__file__).resolve().parents[1]
DATASET = "pointmaze-medium-navigate"
SIZES = {  # name -> (hidden dims of every MLP, batch size)
    "reference": ((512, 512, 512), 1024),
    "small": ((256, 256), 256),
}
# REFERENCE.md section 1: the OGBench reference code measured on this kind of machine (2 cores, JAX CPU).
REFERENCE_MD = {
    "train_steps_per_s": {"gcbc": 102.0, "gcivl": 13.2},  # 512x3, batch 1024
    "collect_env_steps_per_s": 10_000.0,  # "~10k env steps/s single process, ~2 min per full dataset"
    "collect_full_dataset_s": 120.0,
    "evaluate_s": (70.0, 85.0),  # per full evaluation
    "source": "/work/shared/REFERENCE.md section 1",
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


# ------------------------------------------------------------------------------------------------ helpers

def machine_info() -> dict:
    try:
        commit = subprocess.run(["git", "-C", str(REPO), "rev-parse", "HEAD"], capture_output=True, text=True,
                                timeout=10).stdout.strip() or None
        dirty = bool(subprocess.run(["git", "-C", str(REPO), "status", "--porcelain", "--untracked-files=no"],
                                    capture_output=True, text=True, timeout=10).stdout.strip())
    except (OSError, subprocess.SubprocessError):
        commit, dirty = None, None
    import jaxlib
    import mujoco

    return {
        "cpu_count": os.cpu_count(),
        "cpu_affinity": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None,
        "load_average_at_start": list(os.getloadavg()) if hasattr(os, "getloadavg") else None,
        "platform": platform.platform(),
        "processor": platform.processor() or platform.machine(),
        "python": sys.version.split()[0],
        "jax": jax.__version__,
        "jaxlib": jaxlib.__version__,
        "jax_backend": jax.default_backend(),
        "jax_devices": [str(d) for d in jax.devices()],
        "mujoco": mujoco.__version__,
        "ethogram": __version__,
        "git_commit": commit,
        "git_dirty": dirty,
    }


def agent_config(agent, hidden: tuple[int, ...], batch_size: int):
    config = agent.Config()
    fields = {f.name for f in dataclasses.fields(config)}
    values = {"batch_size": batch_size, "actor_hidden_dims": hidden}
    if "value_hidden_dims" in fields:
        values["value_hidden_dims"] = hidden
    return dataclasses.replace(config, **values)


def collect_flat(episodes: int, episode_steps: int, seed: int = 0) -> dict[str, np.ndarray]:
    """Stored-state arrays (N, ...) in the OGBench file layout, collected with our collector."""
    name = parse_dataset_name(DATASET)
    arrays = collect(name, CollectConfig(episodes=episodes, episode_steps=episode_steps, seed=seed,
                                         val_fraction=0.0), progress=False)
    flat = {k: np.ascontiguousarray(v.reshape((-1,) + v.shape[2:])) for k, v in arrays.items()}
    validate_arrays(flat, DATASET, 2, 2)
    return flat


def to_device(flat: dict[str, np.ndarray]) -> Dataset:
    return Dataset(**{k: jax.numpy.asarray(v) for k, v in to_transitions(flat).items()})


def timed_calls(call, min_calls: int, min_s: float, max_calls: int = 100_000) -> tuple[int, float, list[float]]:
    """Call `call()` (which returns something to block on) until min_calls and min_s are both reached.

    Each call is blocked on, so per-call times are exact; returns (calls, total seconds, per-call seconds).
    """
    times = []
    start = time.perf_counter()
    while len(times) < max_calls:
        t = time.perf_counter()
        jax.block_until_ready(call())
        times.append(time.perf_counter() - t)
        if len(times) >= min_calls and time.perf_counter() - start >= min_s:
            break
    return len(times), time.perf_counter() - start, times


def log(msg: str) -> None:
    print(msg, flush=True)


# ------------------------------------------------------------------------------------------------ 1. training

def bench_train_fused(agent, size: str, data: Dataset, mode: dict, seed: int) -> dict:
    hidden, batch_size = SIZES[size]
    config = agent_config(agent, hidden, batch_size)
    n = mode["fuse"]
    key = jax.random.PRNGKey(seed)
    state = agent.init(jax.random.fold_in(key, 0), 2, 2, config)
    chunk = make_train_chunk(agent, config, n)
    t = time.perf_counter()
    state, metrics = jax.block_until_ready(chunk(state, data, jax.random.fold_in(key, 1)))
    first_call_s = time.perf_counter() - t
    holder = {"state": state, "metrics": metrics, "i": 2}

    def call():
        holder["state"], holder["metrics"] = chunk(holder["state"], data, jax.random.fold_in(key, holder["i"]))
        holder["i"] += 1
        return holder["state"], holder["metrics"]

    chunks, total, times = timed_calls(call, mode["min_chunks"], mode["min_s"])
    finite = bool(jax.device_get(holder["metrics"]["finite"]))
    return {
        "what": "train_fused", "agent": agent.NAME, "size": size, "hidden_dims": list(hidden),
        "batch_size": batch_size, "steps_per_chunk": n, "chunks_timed": chunks,
        "steps_per_s": round(n * chunks / total, 3),
        "seconds_per_chunk": round(total / chunks, 5), "seconds_per_chunk_min": round(min(times), 5),
        "first_call_s": round(first_call_s, 3), "dataset_transitions": data.size, "finite": finite,
        "note": "compile excluded: one warm-up chunk (first_call_s = compile + one chunk) before timing",
    }


def bench_train_unfused(agent, size: str, data: Dataset, mode: dict, seed: int) -> dict:
    hidden, batch_size = SIZES[size]
    config = agent_config(agent, hidden, batch_size)
    key = jax.random.PRNGKey(seed)
    state = agent.init(jax.random.fold_in(key, 0), 2, 2, config)
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
    config = agent_config(agent, hidden, batch_size)
    env = make_env(DATASET)
    state = agent.init(jax.random.PRNGKey(seed), env.obs_dim, env.action_dim, config)
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

REF_SNIPPET = r'''
"""Time the public OGBench reference update (GCDataset.sample + Agent.update, as in impls/main.py)."""
import json, sys, time
args = json.loads(sys.argv[1])
sys.path.insert(0, args["impls"])
import numpy as np
import jax, flax
from agents.gcbc import GCBCAgent, get_config as gcbc_config
from agents.gcivl import GCIVLAgent, get_config as gcivl_config
from utils.datasets import Dataset, GCDataset

AGENTS = {"gcbc": (GCBCAgent, gcbc_config), "gcivl": (GCIVLAgent, gcivl_config)}
data = dict(np.load(args["dataset"]))
out = {"python": sys.version.split()[0], "executable": sys.executable, "jax": jax.__version__,
       "flax": flax.__version__, "jax_devices": [str(d) for d in jax.devices()], "records": []}
for job in args["jobs"]:
    cls, get_config = AGENTS[job["agent"]]
    cfg = get_config()
    cfg["batch_size"] = job["batch_size"]
    cfg["actor_hidden_dims"] = tuple(job["hidden_dims"])
    if "value_hidden_dims" in cfg:
        cfg["value_hidden_dims"] = tuple(job["hidden_dims"])
    np.random.seed(args["seed"])
    ds = GCDataset(Dataset.create(**{k: np.array(v) for k, v in data.items()}), cfg)
    ex = ds.sample(1)
    agent = cls.create(args["seed"], ex["observations"], ex["actions"], cfg)
    bs = cfg["batch_size"]
    t = time.perf_counter()
    for _ in range(2):
        agent, info = agent.update(ds.sample(bs))
    jax.block_until_ready((agent, info))
    warmup_s = time.perf_counter() - t
    group, steps, t = 10, 0, time.perf_counter()
    while True:
        for _ in range(group):
            batch = ds.sample(bs)
            agent, info = agent.update(batch)
        jax.block_until_ready((agent, info))
        steps += group
        total = time.perf_counter() - t
        if steps >= args["min_steps"] and total >= args["min_s"]:
            break
    t = time.perf_counter()
    for _ in range(20):
        ds.sample(bs)
    sample_s = (time.perf_counter() - t) / 20
    out["records"].append({**job, "steps_timed": steps, "steps_per_s": round(steps / total, 3),
                           "seconds_per_step": round(total / steps, 6), "sample_s_per_step": round(sample_s, 6),
                           "warmup_s": round(warmup_s, 3)})
with open(args["out"], "w") as f:
    json.dump(out, f)
'''


def find_ref_python(explicit: str | None) -> tuple[str | None, str]:
    """An interpreter with the reference's dependencies: --ref-python, this one, or /tmp/refvenv."""
    candidates = [explicit] if explicit else [sys.executable, "/tmp/refvenv/bin/python"]
    tried = []
    for py in candidates:
        if not py or not Path(py).exists():
            tried.append(f"{py}: not found")
            continue
        r = subprocess.run([py, "-c", "import jax, flax, optax, distrax, ml_collections"], capture_output=True,
                           text=True, timeout=300)
        if r.returncode == 0:
            return py, ""
        last = (r.stderr.strip().splitlines() or ["?"])[-1]
        tried.append(f"{py}: {last}")
    return None, "; ".join(tried)


def bench_reference(impls: Path, ref_python: str | None, flat: dict[str, np.ndarray], agents: list[str],
                    sizes: list[str], mode: dict, seed: int, timeout_s: int) -> dict:
    impls = impls.resolve()
    if not (impls / "agents" / "gcivl.py").exists() or not (impls / "utils" / "datasets.py").exists():
        return {"status": "skipped", "reason": f"{impls} is not OGBench's impls/ directory "
                                               "(no agents/gcivl.py, utils/datasets.py)"}
    py, why = find_ref_python(ref_python)
    if py is None:
        return {"status": "skipped", "reason": "no interpreter with jax, flax, optax, distrax and ml_collections "
                                               f"({why}); pass --ref-python"}
    tr = to_transitions(flat)
    n = len(tr["final_idx"])
    terminals = (tr["final_idx"] == np.arange(n)).astype(np.float32)  # ogbench.load_dataset's terminals
    jobs = [{"agent": a, "size": s, "hidden_dims": list(SIZES[s][0]), "batch_size": SIZES[s][1]}
            for a in agents for s in sizes]
    with tempfile.TemporaryDirectory(prefix="bench_ref_") as tmp:
        tmp = Path(tmp)
        np.savez(tmp / "dataset.npz", observations=tr["observations"], next_observations=tr["next_observations"],
                 actions=tr["actions"], terminals=terminals)
        (tmp / "ref_timing.py").write_text(REF_SNIPPET)
        args = {"impls": str(impls), "dataset": str(tmp / "dataset.npz"), "jobs": jobs, "seed": seed,
                "min_steps": mode["ref_min_steps"], "min_s": mode["ref_min_s"], "out": str(tmp / "out.json")}
        try:
            r = subprocess.run([py, str(tmp / "ref_timing.py"), json.dumps(args)], capture_output=True, text=True,
                               timeout=timeout_s, cwd=tmp)
        except subprocess.TimeoutExpired:
            return {"status": "failed", "python": py, "reason": f"timed out after {timeout_s} s"}
        if r.returncode != 0 or not (tmp / "out.json").exists():
            return {"status": "failed", "python": py, "reason": r.stderr.strip()[-2000:]}
        out = json.loads((tmp / "out.json").read_text())
    records = [{"what": "train_ogbench_reference", **rec,
                "note": "OGBench impls: GCDataset.sample (numpy) + Agent.update (jitted) per step from Python, "
                        "blocking every 10 steps"} for rec in out.pop("records")]
    return {"status": "ok", "impls": str(impls), **out, "records": records}


# ------------------------------------------------------------------------------------------------ report

def fmt_rate(x: float | None, unit: str) -> str:
    if x is None:
        return "-"
    return f"{x:,.1f} {unit}" if x < 1000 else f"{x:,.0f} {unit}"


def table(report: dict) -> str:
    rows = [("measurement", "ethogram", "REFERENCE.md §1", "ours/ref", "OGBench here", "ours/that")]
    res = report["results"]
    ref_recs = {(r["agent"], r["size"]): r for r in report.get("ogbench_reference", {}).get("records", [])}
    for r in res:
        if r["what"] in ("train_fused", "train_unfused"):
            dims = "x".join(map(str, r["hidden_dims"]))
            label = f"train {r['agent']} {dims} b{r['batch_size']} {r['what'].split('_')[1]}"
            doc = REFERENCE_MD["train_steps_per_s"].get(r["agent"]) if r["size"] == "reference" else None
            here = ref_recs.get((r["agent"], r["size"]))
            rows.append((label, fmt_rate(r["steps_per_s"], "steps/s"), fmt_rate(doc, "steps/s"),
                         f"{r['steps_per_s'] / doc:.2f}x" if doc else "-",
                         fmt_rate(here["steps_per_s"], "steps/s") if here else "-",
                         f"{r['steps_per_s'] / here['steps_per_s']:.2f}x" if here else "-"))
        elif r["what"] == "collect":
            doc = REFERENCE_MD["collect_env_steps_per_s"]
            rows.append((f"collect {r['episodes']}x{r['episode_steps']}", fmt_rate(r["env_steps_per_s"], "env st/s"),
                         fmt_rate(doc, "env st/s"), f"{r['env_steps_per_s'] / doc:.2f}x", "-", "-"))
            rows.append(("  projected full dataset (1.1M st)", f"{r['projected_full_dataset_s']:.1f} s",
                         f"~{REFERENCE_MD['collect_full_dataset_s']:.0f} s",
                         f"{REFERENCE_MD['collect_full_dataset_s'] / r['projected_full_dataset_s']:.2f}x faster",
                         "-", "-"))
        elif r["what"] == "evaluate":
            lo, hi = REFERENCE_MD["evaluate_s"]
            dims = "x".join(map(str, r["hidden_dims"]))
            proto = "full" if r["full_protocol"] else f"QUICK {r['episodes_per_task']}ep x{r['max_episode_steps']}"
            cmp = (f"{lo / r['seconds']:.0f}-{hi / r['seconds']:.0f}x faster" if r["full_protocol"] else "n/a")
            rows.append((f"evaluate gcivl {dims} ({proto})", f"{r['seconds']:.2f} s", f"{lo:.0f}-{hi:.0f} s", cmp,
                         "-", "-"))
    for r in res:
        if r["what"] == "train_unfused":
            fused = next((f for f in res if f["what"] == "train_fused" and f["agent"] == r["agent"]
                          and f["size"] == r["size"]), None)
            if fused:
                rows.append((f"  fusing speed-up {r['agent']} ({r['size']})",
                             f"{fused['steps_per_s'] / r['steps_per_s']:.1f}x", "-", "-", "-", "-"))
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
    p.add_argument("--ref-timeout", type=int, default=1800, help="seconds allowed for the reference subprocess")
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
        "reference_md": {**REFERENCE_MD, "evaluate_s": list(REFERENCE_MD["evaluate_s"])},
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
        ref = bench_reference(Path(args.ref_ogbench), args.ref_python, flat, [a.NAME for a in agents],
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
