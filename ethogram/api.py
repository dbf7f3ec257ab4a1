"""The Python object API: the objects the CLI makes, in a few lines.

    import ethogram
    data = ethogram.collect("pointmaze-medium-navigate", out="data/pm.npz", episodes=300)
    policy = ethogram.train("hiql", data, "runs/hiql", steps=20_000, batch_size=256)
    actions = policy.act(observations, goals)            # numpy (B, obs_dim) x 2 -> (B, action_dim)
    result = policy.evaluate(episodes=50)                # OGBench's protocol: {"success": ..., "tasks": ...}
    policy = ethogram.load("runs/hiql")                  # any run directory, search runs included

Everything goes through the same code as the commands (`rundir.py`, `prompts.py`, `evaluate/`), so loading a
damaged or foreign directory fails with the same clear `EthogramError` as `ethogram eval` does.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ethogram import prompts as _prompts
from ethogram import rundir
from ethogram.errors import EthogramError


@dataclass(frozen=True)
class DatasetFile:
    """A collected dataset: the training file, its -val file and the sidecar's record. Pass it (or its path)
    wherever a dataset path goes."""

    path: Path
    val_path: Path
    meta: dict

    def __fspath__(self) -> str:
        return str(self.path)

    def __str__(self) -> str:
        return str(self.path)


def collect(dataset: str, out: str | Path | None = None, episodes: int | None = None,
            episode_steps: int | None = None, noise: float | None = None, seed: int = 0, force: bool = False,
            progress: bool = True) -> DatasetFile:
    """`ethogram collect`: a dataset by its OGBench name (or `avoiding`), written as OGBench's npz layout."""
    from ethogram.data.collect import collect_to_file, default_config, val_path, validate_collect_config
    from ethogram.envs.registry import parse_dataset_name

    name = parse_dataset_name(dataset)
    cfg = default_config(name, seed=seed)
    changes = {k: v for k, v in (("episodes", episodes), ("episode_steps", episode_steps), ("noise", noise))
               if v is not None}
    cfg = dataclasses.replace(cfg, **changes)
    validate_collect_config(cfg)
    out = Path(out or f"data/{name}.npz")
    meta = collect_to_file(name, cfg, out, force=force, progress=progress)
    return DatasetFile(out, val_path(out), meta)


def train(agent: str, dataset: str | Path | DatasetFile, out: str | Path, steps: int = 1_000_000, seed: int = 0,
          eval_every: int = 0, eval_episodes: int = 50, force: bool = False, progress: bool = True,
          env: str | None = None, tensorboard: bool = False, **overrides: Any) -> Policy:
    """`ethogram train`: train `agent` on `dataset` (an .npz, or "minari:NAME") into the run directory `out` and
    return it loaded.

    `overrides` are agent config fields (`batch_size=256`, `actor_hidden_dims=(64, 64)`), checked as `--set`
    is. Periodic evaluation is off unless `eval_every` > 0 (the CLI's default is every 100k steps). `env`: the
    environment the data comes from, when the dataset does not say; `tensorboard`: event files beside the CSV."""
    from ethogram.config import TrainConfig
    from ethogram.train import train as _train

    sets = {k: ",".join(map(str, v)) if isinstance(v, (list, tuple)) else str(v) for k, v in overrides.items()}
    tc = TrainConfig(steps=steps, seed=seed, eval_every=eval_every, eval_episodes=eval_episodes,
                     save_every=min(TrainConfig().save_every, max(steps, 1)), tensorboard=tensorboard)
    source = dataset if isinstance(dataset, str) and dataset.startswith(rundir.MINARI) else Path(dataset)
    rundir.prepare_run(agent, source, out, tc, sets, force=force, env=env)
    _train(out, progress=progress)
    return load(out)


def load(run_dir: str | Path, seed: int = 0) -> Policy:
    """A run directory (`ethogram train` or `ethogram search`) as a `Policy`; a clear error for a directory that
    is not a run, an unfinished one, or damaged files."""
    run_dir = Path(run_dir)
    if rundir.is_search_run(run_dir):
        from ethogram.search import agent as sns

        config, state = sns.load(run_dir)
        return Policy(run_dir, rundir.read_config(run_dir), sns, config, state, seed)
    run, agent, config = rundir.load(run_dir)
    state = rundir.restore(run_dir, run, agent, config)
    return Policy(run_dir, run, agent, config, state, seed)


def report(run_dirs: list[str | Path] | str | Path, out: str | Path | None = None, video: bool | None = None) -> Path:
    """`ethogram report`: the HTML page of one run or a group of runs; returns its path."""
    from ethogram.report.html import write_report

    dirs = [run_dirs] if isinstance(run_dirs, (str, Path)) else list(run_dirs)
    return write_report(dirs, out, video=video)


class Policy:
    """A trained behaviour model: act on batches, answer prompts, evaluate with OGBench's protocol.

    `config` is the agent's config (a frozen dataclass), `run` the run directory's config.json."""

    def __init__(self, run_dir: Path, run: dict, agent, config, state, seed: int = 0):
        self.run_dir, self.run, self.agent, self.config, self.state = run_dir, run, agent, config, state
        self.seed = seed
        self.name = run["agent"]
        self._env = None
        self._goal_policy = None
        self._data = None

    def __repr__(self) -> str:
        return f"Policy({self.name} on {self.run.get('dataset_name')}, {self.run_dir})"

    @property
    def env(self):
        """The environment of the run's dataset (envs/registry.py)."""
        if self._env is None:
            if self.name == "sns":
                self._env = self.state["env"]
            else:
                from ethogram.envs.registry import run_env

                self._env = run_env(self.run, self.run_dir)
        return self._env

    @property
    def obs_dim(self) -> int:
        return int(self.run.get("obs_dim") or self.env.obs_dim)

    def dataset(self):
        """The run's training dataset (loaded once; reward prompts label its transitions)."""
        if self._data is None:
            from ethogram.data.dataset import load_dataset

            self._data = load_dataset(self.run["dataset"], self.env.obs_dim, self.env.action_dim)
        return self._data

    def _check(self, x, name: str) -> np.ndarray:
        return _prompts._obs_array(x, name, self.obs_dim)

    def act(self, observations, goals) -> np.ndarray:
        """Actions (B, action_dim) for observations and goal observations (B, obs_dim) each; one observation
        (obs_dim,) gives one action. Deterministic for deterministic agents (OGBench's evaluation)."""
        single = np.ndim(observations) == 1
        obs = self._check(np.atleast_2d(np.asarray(observations, dtype=np.float32)), "observations")
        g = self._check(np.atleast_2d(np.asarray(goals, dtype=np.float32)), "goals")
        if len(g) == 1 and len(obs) > 1:
            g = np.repeat(g, len(obs), axis=0)
        if len(g) != len(obs):
            raise EthogramError(f"observations ({len(obs)}) and goals ({len(g)}) are batches of different sizes.",
                                "pass one goal per observation, or a single goal for all")
        if self._goal_policy is None:
            self._goal_policy = self.answer(_prompts.Goal())
        actions = np.asarray(self._goal_policy(obs, g))
        return actions[0] if single else actions

    def answer(self, prompt):
        """The policy `(observations, goals) -> actions` answering a `Goal`, `Reward` or `Demonstration` prompt
        (ethogram.prompts), zero-shot; an agent that cannot answer the prompt's kind says which agents can."""
        _prompts.check_answerable(self.agent, prompt)
        needs_data = not isinstance(prompt, _prompts.Goal) or prompt.plan
        data = self.dataset() if needs_data and self.name != "sns" else None
        return _prompts.answer(self.agent, self.config, self.state, prompt, self.obs_dim, data, self.seed)

    def evaluate(self, episodes: int = 50, seed: int = 0, prompt=None, progress: bool = False) -> dict:
        """OGBench's protocol (5 tasks x `episodes`, 1000-step episodes): the record `ethogram eval` writes to
        eval.json (success, per-task success, metrics), here returned and not written."""
        from ethogram.evaluate.protocol import check_episodes, evaluate

        check_episodes(episodes, seed)
        policy = self.answer(prompt or _prompts.Goal())
        res, _ = evaluate(self.env, policy, episodes, seed=seed, progress=progress)
        return {"agent": self.name, "dataset": self.run.get("dataset_name"), **res}
