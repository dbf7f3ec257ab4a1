"""QRL: quasimetric RL (Wang et al., 2023) with an IQE distance and a latent-dynamics DDPG+BC actor.

Distance d(s, g) = IQE(phi(s), phi(g)), phi an MLP into a 512-d latent split into 64 groups of 8 coordinates:
  component_j(x, y) = length of the union of the intervals [x_i, y_i] over the coordinates i of group j with x_i < y_i
  d = a * mean_j component_j + (1 - a) * max_j component_j,   a = sigmoid(a_raw) (learned)
d is a quasimetric by construction (asymmetric, triangle inequality); the value is V(s, g) = -d(s, g).
Value (random goals g, dual variable lam = exp(log_lam) >= 0, margin eps = 0.05):
  L_d   = mean 100 * softplus(5 - d(s, g) / 100)  +  sg(lam) * mean relu(d(s, s') - 1)^2   (push apart, keep steps <= 1)
  L_lam = lam * (eps - sg(mean relu(d(s, s') - 1)^2))                                    (dual ascent on the constraint)
Latent dynamics (trains phi and f): z' = phi(s) + f([phi(s), a]),
  L_f   = (d_z(phi(s'), z') + d_z(z', phi(s'))) / 2      (d_z: the IQE distance applied to latents directly)
Actor (DDPG+BC on actor goals; phi, f frozen): q = -d_z(phi(s) + f([phi(s), mu(s, g)]), phi(g)),
  L_pi  = -q / sg(mean |q|) - alpha * log pi(a | s, g);  alpha 0.0003 on pointmaze, 0.003 on antmaze.
No target network; the discount only matters for geometric goal sampling, unused by the default random goals.
"""

from __future__ import annotations

from dataclasses import dataclass

import flax.linen as nn
import jax
import jax.numpy as jnp

from ethogram.agents.base import AgentConfig, Spec, apply_grads, gaussian_act, new_state
from ethogram.errors import EthogramError
from ethogram.nets import MLP, GCActor, ddpg_actions, ddpg_bc_loss

NAME = "qrl"
ROBOT_OVERRIDES = {"ant": {"alpha": 0.003}}  # the default alpha is pointmaze's


@dataclass(frozen=True)
class Config(AgentConfig):
    value_hidden_dims: tuple[int, ...] = (512, 512, 512)
    layer_norm: bool = True
    latent_dim: int = 512
    dim_per_component: int = 8
    eps: float = 0.05
    alpha: float = 0.0003
    value_p_curgoal: float = 0.0
    value_p_trajgoal: float = 0.0
    value_p_randomgoal: float = 1.0


def iqe_components(x: jax.Array, y: jax.Array, k: int) -> jax.Array:
    """(..., latent) x2 -> (..., latent // k): per group, the measure of the union of [x_i, y_i] where x_i < y_i.

    The paper (and OGBench) sweeps over the 2k sorted endpoints; XLA's CPU backend sorts slowly. The union is a set
    of disjoint segments [L, R], and every L is an exposed start (an x_i that no other interval covers) and every R
    an exposed end, so union = sum of exposed ends - sum of exposed starts. Exposure takes one comparison per pair
    of intervals (ties go to the lower index, so a shared endpoint counts once) and carries no gradient:
    d union / d y_i is 1 on exposed ends, d / d x_i is -1 on exposed starts, 0 elsewhere, as for the sorted sweep
    (away from ties). The pairs are unrolled over strided slices of the latent, so nothing is transposed and the
    final sum runs along the last axis: XLA's CPU backend is slow at reducing or transposing across a leading
    axis (4-5x slower for the whole distance and its gradient)."""
    groups = (*x.shape[:-1], x.shape[-1] // k, k)
    x, y = x.reshape(groups), y.reshape(groups)
    xs = [jax.lax.stop_gradient(x[..., i]) for i in range(k)]
    ys = [jax.lax.stop_gradient(y[..., i]) for i in range(k)]
    valid = [xs[i] < ys[i] for i in range(k)]

    def exposed(i: int, start: bool) -> jax.Array:
        """Whether interval i's start (or end) lies in no other valid interval j; a tie goes to the lower j."""
        p = xs[i] if start else ys[i]
        covered = jnp.zeros_like(valid[i])
        for j in (j for j in range(k) if j != i):
            left = xs[j] <= p if j < i or not start else xs[j] < p
            right = p <= ys[j] if j < i or start else p < ys[j]
            covered = covered | (valid[j] & left & right)
        return valid[i] & ~covered

    start = jnp.stack([exposed(i, True) for i in range(k)], axis=-1)
    end = jnp.stack([exposed(i, False) for i in range(k)], axis=-1)
    return jnp.sum(jnp.where(end, y, 0.0) - jnp.where(start, x, 0.0), axis=-1)


class IQE(nn.Module):
    """Interval quasimetric embedding: phi(.) and the distance d(s, g) between latents."""

    hidden_dims: tuple[int, ...]
    latent_dim: int
    dim_per_component: int = 8
    layer_norm: bool = True
    matmul: str = "float32"

    def setup(self):
        self.phi = MLP((*self.hidden_dims, self.latent_dim), layer_norm=self.layer_norm, matmul=self.matmul)
        self.alpha_raw = self.param("alpha_raw", nn.initializers.zeros, ())

    def encode(self, x):
        return self.phi(x)

    def distance(self, zs, zg):
        comps = iqe_components(zs, zg, self.dim_per_component)
        a = jax.nn.sigmoid(self.alpha_raw)
        return a * comps.mean(axis=-1) + (1 - a) * comps.max(axis=-1)

    def __call__(self, observations, goals):
        return self.distance(self.encode(observations), self.encode(goals))


def value_net(config: Config) -> IQE:
    return IQE(config.value_hidden_dims, config.latent_dim, config.dim_per_component, config.layer_norm,
               config.matmul)


def dynamics_net(config: Config) -> MLP:
    return MLP((*config.value_hidden_dims, config.latent_dim), layer_norm=config.layer_norm, matmul=config.matmul)


def actor_net(config: Config, action_dim: int) -> GCActor:
    return GCActor(config.actor_hidden_dims, action_dim, const_std=config.const_std, matmul=config.matmul)


def init(key, spec: Spec, config: Config) -> dict:
    if config.latent_dim % config.dim_per_component:
        raise EthogramError(f"latent_dim {config.latent_dim} must be a multiple of dim_per_component "
                            f"{config.dim_per_component}.", "for example --set latent_dim=64")
    k_value, k_dyn, k_actor = jax.random.split(key, 3)
    obs, action_dim = jnp.zeros((1, spec.obs_dim)), spec.action_dim
    params = {"value": value_net(config).init(k_value, obs, obs)["params"],
              "dynamics": dynamics_net(config).init(k_dyn, jnp.zeros((1, config.latent_dim + action_dim)))["params"],
              "actor": actor_net(config, action_dim).init(k_actor, obs, obs)["params"],
              "log_lam": jnp.zeros(())}  # lam = exp(log_lam) = 1 at the start
    return new_state(params, {}, config, spec)


def _encode(params, config: Config, x):
    return value_net(config).apply({"params": params}, x, method=IQE.encode)


def _dist(params, config: Config, zs, zg):
    return value_net(config).apply({"params": params}, zs, zg, method=IQE.distance)


def _next_latent(dyn_params, config: Config, z, actions):
    return z + dynamics_net(config).apply({"params": dyn_params}, jnp.concatenate([z, actions], axis=-1))


def value_and_dynamics_loss(params, batch, config: Config):
    # phi of s, s' and the value goals, one pass each (not one over the stacked batch: slower on XLA's CPU backend).
    z_s, z_next, z_goal = (_encode(params["value"], config, batch[k])
                           for k in ("observations", "next_observations", "value_goals"))
    d_neg = _dist(params["value"], config, z_s, z_goal)
    d_pos = _dist(params["value"], config, z_s, z_next)
    lam = jnp.exp(params["log_lam"])
    d_neg_loss = (100 * jax.nn.softplus(5 - d_neg / 100)).mean()
    d_pos_loss = (jax.nn.relu(d_pos - 1) ** 2).mean()
    value_loss = d_neg_loss + d_pos_loss * jax.lax.stop_gradient(lam)
    lam_loss = lam * (config.eps - jax.lax.stop_gradient(d_pos_loss))
    # Latent dynamics: predict phi(s') from phi(s) and a (gradients reach phi and f).
    z_pred = _next_latent(params["dynamics"], config, z_s, batch["actions"])
    dyn_loss = (_dist(params["value"], config, z_next, z_pred)
                + _dist(params["value"], config, z_pred, z_next)).mean() / 2
    return value_loss + lam_loss + dyn_loss, {
        "value/loss": value_loss, "value/lam_loss": lam_loss, "value/lam": lam, "value/d_neg_loss": d_neg_loss,
        "value/d_neg_mean": d_neg.mean(), "value/d_pos_loss": d_pos_loss, "value/d_pos_mean": d_pos.mean(),
        "dynamics/loss": dyn_loss}


def actor_loss(params, batch, key, config: Config, action_dim: int):
    mean, log_std = actor_net(config, action_dim).apply({"params": params["actor"]}, batch["observations"],
                                                        batch["actor_goals"])
    frozen = jax.lax.stop_gradient({"value": params["value"], "dynamics": params["dynamics"]})
    z_s, z_goal = (_encode(frozen["value"], config, batch[k]) for k in ("observations", "actor_goals"))
    z_pred = _next_latent(frozen["dynamics"], config, z_s, ddpg_actions(mean, log_std, key, config.const_std))
    q = -_dist(frozen["value"], config, z_pred, z_goal)
    return ddpg_bc_loss(q, mean, log_std, batch["actions"], config.alpha)


def update(state: dict, batch: dict, key, config: Config):
    action_dim = batch["actions"].shape[-1]

    def total(params):
        lv, mv = value_and_dynamics_loss(params, batch, config)
        la, ma = actor_loss(params, batch, key, config, action_dim)
        return lv + la, {**mv, **ma}

    grads, metrics = jax.grad(total, has_aux=True)(state["params"])
    return apply_grads(state, grads, config), metrics


def distance(state: dict, observations, goals, config: Config):
    """d(s, g): steps, since the constraint keeps d(s, s') <= 1 for every transition (the search's distance)."""
    return value_net(config).apply({"params": state["params"]["value"]}, observations, goals)


def value(state: dict, observations, goals, config: Config):
    """V(s, g) = -d(s, g)."""
    return -distance(state, observations, goals, config)


def act(state: dict, observations, goals, config: Config, key=None):
    del key  # deterministic: the mean action, as OGBench evaluates
    return gaussian_act(actor_net(config, state["spec"].action_dim), state["params"]["actor"], observations, goals)
