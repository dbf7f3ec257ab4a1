"""Every ethogram environment as a single-episode Gymnasium env with goal-conditioned observations.

`EthogramEnv` wraps one batched environment (envs/base.py) at batch size 1, so its physics is the batched step's:
the same simulator state, the same `step(state, actions, rng)`, with `np_random` (seeded by `reset(seed=...)`) as
the rng of every draw (task noise, teleport exits). Observations follow gymnasium-robotics' GoalEnv and Minari's
goal-conditioned datasets: a dict of `observation` (what an ethogram agent observes), `achieved_goal` (the x-y
position) and `desired_goal` (the goal's x-y); `info["goal_observation"]` is the goal as an ethogram agent is given
it. Reward is OGBench's sparse 1 on success, an episode terminates on success and is truncated after the
environment's evaluation length (the TimeLimit of registration). docs/gymnasium.md shows how to use it.

Registration (`register_envs`) reads the registry, so every robot and task it knows is registered as
`ethogram/{name}-v0`, plus `ethogram/{robot}maze-custom-v0` for a maze file of your own (kwarg `maze_file`).
`import ethogram` registers them as soon as gymnasium is imported (ethogram/__init__.py).
"""

from __future__ import annotations

import copy
import os
from typing import Any

# Offscreen MuJoCo frames need a GL platform chosen before mujoco is imported; EGL renders on machines without a
# screen (a user's own MUJOCO_GL is kept).
os.environ.setdefault("MUJOCO_GL", "egl")

import gymnasium  # noqa: E402
import numpy as np  # noqa: E402
from gymnasium import spaces  # noqa: E402

from ethogram.errors import EthogramError  # noqa: E402

NAMESPACE = "ethogram"
ENTRY_POINT = "ethogram.envs.gym:EthogramEnv"
CUSTOM = "custom"  # `ethogram/pointmaze-custom-v0`: a maze of your own, from `maze_file`
# Steps of an evaluation episode, per environment, read here without building the environment (MuJoCo loads only
# when one is made); tests/test_gym.py checks them against each environment's `episode_steps`.
EPISODE_STEPS = {"avoiding": 250}
DEFAULT_EPISODE_STEPS = 1000  # OGBench's locomaze evaluation episodes
RENDER_FPS = 10  # OGBench's point: a step is 5 MuJoCo steps of 0.02 s
OPTIONS = ("task_id", "start", "goal")


def gym_id(env_name: str) -> str:
    """'pointmaze-medium' -> 'ethogram/pointmaze-medium-v0'."""
    return f"{NAMESPACE}/{env_name}-v0"


def registered_names() -> list[str]:
    """The environments registered with Gymnasium: every one of the registry, and each robot's custom maze."""
    from ethogram.envs.registry import ROBOTS, known_envs

    return [*known_envs(), *(f"{robot}maze-{CUSTOM}" for robot, r in ROBOTS.items() if r.custom_mazes)]


def register_envs() -> list[str]:
    """Register every ethogram environment with Gymnasium (ids `ethogram/NAME-v0`); ids already registered are
    left as they are, so calling it again is harmless. Returns the ids."""
    ids = []
    for name in registered_names():
        env_id = gym_id(name)
        ids.append(env_id)
        if env_id not in gymnasium.registry:
            gymnasium.register(env_id, entry_point=ENTRY_POINT, kwargs={"env_name": name},
                               max_episode_steps=EPISODE_STEPS.get(name, DEFAULT_EPISODE_STEPS))
    return ids


# ------------------------------------------------------------------------------------------------- spaces

def position_bounds(env) -> tuple[np.ndarray, np.ndarray]:
    """A box every position of the environment lies in: a maze's outer walls, or the avoiding task's table."""
    if env.maze is not None:
        h, w = env.maze.shape
        lo = env.maze.ij_to_xy((0, 0)) - env.maze.unit / 2
        return lo, env.maze.ij_to_xy((h - 1, w - 1)) + env.maze.unit / 2
    from ethogram.envs.avoiding import BOUNDS, Avoiding

    if isinstance(env, Avoiding):
        return BOUNDS[0].copy(), BOUNDS[1].copy()
    return np.full(2, -np.inf), np.full(2, np.inf)


def observation_bounds(env) -> tuple[np.ndarray, np.ndarray]:
    """A box every observation lies in. The position part is the goal observation of the position bounds (a
    monotone map for every environment here); pointvel's displacement, in action units, is at most the maze's
    span over one step's length (a teleport crosses the maze in one step). Unknown extra dimensions: unbounded."""
    from ethogram.envs.pointmaze import POINT_SPEED, VelocityPointMaze

    lo, hi = position_bounds(env)
    obs_lo = env.goal_observation(lo[None]).astype(np.float64)[0]
    obs_hi = env.goal_observation(hi[None]).astype(np.float64)[0]
    if env.obs_dim > 2:
        span = float((hi - lo).max()) / POINT_SPEED if isinstance(env, VelocityPointMaze) else np.inf
        obs_lo[2:], obs_hi[2:] = -span, span
    return np.minimum(obs_lo, obs_hi), np.maximum(obs_lo, obs_hi)


def _box(lo: np.ndarray, hi: np.ndarray) -> spaces.Box:
    return spaces.Box(np.asarray(lo, np.float32), np.asarray(hi, np.float32), dtype=np.float32)


def make_batched(env_name: str, maze_file: str | os.PathLike | None):
    """The batched environment of a registered name; a custom maze's is read from its maze file."""
    from ethogram.envs.registry import make_env

    robot_prefix, _, maze = env_name.partition("-")
    if maze != CUSTOM:
        if maze_file is not None:
            custom = f"{robot_prefix if maze else 'pointmaze'}-{CUSTOM}"  # a task without a maze has no custom one
            raise EthogramError(f"{gym_id(env_name)} is a published environment; maze_file= is for a maze of your "
                                "own.", f"gymnasium.make('{gym_id(custom)}', maze_file='my_maze.txt')")
        return make_env(env_name)
    if maze_file is None:
        raise EthogramError(f"{gym_id(env_name)} needs the maze file of your maze.",
                            f"gymnasium.make('{gym_id(env_name)}', maze_file='my_maze.txt') (docs/gymnasium.md)")
    from ethogram.envs.mazefile import read_maze_file

    m = read_maze_file(maze_file)
    return make_env(f"{robot_prefix}-{m.name}", layout=m.text())


# ---------------------------------------------------------------------------------------------------- env

class EthogramEnv(gymnasium.Env):
    """One episode of an ethogram environment, stepped by its batched environment at batch size 1.

    reset(seed=None, options=None) options: `task_id` (1..len(tasks): an evaluation task with OGBench's start and
    goal noise; without it a task is drawn from `np_random`), `start` and `goal` (x-y positions replacing the
    task's). Observation dict: `observation` (obs_dim), `achieved_goal` and `desired_goal` (x-y), float32.
    info: `success`, `goal_observation` (what an ethogram agent is given as the goal), `task_id`."""

    metadata = {"render_modes": ["rgb_array"], "render_fps": RENDER_FPS}

    def __init__(self, env_name: str = "pointmaze-medium", maze_file: str | os.PathLike | None = None,
                 render_mode: str | None = None, width: int = 480, height: int = 480):
        if render_mode not in (None, *self.metadata["render_modes"]):
            raise EthogramError(f"render_mode {render_mode!r} is not one of {self.metadata['render_modes']}.",
                                "use render_mode='rgb_array', or leave it out")
        self.batched = make_batched(env_name, maze_file)
        self.env_name = env_name
        self.render_mode, self.width, self.height = render_mode, int(width), int(height)
        self.action_space = spaces.Box(-1.0, 1.0, (self.batched.action_dim,), dtype=np.float32)
        xy = _box(*position_bounds(self.batched))
        self.observation_space = spaces.Dict({"observation": _box(*observation_bounds(self.batched)),
                                              "achieved_goal": xy, "desired_goal": copy.deepcopy(xy)})
        self._state: np.ndarray | None = None  # (1, state_dim) float64: the batched env's simulator state
        self._goal: np.ndarray | None = None  # (2,) float64
        self._task_id = 0
        self._renderer = None

    # ----------------------------------------------------------------------------------------- episodes

    @property
    def state(self) -> np.ndarray:
        """The simulator state (state_dim,) float64, as the batched environment holds it (a copy)."""
        self._need_reset()
        return self._state[0].copy()

    @property
    def goal(self) -> np.ndarray:
        """The goal position (2,) float64 (desired_goal is its float32 copy)."""
        self._need_reset()
        return self._goal.copy()

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None):
        super().reset(seed=seed)
        options = dict(options or {})
        unknown = sorted(set(options) - set(OPTIONS))
        if unknown:
            raise EthogramError(f"unknown reset option(s) {unknown}.", f"the options are {', '.join(OPTIONS)}")
        n = len(self.batched.tasks)
        task_id = options.get("task_id")
        task_id = int(self.np_random.integers(1, n + 1)) if task_id is None else _task_id(task_id, n)
        state, goal = self.batched.task_starts(np.array([task_id]), self.np_random)
        if options.get("start") is not None:
            state = self.batched.reset(self._position(options["start"], "start")[None], self.np_random)
        if options.get("goal") is not None:
            goal = self._position(options["goal"], "goal")[None]
        self._state, self._goal, self._task_id = state, np.asarray(goal, dtype=np.float64)[0], task_id
        return self._observation(), self._info()

    def step(self, action):
        self._need_reset()
        actions = self._action(action)[None]
        self._state = self.batched.step(self._state, actions, self.np_random)
        success = bool(self.batched.success(self._state, self._goal[None])[0])
        return self._observation(), float(success), success, False, self._info(success)

    def _need_reset(self) -> None:
        if self._state is None:
            raise EthogramError("the environment has no episode yet.", "call reset() before step(), render() "
                                "or reading the state")

    def _observation(self) -> dict[str, np.ndarray]:
        return {"observation": self.batched.observe(self._state)[0],
                "achieved_goal": self.batched.positions(self._state)[0].astype(np.float32),
                "desired_goal": self._goal.astype(np.float32)}

    def _info(self, success: bool | None = None) -> dict[str, Any]:
        if success is None:
            success = bool(self.batched.success(self._state, self._goal[None])[0])
        return {"success": success, "goal_observation": self.batched.goal_observation(self._goal[None])[0],
                "task_id": self._task_id}

    def _action(self, action) -> np.ndarray:
        try:
            a = np.asarray(action, dtype=np.float64)
        except (TypeError, ValueError):
            raise EthogramError(f"the action {action!r} is not an array of numbers.",
                                f"pass {self.batched.action_dim} numbers in [-1, 1]") from None
        if a.shape != (self.batched.action_dim,):
            raise EthogramError(f"an action of shape {a.shape}; {self.env_name} takes one of shape "
                                f"({self.batched.action_dim},).", "pass one action per step (a batch is for the "
                                "batched environment, ethogram.envs.make_env)")
        if not np.isfinite(a).all():
            raise EthogramError(f"the action {a.tolist()} is not finite.", "pass numbers in [-1, 1]")
        return np.clip(a, -1.0, 1.0)

    def _position(self, value, what: str) -> np.ndarray:
        """A start or goal option as (2,) float64, inside the environment and not in a wall, or a clear error."""
        try:
            xy = np.asarray(value, dtype=np.float64)
        except (TypeError, ValueError):
            xy = None
        if xy is None or xy.shape != (2,) or not np.isfinite(xy).all():
            raise EthogramError(f"the {what} option {value!r} is not an x-y position.",
                                f"pass options={{'{what}': (x, y)}}: two finite numbers")
        lo, hi = position_bounds(self.batched)
        maze = self.batched.maze
        if not ((xy >= lo) & (xy <= hi)).all() or (maze is not None and maze.layout[tuple(maze.xy_to_ij(xy))]):
            where = "in a wall" if (xy >= lo).all() and (xy <= hi).all() else f"outside {tuple(lo)} to {tuple(hi)}"
            raise EthogramError(f"the {what} {tuple(xy.tolist())} lies {where} of {self.env_name}.",
                                "pick a free position (a free cell's centre: env.unwrapped.batched.maze.ij_to_xy(ij))")
        return xy

    # ------------------------------------------------------------------------------------- goal rewards

    def compute_terminated(self, achieved_goal, desired_goal, info=None) -> np.ndarray:
        """Success for batches of achieved and desired x-y goals (..., 2): the environment's own success test on
        states at rest at the achieved positions (pointmaze: within goal_tol 1.0 of the goal; avoiding: past the
        finish line, which a point that touched an obstacle never reaches)."""
        a, d = np.broadcast_arrays(np.asarray(achieved_goal, np.float64), np.asarray(desired_goal, np.float64))
        if a.shape[-1:] != (2,):
            raise EthogramError(f"goals of shape {a.shape}; achieved and desired goals are x-y positions (..., 2).")
        states = self.batched.reset(a.reshape(-1, 2))
        return self.batched.success(states, d.reshape(-1, 2)).reshape(a.shape[:-1])

    def compute_reward(self, achieved_goal, desired_goal, info=None) -> np.ndarray:
        """OGBench's sparse reward, 1.0 on success else 0.0, vectorised over goals (..., 2) as gymnasium-robotics'
        GoalEnv computes it (HER relabels goals with it)."""
        return self.compute_terminated(achieved_goal, desired_goal, info).astype(np.float32)

    def compute_truncated(self, achieved_goal, desired_goal, info=None) -> np.ndarray:
        """Never from the goals: truncation is the TimeLimit's."""
        return np.zeros(np.broadcast_shapes(np.shape(achieved_goal), np.shape(desired_goal))[:-1], dtype=bool)

    # ------------------------------------------------------------------------------------------ render

    def render(self):
        if self.render_mode is None:
            return None
        self._need_reset()
        if self._renderer is None:
            self._renderer = (MujocoView if getattr(self.batched, "model", None) is not None else DrawnView)(
                self.batched, self.width, self.height)
        return self._renderer.frame(self._state, self._goal)

    def close(self):
        if self._renderer is not None:
            self._renderer.close()
            self._renderer = None


def _task_id(value, n: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or not 1 <= int(value) <= n:
        raise EthogramError(f"unknown task_id {value!r}.", f"the evaluation tasks are 1 to {n}")
    return int(value)


class MujocoView:
    """Offscreen frames of the environment's MuJoCo model (a copy, its target moved to the goal, as OGBench moves
    it), seen from straight above the maze's centre, the whole maze in view."""

    def __init__(self, env, width: int, height: int):
        import mujoco

        self.batched, self.mujoco = env, mujoco
        self.model = copy.deepcopy(env.model)
        self.data = mujoco.MjData(self.model)
        # The offscreen framebuffer (OGBench's models: 640 x 480) grows to the frame asked for.
        buffer = self.model.vis.global_
        buffer.offwidth, buffer.offheight = max(buffer.offwidth, width), max(buffer.offheight, height)
        try:
            self.renderer = mujoco.Renderer(self.model, height, width)
        except Exception as e:  # no GL platform loaded: mujoco was imported before MUJOCO_GL was set
            raise EthogramError(f"MuJoCo cannot render offscreen here ({type(e).__name__}: {e}).",
                                "set MUJOCO_GL=egl in the environment before Python starts (or before mujoco is "
                                "imported)") from None
        names = [self.model.geom(i).name for i in range(self.model.ngeom)]
        self.target = names.index("target") if "target" in names else None
        lo, hi = position_bounds(env)
        self.camera = mujoco.MjvCamera()
        self.camera.lookat[:2] = (lo + hi) / 2
        fit = max((hi[0] - lo[0]) * height / width, hi[1] - lo[1])  # the whole maze in MuJoCo's 45 degree view
        self.camera.distance = 1.25 * fit
        self.camera.azimuth, self.camera.elevation = 90.0, -90.0  # x to the right, y up

    def frame(self, state: np.ndarray, goal: np.ndarray) -> np.ndarray:
        qpos, qvel = self.batched.qpos_qvel(state)
        self.data.qpos[:], self.data.qvel[:] = qpos[0], qvel[0]
        if self.target is not None:
            self.model.geom_pos[self.target, :2] = goal
        self.mujoco.mj_forward(self.model, self.data)
        self.renderer.update_scene(self.data, camera=self.camera)
        return self.renderer.render().copy()

    def close(self) -> None:
        self.renderer.close()


class DrawnView:
    """Frames of the environment's own top-view drawing (`draw(ax)`, envs/base.py) with the point and its goal."""

    def __init__(self, env, width: int, height: int):
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure

        self.batched = env
        self.figure = Figure(figsize=(width / 100, height / 100), dpi=100)
        self.canvas = FigureCanvasAgg(self.figure)
        ax = self.figure.add_axes((0, 0, 1, 1))
        env.draw(ax)
        (self.goal,) = ax.plot([], [], "*", color="#2ca02c", ms=12)
        (self.point,) = ax.plot([], [], "o", color="#1f77b4", ms=7)

    def frame(self, state: np.ndarray, goal: np.ndarray) -> np.ndarray:
        xy = self.batched.positions(state)[0]
        self.point.set_data([xy[0]], [xy[1]])
        self.goal.set_data([goal[0]], [goal[1]])
        self.canvas.draw()
        return np.asarray(self.canvas.buffer_rgba())[..., :3].copy()

    def close(self) -> None:
        self.figure.clear()


register_envs()
