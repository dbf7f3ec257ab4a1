"""Search runs: `ethogram search` builds a run directory that `ethogram eval` evaluates like a trained agent.

A search run directory holds
  config.json   agent "sns", mode, SNS config, seed, environment, dataset, controller run
  graph.npz     the cognitive graph (nodes, codes, edges, Hebbian weights, statistics); plain arrays, no pickle
  search.json   what the search cost: env steps and wall time to the first success of each task (online mode)
  graph.png     the graph drawn over the maze
Modes: "online" (no data: straight-line controller, the graph grows by searching the five tasks in the maze),
"learned" (dataset states + a trained goal-conditioned controller; distances from its learned value) and
"xy-roadmap" (dataset states + straight-line controller + x-y distances: the raw-coordinate reference).
"""

from __future__ import annotations

import dataclasses
import time
from pathlib import Path

import numpy as np
from tqdm import tqdm

from ethogram import __version__, rundir
from ethogram.errors import EthogramError
from ethogram.io import FileSet, atomic_write_bytes, npz_bytes, read_npz_arrays, verify
from ethogram.search import graph as G
from ethogram.search.controllers import StraightLine, controller_from_run, distance_matrix
from ethogram.search.harmonic import HarmonicConfig
from ethogram.search.sns import Searcher, SNSConfig

PRACTICE_WINS = 3  # online search: episodes per task continue until this many successes (or the budget)
LEARNED_HARMONIC = HarmonicConfig(base_scale=12.5)  # z in learned steps: recognition radius ~5 steps


def default_config(mode: str) -> SNSConfig:
    """SNS settings per mode: online search explores and replans at every node; with data it does not explore."""
    if mode == "online":
        return SNSConfig()
    if mode == "learned":
        return SNSConfig(explore=False, replan_on_reach=False, reach=3.0, patience=15, link=24.0, novelty=4.0,
                         harmonic=LEARNED_HARMONIC)
    return SNSConfig(explore=False, replan_on_reach=False, reach=2.5, patience=10, link=24.0, novelty=4.0)


def _need_maze(env_name: str) -> None:
    from ethogram.envs.registry import TASKS

    if env_name.removesuffix("-v0") in TASKS:
        raise EthogramError(f"the search plans over a maze, and '{env_name}' has none (a cognitive graph over its "
                            "table is not defined).", "search a maze, e.g. ethogram search pointmaze-medium")


def _resolve_target(target: str, controller: str | None):
    """(env name, dataset name or None, dataset path or None, custom maze layout or None) from a maze or dataset
    name or an .npz path."""
    from ethogram.data.dataset import dataset_name_of
    from ethogram.envs.registry import parse_dataset_name, parse_env_name

    path = Path(target)
    if target.endswith(".npz") or path.exists():
        if not path.is_file():
            raise EthogramError(f"dataset file '{target}' does not exist.", "collect it with ethogram collect")
        name = dataset_name_of(path)
        _need_maze(name.env)
        return name.env, str(name), path, name.layout
    _need_maze(target)
    parts = target.removesuffix("-v0").split("-")
    if len(parts) >= 3:
        name = parse_dataset_name(target)
        path = Path("data") / f"{name}.npz"
        if not path.is_file():
            raise EthogramError(f"dataset '{name}' is not at {path}.", f"collect it: ethogram collect {target}")
        return name.env, str(name), path, None
    robot, maze = parse_env_name(target)
    if controller:
        raise EthogramError(f"a learned controller needs a dataset to take nodes from, and '{target}' is a maze.",
                            "give a dataset, e.g. ethogram search pointmaze-medium-navigate --controller RUN_DIR")
    return f"{robot}maze-{maze}", None, None, None


def search_online(env, searcher: Searcher, task_ids: list[int], budget: int, seed: int,
                  after_success: int = 1, progress: bool = False) -> dict:
    """The no-data search: for each task, episodes of the OGBench length from the task's start, one after another
    and keeping the graph, until `after_success` successful episodes or `budget` env steps. Returns, per task,
    env steps and wall time to the first success (None when the budget ran out)."""
    rng = np.random.default_rng(seed)
    out = {}
    # The bar counts each task's whole budget; a task that ends early (its successes done) skips the rest of it,
    # so the bar ends at 100 % and its ETA is at most what is left.
    bar = tqdm(total=len(task_ids) * budget, desc="search", unit="step", unit_scale=True, disable=not progress,
               mininterval=1.0)
    for n, k in enumerate(task_ids, 1):
        steps, wins, first, first_s, t0 = 0, 0, None, None, time.perf_counter()
        bar.set_description(f"search task {k} ({n}/{len(task_ids)})")
        while steps < budget and wins < after_success:
            state, goal = env.task_starts(np.array([k]), rng)
            goal_obs = env.goal_observation(goal)
            searcher.reset()
            for _ in range(min(env.episode_steps, budget - steps)):
                a = searcher(env.observe(state), goal_obs)
                state = env.step(state, a, rng)
                steps += 1
                bar.update(1)
                if env.success(state, goal)[0]:
                    searcher(env.observe(state), goal_obs)  # it observes the success
                    wins += 1
                    if first is None:
                        first, first_s = steps, time.perf_counter() - t0
                    break
            bar.set_postfix(successes=f"{wins}/{after_success}", nodes=searcher.g.n, refresh=False)
        bar.update(budget - steps)
        out[f"task{k}"] = {"steps_to_first_success": first, "seconds_to_first_success":
                           None if first_s is None else round(first_s, 3), "steps": steps, "nodes": searcher.g.n}
    bar.close()
    return out


def save_graph(g: G.Graph, path: Path) -> None:
    atomic_write_bytes(path, npz_bytes(G.to_arrays(g)))


def load_graph(path: Path) -> G.Graph:
    if not path.is_file():
        raise EthogramError(f"'{path}' is missing: the search run is incomplete.", "run ethogram search again")
    arrays, raw = read_npz_arrays(path, "search graph", "run ethogram search again")
    verify(path.parent / "search.json", f"run: ethogram repair {path.parent}, or ethogram search again",
           data={path.name: raw})
    try:
        return G.from_arrays(arrays)
    except (ValueError, KeyError, OSError) as e:
        raise EthogramError(f"'{path}' is not a readable graph ({e}).", "run ethogram search again") from None


def make_searcher(g: G.Graph, ctrl, cfg: SNSConfig, env, mode: str) -> Searcher:
    """The SNS policy; with a learned controller the harmonic code is that of the landmark (Isomap) embedding."""
    embed = None
    if mode == "learned":
        from ethogram.search.roadmap import landmark_embedding

        n0 = int(g.n)
        e = (g.src[: g.m] < n0) & (g.dst[: g.m] < n0)  # the edges among the dataset nodes
        emb, _ = landmark_embedding(n0, g.src[: g.m][e], g.dst[: g.m][e], g.length[: g.m][e], cfg.link)
        nodes = g.obs[:n0].copy()
        embed = lambda obs: emb.from_distances(distance_matrix(ctrl, obs, nodes))
    return Searcher(g, ctrl, cfg, success=env.reached, embed=embed)


def search(target: str, out: str | Path, controller: str | None = None, steps: int = 20000, seed: int = 0,
           nodes: int = 500, force: bool = False, progress: bool = True, distance: str | None = None,
           practice: str = "published", settings: dict | None = None) -> dict:
    """Build a search run directory (see the module docstring); returns its search summary. `distance`: a run
    whose learned distance measures the graph while `controller`'s act drives its edges (for a controller that
    learns no distance, e.g. BESO). `practice`: the task set (envs/tasksets.py) the online search practises on."""
    from ethogram.envs.registry import make_env
    from ethogram.envs.tasksets import check_task_set, with_tasks

    if steps < 1 or nodes < 2:
        raise EthogramError(f"--steps must be >= 1 and --nodes >= 2 (got {steps}, {nodes}).")
    if distance and not controller:
        raise EthogramError("--distance pairs a distance with a --controller run; give both.",
                            "ethogram search DATASET --controller BESO_RUN --distance GCIVL_RUN --out RUN")
    check_task_set(practice)
    from ethogram.config import apply_overrides

    apply_overrides(default_config("learned" if controller else "online"), settings)  # a bad --set: before any work
    env_name, dataset_name, dataset_path, layout = _resolve_target(target, controller)
    if practice != "published" and dataset_path is not None:
        raise EthogramError("--practice chooses the tasks of the online search (no data); a search over a dataset "
                            "practises on none.", "leave --practice out, or search a maze: ethogram search "
                            f"{env_name} --practice {practice} --out RUN")
    out = Path(out)
    if out.exists():
        rundir.create(out, force=force, stale=())  # refuses a file or a non-empty directory before any work
    ctrl = controller_from_run(controller, distance) if controller else StraightLine()
    mode = "learned" if controller else ("xy-roadmap" if dataset_path else "online")
    env = make_env(env_name, layout)
    practice_env = with_tasks(env, practice)  # before the run directory is made: a maze without held-out tasks
    cfg = apply_overrides(default_config(mode), settings)
    rundir.create(out, force=force, stale=("eval.json",))
    with rundir.lock(out):  # one writer per run directory
        return _search(out, env, ctrl, cfg, mode, env_name, dataset_name, dataset_path, controller, steps, seed,
                       nodes, progress, distance, practice_env)


def _search(out: Path, env, ctrl, cfg, mode: str, env_name: str, dataset_name, dataset_path, controller, steps: int,
            seed: int, nodes: int, progress: bool, distance: str | None = None, practice_env=None) -> dict:
    from ethogram.envs.tasksets import task_cells

    t0 = time.perf_counter()
    practice_env = practice_env or env
    if mode == "online":
        g = G.empty(env.obs_dim, cfg.harmonic.modules * cfg.harmonic.directions)
        searcher = Searcher(g, ctrl, cfg, success=env.reached)
        stats = search_online(practice_env, searcher, list(range(1, len(practice_env.tasks) + 1)), steps, seed,
                              after_success=PRACTICE_WINS, progress=progress)
        stats["events"] = searcher.events
    else:
        from ethogram.data.dataset import read_npz
        from ethogram.search.roadmap import graph_from_dataset

        arrays = read_npz(dataset_path)
        terminals = np.asarray(arrays["terminals"]) if "terminals" in arrays else None
        g, _ = graph_from_dataset(np.asarray(arrays["observations"], np.float32), ctrl, cfg, nodes, seed=seed,
                                  terminals=terminals)
        stats = {}
    stats.update({"mode": mode, "nodes": int(g.n), "edges": int(len(g.edges())),
                  "seconds": round(time.perf_counter() - t0, 3)})
    run = {"agent": "sns", "mode": mode, "agent_config": dataclasses.asdict(cfg),
           "train_config": {"seed": seed, "steps": steps if mode == "online" else 0, "nodes": nodes},
           "env": env_name, "dataset": str(Path(dataset_path).resolve()) if dataset_path else None,
           "dataset_name": dataset_name or f"{env_name}-online",
           "controller": str(Path(controller).resolve()) if controller else None,
           "distance_run": str(Path(distance).resolve()) if distance else None,
           "controller_agent": getattr(ctrl, "name", None), "obs_dim": env.obs_dim, "action_dim": env.action_dim,
           "ethogram_version": __version__}
    if mode == "online":  # what it practised on, so that an evaluation on other tasks can say so
        run["practice_tasks"] = {"task_set": getattr(practice_env, "task_set", "published"),
                                 "task_cells": task_cells(practice_env)}
    if getattr(env, "maze_file", None) is not None:
        run["maze_layout"] = env.maze_file.text()
    from ethogram.search.plots import plot_graph

    # One set: search.json, written last, names the sha256 of the graph and config.json. The picture is drawn
    # after it: `ethogram eval` redraws it with the rollouts, as a member of the evaluation's set.
    with FileSet(out / "search.json") as fs:
        save_graph(g, out / "graph.npz")
        rundir.write_config(out, run)
        fs.commit(stats)
    plot_graph(env, g, out / "graph.png", title=f"sns ({mode}) on {run['dataset_name']}: {g.n} nodes")
    return stats


def _config_from_dict(d: dict) -> SNSConfig:
    try:
        hebb = G.HebbConfig(**d.pop("hebb"))
        harmonic = HarmonicConfig(**d.pop("harmonic"))
        return SNSConfig(**d, hebb=hebb, harmonic=harmonic)
    except (TypeError, KeyError, AttributeError) as e:
        raise EthogramError(f"the search run's agent_config is malformed ({e}).", "run ethogram search again") from None


def load_search_run(run_dir: str | Path):
    """(run description, graph, controller, SNS config) of a search run directory."""
    run_dir = Path(run_dir)
    run = rundir.read_config(run_dir)
    try:
        cfg = _config_from_dict(dict(run["agent_config"]))
        mode = run["mode"]
    except (ValueError, KeyError, TypeError) as e:
        raise EthogramError(f"'{run_dir / 'config.json'}' is not a readable search run ({e}).",
                            "run ethogram search again") from None
    ctrl = controller_from_run(run["controller"], run.get("distance_run")) if mode == "learned" else StraightLine()
    return run, load_graph(run_dir / "graph.npz"), ctrl, cfg
