"""A pointmaze with extra wall cells: a corridor that becomes blocked after the agent has learned a route.

OGBench builds its MuJoCo model from the maze map once; rather than compiling a second model we add a
collision rule on top of the batched PointMaze: after the MuJoCo step, a position whose ball (radius 0.7) would
overlap a blocked cell is pulled back, keeping the motion along the axis that stays clear (the ball slides
along the new wall as it does along MuJoCo's walls), or staying put when neither does. The maze layout seen by
BFS, plots and the search marks the blocked cells as walls.
"""

from __future__ import annotations

import numpy as np

from ethogram.envs.maze import Maze

BALL_RADIUS = 0.7  # OGBench's point body


class ChangedPointMaze:
    """A PointMaze `env` changed after the agent learned it: by default everything is the original's (the
    environment contract of envs/base.py is passed through); subclasses override what the change touches."""

    def __init__(self, env):
        self.env, self.maze, self.tasks = env, env.maze, env.tasks
        self.obs_dim, self.action_dim = env.obs_dim, env.action_dim
        self.goal_tol, self.episode_steps = env.goal_tol, env.episode_steps

    def __getattr__(self, name):  # reset, observe, positions, success, reached, goal_observation, ...
        if name == "env":
            raise AttributeError(name)
        return getattr(self.env, name)

    def step(self, state, actions, rng=None):
        return self.env.step(state, actions, rng)

    def task_starts(self, task_ids, rng):
        return self.env.task_starts(task_ids, rng)


class BlockedPointMaze(ChangedPointMaze):
    """`env` (a PointMaze) with the cells `blocked` [(i, j), ...] turned into walls."""

    def __init__(self, env, blocked: list[tuple[int, int]]):
        super().__init__(env)
        layout = env.maze.layout.copy()
        for i, j in blocked:
            if layout[i, j] == 1:
                raise ValueError(f"cell {(i, j)} is already a wall")
            layout[i, j] = 1
        self.blocked = [tuple(map(int, c)) for c in blocked]
        self.maze = Maze(layout, env.maze.unit, env.maze.offset)
        half = env.maze.unit / 2 + BALL_RADIUS
        centres = env.maze.ij_to_xy(np.array(self.blocked, dtype=np.float64).reshape(-1, 2))
        self._lo, self._hi = centres - half, centres + half

    def inside(self, xy: np.ndarray) -> np.ndarray:
        xy = np.asarray(xy)[:, None, :]
        return ((xy > self._lo[None]) & (xy < self._hi[None])).all(-1).any(-1)

    def step(self, state, actions, rng=None):
        state = np.asarray(state, dtype=np.float64)
        xy = self.env.positions(state)
        new = self.env.step(state, actions, rng)
        nxt = self.env.positions(new)
        bad = self.inside(nxt)
        if bad.any():
            slide_x = np.stack([nxt[:, 0], xy[:, 1]], -1)
            slide_y = np.stack([xy[:, 0], nxt[:, 1]], -1)
            fixed = np.where((~self.inside(slide_x))[:, None], slide_x,
                             np.where((~self.inside(slide_y))[:, None], slide_y, xy))
            new = new.copy()
            new[:, :2] = np.where(bad[:, None], fixed, nxt)  # the point's state starts with its position
        return new


class MovedGoalPointMaze(ChangedPointMaze):
    """`env` (a PointMaze) in which task `task`'s goal has moved to cell `goal_ij` (same start, same noise)."""

    def __init__(self, env, task: int, goal_ij: tuple[int, int]):
        if env.maze.layout[tuple(goal_ij)] == 1:
            raise ValueError(f"cell {tuple(goal_ij)} is a wall")
        super().__init__(env)
        self.task, self.goal_ij = int(task), tuple(int(v) for v in goal_ij)

    def task_starts(self, task_ids, rng):
        xy, goal = self.env.task_starts(task_ids, rng)
        moved = np.asarray(task_ids) == self.task
        if moved.any():
            new = self.env.add_noise(self.maze.ij_to_xy(np.array([self.goal_ij] * int(moved.sum()))), rng)
            goal = goal.copy()
            goal[moved] = new
        return xy, goal
