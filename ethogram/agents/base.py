"""What every agent shares: the config fields of the reference implementations and the state pytree.

An agent is a module with a frozen `Config` dataclass and three pure functions:
  init(key, obs_dim, action_dim, config) -> state
  update(state, batch, key, config) -> (state, metrics)
  act(state, observations, goals, config) -> deterministic actions
State is a dict pytree: params, target_params (may be empty), opt_state, step.
"""

from __future__ import annotations

from dataclasses import dataclass

import jax.numpy as jnp
import optax

from ethogram.data.goals import GoalMix
from ethogram.errors import EthogramError
from ethogram.nets import MATMULS


@dataclass(frozen=True)
class AgentConfig:
    """Fields shared by all goal-conditioned agents; defaults are OGBench's (REFERENCE §1)."""

    lr: float = 3e-4
    batch_size: int = 1024
    discount: float = 0.99
    actor_hidden_dims: tuple[int, ...] = (512, 512, 512)
    const_std: bool = True
    # Goal relabelling for the value function.
    value_p_curgoal: float = 0.2
    value_p_trajgoal: float = 0.5
    value_p_randomgoal: float = 0.3
    value_geom_sample: bool = True
    # Goal relabelling for the actor.
    actor_p_curgoal: float = 0.0
    actor_p_trajgoal: float = 1.0
    actor_p_randomgoal: float = 0.0
    actor_geom_sample: bool = False
    # Matrix products: "float32" (exact) or "bfloat16" (bf16 inputs, f32 accumulation; see nets.dot_general).
    matmul: str = "float32"

    def __post_init__(self):
        if self.matmul not in MATMULS:
            raise EthogramError(f"unknown matmul precision '{self.matmul}'.", f"use one of: {', '.join(MATMULS)}")

    @property
    def value_mix(self) -> GoalMix:
        return GoalMix(self.value_p_curgoal, self.value_p_trajgoal, self.value_p_randomgoal, self.value_geom_sample)

    @property
    def actor_mix(self) -> GoalMix:
        return GoalMix(self.actor_p_curgoal, self.actor_p_trajgoal, self.actor_p_randomgoal, self.actor_geom_sample)


def optimizer(config: AgentConfig) -> optax.GradientTransformation:
    return optax.adam(config.lr)


def new_state(params, target_params, config: AgentConfig) -> dict:
    return {"params": params, "target_params": target_params, "opt_state": optimizer(config).init(params),
            "step": jnp.zeros((), jnp.int32)}


def apply_grads(state: dict, grads, config: AgentConfig) -> dict:
    updates, opt_state = optimizer(config).update(grads, state["opt_state"], state["params"])
    params = optax.apply_updates(state["params"], updates)
    return {**state, "params": params, "opt_state": opt_state, "step": state["step"] + 1}
