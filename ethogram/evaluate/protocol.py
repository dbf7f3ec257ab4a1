"""OGBench's evaluation protocol (impls/utils/evaluation.py), with every episode of every task run as one batch.

Protocol: the maze's 5 fixed tasks, N episodes each, start and goal positions with uniform noise of +-1,
deterministic actions clipped to [-1, 1], 1000-step episodes that end when the agent is within the success radius
of the goal. Score = success rate averaged over the tasks. Written against the environment contract
(envs/base.py): the policy sees `observe(state)`, success is judged on `positions(state)`.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
from tqdm import tqdm

from ethogram.errors import EthogramError
from ethogram.evaluate import metrics

if TYPE_CHECKING:  # the protocol itself needs no JAX (a rollout video's renderer process imports it)
    from ethogram.agents.base import Policy


@dataclass
class Rollouts:
    task_ids: np.ndarray  # (B,) 1-based
    positions: np.ndarray  # (B, T + 1, 2); frozen after the episode ends
    goals: np.ndarray  # (B, 2)
    success: np.ndarray  # (B,) bool
    length: np.ndarray  # (B,) steps taken


ROLLOUT_KEYS = ("task_ids", "positions", "goals", "success", "length")


def save_rollouts(ro: Rollouts, path) -> None:
    """Rollouts as an .npz (positions float32) beside the evaluation that made them, so that a report can draw or
    replay them (report/video.py) without evaluating again."""
    import io

    from ethogram.io import atomic_write_bytes

    buf = io.BytesIO()
    np.savez_compressed(buf, task_ids=ro.task_ids.astype(np.int32), positions=ro.positions.astype(np.float32),
                        goals=ro.goals.astype(np.float32), success=ro.success.astype(bool),
                        length=ro.length.astype(np.int32))
    atomic_write_bytes(path, buf.getvalue())


def load_rollouts(path) -> Rollouts:
    """Rollouts written by `save_rollouts`, read through the hardened npz reader (never unpickles)."""
    from ethogram.io import read_npz_arrays

    a, _ = read_npz_arrays(path, "rollouts file", "evaluate the run again (ethogram eval RUN_DIR)", keys=ROLLOUT_KEYS)
    missing = [k for k in ROLLOUT_KEYS if k not in a]
    b = len(a.get("task_ids", ()))
    if missing or a["positions"].ndim != 3 or a["positions"].shape[0] != b or a["positions"].shape[2] != 2 or any(
            len(a[k]) != b for k in ("goals", "success", "length")):
        raise EthogramError(f"'{path}' is not a rollouts file of ethogram (arrays {', '.join(ROLLOUT_KEYS)} of one "
                            "batch).", "evaluate the run again: ethogram eval RUN_DIR")
    length = np.clip(a["length"].astype(int), 0, a["positions"].shape[1] - 1)
    return Rollouts(a["task_ids"].astype(int), a["positions"].astype(np.float64), a["goals"].astype(np.float64),
                    a["success"].astype(bool), length)


def check_episodes(episodes, seed: int = 0, tasks: int = 5, steps: int = 1000) -> None:
    """Episodes per task a positive integer whose rollouts fit in memory (positions of every step, float64,
    with the policy's batch), and a 32-bit seed."""
    from ethogram.config import MAX_SEED
    from ethogram.io import check_memory

    if isinstance(episodes, bool) or not isinstance(episodes, (int, np.integer)) or episodes < 1:
        raise EthogramError(f"--episodes must be at least 1 (got {episodes!r}).")
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or not 0 <= seed <= MAX_SEED:
        raise EthogramError(f"--seed must be an integer in [0, 2**32 - 1] (got {seed!r}).")
    check_memory(int(episodes) * tasks * (steps + 1) * 2 * 8 * 2, f"{episodes} episodes per task",
                 "evaluate fewer episodes (OGBench: 50)")


def run_episodes(env, policy: Policy, task_ids: np.ndarray, seed: int, max_steps: int | None = None,
                 progress: bool = False) -> Rollouts:
    """Run one episode per entry of `task_ids`, all at once; finished episodes stop stepping."""
    rng = np.random.default_rng(seed)
    max_steps = max_steps or env.episode_steps
    state, goal = env.task_starts(task_ids, rng)
    goal_obs = env.goal_observation(goal)
    b = len(task_ids)
    positions = np.empty((b, max_steps + 1, 2))
    positions[:, 0] = env.positions(state)
    done = np.zeros(b, dtype=bool)
    success = np.zeros(b, dtype=bool)
    length = np.full(b, max_steps)
    bar = tqdm(total=max_steps, desc="evaluate", unit="step", disable=not progress, mininterval=1.0)
    for t in range(max_steps):
        actions = np.clip(np.asarray(policy(env.observe(state), goal_obs), dtype=np.float64), -1.0, 1.0)
        active = ~done
        state = state.copy()
        state[active] = env.step(state[active], actions[active], rng)
        positions[:, t + 1] = env.positions(state)
        reached = active & env.success(state, goal)
        success |= reached
        length[reached] = t + 1
        done |= reached
        bar.update(1)
        if done.all():
            positions[:, t + 2:] = positions[:, t + 1, None]
            break
    bar.close()
    return Rollouts(task_ids, positions, goal, success, length)


def evaluate(env, policy: Policy, episodes: int, seed: int = 0, tasks: list[int] | None = None,
             progress: bool = False) -> tuple[dict, Rollouts]:
    """Success per task and overall, as OGBench reports it; `metrics` holds every metric of the evaluation."""
    tasks = tasks or list(range(1, len(env.tasks) + 1))
    check_episodes(episodes, seed, len(tasks), env.episode_steps)
    task_ids = np.repeat(np.asarray(tasks), episodes)
    start = time.perf_counter()
    ro = run_episodes(env, policy, task_ids, seed, progress=progress)
    per_task = metrics.success_per_task(ro.task_ids, ro.success, tasks)
    success = metrics.success(per_task)
    result = {
        "success": success,
        "tasks": per_task,
        "metrics": {"success": success},
        "episodes_per_task": episodes,
        "eval_seed": seed,  # the episodes' start noise and dynamics noise, not the training seed
        "mean_episode_length": float(ro.length.mean()),
        "seconds": round(time.perf_counter() - start, 3),
    }
    behaviours = getattr(env, "behaviours", None)  # optional in the environment contract (envs/base.py)
    if behaviours is not None:
        div, counts = metrics.diversity(behaviours(ro.positions), ro.success, env.n_behaviours)
        result["metrics"].update(diversity=div, score=metrics.d3il_score(success, div))
        result["behaviour_counts"] = counts
    return result, ro


def periodic_seed(seed: int, step: int) -> int:
    """The episode seed of a periodic evaluation at training step `step` of a run with seed `seed`: fresh episodes
    at every evaluation (as OGBench's evaluations draw), the same ones on every rerun of the run."""
    return int(np.random.SeedSequence([int(seed), int(step)]).generate_state(1)[0])


def random_policy(action_dim: int, seed: int = 0) -> Policy:
    rng = np.random.default_rng(seed)
    return lambda obs, goals: rng.uniform(-1.0, 1.0, size=(obs.shape[0], action_dim))


def rollout(env, policy: Policy, xy0: np.ndarray, steps: int, seed: int, goals: np.ndarray | None = None,
            progress: bool = False, desc: str = "rollout") -> np.ndarray:
    """Positions (B, steps + 1, 2) of fixed-length episodes from `xy0` (no early end: for returns and imitation)."""
    rng = np.random.default_rng(seed)
    state = env.reset(np.asarray(xy0, dtype=np.float64))
    positions = np.empty((len(state), steps + 1, 2))
    positions[:, 0] = env.positions(state)
    for t in tqdm(range(steps), desc=desc, unit="step", disable=not progress, mininterval=1.0):
        obs = env.observe(state)
        actions = np.clip(np.asarray(policy(obs, obs if goals is None else goals), dtype=np.float64), -1.0, 1.0)
        state = env.step(state, actions, rng)
        positions[:, t + 1] = env.positions(state)
    return positions
