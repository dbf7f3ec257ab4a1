"""ethogram: learn a repertoire of goal-directed behaviours from reward-free trajectories.

    import ethogram
    policy = ethogram.load("runs/x")                   # any run directory (ethogram train / ethogram search)
    actions = policy.act(observations, goals)           # batched numpy
    policy.evaluate(episodes=50)                        # OGBench's protocol
    ethogram.train("hiql", "data/pm.npz", "runs/y", steps=20_000, batch_size=256)
    ethogram.collect("pointmaze-medium-navigate", out="data/pm.npz")

The names are imported on first use (ethogram/api.py, ethogram/prompts.py), so `import ethogram` and the
command line start without loading JAX.
"""

from __future__ import annotations

import importlib
import sys
import types

__version__ = "0.1.0"

_API = {"load": "ethogram.api", "train": "ethogram.api", "collect": "ethogram.api", "Policy": "ethogram.api",
        "DatasetFile": "ethogram.api", "Goal": "ethogram.prompts", "Reward": "ethogram.prompts",
        "Demonstration": "ethogram.prompts"}
__all__ = ["__version__", *_API]


def __getattr__(name: str):
    if name in _API:
        return getattr(importlib.import_module(_API[name]), name)
    if name in ("api", "prompts", "errors"):  # `ethogram.api.report(...)` without importing ethogram.api first
        return importlib.import_module(f"ethogram.{name}")
    raise AttributeError(f"module 'ethogram' has no attribute {name!r}")


def __dir__():
    return sorted({*globals(), *_API})


class _Package(types.ModuleType):
    """`ethogram.train` is the API function, though the training loop is the submodule of the same name:
    importing that submodule does not replace the function (the module stays in sys.modules, where
    `from ethogram.train import ...` and importlib find it)."""

    def __setattr__(self, name, value):
        if name in _API and isinstance(value, types.ModuleType):
            return
        super().__setattr__(name, value)


sys.modules[__name__].__class__ = _Package
