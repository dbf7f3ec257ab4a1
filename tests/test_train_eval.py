"""Training and evaluation for real: run directories, checkpoints, determinism, and learning beyond chance."""

from __future__ import annotations

import csv
import json
import shutil

import jax
import numpy as np
import pytest

from ethogram import checkpoint, rundir
from ethogram.agents import gcbc, gcivl
from ethogram.agents.base import Spec, make_policy
from ethogram.cli import main
from ethogram.envs.registry import make_env
from ethogram.evaluate import evaluate, random_policy, run_episodes

SMALL_GCIVL = ["--set", "batch_size=64", "--set", "actor_hidden_dims=32,32", "--set", "value_hidden_dims=32,32"]
SMALL_GCBC = ["--set", "batch_size=64", "--set", "actor_hidden_dims=32,32"]
TIMING_COLUMNS = {"wall_s", "steps_per_s"}


def train(dataset, out, agent="gcivl", steps=300, seed=0, extra=(), log_every=100):
    sets = SMALL_GCIVL if agent == "gcivl" else SMALL_GCBC
    argv = ["train", agent, "--dataset", str(dataset), "--out", str(out), "--steps", str(steps), "--seed", str(seed),
            "--fuse", "100", "--log-every", str(log_every), "--eval-every", "0", "--quiet", *sets, *extra]
    assert main(argv) == 0
    return out


def read_csv(path) -> list[dict[str, str]]:
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def losses(run) -> list[dict[str, str]]:
    return [{k: v for k, v in row.items() if k not in TIMING_COLUMNS} for row in read_csv(run / "metrics.csv")]


@pytest.fixture(scope="module")
def gcivl_run(tmp_path_factory, navigate_small):
    """A small GCIVL run of 300 steps, evaluated with 2 episodes per task."""
    run = train(navigate_small, tmp_path_factory.mktemp("gcivl") / "run")
    assert main(["eval", str(run), "--episodes", "2", "--quiet"]) == 0
    return run


# ------------------------------------------------------------------------------ the run directory


def test_run_directory_has_every_file(gcivl_run):
    names = {p.name for p in gcivl_run.iterdir()}
    assert {"config.json", "metrics.csv", "checkpoint.safetensors", "checkpoint.json", "eval.json",
            "rollouts.png"} <= names
    assert not [n for n in names if n.endswith(".tmp")]
    assert (gcivl_run / "rollouts.png").read_bytes().startswith(b"\x89PNG")


def test_config_json_describes_the_run(gcivl_run, navigate_small):
    run = json.loads((gcivl_run / "config.json").read_text())
    assert run["agent"] == "gcivl"
    assert run["dataset_name"] == "pointmaze-medium-navigate-v0" and run["env"] == "pointmaze-medium"
    assert run["dataset"] == str(navigate_small.resolve())
    assert (run["obs_dim"], run["action_dim"]) == (2, 2)
    assert run["agent_config"]["batch_size"] == 64
    assert run["agent_config"]["actor_hidden_dims"] == [32, 32]
    assert run["agent_config"]["expectile"] == 0.9  # untouched fields keep the reference defaults
    assert run["train_config"]["steps"] == 300 and run["train_config"]["seed"] == 0
    _, agent, config = rundir.load(gcivl_run)
    assert agent is gcivl and config.value_hidden_dims == (32, 32)


def test_metrics_csv_logs_every_interval(gcivl_run):
    rows = read_csv(gcivl_run / "metrics.csv")
    assert [int(r["step"]) for r in rows] == [100, 200, 300]
    assert {"value/loss", "actor/loss", "actor/mse", "wall_s", "steps_per_s"} <= set(rows[0])
    assert all(np.isfinite(float(v)) for r in rows for v in r.values())
    # it learns: the value loss and the actor's action error go down
    assert float(rows[-1]["value/loss"]) < float(rows[0]["value/loss"])
    assert float(rows[-1]["actor/mse"]) < float(rows[0]["actor/mse"])
    assert json.loads((gcivl_run / "checkpoint.json").read_text())["step"] == 300


def test_eval_json(gcivl_run):
    res = json.loads((gcivl_run / "eval.json").read_text())
    assert res["agent"] == "gcivl" and res["dataset"] == "pointmaze-medium-navigate-v0"
    assert res["train_step"] == 300 and res["episodes_per_task"] == 2 and res["eval_seed"] == 0
    assert sorted(res["tasks"]) == [f"task{k}" for k in range(1, 6)]
    assert all(v in (0.0, 0.5, 1.0) for v in res["tasks"].values())
    assert res["success"] == pytest.approx(np.mean(list(res["tasks"].values())))
    assert 1 <= res["mean_episode_length"] <= 1000


def test_eval_is_deterministic(gcivl_run, tmp_path):
    run = shutil.copytree(gcivl_run, tmp_path / "run")
    assert main(["eval", str(run), "--episodes", "2", "--quiet"]) == 0
    a, b = (json.loads((d / "eval.json").read_text()) for d in (gcivl_run, run))
    a.pop("seconds"), b.pop("seconds")
    assert a == b


# ------------------------------------------------------------------------------ determinism


def test_same_seed_gives_identical_metrics(gcivl_run, navigate_small, tmp_path):
    again = train(navigate_small, tmp_path / "again")
    assert losses(again) == losses(gcivl_run)
    assert (again / "checkpoint.safetensors").read_bytes() == (gcivl_run / "checkpoint.safetensors").read_bytes()


def test_different_seed_gives_different_metrics(gcivl_run, navigate_small, tmp_path):
    other = train(navigate_small, tmp_path / "other", seed=1)
    assert losses(other) != losses(gcivl_run)


def test_force_replaces_a_run(gcivl_run, navigate_small, tmp_path):
    run = shutil.copytree(gcivl_run, tmp_path / "run")
    train(navigate_small, run, steps=200, extra=["--force"])
    assert [int(r["step"]) for r in read_csv(run / "metrics.csv")] == [100, 200]  # not appended to the old log
    assert not (run / "eval.json").exists()  # stale results of the old run are gone
    assert json.loads((run / "checkpoint.json").read_text())["step"] == 200


def test_periodic_evaluation_writes_evals_csv(navigate_small, tmp_path):
    run = tmp_path / "run"
    argv = ["train", "gcbc", "--dataset", str(navigate_small), "--out", str(run), "--steps", "200", "--fuse", "100",
            "--log-every", "100", "--eval-every", "100", "--eval-episodes", "1", "--quiet", *SMALL_GCBC]
    assert main(argv) == 0
    rows = read_csv(run / "evals.csv")
    assert [int(r["step"]) for r in rows] == [100]
    assert set(rows[0]) == {"step", "success", "task1", "task2", "task3", "task4", "task5"}


def test_intervals_that_are_not_multiples_of_fuse(navigate_small, tmp_path):
    run = train(navigate_small, tmp_path / "run", agent="gcbc", steps=300, log_every=150)
    assert [int(r["step"]) for r in read_csv(run / "metrics.csv")] == [150, 300]


# ------------------------------------------------------------------------------ checkpoints


def perturbed(state, seed: int):
    """A state whose every float array (parameters, targets, Adam moments) holds distinct random values."""
    leaves, treedef = jax.tree_util.tree_flatten(state)
    rng = np.random.default_rng(seed)
    leaves = [x + rng.normal(0, 0.1, np.shape(x)).astype(x.dtype) if np.issubdtype(x.dtype, np.floating) else x + 7
              for x in leaves]
    return jax.tree_util.tree_unflatten(treedef, leaves)


@pytest.mark.parametrize("agent", [gcbc, gcivl])
def test_checkpoint_round_trip_gives_identical_actions(agent, tmp_path):
    config = agent.Config(actor_hidden_dims=(16, 16))
    if agent is gcivl:
        config = gcivl.Config(actor_hidden_dims=(16, 16), value_hidden_dims=(16, 16))
    state = perturbed(agent.init(jax.random.PRNGKey(0), Spec(2, 2), config), seed=1)
    path = tmp_path / "checkpoint.safetensors"
    checkpoint.save(path, state)
    template = agent.init(jax.random.PRNGKey(42), Spec(2, 2), config)
    restored = checkpoint.load(path, template)
    saved, loaded = checkpoint.flatten(state), checkpoint.flatten(restored)
    assert saved.keys() == loaded.keys() and len(saved) > 4
    for k in saved:
        np.testing.assert_array_equal(saved[k], loaded[k])
        assert saved[k].dtype == loaded[k].dtype
    assert jax.tree_util.tree_structure(restored) == jax.tree_util.tree_structure(state)
    obs = np.random.default_rng(0).uniform(-2, 22, size=(64, 2)).astype(np.float32)
    goals = np.random.default_rng(1).uniform(-2, 22, size=(64, 2)).astype(np.float32)
    before, after = make_policy(agent, config, state)(obs, goals), make_policy(agent, config, restored)(obs, goals)
    np.testing.assert_array_equal(before, after)
    assert np.abs(before).max() <= 1.0
    # the fresh template would act differently: the loaded parameters are really used
    assert not np.array_equal(make_policy(agent, config, template)(obs, goals), after)


def test_restore_state_from_a_run_directory(gcivl_run):
    run, agent, config = rundir.load(gcivl_run)
    a = rundir.restore(gcivl_run, run, agent, config)
    b = rundir.restore(gcivl_run, run, agent, config)
    obs = np.zeros((4, 2), np.float32)
    goals = np.full((4, 2), 8.0, np.float32)
    np.testing.assert_array_equal(make_policy(agent, config, a)(obs, goals), make_policy(agent, config, b)(obs, goals))
    assert int(a["step"]) == 300


def test_checkpoint_with_nan_is_refused(tmp_path):
    from ethogram.errors import EthogramError

    config = gcbc.Config(actor_hidden_dims=(4,))
    state = gcbc.init(jax.random.PRNGKey(0), Spec(2, 2), config)
    state["params"]["actor"]["Dense_0"]["bias"] = state["params"]["actor"]["Dense_0"]["bias"].at[0].set(np.nan)
    checkpoint.save(tmp_path / "c.safetensors", state)
    with pytest.raises(EthogramError, match="NaN"):
        checkpoint.load(tmp_path / "c.safetensors", gcbc.init(jax.random.PRNGKey(0), Spec(2, 2), config))


# ------------------------------------------------------------------------------ GCBC


def test_gcbc_trains_and_evaluates(navigate_small, tmp_path):
    run = train(navigate_small, tmp_path / "gcbc", agent="gcbc", steps=400)
    rows = read_csv(run / "metrics.csv")
    assert set(rows[0]) == {"step", "wall_s", "steps_per_s", "actor/loss", "actor/mse"}
    assert float(rows[-1]["actor/loss"]) < float(rows[0]["actor/loss"])
    assert main(["eval", str(run), "--episodes", "2", "--quiet"]) == 0
    res = json.loads((run / "eval.json").read_text())
    assert res["agent"] == "gcbc" and 0.0 <= res["success"] <= 1.0 and res["train_step"] == 400
    assert (run / "rollouts.png").exists()


# ------------------------------------------------------------------------------ evaluation protocol


def test_random_policy_fails_on_medium():
    env = make_env("pointmaze-medium")
    res, ro = evaluate(env, random_policy(2), 4)
    assert res["success"] <= 0.1
    assert ro.positions.shape == (20, 1001, 2)


def test_an_oracle_policy_succeeds_and_episodes_stop_at_the_goal():
    """The expert's own rule (head for the next BFS cell) solves every task; the protocol then stops stepping."""
    env = make_env("pointmaze-medium")
    maze = env.maze
    tables = {t.goal_ij: maze.next_cell_table(t.goal_ij) for t in env.tasks}

    def oracle(obs, goals):
        cells = maze.xy_to_ij(obs)
        goal_cells = maze.xy_to_ij(goals)
        nxt = np.array([tables[tuple(g)][c[0], c[1]] for c, g in zip(cells, goal_cells, strict=True)])
        target = np.where((cells == goal_cells).all(1, keepdims=True), goals, maze.ij_to_xy(nxt))
        d = target - obs
        return d / (np.linalg.norm(d, axis=1, keepdims=True) + 1e-6)

    res, ro = evaluate(env, oracle, 3)
    assert res["success"] == 1.0
    assert (ro.length < 1000).all()
    for b in range(len(ro.length)):
        frozen = ro.positions[b, ro.length[b]:]
        assert (frozen == frozen[0]).all()
        assert np.linalg.norm(frozen[0] - ro.goals[b]) <= 1.0


def test_run_episodes_is_seeded():
    env = make_env("pointmaze-medium")
    policy = lambda obs, goals: np.tile([0.3, -0.2], (len(obs), 1))
    a = run_episodes(env, policy, np.array([1, 2, 3]), seed=5, max_steps=20)
    b = run_episodes(env, policy, np.array([1, 2, 3]), seed=5, max_steps=20)
    np.testing.assert_array_equal(a.positions, b.positions)
    assert a.positions.shape == (3, 21, 2)


# ------------------------------------------------------------------------------ learning beyond chance


@pytest.mark.slow
def test_gcivl_beats_a_random_policy(navigate_long, tmp_path):
    """4000 steps of a small GCIVL (faster learning rate and target updates than the reference) on 50 navigate
    episodes of 1001 steps: about half the evaluation episodes succeed; a random policy succeeds ~never."""
    run = tmp_path / "run"
    argv = ["train", "gcivl", "--dataset", str(navigate_long), "--out", str(run), "--steps", "4000",
            "--eval-every", "0", "--quiet", "--set", "batch_size=256", "--set", "actor_hidden_dims=64,64",
            "--set", "value_hidden_dims=64,64", "--set", "lr=2e-3", "--set", "tau=0.05"]
    assert main(argv) == 0
    assert main(["eval", str(run), "--episodes", "10", "--quiet"]) == 0
    res = json.loads((run / "eval.json").read_text())
    random, _ = evaluate(make_env("pointmaze-medium"), random_policy(2), 10)
    assert res["success"] >= 0.3
    assert res["success"] >= random["success"] + 0.25
