"""Agents by name. Each is one file, readable top-down beside its paper (see agents/base.py)."""

from __future__ import annotations

from types import ModuleType

from ethogram.agents import gcbc, gcivl
from ethogram.errors import EthogramError

AGENTS: dict[str, ModuleType] = {m.NAME: m for m in (gcbc, gcivl)}


def get_agent(name: str) -> ModuleType:
    try:
        return AGENTS[name.lower()]
    except KeyError:
        raise EthogramError(f"unknown agent '{name}'.", f"known agents: {', '.join(sorted(AGENTS))}") from None


def dataset_overrides(agent: str, dataset_kind: str, maze: str) -> dict:
    """Published per-dataset settings (OGBench hyperparameters.sh): giant mazes use discount 0.995;
    stitch datasets draw actor goals half from the trajectory, half at random; explore ones at random."""
    overrides: dict = {}
    if maze == "giant":
        overrides["discount"] = 0.995
    if agent != "gcbc":
        if dataset_kind == "stitch":
            overrides.update(actor_p_trajgoal=0.5, actor_p_randomgoal=0.5)
        elif dataset_kind == "explore":
            overrides.update(actor_p_trajgoal=0.0, actor_p_randomgoal=1.0)
    return overrides
