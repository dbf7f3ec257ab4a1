"""How often the ant falls during evaluation: success and the share of episodes in which the ant fell (envs/ant.py
fallen_qpos: on its back, or the torso outside the healthy height range), for a search run or a trained agent.

    python scripts/rollout_falls.py RUN_DIR EPISODES_PER_TASK [--seed 0] [--set KEY=VALUE ...]

RUN_DIR is an `ethogram search` run (its graph is copied, the run is not changed) or an `ethogram train` run (its
policy alone). OGBench's protocol on the published tasks; the falls are read from the observations the policy is
given, so nothing about the episodes changes.
"""

from __future__ import annotations

import argparse
import copy
import json
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from ethogram import rundir  # noqa: E402
from ethogram.agents.base import make_policy  # noqa: E402
from ethogram.config import apply_overrides  # noqa: E402
from ethogram.envs.ant import fallen_qpos  # noqa: E402
from ethogram.envs.registry import make_env  # noqa: E402
from ethogram.evaluate.protocol import evaluate  # noqa: E402


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("run_dir", type=Path)
    ap.add_argument("episodes", type=int)
    ap.add_argument("--seed", type=int, default=0, help="evaluation seed")
    ap.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="search settings (search runs)")
    a = ap.parse_args(argv)
    if (a.run_dir / "graph.npz").exists():
        from ethogram.search.run import load_search_run, make_searcher

        run, g, ctrl, cfg = load_search_run(a.run_dir)
        env = make_env(run["env"])
        policy = make_searcher(copy.deepcopy(g), ctrl, apply_overrides(cfg, dict(s.split("=", 1) for s in a.set)),
                               env, run["mode"])
    else:
        run, agent, config = rundir.load(a.run_dir)
        env = make_env(run["env"])
        policy = make_policy(agent, config, rundir.restore(a.run_dir, run, agent, config), seed=a.seed)
    fell = None

    def watched(obs, goals):
        nonlocal fell
        now = fallen_qpos(np.asarray(obs)[:, :15])
        fell = now if fell is None or len(fell) != len(now) else fell | now
        return policy(obs, goals)

    res, ro = evaluate(env, watched, a.episodes, seed=a.seed)
    failed = ~np.asarray(ro.success, bool)
    print(json.dumps({"run": str(a.run_dir), "episodes_per_task": a.episodes, "seed": a.seed, "set": a.set,
                      "success": res["success"], "episodes_fallen": round(float(fell.mean()), 3),
                      "failures_fallen": round(float(fell[failed].mean()), 3) if failed.any() else None}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
