"""Results records for the search agent: search runs and adaptation experiments -> docs/results/search.json.

Records follow report/results.py: {agent, dataset, metric, mean, std, seeds, ..., command}; std over seeds (ddof 0).
Agents: "sns" (no data, or with a learned controller: see `controller`), "sns-xy-roadmap" (the raw-coordinate
reference). Made by scripts/search_records.py.
"""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path

import numpy as np

from ethogram import rundir
from ethogram.errors import EthogramError
from ethogram.io import read_json
from ethogram.report.tables import Table


def _record(agent, dataset, metric, values, seeds, command, **extra) -> dict:
    v = np.asarray(values, dtype=np.float64)
    return {"agent": agent, "dataset": dataset, "metric": metric, "mean": round(float(v.mean()), 4),
            "std": round(float(v.std()), 4), "seeds": sorted(seeds), **extra, "command": command}


def read_search_run(d: str | Path) -> tuple[dict, dict, dict]:
    """(config.json, eval.json, search.json) of an evaluated search run directory, or a clear error."""
    d = Path(d)
    try:
        cfg = rundir.read_config(d)
        ev = rundir.read_eval(d, fix=f"run: ethogram eval {d}")
        st = read_json(d / "search.json", "search record", f"run ethogram search again into {d}")
    except (OSError, ValueError) as e:
        raise EthogramError(f"search run '{d}' is incomplete ({e}).", f"run: ethogram eval {d}") from None
    return cfg, ev, st


def _heldout(d: Path | None) -> dict | None:
    """Success on the held-out tasks of the run in `d` (its eval-heldout.json), or None when it has none."""
    if d is None or not (Path(d) / "eval-heldout.json").is_file():
        return None
    ev = read_json(Path(d) / "eval-heldout.json", "held-out evaluation", f"run: ethogram eval {d} --tasks heldout")
    return {"success": ev["success"], "tasks": ev["tasks"], "episodes_per_task": ev.get("episodes_per_task")}


def ledger_entry(d: str | Path) -> dict:
    """What the records need of one evaluated search run, small enough for a committed ledger: its config, eval and
    search records, and, where they were evaluated, its success on the held-out tasks and its controller's."""
    cfg, ev, st = read_search_run(d)
    keep = ("agent", "mode", "agent_config", "train_config", "env", "dataset_name", "controller_agent")
    entry = {"config": {k: cfg.get(k) for k in keep}, "eval": {k: v for k, v in ev.items() if k != "files"},
             "search": {k: v for k, v in st.items() if k != "files"}}
    held = {"eval": _heldout(Path(d)), "controller": _heldout(cfg.get("controller") and Path(cfg["controller"]))}
    if any(held.values()):
        entry["heldout"] = {k: v for k, v in held.items() if v}
    return entry


def run_records(run_dirs: list[str | Path], command: str) -> list[dict]:
    """Success, graph size and (online) steps / seconds to the first success, per (mode, dataset), over seeds."""
    return records_from_runs([read_search_run(d) for d in run_dirs], command)


PER_EPISODE = ("replans_per_episode", "search_ms_per_step", "plan_ms_per_step", "graph_nodes_after")


DEFAULT_NODES = 500  # `ethogram search --nodes`


def settings_of(mode: str, agent_config: dict, nodes: int | None = None) -> str:
    """The SNS settings a run changed from its mode's defaults (`--set`), mutate aside, and its node budget where
    it is not the default: "node_filter=0.5", "nodes=2000, node_filter=0.5" or ""."""
    import dataclasses

    from ethogram.search.run import default_config

    default = dataclasses.asdict(default_config(mode))
    changed = [f"{k}={v}" for k, v in sorted(agent_config.items())
               if k != "mutate" and k in default and v != default[k]]
    budget = [f"nodes={nodes}"] if mode != "online" and nodes not in (None, DEFAULT_NODES) else []
    return ", ".join(budget + changed)


def records_from_runs(runs: list[tuple], command: str) -> list[dict]:
    """The records of (config, eval, search[, heldout]) tuples, grouped by (agent, mode, dataset, controller,
    settings). A frozen graph (agent_config.mutate false) is agent "sns-frozen". `heldout` (a ledger entry's):
    success on the held-out tasks of the run ("eval") and of its controller alone ("controller")."""
    groups: dict[tuple, list] = defaultdict(list)
    for cfg, ev, st, *held in runs:
        agent = "sns-xy-roadmap" if cfg["mode"] == "xy-roadmap" else "sns"
        if not cfg.get("agent_config", {}).get("mutate", True):
            agent += "-frozen"
        groups[(agent, cfg["mode"], ev["dataset"].removesuffix("-v0"), cfg.get("controller_agent"),
                settings_of(cfg["mode"], cfg.get("agent_config", {}), cfg.get("train_config", {}).get("nodes")))
               ].append((cfg, ev, st, (held[0] if held else None) or {}))
    out = []
    for (agent, mode, dataset, ctrl, settings), full in sorted(groups.items()):
        rows = [r[:3] for r in full]
        seeds = [c["train_config"]["seed"] for c, _, _ in rows]
        if len(set(seeds)) < len(seeds):
            raise EthogramError(f"{agent} on {dataset}: seed {max(seeds, key=seeds.count)} is there twice.",
                                "keep one search run per seed")
        extra = {"mode": mode, "controller": None if mode == "online" else ctrl,
                 "eval_episodes_per_task": rows[0][1]["episodes_per_task"], **({"settings": settings} if settings
                                                                                else {})}
        out.append(_record(agent, dataset, "success", [e["success"] for _, e, _ in rows], seeds, command,
                           tasks=[round(float(np.mean([e["tasks"][k] for _, e, _ in rows])), 4)
                                  for k in sorted(rows[0][1]["tasks"])], **extra))
        out.append(_record(agent, dataset, "graph_nodes", [s["nodes"] for _, _, s in rows], seeds, command, **extra))
        for key, metric in (("eval", "success_heldout"), ("controller", "controller_success_heldout")):
            if all(key in r[3] for r in full):  # every seed evaluated on the held-out tasks
                ev_h = [r[3][key] for r in full]
                out.append(_record(agent, dataset, metric, [e["success"] for e in ev_h], seeds, command,
                                   tasks=[round(float(np.mean([e["tasks"][k] for e in ev_h])), 4)
                                          for k in sorted(ev_h[0]["tasks"])], **extra))
        out.append(_record(agent, dataset, "eval_episode_length", [e["mean_episode_length"] for _, e, _ in rows],
                           seeds, command, **extra))
        if mode == "learned":
            out.append(_record(agent, dataset, "graph_build_seconds", [s["seconds"] for _, _, s in rows], seeds,
                               command, **extra))
        for key in PER_EPISODE:
            if all(key in e for _, e, _ in rows):
                out.append(_record(agent, dataset, key, [e[key] for _, e, _ in rows], seeds, command, **extra))
        if mode == "online":
            for key in ("steps_to_first_success", "seconds_to_first_success"):
                per_seed, solved = [], 0
                for _, _, s in rows:
                    vals = [s[f"task{k}"][key] for k in range(1, 6)]
                    solved += sum(v is not None for v in vals)
                    per_seed.append(np.mean([v for v in vals if v is not None]) if any(v is not None for v in vals)
                                    else np.nan)
                out.append(_record(agent, dataset, f"{key} (mean over tasks)", per_seed, seeds, command,
                                   tasks_solved=f"{solved}/{5 * len(rows)}", budget_per_task=rows[0][0][
                                       "train_config"]["steps"], **extra))
    return out


SUFFIX = {"block": "blocked", "move-goal": "goal-moved"}


def adaptation_records(paths: list[str | Path], command: str) -> list[dict]:
    """Steps to re-solve after the block, per agent (mutate / frozen / fresh): mean over tasks, then over seeds;
    a task not re-solved within the budget counts as the budget (and is counted in `unsolved`)."""
    rows = [read_json(p, "adaptation record", "run scripts/search_adapt.py again") for p in paths]
    out = []
    for maze, change in sorted({(r["maze"], r.get("change", "block")) for r in rows}):
        sel = [r for r in rows if r["maze"] == maze and r.get("change", "block") == change]
        for name in ("mutate", "frozen", "fresh"):
            per_seed, unsolved = [], 0
            for r in sel:
                steps = [t[name]["steps_to_first_success"] for t in r["tasks"]]
                unsolved += sum(s is None for s in steps)
                per_seed.append(np.mean([r["budget"] if s is None else s for s in steps]))
            out.append(_record(f"sns-{name}", f"pointmaze-{maze}-{SUFFIX[change]}",
                               "steps_to_resolve (mean over tasks)", per_seed, [r["seed"] for r in sel], command,
                               unsolved=f"{unsolved}/{5 * len(sel)}", budget=sel[0]["budget"]))
    return out


def search_tables(records: list[dict]) -> list[Table]:
    """Two tables: success / graph / episode length / first success per (agent, mode, dataset); adaptation."""
    keyed: dict[tuple, dict] = defaultdict(dict)
    for r in records:
        if r["metric"].startswith("steps_to_resolve"):
            continue
        keyed[(r["dataset"], r["agent"], r.get("mode"), r.get("controller"))][r["metric"].split(" ")[0]] = r
    rows = []
    for (dataset, agent, mode, ctrl), m in sorted(keyed.items(), key=lambda kv: (kv[0][2] != "online", kv[0][0],
                                                                                  kv[0][1])):
        f = lambda k, d=2, m=m: f"{m[k]['mean']:.{d}f} ± {m[k]['std']:.{d}f}" if k in m else "n/a"
        first = (f"{f('steps_to_first_success', 0)} ({m['steps_to_first_success']['tasks_solved']})"
                 if "steps_to_first_success" in m else "0 (graph from data)")
        who = f"{agent} ({mode}" + (f", {ctrl})" if ctrl else ")")
        rows.append((dataset, who, f("success"), f("graph_nodes", 0), f("eval_episode_length", 0), first,
                     f("seconds_to_first_success", 1), len(m["success"]["seeds"])))
    out = [Table(("dataset", "agent (mode, controller)", "success", "graph nodes", "eval episode length",
                  "env steps to first success (tasks solved)", "seconds to first success", "seeds"), rows)]
    adapt = [r for r in records if r["metric"].startswith("steps_to_resolve")]
    if adapt:
        out.append(Table(("maze", "agent", "env steps to re-solve (mean over tasks)", "not re-solved", "budget",
                          "seeds"),
                         [(r["dataset"], r["agent"], f"{r['mean']:.0f} ± {r['std']:.0f}", r["unsolved"], r["budget"],
                           len(r["seeds"])) for r in adapt]))
    return out
