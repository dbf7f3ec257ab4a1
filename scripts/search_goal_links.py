"""How a search run's graph meets each task's goal: learned steps from the graph's nodes to the goal observation.

    python scripts/search_goal_links.py RUN_DIR [--link 32]

Per published task (one episode's start and goal, seed 0): the nearest node by learned distance to the goal, how
many nodes are within `link` learned steps of it (the in-edges the goal's node gets), and how many are within 1 x-y
unit of it with their median learned distance (x-y read only to judge the learned distance, never by the search).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from ethogram.envs.registry import make_env  # noqa: E402
from ethogram.search.run import load_search_run  # noqa: E402


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("run_dir")
    ap.add_argument("--link", type=float, default=32.0)
    a = ap.parse_args(argv)
    run, g, ctrl, _ = load_search_run(a.run_dir)
    env = make_env(run["env"])
    rng = np.random.default_rng(0)
    n = g.n
    for k in range(1, len(env.tasks) + 1):
        _, goal = env.task_starts(np.array([k]), rng)
        gobs = env.goal_observation(goal)[0]
        d_in = ctrl.distance(g.obs[:n], np.repeat(gobs[None], n, 0))
        here = np.linalg.norm(g.obs[:n, :2] - gobs[None, :2], axis=-1) < 1.0
        near = f"{np.median(d_in[here]):.1f}" if here.any() else "-"
        print(f"task {k}: nearest node {d_in.min():.1f} learned steps; {(d_in <= a.link).sum()} nodes within "
              f"{a.link:g}; {here.sum()} nodes within 1 x-y unit, median {near} learned steps")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
