"""Faithfulness check: OGBench's own agent, trained on our dataset at our size, scored by OGBench's own evaluation.

Where one of our agents lands below its published number under a reduced budget, this tells whether the budget or
our code is the reason: the public OGBench implementation (a local clone's impls/, run in a subprocess by
benchmarks/ogbench_reference.py, never copied here) trains on the same dataset file with the same sizes and is
evaluated every `--eval-every` steps with OGBench's `evaluate` in OGBench's environment (5 tasks x
`--eval-episodes` episodes, deterministic actions), as impls/main.py does. Our run of the same configuration
(`--ours RUN_DIR`, its evals.csv and eval.json) is put beside it in the JSON.

Usage (from the repository root):
  .venv/bin/python -m benchmarks.reference_learning --agent gciql --dataset pointmaze-medium-navigate \\
      --hidden 256,256 --batch 512 --steps 40000 --eval-every 10000 \\
      --ours runs/budget/pointmaze-medium-navigate/gciql-s0 --ref-ogbench /tmp/ogbench_ref/impls \\
      --ref-python /tmp/refvenv/bin/python --out benchmarks/results/reference-learning-gciql.json
  .venv/bin/python -m benchmarks.reference_learning --agent hiql --dataset antmaze-medium-navigate \\
      --hidden 256,256 --batch 256 --steps 40000 --eval-every 40000 \\
      --ours runs/antmaze/256x256-b256-40000/antmaze-medium-navigate/hiql-s0 --ref-ogbench /tmp/ogbench_ref/impls \\
      --ref-python /tmp/refvenv/bin/python --out benchmarks/results/reference-learning-hiql-antmaze.json
"""

from __future__ import annotations

import argparse
import datetime
import json
import sys
from pathlib import Path

from benchmarks import ogbench_reference
from benchmarks.common import REPO, published_overrides
from ethogram.envs.registry import parse_dataset_name
from ethogram.report.results import run_evaluations


def reference_overrides(agent: str, dataset: str) -> dict:
    """OGBench get_config() -> the published setting for this dataset. OGBench's get_config() holds the antmaze
    settings; pointmaze adds its alphas. Both add the per-dataset settings our reproduce uses (giant mazes' discount
    0.995, stitch datasets' half-random actor goals)."""
    name = parse_dataset_name(dataset)
    point = ogbench_reference.POINTMAZE_OVERRIDES.get(agent, {}) if name.robot == "point" else {}
    return {**point, **published_overrides(agent, name.kind, name.maze, name.robot)}


def config_mismatches(theirs: dict, ours: dict) -> dict:
    """Hyperparameters both configurations name but set differently: {key: (OGBench's, ours)}."""
    norm = lambda v: list(v) if isinstance(v, (list, tuple)) else v  # noqa: E731
    return {k: (theirs[k], ours[k]) for k in sorted(set(theirs) & set(ours)) if norm(theirs[k]) != norm(ours[k])}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--agent", required=True)
    p.add_argument("--dataset", default="pointmaze-medium-navigate")
    p.add_argument("--data-dir", default=str(REPO / "data"))
    p.add_argument("--hidden", default="256,256")
    p.add_argument("--batch", type=int, default=512)
    p.add_argument("--steps", type=int, default=40000)
    p.add_argument("--eval-every", type=int, default=10000)
    p.add_argument("--eval-episodes", type=int, default=50)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--ours", help="our run of the same configuration, to put beside the reference")
    p.add_argument("--ref-ogbench", required=True, help="OGBench's impls/ directory")
    p.add_argument("--ref-python", required=True, help="an interpreter with jax, flax, optax, distrax, "
                                                       "ml_collections and ogbench")
    p.add_argument("--timeout-s", type=float, default=4 * 3600)
    p.add_argument("--out", required=True)
    a = p.parse_args(argv)
    dataset = Path(a.data_dir) / f"{a.dataset}-v0.npz"
    if not dataset.exists():
        sys.exit(f"error: no dataset file {dataset}; collect it first: ethogram collect {a.dataset} --out {dataset}")
    if parse_dataset_name(a.dataset).robot not in ("point", "ant"):
        sys.exit(f"error: {a.dataset}: only pointmaze-* and antmaze-* datasets are set up here")
    hidden = [int(h) for h in a.hidden.split(",")]
    impls = Path(a.ref_ogbench).resolve()
    why = ogbench_reference.check_impls(impls)
    if why:
        sys.exit(f"error: {why}")
    agent_args = {"impls": impls, "python": a.ref_python, "dataset": dataset, "agent": a.agent, "hidden": hidden,
                  "batch_size": a.batch, "overrides": reference_overrides(a.agent, a.dataset), "seed": a.seed,
                  "timeout_s": a.timeout_s}
    if a.ours:
        # A like-for-like check or none: refuse before an hour of training if any shared setting differs.
        ours_cfg = Path(a.ours) / "config.json"
        if not ours_cfg.exists():
            sys.exit(f"error: {ours_cfg} does not exist; --ours must be a finished run directory of ours")
        probe = ogbench_reference.configuration(**agent_args)
        if probe["status"] != "ok":
            sys.exit(f"error: could not build the reference agent: {probe['reason']}")
        diff = config_mismatches(probe["config"], json.loads(ours_cfg.read_text())["agent_config"])
        if diff:
            lines = "\n".join(f"  {k}: OGBench {t!r}, ours {o!r}" for k, (t, o) in diff.items())
            sys.exit(f"error: the reference and {a.ours} would train with different settings:\n{lines}\n"
                     "fix: compare against a run with the published settings, or add them to reference_overrides")
    started = datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds")
    ref = ogbench_reference.learn(**agent_args, env_name=f"{a.dataset}-v0", steps=a.steps, eval_every=a.eval_every,
                                  eval_episodes=a.eval_episodes)
    record = {"check": "reference_learning", "started": started, "agent": a.agent, "dataset": a.dataset,
              "hidden_dims": hidden, "batch_size": a.batch, "steps": a.steps, "seed": a.seed,
              "eval_episodes_per_task": a.eval_episodes, "ogbench": ref,
              "ours": {"run": a.ours, "evals": [{"step": k, "success": v} for k, v in
                                                 sorted(run_evaluations(a.ours).items())]} if a.ours else None,
              "command": "python -m benchmarks.reference_learning "
                         + " ".join(argv if argv is not None else sys.argv[1:])}
    Path(a.out).parent.mkdir(parents=True, exist_ok=True)
    Path(a.out).write_text(json.dumps(record, indent=2) + "\n")
    if ref["status"] != "ok":
        print(f"error: the reference failed: {ref['reason']}", file=sys.stderr)
        return 1
    theirs = {e["step"]: e["success"] for e in ref["evals"]}
    mine = {e["step"]: e["success"] for e in (record["ours"] or {}).get("evals", [])}
    for step in sorted(theirs):
        print(f"step {step}: OGBench {theirs[step]:.3f}" + (f"   ours {mine[step]:.3f}" if step in mine else ""))
    print(f"wrote {a.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
