"""What the benchmark scripts share: the machine's description, sized agent configurations, agent construction
across ethogram's API versions, the benchmark dataset, and timing of ethogram's fused training chunk."""

from __future__ import annotations

import dataclasses
import inspect
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

import jax
import numpy as np

from ethogram.agents import dataset_overrides
from ethogram.data.collect import CollectConfig, collect
from ethogram.data.dataset import Dataset, to_transitions, validate_arrays
from ethogram.envs.registry import parse_dataset_name
from ethogram.train import make_train_chunk

try:
    from ethogram.agents.base import make_policy
except ImportError:  # ethogram before make_policy moved to the agent contract
    from ethogram.train import make_policy

__all__ = ["REPO", "DATASET", "make_policy", "machine_info", "sized_config", "init_agent", "published_overrides",
           "collect_flat", "to_device", "timed_calls", "time_train_chunk", "log"]

REPO = Path(__file__).resolve().parents[1]
DATASET = "pointmaze-medium-navigate"  # the data every speed benchmark trains on (our collector)
ROBOT_NAMES = {"point": "pointmaze", "ant": "antmaze"}  # dataset_overrides' robot -> its older `loco` names


def log(msg: str) -> None:
    print(msg, flush=True)


# ------------------------------------------------------------------------------------------------ the machine

def cpu_description() -> dict:
    """The CPU's model name and the vector extensions XLA's CPU backend uses (Linux: /proc/cpuinfo)."""
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return {"cpu_model": platform.processor() or None, "cpu_flags": None}
    model, flags = None, set()
    for line in text.splitlines():
        key, _, value = line.partition(":")
        if key.strip() == "model name" and model is None:
            model = value.strip()
        elif key.strip() == "flags" and not flags:
            flags = set(value.split())
    return {"cpu_model": model,
            "cpu_flags": {f: f in flags for f in ("avx2", "fma", "avx512f", "avx512_bf16", "amx_bf16")}}


def machine_info() -> dict:
    """Everything that says where and with what a benchmark ran (recorded in every JSON it writes)."""
    try:
        commit = subprocess.run(["git", "-C", str(REPO), "rev-parse", "HEAD"], capture_output=True, text=True,
                                timeout=10).stdout.strip() or None
        dirty = bool(subprocess.run(["git", "-C", str(REPO), "status", "--porcelain", "--untracked-files=no"],
                                    capture_output=True, text=True, timeout=10).stdout.strip())
    except (OSError, subprocess.SubprocessError):
        commit, dirty = None, None
    import jaxlib
    import mujoco

    from ethogram import __version__

    return {
        "cpu_count": os.cpu_count(),
        "cpu_affinity": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None,
        **cpu_description(),
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
        "xla_flags": os.environ.get("XLA_FLAGS", ""),
    }


# ------------------------------------------------------------------------------------------------ agents

def sized_config(agent, hidden: tuple[int, ...], batch_size: int, **values):
    """The agent's default configuration with every MLP at `hidden`, batch `batch_size`, and `values`."""
    config = agent.Config()
    fields = {f.name for f in dataclasses.fields(config)}
    sized = {"batch_size": batch_size, "actor_hidden_dims": tuple(hidden)}
    if "value_hidden_dims" in fields:
        sized["value_hidden_dims"] = tuple(hidden)
    return dataclasses.replace(config, **sized, **values)


def _takes_spec(init) -> bool:
    """Whether an agent's init is init(key, spec, config) rather than init(key, obs_dim, action_dim, config)."""
    try:
        params = inspect.signature(init).parameters
    except (TypeError, ValueError):
        return False
    positional = [p for p in params.values() if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    return "spec" in params or len(positional) == 3


def init_agent(agent, key: jax.Array, obs_dim: int, action_dim: int, config) -> dict:
    """A fresh state: `agent.init(key, Spec(obs_dim, action_dim), config)` where the agent takes a Spec, else the
    older `agent.init(key, obs_dim, action_dim, config)`."""
    try:
        from ethogram.agents.base import Spec
    except ImportError:
        Spec = None  # noqa: N806 - the class, when ethogram has it
    if Spec is not None and _takes_spec(agent.init):
        return agent.init(key, Spec(obs_dim, action_dim), config)
    return agent.init(key, obs_dim, action_dim, config)


def published_overrides(agent: str, kind: str, maze: str, robot: str = "point") -> dict:
    """ethogram's published per-dataset settings (hyperparameters.sh) for `robot` ("point" or "ant"), through
    `dataset_overrides(agent, kind, maze, robot)`, or its older form whose fourth argument is "pointmaze"/"antmaze"."""
    if "robot" not in inspect.signature(dataset_overrides).parameters:
        robot = ROBOT_NAMES.get(robot, robot)
    return dataset_overrides(agent, kind, maze, robot)


# ------------------------------------------------------------------------------------------------ data

def collect_flat(episodes: int, episode_steps: int, seed: int = 0, dataset: str = DATASET) -> dict[str, np.ndarray]:
    """Stored-state arrays (N, ...) in the OGBench file layout, collected with our collector."""
    arrays = collect(parse_dataset_name(dataset), CollectConfig(episodes=episodes, episode_steps=episode_steps,
                                                                seed=seed, val_fraction=0.0), progress=False)
    flat = {k: np.ascontiguousarray(v.reshape((-1,) + v.shape[2:])) for k, v in arrays.items()}
    validate_arrays(flat, dataset, 2, 2)
    return flat


def to_device(flat: dict[str, np.ndarray]) -> Dataset:
    return Dataset(**{k: jax.numpy.asarray(v) for k, v in to_transitions(flat).items()})


# ------------------------------------------------------------------------------------------------ timing

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


def time_train_chunk(agent, config, data: Dataset, steps_per_chunk: int, min_chunks: int, min_s: float,
                     seed: int) -> tuple[dict, dict]:
    """Steps/s of ethogram's fused chunk (`make_train_chunk`: `steps_per_chunk` updates in one jitted call, batches
    sampled on the device). One chunk runs first (compile + one chunk, `first_call_s`), then chunks are timed one by
    one until `min_chunks` and `min_s` are both reached. Returns (figures, the last state)."""
    key = jax.random.PRNGKey(seed)
    state = init_agent(agent, jax.random.fold_in(key, 0), data.observations.shape[-1], data.actions.shape[-1],
                       config)
    chunk = make_train_chunk(agent, config, steps_per_chunk)
    t = time.perf_counter()
    state, metrics = jax.block_until_ready(chunk(state, data, jax.random.fold_in(key, 1)))
    first_call_s = time.perf_counter() - t
    holder = {"state": state, "metrics": metrics, "i": 2}

    def call():
        holder["state"], holder["metrics"] = chunk(holder["state"], data, jax.random.fold_in(key, holder["i"]))
        holder["i"] += 1
        return holder["state"], holder["metrics"]

    chunks, total, times = timed_calls(call, min_chunks, min_s)
    return {"steps_per_s": steps_per_chunk * chunks / total, "chunks_timed": chunks,
            "seconds_per_chunk": total / chunks, "seconds_per_chunk_min": min(times), "first_call_s": first_call_s,
            "finite": bool(jax.device_get(holder["metrics"]["finite"]))}, holder["state"]
