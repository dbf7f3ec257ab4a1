"""OGBench's evaluation protocol, with every episode of every task run as one batch.

Protocol (REFERENCE §1): the maze's 5 fixed tasks, N episodes each, start and goal positions with
uniform noise of +-1, deterministic actions clipped to [-1, 1], 1000-step episodes that end when the
agent is within the success radius of the goal. Score = success rate averaged over the tasks.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from tqdm import tqdm

Policy = Callable[[np.ndarray, np.ndarray], np.ndarray]  # (obs (B, d), goals (B, d)) -> actions (B, a)


@dataclass
class Rollouts:
    task_ids: np.ndarray  # (B,) 1-based
    positions: np.ndarray  # (B, T + 1, 2); frozen after the episode ends
    goals: np.ndarray  # (B, 2)
    success: np.ndarray  # (B,) bool
    length: np.ndarray  # (B,) steps taken


def run_episodes(env, policy: Policy, task_ids: np.ndarray, seed: int, max_steps: int | None = None,
                 progress: bool = False) -> Rollouts:
    """Run one episode per entry of `task_ids`, all at once; finished episodes stop stepping."""
    rng = np.random.default_rng(seed)
    max_steps = max_steps or env.episode_steps
    xy, goal_xy = env.task_starts(task_ids, rng)
    goal_obs = env.goal_observation(goal_xy)
    b = len(task_ids)
    positions = np.empty((b, max_steps + 1, 2))
    positions[:, 0] = xy
    done = np.zeros(b, dtype=bool)
    success = np.zeros(b, dtype=bool)
    length = np.full(b, max_steps)
    bar = tqdm(total=max_steps, desc="evaluate", unit="step", disable=not progress, mininterval=1.0)
    for t in range(max_steps):
        actions = np.clip(np.asarray(policy(xy.astype(np.float32), goal_obs), dtype=np.float64), -1.0, 1.0)
        active = ~done
        nxt, _ = env.step(xy[active], actions[active], rng)
        xy = xy.copy()
        xy[active] = nxt
        positions[:, t + 1] = xy
        reached = active & env.success(xy, goal_xy)
        success |= reached
        length[reached] = t + 1
        done |= reached
        bar.update(1)
        if done.all():
            positions[:, t + 2:] = xy[:, None]
            break
    bar.close()
    return Rollouts(task_ids, positions, goal_xy, success, length)


def evaluate(env, policy: Policy, episodes: int, seed: int = 0, tasks: list[int] | None = None,
             progress: bool = False) -> tuple[dict, Rollouts]:
    """Success per task and overall, as OGBench reports it."""
    tasks = tasks or list(range(1, len(env.tasks) + 1))
    task_ids = np.repeat(np.asarray(tasks), episodes)
    start = time.perf_counter()
    ro = run_episodes(env, policy, task_ids, seed, progress=progress)
    per_task = {f"task{k}": float(ro.success[task_ids == k].mean()) for k in tasks}
    result = {
        "success": float(np.mean(list(per_task.values()))),
        "tasks": per_task,
        "episodes_per_task": episodes,
        "seed": seed,
        "mean_episode_length": float(ro.length.mean()),
        "seconds": round(time.perf_counter() - start, 3),
    }
    return result, ro


def random_policy(action_dim: int, seed: int = 0) -> Policy:
    rng = np.random.default_rng(seed)
    return lambda obs, goals: rng.uniform(-1.0, 1.0, size=(obs.shape[0], action_dim))
