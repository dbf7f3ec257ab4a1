"""Collect a dataset and record what it is and what it cost, in a committed records file that accumulates over
invocations (one record per dataset name, replaced when collected again).

    python scripts/dataset_records.py antmaze-medium-navigate --expert docs/results/ant-expert \
        --json docs/results/antmaze-datasets.json --picture docs/results/antmaze/antmaze-medium-navigate.png

A record: the dataset's name, size (episodes, stored steps, transitions), the sha256 of its training file, the
expert that walked it (step and weights' sha256) and how the expert did (`expert_stats`: episodes reaching a goal,
goals per episode, episodes fallen), and the collection's wall time and env steps/s with the machine's CPU. The
dataset itself goes to data/NAME-v0.npz as `ethogram collect` writes it (the same bytes).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def main(argv: list[str] | None = None) -> int:
    from benchmarks.common import machine_info
    from ethogram.data.collect import collect_to_file, default_config
    from ethogram.envs.registry import make_env, parse_dataset_name
    from ethogram.io import atomic_write_text, sha256
    from ethogram.report.plots import plot_dataset

    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("dataset")
    ap.add_argument("--expert")
    ap.add_argument("--json", type=Path, required=True)
    ap.add_argument("--out", help="default data/NAME-v0.npz")
    ap.add_argument("--picture", help="every trajectory over the maze (PNG)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--force", action="store_true")
    args = ap.parse_args(argv)
    name = parse_dataset_name(args.dataset)
    cfg = default_config(name, seed=args.seed)
    if args.expert:
        cfg = dataclasses.replace(cfg, expert=args.expert)
    out = Path(args.out or ROOT / "data" / f"{name}.npz")
    meta = collect_to_file(name, cfg, out, force=args.force, progress=True)
    m = machine_info()
    rec = {"dataset": str(name).removesuffix("-v0"), "episodes": meta["train_episodes"],
           "val_episodes": meta["val_episodes"], "episode_steps": cfg.episode_steps, "noise": cfg.noise,
           "seed": cfg.seed, "transitions": meta["transitions"], "sha256": sha256(out.read_bytes()),
           "expert": {k: v for k, v in (meta.get("expert") or {}).items() if k != "dir"},
           "expert_stats": meta.get("expert_stats"), "seconds": round(meta["seconds"], 1),
           "env_steps_per_second": round(meta["env_steps_per_second"]),
           "machine": f"{m.get('cpu_model')}, {m.get('cpu_affinity')} cores",
           "command": f"python scripts/dataset_records.py {args.dataset}" + (f" --expert {args.expert}"
                                                                              if args.expert else "")}
    records = json.loads(args.json.read_text()) if args.json.exists() else []
    records = sorted([r for r in records if r["dataset"] != rec["dataset"]] + [rec], key=lambda r: r["dataset"])
    atomic_write_text(args.json, json.dumps(records, indent=1) + "\n")
    print(f"{rec['dataset']}: {rec['transitions']} transitions in {rec['seconds']} s "
          f"({rec['env_steps_per_second']} env steps/s); expert_stats {rec['expert_stats']}; wrote {args.json}")
    if args.picture:
        import numpy as np

        env = make_env(name.env, name.layout)
        with np.load(out) as d:
            plot_dataset(env.maze, env.obs_positions(d["observations"]), d["terminals"], args.picture,
                         title=str(name))
        print(f"wrote {args.picture}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
