"""The agent contract: what every agent module provides, the optional hooks some provide, and what they share.

An agent is a module (one file per algorithm) that satisfies `Agent` below:

  NAME                                    registry name, e.g. "gcivl"
  Config                                  frozen dataclass of hyperparameters, defaults the published ones
  init(key, spec, config) -> state        a fresh state for observations / actions of `spec`
  update(state, batch, key, config)       one gradient step -> (state, metrics); pure, jitted and scanned
  act(state, obs, goals, config, key=None) -> actions in [-1, 1]; `key` lets a sampling policy draw noise, a
                                          deterministic policy ignores it
  value(state, obs, goals, config)        the learned V(s, g) (or an explicit refusal: `no_value`)

State is a dict pytree: params, target_params (may be empty), opt_state, step, and `spec` (a static leaf-free
node: the observation and action sizes, readable inside jit; it is not an array and never reaches a checkpoint).

Optional hooks, looked up only through `hook(agent, name)` (nobody else tests abilities with `hasattr`):

  PROMPTS                       prompt kinds the agent answers (default ("goal",)): "goal", "reward",
                                "demonstration" (ethogram/prompts.py)
  ROBOT_OVERRIDES               per-robot published settings, e.g. {"ant": {"alpha": 0.3}}
  sample_batch(key, data, config)   the agent's own batch layout (HIQL's subgoals); default data/goals.py
  distance(state, obs, goals, config)  steps from obs to goals; default: V inverted as a discounted step count
                                (`steps_to_goal`); QRL's is its quasimetric, CRL refuses (a log-ratio)
  phi(state, obs, config)       a state representation (HILP)
  metric_embedding(state, obs, config)   z(s) with V(s, g) = -||z(s) - z(g)|| (HILP's phi): distances between
                                all pairs of m and n states then cost m + n network calls, not m x n (the search)
  act_latent(state, obs, z, config)   a latent-conditioned policy (HILP: reward and demonstration prompts)
  act_subgoal(state, obs, goals, config, key=None)   acting toward a nearby goal only (HIQL's low level without
                                its high level): the search's hops (`--set hop_policy=true`)
  act_plan(state, obs, goals, bank_phi, config, recursions, k)   a planner (HILP-Plan)
  goal_policy(config, state)    a stateful numpy policy answering goal prompts (the search agent, sns)
  window(config)                states of history `act` reads (BESO's transformer): `make_policy` then passes
                                observations (B, W, obs_dim), the last W of the episode (the first repeated)
  ACT_SETTINGS                  config fields that change only how a trained agent acts (BESO's sampler, steps,
                                guidance): `ethogram eval RUN --set KEY=VALUE` evaluates them without retraining
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass
from types import ModuleType
from typing import Any, ClassVar, Protocol

import jax
import jax.numpy as jnp
import numpy as np
import optax
from pydantic import ConfigDict

from ethogram.data.goals import GoalMix
from ethogram.errors import EthogramError
from ethogram.nets import MATMULS

Policy = Callable[[np.ndarray, np.ndarray], np.ndarray]  # (obs (B, d), goals (B, d)) -> actions (B, a), numpy


@jax.tree_util.register_static
@dataclass(frozen=True)
class Spec:
    """What an agent is built for: observation and action sizes."""

    obs_dim: int
    action_dim: int


@dataclass(frozen=True)
class AgentConfig:
    """Fields shared by all goal-conditioned agents; defaults are OGBench's (impls/agents/*.py get_config)."""

    # Read by ethogram/config.py when validating: unknown fields and NaN / inf are refused.
    __pydantic_config__: ClassVar = ConfigDict(extra="forbid", allow_inf_nan=False)

    lr: float = 3e-4
    batch_size: int = 1024
    discount: float = 0.99
    actor_hidden_dims: tuple[int, ...] = (512, 512, 512)
    const_std: bool = True
    # Goal relabelling for the value function.
    value_p_curgoal: float = 0.2
    value_p_trajgoal: float = 0.5
    value_p_randomgoal: float = 0.3
    value_geom_sample: bool = True
    # Goal relabelling for the actor.
    actor_p_curgoal: float = 0.0
    actor_p_trajgoal: float = 1.0
    actor_p_randomgoal: float = 0.0
    actor_geom_sample: bool = False
    # Matrix products: "float32" (exact) or "bfloat16" (bf16 inputs, f32 accumulation; see nets.dot_general).
    matmul: str = "float32"

    def __post_init__(self):
        if self.matmul not in MATMULS:
            raise EthogramError(f"unknown matmul precision '{self.matmul}'.", f"use one of: {', '.join(MATMULS)}")

    @property
    def value_mix(self) -> GoalMix:
        return GoalMix(self.value_p_curgoal, self.value_p_trajgoal, self.value_p_randomgoal, self.value_geom_sample)

    @property
    def actor_mix(self) -> GoalMix:
        return GoalMix(self.actor_p_curgoal, self.actor_p_trajgoal, self.actor_p_randomgoal, self.actor_geom_sample)


class Agent(Protocol):
    """The module-level names every agent defines (checked for each registered agent by tests/test_agents.py)."""

    NAME: str
    Config: type

    def init(self, key: jax.Array, spec: Spec, config: Any) -> dict: ...

    def update(self, state: dict, batch: dict, key: jax.Array, config: Any) -> tuple[dict, dict]: ...

    def act(self, state: dict, observations: jax.Array, goals: jax.Array, config: Any,
            key: jax.Array | None = None) -> jax.Array: ...

    def value(self, state: dict, observations: jax.Array, goals: jax.Array, config: Any) -> jax.Array: ...


REQUIRED = ("NAME", "Config", "init", "update", "act", "value")
HOOKS = ("PROMPTS", "ROBOT_OVERRIDES", "sample_batch", "distance", "phi", "metric_embedding", "act_latent",
         "act_subgoal", "act_plan", "goal_policy", "window", "ACT_SETTINGS")


def hook(agent: ModuleType, name: str):
    """The agent's optional hook `name` (one of HOOKS), or None when it does not provide it."""
    if name not in HOOKS:
        raise ValueError(f"'{name}' is not an agent hook; hooks: {', '.join(HOOKS)}")
    return getattr(agent, name, None)


def prompts_of(agent: ModuleType) -> tuple[str, ...]:
    return hook(agent, "PROMPTS") or ("goal",)


def robot_overrides(agent: ModuleType, robot: str) -> dict:
    return dict((hook(agent, "ROBOT_OVERRIDES") or {}).get(robot, {}))


# ------------------------------------------------------------------------------------------------ state

def optimizer(config: AgentConfig) -> optax.GradientTransformation:
    return optax.adam(config.lr)


def new_state(params, target_params, config: AgentConfig, spec: Spec) -> dict:
    return {"params": params, "target_params": target_params, "opt_state": optimizer(config).init(params),
            "step": jnp.zeros((), jnp.int32), "spec": spec}


def apply_grads(state: dict, grads, config: AgentConfig) -> dict:
    updates, opt_state = optimizer(config).update(grads, state["opt_state"], state["params"])
    params = optax.apply_updates(state["params"], updates)
    return {**state, "params": params, "opt_state": opt_state, "step": state["step"] + 1}


# ------------------------------------------------------------------------------------------------ acting

def gaussian_act(actor, params, observations, goals) -> jax.Array:
    """The action of a Gaussian actor as OGBench evaluates it: its mean, clipped to [-1, 1]."""
    mean, _ = actor.apply({"params": params}, observations, goals)
    return jnp.clip(mean, -1.0, 1.0)


def no_value(name: str, why: str):
    """The refusal of an agent that learns no usable V(s, g)."""
    raise EthogramError(f"agent '{name}' has no value function V(s, g): {why}.",
                        "use an agent that learns one, e.g. gcivl, gciql, hiql, qrl or hilp")


def value_to_steps(v, discount: float):
    """Invert V = -(1 - gamma^k) / (1 - gamma) for k (V clipped to its attainable range)."""
    x = jnp.clip(1.0 + (1.0 - discount) * v, 1e-6, 1.0)
    return jnp.log(x) / jnp.log(discount)


def steps_to_goal(agent: ModuleType, state: dict, observations, goals, config) -> jax.Array:
    """Estimated steps from observations to goals: the agent's `distance` hook, else its V(s, g) read as the
    discounted value of reward -1 per step (OGBench's goal-conditioned reward)."""
    distance = hook(agent, "distance")
    if distance is not None:
        return distance(state, observations, goals, config)
    return value_to_steps(agent.value(state, observations, goals, config), config.discount)


def history_length(agent: ModuleType, config) -> int:
    """States of history the agent's act reads (its `window` hook), 1 for most agents."""
    window = hook(agent, "window")
    return 1 if window is None else int(window(config))


def make_policy(agent: ModuleType, config, state, act=None, seed: int = 0) -> Policy:
    """(obs, goals) -> actions as numpy, jitted. `act(state, obs, goals, key)` defaults to the agent's own act;
    each call gets a fresh key (from `seed`) for agents whose act samples. An agent with a history window (its
    `window` hook) gets the batch's last W observations, kept here: one policy per batch of episodes."""
    w = 1 if act is not None else history_length(agent, config)
    act = act or (lambda s, o, g, k: agent.act(s, o, g, config, k))
    base = jax.random.PRNGKey(seed)
    jitted = jax.jit(lambda s, o, g, t: act(s, o, g, jax.random.fold_in(base, t)))
    calls = [0]
    history: list = []

    def policy(obs, goals):
        t = np.int32(calls[0])
        calls[0] += 1
        if w > 1:
            obs = np.asarray(obs)
            if not history or history[-1].shape != obs.shape:  # a new batch of episodes
                history[:] = [obs] * w
            history[:] = [*history[1:], obs]
            obs = np.stack(history, axis=1)
        return np.asarray(jitted(state, jnp.asarray(obs), jnp.asarray(goals), t))

    return policy


def config_fields(agent: ModuleType) -> set[str]:
    return {f.name for f in dataclasses.fields(agent.Config)}
