"""BESO's avoiding figures and the records of its act-setting studies (scripts/beso_results.sh runs it).

    python scripts/beso_figures.py RUNS/avoiding DATA/avoiding-v0.json --settings sampling_steps=1 guidance=2 ...

Writes docs/results/beso_avoiding_paths.png (100 paths each of the demonstrator, BESO and GCBC, seed 0, coloured
by behaviour), docs/results/beso_behaviours.png (the 24 behaviours' frequencies among successful episodes: the
data, BESO, the many-step sampler and GCBC, all seeds' evaluations pooled) and docs/results/beso-settings.json (one
record per act setting and metric over the BESO seeds), and prints the tables.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from ethogram import rundir
from ethogram.agents.base import make_policy
from ethogram.envs import avoiding
from ethogram.envs.registry import make_env
from ethogram.evaluate.protocol import evaluate
from ethogram.report import plots
from ethogram.report.results import aggregate, results_table, write_records
from ethogram.report.tables import to_markdown

DOCS = Path("docs/results")


def demonstrations(path: Path, env, n: int = 100) -> list:
    with np.load(path, allow_pickle=False) as f:
        obs, term = f["observations"], f["terminals"]
    episodes = np.split(obs, np.nonzero(term)[0][:-1] + 1)[:n]
    return [(env.obs_positions(e), True) for e in episodes]


def rollouts_of(run: Path, env, per_task: int = 25) -> list:
    r, agent, config = rundir.load(run)
    state = rundir.restore(run, r, agent, config)
    _, ro = evaluate(env, make_policy(agent, config, state), per_task, seed=1)
    return plots.rollouts_paths(ro)


def pooled(runs: list[Path], name: str) -> np.ndarray:
    counts = sum(np.asarray(rundir.read_eval(r, name)["behaviour_counts"]) for r in runs)
    return counts / max(counts.sum(), 1)


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("runs")
    p.add_argument("sidecar")
    p.add_argument("--settings", nargs="*", default=[])
    args = p.parse_args()
    root = Path(args.runs) / "avoiding"
    env = make_env("avoiding")
    beso = sorted(p for p in root.glob("beso-s*") if p.is_dir())
    gcbc = sorted(p for p in root.glob("gcbc-s*") if p.is_dir())
    data = Path(args.sidecar).with_suffix(".npz")
    panels = {"demonstrator (100 of the dataset)": demonstrations(data, env),
              "BESO (3 DDIM steps), seed 0": rollouts_of(beso[0], env),
              "GCBC, seed 0": rollouts_of(gcbc[0], env)}
    plots.plot_behaviour_paths(env, panels, DOCS / "beso_avoiding_paths.png")
    meta = json.loads(Path(args.sidecar).read_text())
    counts = np.asarray(meta["behaviour_counts"], dtype=float)
    freqs = {"data": counts / counts.sum(), "BESO": pooled(beso, "eval.json"),
             "BESO, DDPM 25 steps": pooled(beso, "eval-set-sampler=ddpm.json"), "GCBC": pooled(gcbc, "eval.json")}
    names = [avoiding.behaviour_name(k) for k in range(avoiding.N_BEHAVIOURS)]
    plots.plot_behaviour_bars(names, freqs, DOCS / "beso_behaviours.png",
                              title="behaviours of successful episodes (3 seeds x 200 episodes pooled) and the data's")
    records = []
    for s in args.settings:
        records += aggregate(beso, command=f"ethogram eval RUN --set {s} --episodes 50",
                             eval_file=f"eval-set-{s}.json")
    write_records(records, DOCS / "beso-settings.json")
    print(to_markdown(results_table(records)))


if __name__ == "__main__":
    main()
