"""Agents by name. Each is one file, readable top-down beside its paper; the contract is in agents/base.py."""

from __future__ import annotations

from types import ModuleType

from ethogram.agents import beso, crl, gcbc, gciql, gcivl, hilp, hiql, qrl
from ethogram.agents.base import robot_overrides
from ethogram.errors import EthogramError

AGENTS: dict[str, ModuleType] = {m.NAME: m for m in (gcbc, gcivl, gciql, qrl, crl, hiql, hilp, beso)}


def get_agent(name: str) -> ModuleType:
    try:
        return AGENTS[name.lower()]
    except (KeyError, AttributeError):
        raise EthogramError(f"unknown agent '{name}'.", f"known agents: {', '.join(AGENTS)}") from None


def dataset_overrides(agent: str, dataset_kind: str, maze: str, robot: str = "point") -> dict:
    """Published per-dataset settings (OGBench impls/hyperparameters.sh): giant mazes use discount 0.995;
    stitch datasets draw actor goals half from the trajectory, half at random; explore ones at random;
    an agent's ROBOT_OVERRIDES give its per-robot settings (e.g. GCIQL's alpha 0.3 on the ant, 0.003 on the point)."""
    overrides: dict = robot_overrides(AGENTS[agent], robot) if agent in AGENTS else {}
    if maze == "giant":
        overrides["discount"] = 0.995
    if agent != "gcbc":
        if dataset_kind == "stitch":
            overrides.update(actor_p_trajgoal=0.5, actor_p_randomgoal=0.5)
        elif dataset_kind == "explore":
            overrides.update(actor_p_trajgoal=0.0, actor_p_randomgoal=1.0)
    return overrides
