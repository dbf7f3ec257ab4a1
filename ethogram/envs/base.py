"""The environment contract: batched episodes whose simulator state is not the observation.

An environment steps a batch of B episodes at once. Its simulator state is a float64 array (B, state_dim), so a
batch can be indexed, masked and copied like any array (`state[active] = env.step(state[active], ...)`); what a
policy sees is `observe(state)`, which may hold more or less than the position (the point with its velocity,
`pointvel`, observes 4 numbers; an ant observes its joints). Goals are positions (B, 2) in the maze, as in
OGBench; `goal_observation(goal)` is the observation a goal-conditioned policy is given for them.

A task without a maze (envs/avoiding.py) has `maze = None`, one evaluation task, and draws itself (`draw(ax)`).
An environment whose episodes fall into named behaviours (D3IL's avoiding: which gap at each row of obstacles)
defines `n_behaviours` and `behaviours(positions (B, T, 2)) -> (B,)` ints in [0, n_behaviours), -1 for none;
evaluation then reports diversity and D3IL's score beside success (evaluate/metrics.py). `check_dataset(arrays,
source)`, when defined, refuses a dataset that cannot come from this environment (collected in another one).
A robot that can fall (the ant) defines `fallen(state) -> (B,)` bool; collection then records how often it fell;
with `fallen_observation(obs) -> (N,)` bool, the same read from stored observations, training can drop what follows
a fall (`ethogram train --drop-falls`).

Collection (data/collect.py) and evaluation (evaluate/) are written against `Env` only; the dataset expert is a
navigator (envs/expert.py: BFS subgoals over the maze) feeding the robot's locomotor (registry.py).
"""

from __future__ import annotations

from typing import Protocol

import numpy as np

from ethogram.envs.maze import Maze


class Env(Protocol):
    obs_dim: int
    action_dim: int
    episode_steps: int  # steps of an evaluation episode (OGBench: 1000)
    maze: Maze | None  # None: a task without a maze (it draws itself: `draw(ax)`)
    tasks: list  # the evaluation tasks: maze tasks have init_ij and goal_ij cells

    def reset(self, positions: np.ndarray, rng: np.random.Generator | None = None) -> np.ndarray:
        """States at `positions` (B, 2); with `rng`, the reset noise of data collection on the rest of the state."""

    def step(self, state: np.ndarray, actions: np.ndarray, rng: np.random.Generator | None = None) -> np.ndarray:
        """The next states of every episode (`rng` draws whatever the dynamics draw, e.g. teleport exits)."""

    def observe(self, state: np.ndarray) -> np.ndarray:
        """What a policy sees: float32 (B, obs_dim)."""

    def positions(self, state: np.ndarray) -> np.ndarray:
        """The x-y positions (B, 2), float64: success tests, pictures, metrics."""

    def obs_positions(self, obs: np.ndarray) -> np.ndarray:
        """The x-y positions that observations (..., obs_dim) show (demonstrations and dataset states)."""

    def qpos_qvel(self, state: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """MuJoCo's generalised positions and velocities, stored beside the observations in a dataset."""

    def add_noise(self, xy: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """OGBench's uniform start / goal noise."""

    def task_starts(self, task_ids: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        """(start states, goal positions) of evaluation tasks (1-based ids), with OGBench's noise."""

    def success(self, state: np.ndarray, goals: np.ndarray) -> np.ndarray:
        """Whether each episode is at its goal position (B,) bool."""

    def reached(self, obs: np.ndarray, goal_obs: np.ndarray) -> np.ndarray:
        """The same goal test computed from observations: what an agent that observes its reward can know."""

    def goal_observation(self, goals: np.ndarray) -> np.ndarray:
        """The observation given to a goal-conditioned policy for goal positions (B, 2): float32 (B, obs_dim)."""
