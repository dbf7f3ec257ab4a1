"""Results records: run directories -> {agent, dataset, metric, mean, std, seeds, ...} and Markdown tables.

Every table in docs/results.md has a machine-readable twin in docs/results/*.json made by these functions.
"""

from __future__ import annotations

import json
from collections import defaultdict
from pathlib import Path

import numpy as np

from ethogram.errors import EthogramError
from ethogram.io import atomic_write_text
from ethogram.report.published import published


def run_result(run_dir: str | Path) -> dict:
    run_dir = Path(run_dir)
    try:
        cfg = json.loads((run_dir / "config.json").read_text())
        ev = json.loads((run_dir / "eval.json").read_text())
    except FileNotFoundError as e:
        raise EthogramError(f"run '{run_dir}' has no {Path(e.filename).name}.",
                            f"train and evaluate it first: ethogram eval {run_dir}") from None
    except json.JSONDecodeError as e:
        raise EthogramError(f"run '{run_dir}' has a malformed JSON file ({e}).") from None
    try:
        return {"agent": cfg["agent"], "dataset": cfg["dataset_name"].removesuffix("-v0"),
                "seed": cfg["train_config"]["seed"],
                "train_steps": ev.get("train_step") or cfg["train_config"]["steps"],
                "config": cfg["agent_config"], "success": ev["success"], "episodes": ev["episodes_per_task"]}
    except (KeyError, TypeError, AttributeError) as e:
        raise EthogramError(f"run '{run_dir}' has an incomplete config.json or eval.json (missing {e}).",
                            f"evaluate it again: ethogram eval {run_dir}") from None


def aggregate(run_dirs: list[str | Path], command: str) -> list[dict]:
    """One record per (agent, dataset, steps, config): mean and std (ddof 0) of success over seeds."""
    groups: dict[str, list[dict]] = defaultdict(list)
    for d in run_dirs:
        r = run_result(d)
        key = json.dumps([r["agent"], r["dataset"], r["train_steps"], r["config"]], sort_keys=True)
        groups[key].append(r)
    records = []
    for rs in groups.values():
        s = np.array([r["success"] for r in rs])
        r0 = rs[0]
        records.append({"agent": r0["agent"], "dataset": r0["dataset"], "metric": "success",
                        "mean": round(float(s.mean()), 4), "std": round(float(s.std()), 4),
                        "seeds": sorted(r["seed"] for r in rs), "train_steps": r0["train_steps"],
                        "eval_episodes_per_task": r0["episodes"], "config": r0["config"], "command": command})
    return sorted(records, key=lambda r: (r["dataset"], r["agent"]))


def markdown_table(records: list[dict]) -> str:
    rows = ["| dataset | agent | ours (success) | seeds | train steps | nets / batch | published (1M steps, 8 seeds) |",
            "|---|---|---|---|---|---|---|"]
    for r in records:
        pub = published(r["agent"], r["dataset"])
        c = r["config"]
        nets = "x".join(str(x) for x in c.get("actor_hidden_dims", [])) + f" / {c.get('batch_size')}"
        rows.append(f"| {r['dataset']} | {r['agent']} | {r['mean']:.2f} ± {r['std']:.2f} | {len(r['seeds'])} | "
                    f"{r['train_steps']} | {nets} | " + (f"{pub[0]:.2f} ± {pub[1]:.2f}" if pub else "n/a") + " |")
    return "\n".join(rows)


def write_records(records: list[dict], path: str | Path) -> None:
    atomic_write_text(path, json.dumps(records, indent=2) + "\n")
