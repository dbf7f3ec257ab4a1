"""Environments by name, from a table keyed by robot: `pointmaze-medium`, dataset `pointmaze-medium-navigate-v0`.

OGBench names an environment `{robot}maze-{maze}` and a dataset `{robot}maze-{maze}-{kind}-v0`. Each robot row
says which environment class steps it, which locomotor drives it toward the expert's subgoals (envs/expert.py)
and which dataset kinds its expert collects. Adding a robot is a row here and its environment class.

Tasks without a maze (TASKS: D3IL's `avoiding`) are named by themselves: environment `avoiding`, dataset
`avoiding-v0`, collected by their own scripted demonstrator.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from functools import lru_cache

from ethogram.envs.expert import ant_locomotor, point_locomotor
from ethogram.envs.maze import PUBLISHED as MAZES  # noqa: E402
from ethogram.errors import EthogramError


@dataclass(frozen=True)
class Robot:
    name: str
    env_class: str  # "module:Class", imported when first made (MuJoCo loads only then)
    locomotor: Callable  # (expert dir | None) -> ((env, state, unit directions (B, 2)) -> noise-free actions)
    kinds: tuple[str, ...]  # dataset kinds its expert collects
    note: str = ""
    noise: dict = field(default_factory=lambda: {"navigate": 0.5, "stitch": 0.5})  # OGBench's per kind
    expert: str | None = None  # default directory of a learned locomotor (`ethogram expert ROBOT --out DIR`)
    custom_mazes: bool = True  # walks a maze of your own (envs/mazefile.py); the ant walks OGBench's mazes only


ROBOTS: dict[str, Robot] = {
    "point": Robot("point", "ethogram.envs.pointmaze:PointMaze", point_locomotor, ("navigate", "stitch")),
    "pointvel": Robot("pointvel", "ethogram.envs.pointmaze:VelocityPointMaze", point_locomotor,
                      ("navigate", "stitch"), "the point observing its position and last displacement (4-D)"),
    "ant": Robot("ant", "ethogram.envs.antmaze:AntMaze", ant_locomotor, ("navigate", "stitch", "explore"),
                 "OGBench's quadruped: 29-D joint state, 8 torques, walked by a SAC expert trained here",
                 {"navigate": 0.2, "stitch": 0.2, "explore": 1.0}, "experts/ant", custom_mazes=False),
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
# Recognised OGBench robots that ethogram cannot collect for yet (none at present).
PENDING: dict[str, tuple[str, ...]] = {}


def known_envs() -> list[str]:
    return [f"{r}maze-{m}" for r in ROBOTS for m in MAZES] + list(TASKS)


def known_datasets() -> list[str]:
    return [f"{r}maze-{m}-{k}" for r, robot in ROBOTS.items() for m in MAZES for k in robot.kinds] + list(TASKS)


@dataclass(frozen=True)
class DatasetName:
    """A parsed dataset name: the robot, the maze and how the data was collected.

    A custom maze (envs/mazefile.py) is named by its file and carries its layout: the canonical text of the maze
    file, stored in the dataset's sidecar and in every run trained on it, so that evaluation uses the same maze."""

    robot: str  # a key of ROBOTS ("point", "pointvel"), or of TASKS ("avoiding")
    maze: str  # medium | large | giant | teleport, a custom maze's name; "" for a task without a maze
    kind: str  # navigate | stitch | explore; "demos" for a task's scripted demonstrations
    layout: str | None = field(default=None, compare=False, repr=False)  # a custom maze's canonical text

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


def parse_env_name(name: str, layout: str | None = None) -> tuple[str, str]:
    """'pointmaze-medium' (optionally '-v0') -> ('point', 'medium'); 'avoiding' -> ('avoiding', ''); with a custom
    maze's `layout`, 'pointmaze-NAME' -> ('point', 'NAME'); or a clear error."""
    if _strip(name) in TASKS:
        return _strip(name), ""
    parts = _strip(name).split("-")
    if layout is not None and len(parts) == 2 and _robot(parts[0]) in ROBOTS:
        return _custom(name, _robot(parts[0]), parts[1])
    if len(parts) == 2 and parts[1] in MAZES:
        robot = _robot(parts[0])
        if robot in PENDING:
            raise _pending_error(name, robot)
        if robot in ROBOTS:
            return robot, parts[1]
    raise EthogramError(f"unknown environment '{name}'.", f"known environments: {', '.join(known_envs())}")


def _custom(name: str, robot: str, maze: str) -> tuple[str, str]:
    if maze in MAZES:
        raise EthogramError(f"'{name}' names the published {maze} maze, but comes with a maze file's layout.",
                            "rename the maze file: a custom maze is never named like a published one")
    if not maze or not all(c.isalnum() or c == "_" for c in maze):
        raise EthogramError(f"'{name}': a custom maze's name is letters, digits and '_' (got '{maze}').",
                            "rename the maze file")
    return robot, maze


def parse_dataset_name(name: str, layout: str | None = None) -> DatasetName:
    """'pointmaze-medium-navigate' (optionally '-v0' / '.npz') -> DatasetName, or a clear error. With a custom
    maze's `layout` (envs/mazefile.py), 'pointmaze-NAME-navigate' names a dataset of that maze."""
    if _strip(name) in TASKS:
        return DatasetName(_strip(name), "", DEMOS)
    parts = _strip(name).split("-")
    if layout is not None and len(parts) == 3 and _robot(parts[0]) in ROBOTS:
        robot, maze = _custom(name, _robot(parts[0]), parts[1])
        if parts[2] not in ROBOTS[robot].kinds:
            raise EthogramError(f"'{name}': {robot}maze collects {', '.join(ROBOTS[robot].kinds)} datasets, "
                                f"not '{parts[2]}'.")
        return DatasetName(robot, maze, parts[2], layout)
    if len(parts) == 3 and parts[1] in MAZES:
        robot = _robot(parts[0])
        if robot in PENDING and parts[2] in PENDING[robot]:
            raise _pending_error(name, robot)
        if robot in ROBOTS and parts[2] in ROBOTS[robot].kinds:
            return DatasetName(robot, parts[1], parts[2])
    raise EthogramError(f"unknown dataset '{name}'.", f"known datasets: {', '.join(known_datasets())}")


@lru_cache(maxsize=8)
def make_env(name: str, layout: str | None = None):
    """The batched environment (envs/base.py) for an environment or dataset name; a custom maze's needs its
    `layout` (the canonical text of its maze file, envs/mazefile.py)."""
    import importlib

    if _strip(name) in TASKS:
        module, cls = TASKS[_strip(name)].env_class.split(":")
        return getattr(importlib.import_module(module), cls)()
    parts = _strip(name).split("-")
    robot, maze = parse_env_name("-".join(parts[:2]), layout) if len(parts) >= 2 else parse_env_name(name, layout)
    if len(parts) > 2:
        parse_dataset_name(name, layout)  # validates the dataset part too
    module, cls = ROBOTS[robot].env_class.split(":")
    env_class = getattr(importlib.import_module(module), cls)
    if layout is None:
        return env_class(maze)
    from ethogram.envs.mazefile import parse_maze

    return env_class(maze, parse_maze(layout, f"the layout of {name}", maze))


def run_env(run: dict, run_dir=None):
    """The environment of a run, or a clear error for a run whose data comes from no environment ethogram
    simulates (evaluation, prompts and pictures need one)."""
    env = env_of(run)
    if env is None:
        where = f"run '{run_dir}'" if run_dir is not None else "this run"
        raise EthogramError(f"{where} was trained on '{run.get('dataset_name')}', data of no environment ethogram "
                            "simulates: there is nothing to evaluate it in.",
                            "to evaluate, train on data of one of ethogram's environments; train --env ENV names the "
                            f"environment of a dataset that does not say ({', '.join(known_envs())})")
    return env


def env_of(run: dict):
    """The environment a run (config.json) or a dataset sidecar names, with its custom maze; None when the data
    comes from no environment ethogram simulates (it trains; evaluation needs an environment)."""
    if not run.get("env"):
        return None
    return make_env(run["env"], run.get("maze_layout"))
