"""The batched antmaze (envs/antmaze.py): OGBench's model and physics, its task starts and goal observations."""

from __future__ import annotations

import gymnasium
import numpy as np
import pytest

from ethogram.envs.antmaze import AntMaze
from ethogram.errors import EthogramError


@pytest.mark.parametrize("maze", ["medium", "teleport"])
def test_the_physics_and_observation_are_ogbench_antmaze(maze):
    import ogbench.locomaze  # noqa: F401  (registers antmaze-*-v0)

    env = gymnasium.make(f"antmaze-{maze}-v0").unwrapped
    env.reset(seed=0, options={"task_id": 1})
    am = AntMaze(maze)
    assert [(t.init_ij, t.goal_ij) for t in am.tasks] == [(tuple(t["init_ij"]), tuple(t["goal_ij"]))
                                                          for t in env.task_infos]
    rng = np.random.default_rng(0)
    for _ in range(200):  # every step from OGBench's own state (the ant's contacts amplify round-off over time)
        state = am.physics.state_of(env.data.qpos[None].copy(), env.data.qvel[None].copy())
        a = rng.uniform(-1, 1, 8)
        ob, *_ = env.step(a)
        state = am.step(state, a[None], np.random.default_rng(0))
        if maze == "medium":  # the teleport maze draws its exits from another generator than OGBench's
            np.testing.assert_allclose(am.observe(state)[0], ob, atol=1e-5)
            np.testing.assert_allclose(am.physics.qpos(state)[0], env.data.qpos, atol=1e-9)
    assert am.observe(state).shape == (1, 29) and am.obs_positions(am.observe(state)).shape == (1, 2)


def test_task_starts_goals_and_success():
    am = AntMaze("large")
    ids = np.repeat(np.arange(1, 6), 20)
    state, goals = am.task_starts(ids, np.random.default_rng(0))
    cells = am.maze.ij_to_xy(np.array([am.tasks[k - 1].init_ij for k in ids]))
    goal_cells = am.maze.ij_to_xy(np.array([am.tasks[k - 1].goal_ij for k in ids]))
    assert np.abs(am.positions(state) - cells).max() <= 1.0 and np.abs(goals - goal_cells).max() <= 1.0
    go = am.goal_observation(goals)
    np.testing.assert_allclose(go[:, :2], goals, atol=1e-5)
    assert np.array_equal(go, am.goal_observation(goals))  # a fixed draw without an rng
    assert am.success(am.reset(goals + 0.3), goals).all() and not am.success(am.reset(goals + 0.4), goals).any()
    assert am.reached(go, go).all() and am.proprio(state).shape == (100, 27)


def test_a_custom_layout_is_for_the_point():
    with pytest.raises(EthogramError, match="point robot"):
        AntMaze("medium", maze_file=object())
