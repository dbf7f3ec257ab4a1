"""Prompts: what a trained behaviour model is asked to do, and how each model answers, zero-shot.

  Goal(observation)          reach this state (every goal-conditioned agent)
  Reward(fn | transitions)   maximise this reward (agents with a latent space: HILP)
  Demonstration(observations)  behave like this trajectory (HILP)

`answer(...)` turns a prompt into a policy `(observations (B, d), goals (B, d)) -> actions (B, a)`, the same
callable the evaluation protocols run. An agent lists the prompts it answers in its `PROMPTS` hook
(agents/base.py; default: goals only); asking for another is a clear error. An agent with a `goal_policy` hook
(the search agent, sns) answers goal prompts with that stateful policy instead of its jitted `act`.

How HILP answers (Park, Kreiman, Levine, ICML 2024, section 5 and its zero-shot RL code):
- goal: z = (phi(g) - phi(s)) / ||phi(g) - phi(s)||, recomputed every step; with `plan`, HILP-Plan's minimax
  midpoint over a bank of dataset states replaces phi(g).
- reward: z* = argmin_z E[(r - <f, z>)^2] by least squares over ~10k dataset transitions labelled by the reward,
  normalised to the unit sphere the policy was trained on. Features f: "diff" = phi(s') - phi(s) (the intrinsic
  reward the policy maximises, so a reward that is a progress term is matched exactly), or "next" =
  phi(s') - mean phi (the zero-shot RL code's choice, better for rewards that are a function of the state).
- demonstration: "track" (default) goal-prompts along the demonstration: a pointer advances to the demonstration
  state closest to the current state in phi-space (never backwards, at most `window` states ahead) and the goal
  is the state `lookahead` steps further on. A single latent cannot express a route that turns (z is one constant
  direction in phi-space), while a sequence of goal prompts can, and progress is judged in the learned phi-space,
  not in raw coordinates. "latent" infers one z by the reward regression with the demonstration's transitions as
  reward 1 and random dataset transitions as reward 0 (the paper's reading; kept for comparison).
"""

from __future__ import annotations

import types
from collections.abc import Callable
from dataclasses import dataclass

import jax
import jax.numpy as jnp
import numpy as np

from ethogram.agents import AGENTS
from ethogram.agents.base import Policy, hook, make_policy, prompts_of
from ethogram.errors import EthogramError

FEATURES = ("diff", "next")
DEMO_METHODS = ("track", "latent")
RIDGE = 0.1  # relative ridge of the reward regression (see infer_latent)


@dataclass(frozen=True)
class Goal:
    """Reach a state. `observation` (obs_dim,) or (B, obs_dim); None: the goals the evaluator passes each step."""

    observation: np.ndarray | None = None
    plan: bool = False  # HILP-Plan
    plan_bank: int = 50_000  # dataset states in the planner's bank
    plan_recursions: int = 3
    plan_neighbours: int = 50


@dataclass(frozen=True)
class Reward:
    """Maximise a reward given as a function of transitions, or as labelled transitions."""

    fn: Callable[[np.ndarray, np.ndarray], np.ndarray] | None = None  # (obs (N, d), next (N, d)) -> (N,)
    observations: np.ndarray | None = None
    next_observations: np.ndarray | None = None
    rewards: np.ndarray | None = None
    feature: str = "diff"
    samples: int = 10_000  # dataset transitions labelled by `fn`
    ridge: float = RIDGE


@dataclass(frozen=True)
class Demonstration:
    """Behave like a demonstrated trajectory of observations (T, obs_dim)."""

    observations: np.ndarray
    method: str = "track"
    lookahead: int = 20
    window: int = 50


def kind(prompt) -> str:
    kinds = {Goal: "goal", Reward: "reward", Demonstration: "demonstration"}
    if type(prompt) not in kinds:
        raise EthogramError(f"a prompt must be a Goal, Reward or Demonstration, got {type(prompt).__name__}.")
    return kinds[type(prompt)]


def check_answerable(agent: types.ModuleType, prompt) -> None:
    check_kind(agent, kind(prompt), isinstance(prompt, Goal) and prompt.plan)


def check_kind(agent: types.ModuleType, k: str, plan: bool = False) -> None:
    """A clear error if `agent` cannot answer prompts of kind `k` ('goal', 'reward', 'demonstration')."""
    if k not in prompts_of(agent):
        able = ", ".join(sorted(n for n, m in AGENTS.items() if k in prompts_of(m)))
        raise EthogramError(f"agent '{agent.NAME}' cannot answer a {k} prompt: it only answers "
                            f"{', '.join(prompts_of(agent))} prompts.", f"train an agent that can: {able}")
    if plan and hook(agent, "act_plan") is None:
        raise EthogramError(f"agent '{agent.NAME}' has no planner.", "planning (--plan) is HILP-Plan: use hilp")


def _obs_array(x, name: str, obs_dim: int, min_len: int = 1) -> np.ndarray:
    arr = np.asarray(x, dtype=np.float32)
    if arr.ndim != 2 or arr.shape[1] != obs_dim:
        raise EthogramError(f"{name} must have shape (N, {obs_dim}) (observations of this environment), "
                            f"got {arr.shape}.")
    if len(arr) < min_len:
        raise EthogramError(f"{name} has {len(arr)} state(s); at least {min_len} are needed.")
    if not np.isfinite(arr).all():
        raise EthogramError(f"{name} contains NaN or inf.")
    return arr


# ----------------------------------------------------------------------------------------------- goals

def goal_policy(agent, config, state, prompt: Goal, obs_dim: int, data=None) -> Policy:
    fixed = None
    if prompt.observation is not None:
        g = np.asarray(prompt.observation, dtype=np.float32)
        if g.shape[-1:] != (obs_dim,) or g.ndim not in (1, 2):
            raise EthogramError(f"a goal must have shape ({obs_dim},) or (B, {obs_dim}) for this environment, "
                                f"got {g.shape}.", "give a full observation of the goal state")
        if not np.isfinite(g).all():
            raise EthogramError("the goal contains NaN or inf.")
        fixed = g

    goal_policy_hook = hook(agent, "goal_policy")
    if goal_policy_hook is not None:  # the search agent: a stateful planner on numpy arrays, not jitted
        act = goal_policy_hook(config, state)
    elif prompt.plan:
        if data is None:
            raise EthogramError("planning needs the run's dataset (its states are the planner's bank).")
        bank = _bank(data, prompt.plan_bank, seed=0)
        bank_phi = jax.jit(lambda s, o: agent.phi(s, o, config))(state, jnp.asarray(bank))
        k = min(prompt.plan_neighbours, len(bank))
        act = make_policy(agent, config, state,
                          lambda s, o, g, key: agent.act_plan(s, o, g, bank_phi, config, prompt.plan_recursions, k))
    else:
        act = make_policy(agent, config, state)

    def policy(obs, goals):
        g = goals if fixed is None else np.broadcast_to(fixed, np.shape(obs))
        if np.shape(g) != np.shape(obs):
            raise EthogramError(f"goals of shape {np.shape(g)} do not match observations of shape {np.shape(obs)}.")
        return np.asarray(act(obs, g))

    return policy


def _bank(data, n: int, seed: int) -> np.ndarray:
    obs = np.asarray(data.observations)
    if len(obs) <= n:
        return obs
    return obs[np.random.default_rng(seed).choice(len(obs), n, replace=False)]


# --------------------------------------------------------------------------------------------- rewards

def labelled_transitions(prompt: Reward, obs_dim: int, data=None, seed: int = 0):
    """(observations, next_observations, rewards) for the regression, checked."""
    if (prompt.fn is None) == (prompt.rewards is None):
        raise EthogramError("a reward prompt needs either a reward function or labelled transitions (not both).")
    if prompt.fn is not None:
        if data is None:
            raise EthogramError("a reward function needs dataset transitions to label.")
        idx = np.random.default_rng(seed).choice(data.size, min(prompt.samples, data.size), replace=False)
        obs, nxt = np.asarray(data.observations)[idx], np.asarray(data.next_observations)[idx]
        try:
            r = prompt.fn(obs, nxt)
        except EthogramError:
            raise
        except Exception as e:  # a user's function: report what it raised
            raise EthogramError(f"the reward function raised {type(e).__name__}: {e}.",
                                "it must map (observations (N, d), next_observations (N, d)) to rewards (N,)") from None
        source = "the reward function's output"
    else:
        obs = _obs_array(prompt.observations, "the labelled observations", obs_dim)
        nxt = _obs_array(prompt.next_observations, "the labelled next_observations", obs_dim)
        r, source = prompt.rewards, "the labelled rewards"
        if len(nxt) != len(obs):
            raise EthogramError(f"{len(obs)} labelled observations but {len(nxt)} next_observations.")
    r = np.asarray(r, dtype=np.float64)
    if r.shape != (len(obs),):
        raise EthogramError(f"{source} must have shape ({len(obs)},) (one reward per transition), got {r.shape}.")
    if not np.isfinite(r).all():
        raise EthogramError(f"{source} contains NaN or inf ({int((~np.isfinite(r)).sum())} of {len(r)}).")
    if len(r) < 2:
        raise EthogramError("a reward prompt needs at least 2 labelled transitions.")
    return obs, nxt, r


def infer_latent(phi_s: np.ndarray, phi_next: np.ndarray, rewards: np.ndarray, feature: str,
                 ridge: float = RIDGE) -> np.ndarray:
    """z* = argmin_z ||r - F z||^2 + lambda ||z||^2, normalised to the unit sphere.

    lambda = ridge * trace(F'F) / D. Without it, directions in which phi barely varies (phi's dimensions are far from
    equally used) get huge weights fitted to noise, and after normalisation z points along them: a direction the
    policy can follow but in which nothing about the reward changes.
    """
    if feature not in FEATURES:
        raise EthogramError(f"unknown reward feature '{feature}'.", f"choose one of: {', '.join(FEATURES)}")
    f = (phi_next - phi_s if feature == "diff" else phi_next - phi_next.mean(axis=0)).astype(np.float64)
    gram = f.T @ f
    lam = ridge * np.trace(gram) / len(gram)
    z = np.linalg.solve(gram + lam * np.eye(len(gram)) + 1e-12 * np.eye(len(gram)), f.T @ rewards.astype(np.float64))
    norm = np.linalg.norm(z)
    if not np.isfinite(norm) or norm < 1e-12:
        raise EthogramError("the reward is not explained by the representation at all (zero regression weights).",
                            "check that the reward varies over the dataset's transitions")
    return (z / norm).astype(np.float32)


def latent_policy(agent, config, state, z: np.ndarray) -> Policy:
    act = jax.jit(lambda s, o, z: agent.act_latent(s, o, z, config))
    z = jnp.asarray(z)

    def policy(obs, goals):
        return np.asarray(act(state, jnp.asarray(obs), jnp.broadcast_to(z, (len(obs), z.shape[-1]))))

    return policy


def reward_latent(agent, config, state, prompt: Reward, obs_dim: int, data=None, seed: int = 0) -> np.ndarray:
    obs, nxt, r = labelled_transitions(prompt, obs_dim, data, seed)
    phi = jax.jit(lambda s, o: agent.phi(s, o, config))
    return infer_latent(np.asarray(phi(state, obs)), np.asarray(phi(state, nxt)), r, prompt.feature, prompt.ridge)


# -------------------------------------------------------------------------------------- demonstrations

def demo_policy(agent, config, state, prompt: Demonstration, obs_dim: int, data=None, seed: int = 0) -> Policy:
    demo = _obs_array(prompt.observations, "the demonstration", obs_dim, min_len=2)
    if prompt.method not in DEMO_METHODS:
        raise EthogramError(f"unknown demonstration method '{prompt.method}'.",
                            f"choose one of: {', '.join(DEMO_METHODS)}")
    if prompt.lookahead < 1 or prompt.window < 1:
        raise EthogramError("the demonstration's lookahead and window must be at least 1.")
    phi = jax.jit(lambda s, o: agent.phi(s, o, config))
    if prompt.method == "latent":
        if data is None:
            raise EthogramError("the 'latent' demonstration method needs dataset transitions as negatives.")
        idx = np.random.default_rng(seed).choice(data.size, min(10_000, data.size), replace=False)
        obs = np.concatenate([demo[:-1], np.asarray(data.observations)[idx]])
        nxt = np.concatenate([demo[1:], np.asarray(data.next_observations)[idx]])
        r = np.concatenate([np.ones(len(demo) - 1), np.zeros(len(idx))])
        z = infer_latent(np.asarray(phi(state, obs)), np.asarray(phi(state, nxt)), r, "diff")
        return latent_policy(agent, config, state, z)

    demo_phi = jnp.asarray(phi(state, demo))
    act = jax.jit(lambda s, o, g: agent.act(s, o, g, config))  # HILP's goal prompt is deterministic
    t = np.arange(len(demo))
    pointer: dict[str, np.ndarray] = {}

    def policy(obs, goals):
        p = pointer.setdefault("p", np.zeros(len(obs), dtype=np.int64))
        if len(p) != len(obs):
            raise EthogramError("a demonstration policy follows a fixed batch of episodes; make a new one per batch.")
        d = np.asarray(jnp.sum((phi(state, jnp.asarray(obs))[:, None] - demo_phi[None]) ** 2, axis=-1))
        ahead = (t[None] >= p[:, None]) & (t[None] <= p[:, None] + prompt.window)
        p[:] = np.argmin(np.where(ahead, d, np.inf), axis=1)
        g = demo[np.minimum(p + prompt.lookahead, len(demo) - 1)]
        return np.asarray(act(state, jnp.asarray(obs), jnp.asarray(g)))

    return policy


# ----------------------------------------------------------------------------------------------- answer

def answer(agent: types.ModuleType, config, state, prompt, obs_dim: int, data=None, seed: int = 0) -> Policy:
    """The policy with which `agent` (trained `state`) answers `prompt`, zero-shot."""
    check_answerable(agent, prompt)
    if isinstance(prompt, Goal):
        return goal_policy(agent, config, state, prompt, obs_dim, data)
    if isinstance(prompt, Reward):
        z = reward_latent(agent, config, state, prompt, obs_dim, data, seed)
        return latent_policy(agent, config, state, z)
    return demo_policy(agent, config, state, prompt, obs_dim, data, seed)
