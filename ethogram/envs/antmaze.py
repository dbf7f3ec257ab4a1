"""OGBench's antmaze, stepped for a whole batch of episodes at once (envs/base.py's Env).

The MuJoCo model (the maze's walls around OGBench's locomaze ant) is OGBench's own, built by its `make_maze_env`;
the stepping is ours (envs/ant.py: ctrl = action, five MuJoCo steps, the batch in one `mujoco.rollout`).
Observation (29): qpos (15: x-y first) and qvel (14). Success: within 0.5 of the goal in x-y. Evaluation starts
are OGBench's: the model's initial pose with reset noise (+-0.1 on qpos, N(0, 0.1^2) on qvel), moved to the
task's start cell with +-1 noise. A goal is observed as OGBench observes it: an ant reset the same way, five
random actions later, moved to the goal position. The teleport maze teleports as OGBench's does (within 1.5 of an
inbound teleport, to a uniformly drawn outbound one).

The locomotor (the ant expert, envs/locomotor.py) sees `proprio(state)` (the 27 joint numbers without x-y) and a
unit direction, as OGBench's data generator feeds its SAC expert.
"""

from __future__ import annotations

import numpy as np

from ethogram.envs.ant import AntPhysics, fallen_qpos
from ethogram.envs.maze import Maze
from ethogram.envs.pointmaze import POSITION_NOISE, TELEPORT_TRIGGER, Task

GOAL_TOL = 0.5
EPISODE_STEPS = 1000
GOAL_RANDOM_STEPS = 5  # OGBench's reset: random actions before the goal observation is taken


class AntMaze:
    """A batched antmaze (envs/base.py): state (B, 30) = MuJoCo's time, qpos (15), qvel (14)."""

    obs_dim = 29
    action_dim = 8
    goal_tol = GOAL_TOL
    episode_steps = EPISODE_STEPS

    def __init__(self, maze_type: str, maze_file=None):
        from ogbench.locomaze.maze import make_maze_env

        if maze_file is not None:
            from ethogram.errors import EthogramError

            raise EthogramError("a maze of your own is drawn for the point robot; the ant walks OGBench's mazes.",
                                "collect with --robot point or pointvel (docs/mazes.md)")
        env = make_maze_env("ant", "maze", maze_type=maze_type)
        self.maze_type, self.name, self.maze_file = maze_type, f"antmaze-{maze_type}", None
        self.maze = Maze(np.asarray(env.maze_map))
        self.tasks = [Task(tuple(t["init_ij"]), tuple(t["goal_ij"])) for t in env.task_infos]
        info = env._teleport_info
        self.teleport_in = None if info is None else np.asarray(info["teleport_in_xys"], dtype=np.float64)
        self.teleport_out = None if info is None else np.asarray(info["teleport_out_xys"], dtype=np.float64)
        self.model = env.model
        self.physics = AntPhysics(self.model)
        env.close()

    def close(self) -> None:
        self.physics.close()

    def add_noise(self, xy: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        xy = np.asarray(xy, dtype=np.float64)
        return xy + rng.uniform(-POSITION_NOISE, POSITION_NOISE, xy.shape) * self.maze.unit / 4

    def reset(self, positions: np.ndarray, rng: np.random.Generator | None = None) -> np.ndarray:
        xy = np.asarray(positions, dtype=np.float64)
        """Ants in the model's initial pose at `positions` (B, 2); with `rng`, OGBench's reset noise on the rest."""
        if rng is None:
            qpos = np.tile(self.physics.init_qpos, (len(xy), 1))
            qpos[:, :2] = xy
            return self.physics.state_of(qpos, np.tile(self.physics.init_qvel, (len(xy), 1)))
        return self.physics.reset(len(xy), rng, xy)

    def step(self, state: np.ndarray, actions: np.ndarray, rng: np.random.Generator | None = None) -> np.ndarray:
        nxt = self.physics.step(state, actions)
        if self.teleport_in is not None:
            xy = self.physics.qpos(nxt)[:, :2]
            hit = (np.linalg.norm(xy[:, None, :] - self.teleport_in[None], axis=-1) <= TELEPORT_TRIGGER).any(axis=1)
            if hit.any():
                if rng is None:
                    raise ValueError("the teleport maze needs an rng to draw teleport destinations")
                dest = rng.integers(len(self.teleport_out), size=len(nxt))
                nxt[hit, 1:3] = self.teleport_out[dest[hit]]
        return nxt

    def observe(self, state: np.ndarray) -> np.ndarray:
        return np.concatenate([self.physics.qpos(state), self.physics.qvel(state)], axis=1).astype(np.float32)

    def fallen(self, state: np.ndarray) -> np.ndarray:
        """On its back (torso upside down), torso height outside OGBench's healthy range [0.2, 1.0], or a
        non-finite state (envs/ant.py: fallen_qpos)."""
        return fallen_qpos(self.physics.qpos(state)) | ~np.isfinite(state).all(axis=1)

    def fallen_observation(self, obs: np.ndarray) -> np.ndarray:
        """`fallen` from what a dataset stores: the observation starts with qpos."""
        return fallen_qpos(np.asarray(obs)[:, :15])

    def positions(self, state: np.ndarray) -> np.ndarray:
        return self.physics.qpos(state)[:, :2].copy()

    def obs_positions(self, obs: np.ndarray) -> np.ndarray:
        return np.asarray(obs)[..., :2]

    def qpos_qvel(self, state: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        return self.physics.qpos(state).copy(), self.physics.qvel(state).copy()

    def proprio(self, state: np.ndarray) -> np.ndarray:
        return self.physics.proprio(state)

    def task_starts(self, task_ids: np.ndarray, rng: np.random.Generator):
        init = self.maze.ij_to_xy(np.array([self.tasks[k - 1].init_ij for k in task_ids]))
        goal = self.maze.ij_to_xy(np.array([self.tasks[k - 1].goal_ij for k in task_ids]))
        goal = self.add_noise(goal, rng)
        return self.reset(self.add_noise(init, rng), rng), goal

    def success(self, state: np.ndarray, goals: np.ndarray) -> np.ndarray:
        return np.linalg.norm(self.positions(state) - np.asarray(goals), axis=-1) <= self.goal_tol

    def reached(self, obs: np.ndarray, goal_obs: np.ndarray) -> np.ndarray:
        return np.linalg.norm(self.obs_positions(obs) - self.obs_positions(goal_obs), axis=-1) <= self.goal_tol

    def goal_observation(self, goals: np.ndarray, rng: np.random.Generator | None = None) -> np.ndarray:
        """The ant at each goal as OGBench observes a goal: reset with noise, five random actions, moved to the goal
        (without `rng`, a fixed draw: the same goal observation every time)."""
        goals = np.asarray(goals, dtype=np.float64)
        rng = rng if rng is not None else np.random.default_rng(0)
        state = self.physics.reset(len(goals), rng)
        for _ in range(GOAL_RANDOM_STEPS):
            state = self.physics.step(state, rng.uniform(-1, 1, (len(goals), self.action_dim)))
        state[:, 1:3] = goals
        return self.observe(state)
