"""The few network building blocks every agent shares (OGBench's reference architecture).

MLPs with GELU, Xavier-uniform init, optional LayerNorm after each hidden activation; a goal-conditioned
value ensemble V(s, g) (or Q(s, g, a)); a goal-conditioned Gaussian actor with a small-init mean head and a
constant (or learned, state-independent) std, no tanh; the losses several agents share (expectile, AWR weights,
DDPG+BC). Used functionally: `module.init` / `module.apply`.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp

from ethogram.errors import EthogramError

MATMULS = ("float32", "bfloat16")


def default_init(scale: float = 1.0):
    return nn.initializers.variance_scaling(scale, "fan_avg", "uniform")


def dot_general(matmul: str):
    """The matrix product of the Dense layers after an MLP's first. "float32": exact f32. "bfloat16": inputs rounded
    to bf16, products accumulated in f32 (parameters, activations and everything else stay f32) - what JAX does by
    default for f32 matmuls on TPUs, and on CPUs with AVX512-BF16 a matmul 2.3x faster than f32."""
    if matmul == "float32":
        return jax.lax.dot_general
    if matmul == "bfloat16":
        def bf16_dot(lhs, rhs, dimension_numbers, precision=None, preferred_element_type=None, **kwargs):
            return jax.lax.dot_general(lhs.astype(jnp.bfloat16), rhs.astype(jnp.bfloat16), dimension_numbers,
                                       preferred_element_type=jnp.float32)
        return bf16_dot
    raise EthogramError(f"unknown matmul precision '{matmul}'.", f"use one of: {', '.join(MATMULS)}")


def dense(features: int, matmul: str = "float32", scale: float = 1.0) -> nn.Dense:
    return nn.Dense(features, kernel_init=default_init(scale), dot_general=dot_general(matmul))


class MLP(nn.Module):
    hidden_dims: Sequence[int]
    activate_final: bool = False
    layer_norm: bool = False
    matmul: str = "float32"

    @nn.compact
    def __call__(self, x):
        for i, size in enumerate(self.hidden_dims):
            # The first layer reads raw coordinates (up to ~40 in a giant maze, where bf16 steps are 0.25) and costs
            # little: it always runs in float32.
            x = dense(size, self.matmul if i else "float32")(x)
            if i + 1 < len(self.hidden_dims) or self.activate_final:
                x = nn.gelu(x)
                if self.layer_norm:
                    x = nn.LayerNorm()(x)
        return x


class _StackedDense(nn.Module):
    """`num` Dense layers, kernels stacked (num, in, out) as flax's nn.vmap lays them out, applied one by one."""

    num: int
    features: int
    matmul: str = "float32"

    @nn.compact
    def __call__(self, xs: list[jax.Array]) -> list[jax.Array]:
        base = default_init()

        def init(key, shape):  # each member initialised like a lone Dense layer
            return jnp.stack([base(k, shape[1:]) for k in jax.random.split(key, shape[0])])

        kernel = self.param("kernel", init, (self.num, xs[0].shape[-1], self.features))
        bias = self.param("bias", nn.initializers.zeros, (self.num, self.features))
        dot = dot_general(self.matmul)
        return [dot(x, kernel[k], (((x.ndim - 1,), (0,)), ((), ()))) + bias[k] for k, x in enumerate(xs)]


class _StackedLayerNorm(nn.Module):
    """`num` LayerNorms (flax's defaults: epsilon 1e-6, fast variance), scales and biases stacked (num, d)."""

    num: int
    epsilon: float = 1e-6

    @nn.compact
    def __call__(self, xs: list[jax.Array]) -> list[jax.Array]:
        d = xs[0].shape[-1]
        scale = self.param("scale", nn.initializers.ones, (self.num, d))
        bias = self.param("bias", nn.initializers.zeros, (self.num, d))
        out = []
        for k, x in enumerate(xs):
            mean = x.mean(-1, keepdims=True)
            var = jnp.maximum(0.0, jnp.square(x).mean(-1, keepdims=True) - jnp.square(mean))
            out.append((x - mean) * jax.lax.rsqrt(var + self.epsilon) * scale[k] + bias[k])
        return out


class VmapMLP(MLP):
    """`num` independent MLPs on the same input -> (num, ..., out).

    The parameters are stacked on a leading axis with the names and shapes of flax's `nn.vmap(MLP)` (checkpoints
    written before keep loading), but each member runs its own matrix products: on XLA's CPU backend that made
    GCIVL's training step 13 % and GCIQL's 26 % faster than one batched product over the stack
    (benchmarks/README.md)."""

    num: int = 2

    @nn.compact
    def __call__(self, x):
        xs = [x] * self.num
        for i, size in enumerate(self.hidden_dims):
            xs = _StackedDense(self.num, size, self.matmul if i else "float32", name=f"Dense_{i}")(xs)
            if i + 1 < len(self.hidden_dims) or self.activate_final:
                xs = [nn.gelu(h) for h in xs]
                if self.layer_norm:
                    xs = _StackedLayerNorm(self.num, name=f"LayerNorm_{i}")(xs)
        return jnp.stack(xs)


def ensemble(num: int):
    """MLP replicated `num` times with independent parameters (stacked on a leading axis); outputs (num, ...)."""
    return functools.partial(VmapMLP, num=num)


class GCValue(nn.Module):
    """An ensemble of `num` value heads V_k(s, g), or critics Q_k(s, g, a) when given actions -> (num, batch)."""

    hidden_dims: Sequence[int]
    layer_norm: bool = True
    num: int = 2
    matmul: str = "float32"

    @nn.compact
    def __call__(self, observations, goals, actions=None):
        x = jnp.concatenate([observations, goals] + ([] if actions is None else [actions]), axis=-1)
        return ensemble(self.num)((*self.hidden_dims, 1), layer_norm=self.layer_norm, matmul=self.matmul)(x)[..., 0]


class GCActor(nn.Module):
    """pi(a | s, g) = N(mean(s, g), diag(std^2)); returns (mean, log_std)."""

    hidden_dims: Sequence[int]
    action_dim: int
    const_std: bool = True
    log_std_min: float = -5.0
    log_std_max: float = 2.0
    final_init_scale: float = 1e-2
    matmul: str = "float32"

    @nn.compact
    def __call__(self, observations, goals):
        x = jnp.concatenate([observations, goals], axis=-1)
        x = MLP(self.hidden_dims, activate_final=True, matmul=self.matmul)(x)
        mean = dense(self.action_dim, self.matmul, self.final_init_scale)(x)
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


def awr_weight(adv: jax.Array, alpha: float) -> jax.Array:
    """Advantage-weighted regression weight min(exp(alpha * adv), 100) (the cap keeps it finite)."""
    return jnp.minimum(jnp.exp(adv * alpha), 100.0)


def ddpg_bc_loss(q: jax.Array, mean: jax.Array, log_std: jax.Array, actions: jax.Array,
                 alpha: float) -> tuple[jax.Array, dict]:
    """DDPG+BC actor loss -Q(s, g, mu(s, g)) / sg(mean |Q|) - alpha * log pi(a | s, g), and its metrics.

    Dividing by the (frozen) mean |Q| makes alpha independent of the value scale."""
    log_prob = gaussian_log_prob(mean, log_std, actions)
    q_loss = -q.mean() / jax.lax.stop_gradient(jnp.abs(q).mean() + 1e-6)
    bc_loss = -alpha * log_prob.mean()
    loss = q_loss + bc_loss
    return loss, {"actor/loss": loss, "actor/q_loss": q_loss, "actor/bc_loss": bc_loss, "actor/q_mean": q.mean(),
                  "actor/bc_log_prob": log_prob.mean(), "actor/mse": jnp.mean((mean - actions) ** 2)}


def ddpg_actions(mean: jax.Array, log_std: jax.Array, key: jax.Array, const_std: bool) -> jax.Array:
    """The actions DDPG+BC scores with the critic: the mean with a constant std, else a reparameterised sample."""
    if not const_std:
        mean = mean + jnp.exp(log_std) * jax.random.normal(key, mean.shape)
    return jnp.clip(mean, -1.0, 1.0)


def polyak(params, target_params, tau: float):
    return jax.tree_util.tree_map(lambda p, t: tau * p + (1 - tau) * t, params, target_params)
