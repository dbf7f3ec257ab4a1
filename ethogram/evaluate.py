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
        "success": round(float(np.mean(list(per_task.values()))), 6),  # 0.388, not 0.38799999999999996
        "tasks": per_task,
        "episodes_per_task": episodes,
        "eval_seed": seed,  # the episodes' start noise and dynamics noise, not the training seed
        "mean_episode_length": float(ro.length.mean()),
        "seconds": round(time.perf_counter() - start, 3),
    }
    return result, ro


def random_policy(action_dim: int, seed: int = 0) -> Policy:
    rng = np.random.default_rng(seed)
    return lambda obs, goals: rng.uniform(-1.0, 1.0, size=(obs.shape[0], action_dim))


def rollout(env, policy: Policy, xy0: np.ndarray, steps: int, seed: int, goals: np.ndarray | None = None,
            progress: bool = False, desc: str = "rollout") -> np.ndarray:
    """Positions (B, steps + 1, 2) of fixed-length episodes from `xy0` (no early end: for returns and imitation)."""
    rng = np.random.default_rng(seed)
    xy = np.asarray(xy0, dtype=np.float64)
    positions = np.empty((len(xy), steps + 1, 2))
    positions[:, 0] = xy
    for t in tqdm(range(steps), desc=desc, unit="step", disable=not progress, mininterval=1.0):
        obs = xy.astype(np.float32)
        actions = np.clip(np.asarray(policy(obs, obs if goals is None else goals), dtype=np.float64), -1.0, 1.0)
        xy, _ = env.step(xy, actions, rng)
        positions[:, t + 1] = xy
    return positions


def episode_returns(task, positions: np.ndarray) -> np.ndarray:
    """Undiscounted return of each episode under a reward task's r(s, s')."""
    b, t1, d = positions.shape
    r = task.reward(positions[:, :-1].reshape(-1, d), positions[:, 1:].reshape(-1, d))
    return np.asarray(r, dtype=np.float64).reshape(b, t1 - 1).sum(axis=1)


def evaluate_reward(env, policies: dict[str, Policy], task, episodes: int, seed: int = 0,
                    progress: bool = False) -> tuple[dict, dict[str, np.ndarray]]:
    """Returns of each policy (e.g. the agent, random, the scripted reference) on one reward task, same starts."""
    from ethogram.envs.tasks import reward_starts

    starts = reward_starts(env, episodes, seed)
    out, paths = {"task": task.name, "description": task.description, "horizon": task.horizon,
                  "episodes": episodes, "eval_seed": seed}, {}
    for name, policy in policies.items():
        paths[name] = rollout(env, policy, starts, task.horizon, seed, progress=progress, desc=f"{task.name} {name}")
        ret = episode_returns(task, paths[name])
        out[name] = {"return_mean": float(ret.mean()), "return_std": float(ret.std())}
    return out, paths


def evaluate_demo(env, policy: Policy, demo, episodes: int, seed: int = 0,
                  progress: bool = False) -> tuple[dict, np.ndarray]:
    """Imitation fidelity of `policy` to a demonstration: starts near its first state, twice its length."""
    from ethogram.envs.tasks import imitation_metrics

    rng = np.random.default_rng(seed)
    starts = env.add_noise(np.repeat(demo.observations[:1, :2].astype(np.float64), episodes, axis=0), rng)
    paths = rollout(env, policy, starts, 2 * len(demo.observations), seed, progress=progress, desc=demo.name)
    per = [imitation_metrics(env.maze, demo.observations, p) for p in paths]
    res = {"task": demo.name, "cells": [list(c) for c in demo.cells], "demo_steps": len(demo.observations),
           "episodes": episodes, "eval_seed": seed}
    for k in per[0]:
        v = np.array([m[k] for m in per])
        res[k] = {"mean": float(v.mean()), "std": float(v.std())}
    return res, paths
