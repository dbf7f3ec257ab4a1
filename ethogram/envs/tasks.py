"""Reward tasks and demonstration tasks on the mazes, each with a scripted reference.

Reward tasks (the reward is a function of a transition (s, s'), so it can label dataset transitions):
  reach-region   1 while in the target region: task 1's goal cell and its free neighbours
  move-east      x' - x: keep moving east (the return is the net eastward distance travelled)
  approach       -||s' - p|| / unit: stay as close as possible (straight-line distance) to task 3's goal p
A reward of the state (the region, the distance) is regressed on phi(s') - mean phi, a progress reward (moving
east) on phi(s') - phi(s) (ethogram/prompts.py). The scripted reference drives the maze's BFS oracle (the dataset
expert without noise) to the best place for the reward: the region, the reachable cell furthest east, the point p.
Each task carries a `RewardMark`, what it rewards (a region, a direction, a point), drawn on its picture.

Demonstration tasks: a noise-free expert trajectory from task k's start cell, through task k+1's goal cell, to task
k's goal cell (k = 1, 2, 3): a route through specific cells that is not the shortest path, so that imitating it
means following the demonstration rather than heading for its last state.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from ethogram.envs.expert import oracle_actions
from ethogram.errors import EthogramError

REWARD_HORIZON = 500  # steps per reward episode
MAX_DEMO_STEPS = 3000


@dataclass(frozen=True)
class RewardMark:
    """What a reward task rewards, in maze x-y: 'region' (cells (K, 2) as (i, j)), 'direction' (a unit vector),
    'point' (x, y) or 'points' (x-y positions (K, 2), e.g. where labelled rewards are highest)."""

    kind: str
    value: np.ndarray
    label: str


@dataclass(frozen=True)
class RewardTask:
    name: str
    description: str
    reward: Callable[[np.ndarray, np.ndarray], np.ndarray]  # (obs (N, d), next_obs (N, d)) -> (N,)
    target_xy: np.ndarray | None  # where the scripted reference goes (None: no reference)
    feature: str = "diff"  # regression features that suit the reward (see ethogram/prompts.py)
    horizon: int = REWARD_HORIZON
    mark: RewardMark | None = None  # drawn on the reward picture


def reward_tasks(env) -> dict[str, RewardTask]:
    maze = env.maze
    free = maze.free_cells()
    goal = tuple(env.tasks[0].goal_ij)
    region = [c for c in free if maze.shortest_path_steps(c, goal) <= 1]
    region_arr = np.array(region)

    def in_region(obs, next_obs):
        cells = maze.xy_to_ij(next_obs)
        return (cells[:, None, :] == region_arr[None]).all(-1).any(-1).astype(np.float32)

    def east(obs, next_obs):
        return (np.asarray(next_obs)[:, 0] - np.asarray(obs)[:, 0]).astype(np.float32)

    point = maze.ij_to_xy(env.tasks[2].goal_ij)

    def approach(obs, next_obs):
        return (-np.linalg.norm(np.asarray(next_obs)[:, :2] - point, axis=-1) / maze.unit).astype(np.float32)

    # Reference targets: the region's goal cell; the free cell furthest east (ties: the lowest row); the point.
    east_cell = max(free, key=lambda c: (c[1], -c[0]))
    return {
        "reach-region": RewardTask("reach-region", f"1 per step inside cells {region} (task 1's goal area)",
                                   in_region, maze.ij_to_xy(goal), feature="next",
                                   mark=RewardMark("region", region_arr, "rewarded region")),
        "move-east": RewardTask("move-east", "x' - x per step: keep moving east", east, maze.ij_to_xy(east_cell),
                                mark=RewardMark("direction", np.array([1.0, 0.0]), "rewarded direction (east)")),
        "approach": RewardTask("approach", f"-distance to {tuple(point)} / 4 per step (task 3's goal)", approach,
                               point, feature="next", mark=RewardMark("point", point, "rewarded point")),
    }


def get_reward_task(env, name: str) -> RewardTask:
    tasks = reward_tasks(env)
    if name not in tasks:
        raise EthogramError(f"unknown reward task '{name}'.", f"known reward tasks: {', '.join(tasks)} (or 'all')")
    return tasks[name]


def reference_policy(env, target_xy: np.ndarray):
    """The scripted reference of a reward task: drive the oracle to `target_xy` and stay there."""
    maze = env.maze
    table = maze.next_cell_table(tuple(int(v) for v in maze.xy_to_ij(target_xy)))

    def policy(obs, goals):
        b = len(obs)
        return oracle_actions(maze, np.asarray(env.obs_positions(obs), np.float64),
                              np.broadcast_to(table, (b, *table.shape)), np.broadcast_to(target_xy, (b, 2)))

    return policy


def reward_starts(env, episodes: int, seed: int) -> np.ndarray:
    """Start positions of reward episodes: uniform free cells with OGBench's position noise (fixed by the seed)."""
    rng = np.random.default_rng(seed)
    free = env.maze.free_cells()
    cells = np.array([free[k] for k in rng.integers(len(free), size=episodes)])
    return env.add_noise(env.maze.ij_to_xy(cells), rng)


# ------------------------------------------------------------------------------------------- demonstrations

@dataclass(frozen=True)
class DemoTask:
    name: str
    cells: tuple[tuple[int, int], ...]  # waypoint cells, visited in order
    observations: np.ndarray  # (T, obs_dim): the demonstration


def demo_trajectory(env, waypoints: list[tuple[int, int]]) -> np.ndarray:
    """Observations of the noise-free expert driving from the first waypoint's centre through the others."""
    maze = env.maze
    state = env.reset(maze.ij_to_xy(waypoints[0])[None])
    states = [env.observe(state)[0]]
    for cell in waypoints[1:]:
        table = maze.next_cell_table(tuple(cell))[None]
        target = maze.ij_to_xy(cell)[None]
        while np.linalg.norm(env.positions(state) - target) > 0.5:
            state = env.step(state, oracle_actions(maze, env.positions(state), table, target))
            states.append(env.observe(state)[0])
            if len(states) > MAX_DEMO_STEPS:
                raise RuntimeError(f"the demonstration expert did not reach {cell}")
    return np.asarray(states, dtype=np.float32)


def demo_tasks(env) -> dict[str, DemoTask]:
    out = {}
    for k in (1, 2, 3):
        a, via, b = env.tasks[k - 1].init_ij, env.tasks[k].goal_ij, env.tasks[k - 1].goal_ij
        waypoints = [tuple(a), tuple(via), tuple(b)]
        out[f"demo{k}"] = DemoTask(f"demo{k}", tuple(waypoints), demo_trajectory(env, waypoints))
    return out
