"""Metrics: functions of rollouts (and their task) to numbers. Records name their metric end to end
(`"metrics": {name: value}` in every eval JSON; report/results.py keeps the name), so nothing downstream assumes
"success". A new metric is one function here and its line in METRICS.

  success          fraction of episodes that reach the goal, averaged over tasks (OGBench)
  return           undiscounted return of a reward task's r(s, s') over fixed-length episodes
  cells_in_order   imitation fidelity: the demonstration's cells visited in the same order (LCS / its length)
  mean_distance    imitation: mean distance from each demonstration state to the closest agent state
  final_distance   imitation: distance between the last agent and the last demonstration position
  diversity        D3IL's behaviour entropy over the successful rollouts, normalised by ln(number of behaviours)
  score            D3IL's 0.8 * success + 0.2 * diversity
Diversity and score are reported for any environment that defines behaviours (envs/base.py: `behaviours`).
"""

from __future__ import annotations

import numpy as np

METRICS = {
    "success": "fraction of episodes that reach the goal, mean over tasks (higher is better)",
    "return": "undiscounted return of the reward task (higher is better)",
    "cells_in_order": "demonstration cells visited in order, fraction (higher is better)",
    "mean_distance": "mean distance of the demonstration's states to the rollout (lower is better)",
    "final_distance": "distance between the final positions (lower is better)",
    "diversity": "behaviour entropy of the successful rollouts / ln(behaviours), in [0, 1] (higher is better)",
    "score": "0.8 * success + 0.2 * diversity, D3IL's score (higher is better)",
}


def success_per_task(task_ids: np.ndarray, success: np.ndarray, tasks: list[int]) -> dict[str, float]:
    return {f"task{k}": float(success[task_ids == k].mean()) for k in tasks}


def success(per_task: dict[str, float]) -> float:
    return round(float(np.mean(list(per_task.values()))), 6)  # 0.388, not 0.38799999999999996


def episode_returns(task, positions: np.ndarray) -> np.ndarray:
    """Undiscounted return of each episode under a reward task's r(s, s')."""
    b, t1, d = positions.shape
    r = task.reward(positions[:, :-1].reshape(-1, d), positions[:, 1:].reshape(-1, d))
    return np.asarray(r, dtype=np.float64).reshape(b, t1 - 1).sum(axis=1)


def cell_sequence(maze, xy: np.ndarray) -> list[tuple[int, int]]:
    """The cells a trajectory passes through, consecutive repeats removed."""
    cells = [tuple(int(v) for v in c) for c in maze.xy_to_ij(xy)]
    return [c for i, c in enumerate(cells) if i == 0 or c != cells[i - 1]]


def fraction_in_order(demo_cells: list, agent_cells: list) -> float:
    """Fraction of the demonstration's cell sequence that the agent visits in the same order: the longest common
    subsequence of the two cell sequences over the demonstration's length (a skipped cell costs one cell, not the
    rest of the route)."""
    prev = [0] * (len(agent_cells) + 1)
    for c in demo_cells:
        cur = [0]
        for j, a in enumerate(agent_cells):
            cur.append(prev[j] + 1 if c == a else max(prev[j + 1], cur[j]))
        prev = cur
    return prev[-1] / len(demo_cells)


def imitation(maze, demo: np.ndarray, agent: np.ndarray) -> dict:
    """Fidelity of one rollout to a demonstration, both as positions (T, 2): cells in order, distances."""
    d = np.linalg.norm(demo[:, None, :2] - agent[None, :, :2], axis=-1)
    return {
        "cells_in_order": fraction_in_order(cell_sequence(maze, demo[:, :2]), cell_sequence(maze, agent[:, :2])),
        "mean_distance": float(d.min(axis=1).mean()),  # each demo state to the closest agent state
        "final_distance": float(np.linalg.norm(agent[-1, :2] - demo[-1, :2])),
    }


def behaviour_entropy(counts: np.ndarray) -> float:
    """Normalised entropy -sum p ln p / ln(M) of behaviour counts (M = len(counts)); 0 when nothing counts."""
    counts = np.asarray(counts, dtype=np.float64)
    total = counts.sum()
    if total <= 0 or len(counts) < 2:
        return 0.0
    p = counts[counts > 0] / total
    return round(max(0.0, float(-(p * np.log(p)).sum() / np.log(len(counts)))), 6) + 0.0  # never -0.0


def diversity(behaviours: np.ndarray, success: np.ndarray, n_behaviours: int) -> tuple[float, list[int]]:
    """D3IL's diversity: the normalised entropy of the behaviours of the successful rollouts only, and the counts.
    (A policy that always fails has diversity 0.)"""
    b = np.asarray(behaviours)[np.asarray(success, dtype=bool)]
    counts = np.bincount(b[b >= 0], minlength=n_behaviours)[:n_behaviours]
    return behaviour_entropy(counts), [int(c) for c in counts]


def d3il_score(success_rate: float, div: float) -> float:
    return round(0.8 * float(success_rate) + 0.2 * float(div), 6)
