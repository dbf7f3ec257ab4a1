"""`ethogram eval`: evaluate a run directory's answers to a prompt and write the results beside it.

  goal (default)     the OGBench protocol (evaluate/protocol.py) -> eval.json, rollouts.png
  goal with plan     HILP-Plan -> eval-plan.json, rollouts-plan.png
  reward:all         returns beside random and the scripted reference -> eval-reward.json, reward.png
  reward:TASK        one reward task -> eval-reward-TASK.json, reward-TASK.png
  reward-file:PATH   labelled transitions, scored by a regression of the labels when it fits them
                     (evaluate/prompts.py) -> eval-reward-file-STEM.json, reward-file-STEM.png
  demo:all, demo:TASK, demo-file:PATH   fidelity to demonstrations beside random -> eval-demo.json, demo.png;
                     eval-demo-TASK.json, demo-TASK.png; eval-demo-file-STEM.json, demo-file-STEM.png
Each prompt spec has files of its own, so evaluating one never replaces another's (STEM: the file's name without
its extension, characters other than letters, digits, '.', '_', '=' and '-' replaced by '_').
Any run answers through ethogram/prompts.py: a trained agent (rundir.py) or a search run (search/agent.py, whose
goal prompts are answered by its Searcher through the agent's `goal_policy` hook).
"""

from __future__ import annotations

import re
import time
from pathlib import Path

import numpy as np

from ethogram import prompts, rundir
from ethogram.agents.base import make_policy
from ethogram.data.dataset import load_dataset, read_npz
from ethogram.envs import tasks as maze_tasks
from ethogram.envs.registry import run_env
from ethogram.envs.tasksets import check_task_set, task_cells, with_tasks
from ethogram.errors import EthogramError
from ethogram.evaluate.metrics import cell_sequence
from ethogram.evaluate.prompts import evaluate_imitation, evaluate_reward, file_reward_task
from ethogram.evaluate.protocol import check_episodes, evaluate, random_policy, save_rollouts
from ethogram.io import FileSet, atomic_write_bytes, check_writable_dir, json_bytes

PROMPT_SPECS = "goal | reward:TASK | reward:all | reward-file:PATH | demo:TASK | demo:all | demo-file:PATH"
KINDS = {"goal": "goal", "reward": "reward", "reward-file": "reward", "demo": "demonstration",
         "demo-file": "demonstration"}


def _write_json(path: Path, res: dict) -> None:
    """An evaluation record; inside eval_command's FileSet it becomes the manifest of the set it commits with its
    pictures."""
    atomic_write_bytes(path, json_bytes(res))


def settings_text(settings: dict | None) -> str:
    """'sampling_steps=10,guidance=2' (sorted by key): how act settings name an evaluation file and its agent."""
    return ",".join(f"{k}={settings[k]}" for k in sorted(settings or {}))


def eval_file(spec: str, plan: bool = False, settings: dict | None = None, tasks: str = "published") -> str:
    """The JSON file an evaluation of `spec` writes (with act settings: eval-set-KEY=VALUE,....json; on held-out
    tasks: ...-heldout.json); every prompt spec and task set has its own (the module docstring)."""
    kind, _ = parse_prompt(spec, plan)
    check_task_set(tasks)
    if tasks != "published" and kind != "goal":
        raise EthogramError(f"--tasks {tasks} applies to goal prompts; '{spec}' has tasks of its own.",
                            "leave --tasks out for reward and demonstration prompts")
    suffix = "" if tasks == "published" else f"-{tasks}"
    if settings:
        if kind != "goal" or plan:
            raise EthogramError("--set applies to goal prompts only (without --plan).")
        return f"eval-set-{settings_text(settings)}{suffix}.json"
    if kind == "goal":
        return f"eval-plan{suffix}.json" if plan else ("eval.json" if not suffix else f"eval{suffix}.json")
    return f"eval-{prompt_picture(spec)[:-len('.png')]}.json"


def file_stem(text: str) -> str:
    """A safe part of a file name: letters, digits, '.', '_', '=' and '-' kept, anything else '_'."""
    return re.sub(r"[^A-Za-z0-9._=-]", "_", text) or "_"


def prompt_picture(spec: str) -> str:
    """The picture of a reward or demonstration prompt's evaluation: reward.png (reward:all), reward-TASK.png,
    reward-file-STEM.png, and the same for demo."""
    kind, arg = parse_prompt(spec)
    base = "reward" if KINDS[kind] == "reward" else "demo"
    if kind.endswith("-file"):
        return f"{base}-file-{file_stem(Path(arg).stem)}.png"
    return f"{base}.png" if arg == "all" else f"{base}-{file_stem(arg)}.png"


def _head(run: dict, run_dir: Path) -> dict:
    return {"agent": run["agent"], "dataset": run["dataset_name"], "env": run["env"],
            "train_step": rundir.checkpoint_step(run_dir) or None}


def act_settings(agent, config, settings: dict | None):
    """`config` with act settings applied (`ethogram eval --set`): only fields of the agent's ACT_SETTINGS hook,
    which change how a trained network acts, never what was trained."""
    from ethogram.agents.base import hook
    from ethogram.config import apply_overrides, validate_agent_config

    if not settings:
        return config
    allowed = hook(agent, "ACT_SETTINGS") or ()
    bad = [k for k in settings if k not in allowed]
    if bad:
        raise EthogramError(f"eval --set {', '.join(bad)}: agent '{agent.NAME}' has no act setting of that name "
                            "(training settings cannot change after training).",
                            f"act settings of {agent.NAME}: {', '.join(allowed)}" if allowed else
                            f"agent '{agent.NAME}' has none: evaluate without --set")
    config = apply_overrides(config, settings)
    validate_agent_config(config)
    return config


def _tasks_head(env, tasks: str) -> dict:
    """What an evaluation record says of its tasks: the set and each task's start and goal cells."""
    return {"task_set": tasks, "task_cells": task_cells(env)} if getattr(env, "maze", None) is not None else {
        "task_set": tasks}


def evaluate_run(run_dir: str | Path, episodes: int = 50, seed: int = 0, progress: bool = True,
                 settings: dict | None = None, tasks: str = "published"):
    """Evaluate a trained run's latest checkpoint with the OGBench protocol on task set `tasks` (envs/tasksets.py);
    writes run_dir/eval.json (with act settings: eval-set-....json, its agent named 'beso[sampling_steps=10]'; on
    held-out tasks eval-heldout.json). Returns (result, rollouts, env)."""
    check_episodes(episodes, seed)  # before any slow work
    run_dir = Path(run_dir)
    run, agent, config = rundir.load(run_dir)
    config = act_settings(agent, config, settings)
    check_writable_dir(run_dir)
    env = with_tasks(run_env(run, run_dir), tasks)
    state = rundir.restore(run_dir, run, agent, config)
    res, ro = evaluate(env, make_policy(agent, config, state, seed=seed), episodes, seed=seed, progress=progress)
    res = {**_head(run, run_dir), **_tasks_head(env, tasks), **res}
    if settings:
        values = {k: getattr(config, k) for k in settings}
        res = {**res, "agent": f"{run['agent']}[{settings_text(values)}]", "act_settings": values}
    _write_json(run_dir / eval_file("goal", settings=settings, tasks=tasks), res)
    return res, ro, env


def _search_timing(searcher, episodes: int) -> dict:
    """What the search cost per batched call (the controller's act and distances included), in planning alone
    (shortest paths, bridges) and in matching states against the nodes (nearest node, an inserted node's edges),
    and re-plans per episode."""
    t = searcher.timing
    calls = max(t["calls"], 1)
    return {"search_ms_per_step": round(1e3 * t["seconds"] / calls, 3),
            "plan_ms_per_step": round(1e3 * t["plan_seconds"] / calls, 3),
            "match_ms_per_step": round(1e3 * t.get("match_seconds", 0.0) / calls, 3),
            "replans_per_episode": round(searcher.events["replans"] / max(episodes, 1), 2)}


def evaluate_search_run(run_dir: str | Path, episodes: int = 50, seed: int = 0, progress: bool = True,
                        tasks: str = "published"):
    """The OGBench protocol for a search run (the SNS loop keeps running, and learning, during evaluation), on task
    set `tasks`: eval.json and graph.png, or eval-heldout.json and graph-heldout.png."""
    from ethogram.search import agent as sns
    from ethogram.search.plots import plot_graph

    check_episodes(episodes, seed)  # before any slow work
    run_dir = Path(run_dir)
    cfg, state = sns.load(run_dir)
    check_writable_dir(run_dir)
    run, g, searcher = state["run"], state["graph"], state["searcher"]
    env = with_tasks(state["env"], tasks)
    n0 = g.n
    policy = prompts.answer(sns, cfg, state, prompts.Goal(), obs_dim=env.obs_dim)  # goals from the tasks
    res, ro = evaluate(env, policy, episodes, seed=seed, progress=progress)
    res = {"agent": "sns", "dataset": run["dataset_name"], "env": run["env"], "mode": run["mode"],
           "train_step": run["train_config"]["steps"], **_tasks_head(env, tasks), **res,
           "graph_nodes_before": int(n0), "graph_nodes_after": int(g.n), "events": searcher.events,
           **_search_timing(searcher, episodes * len(env.tasks))}
    if run.get("practice_tasks"):
        res["practice_tasks"] = run["practice_tasks"]
    _write_json(run_dir / eval_file("goal", tasks=tasks), res)
    suffix = "" if tasks == "published" else f"-{tasks}"
    plot_graph(env, g, run_dir / f"graph{suffix}.png", rollouts=ro,
               title=f"sns ({run['mode']}) on {run['dataset_name']}{' (held-out tasks)' if suffix else ''}: "
                     f"{g.n} nodes, success {res['success']:.2f}")
    return res, ro, env


MAX_DEMO_STATES = 20_000  # 20 episodes of 1000 steps: a demonstration is imitated step by step
MAX_REWARD_TRANSITIONS = 1_000_000  # a reward regression over more labelled transitions adds nothing


def _read_prompt_file(path: str, keys: tuple[str, ...]) -> dict[str, np.ndarray]:
    """A prompt file: only `keys` are read, and their length is bounded before anything is decompressed."""
    limit = MAX_REWARD_TRANSITIONS if "rewards" in keys else MAX_DEMO_STATES
    what = "reward file" if "rewards" in keys else "demonstration file"
    arrays = read_npz(path, keys=keys, max_rows=limit, what=what)
    missing = [k for k in keys if k not in arrays]
    if missing:
        raise EthogramError(f"'{path}' lacks the array(s) {', '.join(missing)}.",
                            f"save it with np.savez(path, {', '.join(f'{k}=...' for k in keys)})")
    return arrays


def parse_prompt(spec: str, plan: bool = False) -> tuple[str, str]:
    kind, _, arg = spec.partition(":")
    if kind not in KINDS or (kind != "goal" and not arg) or (kind == "goal" and arg):
        raise EthogramError(f"unknown prompt '{spec}'.", f"use one of: {PROMPT_SPECS}")
    if plan and kind != "goal":
        raise EthogramError("--plan applies to goal prompts only.")
    return kind, arg


def evaluate_prompt_run(run_dir: str | Path, spec: str = "goal", episodes: int = 50, seed: int = 0,
                        plan: bool = False, plan_bank: int = 50_000, feature: str = "auto",
                        demo_method: str = "track", progress: bool = True,
                        settings: dict | None = None, tasks: str = "published") -> tuple[dict, dict, object]:
    """Evaluate a run's answers to a prompt; writes the spec's evaluation file (`eval_file`: eval.json for goals,
    eval-plan.json, eval-reward*.json, eval-demo*.json; goals on held-out tasks eval-heldout.json,
    eval-plan-heldout.json). Returns (result, paths for pictures, env)."""
    kind, arg = parse_prompt(spec, plan)
    eval_file(spec, plan, settings, tasks)  # --set or --tasks with another prompt: refused before any slow work
    if rundir.is_search_run(run_dir):
        if settings:
            raise EthogramError("the search agent (sns) has no act settings: evaluate it without --set.")
        if plan:
            raise EthogramError(f"'{run_dir}' is a search run: --plan is HILP-Plan, the planner of a trained HILP "
                                "run, and the search agent (sns) already plans over its own graph for every goal.",
                                f"evaluate it without --plan: ethogram eval {run_dir}")
        if kind != "goal":
            raise EthogramError(f"the search agent (sns) answers goal prompts only, not '{spec}'.",
                                f"run: ethogram eval {run_dir}")
        res, ro, env = evaluate_search_run(run_dir, episodes, seed, progress, tasks)
        return res, {"graph": ro}, env
    if kind == "goal" and not plan:
        res, ro, env = evaluate_run(run_dir, episodes, seed, progress, settings, tasks)
        return res, {"rollouts": ro}, env
    check_episodes(episodes, seed)  # before any slow work
    run_dir = Path(run_dir)
    run, agent, config = rundir.load(run_dir)
    check_writable_dir(run_dir)
    env = with_tasks(run_env(run, run_dir), tasks)
    if env.maze is None:
        raise EthogramError(f"'{run['env']}' has no maze: its runs answer goal prompts only (the reward and "
                            "demonstration tasks and HILP-Plan's prompts are defined on mazes).",
                            f"run: ethogram eval {run_dir}")
    prompts.check_kind(agent, KINDS[kind], plan)  # before any slow work
    state = rundir.restore(run_dir, run, agent, config)
    data = load_dataset(run["dataset"], env.obs_dim, env.action_dim)
    obs_dim = env.obs_dim
    head = _head(run, run_dir)
    start = time.perf_counter()

    if kind == "goal":  # HILP-Plan
        if plan_bank < 1:
            raise EthogramError(f"--plan-bank must be at least 1 (got {plan_bank}).")
        policy = prompts.answer(agent, config, state, prompts.Goal(plan=True, plan_bank=plan_bank), obs_dim, data)
        res, ro = evaluate(env, policy, episodes, seed=seed, progress=progress)
        res = {**head, **_tasks_head(env, tasks), **res, "agent": f"{run['agent']}-plan",
               "plan_bank": min(plan_bank, data.size)}
        _write_json(run_dir / eval_file("goal", plan=True, tasks=tasks), res)
        return res, {"rollouts": ro}, env

    if kind in ("reward", "reward-file"):
        if kind == "reward":
            names = list(maze_tasks.reward_tasks(env)) if arg == "all" else [arg]
            chosen = [(maze_tasks.get_reward_task(env, n), None) for n in names]
        else:
            a = _read_prompt_file(arg, ("observations", "next_observations", "rewards"))
            labels = prompts.Reward(observations=a["observations"], next_observations=a["next_observations"],
                                    rewards=a["rewards"], feature="diff" if feature == "auto" else feature)
            obs, nxt, r = prompts.labelled_transitions(labels, obs_dim)  # checked before the regression
            chosen = [(file_reward_task(env, arg, obs, nxt, r, seed), labels)]
        results, paths, marks = {}, {}, {}
        for task, prompt in chosen:
            if prompt is None:
                prompt = prompts.Reward(fn=task.reward, feature=task.feature if feature == "auto" else feature)
            z = prompts.reward_latent(agent, config, state, prompt, obs_dim, data, seed)
            policies = {"agent": prompts.latent_policy(agent, config, state, z)}
            if getattr(task.reward, "scored", True):  # the comparisons only where there are returns to compare
                policies["random"] = random_policy(env.action_dim, seed)
            if task.target_xy is not None:
                policies["reference"] = maze_tasks.reference_policy(env, task.target_xy)
            r, p = evaluate_reward(env, policies, task, episodes, seed, progress=progress)
            r["z"] = [round(float(v), 6) for v in z]
            r["feature"] = prompt.feature
            results[task.name], paths[task.name], marks[task.name] = r, p, task.mark
        res = {**head, "prompt": "reward", "metric": "return", "feature": feature, "tasks": results,
               "seconds": round(time.perf_counter() - start, 3)}
        _write_json(run_dir / eval_file(spec), res)
        return res, {"paths": paths, "marks": marks}, env

    # Demonstrations.
    if kind == "demo":
        all_demos = maze_tasks.demo_tasks(env)
        if arg != "all" and arg not in all_demos:
            raise EthogramError(f"unknown demonstration task '{arg}'.", f"known: {', '.join(all_demos)} (or 'all')")
        demos = list(all_demos.values()) if arg == "all" else [all_demos[arg]]
    else:
        a = _read_prompt_file(arg, ("observations",))
        obs = prompts._obs_array(a["observations"], f"the demonstration in '{arg}'", obs_dim, min_len=2)
        demos = [maze_tasks.DemoTask(Path(arg).stem, tuple(cell_sequence(env.maze, env.obs_positions(obs))), obs)]
    results, paths = {}, {}
    for demo in demos:
        policy = prompts.answer(agent, config, state, prompts.Demonstration(demo.observations, method=demo_method),
                                obs_dim, data, seed)
        r, p = evaluate_imitation(env, policy, demo, episodes, seed, progress=progress)
        r_rand, _ = evaluate_imitation(env, random_policy(env.action_dim, seed), demo, episodes, seed)
        r["random"] = {k: r_rand[k] for k in ("cells_in_order", "mean_distance", "final_distance")}
        results[demo.name] = r
        paths[demo.name] = {"agent": p, "demo": env.obs_positions(demo.observations)}
    res = {**head, "prompt": "demonstration", "metric": "cells_in_order", "method": demo_method, "tasks": results,
           "seconds": round(time.perf_counter() - start, 3)}
    _write_json(run_dir / eval_file(spec), res)
    return res, paths, env


def eval_command(run_dir: str | Path, prompt: str = "goal", episodes: int = 50, seed: int = 0, plan: bool = False,
                 plan_bank: int = 50_000, feature: str = "auto", demo_method: str = "track",
                 progress: bool = True, settings: dict | None = None, tasks: str = "published") -> tuple[dict, str]:
    """What `ethogram eval` does: evaluate, draw the pictures, and return (result, text to print)."""

    run_dir = Path(run_dir)
    name = eval_file(prompt, plan, settings, tasks)
    rundir.read_config(run_dir)  # a clear error for a path that is not a run, before the lock
    # The JSON and its pictures are one set: the JSON (written last) names each picture's sha256.
    with rundir.lock(run_dir), FileSet(rundir.run_file(run_dir, name)):
        res, text = _evaluate_and_draw(run_dir, prompt, episodes, seed, plan, plan_bank, feature, demo_method,
                                       progress, settings, tasks)
    return res, text


def _evaluate_and_draw(run_dir: Path, prompt, episodes, seed, plan, plan_bank, feature, demo_method, progress,
                       settings=None, tasks="published"):
    from ethogram.report import plots, tables

    res, paths, env = evaluate_prompt_run(run_dir, prompt, episodes=episodes, seed=seed, plan=plan,
                                          plan_bank=plan_bank, feature=feature, demo_method=demo_method,
                                          progress=progress, settings=settings, tasks=tasks)
    json_name = eval_file(prompt, plan, settings, tasks)
    suffix = json_name[len("eval"):-len(".json")]  # "", "-heldout", "-plan", "-set-...": names its pictures
    if "graph" in paths:
        save_rollouts(paths["graph"], run_dir / f"rollouts{suffix}.npz")  # in the evaluation's set: replayed
        text = (tables.to_markdown(tables.success_table(res)) +
                f"\nwrote {run_dir / json_name} and graph{suffix}.png ({res['seconds']:.1f} s)")
    elif "rollouts" in paths:
        name = f"rollouts{suffix}.png"
        extra = "".join(f", {k} {v:.2f}" for k, v in res["metrics"].items() if k != "success")
        save_rollouts(paths["rollouts"], run_dir / (name[:-len(".png")] + ".npz"))  # the report replays them
        plots.plot_rollouts(env, paths["rollouts"], run_dir / name,
                            title=f"{res['agent']} on {res['dataset']}: success {res['success']:.2f}{extra}")
        text = (tables.to_markdown(tables.success_table(res)) + (f"\nmetrics: {tables.metrics_text(res)}" if extra
                                                                 else "") +
                f"\nwrote {run_dir / json_name} and {name} ({res['seconds']:.1f} s)")
    elif res["prompt"] == "reward":
        def label(k, p):
            v = res["tasks"][k]
            if not v.get("scored", True):
                return f"{k}: answered, not scored"
            return f"{k}: " + " / ".join(f"{n} {v[n]['return_mean']:.1f}" for n in p)

        picture = prompt_picture(prompt)
        panels = {label(k, p): p for k, p in paths["paths"].items()}
        plots.plot_panels(env, panels, run_dir / picture, title=f"{res['agent']}: zero-shot reward prompts (returns)",
                          marks=dict(zip(panels, paths["marks"].values(), strict=True)))
        text = (tables.to_markdown(tables.reward_table(res)) + "".join(
            f"\n{scoring_text(k, v)}" for k, v in res["tasks"].items() if "scored" in v) +
                f"\nwrote {run_dir / eval_file(prompt)} and {picture} ({res['seconds']:.1f} s)")
    else:
        picture = prompt_picture(prompt)
        plots.plot_panels(env, {f"{k}: cells in order {res['tasks'][k]['cells_in_order']['mean']:.2f}": p
                                for k, p in paths.items()}, run_dir / picture, thick="demo",
                          title=f"{res['agent']}: imitating demonstrations ({res['method']})")
        text = (tables.to_markdown(tables.imitation_table(res)) +
                f"\nwrote {run_dir / eval_file(prompt)} and {picture} ({res['seconds']:.1f} s)")
    return res, text


def scoring_text(name: str, r: dict) -> str:
    """How a reward file's returns were scored, or why they were not, in one line."""
    fit = r["scoring"]
    if not r["scored"]:
        return f"{name}: answered but not scored: {fit['why']}."
    cover = ", ".join(f"{k} {v:.0%}" for k, v in fit["coverage"].items())
    return (f"{name}: returns estimated by {fit['method']} ({fit['features']}), held-out R^2 "
            f"{fit['held_out_r2']:.2f}; rollout transitions within the labelled data's reach: {cover}")

