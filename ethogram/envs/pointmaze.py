"""OGBench's pointmaze, stepped for a whole batch of episodes at once.

The MuJoCo model (walls, ball, integrator) is OGBench's own; only the stepping is ours. One step of
OGBench's PointEnv is: remember (qpos, qvel); qpos += 0.2 * action; qvel = 0; five MuJoCo steps
(RK4, dt 0.02) that resolve wall contacts. Observation = qpos = (x, y). We run the five MuJoCo steps
for all episodes in one call of `mujoco.rollout` (C, multi-threaded), which is where the speed over
one gymnasium env per episode comes from. Same physics, same observations, same success test.

The simulator state (envs/base.py) is (B, 4): qpos (x, y) and qvel. `VelocityPointMaze` is the same point
observing its position and its last step's displacement (4-D observations): a check that nothing downstream
takes the observation for the position.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import mujoco
import numpy as np
from mujoco import rollout

from ethogram.envs.maze import Maze
from ethogram.envs.mazefile import MazeFile


def usable_cpus() -> int:
    """Cores this process may run on (its affinity, e.g. one core for a pinned `reproduce` worker)."""
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


POINT_SPEED = 0.2  # qpos += 0.2 * action
FRAME_SKIP = 5
GOAL_TOL = 1.0  # success radius for the point mass
POSITION_NOISE = 1.0  # start and goal get uniform noise of +-1 (= maze_unit / 4)
EPISODE_STEPS = 1000
TELEPORT_TRIGGER = 1.5  # OGBench teleports when within 1.5 * radius (1) of an inbound teleport


@dataclass(frozen=True)
class Task:
    """One of the five evaluation tasks: start cell and goal cell."""

    init_ij: tuple[int, int]
    goal_ij: tuple[int, int]


class PointMaze:
    """A batched pointmaze (envs/base.py's Env): state (B, 4) = qpos (x, y), qvel; observation = qpos."""

    obs_dim = 2
    action_dim = 2
    goal_tol = GOAL_TOL
    episode_steps = EPISODE_STEPS

    def __init__(self, maze_type: str, maze_file: MazeFile | None = None):
        """A published maze (`maze_type`: medium, large, giant, teleport) as OGBench builds it, or a custom maze
        (envs/mazefile.py) built by OGBench's own wall builder for its layout."""
        self.maze_type = maze_type
        self.name = f"pointmaze-{maze_type}"
        self.maze_file = maze_file
        if maze_file is None:
            from ogbench.locomaze.maze import make_maze_env

            env = make_maze_env("point", "maze", maze_type=maze_type)
            self.maze = Maze(np.asarray(env.maze_map))
            self.tasks = [Task(tuple(t["init_ij"]), tuple(t["goal_ij"])) for t in env.task_infos]
            info = env._teleport_info
            self.model = env.model
        else:
            self.maze = Maze(maze_file.layout)
            self.tasks = [Task(tuple(t.init_ij), tuple(t.goal_ij)) for t in maze_file.tasks]
            info = None
            self.model = custom_model(maze_file.layout)
        self.teleport_in = None if info is None else np.asarray(info["teleport_in_xys"], dtype=np.float64)
        self.teleport_out = None if info is None else np.asarray(info["teleport_out_xys"], dtype=np.float64)
        self._spec = mujoco.mjtState.mjSTATE_FULLPHYSICS
        self._nstate = mujoco.mj_stateSize(self.model, self._spec)
        self._nthread = max(1, min(usable_cpus(), 8))
        self._datas = [mujoco.MjData(self.model) for _ in range(self._nthread)]
        self._runner = rollout.Rollout(nthread=self._nthread)
        qpos_adr = self.model.jnt_qposadr
        self._qpos = slice(1, 1 + self.model.nq)  # FULLPHYSICS layout: time, qpos, qvel, ...
        self._qvel = slice(1 + self.model.nq, 1 + self.model.nq + self.model.nv)
        assert self.model.nq == 2 and self.model.nv == 2 and list(qpos_adr) == [0, 1]

    def close(self):
        self._runner.close()

    def __del__(self):
        try:
            self.close()
        except Exception:
            pass

    def check_dataset(self, arrays: dict, source: str) -> None:
        """Positions inside the maze and outside its walls: a dataset of another maze or of the avoiding task
        (whose states, in decimetres around the origin, fall in the maze's border walls) is refused."""
        from ethogram.errors import EthogramError

        xy = np.asarray(arrays["observations"], dtype=np.float64)[:, :2]
        h, w = self.maze.shape
        lo = self.maze.ij_to_xy((0, 0)) - self.maze.unit / 2
        hi = self.maze.ij_to_xy((h - 1, w - 1)) + self.maze.unit / 2
        outside = ~((xy >= lo) & (xy <= hi)).all(axis=1)
        fix = f"use a dataset of {self.name}, e.g. ethogram collect {self.name}-navigate"
        if outside.any():
            row = int(np.argmax(outside))
            raise EthogramError(f"dataset '{source}' does not fit {self.name}: its state at row {row} "
                                f"{tuple(round(float(v), 2) for v in xy[row])} lies outside the maze "
                                f"({tuple(lo)} to {tuple(hi)}).", fix)
        ij = self.maze.xy_to_ij(xy)
        in_wall = self.maze.layout[ij[:, 0], ij[:, 1]] == 1
        if in_wall.any():  # the ball's centre never enters a wall's square (our datasets and OGBench's: none do)
            row = int(np.argmax(in_wall))
            raise EthogramError(f"dataset '{source}' does not fit {self.name}: {int(in_wall.sum())} of its "
                                f"{len(xy)} states lie inside walls (the first at row {row}, "
                                f"{tuple(round(float(v), 2) for v in xy[row])}); it was collected in another "
                                "environment "
                                "(another maze, or the avoiding task?).", fix)

    def add_noise(self, xy: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        noise = rng.uniform(-POSITION_NOISE, POSITION_NOISE, size=np.shape(xy)) * self.maze.unit / 4
        return np.asarray(xy, dtype=np.float64) + noise

    def reset(self, positions: np.ndarray, rng: np.random.Generator | None = None) -> np.ndarray:
        """States at rest at `positions`; with `rng`, OGBench's reset noise on qvel (N(0, 0.1^2); it is zeroed
        before every step, so it only shows in the first stored qvel of a dataset episode)."""
        xy = np.asarray(positions, dtype=np.float64)
        state = np.zeros((len(xy), 4))
        state[:, :2] = xy
        if rng is not None:
            state[:, 2:] = rng.standard_normal((len(xy), 2)) * 0.1
        return state

    def step(self, state: np.ndarray, actions: np.ndarray, rng: np.random.Generator | None = None) -> np.ndarray:
        """Advance every episode one step: qpos += 0.2 * action, qvel = 0, five MuJoCo steps.

        `rng` draws the teleport destination on the teleport maze (OGBench draws it uniformly).
        """
        xy = np.asarray(state, dtype=np.float64)[:, :2]
        b = xy.shape[0]
        full = np.zeros((b, self._nstate))
        full[:, self._qpos] = xy + POINT_SPEED * np.asarray(actions, dtype=np.float64)
        control = np.zeros((b, FRAME_SKIP, self.model.nu))
        out, _ = self._runner.rollout(self.model, self._datas, full, control, nstep=FRAME_SKIP)
        last = out[:, -1]
        next_xy, next_qvel = last[:, self._qpos].copy(), last[:, self._qvel].copy()
        if self.teleport_in is not None:
            near = np.linalg.norm(next_xy[:, None, :] - self.teleport_in[None], axis=-1) <= TELEPORT_TRIGGER
            hit = near.any(axis=1)
            if hit.any():
                if rng is None:
                    raise ValueError("the teleport maze needs an rng to draw teleport destinations")
                dest = rng.integers(len(self.teleport_out), size=b)
                next_xy[hit] = self.teleport_out[dest[hit]]
        return np.concatenate([next_xy, next_qvel], axis=1)

    def observe(self, state: np.ndarray) -> np.ndarray:
        return np.asarray(state)[:, :2].astype(np.float32)

    def positions(self, state: np.ndarray) -> np.ndarray:
        return np.asarray(state)[:, :2]

    def obs_positions(self, obs: np.ndarray) -> np.ndarray:
        return np.asarray(obs)[..., :2]

    def qpos_qvel(self, state: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        return np.asarray(state)[:, :2], np.asarray(state)[:, 2:4]

    def task_starts(self, task_ids: np.ndarray, rng: np.random.Generator):
        """Start states and goal positions (with OGBench's noise) for a batch of task ids (1-based)."""
        init = self.maze.ij_to_xy(np.array([self.tasks[k - 1].init_ij for k in task_ids]))
        goal = self.maze.ij_to_xy(np.array([self.tasks[k - 1].goal_ij for k in task_ids]))
        return self.reset(self.add_noise(init, rng)), self.add_noise(goal, rng)

    def success(self, state: np.ndarray, goals: np.ndarray) -> np.ndarray:
        return np.linalg.norm(self.positions(state) - np.asarray(goals), axis=-1) <= self.goal_tol

    def reached(self, obs: np.ndarray, goal_obs: np.ndarray) -> np.ndarray:
        return np.linalg.norm(self.obs_positions(obs) - self.obs_positions(goal_obs), axis=-1) <= self.goal_tol

    def goal_observation(self, goals: np.ndarray) -> np.ndarray:
        """The observation at the goal, which is what a goal-conditioned policy is given."""
        return np.asarray(goals, dtype=np.float32)


def custom_model(layout: np.ndarray) -> mujoco.MjModel:
    """The MuJoCo model of OGBench's point in a maze of `layout`: OGBench's point.xml with walls, floor and
    lights added by OGBench's own MazeEnv.update_tree (the published mazes' models come from the same code)."""
    import xml.etree.ElementTree as ET
    from types import SimpleNamespace

    from ogbench.locomaze.maze import make_maze_env
    from ogbench.locomaze.point import PointEnv

    tree = ET.parse(PointEnv.xml_file)
    maze_env = make_maze_env("point", "maze", maze_type="medium")  # only for its class
    settings = SimpleNamespace(maze_map=np.asarray(layout), _maze_unit=4.0, _maze_height=0.5, _offset_x=4,
                               _offset_y=4, _teleport_info=None, _ob_type="states")
    type(maze_env).update_tree(settings, tree)  # OGBench's wall builder, run on this layout
    return mujoco.MjModel.from_xml_string(ET.tostring(tree.getroot(), encoding="unicode"))


class VelocityPointMaze(PointMaze):
    """The point observing (x, y, dx, dy): its position and its last step's displacement in action units
    (displacement / 0.2, within [-1, 1] away from teleports). State (B, 6): qpos, qvel, that displacement.
    A goal is observed at rest: (x, y, 0, 0)."""

    obs_dim = 4

    def __init__(self, maze_type: str, maze_file: MazeFile | None = None):
        super().__init__(maze_type, maze_file)
        self.name = f"pointvelmaze-{maze_type}"

    def reset(self, positions, rng=None):
        state = super().reset(positions, rng)
        return np.concatenate([state, np.zeros((len(state), 2))], axis=1)

    def step(self, state, actions, rng=None):
        state = np.asarray(state, dtype=np.float64)
        nxt = super().step(state[:, :4], actions, rng)
        return np.concatenate([nxt, (nxt[:, :2] - state[:, :2]) / POINT_SPEED], axis=1)

    def observe(self, state):
        state = np.asarray(state)
        return np.concatenate([state[:, :2], state[:, 4:6]], axis=1).astype(np.float32)

    def goal_observation(self, goals):
        goals = np.asarray(goals, dtype=np.float32)
        return np.concatenate([goals, np.zeros_like(goals)], axis=-1)
