"""Driving the public OGBench implementation (a local clone's impls/, never copied here) from a subprocess.

`SETUP` is the head of every snippet: it reads the JSON arguments, builds one OGBench agent at the requested size
with our pointmaze defaults (OGBench's get_config() has antmaze's alpha), its JSON-able configuration as
`cfg_record`, and its GCDataset/HGCDataset over one of our dataset files. A snippet's body follows it and writes
its results to args["out"].
"""

from __future__ import annotations

import json
import subprocess
import tempfile
from pathlib import Path

# The pointmaze settings of OGBench's hyperparameters.sh that differ from its agents' get_config().
POINTMAZE_OVERRIDES = {"gciql": {"alpha": 0.003}, "qrl": {"alpha": 0.0003}, "crl": {"alpha": 0.03}}

SETUP = r'''
import importlib, json, sys, time
args = json.loads(sys.argv[1])
sys.path.insert(0, args["impls"])
import numpy as np
import jax, flax
from utils.datasets import Dataset, GCDataset, HGCDataset

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


def run_snippet(body: str, args: dict, py: str, timeout_s: float) -> dict:
    """Run SETUP + body under `py` with `args` (plus "out"); {"status": "ok", **results} or why it failed."""
    with tempfile.TemporaryDirectory(prefix="ogbench_ref_") as tmp:
        tmp = Path(tmp)
        (tmp / "snippet.py").write_text(SETUP + body)
        args = {**args, "out": str(tmp / "out.json")}
        try:
            r = subprocess.run([py, str(tmp / "snippet.py"), json.dumps(args)], capture_output=True, text=True,
                               timeout=timeout_s, cwd=tmp)
        except subprocess.TimeoutExpired:
            return {"status": "failed", "reason": f"timed out after {timeout_s} s"}
        if r.returncode != 0 or not (tmp / "out.json").exists():
            return {"status": "failed", "reason": r.stderr.strip()[-1500:]}
        return {"status": "ok", **json.loads((tmp / "out.json").read_text())}
