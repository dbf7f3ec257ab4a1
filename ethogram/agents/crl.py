"""CRL: contrastive RL (Eysenbach et al., 2022) with a DDPG+BC actor.

Critic (two heads k): Q_k(s, a, g) = phi_k(s, a) . psi_k(g) / sqrt(d), phi and psi MLPs into a d = 512 latent.
Value goals g_j are future states of the same trajectory (geometric, traj 1.0): in a batch of B, (s_i, a_i, g_i)
is the positive pair and (s_i, a_i, g_j), j != i, are the negatives:
  logits_ijk = phi_k(s_i, a_i) . psi_k(g_j) / sqrt(d)
  L_Q = mean_{i, j, k} BCE(sigmoid(logits_ijk), 1(i = j))
so Q approximates log p(g | s, a) / p(g), the discounted occupancy over the marginal (up to a constant).
Actor (DDPG+BC on actor goals, critic frozen; mu the Gaussian's mean, clipped):
  q = min_k Q_k(s, mu(s, g), g),   L_pi = -q / sg(mean |q|) - alpha * log pi(a | s, g)
alpha: 0.03 on pointmaze, 0.1 on antmaze. No target network.
"""

from __future__ import annotations

from dataclasses import dataclass

import flax.linen as nn
import jax
import jax.numpy as jnp
import optax

from ethogram.agents.base import AgentConfig, Spec, apply_grads, gaussian_act, new_state
from ethogram.errors import EthogramError
from ethogram.nets import GCActor, ddpg_actions, ddpg_bc_loss, ensemble

NAME = "crl"
ROBOT_OVERRIDES = {"ant": {"alpha": 0.1}}  # the default alpha is pointmaze's


@dataclass(frozen=True)
class Config(AgentConfig):
    value_hidden_dims: tuple[int, ...] = (512, 512, 512)
    layer_norm: bool = True
    latent_dim: int = 512
    alpha: float = 0.03
    value_p_curgoal: float = 0.0
    value_p_trajgoal: float = 1.0
    value_p_randomgoal: float = 0.0


class Bilinear(nn.Module):
    """Q_k(s, a, g) = phi_k([s, a]) . psi_k(g) / sqrt(d) for an ensemble of `num` pairs (phi_k, psi_k)."""

    hidden_dims: tuple[int, ...]
    latent_dim: int
    layer_norm: bool = True
    num: int = 2
    matmul: str = "float32"

    def setup(self):
        dims = (*self.hidden_dims, self.latent_dim)
        self.phi = ensemble(self.num)(dims, layer_norm=self.layer_norm, matmul=self.matmul)
        self.psi = ensemble(self.num)(dims, layer_norm=self.layer_norm, matmul=self.matmul)

    def representations(self, observations, actions, goals):
        """(phi, psi), each (num, batch, latent)."""
        return self.phi(jnp.concatenate([observations, actions], axis=-1)), self.psi(goals)

    def __call__(self, observations, actions, goals):
        phi, psi = self.representations(observations, actions, goals)
        return (phi * psi).sum(axis=-1) / jnp.sqrt(self.latent_dim)


def critic_net(config: Config) -> Bilinear:
    return Bilinear(config.value_hidden_dims, config.latent_dim, config.layer_norm, matmul=config.matmul)


def actor_net(config: Config, action_dim: int) -> GCActor:
    return GCActor(config.actor_hidden_dims, action_dim, const_std=config.const_std, matmul=config.matmul)


def init(key, spec: Spec, config: Config) -> dict:
    k_critic, k_actor = jax.random.split(key)
    action_dim = spec.action_dim
    obs, act = jnp.zeros((1, spec.obs_dim)), jnp.zeros((1, action_dim))
    params = {"critic": critic_net(config).init(k_critic, obs, act, obs)["params"],
              "actor": actor_net(config, action_dim).init(k_actor, obs, obs)["params"]}
    return new_state(params, {}, config, spec)


def contrastive_loss(params, batch, config: Config):
    phi, psi = critic_net(config).apply({"params": params["critic"]}, batch["observations"], batch["actions"],
                                        batch["value_goals"], method=Bilinear.representations)
    logits = jnp.einsum("kid,kjd->kij", phi, psi) / jnp.sqrt(config.latent_dim)
    labels = jnp.eye(logits.shape[-1])
    loss = optax.sigmoid_binary_cross_entropy(logits, labels).mean()
    mean_logits = sum(logits) / len(logits)  # unrolled over the heads: a leading-axis mean is slow on CPU
    pos = jnp.diagonal(mean_logits)
    # Accuracy as "the positive is the row's max" (argmax would be a variadic reduce, slow on XLA's CPU backend).
    return loss, {"critic/loss": loss,
                  "critic/categorical_accuracy": jnp.mean(pos >= mean_logits.max(axis=1)),
                  "critic/logits_pos": pos.mean(),
                  "critic/logits_neg": (mean_logits.sum() - pos.sum()) / (len(labels) ** 2 - len(labels))}


def actor_loss(params, batch, key, config: Config, action_dim: int):
    mean, log_std = actor_net(config, action_dim).apply({"params": params["actor"]}, batch["observations"],
                                                        batch["actor_goals"])
    q = critic_net(config).apply({"params": jax.lax.stop_gradient(params["critic"])}, batch["observations"],
                                 ddpg_actions(mean, log_std, key, config.const_std), batch["actor_goals"]).min(axis=0)
    return ddpg_bc_loss(q, mean, log_std, batch["actions"], config.alpha)


def update(state: dict, batch: dict, key, config: Config):
    action_dim = batch["actions"].shape[-1]

    def total(params):
        lq, mq = contrastive_loss(params, batch, config)
        la, ma = actor_loss(params, batch, key, config, action_dim)
        return lq + la, {**mq, **ma}

    grads, metrics = jax.grad(total, has_aux=True)(state["params"])
    return apply_grads(state, grads, config), metrics


def value(state: dict, observations, goals, config: Config):
    """V(s, g) = min_k Q_k(s, mu(s, g), g), the critic at the policy's action."""
    actions = act(state, observations, goals, config)
    return critic_net(config).apply({"params": state["params"]["critic"]}, observations, actions, goals).min(axis=0)


def act(state: dict, observations, goals, config: Config, key=None):
    del key  # deterministic: the mean action, as OGBench evaluates
    return gaussian_act(actor_net(config, state["spec"].action_dim), state["params"]["actor"], observations, goals)


def distance(state: dict, observations, goals, config: Config):
    """Refused: Q is a log density ratio of reaching g, not a discounted count of steps."""
    raise EthogramError("agent 'crl' gives no distance in steps: its critic is a contrastive log-ratio "
                        "log p(g | s, a) / p(g), not a step count.",
                        "use a gcivl, gciql, hiql, qrl or hilp run as the search's controller")
