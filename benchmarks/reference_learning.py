"""Faithfulness check: OGBench's own agent, trained on our dataset at our size, scored by OGBench's own evaluation.

Where one of our agents lands below its published number under a reduced budget, this tells whether the budget or
our code is the reason: the public OGBench implementation (a local clone's impls/, run in a subprocess, never
copied here) trains on the same dataset file with the same sizes and is evaluated every `--eval-every` steps with
OGBench's `evaluate` in OGBench's environment (5 tasks x `--eval-episodes` episodes, deterministic actions), as
impls/main.py does. Our run of the same configuration (`--ours RUN_DIR`, its evals.csv and eval.json) is put beside
it in the JSON.

Usage:
  .venv/bin/python benchmarks/reference_learning.py --agent gciql --dataset pointmaze-medium-navigate \\
      --hidden 256,256 --batch 512 --steps 40000 --eval-every 10000 \\
      --ours runs/budget/pointmaze-medium-navigate/gciql-s0 --ref-ogbench /tmp/ogbench_ref/impls \\
      --ref-python /tmp/refvenv/bin/python --out benchmarks/results/reference-learning-gciql.json
"""

from __future__ import annotations

import argparse
import datetime
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from ogbench_reference import POINTMAZE_OVERRIDES, run_snippet  # noqa: E402

from ethogram.agents import dataset_overrides  # noqa: E402
from ethogram.report.results import run_evaluations  # noqa: E402

REPO = Path(__file__).resolve().parents[1]

# After ogbench_reference.SETUP: train as impls/main.py does and evaluate with its utils.evaluation.evaluate.
LEARNING = r'''
import ogbench
from utils.evaluation import evaluate
env = ogbench.make_env_and_datasets(args["env_name"], env_only=True)
env.reset()
evals, t0 = [], time.perf_counter()

def score(step):
    per_task = []
    for task_id in range(1, 6):
        info, _, _ = evaluate(agent, env, task_id=task_id, config=cfg, num_eval_episodes=args["eval_episodes"])
        per_task.append(float(info["success"]))
    evals.append({"step": step, "success": float(np.mean(per_task)), "tasks": per_task,
                  "train_s": round(time.perf_counter() - t0, 1)})
    print(json.dumps(evals[-1]), file=sys.stderr, flush=True)

for i in range(1, args["steps"] + 1):
    agent, info = agent.update(ds.sample(bs))
    if i % args["eval_every"] == 0:
        score(i)
with open(args["out"], "w") as f:
    json.dump({"evals": evals, "jax": jax.__version__, "flax": flax.__version__, "config": cfg_record}, f)
'''

# After SETUP: only report the configuration the reference would train with.
CONFIG = r'''
with open(args["out"], "w") as f:
    json.dump({"config": cfg_record}, f)
'''


def reference_overrides(agent: str, dataset: str) -> dict:
    """OGBench get_config() -> the published setting for this dataset: the pointmaze alphas plus the per-dataset
    settings our reproduce uses (e.g. stitch datasets' half-random actor goals)."""
    _, maze, kind = dataset.split("-")[:3]
    return {**POINTMAZE_OVERRIDES.get(agent, {}), **dataset_overrides(agent, kind, maze)}


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
    if a.dataset.startswith("pointmaze-giant") or a.dataset.startswith("antmaze"):
        sys.exit("error: only medium and large pointmaze datasets are set up here (giant mazes need discount "
                 "0.995, antmaze other alphas)")
    hidden = [int(h) for h in a.hidden.split(",")]
    args = {"impls": str(Path(a.ref_ogbench).resolve()), "dataset": str(dataset.resolve()), "agent": a.agent,
            "hidden_dims": hidden, "batch_size": a.batch, "overrides": reference_overrides(a.agent, a.dataset),
            "seed": a.seed, "env_name": f"{a.dataset}-v0", "steps": a.steps, "eval_every": a.eval_every,
            "eval_episodes": a.eval_episodes}
    if a.ours:
        # A like-for-like check or none: refuse before an hour of training if any shared setting differs.
        ours_cfg = Path(a.ours) / "config.json"
        if not ours_cfg.exists():
            sys.exit(f"error: {ours_cfg} does not exist; --ours must be a finished run directory of ours")
        probe = run_snippet(CONFIG, args, a.ref_python, a.timeout_s)
        if probe["status"] != "ok":
            sys.exit(f"error: could not build the reference agent: {probe['reason']}")
        diff = config_mismatches(probe["config"], json.loads(ours_cfg.read_text())["agent_config"])
        if diff:
            lines = "\n".join(f"  {k}: OGBench {t!r}, ours {o!r}" for k, (t, o) in diff.items())
            sys.exit(f"error: the reference and {a.ours} would train with different settings:\n{lines}\n"
                     "fix: compare against a run with the published settings, or add them to reference_overrides")
    started = datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds")
    ref = run_snippet(LEARNING, args, a.ref_python, a.timeout_s)
    record = {"check": "reference_learning", "started": started, "agent": a.agent, "dataset": a.dataset,
              "hidden_dims": hidden, "batch_size": a.batch, "steps": a.steps, "seed": a.seed,
              "eval_episodes_per_task": a.eval_episodes, "ogbench": ref,
              "ours": {"run": a.ours, "evals": [{"step": k, "success": v} for k, v in
                                                 sorted(run_evaluations(a.ours).items())]} if a.ours else None,
              "command": "benchmarks/reference_learning.py " + " ".join(argv if argv is not None else sys.argv[1:])}
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
