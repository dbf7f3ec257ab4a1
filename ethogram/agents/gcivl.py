"""GCIVL: goal-conditioned implicit V-learning (OGBench's V-only IQL) with an AWR actor.

Value (two heads V_1, V_2 and Polyak targets V̄_1, V̄_2), reward r = 0 at the goal else -1, mask m = 0 at it:
  q   = r + gamma * m * min(V̄_1(s', g), V̄_2(s', g))        adv = q - (V̄_1(s, g) + V̄_2(s, g)) / 2
  L_V = sum_k |tau - 1(adv < 0)| * (r + gamma * m * V̄_k(s', g) - V_k(s, g))^2
Actor (advantage-weighted regression on actor goals, value frozen):
  A   = V(s', g) - V(s, g),   L_pi = -E[min(exp(alpha * A), 100) * log pi(a | s, g)]
"""

from __future__ import annotations

from dataclasses import dataclass

import jax
import jax.numpy as jnp

from ethogram.agents.base import AgentConfig, Spec, apply_grads, gaussian_act, new_state
from ethogram.nets import GCActor, GCValue, awr_weight, expectile_loss, gaussian_log_prob, polyak

NAME = "gcivl"


@dataclass(frozen=True)
class Config(AgentConfig):
    value_hidden_dims: tuple[int, ...] = (512, 512, 512)
    layer_norm: bool = True
    tau: float = 0.005
    expectile: float = 0.9
    alpha: float = 10.0


def value_net(config: Config) -> GCValue:
    return GCValue(config.value_hidden_dims, layer_norm=config.layer_norm, num=2, matmul=config.matmul)


def actor_net(config: Config, action_dim: int) -> GCActor:
    return GCActor(config.actor_hidden_dims, action_dim, const_std=config.const_std, matmul=config.matmul)


def init(key, spec: Spec, config: Config) -> dict:
    k_value, k_actor = jax.random.split(key)
    obs = jnp.zeros((1, spec.obs_dim))
    value = value_net(config).init(k_value, obs, obs)["params"]
    actor = actor_net(config, spec.action_dim).init(k_actor, obs, obs)["params"]
    target = jax.tree_util.tree_map(jnp.copy, value)  # own buffers: the train step donates the state
    return new_state({"value": value, "actor": actor}, {"value": target}, config, spec)


def both_states(params, batch, goals, config: Config):
    """V_k(s', g) and V_k(s, g): ((num, batch), (num, batch)). Two passes, not one over the stacked [s'; s]: on XLA's
    CPU backend the stacked pass made the whole training step a third slower (benchmarks/README.md)."""
    v = lambda s: value_net(config).apply({"params": params}, s, goals)
    return v(batch["next_observations"]), v(batch["observations"])


def value_loss(params, target_params, batch, config: Config):
    v = lambda p, s: value_net(config).apply({"params": p}, s, batch["value_goals"])
    (next_v1_t, next_v2_t), (v1_t, v2_t) = both_states(target_params["value"], batch, batch["value_goals"], config)
    r, m, gamma = batch["rewards"], batch["masks"], config.discount
    adv = r + gamma * m * jnp.minimum(next_v1_t, next_v2_t) - (v1_t + v2_t) / 2
    v1, v2 = v(params["value"], batch["observations"])
    loss = (expectile_loss(adv, r + gamma * m * next_v1_t - v1, config.expectile).mean()
            + expectile_loss(adv, r + gamma * m * next_v2_t - v2, config.expectile).mean())
    v_mean = (v1 + v2) / 2
    return loss, {"value/loss": loss, "value/v_mean": v_mean.mean(), "value/v_min": v_mean.min(),
                  "value/v_max": v_mean.max()}


def actor_loss(params, batch, config: Config, action_dim: int):
    next_v, v = both_states(jax.lax.stop_gradient(params["value"]), batch, batch["actor_goals"], config)
    adv = next_v.mean(axis=0) - v.mean(axis=0)
    weight = awr_weight(adv, config.alpha)
    mean, log_std = actor_net(config, action_dim).apply({"params": params["actor"]}, batch["observations"],
                                                        batch["actor_goals"])
    log_prob = gaussian_log_prob(mean, log_std, batch["actions"])
    loss = -(weight * log_prob).mean()
    return loss, {"actor/loss": loss, "actor/adv": adv.mean(), "actor/bc_log_prob": log_prob.mean(),
                  "actor/mse": jnp.mean((mean - batch["actions"]) ** 2)}


def update(state: dict, batch: dict, key, config: Config):
    del key
    action_dim = batch["actions"].shape[-1]

    def total(params):
        lv, mv = value_loss(params, state["target_params"], batch, config)
        la, ma = actor_loss(params, batch, config, action_dim)
        return lv + la, {**mv, **ma}

    grads, metrics = jax.grad(total, has_aux=True)(state["params"])
    state = apply_grads(state, grads, config)
    target = {"value": polyak(state["params"]["value"], state["target_params"]["value"], config.tau)}
    return {**state, "target_params": target}, metrics


def value(state: dict, observations, goals, config: Config):
    """V(s, g), the mean of the two heads."""
    return value_net(config).apply({"params": state["params"]["value"]}, observations, goals).mean(axis=0)


def act(state: dict, observations, goals, config: Config, key=None):
    del key  # deterministic: the mean action, as OGBench evaluates
    return gaussian_act(actor_net(config, state["spec"].action_dim), state["params"]["actor"], observations, goals)
