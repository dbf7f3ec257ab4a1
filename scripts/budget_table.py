"""The 30-minute budget tables: runs of scripts/reproduce_budget.sh -> Markdown (stdout), JSON records and a plot.

Training steps become wall-clock minutes through each agent's steps/s on both cores of an idle machine at the
run's size (`python -m benchmarks.bench_agents` at that width and batch). "Within 30 minutes" is the evaluation at the
largest evaluated step that fits in 30 minutes (the final one, or a periodic one from evals.csv); evaluation
time is not counted (one full evaluation takes 5-15 s).

Several configurations (`--config NAME=RUNS_DIR:RATES_JSON`, repeatable; the first is the main table's) answer
"which reduced configuration gets closest to the published number fastest": for each, the mean success over
seeds at every evaluated step, its minutes, and the first minute at which the mean reaches the published mean
minus one published standard deviation (one-sided: a mean above the published band counts).

Run directories are git-ignored and need not survive (a fresh clone, another machine), so every finished run's
evaluations go into a committed ledger (`--ledger`, docs/results/budget-runs.json: one entry per configuration,
dataset, agent and seed) and the tables are built from the ledger, not from whatever runs happen to be on disk. A
grid can so be finished by separate invocations, on different machines. The ledger's `aggregates` hold curves whose
per-seed evaluations were not kept; a key with per-seed entries ignores its aggregate.

Usage: .venv/bin/python scripts/budget_table.py [--config ...] [--ledger docs/results/budget-runs.json]
           [--json docs/results/budget.json] [--configs-json docs/results/budget-configs.json]
           [--plot docs/results/budget_curves.png] [--docs docs/results.md]
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ethogram.io import atomic_write_text
from ethogram.report.curves import plot_budget_grid
from ethogram.report.published import published
from ethogram.report.results import run_evaluations

REPO = Path(__file__).resolve().parents[1]
AGENTS = ("gcbc", "gcivl", "gciql", "qrl", "crl", "hiql")
DEFAULT_CONFIGS = ("2x256/b512=runs/budget:benchmarks/results/agents-256x2-b512.json",  # scripts/reproduce_budget.sh
                   "2x64/b256=runs/budget-64x2:benchmarks/results/agents-64x2-b256.json",  # scripts/budget_configs.sh
                   "2x64/b256/200k=runs/budget-64x2-200k:benchmarks/results/agents-64x2-b256.json")
# The same budget on a slower 2-core machine (AMD EPYC Zen 3, AVX2 only; the rates above: Zen 4 with AVX-512).
DEFAULT_MACHINES = ("an AVX2 machine=benchmarks/results/agents-256x2-b512-avx2.json",)
DEFAULT_LEDGER = REPO / "docs" / "results" / "budget-runs.json"
COMMAND = "scripts/reproduce_budget.sh && .venv/bin/python scripts/budget_table.py"
MAZES = ("medium", "large", "giant", "teleport")
KINDS = ("navigate", "stitch")


def dataset_order(name: str) -> tuple[int, int, str]:
    """pointmaze-medium-navigate < -medium-stitch < -large-navigate < ... (unknown names last, alphabetically)."""
    parts = name.split("-")
    maze = MAZES.index(parts[1]) if len(parts) > 2 and parts[1] in MAZES else len(MAZES)
    kind = KINDS.index(parts[2]) if len(parts) > 2 and parts[2] in KINDS else len(KINDS)
    return maze, kind, name


def read_rates(path: str) -> dict[str, float]:
    """A benchmarks.bench_agents JSON -> float32 steps/s per agent."""
    bench = json.loads((REPO / path).read_text())["results"]
    return {r["agent"]: r["ethogram"]["float32"]["steps_per_s"] for r in bench}


def parse_config(spec: str) -> tuple[str, Path, dict[str, float]]:
    """'NAME=RUNS_DIR:RATES_JSON' -> (name, runs dir, float32 steps/s per agent)."""
    name, _, rest = spec.partition("=")
    runs, _, rates = rest.rpartition(":")
    if not (name and runs and rates):
        sys.exit(f"error: --config '{spec}' is not NAME=RUNS_DIR:RATES_JSON")
    return name, REPO / runs, read_rates(rates)


def parse_rates(spec: str) -> tuple[str, dict[str, float]]:
    """'LABEL=RATES_JSON' -> (label, float32 steps/s per agent)."""
    label, _, rates = spec.partition("=")
    if not (label and rates):
        sys.exit(f"error: --machine '{spec}' is not LABEL=RATES_JSON")
    return label, read_rates(rates)


# ------------------------------------------------------------------------------------------------ the ledger

def load_ledger(path: Path) -> dict:
    if not path.exists():
        return {"runs": [], "aggregates": []}
    ledger = json.loads(path.read_text())
    if not isinstance(ledger, dict) or not isinstance(ledger.get("runs"), list):
        sys.exit(f"error: {path} is not a budget ledger (a JSON object with a 'runs' list); "
                 "move it away to start a new one")
    ledger.setdefault("aggregates", [])
    return ledger


def run_entry(configuration: str, run: Path) -> dict:
    """One finished run as a ledger entry: its success at every evaluated step and its final per-task success."""
    cfg = json.loads((run / "config.json").read_text())
    final = json.loads((run / "eval.json").read_text())
    return {"configuration": configuration, "dataset": run.parent.name, "agent": cfg["agent"],
            "seed": cfg["train_config"]["seed"], "train_steps": cfg["train_config"]["steps"],
            "success": {str(s): v for s, v in sorted(run_evaluations(run).items())},
            "final_tasks": final.get("tasks"), "config": cfg["agent_config"]}


def update_ledger(ledger: dict, configs) -> int:
    """Add (or replace) an entry for every finished run under each configuration's runs dir; returns how many."""
    index = {(e["configuration"], e["dataset"], e["agent"], e["seed"]): i for i, e in enumerate(ledger["runs"])}
    n = 0
    for name, runs_dir, _ in configs:
        for run in sorted(runs_dir.glob("*/*-s*")):
            if run.is_dir() and (run / "eval.json").exists() and (run / "config.json").exists():
                entry = run_entry(name, run)
                key = (name, entry["dataset"], entry["agent"], entry["seed"])
                if key in index:
                    ledger["runs"][index[key]] = entry
                else:
                    index[key] = len(ledger["runs"])
                    ledger["runs"].append(entry)
                n += 1
    ledger["runs"].sort(key=lambda e: (e["configuration"], dataset_order(e["dataset"]), e["agent"], e["seed"]))
    return n


def missing(ledger: dict, configuration: str, dataset: str, agent: str, seeds: list[int]) -> list[int]:
    """The seeds of a grid cell that the ledger lacks. As in `curves_of`, per-seed entries outrank an aggregate,
    which stands for the whole cell only where the cell has none."""
    key = (configuration, dataset, agent)
    done = {e["seed"] for e in ledger["runs"] if (e["configuration"], e["dataset"], e["agent"]) == key}
    if not done and any((a["configuration"], a["dataset"], a["agent"]) == key for a in ledger["aggregates"]):
        return []
    return [s for s in seeds if s not in done]


@dataclass(frozen=True)
class Curve:
    """Success over seeds at the training steps every seed was evaluated at."""

    steps: np.ndarray
    mean: np.ndarray
    std: np.ndarray
    seeds: list[int]
    config: dict

    def within(self, rate: float, minutes: float) -> int:
        """Index of the largest evaluated step that fits in the budget (the first one if none does)."""
        fits = np.nonzero(self.steps <= minutes * 60 * rate)[0]
        return int(fits[-1]) if len(fits) else 0


def curves_of(ledger: dict) -> dict[tuple[str, str, str], Curve]:
    """(configuration, dataset, agent) -> its curve, from the per-seed entries, else from an aggregate."""
    groups: dict[tuple[str, str, str], list[dict]] = {}
    for e in ledger["runs"]:
        groups.setdefault((e["configuration"], e["dataset"], e["agent"]), []).append(e)
    curves = {}
    for key, entries in groups.items():
        steps = sorted(set.intersection(*({int(s) for s in e["success"]} for e in entries)))
        success = np.array([[e["success"][str(s)] for s in steps] for e in entries])
        curves[key] = Curve(np.array(steps), success.mean(axis=0), success.std(axis=0),
                            [e["seed"] for e in entries], entries[0]["config"])
    for a in ledger["aggregates"]:
        key = (a["configuration"], a["dataset"], a["agent"])
        if key not in curves:
            curves[key] = Curve(np.array(a["steps"]), np.array(a["success_mean"]), np.array(a["success_std"]),
                                list(a["seeds"]), a["config"])
    return curves


# ------------------------------------------------------------------------------------------------ tables

def _pub(pub) -> str:
    return f"{pub[0]:.2f} ± {pub[1]:.2f}" if pub else "n/a"


def _steps(n: int) -> str:
    return f"{n // 1000}k" if n and n % 1000 == 0 else str(n)


def cell_order(cell: tuple[str, str]) -> tuple:
    """(dataset, agent) in table order: datasets as dataset_order, agents as AGENTS (unknown ones last)."""
    return dataset_order(cell[0]), AGENTS.index(cell[1]) if cell[1] in AGENTS else len(AGENTS)


def keys_of(curves: dict, name: str) -> list[tuple[str, str]]:
    """(dataset, agent) pairs a configuration has, in table order."""
    return sorted({(d, a) for c, d, a in curves if c == name}, key=cell_order)


def main_table(name: str, rates: dict[str, float], curves: dict, minutes: float,
               machines: tuple[tuple[str, dict[str, float]], ...] = ()) -> tuple[list[str], list]:
    """The first configuration's table; `machines` (label, rates) add the same budget on other machines."""
    rows = [f"| dataset | agent | success at the last step within {minutes:g} min | steps (minutes on 2 cores) | "
            + "".join(f"within {minutes:g} min on {label} (steps) | " for label, _ in machines)
            + "seeds | published (1M steps, 3x512, 8 seeds) |",
            "|---|---|---|---|" + "---|" * len(machines) + "---|---|"]
    records = []
    for ds, agent in keys_of(curves, name):
        c = curves[(name, ds, agent)]
        i = c.within(rates[agent], minutes)
        step, mins, pub = int(c.steps[i]), c.steps[i] / rates[agent] / 60, published(agent, ds)
        others = []
        for label, r in machines:
            j = c.within(r[agent], minutes)
            others.append({"machine": label, "steps_per_s_2_cores": r[agent], "train_steps": int(c.steps[j]),
                           "minutes_on_2_cores": round(float(c.steps[j] / r[agent] / 60), 2),
                           "mean": round(float(c.mean[j]), 4), "std": round(float(c.std[j]), 4)})
        rows.append(f"| {ds} | {agent} | {c.mean[i]:.2f} ± {c.std[i]:.2f} | {step} ({mins:.1f} min) | "
                    + "".join(f"{o['mean']:.2f} ± {o['std']:.2f} ({_steps(o['train_steps'])}) | " for o in others)
                    + f"{len(c.seeds)} | {_pub(pub)} |")
        records.append({"agent": agent, "dataset": ds, "metric": "success", "configuration": name,
                        "mean": round(float(c.mean[i]), 4), "std": round(float(c.std[i]), 4), "seeds": c.seeds,
                        "train_steps": step, "minutes_on_2_cores": round(float(mins), 2),
                        "steps_per_s_2_cores": rates[agent], "budget_minutes": minutes, "config": c.config,
                        "published": list(pub) if pub else None, "other_machines": others, "command": COMMAND})
    return rows, records


def compare(configs, curves: dict, minutes: float) -> tuple[list[str], list, dict]:
    """One row per dataset, agent and configuration; curves for the plot."""
    rows = [f"| dataset | agent | configuration | success at the last step within {minutes:g} min | its minutes | "
            "first minute ≥ published mean − 1 std | seeds | published |", "|---|---|---|---|---|---|---|---|"]
    records, plotted = [], {}
    names = [name for name, _, _ in configs]
    pairs = sorted({k for name in names for k in keys_of(curves, name)}, key=cell_order)
    for ds, agent in pairs:
        pub = published(agent, ds)
        for name, _, rates in configs:
            c = curves.get((name, ds, agent))
            if c is None:
                continue
            mins = c.steps / rates[agent] / 60
            plotted.setdefault((ds, agent), []).append((name, mins, c.mean, c.std))
            i = c.within(rates[agent], minutes)
            reach = None
            if pub:
                hit = np.nonzero(c.mean >= pub[0] - pub[1])[0]
                reach = float(mins[hit[0]]) if len(hit) else None
            rows.append(f"| {ds} | {agent} | {name} | {c.mean[i]:.2f} ± {c.std[i]:.2f} | {mins[i]:.1f} | "
                        + (f"{reach:.1f}" if reach is not None else f"not by {mins[i]:.1f}")
                        + f" | {len(c.seeds)} | {_pub(pub)} |")
            records.append({"agent": agent, "dataset": ds, "configuration": name, "steps": c.steps.tolist(),
                            "minutes_on_2_cores": np.round(mins, 2).tolist(),
                            "success_mean": np.round(c.mean, 4).tolist(),
                            "success_std": np.round(c.std, 4).tolist(), "seeds": len(c.seeds),
                            "within_budget_mean": round(float(c.mean[i]), 4),
                            "within_budget_std": round(float(c.std[i]), 4),
                            "first_minute_within_published_std": reach,
                            "published": list(pub) if pub else None, "config": c.config})
    return rows, records, plotted


def plot(curves: dict, path: Path, minutes: float) -> None:
    """The grid of budget curves (report/curves.py), one row per dataset and one column per agent."""
    datasets = sorted({k[0] for k in curves}, key=dataset_order)
    agents = [a for a in AGENTS if any(k[1] == a for k in curves)]
    plot_budget_grid(curves, path, minutes, datasets, agents)


def put_in_docs(doc: Path, name: str, table: str) -> None:
    """Replace the lines between `<!-- budget-table:NAME -->` and `<!-- /budget-table:NAME -->` in `doc`."""
    text = doc.read_text()
    start, end = f"<!-- budget-table:{name} -->", f"<!-- /budget-table:{name} -->"
    if start not in text or end not in text:
        sys.exit(f"error: {doc} has no {start} ... {end} block to write the table into")
    head, rest = text.split(start, 1)
    doc.write_text(f"{head}{start}\n{table}\n{end}{rest.split(end, 1)[1]}")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--config", action="append",
                   help="NAME=RUNS_DIR:RATES_JSON, repeatable (default: " + ", ".join(DEFAULT_CONFIGS) + ")")
    p.add_argument("--ledger", default=str(DEFAULT_LEDGER),
                   help="the committed per-run evaluations the tables are built from; finished runs are added")
    p.add_argument("--json", default=str(REPO / "docs" / "results" / "budget.json"))
    p.add_argument("--configs-json", default=str(REPO / "docs" / "results" / "budget-configs.json"))
    p.add_argument("--plot", default=str(REPO / "docs" / "results" / "budget_curves.png"))
    p.add_argument("--machine", action="append",
                   help="LABEL=RATES_JSON, repeatable: the main table's budget on another machine, as a column "
                        "(default: " + ", ".join(DEFAULT_MACHINES) + ")")
    p.add_argument("--minutes", type=float, default=30.0)
    p.add_argument("--docs", help="also write the tables into this Markdown file's budget-table blocks")
    p.add_argument("--todo", metavar="NAME:DATASETS:AGENTS:SEEDS",
                   help="print 'DATASET AGENT SEEDS' for each grid cell of configuration NAME with seeds that "
                        "neither the ledger nor a finished run on disk has, and write nothing (the grid scripts "
                        "run only those)")
    a = p.parse_args(argv)
    configs = [parse_config(c) for c in (a.config or DEFAULT_CONFIGS)]
    ledger_path = Path(a.ledger)
    ledger = load_ledger(ledger_path)
    added = update_ledger(ledger, configs)
    if a.todo:
        name, datasets, agents, seeds = (a.todo.split(":") + ["", "", ""])[:4]
        if not (name and datasets and agents and seeds):
            sys.exit(f"error: --todo '{a.todo}' is not NAME:DATASETS:AGENTS:SEEDS "
                     "(e.g. 2x256/b512:pointmaze-medium-stitch:gcivl,qrl:0,1,2)")
        for ds in datasets.replace(",", " ").split():
            for agent in agents.split(","):
                todo = missing(ledger, name, ds, agent, [int(x) for x in seeds.split(",")])
                if todo:
                    print(ds, agent, ",".join(map(str, todo)))
        return 0
    ledger_path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(ledger_path, json.dumps(ledger, indent=1) + "\n")
    print(f"{ledger_path}: {added} finished runs on disk, {len(ledger['runs'])} in the ledger", file=sys.stderr)
    curves = curves_of(ledger)
    name, _, rates = configs[0]
    machines = tuple(parse_rates(m) for m in (a.machine if a.machine is not None else DEFAULT_MACHINES))
    rows, records = main_table(name, rates, curves, a.minutes, machines)
    print("\n".join(rows))
    if a.docs:
        put_in_docs(Path(a.docs), "main", "\n".join(rows))
    Path(a.json).parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(Path(a.json), json.dumps(records, indent=2) + "\n")
    print(f"wrote {a.json} ({len(records)} records)", file=sys.stderr)
    if len(configs) > 1:
        rows, records, plotted = compare(configs, curves, a.minutes)
        print("\n" + "\n".join(rows))
        if a.docs:
            put_in_docs(Path(a.docs), "configs", "\n".join(rows))
        atomic_write_text(Path(a.configs_json), json.dumps(records, indent=2) + "\n")
        plot(plotted, Path(a.plot), a.minutes)
        print(f"wrote {a.configs_json} ({len(records)} records) and {a.plot}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
