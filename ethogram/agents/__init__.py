"""Agents by name. Each is one file, readable top-down beside its paper (see agents/base.py)."""

from __future__ import annotations

from types import ModuleType

from ethogram.agents import crl, gcbc, gciql, gcivl, hilp, hiql, qrl
from ethogram.errors import EthogramError

AGENTS: dict[str, ModuleType] = {m.NAME: m for m in (gcbc, gcivl, gciql, qrl, crl, hiql, hilp)}


def get_agent(name: str) -> ModuleType:
    try:
        return AGENTS[name.lower()]
    except KeyError:
        raise EthogramError(f"unknown agent '{name}'.", f"known agents: {', '.join(sorted(AGENTS))}") from None


def dataset_overrides(agent: str, dataset_kind: str, maze: str, loco: str = "pointmaze") -> dict:
    """Published per-dataset settings (OGBench hyperparameters.sh): giant mazes use discount 0.995;
    stitch datasets draw actor goals half from the trajectory, half at random; explore ones at random;
    an agent's LOCO_OVERRIDES give its per-robot settings (e.g. GCIQL's alpha 0.3 on antmaze, 0.003 on pointmaze)."""
    overrides: dict = dict(getattr(AGENTS.get(agent), "LOCO_OVERRIDES", {}).get(loco, {}))
    if maze == "giant":
        overrides["discount"] = 0.995
    if agent != "gcbc":
        if dataset_kind == "stitch":
            overrides.update(actor_p_trajgoal=0.5, actor_p_randomgoal=0.5)
        elif dataset_kind == "explore":
            overrides.update(actor_p_trajgoal=0.0, actor_p_randomgoal=1.0)
    return overrides
