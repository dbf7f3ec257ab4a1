"""Pilot SNS settings on one built search graph: evaluate several `--set` variants of an existing search run, each on
a fresh copy of its graph, with the OGBench protocol at a few episodes per task. Prints one JSON line per variant.

    python scripts/search_pilot.py RUN_DIR EPISODES_PER_TASK "" "passing=0" "passing=0,link=32" [--seed 2]

Settings that only matter when the graph is built (node count, pool, node filter, and link/max_out for the dataset
nodes' edges) need a new `ethogram search`; the rest (reach, passing, lookahead, link for inserted nodes, ...) are
piloted here in seconds to minutes. A pilot is on the published tasks: confirm a choice on the held-out ones.
"""

from __future__ import annotations

import argparse
import copy
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from ethogram.config import apply_overrides  # noqa: E402
from ethogram.envs.registry import make_env  # noqa: E402
from ethogram.evaluate.protocol import evaluate  # noqa: E402
from ethogram.search.run import load_search_run, make_searcher  # noqa: E402


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("run_dir")
    ap.add_argument("episodes", type=int)
    ap.add_argument("variants", nargs="+", help='comma-separated KEY=VALUE settings per variant ("" for none)')
    ap.add_argument("--seed", type=int, default=2, help="evaluation seed")
    a = ap.parse_args(argv)
    run, g0, ctrl, cfg0 = load_search_run(a.run_dir)
    env = make_env(run["env"])
    for v in a.variants:
        sets = dict(kv.split("=", 1) for kv in v.split(",") if kv)
        cfg = apply_overrides(cfg0, sets)
        g = copy.deepcopy(g0)
        searcher = make_searcher(g, ctrl, cfg, env, run["mode"])
        t0 = time.perf_counter()
        res, _ = evaluate(env, searcher, a.episodes, seed=a.seed)
        ms = {k: round(1e3 * searcher.timing[f"{k}_seconds"] / max(1, searcher.timing["calls"]), 1)
              for k in ("plan", "match")}
        print(json.dumps({"set": sets, "success": res["success"], "tasks": res["tasks"],
                          "seconds": round(time.perf_counter() - t0), "events": searcher.events,
                          "nodes_after": int(g.n), "edges_after": int(g.m), "plan_ms_per_step": ms["plan"],
                          "match_ms_per_step": ms["match"]}),
              flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
