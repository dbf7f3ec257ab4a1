"""HILP: Hilbert representations and a latent-conditioned policy (Park, Kreiman, Levine, ICML 2024).

Representation phi: S -> R^D such that the goal-conditioned value is a distance in a Hilbert space,
  V(s, g) = -||phi(s) - phi(g)||   (computed as -sqrt(max(||.||^2, 1e-6)))
learned by expectile TD on relabelled goals with two phi networks and Polyak targets (as GCIVL's value):
  q   = r + gamma * m * min(V̄_1(s', g), V̄_2(s', g))        adv = q - (V̄_1(s, g) + V̄_2(s, g)) / 2
  L_phi = sum_k |tau - 1(adv < 0)| * (r + gamma * m * V̄_k(s', g) - V_k(s, g))^2
Downstream phi is the first network. A policy pi(a | s, z) over latent directions z (uniform on the unit sphere,
fresh every batch) maximises the intrinsic reward of moving along z in phi-space, with phi frozen:
  r(s, z, s') = <phi(s') - phi(s), z>
trained by IQL (no terminal mask):
  L_V  = |tau_q - 1(u < 0)| u^2,  u = min_k Q̄_k(s, a, z) - V(s, z)
  L_Q  = sum_k (r(s, z, s') + gamma * V(s', z) - Q_k(s, a, z))^2
  L_pi = -E[min(exp(alpha * (min_k Q̄_k(s, a, z) - V(s, z))), 100) * log pi(a | s, z)]
All four losses are minimised jointly from step 1 with one Adam.

Zero-shot answers (see ethogram/prompts.py): a goal g by z = (phi(g) - phi(s)) / ||phi(g) - phi(s)|| every step;
a reward by least squares of r on phi features; a demonstration by goal-prompting along its states.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import flax.linen as nn
import jax
import jax.numpy as jnp

from ethogram.agents.base import AgentConfig, Spec, apply_grads, gaussian_act, new_state
from ethogram.nets import GCActor, GCValue, ensemble, expectile_loss, gaussian_log_prob, polyak

NAME = "hilp"
PROMPTS = ("goal", "reward", "demonstration")


@dataclass(frozen=True)
class Config(AgentConfig):
    # phi's goals (HILP paper, appendix): a future state of the trajectory (geometric) 0.625, a random one 0.375.
    value_p_curgoal: float = 0.0
    value_p_trajgoal: float = 0.625
    value_p_randomgoal: float = 0.375
    const_std: bool = False  # learned, state-independent log-std (min -5)
    latent_dim: int = 32
    value_hidden_dims: tuple[int, ...] = (512, 512, 512)
    layer_norm: bool = True
    tau: float = 0.005
    expectile: float = 0.95  # phi
    q_expectile: float = 0.9  # the latent policy's IQL
    alpha: float = 10.0  # AWR temperature


class Phi(nn.Module):
    """An ensemble of `num` state encoders phi_k(s) -> (num, batch, latent_dim)."""

    hidden_dims: Sequence[int]
    latent_dim: int
    layer_norm: bool = True
    num: int = 2
    matmul: str = "float32"

    @nn.compact
    def __call__(self, observations):
        return ensemble(self.num)((*self.hidden_dims, self.latent_dim), layer_norm=self.layer_norm,
                                  matmul=self.matmul)(observations)


def phi_net(config: Config) -> Phi:
    return Phi(config.value_hidden_dims, config.latent_dim, layer_norm=config.layer_norm, matmul=config.matmul)


def critic_net(config: Config) -> GCValue:  # Q_k(s, a, z): inputs (concat(s, a), z)
    return GCValue(config.value_hidden_dims, layer_norm=config.layer_norm, num=2, matmul=config.matmul)


def value_net(config: Config) -> GCValue:  # V(s, z)
    return GCValue(config.value_hidden_dims, layer_norm=config.layer_norm, num=1, matmul=config.matmul)


def actor_net(config: Config, action_dim: int) -> GCActor:  # pi(a | s, z)
    return GCActor(config.actor_hidden_dims, action_dim, const_std=config.const_std, matmul=config.matmul)


def init(key, spec: Spec, config: Config) -> dict:
    k_phi, k_q, k_v, k_pi = jax.random.split(key, 4)
    obs, act, z = jnp.zeros((1, spec.obs_dim)), jnp.zeros((1, spec.action_dim)), jnp.zeros((1, config.latent_dim))
    params = {
        "phi": phi_net(config).init(k_phi, obs)["params"],
        "critic": critic_net(config).init(k_q, jnp.concatenate([obs, act], -1), z)["params"],
        "value": value_net(config).init(k_v, obs, z)["params"],
        "actor": actor_net(config, spec.action_dim).init(k_pi, obs, z)["params"],
    }
    target = {k: jax.tree_util.tree_map(jnp.copy, params[k]) for k in ("phi", "critic")}
    return new_state(params, target, config, spec)


def hilbert_value(phi_s: jax.Array, phi_g: jax.Array) -> jax.Array:
    """V(s, g) = -||phi(s) - phi(g)||, with the gradient kept finite at s = g."""
    return -jnp.sqrt(jnp.maximum(jnp.sum((phi_s - phi_g) ** 2, axis=-1), 1e-6))


def phi_loss(params, target_params, batch, config: Config):
    """Expectile TD of the Hilbert value; also returns the online phi_1(s), phi_1(s') for the skill reward."""
    phi = lambda p, s: phi_net(config).apply({"params": p}, s)
    # One pass per input (not one over the stacked [s, s', g]: slower on XLA's CPU backend, benchmarks/README.md).
    s, s_next, g = batch["observations"], batch["next_observations"], batch["value_goals"]
    t_s, t_next, t_g = (phi(target_params["phi"], x) for x in (s, s_next, g))
    o_s, o_next, o_g = (phi(params["phi"], x) for x in (s, s_next, g))
    next_v1_t, next_v2_t = hilbert_value(t_next, t_g)
    v1_t, v2_t = hilbert_value(t_s, t_g)
    r, m, gamma = batch["rewards"], batch["masks"], config.discount
    adv = r + gamma * m * jnp.minimum(next_v1_t, next_v2_t) - (v1_t + v2_t) / 2
    v1, v2 = hilbert_value(o_s, o_g)
    loss = (expectile_loss(adv, r + gamma * m * next_v1_t - v1, config.expectile).mean()
            + expectile_loss(adv, r + gamma * m * next_v2_t - v2, config.expectile).mean())
    v = (v1 + v2) / 2
    metrics = {"phi/loss": loss, "phi/v_mean": v.mean(), "phi/v_min": v.min(), "phi/v_max": v.max()}
    return loss, (metrics, (o_s[0], o_next[0]))


def sample_latents(key, n: int, dim: int) -> jax.Array:
    """z uniform on the unit sphere."""
    z = jax.random.normal(key, (n, dim))
    return z / jnp.linalg.norm(z, axis=-1, keepdims=True)


def skill_losses(params, target_params, batch, z, phi_s, phi_next, config: Config, action_dim: int):
    """IQL of the latent policy; phi_s, phi_next are phi_1(s), phi_1(s'), frozen here."""
    reward = jax.lax.stop_gradient(jnp.sum((phi_next - phi_s) * z, axis=-1))

    s, a, s_next = batch["observations"], batch["actions"], batch["next_observations"]
    sa = jnp.concatenate([s, a], axis=-1)
    q_target = critic_net(config).apply({"params": target_params["critic"]}, sa, z).min(axis=0)
    v, next_v = (value_net(config).apply({"params": params["value"]}, x, z)[0] for x in (s, s_next))
    # V towards the tau_q-expectile of Q̄.
    value_loss = expectile_loss(q_target - v, q_target - v, config.q_expectile).mean()
    # Q towards r + gamma * V(s') (no terminal mask: the latent task never ends).
    q = critic_net(config).apply({"params": params["critic"]}, sa, z)
    q_backup = jax.lax.stop_gradient(reward + config.discount * next_v)
    critic_loss = jnp.sum(jnp.mean((q - q_backup) ** 2, axis=-1))
    # AWR on the advantage of the (frozen) critic and value.
    adv = jax.lax.stop_gradient(q_target - v)
    weight = jnp.minimum(jnp.exp(adv * config.alpha), 100.0)
    mean, log_std = actor_net(config, action_dim).apply({"params": params["actor"]}, s, z)
    log_prob = gaussian_log_prob(mean, log_std, a)
    actor_loss = -(weight * log_prob).mean()
    metrics = {"skill/value_loss": value_loss, "skill/critic_loss": critic_loss, "actor/loss": actor_loss,
               "skill/reward": reward.mean(), "skill/v_mean": v.mean(), "actor/adv": adv.mean(),
               "actor/bc_log_prob": log_prob.mean(), "actor/std": jnp.exp(log_std).mean()}
    return value_loss + critic_loss + actor_loss, metrics


def update(state: dict, batch: dict, key, config: Config):
    action_dim = batch["actions"].shape[-1]
    z = sample_latents(key, batch["observations"].shape[0], config.latent_dim)  # fresh every batch

    def total(params):
        lp, (mp, (phi_s, phi_next)) = phi_loss(params, state["target_params"], batch, config)
        ls, ms = skill_losses(params, state["target_params"], batch, z, phi_s, phi_next, config, action_dim)
        return lp + ls, {**mp, **ms}

    grads, metrics = jax.grad(total, has_aux=True)(state["params"])
    state = apply_grads(state, grads, config)
    target = {k: polyak(state["params"][k], state["target_params"][k], config.tau) for k in ("phi", "critic")}
    return {**state, "target_params": target}, metrics


# ------------------------------------------------------------------------------------------- answering

def phi(state: dict, observations, config: Config) -> jax.Array:
    """The downstream representation: the first phi network."""
    return phi_net(config).apply({"params": state["params"]["phi"]}, observations)[0]


def metric_embedding(state: dict, observations, config: Config) -> jax.Array:
    """phi itself: V(s, g) = -||phi(s) - phi(g)||, so one phi per state gives the distances of all pairs."""
    return phi(state, observations, config)


def goal_latents(phi_s: jax.Array, phi_g: jax.Array) -> jax.Array:
    """z = (phi(g) - phi(s)) / ||phi(g) - phi(s)||."""
    d = phi_g - phi_s
    return d / jnp.maximum(jnp.linalg.norm(d, axis=-1, keepdims=True), 1e-6)


def act_latent(state: dict, observations, z, config: Config):
    return gaussian_act(actor_net(config, state["spec"].action_dim), state["params"]["actor"], observations, z)


def value(state: dict, observations, goals, config: Config):
    """V(s, g) = -||phi(s) - phi(g)|| with the downstream phi (the first network; no gradient floor needed)."""
    return -jnp.linalg.norm(phi(state, observations, config) - phi(state, goals, config), axis=-1)


def act(state: dict, observations, goals, config: Config, key=None):
    """The goal prompt: follow the direction of the goal in phi-space, recomputed every step."""
    del key
    z = goal_latents(phi(state, observations, config), phi(state, goals, config))
    return act_latent(state, observations, z, config)


def plan(phi_s: jax.Array, phi_g: jax.Array, bank_phi: jax.Array, recursions: int = 3, k: int = 50) -> jax.Array:
    """HILP-Plan's subgoal in phi-space: K times, the mean phi of the k bank states w that minimise
    max(||phi(w) - phi(s)||, ||phi(w) - phi_goal||) (a minimax midpoint), starting from phi_goal = phi(g)."""
    bank_sq = jnp.sum(bank_phi**2, axis=-1)

    def sq_dist(x):  # (B, D) -> (B, N)
        return jnp.sum(x**2, axis=-1, keepdims=True) + bank_sq - 2 * x @ bank_phi.T

    d_s = sq_dist(phi_s)

    def midpoint(phi_goal, _):
        _, idx = jax.lax.top_k(-jnp.maximum(d_s, sq_dist(phi_goal)), k)
        return bank_phi[idx].mean(axis=1), None

    phi_goal, _ = jax.lax.scan(midpoint, phi_g, None, length=recursions)
    return phi_goal


def act_plan(state: dict, observations, goals, bank_phi, config: Config, recursions: int = 3, k: int = 50):
    """The goal prompt with HILP-Plan: head for the planned midpoint instead of the goal itself."""
    phi_s = phi(state, observations, config)
    sub = plan(phi_s, phi(state, goals, config), bank_phi, recursions, k)
    return act_latent(state, observations, goal_latents(phi_s, sub), config)
