"""Digest of the numbers every agent produces at a tiny size and a fixed seed, through the `ethogram` CLI only.

A structural change of the code must leave this digest unchanged: run it before and after and compare.

    python scripts/numbers_digest.py --work /tmp/digest --out digest.json

For each agent: a small navigate dataset (sha256 of its bytes), a short training run (sha256 of the checkpoint's
arrays, every non-timing column of metrics.csv and evals.csv) and `ethogram eval` (success per task); then a
search run built from the dataset (graph arrays and its evaluation).
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np

AGENTS = ("gcbc", "gcivl", "gciql", "qrl", "crl", "hiql", "hilp")
TIMING = {"wall_s", "steps_per_s"}
SIZE = ["--set", "actor_hidden_dims=32,32", "--set", "batch_size=64"]
VALUE = ["--set", "value_hidden_dims=32,32"]


def cli(*args: str) -> None:
    env = {**os.environ, "JAX_PLATFORMS": "cpu", "MUJOCO_GL": os.environ.get("MUJOCO_GL", "egl")}
    subprocess.run([sys.executable, "-m", "ethogram.cli", *args], check=True, env=env, stdout=subprocess.DEVNULL)


def sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def csv_rows(path: Path) -> list[dict]:
    if not path.exists():
        return []
    with path.open(newline="") as f:
        return [{k: v for k, v in r.items() if k not in TIMING} for r in csv.DictReader(f)]


def checkpoint_arrays(path: Path) -> dict[str, str]:
    from safetensors.numpy import load_file

    return {k: hashlib.sha256(np.ascontiguousarray(v).tobytes()).hexdigest()[:16]
            for k, v in sorted(load_file(str(path)).items())}


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--work", required=True)
    p.add_argument("--out", required=True)
    p.add_argument("--steps", type=int, default=300)
    a = p.parse_args()
    work = Path(a.work)
    data = work / "pointmaze-medium-navigate-v0.npz"
    cli("collect", "pointmaze-medium-navigate", "--episodes", "10", "--episode-steps", "101", "--out", str(data),
        "--force", "--quiet")
    out: dict = {"dataset": sha(data), "dataset_val": sha(data.with_name(data.stem + "-val.npz")), "agents": {}}
    for agent in AGENTS:
        run = work / agent
        extra = SIZE + ([] if agent == "gcbc" else VALUE) + (["--set", "latent_dim=16"] if agent in ("qrl", "crl")
                                                             else [])
        cli("train", agent, "--dataset", str(data), "--out", str(run), "--force", "--quiet", "--steps", str(a.steps),
            "--seed", "3", "--fuse", "50", "--log-every", "100", "--eval-every", "200", "--eval-episodes", "2",
            "--save-every", "300", *extra)
        cli("eval", str(run), "--episodes", "3", "--seed", "1", "--quiet")
        ev = json.loads((run / "eval.json").read_text())
        out["agents"][agent] = {"checkpoint": checkpoint_arrays(run / "checkpoint.safetensors"),
                                "metrics": csv_rows(run / "metrics.csv"), "evals": csv_rows(run / "evals.csv"),
                                "eval": {"success": ev["success"], "tasks": ev["tasks"],
                                         "mean_episode_length": ev["mean_episode_length"]}}
    search = work / "sns"
    cli("search", str(data), "--out", str(search), "--nodes", "40", "--force", "--quiet")
    cli("eval", str(search), "--episodes", "2", "--quiet")
    ev = json.loads((search / "eval.json").read_text())
    with np.load(search / "graph.npz", allow_pickle=False) as f:
        graph = {k: hashlib.sha256(np.ascontiguousarray(f[k]).tobytes()).hexdigest()[:16] for k in sorted(f.files)}
    out["search"] = {"graph": graph, "success": ev["success"], "tasks": ev["tasks"]}
    Path(a.out).write_text(json.dumps(out, indent=2, sort_keys=True) + "\n")
    print(f"wrote {a.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
