"""BESO: goal-conditioned imitation with score-based diffusion policies (Reuss, Li, Jia, Lioutikov; RSS 2023).

The policy is a denoiser D(a_σ; σ, s, g) that maps a noisy action a_σ = a + σ·n back to the action a of the data,
for every noise level σ (the continuous-time formulation of Karras et al. 2022, "EDM"):

  preconditioning   D = c_skip(σ)·a_σ + c_out(σ)·F(c_in(σ)·a_σ, c_noise(σ), s, g)
                    c_skip = σ_d² / (σ² + σ_d²), c_out = σ·σ_d / √(σ² + σ_d²), c_in = 1 / √(σ² + σ_d²),
                    c_noise = ln(σ) / 4, σ_d = sigma_data = 0.5 (actions in [-1, 1])
  training          E ||F - (a - c_skip·a_σ) / c_out||², i.e. EDM's λ(σ)-weighted ||D - a||², with σ drawn from a
                    log-logistic distribution (location ln 0.5, scale 0.5) truncated to [σ_min, σ_max]
  goals             future states of the same trajectory (the actor goals of data/goals.py, as every agent);
                    dropped (replaced by a learned "no goal" flag) with probability goal_drop = 0.1, so one network
                    is both conditional and unconditional
  sampling          from a ~ N(0, σ_max²), `sampling_steps` (3) steps down the exponential schedule
                    σ_i = exp(linspace(ln σ_max, ln σ_min)), then 0: DDIM (deterministic, the default) or
                    Euler-ancestral (k-diffusion's sample_euler_ancestral); all steps in one jitted call
  guidance          classifier-free: D = D(∅) + guidance·(D(g) - D(∅)); 1 = conditional only (C-BESO),
                    0 = unconditional, > 1 pushes toward the goal (CFG-BESO)
  acting            with the EMA of the weights (decay 0.999, warmed up as (1 + t) / (10 + t) so that short runs
                    act with trained weights); with action chunks (`chunk` > 1) the denoiser predicts the next
                    `chunk` actions and the agent executes the first, re-planning every step

The many-step baseline is the same network sampled with `sampler="ddpm"`: the DDPM posterior
q(a_{i+1} | a_i, â_0) of the variance-exploding process, ancestral, over `ddpm_steps` (25) noise levels.

Denoisers: an MLP over [c_in·a_σ, c_noise, s, g, no-goal flag] (default; 4 x 256 GELU, ~0.27M parameters), or
`denoiser="transformer"`: a small causal transformer over the tokens (σ, g, s_{t-W+1} ... s_t, a_σ) with a window of
W = `window` states (BESO's block-push network: 4 layers, width 240, window 5).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import ClassVar

import flax.linen as nn
import jax
import jax.numpy as jnp

from ethogram.agents.base import AgentConfig, Spec, apply_grads, new_state, no_value
from ethogram.data.dataset import Dataset
from ethogram.data.goals import sample_batch as sample_generic_batch
from ethogram.errors import EthogramError
from ethogram.nets import MLP, dense

NAME = "beso"
# Settings that change only how actions are drawn from a trained network: `ethogram eval RUN --set KEY=VALUE`.
ACT_SETTINGS = ("sampler", "sampling_steps", "ddpm_steps", "guidance")


@dataclass(frozen=True)
class Config(AgentConfig):
    SAMPLERS: ClassVar = ("ddim", "euler_ancestral", "ddpm")
    DENOISERS: ClassVar = ("mlp", "transformer")

    lr: float = 1e-4
    actor_hidden_dims: tuple[int, ...] = (256, 256, 256, 256)
    sigma_data: float = 0.5
    sigma_min: float = 0.05
    sigma_max: float = 1.0
    sigma_loc: float = math.log(0.5)  # log-logistic training noise: ln σ = loc + scale * logit(u)
    sigma_scale: float = 0.5
    sampler: str = "ddim"
    sampling_steps: int = 3
    ddpm_steps: int = 25  # the many-step baseline's noise levels (sampler "ddpm")
    guidance: float = 1.0
    goal_drop: float = 0.1
    ema: float = 0.999
    chunk: int = 1  # actions predicted per call (the first is executed)
    denoiser: str = "mlp"
    window: int = 5  # transformer: states in its window
    layers: int = 4  # transformer depth, width, heads
    width: int = 240
    heads: int = 4

    def __post_init__(self):
        super().__post_init__()
        fix = "see docs/beso.md for the settings and their published values"
        if self.sampler not in self.SAMPLERS:
            raise EthogramError(f"unknown BESO sampler '{self.sampler}'.", f"use one of: {', '.join(self.SAMPLERS)}")
        if self.denoiser not in self.DENOISERS:
            raise EthogramError(f"unknown BESO denoiser '{self.denoiser}'.", f"use one of: {', '.join(self.DENOISERS)}")
        for k in ("sampling_steps", "ddpm_steps", "chunk", "window", "layers", "width", "heads"):
            v = getattr(self, k)
            if isinstance(v, bool) or not isinstance(v, int) or v < 1:
                raise EthogramError(f"BESO's {k} must be an integer >= 1 (got {v!r}).", fix)
        if self.width % self.heads:
            raise EthogramError(f"BESO's transformer width {self.width} is not a multiple of heads {self.heads}.")
        if not (self.sigma_min > 0 and self.sigma_max > 0 and self.sigma_data > 0 and self.sigma_scale > 0):
            raise EthogramError("BESO's sigma_min, sigma_max, sigma_data and sigma_scale must be > 0 "
                                f"(got {self.sigma_min}, {self.sigma_max}, {self.sigma_data}, {self.sigma_scale}).")
        if self.sigma_min >= self.sigma_max:
            raise EthogramError(f"BESO needs sigma_min < sigma_max (got {self.sigma_min} >= {self.sigma_max}).",
                                "the paper: sigma_min 0.05 (block push) or 0.005 (kitchen), sigma_max 1")
        if self.guidance < 0:
            raise EthogramError(f"BESO's guidance weight must be >= 0 (got {self.guidance}).",
                                "0 = unconditional, 1 = conditional (default), 1.5-3 = guided toward the goal")
        if not 0 <= self.goal_drop < 1:
            raise EthogramError(f"BESO's goal_drop must be in [0, 1) (got {self.goal_drop}).", "the paper: 0.1")
        if not 0 <= self.ema < 1:
            raise EthogramError(f"BESO's ema must be in [0, 1) (got {self.ema}).", "the paper: 0.999")


# ------------------------------------------------------------------------------------------- the denoiser

class MLPDenoiser(nn.Module):
    """F(c_in·a_σ, c_noise, s, g, no-goal flag) -> (chunk·action_dim,)."""

    hidden_dims: tuple[int, ...]
    out_dim: int
    matmul: str = "float32"

    @nn.compact
    def __call__(self, x, c_noise, observations, goals, no_goal):
        obs = observations[:, -1] if observations.ndim == 3 else observations
        h = jnp.concatenate([x, c_noise[:, None], obs, goals * (1.0 - no_goal[:, None]), no_goal[:, None]], -1)
        h = MLP(self.hidden_dims, activate_final=True, matmul=self.matmul)(h)
        return dense(self.out_dim, self.matmul)(h)


class Block(nn.Module):
    width: int
    heads: int

    @nn.compact
    def __call__(self, h, mask):
        y = nn.LayerNorm()(h)
        h = h + nn.MultiHeadDotProductAttention(num_heads=self.heads, qkv_features=self.width)(y, y, mask=mask)
        y = nn.LayerNorm()(h)
        return h + nn.Dense(self.width)(nn.gelu(nn.Dense(4 * self.width)(y)))


class TransformerDenoiser(nn.Module):
    """A causal transformer over the tokens (σ, g, s_{t-W+1}, ..., s_t, a_σ); F is read at the action token."""

    out_dim: int
    window: int
    layers: int
    width: int
    heads: int

    @nn.compact
    def __call__(self, x, c_noise, observations, goals, no_goal):
        obs = observations if observations.ndim == 3 else observations[:, None]
        obs = obs[:, -self.window:]
        if obs.shape[1] < self.window:  # fewer states than the window: repeat the first
            obs = jnp.concatenate([jnp.repeat(obs[:, :1], self.window - obs.shape[1], 1), obs], 1)
        b = x.shape[0]
        tokens = jnp.concatenate([
            nn.Dense(self.width, name="sigma_embed")(c_noise[:, None])[:, None],
            (nn.Dense(self.width, name="goal_embed")(goals) * (1.0 - no_goal[:, None])
             + no_goal[:, None] * self.param("no_goal", nn.initializers.normal(0.02), (self.width,)))[:, None],
            nn.Dense(self.width, name="state_embed")(obs),
            nn.Dense(self.width, name="action_embed")(x)[:, None],
        ], axis=1)
        n = tokens.shape[1]
        h = tokens + self.param("position", nn.initializers.normal(0.02), (n, self.width))[None]
        mask = nn.make_causal_mask(jnp.zeros((b, n)))
        for i in range(self.layers):
            h = Block(self.width, self.heads, name=f"block_{i}")(h, mask)
        return nn.Dense(self.out_dim, name="head")(nn.LayerNorm()(h[:, -1]))


def denoiser_net(config: Config, action_dim: int):
    out = config.chunk * action_dim
    if config.denoiser == "transformer":
        return TransformerDenoiser(out, config.window, config.layers, config.width, config.heads)
    return MLPDenoiser(tuple(config.actor_hidden_dims), out, config.matmul)


def precondition(sigma, sigma_data: float):
    """EDM's (c_skip, c_out, c_in, c_noise) for noise levels σ (B,)."""
    s2, d2 = sigma**2, sigma_data**2
    return d2 / (s2 + d2), sigma * sigma_data / jnp.sqrt(s2 + d2), 1.0 / jnp.sqrt(s2 + d2), jnp.log(sigma) / 4.0


def denoise(params, config: Config, action_dim: int, x, sigma, observations, goals, no_goal):
    """D(x; σ, s, g) = c_skip·x + c_out·F(c_in·x, c_noise, s, g)."""
    c_skip, c_out, c_in, c_noise = precondition(sigma, config.sigma_data)
    f = denoiser_net(config, action_dim).apply({"params": params}, c_in[:, None] * x, c_noise, observations,
                                               goals, no_goal)
    return c_skip[:, None] * x + c_out[:, None] * f


# --------------------------------------------------------------------------------------------- training

def sample_sigmas(key, n: int, config: Config):
    """σ from a log-logistic(loc, scale) truncated to [σ_min, σ_max], by inverting its CDF on a uniform draw."""
    def cdf(s):
        return jax.nn.sigmoid((math.log(s) - config.sigma_loc) / config.sigma_scale)

    u = jax.random.uniform(key, (n,), minval=cdf(config.sigma_min), maxval=cdf(config.sigma_max))
    return jnp.clip(jnp.exp(config.sigma_loc + config.sigma_scale * jax.scipy.special.logit(u)),
                    config.sigma_min, config.sigma_max)


def episode_offsets(data: Dataset, idxs, offsets):
    """Indices idxs + offsets (B, K), kept inside each transition's episode (clipped at its ends)."""
    final = data.final_idx[idxs][:, None]
    j = jnp.clip(idxs[:, None] + offsets[None], 0, final)
    same = data.final_idx[j] == final  # before the episode's first transition: another episode's index
    first_ok = jnp.where(same, j, jnp.iinfo(jnp.int32).max).min(axis=1, keepdims=True)
    return jnp.where(same, j, first_ok)


def sample_batch(key, data: Dataset, config: Config) -> dict:
    """The generic batch (actor goals: future states of the trajectory) plus the next `chunk` actions of each
    transition and, for the transformer, the `window` states up to it (both kept inside the episode)."""
    batch = sample_generic_batch(key, data, config.batch_size, config.value_mix, config.actor_mix, config.discount)
    idxs = batch["idxs"]
    chunk = episode_offsets(data, idxs, jnp.arange(config.chunk))
    batch["action_chunks"] = data.actions[chunk].reshape(idxs.shape[0], -1)
    if config.denoiser == "transformer":
        batch["observation_windows"] = data.observations[episode_offsets(data, idxs,
                                                                         jnp.arange(1 - config.window, 1))]
    return batch


def init(key, spec: Spec, config: Config) -> dict:
    x = jnp.zeros((1, config.chunk * spec.action_dim))
    obs = jnp.zeros((1, config.window, spec.obs_dim)) if config.denoiser == "transformer" else \
        jnp.zeros((1, spec.obs_dim))
    params = {"denoiser": denoiser_net(config, spec.action_dim).init(key, x, jnp.zeros((1,)), obs,
                                                                     jnp.zeros((1, spec.obs_dim)),
                                                                     jnp.zeros((1,)))["params"]}
    return new_state(params, jax.tree_util.tree_map(jnp.copy, params), config, spec)


def _inputs(batch: dict, config: Config):
    obs = batch["observation_windows"] if config.denoiser == "transformer" else batch["observations"]
    actions = batch.get("action_chunks", batch["actions"])
    return obs, actions


def loss_fn(params, batch, key, config: Config, action_dim: int):
    obs, a = _inputs(batch, config)
    b = a.shape[0]
    k_sigma, k_noise, k_drop = jax.random.split(key, 3)
    sigma = sample_sigmas(k_sigma, b, config)
    x = a + sigma[:, None] * jax.random.normal(k_noise, a.shape)
    no_goal = (jax.random.uniform(k_drop, (b,)) < config.goal_drop).astype(jnp.float32)
    c_skip, c_out, c_in, c_noise = precondition(sigma, config.sigma_data)
    f = denoiser_net(config, action_dim).apply({"params": params["denoiser"]}, c_in[:, None] * x, c_noise, obs,
                                               batch["actor_goals"], no_goal)
    target = (a - c_skip[:, None] * x) / c_out[:, None]
    loss = jnp.mean((f - target) ** 2)
    denoised = c_skip[:, None] * x + c_out[:, None] * f
    return loss, {"actor/loss": loss, "actor/denoise_mse": jnp.mean((denoised - a) ** 2),
                  "actor/sigma_mean": sigma.mean()}


def update(state: dict, batch: dict, key, config: Config):
    action_dim = state["spec"].action_dim
    grads, metrics = jax.grad(loss_fn, has_aux=True)(state["params"], batch, key, config, action_dim)
    state = apply_grads(state, grads, config)
    t = state["step"].astype(jnp.float32)
    decay = jnp.minimum(config.ema, (1.0 + t) / (10.0 + t))
    ema = jax.tree_util.tree_map(lambda e, p: decay * e + (1.0 - decay) * p, state["target_params"],
                                 state["params"])
    return {**state, "target_params": ema}, metrics


# --------------------------------------------------------------------------------------------- sampling

def sigma_schedule(n: int, config: Config) -> jax.Array:
    """n noise levels from σ_max down to σ_min, evenly spaced in ln σ (exponential schedule), then 0."""
    levels = jnp.exp(jnp.linspace(math.log(config.sigma_max), math.log(config.sigma_min), n)) if n > 1 else \
        jnp.array([config.sigma_max])
    return jnp.concatenate([levels, jnp.zeros((1,))])


def guided(params, config: Config, action_dim: int, x, sigma, observations, goals):
    """Classifier-free guidance: D(∅) + w·(D(g) - D(∅)); w = 1 or 0 run the network once."""
    b = x.shape[0]
    s = jnp.full((b,), sigma)
    w = config.guidance
    if w == 1.0:
        return denoise(params, config, action_dim, x, s, observations, goals, jnp.zeros((b,)))
    uncond = denoise(params, config, action_dim, x, s, observations, goals, jnp.ones((b,)))
    if w == 0.0:
        return uncond
    cond = denoise(params, config, action_dim, x, s, observations, goals, jnp.zeros((b,)))
    return uncond + w * (cond - uncond)


def sample_actions(params, config: Config, action_dim: int, observations, goals, key):
    """Draw action chunks (B, chunk·action_dim) with the configured sampler, every step inside one traced loop."""
    b = goals.shape[0]
    n = config.ddpm_steps if config.sampler == "ddpm" else config.sampling_steps
    sigmas = sigma_schedule(n, config)
    k0, k_steps = jax.random.split(key)
    x = jax.random.normal(k0, (b, config.chunk * action_dim)) * sigmas[0]

    def step(x, inputs):
        sigma, sigma_next, k = inputs
        d0 = guided(params, config, action_dim, x, sigma, observations, goals)
        if config.sampler == "ddim":  # x_{i+1} = D + (σ_{i+1} / σ_i) (x_i - D)
            return d0 + (sigma_next / sigma) * (x - d0), None
        z = jax.random.normal(k, x.shape)
        if config.sampler == "euler_ancestral":
            sigma_up = jnp.minimum(sigma_next, jnp.sqrt(jnp.maximum(
                sigma_next**2 * (sigma**2 - sigma_next**2) / sigma**2, 0.0)))
            sigma_down = jnp.sqrt(jnp.maximum(sigma_next**2 - sigma_up**2, 0.0))
            return x + (x - d0) / sigma * (sigma_down - sigma) + sigma_up * z, None
        # ddpm: the posterior of x_{i+1} given x_i and the denoised estimate, variance exploding
        r = (sigma_next / sigma) ** 2
        return d0 + r * (x - d0) + sigma_next * jnp.sqrt(1.0 - r) * z, None

    keys = jax.random.split(k_steps, n)
    x, _ = jax.lax.scan(step, x, (sigmas[:-1], sigmas[1:], keys))
    return jnp.clip(x, -1.0, 1.0)


def act(state: dict, observations, goals, config: Config, key=None):
    """The first action of a sampled chunk, with the EMA weights. Observations (B, obs_dim), or (B, W, obs_dim)
    for the transformer's window (a single state fills the window)."""
    key = jax.random.PRNGKey(0) if key is None else key
    a_dim = state["spec"].action_dim
    chunks = sample_actions(state["target_params"]["denoiser"], config, a_dim, observations, goals, key)
    return chunks[:, :a_dim]


def window(config: Config) -> int:
    """States of history `act` reads (agents/base.py `window` hook): the transformer's window, else 1."""
    return config.window if config.denoiser == "transformer" else 1


def value(state: dict, observations, goals, config: Config):
    no_value(NAME, "BESO imitates the data's actions with a diffusion model and learns no value; as the search's "
             "edge controller, pair it with another run's distance: ethogram search DATASET --controller BESO_RUN "
             "--distance GCIVL_RUN")
