"""The few network building blocks every agent shares (OGBench's reference architecture).

MLPs with GELU, Xavier-uniform init, optional LayerNorm after each hidden activation; a goal-conditioned
value ensemble V(s, g); a goal-conditioned Gaussian actor with a small-init mean head and a constant
(or learned, state-independent) std, no tanh. Used functionally: `module.init` / `module.apply`.
"""

from __future__ import annotations

from collections.abc import Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp


def default_init(scale: float = 1.0):
    return nn.initializers.variance_scaling(scale, "fan_avg", "uniform")


class MLP(nn.Module):
    hidden_dims: Sequence[int]
    activate_final: bool = False
    layer_norm: bool = False

    @nn.compact
    def __call__(self, x):
        for i, size in enumerate(self.hidden_dims):
            x = nn.Dense(size, kernel_init=default_init())(x)
            if i + 1 < len(self.hidden_dims) or self.activate_final:
                x = nn.gelu(x)
                if self.layer_norm:
                    x = nn.LayerNorm()(x)
        return x


class GCValue(nn.Module):
    """An ensemble of `num` value heads V_k(s, g) -> (num, batch)."""

    hidden_dims: Sequence[int]
    layer_norm: bool = True
    num: int = 2

    @nn.compact
    def __call__(self, observations, goals):
        ensemble = nn.vmap(MLP, variable_axes={"params": 0}, split_rngs={"params": True}, in_axes=None,
                           out_axes=0, axis_size=self.num)
        x = jnp.concatenate([observations, goals], axis=-1)
        return ensemble((*self.hidden_dims, 1), layer_norm=self.layer_norm)(x)[..., 0]


class GCActor(nn.Module):
    """pi(a | s, g) = N(mean(s, g), diag(std^2)); returns (mean, log_std)."""

    hidden_dims: Sequence[int]
    action_dim: int
    const_std: bool = True
    log_std_min: float = -5.0
    log_std_max: float = 2.0
    final_init_scale: float = 1e-2

    @nn.compact
    def __call__(self, observations, goals):
        x = jnp.concatenate([observations, goals], axis=-1)
        x = MLP(self.hidden_dims, activate_final=True)(x)
        mean = nn.Dense(self.action_dim, kernel_init=default_init(self.final_init_scale))(x)
        if self.const_std:
            log_std = jnp.zeros((self.action_dim,))
        else:
            log_std = self.param("log_stds", nn.initializers.zeros, (self.action_dim,))
        return mean, jnp.clip(log_std, self.log_std_min, self.log_std_max)


def gaussian_log_prob(mean: jax.Array, log_std: jax.Array, x: jax.Array) -> jax.Array:
    """log N(x; mean, diag(exp(log_std)^2)), summed over the last axis."""
    z = (x - mean) * jnp.exp(-log_std)
    return jnp.sum(-0.5 * z**2 - log_std - 0.5 * jnp.log(2 * jnp.pi), axis=-1)


def expectile_loss(adv: jax.Array, diff: jax.Array, expectile: float) -> jax.Array:
    """|tau - 1(adv < 0)| * diff^2: the asymmetric L2 of IQL."""
    weight = jnp.where(adv >= 0, expectile, 1 - expectile)
    return weight * diff**2


def polyak(params, target_params, tau: float):
    return jax.tree_util.tree_map(lambda p, t: tau * p + (1 - tau) * t, params, target_params)
