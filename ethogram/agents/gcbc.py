"""GCBC: goal-conditioned behaviour cloning.

max_pi E_{(s, a, g) ~ D} log pi(a | s, g), with g a future state of the same trajectory (actor goals).
"""

from __future__ import annotations

from dataclasses import dataclass

import jax
import jax.numpy as jnp

from ethogram.agents.base import AgentConfig, Spec, apply_grads, gaussian_act, new_state, no_value
from ethogram.nets import GCActor, gaussian_log_prob

NAME = "gcbc"


@dataclass(frozen=True)
class Config(AgentConfig):
    pass


def actor_net(config: Config, action_dim: int) -> GCActor:
    return GCActor(config.actor_hidden_dims, action_dim, const_std=config.const_std, matmul=config.matmul)


def init(key, spec: Spec, config: Config) -> dict:
    obs = jnp.zeros((1, spec.obs_dim))
    params = {"actor": actor_net(config, spec.action_dim).init(key, obs, obs)["params"]}
    return new_state(params, {}, config, spec)


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


def act(state: dict, observations, goals, config: Config, key=None):
    del key  # deterministic: the mean action, as OGBench evaluates
    return gaussian_act(actor_net(config, state["spec"].action_dim), state["params"]["actor"], observations, goals)


def value(state: dict, observations, goals, config: Config):
    no_value(NAME, "behaviour cloning learns a policy only")
