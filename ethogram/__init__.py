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


class _RegisterWithGymnasium:
    """Registers ethogram's Gymnasium environments (envs/gym.py) right after `import gymnasium`, wherever it
    happens, so that `gymnasium.make("ethogram/pointmaze-medium-v0")` works after `import ethogram` while
    `import ethogram` itself imports no gymnasium (it takes longer than the rest of the package's import). A meta
    path finder that finds nothing itself: it lets the other finders find gymnasium and runs the registration after
    gymnasium's module has run."""

    def find_spec(self, name, path=None, target=None):
        if name != "gymnasium":
            return None
        sys.meta_path.remove(self)
        import importlib.util

        spec = importlib.util.find_spec(name)
        loader = getattr(spec, "loader", None)
        if loader is not None and hasattr(loader, "exec_module"):
            run = loader.exec_module

            def exec_module(module):
                run(module)
                _register_gym_envs()

            loader.exec_module = exec_module
        return spec


def _register_gym_envs() -> None:
    """Import envs/gym.py, which registers the environments (a failure is a warning: gymnasium itself works)."""
    try:
        importlib.import_module("ethogram.envs.gym")
    except Exception as e:  # importing gymnasium must not fail because of ethogram
        import warnings

        warnings.warn(f"ethogram's Gymnasium environments are not registered: {type(e).__name__}: {e}", stacklevel=2)


if "gymnasium" in sys.modules:
    _register_gym_envs()
elif not any(isinstance(f, _RegisterWithGymnasium) for f in sys.meta_path):
    sys.meta_path.insert(0, _RegisterWithGymnasium())
