"""`ethogram demo`: the whole pipeline in a few minutes on 2 CPU cores, ending in an HTML report.

collect (a scaled-down OGBench dataset) -> train (small nets, few steps) -> evaluate with the OGBench protocol
(5 tasks x 50 episodes) beside a random policy -> report.html (tables, learning curves, rollouts, a video).

The default, HIQL with 2x64 nets and batch 256 on pointmaze-medium-navigate, is the fastest configuration of the
budget study (docs/results.md, "Which budget on a laptop?") to reach the published range; `--agent` and
`--dataset` choose others, each agent with the small budget of `BUDGETS`.
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
from ethogram.report.tables import success_table, to_markdown
from ethogram.rundir import prepare_run
from ethogram.train import train

DATASET = "pointmaze-medium-navigate"
AGENT = "hiql"
EPISODES = 500  # dataset episodes (OGBench: 1000 of 1001 steps)
EVAL_EPISODES = 50  # per task, as OGBench
RANDOM_EPISODES = 10  # per task for the random baseline (it never reaches a goal: 1000 steps each)

_SMALL = {"actor_hidden_dims": "64,64", "value_hidden_dims": "64,64", "batch_size": "256"}
_WIDE = {"actor_hidden_dims": "256,256", "value_hidden_dims": "256,256", "batch_size": "512"}
# Training steps and config overrides per agent: the budget study's fastest configuration of each (docs/results.md),
# BESO and HILP with the settings of their pages (docs/beso.md, docs/hilp.md).
BUDGETS: dict[str, tuple[int, dict]] = {
    "hiql": (40_000, _SMALL),
    "gcivl": (80_000, _SMALL),
    "gcbc": (40_000, _SMALL),
    "gciql": (80_000, _SMALL),
    "qrl": (40_000, _WIDE),
    "crl": (40_000, _WIDE),
    "hilp": (20_000, {**_SMALL, "lr": "2e-3", "tau": "0.05"}),
    "beso": (30_000, {}),
}


def budget(agent: str) -> tuple[int, dict]:
    if agent not in BUDGETS:
        raise EthogramError(f"the demo has no budget for agent '{agent}'.", f"choose one of: {', '.join(BUDGETS)}")
    return BUDGETS[agent]


def run_demo(out: Path, force: bool = False, episodes: int | None = None, steps: int | None = None,
             seed: int = 0, agent: str = AGENT, dataset: str = DATASET, progress: bool = True,
             video: bool | None = None) -> dict:
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
    cfg = default_config(name, seed=seed)
    if episodes is not None:
        cfg = dataclasses.replace(cfg, episodes=episodes)

    print(f"[1/4] collecting {name} ({cfg.episodes} episodes, the scripted expert) -> {out / 'data'}")
    data_path = out / "data" / f"{name}.npz"
    meta = collect_to_file(name, cfg, data_path, force=True, progress=progress)
    t_collect = time.perf_counter() - t0
    print(f"      {meta['transitions']} transitions in {t_collect:.1f} s")

    shown = ", ".join(f"{k}={v}" for k, v in overrides.items()) or "the agent's defaults"
    print(f"[2/4] training {agent} for {steps} steps ({shown}) -> {out / 'run'}")
    run_dir = out / "run"
    fuse = min(100, steps)
    every = max(fuse, steps // 4 // fuse * fuse)  # a multiple of fuse: no odd-sized chunks to compile
    tc = TrainConfig(steps=steps, seed=seed, eval_every=every, eval_episodes=10, save_every=steps,
                     log_every=min(1000, steps), fuse=fuse)
    prepare_run(agent, data_path, run_dir, tc, overrides, force=True)
    res_train = train(run_dir, progress=progress)
    t_train = res_train["seconds"]

    print(f"[3/4] evaluating: {len(make_env(name.env).tasks)} tasks x {EVAL_EPISODES} episodes (OGBench protocol),"
          f" and a random policy ({RANDOM_EPISODES} per task)")
    from ethogram.evaluate.run import eval_command

    res, text = eval_command(run_dir, episodes=EVAL_EPISODES, seed=seed, progress=progress)
    env = make_env(name.env)
    base, _ = evaluate(env, random_policy(env.action_dim, seed), RANDOM_EPISODES, seed=seed, progress=progress)
    t_eval = time.perf_counter() - t0 - t_collect - t_train

    print("[4/4] writing the report")
    from ethogram.report.html import cpu_name, preface_section, write_report

    table = to_markdown(success_table(res, base))
    summary = {"dataset": str(name), "agent": agent, "episodes": cfg.episodes, "train_steps": steps,
               "overrides": overrides, "success": res["success"], "random_success": base["success"],
               "random_episodes_per_task": RANDOM_EPISODES, "tasks": res["tasks"],
               "seconds": {"collect": round(t_collect, 1), "train": round(t_train, 1), "evaluate": round(t_eval, 1)}}
    t = summary["seconds"]
    preface = preface_section(
        "The demo", [success_table(res, base, f"random policy ({RANDOM_EPISODES} episodes per task)")],
        f"{agent} trained {steps} steps ({shown}) on {meta['transitions']} transitions ({cfg.episodes} episodes; "
        f"OGBench: 1000 episodes, 3x512 nets, batch 1024, 1M steps). Time on {cpu_name()}: collect "
        f"{t['collect']:.0f} s, train {t['train']:.0f} s, evaluate {t['evaluate']:.0f} s.")
    with FileSet(out / "summary.json"):  # the page and its summary, committed together
        page = write_report([run_dir], out / "report.html", video=video, preface=preface,
                            title=f"demo: {agent} on {name}, success {res['success']:.2f}")
        summary["seconds"]["total"] = round(time.perf_counter() - t0, 1)
        atomic_write_text(out / "summary.json", json_bytes(summary).decode())
    print()
    print(table)
    print(f"\nsuccess {res['success']:.2f} (random policy {base['success']:.2f}); total "
          f"{summary['seconds']['total']:.0f} s (collect {t_collect:.0f}, train {t_train:.0f}, evaluate {t_eval:.0f})")
    print(f"report: {page}")
    return summary
