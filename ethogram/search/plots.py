"""The cognitive graph drawn over the maze: edges shaded by Hebbian weight, nodes by what they are."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from matplotlib.collections import LineCollection  # noqa: E402

from ethogram.report.plots import TASK_COLOURS, draw_maze, save_png  # noqa: E402


def plot_graph(env, g, path: str | Path, title: str = "", rollouts=None, max_edges: int = 20000) -> None:
    """Maze walls; edges (grey, darker = stronger weight; red = depressed below 0.1); visited nodes (black) and
    candidate places (hollow); optionally one successful and one failed rollout per task."""
    maze = env.maze
    h, w = maze.shape
    fig, ax = plt.subplots(figsize=(0.6 * w + 1.5, 0.6 * h + 1.0), dpi=110)
    draw_maze(ax, maze)
    ids = np.arange(g.m)
    if len(ids) > max_edges:
        ids = np.sort(np.random.default_rng(0).choice(len(ids), max_edges, replace=False))
    e = g.edges()[ids]
    if len(e):
        wts = g.weight[ids]
        seg = np.stack([g.obs[e[:, 0], :2], g.obs[e[:, 1], :2]], axis=1)
        weak = wts < 0.1
        ax.add_collection(LineCollection(seg[~weak], colors=[(0.2, 0.2, 0.2, 0.1 + 0.5 * float(x)) for x in wts[~weak]],
                                         linewidths=0.5))
        ax.add_collection(LineCollection(seg[weak], colors=(0.85, 0.1, 0.1, 0.35), linewidths=0.5))
    n = g.n
    vis = g.visited[:n]
    dead = g.dead[:n]
    vis_only = vis & ~dead
    ax.plot(g.obs[:n][vis_only, 0], g.obs[:n][vis_only, 1], ".", color="black", ms=2.5,
            label=f"nodes ({vis_only.sum()})")
    cand = ~vis & ~dead
    if cand.any():
        ax.plot(g.obs[:n][cand, 0], g.obs[:n][cand, 1], "o", mfc="none", mec="#777777", ms=3,
                label=f"candidate places ({cand.sum()})")
    if dead.any():
        ax.plot(g.obs[:n][dead, 0], g.obs[:n][dead, 1], "x", color="#b03030", ms=3, alpha=0.6,
                label=f"given-up places ({dead.sum()})")
    if rollouts is not None:
        for k in np.unique(rollouts.task_ids):
            c = TASK_COLOURS[(int(k) - 1) % len(TASK_COLOURS)]
            for ok in (True, False):
                idx = np.nonzero((rollouts.task_ids == k) & (rollouts.success == ok))[0]
                if len(idx):
                    b = idx[0]
                    p = rollouts.positions[b, : rollouts.length[b] + 1]
                    ax.plot(p[:, 0], p[:, 1], color=c, lw=1.2, ls="-" if ok else "--", alpha=0.9)
            ax.plot(*rollouts.goals[rollouts.task_ids == k].mean(axis=0), "*", color=c, ms=14, mec="black", mew=0.8,
                    label=f"task {int(k)}: {rollouts.success[rollouts.task_ids == k].mean():.0%}")
    ax.legend(loc="upper left", bbox_to_anchor=(1.0, 1.0), fontsize=8, frameon=False)
    ax.set_title(title or "cognitive graph", fontsize=9)
    save_png(fig, path)
