"""Hindsight goal relabelling (REFERENCE §1): statistics of the goal mixture, rewards and masks, presets."""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from ethogram.agents import dataset_overrides, gcbc, gcivl
from ethogram.data.dataset import Dataset, to_transitions
from ethogram.data.goals import GoalMix, sample_batch, sample_goal_idxs

N_SAMPLES = 100_000


def synthetic_dataset(stored_lengths: list[int]) -> tuple[Dataset, np.ndarray]:
    """Episodes with the given numbers of stored steps. Observation = (stored index, episode id), so a goal
    observation tells which stored state it is. Returns the dataset and each transition's episode id."""
    obs, term, episode = [], [], []
    start = 0
    for e, length in enumerate(stored_lengths):
        obs.append(np.stack([np.arange(start, start + length), np.full(length, e)], axis=1))
        t = np.zeros(length, dtype=bool)
        t[-1] = True
        term.append(t)
        episode.append(np.full(length - 1, e))
        start += length
    observations = np.concatenate(obs).astype(np.float32)
    arrays = {"observations": observations, "actions": np.zeros_like(observations),
              "terminals": np.concatenate(term)}
    tr = to_transitions(arrays)
    return Dataset(**{k: jnp.asarray(v) for k, v in tr.items()}), np.concatenate(episode)


@pytest.fixture(scope="module")
def many_short():
    """300 episodes of 101 stored steps: 30,000 transitions; a random goal rarely lands in its own episode."""
    return synthetic_dataset([101] * 300)


@pytest.fixture(scope="module")
def few_long():
    """Uneven episodes, long enough that geometric offsets with gamma 0.9 are rarely capped."""
    return synthetic_dataset([2001, 1501, 3001])


_sample_goal_idxs = jax.jit(sample_goal_idxs, static_argnames=("mix", "discount"))


def goals(data, idxs, mix, discount=0.99, seed=0):
    """Goal indices for the transitions `idxs`, sampled as inside training (jitted)."""
    key = jax.random.PRNGKey(seed)
    return np.asarray(_sample_goal_idxs(key, data, jnp.asarray(idxs, jnp.int32), mix=mix, discount=discount))


def random_idxs(data, n=N_SAMPLES, seed=1):
    return np.random.default_rng(seed).integers(0, data.size, size=n)


# ------------------------------------------------------------------------------ the synthetic dataset itself


def test_synthetic_dataset_transitions(few_long):
    data, episode = few_long
    assert data.size == 2000 + 1500 + 3000
    final = np.asarray(data.final_idx)
    assert final[0] == 1999 and final[1999] == 1999 and final[2000] == 3499 and final[-1] == data.size - 1
    # next observation is the next stored step of the same episode
    obs, nxt = np.asarray(data.observations), np.asarray(data.next_observations)
    np.testing.assert_array_equal(nxt[:, 0], obs[:, 0] + 1)
    np.testing.assert_array_equal(nxt[:, 1], obs[:, 1])
    np.testing.assert_array_equal(obs[:, 1], episode)


# ------------------------------------------------------------------------------ mixture fractions


@pytest.mark.parametrize("p", [(0.2, 0.5, 0.3), (0.0, 1.0, 0.0), (0.0, 0.5, 0.5), (0.0, 0.0, 1.0), (1.0, 0.0, 0.0),
                               (0.3, 0.0, 0.7)])
@pytest.mark.parametrize("geom", [True, False])
def test_mixture_fractions(many_short, p, geom):
    data, episode = many_short
    idxs = random_idxs(data)
    final = np.asarray(data.final_idx)[idxs]
    g = goals(data, idxs, GoalMix(*p, geom=geom))
    cur = g == idxs
    future = (episode[g] == episode[idxs]) & (g > idxs)
    # A trajectory goal is the current index only when i is the last transition (1 in 100 here).
    at_end = idxs == final
    p_cur, p_traj, p_rand = p
    exp_cur = p_cur + p_traj * at_end.mean() + p_rand / data.size
    exp_future = p_traj * (1 - at_end.mean()) + p_rand * np.mean((final - idxs) / data.size)
    assert abs(cur.mean() - exp_cur) < 0.01
    assert abs(future.mean() - exp_future) < 0.01
    assert abs((~cur & ~future).mean() - (1 - exp_cur - exp_future)) < 0.01


def test_random_goals_are_uniform_over_the_dataset(many_short):
    data, _ = many_short
    g = goals(data, random_idxs(data), GoalMix(0.0, 0.0, 1.0, geom=False))
    hist = np.bincount(g * 10 // data.size, minlength=10) / len(g)
    np.testing.assert_allclose(hist, 0.1, atol=0.006)
    assert g.min() >= 0 and g.max() < data.size


# ------------------------------------------------------------------------------ trajectory goals


@pytest.mark.parametrize("discount", [0.9, 0.97])
def test_geometric_offsets_have_mean_one_over_one_minus_gamma(few_long, discount):
    data, _ = few_long
    # start indices at least 1000 transitions before the end of their episode: capping is negligible
    rng = np.random.default_rng(2)
    idxs = np.concatenate([rng.integers(0, 1000, N_SAMPLES // 2), rng.integers(3500, 5500, N_SAMPLES // 2)])
    offsets = goals(data, idxs, GoalMix(0.0, 1.0, 0.0, geom=True), discount) - idxs
    mean = 1 / (1 - discount)
    assert offsets.min() >= 1
    assert abs(offsets.mean() - mean) < 0.03 * mean
    assert abs(offsets.var() - discount / (1 - discount) ** 2) < 0.08 * discount / (1 - discount) ** 2
    assert abs((offsets == 1).mean() - (1 - discount)) < 0.005  # P(k = 1) = 1 - gamma
    assert abs((offsets > 10).mean() - discount**10) < 0.01  # P(k > 10) = gamma^10


def test_geometric_offsets_are_capped_at_the_final_index(few_long):
    data, _ = few_long
    final = int(data.final_idx[0])
    idxs = np.full(20_000, final - 3)
    g = goals(data, idxs, GoalMix(0.0, 1.0, 0.0, geom=True), 0.9)
    assert set(np.unique(g)) <= {final - 2, final - 1, final}
    # P(goal = final) = P(k >= 3) = gamma^2
    assert abs((g == final).mean() - 0.81) < 0.015
    # at the final index itself, the goal is the final index
    g_end = goals(data, np.full(100, final), GoalMix(0.0, 1.0, 0.0, geom=True), 0.9)
    assert (g_end == final).all()


def test_uniform_future_goals_span_the_rest_of_the_trajectory(few_long):
    data, _ = few_long
    start, final = 2000, int(data.final_idx[2000])  # second episode: transitions 2000..3499
    for i in (start, start + 700):
        g = goals(data, np.full(N_SAMPLES, i), GoalMix(0.0, 1.0, 0.0, geom=False))
        assert g.min() == i + 1 and g.max() == final
        span = final - (i + 1)
        assert abs(g.mean() - (i + 1 + final) / 2) < 0.01 * span
        # uniform: each quarter of [i + 1, final] gets a quarter of the goals
        quarters = np.bincount(np.minimum((g - (i + 1)) * 4 // (span + 1), 3), minlength=4) / len(g)
        np.testing.assert_allclose(quarters, 0.25, atol=0.01)


def test_uniform_future_goals_near_the_end(few_long):
    """round(lerp(i + 1, final, u)): the interior values are equally likely, the two ends half as likely."""
    data, _ = few_long
    final = int(data.final_idx[2000])
    i = final - 10
    g = goals(data, np.full(N_SAMPLES, i), GoalMix(0.0, 1.0, 0.0, geom=False))
    pmf = np.bincount(g - (i + 1), minlength=10) / len(g)
    expected = np.full(10, 1 / 9)
    expected[[0, -1]] = 1 / 18
    np.testing.assert_allclose(pmf, expected, atol=0.006)
    g_end = goals(data, np.full(100, final), GoalMix(0.0, 1.0, 0.0, geom=False))
    assert (g_end == final).all()


@pytest.mark.parametrize("geom", [True, False])
def test_trajectory_goals_never_cross_episode_boundaries(few_long, geom):
    data, episode = few_long
    idxs = random_idxs(data)
    g = goals(data, idxs, GoalMix(0.0, 1.0, 0.0, geom=geom), discount=0.999)
    final = np.asarray(data.final_idx)[idxs]
    np.testing.assert_array_equal(episode[g], episode[idxs])
    assert (g >= idxs).all() and (g <= final).all()
    assert ((g > idxs) | (idxs == final)).all()


def test_sampling_is_deterministic_in_the_key(many_short):
    data, _ = many_short
    idxs = random_idxs(data, 1000)
    mix = GoalMix(0.2, 0.5, 0.3, geom=True)
    np.testing.assert_array_equal(goals(data, idxs, mix, seed=5), goals(data, idxs, mix, seed=5))
    assert not np.array_equal(goals(data, idxs, mix, seed=5), goals(data, idxs, mix, seed=6))


# ------------------------------------------------------------------------------ batches: rewards and masks


def test_batch_rewards_masks_and_observations(many_short):
    data, _ = many_short
    batch = sample_batch(jax.random.PRNGKey(3), data, 50_000, GoalMix(0.2, 0.5, 0.3, True),
                         GoalMix(0.0, 1.0, 0.0, False), 0.99)
    b = {k: np.asarray(v) for k, v in batch.items()}
    obs = np.asarray(data.observations)
    idxs, vg, ag = b["idxs"], b["value_goal_idxs"], b["actor_goal_idxs"]
    np.testing.assert_array_equal(b["observations"], obs[idxs])
    np.testing.assert_array_equal(b["next_observations"], np.asarray(data.next_observations)[idxs])
    np.testing.assert_array_equal(b["actions"], np.asarray(data.actions)[idxs])
    np.testing.assert_array_equal(b["value_goals"], obs[vg])
    np.testing.assert_array_equal(b["actor_goals"], obs[ag])
    success = vg == idxs
    np.testing.assert_array_equal(b["rewards"], np.where(success, 0.0, -1.0))
    np.testing.assert_array_equal(b["masks"], 1.0 - success)
    assert set(np.unique(b["rewards"])) == {-1.0, 0.0}
    assert abs(success.mean() - 0.2) < 0.01
    # actor goals use their own mixture: uniform future, never the current state except at episode ends
    final = np.asarray(data.final_idx)[idxs]
    assert ((ag > idxs) | (idxs == final)).all()
    assert b["observations"].shape == (50_000, 2) and b["rewards"].shape == (50_000,)


def test_batch_indices_are_uniform_over_transitions(many_short):
    data, _ = many_short
    mix = GoalMix(0.0, 1.0, 0.0, False)
    idxs = np.asarray(sample_batch(jax.random.PRNGKey(0), data, N_SAMPLES, mix, mix, 0.99)["idxs"])
    hist = np.bincount(idxs * 10 // data.size, minlength=10) / len(idxs)
    np.testing.assert_allclose(hist, 0.1, atol=0.006)


def test_sample_batch_works_inside_jit(many_short):
    data, _ = many_short
    mix = GoalMix(0.2, 0.5, 0.3, True)
    f = jax.jit(lambda key, d: sample_batch(key, d, 64, mix, mix, 0.99))
    batch = f(jax.random.PRNGKey(0), data)
    assert batch["value_goals"].shape == (64, 2)


# ------------------------------------------------------------------------------ GoalMix and presets


@pytest.mark.parametrize("p", [(0.5, 0.5, 0.1), (0.2, 0.2, 0.2), (1.2, -0.2, 0.0), (0.0, 0.0, 0.0), (-0.1, 0.6, 0.5)])
def test_goal_mix_rejects_bad_probabilities(p):
    with pytest.raises(ValueError, match="sum to 1"):
        GoalMix(*p, geom=True)


def test_goal_mix_accepts_rounding():
    GoalMix(0.1, 0.6, 0.3, geom=False)  # 0.1 + 0.6 + 0.3 != 1.0 exactly in floating point
    GoalMix(1 / 3, 1 / 3, 1 / 3, geom=True)


def test_agent_defaults_are_the_reference_mixtures():
    for agent in (gcbc, gcivl):
        c = agent.Config()
        assert c.value_mix == GoalMix(0.2, 0.5, 0.3, geom=True)
        assert c.actor_mix == GoalMix(0.0, 1.0, 0.0, geom=False)
        assert (c.lr, c.batch_size, c.discount, c.actor_hidden_dims) == (3e-4, 1024, 0.99, (512, 512, 512))
    c = gcivl.Config()
    assert (c.expectile, c.alpha, c.tau, c.value_hidden_dims, c.layer_norm) == (0.9, 10.0, 0.005, (512,) * 3, True)


def test_dataset_presets():
    assert dataset_overrides("gcivl", "navigate", "giant") == {"discount": 0.995}
    assert dataset_overrides("gcbc", "navigate", "giant") == {"discount": 0.995}
    assert dataset_overrides("gcivl", "navigate", "medium") == {}
    assert dataset_overrides("gcivl", "stitch", "medium") == {"actor_p_trajgoal": 0.5, "actor_p_randomgoal": 0.5}
    assert dataset_overrides("gcivl", "stitch", "giant") == {"discount": 0.995, "actor_p_trajgoal": 0.5,
                                                             "actor_p_randomgoal": 0.5}
    assert dataset_overrides("gcbc", "stitch", "medium") == {}
    assert dataset_overrides("gcivl", "explore", "large") == {"actor_p_trajgoal": 0.0, "actor_p_randomgoal": 1.0}


def test_presets_give_valid_mixtures():
    for agent in (gcbc, gcivl):
        for kind in ("navigate", "stitch", "explore"):
            for maze in ("medium", "giant"):
                c = dataclasses.replace(agent.Config(), **dataset_overrides(agent.NAME, kind, maze))
                assert abs(c.actor_p_curgoal + c.actor_p_trajgoal + c.actor_p_randomgoal - 1) < 1e-9
                c.value_mix, c.actor_mix  # noqa: B018 (constructing them validates them)
