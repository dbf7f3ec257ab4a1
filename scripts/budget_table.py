"""The 30-minute budget tables: runs of scripts/reproduce_budget.sh -> Markdown (stdout), JSON records and a plot.

Training steps become wall-clock minutes through each agent's steps/s on both cores of an idle machine at the
run's size (benchmarks/bench_agents.py at that width and batch). "Within 30 minutes" is each seed's evaluation at
the largest evaluated step that fits in 30 minutes (the final one, or a periodic one from evals.csv); evaluation
time is not counted (one full evaluation takes 5-15 s).

Several configurations (`--config NAME=RUNS_DIR:RATES_JSON`, repeatable; the first is the main table's) answer
"which reduced configuration gets closest to the published number fastest": for each, the mean success over
seeds at every evaluated step, its minutes, and the first minute at which the mean comes within one published
standard deviation of the published mean.

Usage: .venv/bin/python scripts/budget_table.py [--config ...] [--json docs/results/budget.json]
           [--configs-json docs/results/budget-configs.json] [--plot docs/results/budget_curves.png]
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

from ethogram.report.published import published
from ethogram.report.results import run_evaluations

REPO = Path(__file__).resolve().parents[1]
AGENTS = ("gcbc", "gcivl", "gciql", "qrl", "crl", "hiql")
DEFAULT_CONFIG = "2x256/b512=runs/budget:benchmarks/results/agents-256x2-b512.json"
COMMAND = "scripts/reproduce_budget.sh && .venv/bin/python scripts/budget_table.py"
MAZES = ("medium", "large", "giant", "teleport")
KINDS = ("navigate", "stitch")


def dataset_order(name: str) -> tuple[int, int, str]:
    """pointmaze-medium-navigate < -medium-stitch < -large-navigate < ... (unknown names last, alphabetically)."""
    parts = name.split("-")
    maze = MAZES.index(parts[1]) if len(parts) > 2 and parts[1] in MAZES else len(MAZES)
    kind = KINDS.index(parts[2]) if len(parts) > 2 and parts[2] in KINDS else len(KINDS)
    return maze, kind, name


def parse_config(spec: str) -> tuple[str, Path, dict[str, float]]:
    """'NAME=RUNS_DIR:RATES_JSON' -> (name, runs dir, float32 steps/s per agent)."""
    name, _, rest = spec.partition("=")
    runs, _, rates = rest.rpartition(":")
    if not (name and runs and rates):
        sys.exit(f"error: --config '{spec}' is not NAME=RUNS_DIR:RATES_JSON")
    bench = json.loads((REPO / rates).read_text())["results"]
    return name, REPO / runs, {r["agent"]: r["ethogram"]["float32"]["steps_per_s"] for r in bench}


def finished_runs(ds_dir: Path, agent: str) -> list[Path]:
    return sorted(r for r in ds_dir.glob(f"{agent}-s*") if r.is_dir() and (r / "eval.json").exists())


def curve(evs: list[dict[int, float]]) -> tuple[np.ndarray, np.ndarray]:
    """Steps evaluated in every seed, and the success per seed there: (steps, success[seed, step])."""
    steps = sorted(set.intersection(*(set(e) for e in evs)))
    return np.array(steps), np.array([[e[s] for s in steps] for e in evs])


def within_budget(evs: list[dict[int, float]], rate: float, minutes: float) -> tuple[np.ndarray, int]:
    """Each seed's success at its largest evaluated step within the budget, and the smallest such step."""
    steps = [max([s for s in e if s <= minutes * 60 * rate] or [min(e)]) for e in evs]
    return np.array([e[s] for e, s in zip(evs, steps, strict=True)]), min(steps)


def main_table(name: str, runs_dir: Path, rates: dict[str, float], minutes: float) -> tuple[list[str], list]:
    rows = [f"| dataset | agent | success at the last step within {minutes:g} min | steps (minutes on 2 cores) | "
            "seeds | published (1M steps, 3x512, 8 seeds) |", "|---|---|---|---|---|---|"]
    records = []
    for ds_dir in sorted(runs_dir.glob("pointmaze-*"), key=lambda d: dataset_order(d.name)):
        ds = ds_dir.name
        for agent in AGENTS:
            runs = finished_runs(ds_dir, agent)
            if not runs:
                continue
            s, step = within_budget([run_evaluations(r) for r in runs], rates[agent], minutes)
            cfg = json.loads((runs[0] / "config.json").read_text())
            pub = published(agent, ds)
            mins = step / rates[agent] / 60
            rows.append(f"| {ds} | {agent} | {s.mean():.2f} ± {s.std():.2f} | {step} ({mins:.1f} min) | "
                        f"{len(runs)} | " + (f"{pub[0]:.2f} ± {pub[1]:.2f}" if pub else "n/a") + " |")
            records.append({"agent": agent, "dataset": ds, "metric": "success", "configuration": name,
                            "mean": round(float(s.mean()), 4), "std": round(float(s.std()), 4),
                            "seeds": [json.loads((r / "config.json").read_text())["train_config"]["seed"]
                                      for r in runs],
                            "train_steps": step, "minutes_on_2_cores": round(mins, 2),
                            "steps_per_s_2_cores": rates[agent], "budget_minutes": minutes,
                            "config": cfg["agent_config"], "published": list(pub) if pub else None,
                            "command": COMMAND})
    return rows, records


def compare(configs, minutes: float) -> tuple[list[str], list, dict]:
    """One row per dataset, agent and configuration; curves for the plot."""
    rows = ["| dataset | agent | configuration | success at the last step within 30 min | its minutes | "
            "first minute within 1 published std | seeds | published |", "|---|---|---|---|---|---|---|---|"]
    records, curves = [], {}
    datasets = sorted({d.name for _, runs_dir, _ in configs for d in runs_dir.glob("pointmaze-*")},
                      key=dataset_order)
    for ds in datasets:
        for agent in AGENTS:
            pub = published(agent, ds)
            for name, runs_dir, rates in configs:
                runs = finished_runs(runs_dir / ds, agent)
                if not runs:
                    continue
                evs = [run_evaluations(r) for r in runs]
                steps, success = curve(evs)
                mins = steps / rates[agent] / 60
                mean = success.mean(axis=0)
                curves.setdefault((ds, agent), []).append((name, mins, mean, success.std(axis=0)))
                s, step = within_budget(evs, rates[agent], minutes)
                reach = None
                if pub:
                    hit = np.nonzero(mean >= pub[0] - pub[1])[0]
                    reach = float(mins[hit[0]]) if len(hit) else None
                rows.append(f"| {ds} | {agent} | {name} | {s.mean():.2f} ± {s.std():.2f} | "
                            f"{step / rates[agent] / 60:.1f} | " + (f"{reach:.1f}" if reach is not None else
                                                                    f"not by {mins[-1]:.1f}") +
                            f" | {len(runs)} | " + (f"{pub[0]:.2f} ± {pub[1]:.2f}" if pub else "n/a") + " |")
                records.append({"agent": agent, "dataset": ds, "configuration": name,
                                "steps": steps.tolist(), "minutes_on_2_cores": np.round(mins, 2).tolist(),
                                "success_mean": np.round(mean, 4).tolist(),
                                "success_std": np.round(success.std(axis=0), 4).tolist(), "seeds": len(runs),
                                "within_budget_mean": round(float(s.mean()), 4),
                                "within_budget_std": round(float(s.std()), 4),
                                "first_minute_within_published_std": reach,
                                "published": list(pub) if pub else None,
                                "config": json.loads((runs[0] / "config.json").read_text())["agent_config"]})
    return rows, records, curves


def plot(curves: dict, path: Path, minutes: float) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    # One row per dataset, one column per agent (a run missing from the grid leaves its panel empty).
    datasets = sorted({k[0] for k in curves}, key=dataset_order)
    agents = [a for a in AGENTS if any(k[1] == a for k in curves)]
    keys = sorted(curves, key=lambda k: (dataset_order(k[0]), AGENTS.index(k[1])))
    fig, axes = plt.subplots(len(datasets), len(agents), figsize=(3.6 * len(agents), 3.0 * len(datasets)),
                             squeeze=False)
    names = list(dict.fromkeys(c[0] for k in keys for c in curves[k]))  # one colour per configuration everywhere
    for ds, agent in keys:
        ax = axes[datasets.index(ds), agents.index(agent)]
        for name, mins, mean, std in curves[(ds, agent)]:
            color = f"C{names.index(name)}"
            ax.plot(mins, mean, marker="o", ms=3, label=name, color=color)
            ax.fill_between(mins, mean - std, mean + std, color=color, alpha=0.2)
        pub = published(agent, ds)
        if pub:
            ax.axhspan(pub[0] - pub[1], pub[0] + pub[1], color="k", alpha=0.08)
            ax.axhline(pub[0], color="k", ls="--", lw=1, label="published (1M steps)")
        ax.axvline(minutes, color="grey", ls=":", lw=1)
        ax.set_xscale("log")
        ax.set_xlim(0.05, 60)
        ax.set_ylim(-0.02, 1.02)
        ax.set_title(f"{agent.upper()}, {ds.removeprefix('pointmaze-')}", fontsize=10)
        ax.set_xlabel("training minutes on 2 CPU cores")
        ax.set_ylabel("success")
    for ax in axes.flat:
        if not ax.has_data():
            ax.axis("off")
    handles = {}
    for ax in axes.flat:
        for h, label in zip(*ax.get_legend_handles_labels(), strict=True):
            handles.setdefault(label, h)
    handles = dict(sorted(handles.items(), key=lambda kv: names.index(kv[0]) if kv[0] in names else len(names)))
    fig.legend(handles.values(), handles.keys(), loc="lower center", ncol=len(handles), fontsize=8)
    fig.tight_layout(rect=(0, 0.05, 1, 1))
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)


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
    p.add_argument("--config", action="append", help=f"NAME=RUNS_DIR:RATES_JSON (default {DEFAULT_CONFIG})")
    p.add_argument("--json", default=str(REPO / "docs" / "results" / "budget.json"))
    p.add_argument("--configs-json", default=str(REPO / "docs" / "results" / "budget-configs.json"))
    p.add_argument("--plot", default=str(REPO / "docs" / "results" / "budget_curves.png"))
    p.add_argument("--minutes", type=float, default=30.0)
    p.add_argument("--docs", help="also write the tables into this Markdown file's budget-table blocks")
    a = p.parse_args(argv)
    configs = [parse_config(c) for c in (a.config or [DEFAULT_CONFIG])]
    rows, records = main_table(*configs[0], a.minutes)
    print("\n".join(rows))
    if a.docs:
        put_in_docs(Path(a.docs), "main", "\n".join(rows))
    Path(a.json).parent.mkdir(parents=True, exist_ok=True)
    Path(a.json).write_text(json.dumps(records, indent=2) + "\n")
    print(f"wrote {a.json} ({len(records)} records)", file=sys.stderr)
    if len(configs) > 1:
        rows, records, curves = compare(configs, a.minutes)
        print("\n" + "\n".join(rows))
        if a.docs:
            put_in_docs(Path(a.docs), "configs", "\n".join(rows))
        Path(a.configs_json).write_text(json.dumps(records, indent=2) + "\n")
        plot(curves, Path(a.plot), a.minutes)
        print(f"wrote {a.configs_json} ({len(records)} records) and {a.plot}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
