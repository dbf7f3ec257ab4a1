"""Evaluation task sets: the five published start/goal pairs of a maze, or five held-out ones.

A design tuned on the five published tasks (a search setting, a budget) can be checked on others: `heldout` tasks
are chosen deterministically per maze by envs/mazefile.far_apart_tasks, each a pair of free cells far apart along
the maze's shortest paths, spread over the maze, and never a published task (in either direction). Episodes of a
held-out task are drawn exactly as OGBench draws the published ones (the start and goal cell centres with uniform
noise of +-1), so success on both sets means the same thing.
"""

from __future__ import annotations

from ethogram.errors import EthogramError

TASK_SETS = ("published", "heldout")


def check_task_set(name: str) -> str:
    if name not in TASK_SETS:
        raise EthogramError(f"unknown task set '{name}'.", f"--tasks is one of: {', '.join(TASK_SETS)}")
    return name


def heldout_tasks(env) -> tuple:
    """Five tasks of the environment's maze other than its own (published) ones."""
    from ethogram.envs.mazefile import far_apart_tasks

    if getattr(env, "maze", None) is None:
        raise EthogramError(f"'{getattr(env, 'name', env)}' has no maze, so it has no held-out tasks (its one task "
                            "is the evaluation).", "evaluate it with --tasks published")
    return far_apart_tasks(env.maze, len(env.tasks), avoid=tuple(env.tasks))


class TaskSet:
    """An environment whose evaluation tasks are replaced (everything else is the environment's own, envs/base.py:
    the same physics, observation and success test)."""

    def __init__(self, env, tasks: tuple, name: str):
        self.env, self.tasks, self.task_set = env, list(tasks), name

    def __getattr__(self, attr):
        if attr == "env":
            raise AttributeError(attr)
        return getattr(self.env, attr)

    def task_starts(self, task_ids, rng):
        """Start states and goal positions of a batch of task ids (1-based), with the environment's own noise."""
        import numpy as np

        maze = self.env.maze
        init = maze.ij_to_xy(np.array([self.tasks[k - 1].init_ij for k in task_ids]))
        goal = maze.ij_to_xy(np.array([self.tasks[k - 1].goal_ij for k in task_ids]))
        return self.env.reset(self.env.add_noise(init, rng)), self.env.add_noise(goal, rng)


def with_tasks(env, name: str = "published"):
    """The environment evaluated on task set `name` (`published`: the environment itself)."""
    check_task_set(name)
    if name == "published":
        return env
    return TaskSet(env, heldout_tasks(env), name)


def task_cells(env) -> list[list[list[int]]]:
    """The tasks as [[start_i, start_j], [goal_i, goal_j]] (what an evaluation record stores)."""
    return [[[int(v) for v in t.init_ij], [int(v) for v in t.goal_ij]] for t in env.tasks]
