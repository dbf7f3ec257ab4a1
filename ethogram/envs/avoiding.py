"""D3IL's avoiding task (Jia et al., ICLR 2024), as a batched 2-D point in the table plane, in pure numpy.

A point starts at (0.525, -0.28) and must cross the finish line y = 0.35 within 250 steps without touching any of
six round obstacles in three rows (REFERENCE.md §4):

  level 1  (0.5, -0.10)                          r 0.03    2 gaps: left / right of it
  level 2  (0.425, 0.08), (0.575, 0.08)          r 0.025   3 gaps
  level 3  (0.35, 0.26), (0.5, 0.26), (0.65, 0.26)  r 0.025  4 gaps

A behaviour is which gap the path takes at each level: 2 x 3 x 4 = 24 behaviours, read from the x at which the path
first crosses each row's y (`behaviours`). Touching an obstacle ends the episode in failure: the point stays where
it touched (the segment of every step is tested, so no step jumps through an obstacle).

Dynamics: position += MAX_STEP * action (actions clipped to [-1, 1] per axis), kept inside the table. The simulator
state (envs/base.py) is (B, 5): x, y, the last step's velocity (vx, vy, in m per step) and a collision flag. The
observation is (x, y); the goal observation is a point on the finish line, straight ahead of the start; success is
crossing the line untouched, as in D3IL.

Goals. D3IL's policies see no goal; ethogram's agents are goal-conditioned. The evaluation has four tasks, one per
gap of the last row: the goal is where a demonstration through that gap ends, on the finish line. A goal thus
names the last row's gap and leaves the first two rows (2 x 3 = 6 ways) to the policy: a unimodal policy takes one
of them per goal (diversity ln 4 / ln 24 = 0.44 at best), a multimodal one can take all six (up to 1). Success
does not depend on the goal (crossing untouched, as in D3IL); BESO with guidance 0 is the goal-free policy of
D3IL's protocol.

The scripted demonstrator (`demonstrate`) covers all 24 behaviours with known frequencies: at each level it picks
a gap with the probabilities of GAP_PROBS (independently), drives to a waypoint below the gap, through it, and on
to the next level, at a speed drawn per episode, with Gaussian action noise. D3IL's own demonstrations (human
teleoperation of a robot arm) cannot be downloaded here.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

START = np.array([0.525, -0.28])
FINISH_Y = 0.35
EPISODE_STEPS = 250
MAX_STEP = 0.01  # metres per step at |action| = 1 on an axis
START_NOISE = 0.01  # uniform +-1 cm on the start position
BOUNDS = np.array([[0.2, -0.35], [0.8, 0.45]])  # the table: x in [0.2, 0.8], y in [-0.35, 0.45]
OBS_ORIGIN = np.array([0.5, 0.0])
OBS_SCALE = 10.0  # observations in decimetres from OBS_ORIGIN

LEVEL_Y = np.array([-0.10, 0.08, 0.26])
OBSTACLES = [np.array([0.5]), np.array([0.425, 0.575]), np.array([0.35, 0.5, 0.65])]  # x of each row's obstacles
RADII = np.array([0.03, 0.025, 0.025])
N_BEHAVIOURS = 24
# The gaps' centres, where the demonstrator passes each row, and how often it picks each (its known frequencies).
GAP_X = [np.array([0.44, 0.56]), np.array([0.36, 0.5, 0.64]), np.array([0.29, 0.425, 0.575, 0.71])]
GAP_PROBS = [np.array([0.6, 0.4]), np.array([0.25, 0.5, 0.25]), np.array([0.2, 0.3, 0.3, 0.2])]
GOALS = np.stack([GAP_X[2], np.full(4, FINISH_Y + 0.005)], -1)  # task k's goal: the end of a path through gap k


@dataclass(frozen=True)
class Task:
    """An evaluation task: start at START, cross the finish line; the goal is the end of a path through one of the
    last row's gaps."""

    name: str
    goal: tuple[float, float]
    start: tuple[float, float] = (float(START[0]), float(START[1]))


def behaviour_name(k: int) -> str:
    """'L-M-3': the gap at each level (level 1 L/R; level 2 L/M/R; level 3 1-4 from the left)."""
    a, b, c = k // 12, (k // 4) % 3, k % 4
    return f"{'LR'[a]}-{'LMR'[b]}-{c + 1}"


def behaviour_probs() -> np.ndarray:
    """The demonstrator's frequency of each of the 24 behaviours (index = 12 * level1 + 4 * level2 + level3)."""
    p = GAP_PROBS[0][:, None, None] * GAP_PROBS[1][None, :, None] * GAP_PROBS[2][None, None, :]
    return p.reshape(-1)


def _segment_hits(p0: np.ndarray, p1: np.ndarray) -> np.ndarray:
    """Whether each segment p0 -> p1 (B, 2) comes within an obstacle's radius."""
    hit = np.zeros(len(p0), dtype=bool)
    d = p1 - p0
    dd = np.maximum((d**2).sum(-1), 1e-18)
    for y, xs, r in zip(LEVEL_Y, OBSTACLES, RADII, strict=True):
        for x in xs:
            c = np.array([x, y])
            t = np.clip(((c - p0) * d).sum(-1) / dd, 0.0, 1.0)
            closest = p0 + t[:, None] * d
            hit |= ((closest - c) ** 2).sum(-1) <= r**2
    return hit


class Avoiding:
    """The batched avoiding task (envs/base.py's Env, without a maze: `maze` is None); four evaluation tasks."""

    name = "avoiding"
    obs_dim = 2
    action_dim = 2
    episode_steps = EPISODE_STEPS
    maze = None
    n_behaviours = N_BEHAVIOURS

    def __init__(self, variant: str = ""):
        self.tasks = [Task(f"gap{k + 1}", (float(g[0]), float(g[1]))) for k, g in enumerate(GOALS)]

    def add_noise(self, xy: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        return np.asarray(xy, dtype=np.float64) + rng.uniform(-START_NOISE, START_NOISE, size=np.shape(xy))

    def reset(self, positions: np.ndarray, rng: np.random.Generator | None = None) -> np.ndarray:
        xy = np.asarray(positions, dtype=np.float64).reshape(-1, 2)
        state = np.zeros((len(xy), 5))
        state[:, :2] = xy
        return state

    def step(self, state: np.ndarray, actions: np.ndarray, rng: np.random.Generator | None = None) -> np.ndarray:
        state = np.asarray(state, dtype=np.float64)
        xy, dead = state[:, :2], state[:, 4] > 0
        move = MAX_STEP * np.clip(np.asarray(actions, dtype=np.float64), -1.0, 1.0)
        nxt = np.clip(xy + move, BOUNDS[0], BOUNDS[1])
        hit = _segment_hits(xy, nxt) & ~dead
        nxt = np.where((dead | hit)[:, None], xy, nxt)  # a touch ends the episode where it happened
        out = np.empty_like(state)
        out[:, :2] = nxt
        out[:, 2:4] = nxt - xy
        out[:, 4] = (dead | hit).astype(np.float64)
        return out

    def observe(self, state: np.ndarray) -> np.ndarray:
        return ((np.asarray(state)[:, :2] - OBS_ORIGIN) * OBS_SCALE).astype(np.float32)

    def positions(self, state: np.ndarray) -> np.ndarray:
        return np.asarray(state)[:, :2]

    def obs_positions(self, obs: np.ndarray) -> np.ndarray:
        return np.asarray(obs, dtype=np.float64)[..., :2] / OBS_SCALE + OBS_ORIGIN

    def qpos_qvel(self, state: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        return np.asarray(state)[:, :2], np.asarray(state)[:, 2:4]

    def task_starts(self, task_ids: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        b = len(task_ids)
        goals = GOALS[np.asarray(task_ids, dtype=np.int64) - 1]
        return self.reset(self.add_noise(np.broadcast_to(START, (b, 2)), rng)), goals.copy()

    def success(self, state: np.ndarray, goals: np.ndarray) -> np.ndarray:
        state = np.asarray(state)
        return (state[:, 1] >= FINISH_Y) & (state[:, 4] == 0)

    def reached(self, obs: np.ndarray, goal_obs: np.ndarray) -> np.ndarray:
        return self.obs_positions(obs)[..., 1] >= FINISH_Y

    def goal_observation(self, goals: np.ndarray) -> np.ndarray:
        return ((np.asarray(goals, dtype=np.float64) - OBS_ORIGIN) * OBS_SCALE).astype(np.float32)

    def check_dataset(self, arrays: dict, source: str) -> None:
        """Every position on the table: a maze's dataset (coordinates in metres of maze, up to ~40) is refused."""
        from ethogram.errors import EthogramError

        xy = self.obs_positions(arrays["observations"])
        lo, hi = BOUNDS
        outside = ~((xy >= lo - 1e-6) & (xy <= hi + 1e-6)).all(axis=1)
        if outside.any():
            row = int(np.argmax(outside))
            raise EthogramError(f"dataset '{source}' is not an avoiding dataset: its state at row {row} "
                                f"{tuple(round(float(v), 3) for v in xy[row])} lies outside the avoiding table "
                                f"(x in [{lo[0]}, {hi[0]}], y in [{lo[1]}, {hi[1]}]); it was collected in another "
                                "environment (a maze?).", "collect one with: ethogram collect avoiding")

    # -------------------------------------------------------------------------------------- behaviours

    def behaviours(self, positions: np.ndarray) -> np.ndarray:
        """The behaviour (0..23) of each path (B, T, 2): the gap at each row, from the x where the path first
        reaches the row's y; -1 for a path that never reaches the last row."""
        positions = np.asarray(positions, dtype=np.float64)
        out = np.zeros(len(positions), dtype=np.int64)
        ok = np.ones(len(positions), dtype=bool)
        for y, xs in zip(LEVEL_Y, OBSTACLES, strict=True):
            above = positions[:, :, 1] >= y
            crossed = above.any(axis=1)
            t = np.argmax(above, axis=1)
            x = positions[np.arange(len(positions)), t, 0]
            gap = np.searchsorted(xs, x)  # 0 = left of every obstacle of the row
            ok &= crossed
            out = out * (len(xs) + 1) + gap
        return np.where(ok, out, -1)

    def draw(self, ax) -> None:
        """The table: obstacles, the start and the finish line (matplotlib axes)."""
        import matplotlib.pyplot as plt

        for y, xs, r in zip(LEVEL_Y, OBSTACLES, RADII, strict=True):
            for x in xs:
                ax.add_patch(plt.Circle((x, y), r, color="#4a4a4a", lw=0))
        ax.axhline(FINISH_Y, color="#2ca02c", lw=1.2, ls=":")
        ax.plot(*START, "o", color="black", ms=4)
        ax.set_xlim(0.2, 0.8)
        ax.set_ylim(-0.32, 0.40)
        ax.set_aspect("equal")
        ax.set_xticks([])
        ax.set_yticks([])
        ax.set_facecolor("#f4f1ea")


# ------------------------------------------------------------------------------------------ the demonstrator

WAYPOINT_BELOW = 0.06  # the demonstrator lines up this far below a row (plus the radius) ...
WAYPOINT_ABOVE = 0.02  # ... and leaves it this far above (plus the radius)
GAP_JITTER = 0.01  # uniform +-1 cm on where it passes a gap
SPEED = (0.6, 0.9)  # action magnitude per episode, uniform
SWITCH_DIST = 0.01  # a waypoint is reached within 1 cm


def demonstration_plan(b: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """(behaviour (B,), waypoints (B, 7, 2)) of `b` demonstrations: below and above each row's chosen gap, then
    past the finish line."""
    choice = [rng.choice(len(p), size=b, p=p) for p in GAP_PROBS]
    beh = choice[0] * 12 + choice[1] * 4 + choice[2]
    way = np.empty((b, 7, 2))
    for level in range(3):
        gx = GAP_X[level][choice[level]] + rng.uniform(-GAP_JITTER, GAP_JITTER, size=b)
        way[:, 2 * level] = np.stack([gx, np.full(b, LEVEL_Y[level] - RADII[level] - WAYPOINT_BELOW)], -1)
        way[:, 2 * level + 1] = np.stack([gx, np.full(b, LEVEL_Y[level] + RADII[level] + WAYPOINT_ABOVE)], -1)
    way[:, 6] = np.stack([way[:, 5, 0], np.full(b, FINISH_Y + 0.03)], -1)
    return beh, way


def demonstrate(env: Avoiding, b: int, noise: float, rng: np.random.Generator, steps: int = EPISODE_STEPS):
    """Run `b` scripted demonstrations at once. Returns (observations (B, T+1, 2), as `observe` gives them,
    actions (B, T+1, 2),
    lengths (B,) = steps until the finish line, behaviours (B,), success (B,)); the rows past an episode's end
    repeat its last state."""
    beh, way = demonstration_plan(b, rng)
    speed = rng.uniform(*SPEED, size=b)
    state, _ = env.task_starts(np.ones(b, dtype=np.int64), rng)
    obs = np.empty((b, steps + 1, 2), dtype=np.float32)
    actions = np.zeros((b, steps + 1, 2), dtype=np.float32)
    k = np.zeros(b, dtype=np.int64)
    done = np.zeros(b, dtype=bool)
    length = np.full(b, steps)
    rows = np.arange(b)
    for t in range(steps):
        xy = env.positions(state)
        obs[:, t] = env.observe(state)
        near = np.linalg.norm(way[rows, k] - xy, axis=-1) < SWITCH_DIST
        k = np.minimum(k + near, 6)
        d = way[rows, k] - xy
        direction = d / np.maximum(np.linalg.norm(d, axis=-1, keepdims=True), 1e-9)
        # Never overshoot a waypoint: the last step to it is shorter.
        mag = np.minimum(speed, np.linalg.norm(d, axis=-1) / MAX_STEP)[:, None]
        act = np.clip(direction * mag + rng.normal(0.0, noise, size=(b, 2)), -1.0, 1.0)
        act[done] = 0.0
        actions[:, t] = act
        state = np.where(done[:, None], state, env.step(state, act))
        new = ~done & (env.positions(state)[:, 1] >= FINISH_Y)
        length[new] = t + 1
        done |= new
        if done.all():
            obs[:, t + 1:] = env.observe(state)[:, None]
            break
    else:
        obs[:, steps] = env.observe(state)
    success = env.success(state, np.zeros((b, 2)))
    return obs, actions, length, beh, success
