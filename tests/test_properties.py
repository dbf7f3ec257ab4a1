"""Property-based tests (hypothesis) of the maze parser, the dataset loader and the goal sampler."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ethogram.data.dataset import Dataset, to_transitions, validate_arrays
from ethogram.data.goals import GoalMix, sample_goal_idxs
from ethogram.envs.maze import MOVES, Maze
from ethogram.errors import EthogramError

SETTINGS = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@st.composite
def layouts(draw):
    h, w = draw(st.integers(3, 9)), draw(st.integers(3, 9))
    inner = draw(st.lists(st.lists(st.integers(0, 1), min_size=w - 2, max_size=w - 2), min_size=h - 2,
                          max_size=h - 2))
    layout = np.ones((h, w), dtype=np.int8)
    layout[1:-1, 1:-1] = np.array(inner, dtype=np.int8).reshape(h - 2, w - 2)
    return layout


@SETTINGS
@given(layouts())
def test_bfs_and_next_cell_are_consistent(layout):
    maze = Maze(layout)
    free = maze.free_cells()
    if not free:
        return
    goal = free[0]
    dist = maze.bfs(goal)
    table = maze.next_cell_table(goal)
    assert dist[goal] == 0 and (dist[layout == 1] == -1).all()
    for i, j in free:
        if dist[i, j] > 0:
            ni, nj = table[i, j]
            assert (abs(ni - i) + abs(nj - j)) == 1 and dist[ni, nj] == dist[i, j] - 1
            neighbours = [dist[i + di, j + dj] for di, dj in MOVES if dist[i + di, j + dj] >= 0]
            assert min(neighbours) == dist[i, j] - 1
        elif dist[i, j] == 0:
            assert tuple(table[i, j]) == (i, j)
    for c in free:  # distances are symmetric
        assert maze.bfs(c)[goal] == dist[c]
    assert set(maze.vertex_cells()) <= set(free)
    xy = maze.ij_to_xy(np.array(free))
    assert (maze.xy_to_ij(xy) == np.array(free)).all()


@SETTINGS
@given(st.lists(st.lists(st.integers(0, 1), min_size=3, max_size=3), min_size=3, max_size=3))
def test_mazes_not_enclosed_by_walls_are_refused(rows):
    layout = np.array(rows)
    if (layout[0] == 1).all() and (layout[-1] == 1).all() and (layout[:, 0] == 1).all() and (layout[:, -1] == 1).all():
        Maze(layout)
    else:
        with pytest.raises(ValueError, match="enclosed"):
            Maze(layout)


@st.composite
def stored_episodes(draw):
    lengths = draw(st.lists(st.integers(2, 12), min_size=1, max_size=6))
    n = sum(lengths)
    obs = np.arange(n * 2, dtype=np.float32).reshape(n, 2)
    terminals = np.zeros(n, dtype=bool)
    terminals[np.cumsum(lengths) - 1] = True
    return lengths, {"observations": obs, "actions": np.zeros((n, 2), np.float32), "terminals": terminals}


@SETTINGS
@given(stored_episodes())
def test_transitions_never_cross_episodes(sample):
    lengths, arrays = sample
    validate_arrays(arrays, "hypothesis")
    tr = to_transitions(arrays)
    assert len(tr["observations"]) == sum(lengths) - len(lengths)
    # s' is the stored step after s, in the same episode
    assert np.allclose(tr["next_observations"] - tr["observations"], 2.0)
    ends = np.cumsum([n - 1 for n in lengths]) - 1
    for i, f in enumerate(tr["final_idx"]):
        assert f == ends[np.searchsorted(ends, i)]


@SETTINGS
@given(stored_episodes(), st.integers(0, 2))
def test_broken_terminals_are_refused(sample, how):
    _, arrays = sample
    arrays = dict(arrays)
    term = arrays["terminals"].copy()
    if how == 0:
        term[-1] = False
    elif how == 1:
        term = term[:-1]
    else:
        term[:] = True
    arrays["terminals"] = term
    with pytest.raises(EthogramError):
        validate_arrays(arrays, "hypothesis")


@SETTINGS
@given(stored_episodes(), st.booleans(), st.integers(0, 2**31 - 1),
       st.sampled_from([(0.2, 0.5, 0.3), (0.0, 1.0, 0.0), (0.0, 0.5, 0.5), (1.0, 0.0, 0.0)]))
def test_sampled_goals_are_valid(sample, geom, seed, probs):
    _, arrays = sample
    tr = to_transitions(arrays)
    data = Dataset(**{k: jnp.asarray(v) for k, v in tr.items()})
    idxs = jax.random.randint(jax.random.PRNGKey(seed), (256,), 0, data.size)
    goals = np.asarray(sample_goal_idxs(jax.random.PRNGKey(seed + 1), data, idxs, GoalMix(*probs, geom), 0.9))
    idxs = np.asarray(idxs)
    assert ((goals >= 0) & (goals < data.size)).all()
    if probs[2] == 0.0:  # no random goals: every goal is the current state or later in the same episode
        final = tr["final_idx"][idxs]
        assert ((goals >= idxs) & (goals <= final)).all()
    if probs[0] == 1.0:
        assert (goals == idxs).all()
