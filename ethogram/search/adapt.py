"""Adaptation: learn a route, change the world, and count the env steps until the goal is reached again.

Two changes: `block` (a corridor cell in the middle of the learned route becomes a wall) and `move-goal` (the
task's goal moves to the goal cell of the next task; same start). Three agents face the changed maze: the
learned graph that keeps mutating (SNS), the same graph frozen (no Hebbian change, no insertion: the ablation)
and a fresh, empty graph (searching from scratch).
"""

from __future__ import annotations

import copy
import dataclasses

import numpy as np

from ethogram.envs.blocked import BlockedPointMaze, MovedGoalPointMaze
from ethogram.search import graph as G
from ethogram.search.controllers import StraightLine
from ethogram.search.run import default_config, search_online
from ethogram.search.sns import Searcher


def route_cells(env, searcher: Searcher, task: int, seed: int) -> list[tuple[int, int]]:
    """Cells along the route the agent now takes for `task` (one greedy episode with the learned graph)."""
    rng = np.random.default_rng(seed + 10_000)
    state, goal = env.task_starts(np.array([task]), rng)
    goal_obs = env.goal_observation(goal)
    searcher.reset()
    cells = [tuple(env.maze.xy_to_ij(env.positions(state))[0])]
    for _ in range(env.episode_steps):
        state = env.step(state, searcher(env.observe(state), goal_obs), rng)
        c = tuple(int(v) for v in env.maze.xy_to_ij(env.positions(state))[0])
        if c != cells[-1]:
            cells.append(c)
        if env.success(state, goal)[0]:
            break
    return cells


def block_on_route(env, task: int, cells: list[tuple[int, int]]) -> tuple[int, int]:
    """A cell of the route, away from start and goal, whose blocking leaves the goal reachable (the middle one)."""
    t = env.tasks[task - 1]
    ok = []
    for c in dict.fromkeys(cells):
        if c in (t.init_ij, t.goal_ij) or env.maze.layout[c] == 1:
            continue
        try:
            m = BlockedPointMaze(env, [c]).maze
        except ValueError:
            continue
        if m.shortest_path_steps(t.init_ij, t.goal_ij) > 0:
            ok.append(c)
    if not ok:
        raise ValueError(f"no cell on the route of task {task} can be blocked without cutting the goal off")
    return ok[len(ok) // 2]


CHANGES = ("block", "move-goal")


def moved_goal_cell(env, task: int) -> tuple[int, int]:
    """Where task `task`'s goal moves to: the goal cell of the next task (one that differs from this task's)."""
    n = len(env.tasks)
    t = env.tasks[task - 1]
    for k in range(1, n):
        cell = env.tasks[(task - 1 + k) % n].goal_ij
        if cell not in (t.goal_ij, t.init_ij):
            return cell
    raise ValueError(f"task {task}: no other task's goal to move to")


def adaptation(env, task: int, seed: int = 0, learn_wins: int = 3, budget: int = 20000,
               change: str = "block") -> dict:
    """Learn task `task` (until `learn_wins` successes), change the maze (`change`), re-solve three ways."""
    if change not in CHANGES:
        raise ValueError(f"unknown change {change!r}: use one of {CHANGES}")
    cfg = default_config("online")
    ctrl = StraightLine()
    g = G.empty(env.obs_dim, cfg.harmonic.modules * cfg.harmonic.directions)
    learner = Searcher(g, ctrl, cfg, success=env.reached)
    learned = search_online(env, learner, [task], budget, seed, after_success=learn_wins)[f"task{task}"]
    if change == "block":
        cell = block_on_route(env, task, route_cells(env, learner, task, seed))
        changed = BlockedPointMaze(env, [cell])
        out = {"task": task, "change": change, "blocked_cell": list(cell), "learn": learned}
    else:
        cell = moved_goal_cell(env, task)
        changed = MovedGoalPointMaze(env, task, cell)
        out = {"task": task, "change": change, "new_goal_cell": list(cell), "learn": learned}
    agents = {
        "mutate": Searcher(copy.deepcopy(g), ctrl, cfg, success=env.reached),
        "frozen": Searcher(copy.deepcopy(g), ctrl, dataclasses.replace(cfg, mutate=False), success=env.reached),
        "fresh": Searcher(G.empty(env.obs_dim, g.code.shape[1]), ctrl, cfg, success=env.reached),
    }
    for name, agent in agents.items():
        out[name] = search_online(changed, agent, [task], budget, seed + 1)[f"task{task}"]
    return out
