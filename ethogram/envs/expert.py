"""The dataset expert, as OGBench's generator builds it: a navigator choosing subgoals over the maze, and a
locomotor that moves the robot in the unit direction of the subgoal.

Navigator (OGBench locomaze/maze.py, the oracle subgoal): the centre of the next cell on the BFS shortest path from
the agent's cell to the goal cell. Locomotor: for the point mass, a unit step toward the subgoal (the point moves
0.2 per unit action); for the ant, a learned walking policy given the subgoal's direction.
"""

from __future__ import annotations

import numpy as np

from ethogram.envs.maze import Maze


class Navigator:
    """BFS subgoals toward any of `goal_cells` (default: every free cell), one next-cell table per goal cell."""

    def __init__(self, maze: Maze, goal_cells: list[tuple[int, int]] | None = None):
        self.maze = maze
        self.goal_cells = list(goal_cells if goal_cells is not None else maze.free_cells())
        self.index = {c: k for k, c in enumerate(self.goal_cells)}
        self.tables = np.stack([maze.next_cell_table(g) for g in self.goal_cells])  # (n_goals, H, W, 2)

    def goal_index(self, cells) -> np.ndarray:
        return np.array([self.index[tuple(int(v) for v in c)] for c in cells])

    def next_cells(self, positions: np.ndarray, goal_k: np.ndarray) -> np.ndarray:
        cell = self.maze.xy_to_ij(positions)
        return self.tables[goal_k, cell[:, 0], cell[:, 1]]

    def subgoals(self, positions: np.ndarray, goal_k: np.ndarray) -> np.ndarray:
        """x-y of the next cell's centre on the shortest path to each episode's goal cell (B, 2)."""
        return self.maze.ij_to_xy(self.next_cells(positions, goal_k))


def unit_directions(env, state: np.ndarray, subgoals: np.ndarray) -> np.ndarray:
    """The unit vector from each robot toward its subgoal, as OGBench's generator computes it (B, 2)."""
    direction = subgoals - env.positions(state)
    return direction / (np.linalg.norm(direction, axis=-1, keepdims=True) + 1e-6)


def point_locomotor(expert=None):
    """The point's expert step: the unit direction itself is the action (noise is added by the collector)."""
    return lambda env, state, directions: directions


def ant_locomotor(expert):
    """The ant's expert step: the trained walking policy (envs/locomotor.py, deterministic: tanh of its mean, as
    OGBench collects at temperature 0) given the ant's joints without x-y and the unit direction to walk in.
    `expert` is an expert directory (`ethogram expert ant --out DIR`) or an exported policy directory."""
    import jax

    from ethogram.envs.locomotor import load_policy, make_act

    c, actor, _ = load_policy(expert)
    _, act_det = make_act(c)
    params = jax.device_put(actor)

    def step(env, state, directions):
        obs = np.concatenate([env.proprio(state), directions], axis=1).astype(np.float32)
        return np.asarray(act_det(params, obs), dtype=np.float64)

    return step


def oracle_actions(maze: Maze, xy: np.ndarray, tables: np.ndarray, target_xy: np.ndarray) -> np.ndarray:
    """The noise-free expert that lands on a target: a unit step toward the next BFS cell; in the target cell,
    toward the target itself, slowing down within one step of it.

    `tables` (B, H, W, 2) are next-cell tables (Maze.next_cell_table) of each episode's target cell.
    """
    cell = maze.xy_to_ij(xy)
    b = np.arange(len(xy))
    nxt = tables[b, cell[:, 0], cell[:, 1]]
    at_target = (nxt == cell).all(axis=-1)
    aim = np.where(at_target[:, None], target_xy, maze.ij_to_xy(nxt))
    d = aim - xy
    dist = np.linalg.norm(d, axis=-1, keepdims=True)
    return d / np.maximum(dist, 0.2)  # full speed until within one step, then land on the target
