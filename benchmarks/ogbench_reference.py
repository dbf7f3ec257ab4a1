"""The one driver of the public OGBench implementation (a local clone's impls/, never copied here).

Every benchmark that runs OGBench's own agents goes through `run`: it writes a snippet (`SETUP` + a body) to a
temporary directory and runs it in a subprocess under an interpreter that has OGBench's dependencies, with the
impls/ directory on that subprocess's PYTHONPATH (so `agents.*` and `utils.*` are OGBench's) and nothing of
ethogram imported there. `SETUP` reads the JSON arguments, builds one OGBench agent at the requested size with
the given overrides (`POINTMAZE_OVERRIDES`: OGBench's get_config() has antmaze's alphas), records its JSON-able
configuration as `cfg_record` and the interpreter as `env_record`, and builds its GCDataset / HGCDataset over one
dataset file in the OGBench layout. A body follows it and writes its results to args["out"]:

  TIMING    per step dataset.sample (numpy) + agent.update (jitted), as impls/main.py does: steps/s, XLA's FLOP
            count of one update, the time of one sample            -> `time_updates`
  LEARNING  train as impls/main.py does and score every eval_every steps with OGBench's own evaluate in OGBench's
            environment                                            -> `learn`
  CONFIG    only the configuration the agent would train with      -> `configuration`
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

from ethogram.data.dataset import to_transitions

# The pointmaze settings of OGBench's hyperparameters.sh that differ from its agents' get_config().
POINTMAZE_OVERRIDES = {"gciql": {"alpha": 0.003}, "qrl": {"alpha": 0.0003}, "crl": {"alpha": 0.03}}
DEPENDENCIES = ("jax", "flax", "optax", "distrax", "ml_collections")
DEFAULT_PYTHON = "/tmp/refvenv/bin/python"

SETUP = r'''
import importlib, json, sys, time
args = json.loads(sys.argv[1])
import numpy as np
import jax, flax
from utils.datasets import Dataset, GCDataset, HGCDataset  # OGBench's impls/, on PYTHONPATH

env_record = {"python": sys.version.split()[0], "executable": sys.executable, "jax": jax.__version__,
              "flax": flax.__version__, "jax_devices": [str(d) for d in jax.devices()]}
module = importlib.import_module("agents." + args["agent"])
cls = next(v for k, v in vars(module).items() if k.endswith("Agent") and hasattr(v, "create"))
cfg = module.get_config()
cfg["batch_size"] = args["batch_size"]
cfg["actor_hidden_dims"] = tuple(args["hidden_dims"])
if "value_hidden_dims" in cfg:
    cfg["value_hidden_dims"] = tuple(args["hidden_dims"])
for k, v in args["overrides"].items():
    cfg[k] = v
cfg_record = {k: v for k, v in cfg.to_dict().items() if isinstance(v, (int, float, str, bool, tuple, list))}
np.random.seed(args["seed"])
data = dict(np.load(args["dataset"]))
ds_cls = HGCDataset if cfg["dataset_class"] == "HGCDataset" else GCDataset
ds = ds_cls(Dataset.create(**{k: np.array(v) for k, v in data.items()}), cfg)
ex = ds.sample(1)
agent = cls.create(args["seed"], ex["observations"], ex["actions"], cfg)
bs = cfg["batch_size"]
'''

TIMING = r'''
try:  # XLA's count of floating-point operations in one jitted update
    cost = jax.jit(lambda a, b: a.update(b)).lower(agent, ds.sample(bs)).compile().cost_analysis()
    flops = float((cost[0] if isinstance(cost, list) else cost)["flops"])
except Exception:  # noqa: BLE001 - an optional figure
    flops = None
t = time.perf_counter()
for _ in range(2):
    agent, info = agent.update(ds.sample(bs))
jax.block_until_ready((agent, info))
warmup_s = time.perf_counter() - t
group, steps, t = args["group"], 0, time.perf_counter()
while True:
    for _ in range(group):
        agent, info = agent.update(ds.sample(bs))
    jax.block_until_ready((agent, info))
    steps += group
    total = time.perf_counter() - t
    if steps >= args["min_steps"] and total >= args["min_s"]:
        break
t = time.perf_counter()
for _ in range(20):
    ds.sample(bs)
sample_s = (time.perf_counter() - t) / 20
finite = bool(all(np.isfinite(np.asarray(v)).all() for v in jax.tree_util.tree_leaves(info)))
with open(args["out"], "w") as f:
    json.dump({"steps_timed": steps, "steps_per_s": round(steps / total, 3),
               "seconds_per_step": round(total / steps, 6), "sample_s_per_step": round(sample_s, 6),
               "warmup_s": round(warmup_s, 3), "finite": finite, "flops_per_step": flops, **env_record,
               "config": cfg_record}, f)
'''

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
    json.dump({"evals": evals, **env_record, "config": cfg_record}, f)
'''

CONFIG = r'''
with open(args["out"], "w") as f:
    json.dump({"config": cfg_record}, f)
'''


# ------------------------------------------------------------------------------------------------ setup checks

def find_python(explicit: str | None) -> tuple[str | None, str]:
    """An interpreter with the reference's dependencies: `explicit`, else this one, else /tmp/refvenv's.
    Returns (path, "") or (None, what each candidate lacked)."""
    candidates = [explicit] if explicit else [sys.executable, DEFAULT_PYTHON]
    tried = []
    for py in candidates:
        if not py or not Path(py).exists():
            tried.append(f"{py}: not found")
            continue
        r = subprocess.run([py, "-c", "import " + ", ".join(DEPENDENCIES)], capture_output=True, text=True,
                           timeout=300)
        if r.returncode == 0:
            return py, ""
        tried.append(f"{py}: {(r.stderr.strip().splitlines() or ['?'])[-1]}")
    return None, "; ".join(tried)


def check_impls(impls: Path) -> str | None:
    """Why `impls` is not OGBench's impls/ directory, or None if it looks like it."""
    if not (impls / "agents" / "gcivl.py").exists() or not (impls / "utils" / "datasets.py").exists():
        return f"{impls} is not OGBench's impls/ directory (no agents/gcivl.py, utils/datasets.py)"
    return None


def resolve(impls: str | Path | None, python: str | None) -> tuple[Path | None, str | None, str]:
    """(impls dir, interpreter, "") when the reference can run, else (None, None, why not)."""
    if not impls:
        return None, None, "not requested (pass --ref-ogbench DIR)"
    impls = Path(impls).resolve()
    why = check_impls(impls)
    if why:
        return None, None, why
    py, why = find_python(python)
    if py is None:
        return None, None, f"no interpreter with {', '.join(DEPENDENCIES)} ({why}); pass --ref-python"
    return impls, py, ""


def write_dataset(flat: dict[str, np.ndarray], path: Path) -> Path:
    """Our stored-state arrays -> the transition file the reference's Dataset.create reads (ogbench.load_dataset's
    layout: observations, next_observations, actions, terminals at each episode's last transition)."""
    tr = to_transitions(flat)
    terminals = (tr["final_idx"] == np.arange(len(tr["final_idx"]))).astype(np.float32)
    np.savez(path, observations=tr["observations"], next_observations=tr["next_observations"],
             actions=tr["actions"], terminals=terminals)
    return path


# ------------------------------------------------------------------------------------------------ running

def run(body: str, args: dict, *, impls: Path, python: str, timeout_s: float) -> dict:
    """SETUP + body under `python`, impls/ on its PYTHONPATH, with `args` (plus "out");
    {"status": "ok", **results} or {"status": "failed", "reason": ...}."""
    with tempfile.TemporaryDirectory(prefix="ogbench_ref_") as tmp:
        tmp = Path(tmp)
        (tmp / "snippet.py").write_text(SETUP + body)
        args = {**args, "out": str(tmp / "out.json")}
        env = {**os.environ, "PYTHONPATH": str(Path(impls).resolve())}
        try:
            r = subprocess.run([python, str(tmp / "snippet.py"), json.dumps(args)], capture_output=True, text=True,
                               timeout=timeout_s, cwd=tmp, env=env)
        except subprocess.TimeoutExpired:
            return {"status": "failed", "reason": f"timed out after {timeout_s} s"}
        if r.returncode != 0 or not (tmp / "out.json").exists():
            return {"status": "failed", "reason": r.stderr.strip()[-1500:]}
        return {"status": "ok", **json.loads((tmp / "out.json").read_text())}


def _agent_args(dataset: Path, agent: str, hidden, batch_size: int, overrides: dict, seed: int) -> dict:
    return {"dataset": str(Path(dataset).resolve()), "agent": agent, "hidden_dims": list(hidden),
            "batch_size": batch_size, "overrides": overrides, "seed": seed}


def time_updates(*, impls: Path, python: str, dataset: Path, agent: str, hidden, batch_size: int, overrides: dict,
                 seed: int, min_steps: int, min_s: float, group: int, timeout_s: float) -> dict:
    """Steps/s of OGBench's update (sample + update per step from Python, blocking every `group` steps), compile
    excluded (two warm-up steps), timed until `min_steps` and `min_s` are both reached."""
    args = {**_agent_args(dataset, agent, hidden, batch_size, overrides, seed), "min_steps": min_steps,
            "min_s": min_s, "group": group}
    return run(TIMING, args, impls=impls, python=python, timeout_s=timeout_s)


def learn(*, impls: Path, python: str, dataset: Path, agent: str, hidden, batch_size: int, overrides: dict,
          seed: int, env_name: str, steps: int, eval_every: int, eval_episodes: int, timeout_s: float) -> dict:
    """OGBench's agent trained for `steps` and scored by OGBench's evaluate (5 tasks x `eval_episodes`) every
    `eval_every` steps; needs `ogbench` in the reference's interpreter."""
    args = {**_agent_args(dataset, agent, hidden, batch_size, overrides, seed), "env_name": env_name,
            "steps": steps, "eval_every": eval_every, "eval_episodes": eval_episodes}
    return run(LEARNING, args, impls=impls, python=python, timeout_s=timeout_s)


def configuration(*, impls: Path, python: str, dataset: Path, agent: str, hidden, batch_size: int, overrides: dict,
                  seed: int, timeout_s: float) -> dict:
    """The configuration OGBench's agent would train with (its `cfg_record`), nothing trained."""
    args = _agent_args(dataset, agent, hidden, batch_size, overrides, seed)
    return run(CONFIG, args, impls=impls, python=python, timeout_s=timeout_s)
