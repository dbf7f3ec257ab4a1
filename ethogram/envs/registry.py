"""Environments by name, from a table keyed by robot: `pointmaze-medium`, dataset `pointmaze-medium-navigate-v0`.

OGBench names an environment `{robot}maze-{maze}` and a dataset `{robot}maze-{maze}-{kind}-v0`. Each robot row
says which environment class steps it, which locomotor drives it toward the expert's subgoals (envs/expert.py)
and which dataset kinds its expert collects. Adding a robot is a row here and its environment class.

Tasks without a maze (TASKS: D3IL's `avoiding`) are named by themselves: environment `avoiding`, dataset
`avoiding-v0`, collected by their own scripted demonstrator.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache

from ethogram.envs.expert import point_locomotor
from ethogram.errors import EthogramError

MAZES = ("medium", "large", "giant", "teleport")


@dataclass(frozen=True)
class Robot:
    name: str
    env_class: str  # "module:Class", imported when first made (MuJoCo loads only then)
    locomotor: Callable | None  # (env, state, subgoal_xy) -> noise-free actions; None: not collectable yet
    kinds: tuple[str, ...]  # dataset kinds its expert collects
    note: str = ""


ROBOTS: dict[str, Robot] = {
    "point": Robot("point", "ethogram.envs.pointmaze:PointMaze", point_locomotor, ("navigate", "stitch")),
    "pointvel": Robot("pointvel", "ethogram.envs.pointmaze:VelocityPointMaze", point_locomotor,
                      ("navigate", "stitch"), "the point observing its position and last displacement (4-D)"),
}

@dataclass(frozen=True)
class TaskEnv:
    name: str
    env_class: str  # "module:Class"
    note: str = ""


TASKS: dict[str, TaskEnv] = {
    "avoiding": TaskEnv("avoiding", "ethogram.envs.avoiding:Avoiding",
                        "D3IL's obstacle-avoidance task: 24 ways past three rows of obstacles (REFERENCE.md §4)"),
}
DEMOS = "demos"  # the dataset kind of a task's scripted demonstrations
# Recognised OGBench robots that ethogram cannot collect for yet, with the reason.
PENDING = {"ant": ("navigate", "stitch", "explore")}


def known_envs() -> list[str]:
    return [f"{r}maze-{m}" for r in ROBOTS for m in MAZES] + list(TASKS)


def known_datasets() -> list[str]:
    return [f"{r}maze-{m}-{k}" for r, robot in ROBOTS.items() for m in MAZES for k in robot.kinds] + list(TASKS)


@dataclass(frozen=True)
class DatasetName:
    """A parsed dataset name: the robot, the maze and how the data was collected."""

    robot: str  # a key of ROBOTS ("point", "pointvel"), or of TASKS ("avoiding")
    maze: str  # medium | large | giant | teleport; "" for a task without a maze
    kind: str  # navigate | stitch | explore; "demos" for a task's scripted demonstrations

    @property
    def env(self) -> str:
        return f"{self.robot}maze-{self.maze}" if self.maze else self.robot

    @property
    def is_maze(self) -> bool:
        return bool(self.maze)

    def __str__(self) -> str:
        return f"{self.env}-{self.kind}-v0" if self.maze else f"{self.env}-v0"


def _pending_error(name: str, robot: str) -> EthogramError:
    return EthogramError(
        f"'{name}' is an {robot}maze: it needs a locomotion expert (an {robot} walking policy trained with SAC) "
        "to collect data, and ethogram does not ship one yet.",
        f"use a pointmaze for now: {', '.join(d for d in known_datasets() if d.startswith('pointmaze'))}",
    )


def _strip(name: str) -> str:
    name = name.strip()
    for suffix in (".npz", "-val", "-v0"):
        name = name.removesuffix(suffix)
    return name


def _robot(prefix: str) -> str | None:
    """'pointmaze' -> 'point' (None if it does not end in 'maze')."""
    return prefix[: -len("maze")] if prefix.endswith("maze") and len(prefix) > 4 else None


def parse_env_name(name: str) -> tuple[str, str]:
    """'pointmaze-medium' (optionally '-v0') -> ('point', 'medium'); 'avoiding' -> ('avoiding', ''); or a clear
    error."""
    if _strip(name) in TASKS:
        return _strip(name), ""
    parts = _strip(name).split("-")
    if len(parts) == 2 and parts[1] in MAZES:
        robot = _robot(parts[0])
        if robot in PENDING:
            raise _pending_error(name, robot)
        if robot in ROBOTS:
            return robot, parts[1]
    raise EthogramError(f"unknown environment '{name}'.", f"known environments: {', '.join(known_envs())}")


def parse_dataset_name(name: str) -> DatasetName:
    """'pointmaze-medium-navigate' (optionally '-v0' / '.npz') -> DatasetName, or a clear error."""
    if _strip(name) in TASKS:
        return DatasetName(_strip(name), "", DEMOS)
    parts = _strip(name).split("-")
    if len(parts) == 3 and parts[1] in MAZES:
        robot = _robot(parts[0])
        if robot in PENDING and parts[2] in PENDING[robot]:
            raise _pending_error(name, robot)
        if robot in ROBOTS and parts[2] in ROBOTS[robot].kinds:
            return DatasetName(robot, parts[1], parts[2])
    raise EthogramError(f"unknown dataset '{name}'.", f"known datasets: {', '.join(known_datasets())}")


@lru_cache(maxsize=8)
def make_env(name: str):
    """The batched environment (envs/base.py) for an environment or dataset name."""
    import importlib

    if _strip(name) in TASKS:
        module, cls = TASKS[_strip(name)].env_class.split(":")
        return getattr(importlib.import_module(module), cls)()
    parts = _strip(name).split("-")
    robot, maze = parse_env_name("-".join(parts[:2])) if len(parts) >= 2 else parse_env_name(name)
    if len(parts) > 2:
        parse_dataset_name(name)  # validates the dataset part too
    module, cls = ROBOTS[robot].env_class.split(":")
    return getattr(importlib.import_module(module), cls)(maze)
