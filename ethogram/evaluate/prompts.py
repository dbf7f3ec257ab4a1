"""Evaluations of prompts other than goals: returns of reward prompts, fidelity to demonstrations.

Both run fixed-length episodes (evaluate/protocol.py `rollout`) and score them with evaluate/metrics.py; every
policy of a comparison (the agent, a random policy, a scripted reference) starts from the same states.
"""

from __future__ import annotations

import numpy as np

from ethogram.agents.base import Policy
from ethogram.envs.tasks import reward_starts
from ethogram.evaluate import metrics
from ethogram.evaluate.protocol import rollout


def evaluate_reward(env, policies: dict[str, Policy], task, episodes: int, seed: int = 0,
                    progress: bool = False) -> tuple[dict, dict[str, np.ndarray]]:
    """Returns of each policy (e.g. the agent, random, the scripted reference) on one reward task, same starts."""
    starts = reward_starts(env, episodes, seed)
    out, paths = {"task": task.name, "description": task.description, "horizon": task.horizon,
                  "episodes": episodes, "eval_seed": seed, "metric": "return"}, {}
    for name, policy in policies.items():
        paths[name] = rollout(env, policy, starts, task.horizon, seed, progress=progress, desc=f"{task.name} {name}")
        ret = metrics.episode_returns(task, paths[name])
        out[name] = {"return_mean": float(ret.mean()), "return_std": float(ret.std())}
    return out, paths


def evaluate_imitation(env, policy: Policy, demo, episodes: int, seed: int = 0,
                       progress: bool = False) -> tuple[dict, np.ndarray]:
    """Imitation fidelity of `policy` to a demonstration: starts near its first state, twice its length."""
    rng = np.random.default_rng(seed)
    demo_xy = np.asarray(env.obs_positions(demo.observations), dtype=np.float64)
    starts = env.add_noise(np.repeat(demo_xy[:1], episodes, axis=0), rng)
    paths = rollout(env, policy, starts, 2 * len(demo.observations), seed, progress=progress, desc=demo.name)
    per = [metrics.imitation(env.maze, demo_xy, p) for p in paths]
    res = {"task": demo.name, "cells": [list(c) for c in demo.cells], "demo_steps": len(demo.observations),
           "episodes": episodes, "eval_seed": seed, "metric": "cells_in_order"}
    for k in per[0]:
        v = np.array([m[k] for m in per])
        res[k] = {"mean": float(v.mean()), "std": float(v.std())}
    return res, paths
