"""Hindsight goal relabelling, sampled inside jit from the dataset on the device.

Each sampled transition i gets a goal index from a mixture (OGBench impls/utils/datasets.py, GCDataset):
  current state           with p_cur   -> goal = i
  same-trajectory future  with p_traj  -> geometric: min(i + k, final), k ~ Geometric(1 - discount) on {1, 2, ...}
                                          uniform:   round(min(i + 1, final) * u + final * (1 - u)), u ~ U[0, 1)
  random dataset state    with p_rand  -> uniform over all transitions
Goal observation = observations[goal]; reward = 0 if goal == i else -1; mask = 0 at the goal.
"""

from __future__ import annotations

from dataclasses import dataclass

import jax
import jax.numpy as jnp

from ethogram.data.dataset import Dataset


@dataclass(frozen=True)
class GoalMix:
    p_cur: float
    p_traj: float
    p_rand: float
    geom: bool

    def __post_init__(self):
        total = self.p_cur + self.p_traj + self.p_rand
        if min(self.p_cur, self.p_traj, self.p_rand) < 0 or abs(total - 1.0) > 1e-6:
            raise ValueError(f"goal mixture probabilities must be >= 0 and sum to 1 (got {total:g})")


def sample_goal_idxs(key: jax.Array, data: Dataset, idxs: jax.Array, mix: GoalMix, discount: float) -> jax.Array:
    k_rand, k_traj, k_choice, k_cur = jax.random.split(key, 4)
    n = idxs.shape[0]
    random_idxs = jax.random.randint(k_rand, (n,), 0, data.size)
    final = data.final_idx[idxs]
    if mix.geom:
        u = jax.random.uniform(k_traj, (n,), minval=jnp.finfo(jnp.float32).tiny, maxval=1.0)
        offsets = jnp.floor(jnp.log(u) / jnp.log(discount)).astype(jnp.int32) + 1  # Geometric(1 - discount)
        traj_idxs = jnp.minimum(idxs + offsets, final)
    else:
        u = jax.random.uniform(k_traj, (n,))
        traj_idxs = jnp.round(jnp.minimum(idxs + 1, final) * u + final * (1 - u)).astype(idxs.dtype)
    if mix.p_cur >= 1.0:
        return idxs
    p_traj_given_not_cur = mix.p_traj / (1.0 - mix.p_cur)
    goal = jnp.where(jax.random.uniform(k_choice, (n,)) < p_traj_given_not_cur, traj_idxs, random_idxs)
    return jnp.where(jax.random.uniform(k_cur, (n,)) < mix.p_cur, idxs, goal)


def sample_batch(key: jax.Array, data: Dataset, batch_size: int, value_mix: GoalMix, actor_mix: GoalMix,
                 discount: float) -> dict[str, jax.Array]:
    """A batch of transitions with value goals (and reward/mask) and actor goals."""
    k_idx, k_value, k_actor = jax.random.split(key, 3)
    idxs = jax.random.randint(k_idx, (batch_size,), 0, data.size)
    value_goal = sample_goal_idxs(k_value, data, idxs, value_mix, discount)
    actor_goal = sample_goal_idxs(k_actor, data, idxs, actor_mix, discount)
    success = (idxs == value_goal).astype(jnp.float32)
    return {
        "observations": data.observations[idxs],
        "next_observations": data.next_observations[idxs],
        "actions": data.actions[idxs],
        "value_goals": data.observations[value_goal],
        "actor_goals": data.observations[actor_goal],
        "rewards": success - 1.0,
        "masks": 1.0 - success,
        "idxs": idxs,
        "value_goal_idxs": value_goal,
        "actor_goal_idxs": actor_goal,
    }
