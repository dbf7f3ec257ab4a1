"""GCIQL: goal-conditioned implicit Q-learning (IQL with Q and V) and a DDPG+BC actor.

Reward r = 0 at the goal else -1, mask m = 0 at it; value goals g (cur 0.2 / traj 0.5 geometric / random 0.3).
Value (one head), against the Polyak target critics Q̄_1, Q̄_2:
  q̄   = min(Q̄_1(s, g, a), Q̄_2(s, g, a))          L_V = |tau - 1(q̄ - V(s, g) < 0)| * (q̄ - V(s, g))^2
Critic (two heads), regressed on the value of the next state (V frozen):
  y   = r + gamma * m * V(s', g)                   L_Q = sum_k (Q_k(s, g, a) - y)^2
Actor (DDPG+BC on actor goals, critic frozen; mu = the Gaussian's mean (a sample if the std is learned), clipped):
  q   = min_k Q_k(s, g, mu(s, g))                  L_pi = -q / sg(mean |q|) - alpha * log pi(a | s, g)
alpha: 0.003 on pointmaze, 0.3 on antmaze (OGBench hyperparameters.sh).
"""

from __future__ import annotations

from dataclasses import dataclass

import jax
import jax.numpy as jnp

from ethogram.agents.base import AgentConfig, Spec, apply_grads, gaussian_act, new_state
from ethogram.nets import GCActor, GCValue, ddpg_actions, ddpg_bc_loss, expectile_loss, polyak

NAME = "gciql"
ROBOT_OVERRIDES = {"ant": {"alpha": 0.3}}  # the default alpha is pointmaze's


@dataclass(frozen=True)
class Config(AgentConfig):
    value_hidden_dims: tuple[int, ...] = (512, 512, 512)
    layer_norm: bool = True
    tau: float = 0.005
    expectile: float = 0.9
    alpha: float = 0.003


def value_net(config: Config) -> GCValue:
    return GCValue(config.value_hidden_dims, layer_norm=config.layer_norm, num=1, matmul=config.matmul)


def critic_net(config: Config) -> GCValue:
    return GCValue(config.value_hidden_dims, layer_norm=config.layer_norm, num=2, matmul=config.matmul)


def actor_net(config: Config, action_dim: int) -> GCActor:
    return GCActor(config.actor_hidden_dims, action_dim, const_std=config.const_std, matmul=config.matmul)


def init(key, spec: Spec, config: Config) -> dict:
    k_value, k_critic, k_actor = jax.random.split(key, 3)
    action_dim = spec.action_dim
    obs, act = jnp.zeros((1, spec.obs_dim)), jnp.zeros((1, action_dim))
    params = {"value": value_net(config).init(k_value, obs, obs)["params"],
              "critic": critic_net(config).init(k_critic, obs, obs, act)["params"],
              "actor": actor_net(config, action_dim).init(k_actor, obs, obs)["params"]}
    target = {"critic": jax.tree_util.tree_map(jnp.copy, params["critic"])}  # own buffers (the state is donated)
    return new_state(params, target, config, spec)


def value_loss(params, target_params, batch, config: Config):
    q1, q2 = critic_net(config).apply({"params": target_params["critic"]}, batch["observations"],
                                      batch["value_goals"], batch["actions"])
    q = jnp.minimum(q1, q2)
    v = value_net(config).apply({"params": params["value"]}, batch["observations"], batch["value_goals"])[0]
    loss = expectile_loss(q - v, q - v, config.expectile).mean()
    return loss, {"value/loss": loss, "value/v_mean": v.mean(), "value/v_min": v.min(), "value/v_max": v.max()}


def critic_loss(params, batch, config: Config):
    next_v = value_net(config).apply({"params": jax.lax.stop_gradient(params["value"])},
                                     batch["next_observations"], batch["value_goals"])[0]
    y = batch["rewards"] + config.discount * batch["masks"] * next_v
    q1, q2 = critic_net(config).apply({"params": params["critic"]}, batch["observations"], batch["value_goals"],
                                      batch["actions"])
    loss = ((q1 - y) ** 2 + (q2 - y) ** 2).mean()
    return loss, {"critic/loss": loss, "critic/q_mean": y.mean(), "critic/q_min": y.min(), "critic/q_max": y.max()}


def actor_loss(params, batch, key, config: Config, action_dim: int):
    mean, log_std = actor_net(config, action_dim).apply({"params": params["actor"]}, batch["observations"],
                                                        batch["actor_goals"])
    q1, q2 = critic_net(config).apply({"params": jax.lax.stop_gradient(params["critic"])}, batch["observations"],
                                      batch["actor_goals"], ddpg_actions(mean, log_std, key, config.const_std))
    q = jnp.minimum(q1, q2)
    return ddpg_bc_loss(q, mean, log_std, batch["actions"], config.alpha)


def update(state: dict, batch: dict, key, config: Config):
    action_dim = batch["actions"].shape[-1]

    def total(params):
        lv, mv = value_loss(params, state["target_params"], batch, config)
        lq, mq = critic_loss(params, batch, config)
        la, ma = actor_loss(params, batch, key, config, action_dim)
        return lv + lq + la, {**mv, **mq, **ma}

    grads, metrics = jax.grad(total, has_aux=True)(state["params"])
    state = apply_grads(state, grads, config)
    target = {"critic": polyak(state["params"]["critic"], state["target_params"]["critic"], config.tau)}
    return {**state, "target_params": target}, metrics


def value(state: dict, observations, goals, config: Config):
    """V(s, g)."""
    return value_net(config).apply({"params": state["params"]["value"]}, observations, goals)[0]


def act(state: dict, observations, goals, config: Config, key=None):
    del key  # deterministic: the mean action, as OGBench evaluates
    return gaussian_act(actor_net(config, state["spec"].action_dim), state["params"]["actor"], observations, goals)
