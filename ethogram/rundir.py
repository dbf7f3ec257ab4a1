"""A run directory: the one place that creates, reads and writes one.

  config.json                agent, agent config, train config, dataset, environment (a search run: its mode)
  metrics.csv                training metrics (mean over each fused chunk), wall time and steps/s
  evals.csv                  periodic evaluations (success overall and per task)
  checkpoint.safetensors     latest state (params, targets, optimiser) + checkpoint.json (its step)
  eval*.json, *.png          evaluations (ethogram/evaluate/run.py)

Training (train.py), evaluation (evaluate/) and the search (search/) all read runs through this module.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Mapping
from pathlib import Path
from types import ModuleType
from typing import Any

import jax

from ethogram import checkpoint
from ethogram.agents import dataset_overrides, get_agent
from ethogram.agents.base import AgentConfig, Spec
from ethogram.config import (
    TrainConfig,
    apply_overrides,
    config_from_dict,
    to_dict,
    validate_agent_config,
    validate_train_config,
)
from ethogram.errors import EthogramError
from ethogram.io import atomic_write_text, check_writable_dir

CONFIG = "config.json"
CHECKPOINT = "checkpoint.safetensors"
CHECKPOINT_RECORD = "checkpoint.json"
METRICS = "metrics.csv"
EVALS = "evals.csv"
TRAINING_FILES = (METRICS, EVALS, "eval.json", CHECKPOINT, CHECKPOINT_RECORD)


def run_file(run_dir: str | Path, name: str) -> Path:
    """A file of the run directory; refuses one that is a link leading outside it."""
    run_dir = Path(run_dir)
    path = run_dir / name
    try:
        real = path.resolve(strict=False)
        inside = real.is_relative_to(run_dir.resolve())
    except (OSError, RuntimeError):  # symlink loop
        raise EthogramError(f"'{path}' is a symbolic link loop.", "delete it") from None
    if not inside:
        raise EthogramError(f"'{path}' leads outside its run directory (to '{real}'); refusing to use it.",
                            "replace the link by the file itself")
    return path


# ------------------------------------------------------------------------------------------- creating

def create(out: str | Path, force: bool = False, stale: tuple[str, ...] = TRAINING_FILES) -> Path:
    """An empty (or, with `force`, emptied of `stale` results) writable run directory."""
    out = Path(out)
    if out.exists():
        _refuse_existing(out, force)
    check_writable_dir(out)
    if force:
        for name in stale:
            (out / name).unlink(missing_ok=True)
    return out


def write_config(run_dir: str | Path, run: dict) -> None:
    atomic_write_text(run_file(run_dir, CONFIG), json.dumps(run, indent=2) + "\n")


# -------------------------------------------------------------------------------------------- reading

def read_config(run_dir: str | Path) -> dict:
    """config.json of any run (learned agent or search) as a JSON object with an agent name."""
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise EthogramError(f"run directory '{run_dir}' does not exist.", "train one with ethogram train")
    path = run_file(run_dir, CONFIG)
    if not path.exists():
        raise EthogramError(f"'{run_dir}' is not a run directory: it has no {CONFIG}.")
    try:
        run = json.loads(path.read_text())
        if not isinstance(run, dict) or not isinstance(run.get("agent"), str):
            raise TypeError("expected an object with an 'agent' name")
    except (json.JSONDecodeError, UnicodeDecodeError, TypeError, OSError) as e:
        raise EthogramError(f"'{path}' is malformed ({type(e).__name__}: {e}).", "train the run again") from None
    return run


def is_search_run(run_dir: str | Path) -> bool:
    try:
        return read_config(run_dir).get("agent") == "sns"
    except EthogramError:
        return False


def load(run_dir: str | Path) -> tuple[dict, ModuleType, object]:
    """(run description, agent module, agent config) of a trained run, every field checked."""
    run = read_config(run_dir)
    path = Path(run_dir) / CONFIG
    try:
        agent = get_agent(run["agent"])
        config = config_from_dict(agent.Config, run["agent_config"])
        validate_agent_config(config)
        validate_train_config(config_from_dict(TrainConfig, run["train_config"]))
        for k in ("obs_dim", "action_dim"):
            if not isinstance(run[k], int) or isinstance(run[k], bool) or run[k] < 1:
                raise TypeError(f"'{k}' must be a positive integer")
        if not isinstance(run["env"], str) or not isinstance(run["dataset"], str):
            raise TypeError("'env' and 'dataset' must be strings")
    except (KeyError, TypeError, AttributeError) as e:
        raise EthogramError(f"'{path}' is malformed ({type(e).__name__}: {e}).", "train the run again") from None
    except EthogramError as e:
        raise EthogramError(f"'{path}': {e.problem}", e.fix or "train the run again") from None
    return run, agent, config


def train_config(run: dict) -> TrainConfig:
    return config_from_dict(TrainConfig, run["train_config"])


def spec_of(run: dict) -> Spec:
    return Spec(run["obs_dim"], run["action_dim"])


def restore(run_dir: str | Path, run: dict, agent: ModuleType, config):
    """The run's latest checkpoint, arranged like a fresh state of its agent and config."""
    template = agent.init(jax.random.PRNGKey(0), spec_of(run), config)
    return checkpoint.load(run_file(run_dir, CHECKPOINT), template)


def checkpoint_step(run_dir: str | Path) -> int:
    """The step of the run's checkpoint (0 when it has none): the one reader of checkpoint.json."""
    run_dir = Path(run_dir)
    path = run_file(run_dir, CHECKPOINT_RECORD)
    if not path.exists() or not run_file(run_dir, CHECKPOINT).exists():
        return 0
    try:
        step = json.loads(path.read_text())["step"]
        if not isinstance(step, int) or isinstance(step, bool) or step < 0:
            raise TypeError(f"step {step!r} is not a non-negative integer")
        return step
    except (json.JSONDecodeError, UnicodeDecodeError, KeyError, TypeError, OSError) as e:
        raise EthogramError(f"'{path}' is malformed ({type(e).__name__}: {e}).",
                            f"delete it and {CHECKPOINT} to start over, or train again") from None


def save_checkpoint(run_dir: str | Path, state, step: int) -> None:
    checkpoint.save(run_file(run_dir, CHECKPOINT), state)
    atomic_write_text(run_file(run_dir, CHECKPOINT_RECORD), json.dumps({"step": step}) + "\n")


# ------------------------------------------------------------------------------------------------ CSV

def append_csv(path: Path, row: dict) -> None:
    """One row (with the header first in a new file); every line ends in LF."""
    new = not path.exists()
    with path.open("a", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(row), lineterminator="\n")
        if new:
            w.writeheader()
        w.writerow(row)


def csv_rows(path: Path) -> list[dict]:
    if not path.exists():
        return []
    with path.open(newline="") as f:
        return list(csv.DictReader(f))


def csv_steps(path: Path) -> set[int]:
    """The steps of a run's CSV rows (none if the file does not exist)."""
    return {int(r["step"]) for r in csv_rows(path)}


def truncate_csv(path: Path, last_step: int) -> None:
    """Keep the header and the complete rows up to `last_step` (rows logged after the checkpoint are redone).

    Line endings are normalised to LF (files written before used CRLF)."""
    if not path.exists():
        return
    with path.open(newline="") as f:
        lines = f.read().splitlines(keepends=True)
    keep = [lines[0].rstrip("\r\n") + "\n"] if lines else []
    for line in lines[1:]:
        head = line.split(",", 1)[0]
        if line.endswith("\n") and head.isdigit() and int(head) <= last_step:
            keep.append(line.rstrip("\r\n") + "\n")
    atomic_write_text(path, "".join(keep))


def last_value(path: Path, column: str, step: int) -> float:
    """`column` of the row logged at `step` (0.0 when there is none): where a resumed run's clock continues."""
    for r in reversed(csv_rows(path)):
        if r.get("step") == str(step):
            try:
                return float(r[column])
            except (KeyError, TypeError, ValueError):
                return 0.0
    return 0.0


# --------------------------------------------------------------------------------------- a training run

def prepare_run(agent_name: str, dataset_path: str | Path, out: str | Path, train_cfg: TrainConfig,
                overrides: Mapping[str, Any] | object | None = None, force: bool = False) -> dict:
    """Validate everything and write config.json; returns the run description. Nothing is trained yet.

    `overrides`: agent config fields as `--set` strings or typed values ({"actor_hidden_dims": (64, 64)}), or a
    whole config object of the agent (`gcivl.Config(batch_size=256)`), used as it is."""
    from ethogram import __version__
    from ethogram.data.dataset import dataset_name_of, read_npz, validate_arrays
    from ethogram.envs.registry import make_env

    agent = get_agent(agent_name)
    if not isinstance(train_cfg, TrainConfig):
        raise EthogramError(f"train_cfg must be a TrainConfig, got {type(train_cfg).__name__}.")
    validate_train_config(train_cfg)
    out = Path(out)
    if out.exists():
        _refuse_existing(out, force)
    arrays = read_npz(dataset_path)  # fail before anything is written
    name = dataset_name_of(dataset_path)
    env = make_env(name.env)
    validate_arrays(arrays, str(dataset_path), env.obs_dim, env.action_dim)
    del arrays
    if isinstance(overrides, AgentConfig):
        if not isinstance(overrides, agent.Config):
            raise EthogramError(f"the config given is a {type(overrides).__module__}.{type(overrides).__name__}, "
                                f"not a config of agent '{agent.NAME}'.", f"pass {agent.__name__}.Config(...)")
        config = apply_overrides(overrides, {})  # validated like any other
    else:
        config = apply_overrides(agent.Config(), dataset_overrides(agent.NAME, name.kind, name.maze, name.robot))
        config = apply_overrides(config, overrides or {})
    validate_agent_config(config)
    create(out, force=force)
    run = {
        "agent": agent.NAME,
        "agent_config": to_dict(config),
        "train_config": to_dict(train_cfg),
        "dataset": str(Path(dataset_path).resolve()),
        "dataset_name": str(name),
        "env": name.env,
        "obs_dim": env.obs_dim,
        "action_dim": env.action_dim,
        "ethogram_version": __version__,
    }
    write_config(out, run)
    return run


def _refuse_existing(out: Path, force: bool) -> None:
    if not out.is_dir():
        raise EthogramError(f"run directory '{out}' exists and is a file.", "choose another --out")
    if any(out.iterdir()) and not force:
        raise EthogramError(f"run directory '{out}' already exists and is not empty; refusing to overwrite it.",
                            "choose another --out, or pass --force to replace the run")
