"""Records of scripts/heldout_results.sh: success on the published and on the held-out tasks, mean ± std over seeds.

    python scripts/heldout_records.py runs/heldout --out docs/results/heldout.json --command "..." [--merge]

One record per (dataset, agent, task set) with what makes it comparable: the dataset's name, size and content hash,
the controller's budget, the evaluation (task set and cells, episodes per task, episode seed), the seeds, and what
the ± covers. Prints the Markdown table of docs/results.md.
"""

from __future__ import annotations

import argparse
import json
from collections import defaultdict
from pathlib import Path

import numpy as np


def _json(path: Path) -> dict:
    return json.loads(path.read_text())


def _dataset(cfg: dict) -> dict:
    """Name, size and content hash of the dataset a run (or a search run's controller) was trained on."""
    if cfg.get("dataset") and Path(cfg["dataset"]).is_file():
        meta = Path(cfg["dataset"]).with_suffix(".json")
        record = _json(meta) if meta.is_file() else {}
        files = record.get("files", {})
        return {"name": cfg["dataset_name"], "transitions": record.get("transitions"),
                "episodes": record.get("train_episodes"), "sha256": files.get(Path(cfg["dataset"]).name)}
    return {"name": cfg["dataset_name"]}


def run_record(run: Path) -> list[dict]:
    cfg = _json(run / "config.json")
    out = []
    for name in ("eval.json", "eval-heldout.json"):
        if not (run / name).is_file():
            continue
        ev = _json(run / name)
        if cfg["agent"] == "sns":
            mode = cfg["mode"]
            ctrl = _json(Path(cfg["controller"]) / "config.json") if cfg.get("controller") else None
            agent = f"sns ({mode}, {ctrl['agent']})" if ctrl else f"sns ({mode})"
            seed = cfg["train_config"]["seed"]
            budget = ({"controller_steps": ctrl["train_config"]["steps"],
                       "controller_batch": ctrl["agent_config"]["batch_size"],
                       "controller_nets": ctrl["agent_config"]["actor_hidden_dims"],
                       "controller_seed": ctrl["train_config"]["seed"], "graph_nodes": ev.get("graph_nodes_before")}
                      if ctrl else {"online_steps_per_task": cfg["train_config"]["steps"]})
            dataset = _dataset(ctrl) if ctrl else {"name": cfg["dataset_name"]}
            practice = (cfg.get("practice_tasks") or {}).get("task_set")
        else:
            agent, seed, practice = cfg["agent"], cfg["train_config"]["seed"], None
            budget = {"steps": cfg["train_config"]["steps"], "batch": cfg["agent_config"]["batch_size"],
                      "nets": cfg["agent_config"]["actor_hidden_dims"]}
            dataset = _dataset(cfg)
        out.append({"agent": agent, "dataset": cfg["dataset_name"].removesuffix("-v0"), "seed": seed,
                    "task_set": ev.get("task_set", "published"), "task_cells": ev.get("task_cells"),
                    "practice": practice, "success": float(ev["success"]), "episodes": ev["episodes_per_task"],
                    "eval_seed": ev.get("eval_seed", 0), "budget": budget, "dataset_info": dataset})
    return out


def covers(agent: str) -> str:
    if agent == "hilp":
        return "training seeds (one HILP run per seed) and episode noise"
    if agent.startswith("sns (learned"):
        return "seeds of the controller's training, the graph's sampling and the episodes (one controller per seed)"
    return "seeds of the online search (its practice episodes) and the evaluation episodes"


def _budget(rows: list[dict]) -> dict:
    """The budget the seeds share; what differs per seed (the graph's size) as a list in seed order. The
    controller's seed is the row's seed, listed in `seeds`."""
    rows = sorted(rows, key=lambda r: r["seed"])
    out = {}
    for k in rows[0]["budget"]:
        if k == "controller_seed":
            continue
        values = [r["budget"].get(k) for r in rows]
        if all(v == values[0] for v in values):
            out[k] = values[0]
        else:
            out[f"{k}_per_seed"] = values
    return out


def aggregate(rows: list[dict], command: str) -> list[dict]:
    groups: dict[tuple, list[dict]] = defaultdict(list)
    for r in rows:
        groups[(r["dataset"], r["agent"], r["practice"], r["task_set"])].append(r)
    records = []
    for (dataset, agent, practice, task_set), rs in sorted(groups.items(), key=lambda kv: tuple(map(str, kv[0]))):
        seeds = sorted(r["seed"] for r in rs)
        if len(set(seeds)) != len(seeds):
            raise SystemExit(f"{dataset} {agent} {task_set}: seeds {seeds} repeat; one run per seed")
        s = np.array([r["success"] for r in rs])
        rec = {"agent": agent, "dataset": dataset, "metric": "success", "task_set": task_set,
               "mean": round(float(s.mean()), 4), "std": round(float(s.std()), 4), "seeds": seeds,
               "per_seed": [round(float(v), 4) for v in s], "std_covers": covers(agent),
               "eval_episodes_per_task": rs[0]["episodes"], "eval_seed": rs[0]["eval_seed"],
               "task_cells": rs[0]["task_cells"], "budget": _budget(rs), "dataset_info": rs[0]["dataset_info"],
               "command": command}
        if practice:
            rec["practice_tasks"] = practice
        records.append(rec)
    return records


def _key(record: dict) -> tuple:
    return record["dataset"], record["agent"], record.get("practice_tasks"), record["task_set"]


def table(records: list[dict]) -> str:
    cells: dict[tuple, dict] = defaultdict(dict)
    for r in records:
        label = r["agent"] + (f", practised on {r['practice_tasks']}" if r.get("practice_tasks") else "")
        cells[(r["dataset"], label)][r["task_set"]] = (f"{r['mean']:.2f} ± {r['std']:.2f}", len(r["seeds"]))
    lines = ["| dataset | agent | published tasks | held-out tasks | seeds |", "|---|---|---|---|---|"]
    for (dataset, label), v in sorted(cells.items()):
        pub, held = v.get("published", ("n/a", 0)), v.get("heldout", ("n/a", 0))
        lines.append(f"| {dataset} | {label} | {pub[0]} | {held[0]} | {max(pub[1], held[1])} |")
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("root")
    ap.add_argument("--out", required=True)
    ap.add_argument("--command", default="scripts/heldout_results.sh")
    ap.add_argument("--merge", action="store_true",
                    help="keep the records of --out that the runs under ROOT do not replace (same dataset, agent, "
                         "practice tasks and task set), so part of the grid can be run again on its own")
    args = ap.parse_args()
    rows = [r for cfg in sorted(Path(args.root).rglob("config.json")) for r in run_record(cfg.parent)]
    records = aggregate(rows, args.command)
    if args.merge and Path(args.out).is_file():
        new = {_key(r) for r in records}
        records = sorted([r for r in json.loads(Path(args.out).read_text()) if _key(r) not in new] + records,
                         key=lambda r: tuple(map(str, _key(r))))
    Path(args.out).write_text(json.dumps(records, indent=2) + "\n")
    print(table(records))


if __name__ == "__main__":
    main()
