"""The batched pointmaze against OGBench's own environment, the maze geometry, and the name registry."""

from __future__ import annotations

import gymnasium
import numpy as np
import ogbench.locomaze  # noqa: F401  (registers the OGBench environments with gymnasium)
import pytest

from ethogram.envs.maze import MOVES, Maze
from ethogram.envs.registry import known_datasets, make_env, parse_dataset_name, parse_env_name
from ethogram.errors import EthogramError

MAZES = ["medium", "large", "giant", "teleport"]


def ogbench_env(maze: str):
    return gymnasium.make(f"pointmaze-{maze}-v0").unwrapped


# ------------------------------------------------------------------------------------ physics


@pytest.mark.parametrize("maze", ["medium", "large"])
def test_batched_step_equals_ogbench_step(maze):
    """Five OGBench envs (one per task) and one batched PointMaze, stepped independently with the same
    actions for 300 steps (pushed into walls on purpose), stay at exactly the same positions."""
    env = make_env(f"pointmaze-{maze}")
    refs = [ogbench_env(maze) for _ in range(5)]
    xy = np.array([r.reset(seed=k, options=dict(task_id=k + 1))[0] for k, r in enumerate(refs)])
    rng = np.random.default_rng(0)
    max_err, blocked = 0.0, 0
    for t in range(300):
        push = np.array([1.0, 0.3]) if t < 150 else np.array([-0.4, -1.0])
        actions = np.clip(rng.normal(0.0, 1.0, size=(5, 2)) + push, -1.0, 1.0)
        outs = [r.step(a) for r, a in zip(refs, actions, strict=True)]
        expected = np.array([o[0] for o in outs])
        expected_qvel = np.array([o[4]["qvel"] for o in outs])
        prev = xy
        state = env.step(env.reset(xy), actions)
        xy, qvel = env.qpos_qvel(state)
        assert state.shape == (5, 4) and xy.shape == (5, 2) and qvel.shape == (5, 2)
        np.testing.assert_array_equal(env.observe(state), xy.astype(np.float32))
        max_err = max(max_err, float(np.abs(xy - expected).max()), float(np.abs(qvel - expected_qvel).max()))
        # A wall stopped the ball when it moved much less than the commanded 0.2 * action.
        blocked += int((np.linalg.norm(xy - prev, axis=1) < 0.5 * np.linalg.norm(0.2 * actions, axis=1)).sum())
    assert max_err < 1e-9, f"batched step differs from OGBench's by {max_err}"
    assert blocked > 20, "the comparison never exercised wall contacts"
    for r in refs:
        r.close()


def test_step_moves_by_point_speed_in_open_space():
    env = make_env("pointmaze-medium")
    centre = env.maze.ij_to_xy(np.array([[2, 5]]))  # a free cell
    nxt = env.positions(env.step(env.reset(centre), np.array([[0.5, -1.0]])))
    np.testing.assert_allclose(nxt, centre + 0.2 * np.array([[0.5, -1.0]]), atol=1e-6)


def test_success_radius_is_one():
    env = make_env("pointmaze-medium")
    goal = np.zeros((3, 2))
    xy = np.array([[0.99, 0.0], [0.0, -1.0], [1.01, 0.0]])
    assert env.success(env.reset(xy), goal).tolist() == [True, True, False]
    obs = env.observe(env.reset(xy))
    assert env.reached(obs, env.goal_observation(goal)).tolist() == [True, True, False]


def test_teleport_maze_steps_and_teleports():
    env = make_env("pointmaze-teleport")
    assert env.teleport_in is not None and env.teleport_out is not None
    rng = np.random.default_rng(0)
    # Start right on each inbound teleport: after one small step every ball is at an outbound teleport.
    start = np.repeat(env.teleport_in, 10, axis=0)
    nxt = env.positions(env.step(env.reset(start), np.zeros_like(start), rng))
    dist_to_out = np.linalg.norm(nxt[:, None] - env.teleport_out[None], axis=-1).min(axis=1)
    assert np.all(dist_to_out < 1e-9)
    assert len({tuple(p) for p in nxt}) > 1, "teleport destinations should be drawn at random"
    # Far from the teleports nothing special happens, and evaluation-sized batches run.
    state, _ = env.task_starts(np.arange(1, 6), rng)
    for _ in range(50):
        state = env.step(state, rng.uniform(-1, 1, size=(len(state), 2)), rng)
    assert np.isfinite(state).all()


def test_teleport_maze_without_rng_is_a_clear_error():
    env = make_env("pointmaze-teleport")
    with pytest.raises(ValueError, match="rng"):
        env.step(env.reset(env.teleport_in.copy()), np.zeros((len(env.teleport_in), 2)))


# ------------------------------------------------------------------------------------ geometry


@pytest.mark.parametrize("maze", MAZES)
def test_maze_matches_ogbench_layout_and_coordinates(maze):
    env, ref = make_env(f"pointmaze-{maze}"), ogbench_env(maze)
    np.testing.assert_array_equal(env.maze.layout, ref.maze_map)
    for ij in env.maze.free_cells():
        np.testing.assert_allclose(env.maze.ij_to_xy(ij), ref.ij_to_xy(ij))
        assert tuple(env.maze.xy_to_ij(ref.ij_to_xy(ij))) == ij
    rng = np.random.default_rng(1)
    xy = env.add_noise(env.maze.ij_to_xy(np.array(env.maze.free_cells())), rng)
    ours = env.maze.xy_to_ij(xy)
    assert [tuple(c) for c in ours] == [ref.xy_to_ij(p) for p in xy]


def _neighbours(maze: Maze, ij):
    i, j = ij
    return [(i + di, j + dj) for di, dj in MOVES if maze.layout[i + di, j + dj] == 0]


@pytest.mark.parametrize("maze", MAZES)
def test_bfs_distances_are_shortest_paths(maze):
    m = make_env(f"pointmaze-{maze}").maze
    free = m.free_cells()
    for src in free[::3]:
        dist = m.bfs(src)
        assert dist[src] == 0
        assert (dist[m.layout == 1] == -1).all()
        for c in free:
            if c == src or dist[c] < 0:
                continue
            # Bellman: one more than the best neighbour.
            assert dist[c] == 1 + min(dist[n] for n in _neighbours(m, c) if dist[n] >= 0)
            assert m.shortest_path_steps(c, src) == dist[c] == m.bfs(c)[src]


@pytest.mark.parametrize("maze", MAZES)
def test_next_cell_is_a_free_neighbour_one_step_closer(maze):
    m = make_env(f"pointmaze-{maze}").maze
    for goal in m.free_cells():
        dist = m.bfs(goal)
        table = m.next_cell_table(goal)
        assert tuple(table[goal]) == goal
        for c in m.free_cells():
            if c == goal or dist[c] < 0:
                continue
            nxt = tuple(int(v) for v in table[c])
            assert nxt in _neighbours(m, c)
            assert dist[nxt] == dist[c] - 1


def test_next_cell_table_equals_ogbench_oracle_subgoal():
    """Tie-breaking included: for every (cell, goal) pair of the medium maze, OGBench's oracle agrees."""
    env, ref = make_env("pointmaze-medium"), ogbench_env("medium")
    m = env.maze
    for goal in m.free_cells():
        table = m.next_cell_table(goal)
        for c in m.free_cells():
            subgoal_xy, _ = ref.get_oracle_subgoal(ref.ij_to_xy(c), ref.ij_to_xy(goal))
            np.testing.assert_allclose(m.ij_to_xy(table[c]), subgoal_xy)


def _is_straight_corridor(layout, ij) -> bool:
    i, j = ij
    up, down, left, right = layout[i - 1, j] == 0, layout[i + 1, j] == 0, layout[i, j - 1] == 0, layout[i, j + 1] == 0
    return (up and down and not left and not right) or (left and right and not up and not down)


@pytest.mark.parametrize("maze", MAZES)
def test_vertex_cells_are_the_free_cells_that_are_not_straight_corridors(maze):
    m = make_env(f"pointmaze-{maze}").maze
    vertices = set(m.vertex_cells())
    free = set(m.free_cells())
    assert vertices <= free
    assert 0 < len(vertices) < len(free)
    for c in free:
        assert (c in vertices) == (not _is_straight_corridor(m.layout, c)), c


def test_vertex_cells_of_medium_maze():
    # Row 3 of the medium maze is [1, 1, 0, 0, 0, 1, 1, 1]: (3, 3) is a horizontal corridor, (3, 2) a corner.
    m = make_env("pointmaze-medium").maze
    assert (3, 3) not in m.vertex_cells()
    assert (3, 2) in m.vertex_cells()
    assert (1, 1) in m.vertex_cells()


@pytest.mark.parametrize("maze", MAZES)
def test_task_starts_are_within_one_of_the_task_cell_centres(maze):
    env, ref = make_env(f"pointmaze-{maze}"), ogbench_env(maze)
    assert [(t.init_ij, t.goal_ij) for t in env.tasks] == [(tuple(t["init_ij"]), tuple(t["goal_ij"]))
                                                            for t in ref.task_infos]
    ids = np.repeat(np.arange(1, len(env.tasks) + 1), 200)
    state, goal = env.task_starts(ids, np.random.default_rng(0))
    xy = env.positions(state)
    init_c = env.maze.ij_to_xy(np.array([env.tasks[k - 1].init_ij for k in ids]))
    goal_c = env.maze.ij_to_xy(np.array([env.tasks[k - 1].goal_ij for k in ids]))
    for got, centre in ((xy, init_c), (goal, goal_c)):
        off = got - centre
        assert np.abs(off).max() <= 1.0
        assert np.abs(off).max() > 0.9  # the noise spans the whole +-1 range ...
        assert abs(off.mean()) < 0.1  # ... and is centred
    np.testing.assert_array_equal(env.goal_observation(goal), goal.astype(np.float32))


def test_task_starts_are_seeded():
    env = make_env("pointmaze-medium")
    a = env.task_starts(np.arange(1, 6), np.random.default_rng(3))
    b = env.task_starts(np.arange(1, 6), np.random.default_rng(3))
    c = env.task_starts(np.arange(1, 6), np.random.default_rng(4))
    np.testing.assert_array_equal(a[0], b[0])
    assert not np.array_equal(a[0], c[0])


def test_maze_rejects_bad_layouts():
    with pytest.raises(ValueError):
        Maze(np.array([[1, 1, 1], [1, 2, 1], [1, 1, 1]]))
    with pytest.raises(ValueError):
        Maze(np.array([[1, 1, 1], [0, 0, 1], [1, 1, 1]]))


# ------------------------------------------------------------------------------------ registry


@pytest.mark.parametrize("name", ["pointmaze-medium-navigate", "pointmaze-medium-navigate-v0",
                                  "pointmaze-medium-navigate-v0.npz", "pointmaze-medium-navigate.npz",
                                  "pointmaze-medium-navigate-v0-val.npz", " pointmaze-medium-navigate-v0 "])
def test_dataset_name_suffixes_are_accepted(name):
    parsed = parse_dataset_name(name)
    assert (parsed.robot, parsed.maze, parsed.kind) == ("point", "medium", "navigate")
    assert str(parsed) == "pointmaze-medium-navigate-v0"
    assert parsed.env == "pointmaze-medium"


def test_every_known_dataset_parses_and_makes_its_env():
    for name in known_datasets():
        parsed = parse_dataset_name(name)
        env = make_env(name)
        if parsed.is_maze:
            assert env.maze_type == parsed.maze
        else:  # a task without a maze (avoiding): named by itself
            assert env.maze is None and str(parsed) == f"{name}-v0" and parsed.env == name


@pytest.mark.parametrize("name", ["pointmaze-tiny-navigate", "pointmaze-medium-explore", "humanoidmaze-medium",
                                  "pointmaze-medium-navigate-v1", "", "medium"])
def test_unknown_dataset_name_lists_the_known_ones(name):
    with pytest.raises(EthogramError) as e:
        parse_dataset_name(name)
    assert "unknown dataset" in e.value.problem
    for known in known_datasets():
        assert known in e.value.fix


def test_unknown_env_name_lists_the_known_ones():
    with pytest.raises(EthogramError) as e:
        make_env("pointmaze-huge")
    assert "pointmaze-medium" in e.value.fix and "pointmaze-giant" in e.value.fix
    with pytest.raises(EthogramError):
        parse_env_name("cheetah")


@pytest.mark.parametrize("name", ["antmaze-medium-navigate", "antmaze-large-stitch-v0", "antmaze-giant-explore.npz"])
def test_antmaze_names_are_the_ant_robot(name):
    parsed = parse_dataset_name(name)
    assert parsed.robot == "ant" and parsed.env == f"antmaze-{parsed.maze}"
    env = make_env(name)
    assert (env.obs_dim, env.action_dim) == (29, 8)


def test_make_env_validates_the_dataset_part():
    with pytest.raises(EthogramError, match="unknown dataset"):
        make_env("pointmaze-medium-flying")
