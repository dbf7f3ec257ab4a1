"""Results records: run directories -> {agent, dataset, metric, mean, std, seeds, ...} and Markdown tables.

Every table in docs/results.md has a machine-readable twin in docs/results/*.json made by these functions.
"""

from __future__ import annotations

import json
from collections import defaultdict
from pathlib import Path

import numpy as np

from ethogram import rundir
from ethogram.errors import EthogramError
from ethogram.io import atomic_write_text
from ethogram.report.published import published
from ethogram.report.tables import Table


def run_evaluations(run_dir: str | Path) -> dict[int, float]:
    """Success at every evaluated training step of a run: the periodic evaluations (evals.csv) and the final one
    (eval.json, when it exists)."""
    run_dir = Path(run_dir)
    out: dict[int, float] = {}
    try:
        out = {int(r["step"]): float(r["success"]) for r in rundir.csv_rows(run_dir / "evals.csv")}
    except (ValueError, KeyError, TypeError) as e:
        raise EthogramError(f"run '{run_dir}' has a malformed evals.csv ({e}).") from None
    if (run_dir / "eval.json").exists():
        ev = rundir.read_eval(run_dir)
        step = ev.get("train_step") or rundir.read_config(run_dir)["train_config"]["steps"]
        out[int(step)] = float(ev["success"])
    return out


def _last_evals(run_dir: Path, final_step: int, k: int) -> list[float]:
    """Success of the last k - 1 periodic evaluations before `final_step` (evals.csv), oldest first."""
    path = run_dir / "evals.csv"
    if k <= 1 or not path.exists():
        return []
    try:
        rows = [(int(r["step"]), float(r["success"])) for r in rundir.csv_rows(path)]
    except (ValueError, KeyError, TypeError) as e:
        raise EthogramError(f"run '{run_dir}' has a malformed evals.csv ({e}).") from None
    return [v for step, v in sorted(rows) if step < final_step][-(k - 1):]


def run_result(run_dir: str | Path, eval_file: str = "eval.json", last_evals: int = 1) -> dict:
    """One run's record. `last_evals` = k > 1: success is the mean of the final evaluation and the k - 1
    periodic ones before it (OGBench's protocol: k = 3, the evaluations at 800k, 900k and 1M steps)."""
    run_dir = Path(run_dir)
    ev = rundir.read_eval(run_dir, eval_file, f"train and evaluate it first: ethogram eval {run_dir}")
    cfg = rundir.read_config(run_dir)
    try:
        out = {"agent": ev.get("agent", cfg["agent"]), "dataset": cfg["dataset_name"].removesuffix("-v0"),
               "seed": cfg["train_config"]["seed"],
               "train_steps": ev.get("train_step") or cfg["train_config"]["steps"],
               # act settings of `ethogram eval --set` (BESO's sampler, steps, guidance) are part of the config
               "config": {**cfg["agent_config"], **(ev.get("act_settings") or {})},
               "episodes": ev["episodes_per_task"],
               # Evaluations name their metrics; files written before that hold success alone.
               "metrics": dict(ev.get("metrics") or {"success": ev["success"]})}
    except (KeyError, TypeError, AttributeError, ValueError) as e:
        raise EthogramError(f"run '{run_dir}' has an incomplete config.json or eval.json (missing {e}).",
                            f"evaluate it again: ethogram eval {run_dir}") from None
    earlier = _last_evals(run_dir, int(out["train_steps"]), last_evals)  # periodic evaluations record success
    out["evals_averaged"] = 1 + len(earlier)
    if "success" in out["metrics"]:
        out["metrics"]["success"] = float(np.mean([*earlier, out["metrics"]["success"]]))
    out["success"] = out["metrics"].get("success")
    return out


def aggregate(run_dirs: list[str | Path], command: str, eval_file: str = "eval.json",
              last_evals: int = 1) -> list[dict]:
    """One record per (agent, dataset, steps, config) and metric: mean and std (ddof 0) over seeds.

    `eval_file` picks the evaluation: eval.json (goal prompts) or eval-plan.json (HILP-Plan, agent "hilp-plan").
    `last_evals`: each seed's success averages its last evaluations (see `run_result`).
    """
    if last_evals < 1:
        raise EthogramError(f"--last-evals must be at least 1 (got {last_evals}).")
    groups: dict[str, list[dict]] = defaultdict(list)
    for d in run_dirs:
        r = run_result(d, eval_file, last_evals)
        key = json.dumps([r["agent"], r["dataset"], r["train_steps"], r["config"]], sort_keys=True)
        groups[key].append(r)
    records = []
    for rs in groups.values():
        r0 = rs[0]
        names = [m for m in r0["metrics"] if all(m in r["metrics"] for r in rs)]
        for metric in names:
            s = np.array([float(r["metrics"][metric]) for r in rs])
            records.append({"agent": r0["agent"], "dataset": r0["dataset"], "metric": metric,
                            "mean": round(float(s.mean()), 4), "std": round(float(s.std()), 4),
                            "seeds": sorted(r["seed"] for r in rs), "train_steps": r0["train_steps"],
                            "eval_episodes_per_task": r0["episodes"],
                            "evals_averaged": min(r["evals_averaged"] for r in rs) if metric == "success" else 1,
                            "config": r0["config"], "command": command})
    return sorted(records, key=lambda r: (r["dataset"], r["agent"], r["metric"] != "success", r["metric"]))


def results_table(records: list[dict]) -> Table:
    """One row per record: ours (mean ± std over seeds, with its metric) beside the published number."""
    rows = []
    for r in records:
        pub = published(r["agent"], r["dataset"]) if r.get("metric", "success") == "success" else None
        c = r["config"]
        nets = "x".join(str(x) for x in c.get("actor_hidden_dims", [])) + f" / {c.get('batch_size')}"
        rows.append((r["dataset"], r["agent"], r.get("metric", "success"), f"{r['mean']:.2f} ± {r['std']:.2f}",
                     len(r["seeds"]), r["train_steps"], nets, f"{pub[0]:.2f} ± {pub[1]:.2f}" if pub else "n/a"))
    return Table(("dataset", "agent", "metric", "ours", "seeds", "train steps", "nets / batch",
                  "published (1M steps, 8 seeds)"), rows)


def write_records(records: list[dict], path: str | Path) -> None:
    atomic_write_text(path, json.dumps(records, indent=2) + "\n")


def is_prompt_eval(eval_file: str) -> bool:
    """Whether an evaluation file holds reward or demonstration prompts (eval-reward*.json, eval-demo*.json)."""
    return is_reward_eval(eval_file) or eval_file.startswith("eval-demo")


def is_reward_eval(eval_file: str) -> bool:
    return eval_file.startswith("eval-reward")


def aggregate_prompts(run_dirs: list[str | Path], command: str, eval_file: str) -> list[dict]:
    """Records of reward prompts (eval-reward*.json: returns of the agent, random and the reference per task) or
    demonstration prompts (eval-demo*.json: fidelity of the agent and random per demonstration), over seeds. A
    reward file's task that was answered but not scored (evaluate/prompts.py) has no returns to aggregate."""
    groups: dict[tuple, list[float]] = defaultdict(list)
    seeds: dict[tuple, list[int]] = defaultdict(list)
    meta: dict[tuple, dict] = {}
    for d in run_dirs:
        d = Path(d)
        try:
            cfg = rundir.read_config(d)
            ev = rundir.read_eval(d, eval_file, f"evaluate it first: ethogram eval {d} --prompt "
                                  f"{'reward:all' if is_reward_eval(eval_file) else 'demo:all'}")
            tasks = ev["tasks"]
        except (KeyError, TypeError) as e:
            raise EthogramError(f"run '{d}' has a malformed {eval_file} ({e}).") from None
        dataset = cfg["dataset_name"].removesuffix("-v0")
        for task, r in tasks.items():
            if is_reward_eval(eval_file):
                values = {f"return/{who}": r[who]["return_mean"]
                          for who in ("agent", "random", "reference") if who in r and r.get("scored", True)}
            else:
                values = {f"{m}/{who}": (r[m] if who == "agent" else r["random"][m])["mean"]
                          for m in ("cells_in_order", "mean_distance", "final_distance") for who in ("agent", "random")}
            for metric, v in values.items():
                key = (cfg["agent"], dataset, task, metric, ev.get("train_step"))
                groups[key].append(float(v))
                seeds[key].append(cfg["train_config"]["seed"])
                meta[key] = {"config": cfg["agent_config"], "episodes": r.get("episodes"),
                             "feature": r.get("feature"), "method": ev.get("method")}
    records = []
    for key, vs in groups.items():
        agent, dataset, task, metric, step = key
        rec = {"agent": agent, "dataset": dataset, "task": task, "metric": metric,
               "mean": round(float(np.mean(vs)), 4), "std": round(float(np.std(vs)), 4),
               "seeds": sorted(seeds[key]), "train_steps": step, "episodes": meta[key]["episodes"]}
        rec.update({k: meta[key][k] for k in ("feature", "method") if meta[key][k]})
        records.append({**rec, "config": meta[key]["config"], "command": command})
    return sorted(records, key=lambda r: (r["dataset"], r["task"], r["metric"]))


def prompt_table(records: list[dict]) -> Table:
    """One row per (dataset, task): the agent beside random (and the scripted reference for rewards)."""
    rows: dict[tuple, dict] = defaultdict(dict)
    for r in records:
        rows[(r["dataset"], r["task"])][r["metric"]] = f"{r['mean']:.2f} ± {r['std']:.2f}"
    metrics = sorted({r["metric"] for r in records}, key=lambda m: (m.split("/")[0], m.split("/")[1] != "agent"))
    return Table(("dataset", "task", *metrics),
                 [(dataset, task, *(v.get(m, "n/a") for m in metrics)) for (dataset, task), v in sorted(rows.items())])
