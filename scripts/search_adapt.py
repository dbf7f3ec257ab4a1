"""The adaptation experiment on all five tasks of a maze: learn a route by online search, change the maze (a
corridor cell of the route blocked, or the goal moved), and count env steps to re-solve with the mutating graph,
the frozen graph and from scratch (ethogram/search/adapt.py).

    python scripts/search_adapt.py MAZE [--change block|move-goal] --seed S --budget B --out FILE
"""

from __future__ import annotations

import argparse
import json
import time

from ethogram.envs.registry import make_env
from ethogram.io import atomic_write_text
from ethogram.search.adapt import CHANGES, adaptation


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("maze", choices=("medium", "large", "giant"))
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--budget", type=int, default=20000)
    p.add_argument("--change", choices=CHANGES, default="block")
    p.add_argument("--out", required=True)
    a = p.parse_args(argv)
    env = make_env(f"pointmaze-{a.maze}")
    t0 = time.perf_counter()
    tasks = []
    for k in range(1, len(env.tasks) + 1):
        r = adaptation(env, k, seed=a.seed, budget=a.budget, change=a.change)
        tasks.append(r)
        print(f"task {k}: {a.change} {r.get('blocked_cell', r.get('new_goal_cell'))}: " + ", ".join(
            f"{n} {r[n]['steps_to_first_success']}" for n in ("mutate", "frozen", "fresh")), flush=True)
    out = {"maze": a.maze, "change": a.change, "seed": a.seed, "budget": a.budget, "tasks": tasks,
           "seconds": round(time.perf_counter() - t0, 1)}
    atomic_write_text(a.out, json.dumps(out, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
