"""What the search costs as its graph grows: the build time of a graph over dataset states, and the search's and the
planner's milliseconds per step for a batch of episodes in the real maze, at several graph sizes.

For each size the graph is built from the dataset (`graph_from_dataset`: sample, filter, greedy cover, learned edges),
then a batch of episodes (the OGBench tasks, `--episodes` per task, all stepped at once) runs `--steps` steps of
the search agent in the environment: plan, execute, mutate, as in `ethogram eval`, once per planner of `--planners`
on its own copy of the graph: `astar` (the default: A* on a heuristic kept per goal, search.paths) and `dijkstra`
(one scipy Dijkstra over the whole graph per goal at every step with plans), or one of them with settings of its
own (`astar:insert_out=64;plan_share=10`: inserted nodes linked to their 64 nearest each way, goals sharing a
heuristic only within cost 10). Both planners find paths of the same cost; the
episodes can still part where equal-cost paths differ. Beside them, on the graph the first run left, the dense
reference: one single-goal Dijkstra per re-planning episode over the (n x n) edge-cost matrix rebuilt at every plan
(what a per-episode planner over a dense graph does), timed for the same number of plans.

    .venv/bin/python -m benchmarks.bench_search --dataset data/antmaze-large-navigate-v0.npz \\
        --controller runs/antmaze/256x256-b256-40000/antmaze-large-navigate/hilp-s2 --nodes 1000,5000,20000
    .venv/bin/python -m benchmarks.bench_search --quick ...   # smoke test: 2 small graphs, 10 steps

A controller whose learned distance is a metric of an embedding (HILP's phi; `--distance` pairs one with another
run's act) is what makes graphs of tens of thousands of nodes buildable: all pairwise distances from one network
call per state. A value-function distance (HIQL, GCIVL) costs one call per pair and is kept to a few thousand nodes.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import time
from pathlib import Path

import numpy as np
from scipy.sparse import csr_matrix
from scipy.sparse.csgraph import dijkstra

from benchmarks.common import REPO, log, machine_info
from ethogram.config import apply_overrides
from ethogram.data.dataset import dataset_name_of, read_npz
from ethogram.envs.registry import make_env
from ethogram.evaluate.protocol import run_episodes
from ethogram.search import graph as G
from ethogram.search.controllers import controller_from_run
from ethogram.search.graph import warm_up
from ethogram.search.roadmap import graph_from_dataset
from ethogram.search.run import default_config
from ethogram.search.sns import Searcher


def dense_reference_ms(g: G.Graph, cfg, goal_nodes: np.ndarray, plans: int) -> float:
    """Milliseconds for `plans` plans of the reference planner: each rebuilds the dense edge-cost matrix and runs one
    Dijkstra from its goal on the reversed graph."""
    n = g.n
    t0 = time.perf_counter()
    for k in range(plans):
        c = np.full((n, n), np.inf, np.float32)
        c[g.src[: g.m], g.dst[: g.m]] = G.edge_cost(g, cfg.hebb)
        rev = c.T
        rows, cols = np.nonzero(np.isfinite(rev))
        dijkstra(csr_matrix((rev[rows, cols], (rows, cols)), shape=(n, n)), directed=True,
                 indices=int(goal_nodes[k % len(goal_nodes)]), return_predecessors=True)
    return (time.perf_counter() - t0) * 1e3


def one_run(env, g0: G.Graph, ctrl, cfg, planner: str, episodes: int, steps: int, seed: int):
    """The search with `planner` for `steps` steps of every task's episodes, on a copy of graph g0. `planner` is a
    planner's name, optionally with settings of its own after a colon: "astar:insert_out=64;plan_share=10"."""
    g = G.from_arrays(G.to_arrays(g0))
    name, _, extra = planner.partition(":")
    sets = dict(kv.split("=", 1) for kv in extra.split(";") if kv)
    searcher = Searcher(g, ctrl, apply_overrides(dataclasses.replace(cfg, planner=name), sets), success=env.reached)
    tasks = np.repeat(np.arange(1, len(env.tasks) + 1), episodes)
    t0 = time.perf_counter()
    ro = run_episodes(env, searcher, tasks, seed, max_steps=steps)
    wall = time.perf_counter() - t0
    calls = max(searcher.timing["calls"], 1)
    replans = searcher.events["replans"]
    ms = {k: round(searcher.timing[f"{k}_seconds"] / calls * 1e3, 2) for k in ("plan", "match")}
    rec = {"planner": planner, "settings": sets, "episodes": int(len(tasks)), "steps": calls, "nodes_after": int(g.n),
           "edges_after": int(g.m), "search_ms_per_step": round(searcher.timing["seconds"] / calls * 1e3, 2),
           "plan_ms_per_step": ms["plan"], "match_ms_per_step": ms["match"],
           "replans_per_step": round(replans / calls, 2), "wall_s": round(wall, 2),
           "success_within_steps": float(np.mean(ro.success))}
    if name == "astar":
        st = searcher.paths.stats
        rec["astar"] = {**st, "expanded_per_search": round(st["expanded"] / max(st["searches"], 1), 1)}
    log(f"  {planner}: search {rec['search_ms_per_step']} ms/step, of it planning {ms['plan']} ms "
        f"({rec['replans_per_step']} re-plans per step), matching states to nodes {ms['match']} ms")
    return rec, g, searcher


def one_size(env, obs, terminals, ctrl, cfg, nodes: int, episodes: int, steps: int, seed: int,
             reference_max: int, planners: list[str], warmup: int = 0) -> dict:
    t0 = time.perf_counter()
    g0, _ = graph_from_dataset(obs, ctrl, cfg, nodes, seed=seed, terminals=terminals)
    build_s = time.perf_counter() - t0
    n0, m0 = g0.n, g0.m
    log(f"  {nodes} nodes asked: {n0} kept, {m0} edges, built in {build_s:.1f} s")
    rec = {"nodes_asked": nodes, "nodes": n0, "edges": m0, "build_s": round(build_s, 2), "runs": []}
    if warmup:  # the controller's network calls compile for this graph's padded shapes here, untimed, so the
        one_run(env, g0, ctrl, cfg, planners[0], episodes, warmup, seed)  # first planner is not billed for it
    for planner in planners:
        r, g_run, s_run = one_run(env, g0, ctrl, cfg, planner, episodes, steps, seed)
        rec["runs"].append(r)
        if planner == planners[0]:
            g, searcher, calls, replans = g_run, s_run, r["steps"], s_run.events["replans"]
    if g.n <= reference_max:
        plans = min(replans, 50)
        goal_nodes = np.unique(searcher.goal_node[searcher.goal_node >= 0])
        ms = dense_reference_ms(g, cfg, goal_nodes, plans) / max(plans, 1)
        rec["reference_dense_ms_per_plan"] = round(ms, 2)
        rec["reference_dense_plan_ms_per_step"] = round(ms * replans / calls, 2)
    else:
        rec["reference_dense_ms_per_plan"] = None  # an (n x n) float32 matrix per plan: skipped above --reference-max
    log(f"  reference dense planner {rec.get('reference_dense_plan_ms_per_step')} ms/step")
    return rec


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--dataset", default="data/antmaze-large-navigate-v0.npz")
    p.add_argument("--controller", required=True, help="a trained run (its act drives the edges)")
    p.add_argument("--distance", default=None, help="a run whose learned distance measures the graph")
    p.add_argument("--nodes", default="1000,5000,20000")
    p.add_argument("--episodes", type=int, default=50, help="per task (5 tasks: 250 episodes at once)")
    p.add_argument("--steps", type=int, default=200)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="SNS settings (learned mode)")
    p.add_argument("--planners", default="astar,dijkstra",
                   help='the planners to run, each on its own copy; NAME:K=V;K=V adds settings to one of them')
    p.add_argument("--warmup-steps", type=int, default=None,
                   help="an untimed run of this many steps first, at each size (default: --steps; 0: none)")
    p.add_argument("--reference-max", type=int, default=8000, help="largest graph the dense reference is timed on")
    p.add_argument("--quick", action="store_true", help="smoke test: 100 and 200 nodes, 2 episodes per task, 10 steps")
    p.add_argument("--out", default=None)
    a = p.parse_args(argv)
    if a.quick:
        a.nodes, a.episodes, a.steps, a.warmup_steps = "100,200", 2, 10, 2
    if a.warmup_steps is None:  # the network calls compile for every padded shape the run meets: a warmup as long
        a.warmup_steps = a.steps  # as the run keeps the compilations out of the first planner's time
    out = Path(a.out or REPO / "benchmarks" / "results" / ("search-quick.json" if a.quick else "search.json"))
    settings = dict(kv.split("=", 1) for kv in a.set)
    cfg = apply_overrides(default_config("learned"), settings)
    name = dataset_name_of(Path(a.dataset))
    env = make_env(name.env, name.layout)
    arrays = read_npz(Path(a.dataset))
    obs = np.asarray(arrays["observations"], np.float32)
    terminals = np.asarray(arrays["terminals"]) if "terminals" in arrays else None
    ctrl = controller_from_run(a.controller, a.distance)
    report = {"benchmark": "search", "machine": machine_info(), "dataset": str(name), "controller": a.controller,
              "distance": a.distance, "controller_agent": ctrl.name, "metric_embedding": bool(getattr(ctrl, "metric",
                                                                                                       False)),
              "sns_config": {k: v for k, v in dataclasses.asdict(cfg).items() if k not in ("hebb", "harmonic")},
              "episodes": a.episodes * len(env.tasks), "steps": a.steps, "warmup_steps": a.warmup_steps, "results": []}
    warm_up()  # the planner's compiled loops (numba) load or compile here, not inside the first timed step
    for nodes in (int(x) for x in a.nodes.split(",")):
        log(f"{name}: graph of {nodes} nodes, {a.episodes * len(env.tasks)} episodes x {a.steps} steps")
        report["results"].append(one_size(env, obs, terminals, ctrl, cfg, nodes, a.episodes, a.steps, a.seed,
                                          a.reference_max, a.planners.split(","), a.warmup_steps))
        report["load_average_at_end"] = list(os.getloadavg()) if hasattr(os, "getloadavg") else None
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps(report, indent=1) + "\n")  # after every size: a long run keeps what it measured
    log(f"wrote {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
