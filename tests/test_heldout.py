"""Held-out evaluation tasks (envs/tasksets.py, `ethogram eval --tasks heldout`, `ethogram search --practice`) and
periodic evaluations that draw fresh episodes at every evaluation."""

from __future__ import annotations

import json

import helpers
import numpy as np
import pytest

from ethogram.cli import main
from ethogram.envs.registry import make_env
from ethogram.envs.tasksets import TASK_SETS, heldout_tasks, task_cells, with_tasks
from ethogram.errors import EthogramError
from ethogram.evaluate.protocol import periodic_seed

TINY = ["--steps", "40", "--fuse", "10", "--log-every", "20", "--set", "batch_size=16", "--quiet",
        "--set", "actor_hidden_dims=8,8"]


def fails(capsys, *argv, match: str) -> str:
    return helpers.fails(capsys, *argv, match=match, starts_with_error=False)


@pytest.mark.parametrize("name", ["pointmaze-medium", "pointmaze-large", "pointmaze-giant", "pointvelmaze-teleport"])
def test_heldout_tasks_are_other_pairs_drawn_like_the_published_ones(name):
    """Five tasks, none a published pair (either way round), deterministic, on free cells; their episodes start
    and end within OGBench's +-1 noise of the cell centres; physics and success are the environment's."""
    env = make_env(name)
    held = with_tasks(env, "heldout")
    assert with_tasks(env, "published") is env and TASK_SETS == ("published", "heldout")
    assert len(held.tasks) == 5 and task_cells(held) == task_cells(with_tasks(env, "heldout"))
    published = {(t.init_ij, t.goal_ij) for t in env.tasks}
    for t in held.tasks:
        assert (t.init_ij, t.goal_ij) not in published and (t.goal_ij, t.init_ij) not in published
        assert env.maze.layout[t.init_ij] == 0 and env.maze.layout[t.goal_ij] == 0
    rng = np.random.default_rng(0)
    ids = np.repeat(np.arange(1, 6), 40)
    state, goal = held.task_starts(ids, rng)
    start_cells = env.maze.ij_to_xy(np.array([held.tasks[k - 1].init_ij for k in ids]))
    goal_cells = env.maze.ij_to_xy(np.array([held.tasks[k - 1].goal_ij for k in ids]))
    assert np.abs(env.positions(state) - start_cells).max() <= 1.0
    assert np.abs(goal - goal_cells).max() <= 1.0 and np.abs(goal - goal_cells).max() > 0.5
    a = rng.uniform(-1, 1, (len(ids), env.action_dim))
    np.testing.assert_array_equal(held.step(state, a, np.random.default_rng(1)),
                                  env.step(state, a, np.random.default_rng(1)))
    assert held.obs_dim == env.obs_dim and held.episode_steps == env.episode_steps


def test_a_maze_without_heldout_tasks_and_an_unknown_set_are_refused():
    with pytest.raises(EthogramError, match="no held-out tasks"):
        heldout_tasks(make_env("avoiding"))
    with pytest.raises(EthogramError, match="unknown task set 'hard'"):
        with_tasks(make_env("pointmaze-medium"), "hard")


def test_eval_on_heldout_tasks_through_the_command(tmp_path, capsys, navigate_small):
    """eval --tasks heldout writes eval-heldout.json and its pictures beside eval.json, which stays as it was; the
    record names its task set and cells; reward prompts and unknown sets are refused."""
    run = tmp_path / "run"
    assert main(["train", "gcbc", "--dataset", str(navigate_small), "--out", str(run), *TINY,
                 "--eval-every", "20", "--eval-episodes", "1"]) == 0
    assert main(["eval", str(run), "--episodes", "2", "--quiet", "--no-video"]) == 0
    before = (run / "eval.json").read_bytes()
    assert main(["eval", str(run), "--tasks", "heldout", "--episodes", "2", "--quiet", "--no-video"]) == 0
    assert (run / "eval.json").read_bytes() == before
    pub, held = json.loads(before), json.loads((run / "eval-heldout.json").read_text())
    assert pub["task_set"] == "published" and held["task_set"] == "heldout"
    assert held["task_cells"] == task_cells(with_tasks(make_env("pointmaze-medium"), "heldout"))
    assert held["task_cells"] != pub["task_cells"]
    assert (run / "rollouts-heldout.png").is_file() and (run / "rollouts-heldout.npz").is_file()
    assert "eval-heldout.json" in (run / "report.html").read_text()
    capsys.readouterr()
    fails(capsys, "eval", run, "--tasks", "hard", match="invalid choice: 'hard'")
    fails(capsys, "eval", run, "--tasks", "heldout", "--prompt", "reward:all", match="applies to goal prompts")


def test_search_runs_evaluate_and_practise_on_either_task_set(tmp_path, capsys, navigate_small):
    """A dataset search run evaluates on held-out tasks (eval-heldout.json, graph-heldout.png); an online search
    practises on the held-out tasks, records them, and is evaluated on the published ones."""
    sns = tmp_path / "sns"
    assert main(["search", str(navigate_small), "--nodes", "30", "--out", str(sns), "--quiet"]) == 0
    assert main(["eval", str(sns), "--tasks", "heldout", "--episodes", "1", "--quiet", "--no-video"]) == 0
    ev = json.loads((sns / "eval-heldout.json").read_text())
    assert ev["agent"] == "sns" and ev["task_set"] == "heldout" and (sns / "graph-heldout.png").is_file()
    online = tmp_path / "online"
    assert main(["search", "pointmaze-medium", "--practice", "heldout", "--steps", "300", "--out", str(online),
                 "--quiet"]) == 0
    cfg = json.loads((online / "config.json").read_text())
    held_cells = task_cells(with_tasks(make_env("pointmaze-medium"), "heldout"))
    assert cfg["practice_tasks"] == {"task_set": "heldout", "task_cells": held_cells}
    assert main(["eval", str(online), "--episodes", "1", "--quiet", "--no-video"]) == 0
    ev = json.loads((online / "eval.json").read_text())
    assert ev["task_set"] == "published" and ev["practice_tasks"]["task_set"] == "heldout"
    capsys.readouterr()
    fails(capsys, "search", navigate_small, "--practice", "heldout", "--out", tmp_path / "x", match="--practice")
    fails(capsys, "search", "avoiding", "--out", tmp_path / "y", match="has none")
    assert not (tmp_path / "x").exists()


def test_periodic_evaluations_draw_fresh_episodes():
    """Each evaluation step has its own episode seed, the same on every rerun, none repeating another's."""
    seeds = [periodic_seed(0, step) for step in range(0, 1_000_001, 100_000)]
    assert len(set(seeds)) == len(seeds) and seeds == [periodic_seed(0, s) for s in range(0, 1_000_001, 100_000)]
    assert periodic_seed(1, 100_000) != periodic_seed(0, 100_000)
    assert all(0 <= s < 2**32 for s in seeds)
