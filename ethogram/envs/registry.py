"""Environment and dataset names, OGBench style: `pointmaze-medium-navigate-v0`."""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

from ethogram.errors import EthogramError

POINT_MAZES = ("medium", "large", "giant", "teleport")
ANT_MAZES = ("medium", "large", "giant", "teleport")
DATASET_TYPES = {"pointmaze": ("navigate", "stitch"), "antmaze": ("navigate", "stitch", "explore")}


def known_envs() -> list[str]:
    return [f"pointmaze-{m}" for m in POINT_MAZES]


def known_datasets() -> list[str]:
    return [f"pointmaze-{m}-{t}" for m in POINT_MAZES for t in DATASET_TYPES["pointmaze"]]


@dataclass(frozen=True)
class DatasetName:
    """A parsed dataset name: the environment and how the data was collected."""

    loco: str  # "pointmaze" (antmaze is recognised but not yet supported)
    maze: str  # medium | large | giant | teleport
    kind: str  # navigate | stitch | explore

    @property
    def env(self) -> str:
        return f"{self.loco}-{self.maze}"

    def __str__(self) -> str:
        return f"{self.loco}-{self.maze}-{self.kind}-v0"


def _antmaze_error(name: str) -> EthogramError:
    return EthogramError(
        f"'{name}' is an antmaze: it needs a locomotion expert (an ant walking policy trained with SAC) "
        "to collect data, and ethogram does not ship one yet.",
        f"use a pointmaze for now: {', '.join(known_datasets())}",
    )


def _strip(name: str) -> str:
    name = name.strip()
    if name.endswith(".npz"):
        name = name[:-4]
    if name.endswith("-val"):
        name = name[:-4]
    if name.endswith("-v0"):
        name = name[:-3]
    return name


def parse_env_name(name: str) -> tuple[str, str]:
    """'pointmaze-medium' (optionally '-v0') -> ('pointmaze', 'medium'), or a clear error."""
    parts = _strip(name).split("-")
    if len(parts) == 2 and parts[0] == "antmaze" and parts[1] in ANT_MAZES:
        raise _antmaze_error(name)
    if len(parts) == 2 and parts[0] == "pointmaze" and parts[1] in POINT_MAZES:
        return parts[0], parts[1]
    raise EthogramError(f"unknown environment '{name}'.", f"known environments: {', '.join(known_envs())}")


def parse_dataset_name(name: str) -> DatasetName:
    """'pointmaze-medium-navigate' (optionally '-v0' / '.npz') -> DatasetName, or a clear error."""
    parts = _strip(name).split("-")
    if len(parts) == 3 and parts[0] == "antmaze" and parts[1] in ANT_MAZES \
            and parts[2] in DATASET_TYPES["antmaze"]:
        raise _antmaze_error(name)
    if len(parts) == 3 and parts[0] == "pointmaze" and parts[1] in POINT_MAZES \
            and parts[2] in DATASET_TYPES["pointmaze"]:
        return DatasetName(parts[0], parts[1], parts[2])
    raise EthogramError(f"unknown dataset '{name}'.", f"known datasets: {', '.join(known_datasets())}")


@lru_cache(maxsize=8)
def make_env(name: str):
    """The batched environment for an environment or dataset name."""
    from ethogram.envs.pointmaze import PointMaze

    parts = _strip(name).split("-")
    loco, maze = parse_env_name("-".join(parts[:2])) if len(parts) >= 2 else parse_env_name(name)
    if len(parts) > 2:
        parse_dataset_name(name)  # validates the dataset part too
    return PointMaze(maze)
