"""HIQL: hierarchical implicit Q-learning (Park et al., 2023): a value with a learned goal representation, a
high-level policy that proposes subgoal representations and a low-level policy that reaches them.

Goal representation: z(s, g) = phi([s, g]), an MLP into rep_dim = 10, rescaled to length sqrt(rep_dim).
Value V(s, g) = V_k(s, z(s, g)) (two heads), trained exactly like GCIVL (expectile 0.7) with Polyak targets
V̄_k (the targets read the current phi, without gradient); phi is trained only through this loss:
  q   = r + gamma * m * min(V̄_1(s', g), V̄_2(s', g))        adv = q - (V̄_1(s, g) + V̄_2(s, g)) / 2
  L_V = sum_k |tau - 1(adv < 0)| * (r + gamma * m * V̄_k(s', g) - V_k(s, g))^2
Low level (subgoal w = the state subgoal_steps = 25 ahead in the trajectory, or its last state), value frozen:
  A_lo = V(s', w) - V(s, w),          L_lo = -E[min(exp(alpha_lo * A_lo), 100) * log pi_lo(a | s, sg(z(s, w)))]
High level (goal g = an actor goal; target t = the state min(25, distance to g) steps ahead; for a random goal, 25
steps ahead or the trajectory's last state), value frozen:
  A_hi = V(t, g) - V(s, g),           L_hi = -E[min(exp(alpha_hi * A_hi), 100) * log pi_hi(sg(z(s, t)) | s, g)]
Acting: z* = mean of pi_hi(. | s, g) rescaled to length sqrt(rep_dim), action = mean of pi_lo(. | s, z*).
alpha_lo = alpha_hi = 3 on every pointmaze and antmaze dataset (OGBench hyperparameters.sh).
"""

from __future__ import annotations

from dataclasses import dataclass

import jax
import jax.numpy as jnp

from ethogram.agents.base import AgentConfig, Spec, apply_grads, gaussian_act, new_state
from ethogram.data.dataset import Dataset
from ethogram.data.goals import GoalMix, sample_goal_idxs
from ethogram.data.goals import sample_batch as sample_generic_batch
from ethogram.nets import MLP, GCActor, GCValue, awr_weight, expectile_loss, gaussian_log_prob, polyak

NAME = "hiql"


@dataclass(frozen=True)
class Config(AgentConfig):
    value_hidden_dims: tuple[int, ...] = (512, 512, 512)
    layer_norm: bool = True
    tau: float = 0.005
    expectile: float = 0.7
    low_alpha: float = 3.0
    high_alpha: float = 3.0
    subgoal_steps: int = 25
    rep_dim: int = 10


# ------------------------------------------------------------------------------------------------- batches

def sample_batch(key: jax.Array, data: Dataset, config: Config) -> dict[str, jax.Array]:
    """The generic batch (transitions, value goals, reward, mask) plus the two levels' goals and targets."""
    k_generic, k_traj, k_rand, k_pick = jax.random.split(key, 4)
    batch = sample_generic_batch(k_generic, data, config.batch_size, config.value_mix, config.actor_mix,
                                 config.discount)
    idxs = batch["idxs"]
    final = data.final_idx[idxs]
    ahead = jnp.minimum(idxs + config.subgoal_steps, final)
    # High level: a future state of the trajectory (the actor's traj sampling) or, with p_rand, a random state.
    traj_goal = sample_goal_idxs(k_traj, data, idxs, GoalMix(0.0, 1.0, 0.0, config.actor_geom_sample),
                                 config.discount)
    random_goal = jax.random.randint(k_rand, idxs.shape, 0, data.size)
    pick_random = jax.random.uniform(k_pick, idxs.shape) < config.actor_p_randomgoal
    high_goal = jnp.where(pick_random, random_goal, traj_goal)
    high_target = jnp.where(pick_random, ahead, jnp.minimum(idxs + config.subgoal_steps, traj_goal))
    return {**batch, "low_actor_goals": data.observations[ahead], "high_actor_goals": data.observations[high_goal],
            "high_actor_targets": data.observations[high_target]}


# ------------------------------------------------------------------------------------------------- networks

def goal_rep_net(config: Config) -> MLP:
    return MLP((*config.value_hidden_dims, config.rep_dim), layer_norm=config.layer_norm, matmul=config.matmul)


def length_normalize(z: jax.Array) -> jax.Array:
    return z / jnp.linalg.norm(z, axis=-1, keepdims=True) * jnp.sqrt(z.shape[-1])


def goal_rep(params, config: Config, observations, goals):
    """z(s, g) = phi([s, g]) scaled to length sqrt(rep_dim)."""
    return length_normalize(goal_rep_net(config).apply({"params": params}, jnp.concatenate([observations, goals], -1)))


def value_net(config: Config) -> GCValue:
    return GCValue(config.value_hidden_dims, layer_norm=config.layer_norm, num=2, matmul=config.matmul)


def low_actor_net(config: Config, action_dim: int) -> GCActor:
    return GCActor(config.actor_hidden_dims, action_dim, const_std=config.const_std, matmul=config.matmul)


def high_actor_net(config: Config) -> GCActor:
    return GCActor(config.actor_hidden_dims, config.rep_dim, const_std=config.const_std, matmul=config.matmul)


def init(key, spec: Spec, config: Config) -> dict:
    k_rep, k_value, k_low, k_high = jax.random.split(key, 4)
    obs_dim, action_dim = spec.obs_dim, spec.action_dim
    obs, rep = jnp.zeros((1, obs_dim)), jnp.zeros((1, config.rep_dim))
    params = {"goal_rep": goal_rep_net(config).init(k_rep, jnp.zeros((1, 2 * obs_dim)))["params"],
              "value": value_net(config).init(k_value, obs, rep)["params"],
              "low_actor": low_actor_net(config, action_dim).init(k_low, obs, rep)["params"],
              "high_actor": high_actor_net(config).init(k_high, obs, obs)["params"]}
    target = {"value": jax.tree_util.tree_map(jnp.copy, params["value"])}  # own buffers (the state is donated)
    return new_state(params, target, config, spec)


# ------------------------------------------------------------------------------------------------- losses

def frozen_values(params, target_params, batch, config: Config):
    """Everything the losses use without a gradient: (next_v1_t, next_v2_t, v1_t, v2_t) of the targets on value
    goals; the online mean value V(s, w), V(s', w), V(s, g_hi), V(t, g_hi) for the two actors; and the actors'
    representations z(s, w) (the low actor's input, also V(s, w)'s) and z(s, t) (the high actor's target). One
    pass per (states, goals) pair: stacking them into one larger pass made the training step a third slower on
    XLA's CPU backend (benchmarks/README.md)."""
    p = jax.lax.stop_gradient(params)
    rep = lambda states, goals: goal_rep(p["goal_rep"], config, states, goals)
    v = lambda value_params, states, z: value_net(config).apply({"params": value_params}, states, z)

    s, s2, gv = batch["observations"], batch["next_observations"], batch["value_goals"]
    w, gh, th = batch["low_actor_goals"], batch["high_actor_goals"], batch["high_actor_targets"]
    next_v1_t, next_v2_t = v(target_params["value"], s2, rep(s2, gv))
    v1_t, v2_t = v(target_params["value"], s, rep(s, gv))
    z_low, z_high = rep(s, w), rep(s, th)
    online = [v(p["value"], a, z).mean(axis=0)
              for a, z in ((s, z_low), (s2, rep(s2, w)), (s, rep(s, gh)), (th, rep(th, gh)))]
    return (next_v1_t, next_v2_t, v1_t, v2_t), online, (z_low, z_high)


def update(state: dict, batch: dict, key, config: Config):
    del key
    action_dim = batch["actions"].shape[-1]
    (next_v1_t, next_v2_t, v1_t, v2_t), (v_low, next_v_low, v_high, target_v_high), (z_low, z_high) = (
        frozen_values(state["params"], state["target_params"], batch, config))
    r, m, gamma = batch["rewards"], batch["masks"], config.discount

    def total(params):
        # Value (and, through it, the goal representation).
        z = goal_rep(params["goal_rep"], config, batch["observations"], batch["value_goals"])
        v1, v2 = value_net(config).apply({"params": params["value"]}, batch["observations"], z)
        adv = r + gamma * m * jnp.minimum(next_v1_t, next_v2_t) - (v1_t + v2_t) / 2
        value_loss = (expectile_loss(adv, r + gamma * m * next_v1_t - v1, config.expectile).mean()
                      + expectile_loss(adv, r + gamma * m * next_v2_t - v2, config.expectile).mean())
        # Low level: reach the subgoal.
        low_adv = next_v_low - v_low
        mean, log_std = low_actor_net(config, action_dim).apply({"params": params["low_actor"]},
                                                                batch["observations"], z_low)
        low_log_prob = gaussian_log_prob(mean, log_std, batch["actions"])
        low_loss = -(awr_weight(low_adv, config.low_alpha) * low_log_prob).mean()
        # High level: propose the subgoal's representation.
        high_adv = target_v_high - v_high
        h_mean, h_log_std = high_actor_net(config).apply({"params": params["high_actor"]}, batch["observations"],
                                                         batch["high_actor_goals"])
        high_log_prob = gaussian_log_prob(h_mean, h_log_std, z_high)
        high_loss = -(awr_weight(high_adv, config.high_alpha) * high_log_prob).mean()
        v_mean = (v1 + v2) / 2
        return value_loss + low_loss + high_loss, {
            "value/loss": value_loss, "value/v_mean": v_mean.mean(), "value/v_min": v_mean.min(),
            "value/v_max": v_mean.max(), "low_actor/loss": low_loss, "low_actor/adv": low_adv.mean(),
            "low_actor/bc_log_prob": low_log_prob.mean(), "low_actor/mse": jnp.mean((mean - batch["actions"]) ** 2),
            "high_actor/loss": high_loss, "high_actor/adv": high_adv.mean(),
            "high_actor/bc_log_prob": high_log_prob.mean(), "high_actor/mse": jnp.mean((h_mean - z_high) ** 2)}

    grads, metrics = jax.grad(total, has_aux=True)(state["params"])
    state = apply_grads(state, grads, config)
    target = {"value": polyak(state["params"]["value"], state["target_params"]["value"], config.tau)}
    return {**state, "target_params": target}, metrics


# ------------------------------------------------------------------------------------------------- acting

def value(state: dict, observations, goals, config: Config):
    """V(s, g) = V(s, z(s, g)), the mean of the two heads."""
    z = goal_rep(state["params"]["goal_rep"], config, observations, goals)
    return value_net(config).apply({"params": state["params"]["value"]}, observations, z).mean(axis=0)


def act(state: dict, observations, goals, config: Config, key=None):
    del key  # deterministic: both levels act with their means
    params = state["params"]
    z, _ = high_actor_net(config).apply({"params": params["high_actor"]}, observations, goals)
    return gaussian_act(low_actor_net(config, state["spec"].action_dim), params["low_actor"], observations,
                        length_normalize(z))


def act_subgoal(state: dict, observations, goals, config: Config, key=None):
    """The low level alone on z(s, goal), skipping the high level's proposal: for a goal inside the low level's
    subgoal horizon (about subgoal_steps ahead, what it was trained to reach), such as the search's next node."""
    del key
    params = state["params"]
    z = goal_rep(params["goal_rep"], config, observations, goals)
    return gaussian_act(low_actor_net(config, state["spec"].action_dim), params["low_actor"], observations, z)
