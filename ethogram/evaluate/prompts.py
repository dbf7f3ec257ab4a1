"""Evaluations of prompts other than goals: returns of reward prompts, fidelity to demonstrations.

Both run fixed-length episodes (evaluate/protocol.py `rollout`) and score them with evaluate/metrics.py; every
policy of a comparison (the agent, a random policy, a scripted reference) starts from the same states.

A reward file (labelled transitions, `eval --prompt reward-file:PATH`) gives rewards only at its own transitions,
while a return needs r(s, s') at the rollouts' transitions. `LabelledReward` regresses the labels by k nearest
neighbours over maze positions: the next position (a reward of the place reached), the displacement (a progress
reward such as moving east) or both, whichever predicts held-out labels best. A k-NN regression assumes nothing
about the reward's form, and its held-out R^2 says how far to trust it: below MIN_R2 the prompt is answered (the
agent's latent is inferred and its rollouts drawn) but not scored, and the record says why instead of giving
numbers. Each policy's `coverage` is the fraction of its transitions that lie as close to a labelled one as
held-out labels do: a return estimated far from the labelled data is an extrapolation, and it says so.
"""

from __future__ import annotations

import numpy as np
from scipy.spatial import cKDTree

from ethogram.agents.base import Policy
from ethogram.envs.tasks import RewardMark, RewardTask, reward_starts
from ethogram.evaluate import metrics
from ethogram.evaluate.protocol import rollout

MIN_R2 = 0.5  # held-out R^2 below which a reward file's regression is not trusted to score returns
NEIGHBOURS = 8
HELD_OUT = 0.2  # of the labelled transitions (at most MAX_HELD_OUT) judge each feature set
MAX_HELD_OUT = 20_000
MIN_LABELLED = 10
REGRESSION_FEATURES = ("position", "displacement", "both")


class LabelledReward:
    """r(s, s') from labelled transitions, by k-nearest-neighbour regression over positions (module docstring).

    Called on positions (N, 2), (N, 2) like a reward task's reward (metrics.episode_returns). `fit` records the
    features chosen, the held-out R^2 of each, and whether the regression is good enough to score (`scored`)."""

    def __init__(self, xy: np.ndarray, next_xy: np.ndarray, rewards: np.ndarray, seed: int = 0):
        self.xy, self.next_xy = np.asarray(xy, np.float64), np.asarray(next_xy, np.float64)
        self.rewards = np.asarray(rewards, np.float64)
        step = self.next_xy - self.xy
        self.scale = {"position": _rms(self.next_xy - self.next_xy.mean(axis=0)), "displacement": _rms(step)}
        n = len(self.rewards)
        self.fit = {"method": f"{NEIGHBOURS}-nearest-neighbour regression of the labelled rewards over positions",
                    "labelled": n, "min_r2": MIN_R2}
        if n < MIN_LABELLED:
            self.fit.update(scored=False, why=f"{n} labelled transitions are too few to check a regression "
                                              f"(at least {MIN_LABELLED})")
            return
        order = np.random.default_rng(seed).permutation(n)
        n_test = min(max(1, int(HELD_OUT * n)), MAX_HELD_OUT)
        test, train = order[:n_test], order[n_test:]
        r2 = {}
        for name in REGRESSION_FEATURES:
            if name != "position" and self.scale["displacement"] == 0:
                continue  # no motion in the labels: displacement explains nothing
            f = self._features(name, self.xy, self.next_xy)
            tree = cKDTree(f[train])
            dist, pred = self._predict(tree, self.rewards[train], f[test])
            r2[name] = round(_r2(self.rewards[test], pred), 4)
        self.features = max(r2, key=lambda k: r2[k])
        f = self._features(self.features, self.xy, self.next_xy)
        dist, _ = self._predict(cKDTree(f[train]), self.rewards[train], f[test])
        self.radius = float(np.quantile(dist[:, 0], 0.95))  # how far a held-out label is from its neighbours
        self.tree = cKDTree(f)
        best = r2[self.features]
        self.fit.update(features=self.features, held_out_r2=best, r2_by_features=r2, scored=best >= MIN_R2)
        if best < MIN_R2:
            self.fit["why"] = (f"the labelled rewards are not a function of position or displacement that the "
                               f"regression recovers (held-out R^2 {best:.2f} < {MIN_R2})")

    @property
    def scored(self) -> bool:
        return bool(self.fit["scored"])

    def _features(self, name: str, xy: np.ndarray, next_xy: np.ndarray) -> np.ndarray:
        xy, next_xy = np.asarray(xy, np.float64)[:, :2], np.asarray(next_xy, np.float64)[:, :2]
        pos = next_xy / max(self.scale["position"], 1e-12)
        step = (next_xy - xy) / max(self.scale["displacement"], 1e-12)
        return {"position": pos, "displacement": step, "both": np.concatenate([pos, step], axis=1)}[name]

    def _predict(self, tree, rewards: np.ndarray, f: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        k = min(NEIGHBOURS, tree.n)
        dist, idx = tree.query(f, k=k)
        dist, idx = dist.reshape(len(f), k), idx.reshape(len(f), k)
        return dist, rewards[idx].mean(axis=1)

    def __call__(self, xy: np.ndarray, next_xy: np.ndarray) -> np.ndarray:
        _, pred = self._predict(self.tree, self.rewards, self._features(self.features, xy, next_xy))
        return pred.astype(np.float32)

    def coverage(self, paths: np.ndarray) -> float:
        """Fraction of the transitions of rollouts (B, T, 2) within the labelled data's reach (`radius`)."""
        d = paths.shape[-1]
        f = self._features(self.features, paths[:, :-1].reshape(-1, d), paths[:, 1:].reshape(-1, d))
        dist, _ = self.tree.query(f, k=1)
        return round(float(np.mean(dist <= self.radius)), 4)

    def mark(self) -> RewardMark:
        """What the labels reward, for the picture: the direction of a progress reward (a linear fit of the
        rewards on the displacement), else where the labelled rewards are highest (the top 5 %)."""
        if getattr(self, "features", "position") == "displacement":
            step = self.next_xy - self.xy
            w, *_ = np.linalg.lstsq(np.c_[step, np.ones(len(step))], self.rewards, rcond=None)
            norm = np.linalg.norm(w[:2])
            if norm > 0:
                return RewardMark("direction", w[:2] / norm, "rewarded direction (fit to the labels)")
        top = np.argsort(self.rewards)[-max(1, min(300, len(self.rewards) // 20)):]
        return RewardMark("points", self.next_xy[top, :2], "highest labelled rewards (top 5 %)")


def _rms(x: np.ndarray) -> float:
    return float(np.sqrt(np.mean(np.square(x)))) if x.size else 0.0


def _r2(y: np.ndarray, pred: np.ndarray) -> float:
    """Coefficient of determination; a constant reward predicted exactly counts as explained."""
    sse, sst = float(np.sum((y - pred) ** 2)), float(np.sum((y - y.mean()) ** 2))
    if sst == 0:
        return 1.0 if sse == 0 else 0.0
    return 1.0 - sse / sst


def file_reward_task(env, path: str, observations, next_observations, rewards, seed: int = 0) -> RewardTask:
    """The reward task of a reward file: its labels regressed over positions (LabelledReward), named by the file."""
    from pathlib import Path

    reward = LabelledReward(env.obs_positions(np.asarray(observations)),
                            env.obs_positions(np.asarray(next_observations)), rewards, seed)
    return RewardTask(Path(path).name, f"labelled transitions from {path}", reward, None, mark=reward.mark())


def evaluate_reward(env, policies: dict[str, Policy], task, episodes: int, seed: int = 0,
                    progress: bool = False) -> tuple[dict, dict[str, np.ndarray]]:
    """Returns of each policy (e.g. the agent, random, the scripted reference) on one reward task, same starts.

    A reward file's task (LabelledReward) adds how it was scored (`scoring`: the regression's fit and each policy's
    coverage); one whose regression is not trusted (`scored` false) gets rollouts but no returns."""
    starts = reward_starts(env, episodes, seed)
    out, paths = {"task": task.name, "description": task.description, "horizon": task.horizon,
                  "episodes": episodes, "eval_seed": seed, "metric": "return"}, {}
    labelled = task.reward if isinstance(task.reward, LabelledReward) else None
    scored = labelled is None or labelled.scored
    for name, policy in policies.items():
        paths[name] = rollout(env, policy, starts, task.horizon, seed, progress=progress, desc=f"{task.name} {name}")
        if scored:
            ret = metrics.episode_returns(task, paths[name])
            out[name] = {"return_mean": float(ret.mean()), "return_std": float(ret.std())}
    if labelled is not None:
        out["scored"] = scored
        out["scoring"] = {**labelled.fit, **({"coverage": {name: labelled.coverage(np.asarray(p))
                                                           for name, p in paths.items()}} if scored else {})}
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
