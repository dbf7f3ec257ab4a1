"""Pictures people would rather look at than read: the maze with the evaluation rollouts drawn."""

from __future__ import annotations

import io
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from matplotlib.colors import ListedColormap  # noqa: E402

from ethogram.io import atomic_write_bytes  # noqa: E402

TASK_COLOURS = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2"]


def draw_maze(ax, maze) -> None:
    h, w = maze.shape
    x0, y0 = maze.ij_to_xy((0, 0)) - maze.unit / 2
    x1, y1 = maze.ij_to_xy((h - 1, w - 1)) + maze.unit / 2
    # one image of the walls (row i at height y): adjacent wall patches would leave anti-aliasing seams
    walls = np.where(maze.layout == 1, 1.0, np.nan)
    ax.imshow(walls, extent=(x0, x1, y0, y1), origin="lower", cmap=ListedColormap(["#4a4a4a"]),
              interpolation="nearest", zorder=0.5)
    ax.set_xlim(x0, x1)
    ax.set_ylim(y0, y1)
    ax.set_aspect("equal")
    ax.set_xticks([])
    ax.set_yticks([])
    ax.set_facecolor("#f4f1ea")


def plot_rollouts(env, rollouts, path: str | Path, title: str = "") -> None:
    """Maze walls, each episode's path coloured by task, starts (o), goals (*), failures dashed. A task without a
    maze (avoiding) draws its paths coloured by behaviour (`plot_behaviour_paths`)."""
    if env.maze is None:
        plot_behaviour_paths(env, {title or "evaluation rollouts": rollouts_paths(rollouts)}, path)
        return
    maze = env.maze
    h, w = maze.shape
    fig, ax = plt.subplots(figsize=(0.6 * w + 1.5, 0.6 * h + 1.0), dpi=110)
    draw_maze(ax, maze)
    for b in range(len(rollouts.task_ids)):
        k = int(rollouts.task_ids[b])
        c = TASK_COLOURS[(k - 1) % len(TASK_COLOURS)]
        p = rollouts.positions[b, : rollouts.length[b] + 1]
        ax.plot(p[:, 0], p[:, 1], color=c, lw=0.8, alpha=0.55, ls="-" if rollouts.success[b] else "--")
        ax.plot(*p[0], "o", color=c, ms=3, alpha=0.8)
    for k in np.unique(rollouts.task_ids):
        sel = rollouts.task_ids == k
        c = TASK_COLOURS[(int(k) - 1) % len(TASK_COLOURS)]
        g = rollouts.goals[sel].mean(axis=0)
        ax.plot(*g, "*", color=c, ms=16, mec="black", mew=0.8,
                label=f"task {int(k)}: {rollouts.success[sel].mean():.0%}")
    ax.legend(loc="upper left", bbox_to_anchor=(1.0, 1.0), fontsize=8, frameon=False)
    ax.set_title(title or "evaluation rollouts", fontsize=9)
    save_png(fig, path)


def plot_dataset(maze, xy: np.ndarray, terminals: np.ndarray, path: str | Path, title: str = "",
                 max_episodes: int = 2000) -> int:
    """Every episode of a dataset (x-y of its states, split at `terminals`) drawn over the maze, one colour per
    episode; more than `max_episodes` are thinned evenly (the title says how many are drawn). Returns that number."""
    ends = np.flatnonzero(terminals) + 1
    starts = np.concatenate([[0], ends[:-1]])
    keep = np.unique(np.linspace(0, len(starts) - 1, min(len(starts), max_episodes)).astype(int))
    h, w = maze.shape
    fig, ax = plt.subplots(figsize=(0.6 * w + 0.5, 0.6 * h + 0.8), dpi=110)
    draw_maze(ax, maze)
    colours = plt.get_cmap("turbo")(np.linspace(0, 1, len(keep)))
    alpha = float(np.clip(30 / np.sqrt(len(keep)), 0.08, 0.8))
    for c, k in zip(colours, keep, strict=True):
        p = xy[starts[k]:ends[k]]
        ax.plot(p[:, 0], p[:, 1], color=c, lw=0.4, alpha=alpha)
    shown = f"{len(keep)} of {len(starts)} episodes" if len(keep) < len(starts) else f"all {len(starts)} episodes"
    ax.set_title(f"{title}: {shown}, {len(xy)} states" if title else shown, fontsize=9)
    save_png(fig, path)
    return len(keep)


def save_png(fig, path, dpi: float | None = None, tight_bbox: bool = True, rect=None) -> None:
    """The one PNG writer: lay out (within `rect`, if given), render and write a figure atomically, then free it."""
    fig.tight_layout(rect=rect)
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi or fig.dpi, bbox_inches="tight" if tight_bbox else None)
    plt.close(fig)
    atomic_write_bytes(path, buf.getvalue())


def plot_panels(env, panels: dict[str, dict[str, np.ndarray]], path: str | Path, title: str = "",
                thick: str | None = None, max_paths: int = 10, marks: dict | None = None) -> None:
    """One maze per panel, with a set of paths (B, T, 2) per named policy drawn in its own colour.

    `thick` names a single path (T, 2) drawn on top in black (e.g. the demonstration); `marks` maps a panel to
    what its reward task rewards (envs/tasks.py RewardMark), drawn under the paths.
    """
    maze = env.maze
    h, w = maze.shape
    n = len(panels)
    fig, axes = plt.subplots(1, n, figsize=(n * (0.45 * w + 0.5), 0.45 * h + 1.2), dpi=100, squeeze=False)
    for ax, (name, paths) in zip(axes[0], panels.items(), strict=True):
        draw_maze(ax, maze)
        if (marks or {}).get(name) is not None:
            draw_mark(ax, maze, marks[name])
        for c, (label, p) in enumerate(paths.items()):
            if label == thick:
                continue
            p = np.asarray(p)
            for b in range(min(len(p), max_paths)):
                ax.plot(p[b, :, 0], p[b, :, 1], color=TASK_COLOURS[c % len(TASK_COLOURS)], lw=0.8, alpha=0.6,
                        label=label if b == 0 else None)
                ax.plot(*p[b, 0], "o", color=TASK_COLOURS[c % len(TASK_COLOURS)], ms=2.5)
        if thick and thick in paths:
            d = np.asarray(paths[thick])
            ax.plot(d[:, 0], d[:, 1], color="black", lw=2.2, alpha=0.8, label=thick)
            ax.plot(*d[-1, :2], "*", color="black", ms=12)
        ax.set_title(name, fontsize=9)
        ax.legend(loc="lower left", fontsize=6, frameon=True)
    fig.suptitle(title, fontsize=10)
    save_png(fig, path)


MARK_COLOUR = "#d4a017"


def draw_mark(ax, maze, mark) -> None:
    """What a reward task rewards: its region shaded, its direction an arrow across the maze, its point a ring,
    or the positions where labelled rewards are highest as dots; labelled in the panel's legend."""
    value = np.asarray(mark.value, dtype=np.float64)
    if mark.kind == "region":
        for k, ij in enumerate(value.astype(int)):
            x, y = maze.ij_to_xy(tuple(ij))
            ax.add_patch(plt.Rectangle((x - maze.unit / 2, y - maze.unit / 2), maze.unit, maze.unit,
                                       color=MARK_COLOUR, alpha=0.35, lw=0, label=mark.label if k == 0 else None))
    elif mark.kind == "direction":
        (x0, x1), (y0, y1) = ax.get_xlim(), ax.get_ylim()
        centre, half = np.array([(x0 + x1) / 2, (y0 + y1) / 2]), 0.3 * min(x1 - x0, y1 - y0)
        ax.annotate("", xy=centre + half * value, xytext=centre - half * value, zorder=5,
                    arrowprops={"arrowstyle": "-|>,head_width=0.5,head_length=0.9", "lw": 3, "color": MARK_COLOUR})
        ax.plot([], [], color=MARK_COLOUR, lw=3, label=f"{mark.label} →")
    elif mark.kind == "point":
        ax.plot(*value[:2], "o", ms=16, mfc="none", mec=MARK_COLOUR, mew=3, zorder=5, label=mark.label)
        ax.plot(*value[:2], "+", ms=10, color=MARK_COLOUR, mew=2, zorder=5)
    else:  # points
        ax.plot(value[:, 0], value[:, 1], ".", ms=4, color=MARK_COLOUR, alpha=0.7, zorder=1, label=mark.label)


# ---------------------------------------------------------------------------------- behaviours (avoiding)

BEHAVIOUR_CMAP = "tab20b"


def rollouts_paths(rollouts) -> list[np.ndarray]:
    """Each episode's positions up to its end, with whether it succeeded: [(T_b, 2)], [bool]."""
    return [(rollouts.positions[b, : rollouts.length[b] + 1], bool(rollouts.success[b]))
            for b in range(len(rollouts.task_ids))]


def behaviour_colour(k: int, n: int):
    return plt.get_cmap(BEHAVIOUR_CMAP)(k % 20) if n <= 20 else plt.get_cmap("gist_rainbow")(k / max(n - 1, 1))


def plot_behaviour_paths(env, panels: dict[str, list], path: str | Path, max_paths: int = 100) -> None:
    """One panel per policy: the task drawn (`env.draw`), up to `max_paths` paths coloured by their behaviour,
    failures grey and dashed. `panels`: {title: [(positions (T, 2), success)]}."""
    n = len(panels)
    fig, axes = plt.subplots(1, n, figsize=(3.6 * n, 4.6), dpi=110, squeeze=False)
    for ax, (name, paths) in zip(axes[0], panels.items(), strict=True):
        env.draw(ax)
        if len(paths) > max_paths:  # evenly over the batch, so every task is drawn
            paths = [paths[i] for i in np.linspace(0, len(paths) - 1, max_paths).astype(int)]
        labels = env.behaviours(np.stack([_pad(p, max(len(q) for q, _ in paths)) for p, _ in paths])) \
            if paths else []
        for (p, ok), k in zip(paths, labels, strict=True):
            if ok and k >= 0:
                ax.plot(p[:, 0], p[:, 1], color=behaviour_colour(int(k), env.n_behaviours), lw=0.9, alpha=0.8)
            else:
                ax.plot(p[:, 0], p[:, 1], color="#888888", lw=0.7, alpha=0.6, ls="--")
        ax.set_title(name, fontsize=9)
    save_png(fig, path)


def _pad(p: np.ndarray, t: int) -> np.ndarray:
    return np.concatenate([p, np.repeat(p[-1:], t - len(p), axis=0)]) if len(p) < t else p


def plot_behaviour_bars(names: list[str], freqs: dict[str, np.ndarray], path: str | Path, title: str = "") -> None:
    """Grouped bars: the frequency of each behaviour under each policy (and the data's)."""
    m, k = len(names), len(freqs)
    fig, ax = plt.subplots(figsize=(max(8.0, 0.45 * m * max(k, 2) / 2), 3.6), dpi=110)
    width = 0.8 / k
    for j, (label, f) in enumerate(freqs.items()):
        ax.bar(np.arange(m) + (j - (k - 1) / 2) * width, f, width, label=label)
    ax.set_xticks(np.arange(m), names, rotation=90, fontsize=7)
    ax.set_ylabel("fraction of successful episodes")
    ax.legend(fontsize=8, frameon=False)
    ax.set_title(title, fontsize=9)
    save_png(fig, path)
