"""GCBC: goal-conditioned behaviour cloning.

max_pi E_{(s, a, g) ~ D} log pi(a | s, g), with g a future state of the same trajectory (actor goals).
"""

from __future__ import annotations

from dataclasses import dataclass

import jax
import jax.numpy as jnp

from ethogram.agents.base import AgentConfig, apply_grads, new_state
from ethogram.nets import GCActor, gaussian_log_prob

NAME = "gcbc"


@dataclass(frozen=True)
class Config(AgentConfig):
    pass


def actor_net(config: Config, action_dim: int) -> GCActor:
    return GCActor(config.actor_hidden_dims, action_dim, const_std=config.const_std, matmul=config.matmul)


def init(key, obs_dim: int, action_dim: int, config: Config) -> dict:
    obs = jnp.zeros((1, obs_dim))
    params = {"actor": actor_net(config, action_dim).init(key, obs, obs)["params"]}
    return new_state(params, {}, config)


def loss_fn(params, batch, config: Config, action_dim: int):
    mean, log_std = actor_net(config, action_dim).apply({"params": params["actor"]}, batch["observations"],
                                                        batch["actor_goals"])
    log_prob = gaussian_log_prob(mean, log_std, batch["actions"])
    loss = -log_prob.mean()
    return loss, {"actor/loss": loss, "actor/mse": jnp.mean((mean - batch["actions"]) ** 2)}


def update(state: dict, batch: dict, key, config: Config):
    del key
    action_dim = batch["actions"].shape[-1]
    grads, metrics = jax.grad(loss_fn, has_aux=True)(state["params"], batch, config, action_dim)
    return apply_grads(state, grads, config), metrics


def act(state: dict, observations, goals, config: Config):
    action_dim = state["params"]["actor"]["Dense_0"]["bias"].shape[-1]
    mean, _ = actor_net(config, action_dim).apply({"params": state["params"]["actor"]}, observations, goals)
    return jnp.clip(mean, -1.0, 1.0)
