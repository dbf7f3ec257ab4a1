"""`ethogram demo`: the whole pipeline in a few minutes on 2 CPU cores, ending in an HTML report.

collect (a scaled-down OGBench dataset) -> train a goal-conditioned agent (small nets, few steps) -> evaluate it
with the OGBench protocol (5 tasks x 50 episodes) beside a random policy -> behavioural search (SNS) over a
cognitive graph of dataset states, the trained agent driving each edge and its value measuring the graph ->
evaluate the search agent the same way -> report.html for both runs (tables, curves, pictures, videos).

The default, GCIVL with 2x64 nets and batch 256 for 10k steps on 300 pointmaze-medium-navigate episodes, is a weak
policy on its own (far from the published 0.63, which takes 1M steps) but a good local controller: the search
reaches every task's goal through it. `--agent` and `--dataset` choose others, each agent with the small budget of
`BUDGETS`; agents without a learned distance (GCBC, BESO) and datasets without a maze skip the search.
"""

from __future__ import annotations

import dataclasses
import time
from pathlib import Path

from ethogram.config import TrainConfig
from ethogram.data.collect import collect_to_file, default_config
from ethogram.envs.registry import make_env, parse_dataset_name
from ethogram.errors import EthogramError
from ethogram.evaluate import evaluate, random_policy
from ethogram.io import FileSet, atomic_write_text, check_writable_dir, json_bytes
from ethogram.report.tables import Table, to_markdown
from ethogram.rundir import prepare_run
from ethogram.train import train

DATASET = "pointmaze-medium-navigate"
AGENT = "gcivl"
EPISODES = 300  # dataset episodes (OGBench: 1000 of 1001 steps)
EVAL_EPISODES = 50  # per task, as OGBench
RANDOM_EPISODES = 10  # per task for the random baseline (it never reaches a goal: 1000 steps each)

_SMALL = {"actor_hidden_dims": "64,64", "value_hidden_dims": "64,64", "batch_size": "256"}
_WIDE = {"actor_hidden_dims": "256,256", "value_hidden_dims": "256,256", "batch_size": "512"}
# Training steps and config overrides per agent: the budget study's fastest configuration of each (docs/results.md),
# HILP with the settings of docs/hilp.md, BESO with its defaults (docs/beso.md).
BUDGETS: dict[str, tuple[int, dict]] = {
    "gcivl": (10_000, _SMALL),
    "hiql": (40_000, _SMALL),
    "gcbc": (40_000, _SMALL),
    "gciql": (40_000, _SMALL),
    "qrl": (40_000, _WIDE),
    "crl": (40_000, _WIDE),
    "hilp": (20_000, {**_SMALL, "lr": "2e-3", "tau": "0.05"}),
    "beso": (30_000, {}),
}
NO_DISTANCE = ("gcbc", "beso")  # no learned value or representation to measure a graph with


def budget(agent: str) -> tuple[int, dict]:
    """(steps, overrides) of the demo for `agent`: only the fields its config has (GCBC has no value network)."""
    from ethogram.agents import AGENTS
    from ethogram.agents.base import config_fields

    if agent not in BUDGETS:
        raise EthogramError(f"the demo has no budget for agent '{agent}'.", f"choose one of: {', '.join(BUDGETS)}")
    steps, overrides = BUDGETS[agent]
    fields = config_fields(AGENTS[agent])
    return steps, {k: v for k, v in overrides.items() if k in fields}


def run_demo(out: Path, force: bool = False, episodes: int | None = None, steps: int | None = None,
             seed: int = 0, agent: str = AGENT, dataset: str = DATASET, progress: bool = True,
             video: bool | None = None, search: bool = True) -> dict:
    t0 = time.perf_counter()
    default_steps, overrides = budget(agent)
    name = parse_dataset_name(dataset)
    episodes = (EPISODES if name.is_maze else None) if episodes is None else episodes
    steps = default_steps if steps is None else steps
    if (episodes is not None and episodes < 1) or steps < 1:
        raise EthogramError("--episodes and --steps must be at least 1.")
    out = Path(out)
    if out.exists() and (not out.is_dir() or any(out.iterdir())) and not force:
        raise EthogramError(f"demo output '{out}' already exists; refusing to overwrite it.",
                            "choose another --out, or pass --force to replace it")
    check_writable_dir(out)
    search = search and name.is_maze and agent not in NO_DISTANCE
    stages = 5 if search else 4
    cfg = default_config(name, seed=seed)
    if episodes is not None:
        cfg = dataclasses.replace(cfg, episodes=episodes)
    seconds: dict[str, float] = {}

    def stage(k: int, text: str) -> None:
        print(f"[{k}/{stages}] {text}", flush=True)

    stage(1, f"collecting {name} ({cfg.episodes} episodes, the scripted expert) -> {out / 'data'}")
    data_path = out / "data" / f"{name}.npz"
    meta = collect_to_file(name, cfg, data_path, force=True, progress=progress)
    seconds["collect"] = time.perf_counter() - t0
    print(f"      {meta['transitions']} transitions in {seconds['collect']:.1f} s")

    shown = ", ".join(f"{k}={v}" for k, v in overrides.items()) or "the agent's defaults"
    stage(2, f"training {agent} for {steps} steps ({shown}) -> {out / 'run'}")
    run_dir = out / "run"
    fuse = min(100, steps)
    every = max(fuse, steps // 2 // fuse * fuse)  # a multiple of fuse: no odd-sized chunks to compile
    tc = TrainConfig(steps=steps, seed=seed, eval_every=every, eval_episodes=10, save_every=steps,
                     log_every=min(1000, steps), fuse=fuse)
    prepare_run(agent, data_path, run_dir, tc, overrides, force=True)
    seconds["train"] = train(run_dir, progress=progress)["seconds"]

    from ethogram.evaluate.run import eval_command

    env = make_env(name.env)
    stage(3, f"evaluating {agent}: {len(env.tasks)} tasks x {EVAL_EPISODES} episodes (OGBench protocol), and a "
             f"random policy ({RANDOM_EPISODES} per task)")
    t = time.perf_counter()
    res, _ = eval_command(run_dir, episodes=EVAL_EPISODES, seed=seed, progress=progress)
    base, _ = evaluate(env, random_policy(env.action_dim, seed), RANDOM_EPISODES, seed=seed, progress=progress)
    seconds["evaluate"] = time.perf_counter() - t
    runs, results = [run_dir], {agent: res}
    if search:
        from ethogram.search.run import search as build_search

        stage(4, f"behavioural search: a cognitive graph over dataset states, {agent} driving each edge -> "
                 f"{out / 'search'}; evaluated like any agent")
        t = time.perf_counter()
        build_search(str(data_path), out / "search", controller=str(run_dir), seed=seed, force=True,
                     progress=progress)
        results["sns"], _ = eval_command(out / "search", episodes=EVAL_EPISODES, seed=seed, progress=progress)
        seconds["search"] = time.perf_counter() - t
        runs.insert(0, out / "search")

    stage(stages, "writing the report")
    from ethogram.report.html import cpu_name, preface_section, write_report

    final = results["sns"] if search else res
    names = list(results)[::-1]
    table = Table(("task", *(("sns (search over " + agent + ")") if n == "sns" else n for n in names),
                   f"random ({RANDOM_EPISODES} episodes per task)"),
                  [(k, *(f"{results[n]['tasks'][k]:.2f}" for n in names), f"{base['tasks'][k]:.2f}")
                   for k in res["tasks"]]
                  + [("mean", *(f"{results[n]['success']:.2f}" for n in names), f"{base['success']:.2f}")],
                  bold_last=True)
    summary = {"dataset": str(name), "agent": agent, "episodes": cfg.episodes, "train_steps": steps,
               "overrides": overrides, "success": final["success"], "agent_success": res["success"],
               "search_success": results["sns"]["success"] if search else None, "random_success": base["success"],
               "random_episodes_per_task": RANDOM_EPISODES, "tasks": final["tasks"],
               "seconds": {k: round(v, 1) for k, v in seconds.items()}}
    timing = ", ".join(f"{k} {v:.0f} s" for k, v in seconds.items())
    preface = preface_section(
        "The demo", [table],
        f"{agent} trained {steps} steps ({shown}) on {meta['transitions']} transitions ({cfg.episodes} episodes; "
        f"OGBench: 1000 episodes, 3x512 nets, batch 1024, 1M steps)"
        + (f"; sns: behavioural search over a graph of dataset states, {agent} as the local controller" if search
           else "") + f". Time on {cpu_name()}: {timing}.")
    with FileSet(out / "summary.json"):  # the page and its summary, committed together
        page = write_report(runs, out / "report.html", video=video, preface=preface,
                            title=f"demo: {'search over ' if search else ''}{agent} on {name}, success "
                                  f"{final['success']:.2f}")
        summary["seconds"]["total"] = round(time.perf_counter() - t0, 1)
        atomic_write_text(out / "summary.json", json_bytes(summary).decode())
    print()
    print(to_markdown(table))
    print(f"\nsuccess {final['success']:.2f}" + (f" (search agent; {agent} alone {res['success']:.2f})" if search
                                                  else "") + f", random policy {base['success']:.2f}; total "
          f"{summary['seconds']['total']:.0f} s ({timing})")
    print(f"report: {page}")
    return summary
