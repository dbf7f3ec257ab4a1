"""The 30-minute budget table: runs of scripts/reproduce_budget.sh -> Markdown (stdout) and docs/results/budget.json.

Training steps become wall-clock minutes through each agent's steps/s on both cores of an idle machine at the
same size (benchmarks/results/agents-256x2-b512.json). "Within 30 minutes" is each seed's evaluation at the
largest evaluated step that fits in 30 minutes (the final one, or a periodic one from evals.csv).

Usage: .venv/bin/python scripts/budget_table.py [--runs runs/budget] [--json docs/results/budget.json]
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
from pathlib import Path

import numpy as np

from ethogram.report.published import published

REPO = Path(__file__).resolve().parents[1]
AGENTS = ("gcbc", "gcivl", "gciql", "qrl", "crl", "hiql")


def evaluations(run: Path) -> dict[int, float]:
    """Success at every evaluated step of a finished run (periodic ones and the final one)."""
    out = {}
    if (run / "evals.csv").exists():
        with (run / "evals.csv").open() as f:
            out = {int(r["step"]): float(r["success"]) for r in csv.DictReader(f)}
    ev = json.loads((run / "eval.json").read_text())
    out[int(ev["train_step"])] = float(ev["success"])
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--runs", default=str(REPO / "runs" / "budget"))
    p.add_argument("--rates", default=str(REPO / "benchmarks" / "results" / "agents-256x2-b512.json"))
    p.add_argument("--json", default=str(REPO / "docs" / "results" / "budget.json"))
    p.add_argument("--minutes", type=float, default=30.0)
    a = p.parse_args(argv)
    bench = json.loads(Path(a.rates).read_text())["results"]
    rates = {r["agent"]: r["ethogram"]["float32"]["steps_per_s"] for r in bench}
    rows = ["| dataset | agent | success at the last step within 30 min | steps (minutes on 2 cores) | seeds | "
            "published (1M steps, 3x512, 8 seeds) |", "|---|---|---|---|---|---|"]
    records = []
    for ds_dir in sorted(Path(a.runs).glob("pointmaze-*")):
        ds = ds_dir.name
        for agent in AGENTS:
            runs = sorted(r for r in ds_dir.glob(f"{agent}-s*") if r.is_dir() and (r / "eval.json").exists())
            if not runs:
                continue
            budget_steps = a.minutes * 60 * rates[agent]
            per_seed, steps_used = [], []
            for r in runs:
                ev = evaluations(r)
                step = max([s for s in ev if s <= budget_steps] or [min(ev)])
                per_seed.append(ev[step])
                steps_used.append(step)
            step = min(steps_used)
            cfg = json.loads((runs[0] / "config.json").read_text())
            s = np.array(per_seed)
            pub = published(agent, ds)
            minutes = step / rates[agent] / 60
            rows.append(f"| {ds} | {agent} | {s.mean():.2f} ± {s.std():.2f} | {step} ({minutes:.1f} min) | "
                        f"{len(runs)} | " + (f"{pub[0]:.2f} ± {pub[1]:.2f}" if pub else "n/a") + " |")
            records.append({"agent": agent, "dataset": ds, "metric": "success", "mean": round(float(s.mean()), 4),
                            "std": round(float(s.std()), 4),
                            "seeds": [json.loads((r / "config.json").read_text())["train_config"]["seed"]
                                      for r in runs],
                            "train_steps": step, "minutes_on_2_cores": round(minutes, 2),
                            "steps_per_s_2_cores": rates[agent], "budget_minutes": a.minutes,
                            "config": cfg["agent_config"], "published": list(pub) if pub else None,
                            "command": "scripts/reproduce_budget.sh && .venv/bin/python scripts/budget_table.py"})
    print("\n".join(rows))
    Path(a.json).parent.mkdir(parents=True, exist_ok=True)
    Path(a.json).write_text(json.dumps(records, indent=2) + "\n")
    print(f"wrote {a.json} ({len(records)} records)", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
