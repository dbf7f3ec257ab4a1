"""BESO (agents/beso.py), the avoiding task (envs/avoiding.py), its demonstrator and collector, and the diversity
metric: behaviour, statistics and every error a user can hit."""

from __future__ import annotations

import dataclasses
import json
import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from ethogram.agents import beso, gcbc
from ethogram.agents.base import Spec, make_policy
from ethogram.cli import main
from ethogram.data.collect import collect_to_file, default_config
from ethogram.data.dataset import Dataset, load_dataset
from ethogram.envs import avoiding
from ethogram.envs.registry import make_env, parse_dataset_name
from ethogram.errors import EthogramError
from ethogram.evaluate import metrics
from ethogram.evaluate.protocol import evaluate, random_policy

AVOIDING = parse_dataset_name("avoiding")


def small_avoiding(out, episodes=60, seed=0, force=False):
    cfg = dataclasses.replace(default_config(AVOIDING, seed=seed), episodes=episodes)
    return collect_to_file(AVOIDING, cfg, out, force=force, progress=False)


# ------------------------------------------------------------------------------------------- the task

def test_the_demonstrator_always_succeeds_and_covers_the_24_behaviours_at_their_known_frequencies():
    env = avoiding.Avoiding()
    obs, _, length, beh, success = avoiding.demonstrate(env, 4000, 0.1, np.random.default_rng(1))
    assert success.all() and length.max() < avoiding.EPISODE_STEPS
    # the labelling read from the paths agrees with the demonstrator's plan
    assert (env.behaviours(env.obs_positions(obs)) == beh).all()
    freq = np.bincount(beh, minlength=24) / len(beh)
    p = avoiding.behaviour_probs()
    assert (freq > 0).all() and abs(p.sum() - 1) < 1e-12
    # binomial standard error of each frequency: all within 4 of them
    assert (np.abs(freq - p) <= 4 * np.sqrt(p * (1 - p) / len(beh))).all()


def test_touching_an_obstacle_ends_the_episode_where_it_touched_even_mid_step():
    env = avoiding.Avoiding()
    # a step from just below the level-1 obstacle to just above it crosses it: a hit, though both ends are clear
    state = env.reset(np.array([[0.5, -0.10 - 0.035], [0.3, -0.135]]))
    state = avoiding.Avoiding.step(env, state, np.array([[0.0, 1.0], [0.0, 1.0]]))
    assert state[0, 4] == 1 and state[1, 4] == 0
    assert np.allclose(state[0, :2], [0.5, -0.135])  # stayed where it touched
    moved = env.step(state, np.ones((2, 2)))
    assert np.allclose(moved[0, :2], state[0, :2]) and not env.success(moved, np.zeros((2, 2))).any()


def test_success_is_crossing_the_finish_line_untouched():
    env = avoiding.Avoiding()
    state = env.reset(np.array([[0.3, 0.345], [0.7, 0.345]]))
    state[1, 4] = 1.0  # collided earlier
    state = env.step(state, np.array([[0.0, 1.0], [0.0, 1.0]]))
    assert env.success(state, np.zeros((2, 2))).tolist() == [True, False]


def test_behaviours_are_read_from_the_x_where_each_row_is_first_crossed():
    env = avoiding.Avoiding()
    ys = np.linspace(-0.28, 0.36, 50)

    def path(x1, x2, x3):
        x = np.where(ys < -0.05, x1, np.where(ys < 0.15, x2, x3))
        return np.stack([x, ys], -1)

    paths = np.stack([path(0.45, 0.3, 0.29), path(0.55, 0.5, 0.7), path(0.55, 0.6, 0.55)])
    assert env.behaviours(paths).tolist() == [0, 12 + 4 + 3, 12 + 8 + 2]
    assert avoiding.behaviour_name(12 + 4 + 3) == "R-M-4"
    assert env.behaviours(paths[:, :10]).tolist() == [-1, -1, -1]  # never reached the rows


def test_the_avoiding_collector_is_byte_reproducible_and_ogbench_reads_it(tmp_path):
    import ogbench

    a = small_avoiding(tmp_path / "a" / "avoiding-v0.npz", seed=3)
    small_avoiding(tmp_path / "b" / "avoiding-v0.npz", seed=3)
    for name in ("avoiding-v0.npz", "avoiding-v0-val.npz"):
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes()
    small_avoiding(tmp_path / "c" / "avoiding-v0.npz", seed=4)
    assert (tmp_path / "a" / "avoiding-v0.npz").read_bytes() != (tmp_path / "c" / "avoiding-v0.npz").read_bytes()
    d = ogbench.load_dataset(str(tmp_path / "a" / "avoiding-v0.npz"))
    assert d["observations"].shape[1] == 2 and d["terminals"].sum() == 60
    meta = json.loads((tmp_path / "a" / "avoiding-v0.json").read_text())
    assert meta["dataset"] == "avoiding-v0" and sum(meta["behaviour_counts"]) == 60
    assert a["transitions"] == len(d["observations"])
    data = load_dataset(tmp_path / "a" / "avoiding-v0.npz", 2, 2)
    env = make_env("avoiding")
    xy = env.obs_positions(np.asarray(data.observations))
    assert (xy[:, 1] < avoiding.FINISH_Y).all()  # every transition starts before the line; the last state is on it


# ------------------------------------------------------------------------------------------ the metric

def test_diversity_is_the_normalised_entropy_of_the_successful_rollouts_only():
    uniform = np.arange(48) % 24
    assert metrics.diversity(uniform, np.ones(48, bool), 24)[0] == pytest.approx(1.0)
    assert metrics.diversity(np.zeros(10, int), np.ones(10, bool), 24)[0] == 0.0
    two = np.array([0, 1] * 5)
    assert metrics.diversity(two, np.ones(10, bool), 24)[0] == pytest.approx(math.log(2) / math.log(24), abs=1e-6)
    # the failures (behaviours 2..23) do not count
    assert metrics.diversity(np.concatenate([two, uniform]), np.arange(58) < 10, 24)[0] == pytest.approx(
        math.log(2) / math.log(24), abs=1e-6)
    assert metrics.diversity(uniform, np.zeros(48, bool), 24) == (0.0, [0] * 24)
    assert metrics.d3il_score(0.5, 1.0) == pytest.approx(0.6)


def test_evaluation_reports_diversity_and_score_on_a_task_that_defines_behaviours():
    env = make_env("avoiding")
    res, ro = evaluate(env, random_policy(2), 20)
    assert set(res["metrics"]) == {"success", "diversity", "score"} and len(res["behaviour_counts"]) == 24
    assert res["metrics"]["score"] == pytest.approx(0.8 * res["success"] + 0.2 * res["metrics"]["diversity"])


# ------------------------------------------------------------------------------------------ BESO pieces

def test_preconditioning_makes_the_denoiser_the_identity_at_zero_noise_and_the_data_scale_at_large():
    c_skip, c_out, c_in, _ = beso.precondition(jnp.array([1e-6, 1e3]), 0.5)
    assert float(c_skip[0]) == pytest.approx(1.0) and float(c_out[0]) == pytest.approx(0.0, abs=1e-5)
    assert float(c_skip[1]) == pytest.approx(0.0, abs=1e-6) and float(c_out[1]) == pytest.approx(0.5, rel=1e-3)
    assert float(c_in[1]) == pytest.approx(1e-3, rel=1e-3)


def test_training_noise_is_log_logistic_truncated_to_the_sigma_range():
    config = beso.Config(sigma_min=0.05, sigma_max=1.0)
    s = np.asarray(beso.sample_sigmas(jax.random.PRNGKey(0), 200_000, config))
    assert s.min() >= 0.05 and s.max() <= 1.0
    # the truncated CDF at 0.5 (the location): P(s <= 0.5 | s in [0.05, 1])
    def cdf(x):
        return 1 / (1 + math.exp(-(math.log(x) - math.log(0.5)) / 0.5))
    expected = (cdf(0.5) - cdf(0.05)) / (cdf(1.0) - cdf(0.05))
    assert (s <= 0.5).mean() == pytest.approx(expected, abs=0.01)


def test_the_three_step_exponential_schedule_is_the_papers():
    np.testing.assert_allclose(np.asarray(beso.sigma_schedule(3, beso.Config())), [1.0, 0.2236, 0.05, 0.0],
                               atol=1e-4)


def _bimodal(n=2000, seed=0):
    """One state, one goal; the data's action is +0.8 or -0.8 (half each) in both dimensions' first."""
    rng = np.random.default_rng(seed)
    a = np.where(rng.random(n) < 0.5, 0.8, -0.8)
    actions = np.stack([a, np.zeros(n)], -1).astype(np.float32)
    obs = np.zeros((n, 2), np.float32)
    final = np.arange(n, dtype=np.int32)
    return Dataset(jnp.asarray(obs), jnp.asarray(obs), jnp.asarray(actions), jnp.asarray(final))


@pytest.fixture(scope="module")
def bimodal_beso():
    from ethogram.train import make_train_chunk

    config = beso.Config(actor_hidden_dims=(64, 64), batch_size=256, lr=1e-3)
    data = _bimodal()
    state = beso.init(jax.random.PRNGKey(0), Spec(2, 2), config)
    chunk = jax.jit(make_train_chunk(beso, config, 100))
    key = jax.random.PRNGKey(1)
    for _ in range(15):
        key, k = jax.random.split(key)
        state, _ = chunk(state, data, k)
    return config, state


@pytest.mark.parametrize("sampler,steps", [("ddim", 3), ("euler_ancestral", 3), ("ddpm", 25)])
def test_a_trained_beso_keeps_both_modes_of_a_bimodal_action_where_a_gaussian_takes_the_mean(bimodal_beso, sampler,
                                                                                               steps):
    config, state = bimodal_beso
    config = dataclasses.replace(config, sampler=sampler, sampling_steps=steps)
    obs = jnp.zeros((1000, 2))
    a = np.asarray(beso.act(state, obs, obs, config, jax.random.PRNGKey(2)))[:, 0]
    assert 0.3 < (a > 0).mean() < 0.7  # both modes, about half each
    assert (np.abs(np.abs(a) - 0.8) < 0.25).mean() > 0.8  # near the modes, not between them


def test_one_sampling_step_collapses_the_modes_to_their_mean(bimodal_beso):
    config, state = bimodal_beso
    obs = jnp.zeros((1000, 2))
    a = np.asarray(beso.act(state, obs, obs, dataclasses.replace(config, sampling_steps=1),
                            jax.random.PRNGKey(2)))[:, 0]
    # BESO's paper: one step returns (about) the posterior mean: most actions land between the modes
    assert (np.abs(np.abs(a) - 0.8) < 0.25).mean() < 0.5 and np.abs(a).mean() < 0.6


def test_guidance_zero_and_one_are_the_unconditional_and_conditional_denoisers(bimodal_beso):
    config, state = bimodal_beso
    params = state["target_params"]["denoiser"]
    x = jax.random.normal(jax.random.PRNGKey(3), (8, 2))
    obs = jnp.zeros((8, 2))
    for w, no_goal in ((0.0, 1.0), (1.0, 0.0)):
        d = beso.guided(params, dataclasses.replace(config, guidance=w), 2, x, 0.5, obs, obs)
        ref = beso.denoise(params, config, 2, x, jnp.full((8,), 0.5), obs, obs, jnp.full((8,), no_goal))
        np.testing.assert_allclose(np.asarray(d), np.asarray(ref), rtol=1e-6)
    d2 = beso.guided(params, dataclasses.replace(config, guidance=2.0), 2, x, 0.5, obs, obs)
    c = beso.denoise(params, config, 2, x, jnp.full((8,), 0.5), obs, obs, jnp.zeros(8))
    u = beso.denoise(params, config, 2, x, jnp.full((8,), 0.5), obs, obs, jnp.ones(8))
    np.testing.assert_allclose(np.asarray(d2), np.asarray(u + 2 * (c - u)), rtol=1e-5, atol=1e-6)


def test_action_chunks_stay_inside_the_episode_and_the_transformer_window_too():
    n = 10
    final = jnp.asarray(np.array([4] * 5 + [9] * 5, np.int32))
    data = Dataset(jnp.arange(n, dtype=jnp.float32)[:, None].repeat(2, 1), jnp.zeros((n, 2)),
                   jnp.arange(n, dtype=jnp.float32)[:, None].repeat(2, 1), final)
    idx = jnp.asarray([3, 5, 9], jnp.int32)
    ahead = np.asarray(beso.episode_offsets(data, idx, jnp.arange(3)))
    assert ahead.tolist() == [[3, 4, 4], [5, 6, 7], [9, 9, 9]]
    behind = np.asarray(beso.episode_offsets(data, idx, jnp.arange(-2, 1)))
    assert behind.tolist() == [[1, 2, 3], [5, 5, 5], [7, 8, 9]]


def test_the_transformer_denoiser_trains_and_acts_through_a_window_of_states():
    from ethogram.train import make_train_chunk

    config = beso.Config(denoiser="transformer", layers=1, width=32, heads=2, window=3, batch_size=32, chunk=2)
    data = _bimodal(200)
    state = beso.init(jax.random.PRNGKey(0), Spec(2, 2), config)
    state, m = jax.jit(make_train_chunk(beso, config, 5))(state, data, jax.random.PRNGKey(1))
    assert np.isfinite(np.asarray(m["actor/loss"])).all()
    policy = make_policy(beso, config, state)
    for _ in range(4):  # the policy keeps the last 3 observations of the batch
        a = policy(np.zeros((5, 2), np.float32), np.zeros((5, 2), np.float32))
    assert a.shape == (5, 2) and np.isfinite(a).all()


# -------------------------------------------------------------------------------------- config errors

@pytest.mark.parametrize("fields,match", [
    ({"sampling_steps": 0}, "sampling_steps must be an integer >= 1"),
    ({"sampling_steps": -3}, "sampling_steps must be an integer >= 1"),
    ({"guidance": -0.5}, "guidance weight must be >= 0"),
    ({"sigma_min": 1.0, "sigma_max": 0.5}, "sigma_min < sigma_max"),
    ({"sigma_min": 0.5, "sigma_max": 0.5}, "sigma_min < sigma_max"),
    ({"sampler": "heun"}, "unknown BESO sampler"),
    ({"goal_drop": 1.0}, "goal_drop"),
])
def test_bad_beso_settings_are_refused_with_the_fix(fields, match):
    with pytest.raises(EthogramError, match=match):
        beso.Config(**fields)


# -------------------------------------------------------------------------------------- the commands

@pytest.fixture(scope="module")
def avoiding_data(tmp_path_factory):
    out = tmp_path_factory.mktemp("avoiding") / "avoiding-v0.npz"
    small_avoiding(out, episodes=200)
    return out


def _listing(path):
    return sorted((p.relative_to(path).as_posix(), p.stat().st_size) for p in path.rglob("*") if p.is_file())


@pytest.mark.parametrize("sets,match", [
    (["sampling_steps=0"], "sampling_steps must be an integer >= 1"),
    (["guidance=-1"], "guidance weight must be >= 0"),
    (["sigma_min=1", "sigma_max=0.5"], "sigma_min < sigma_max"),
])
def test_train_refuses_bad_beso_settings_and_writes_nothing(tmp_path, capsys, avoiding_data, sets, match):
    args = ["train", "beso", "--dataset", str(avoiding_data), "--out", str(tmp_path / "run"), "--steps", "10"]
    for s in sets:
        args += ["--set", s]
    assert main(args) == 2
    assert match in capsys.readouterr().err
    assert not (tmp_path / "run").exists()


def test_beso_trains_on_avoiding_beats_random_and_eval_reports_diversity(tmp_path, capsys, avoiding_data):
    run = tmp_path / "run"
    assert main(["train", "beso", "--dataset", str(avoiding_data), "--out", str(run), "--steps", "8000",
                 "--set", "actor_hidden_dims=128,128", "--set", "batch_size=256", "--set", "lr=0.001",
                 "--eval-every", "0", "--quiet"]) == 0
    assert main(["eval", str(run), "--episodes", "40", "--quiet"]) == 0
    out = capsys.readouterr().out
    assert "diversity" in out
    ev = json.loads((run / "eval.json").read_text())
    env = make_env("avoiding")
    rand, _ = evaluate(env, random_policy(2), 40)
    assert ev["metrics"]["success"] > rand["success"] + 0.2
    # act settings: evaluated without retraining, into their own file, named in the record
    assert main(["eval", str(run), "--episodes", "10", "--quiet", "--set", "sampling_steps=10",
                 "--set", "guidance=1.5"]) == 0
    alt = json.loads((run / "eval-set-guidance=1.5,sampling_steps=10.json").read_text())
    assert alt["agent"] == "beso[guidance=1.5,sampling_steps=10]"
    assert alt["act_settings"] == {"guidance": 1.5, "sampling_steps": 10}
    assert (run / "rollouts-set-guidance=1.5,sampling_steps=10.png").exists()
    # summarize keeps the settings apart and carries every metric
    assert main(["summarize", str(run), "--eval-file", "eval-set-guidance=1.5,sampling_steps=10.json",
                 "--json", str(tmp_path / "r.json")]) == 0
    records = json.loads((tmp_path / "r.json").read_text())
    assert {r["metric"] for r in records} == {"success", "diversity", "score"}
    assert all(r["config"]["sampling_steps"] == 10 and r["agent"].startswith("beso[") for r in records)
    # refused, nothing written: a training setting, a bad act setting, a prompt without behaviours
    before = _listing(run)
    for args, match in ((["--set", "lr=0.1"], "no act setting"), (["--set", "sampling_steps=0"], ">= 1"),
                        (["--set", "guidance=-2"], ">= 0"), (["--prompt", "reward:move-east"], "has no maze"),
                        (["--prompt", "demo:demo1"], "has no maze"), (["--plan"], "has no maze")):
        assert main(["eval", str(run), "--quiet", *args]) == 2, args
        assert match in capsys.readouterr().err, args
    assert _listing(run) == before


def test_an_avoiding_dataset_given_to_a_maze_and_a_maze_dataset_given_to_avoiding_are_refused(
        tmp_path, capsys, avoiding_data):
    from tests.helpers import collect_small

    # an avoiding dataset under a pointmaze name (no sidecar: the file name decides the environment)
    renamed = tmp_path / "pointmaze-medium-navigate-v0.npz"
    renamed.write_bytes(avoiding_data.read_bytes())
    assert main(["train", "gcbc", "--dataset", str(renamed), "--out", str(tmp_path / "r1"), "--steps", "5"]) == 2
    err = capsys.readouterr().err
    assert "does not fit pointmaze-medium" in err and "inside walls" in err and "avoiding" in err
    # a pointmaze dataset under the avoiding name
    maze = tmp_path / "m" / "x.npz"
    collect_small("pointmaze-medium-navigate", maze, episodes=3, episode_steps=50)
    wrong = tmp_path / "avoiding-v0.npz"
    wrong.write_bytes(maze.read_bytes())
    assert main(["train", "beso", "--dataset", str(wrong), "--out", str(tmp_path / "r2"), "--steps", "5"]) == 2
    assert "is not an avoiding dataset" in capsys.readouterr().err
    assert not (tmp_path / "r1").exists() and not (tmp_path / "r2").exists()
    # the search needs a maze
    assert main(["search", str(avoiding_data), "--out", str(tmp_path / "s")]) == 2
    assert "maze" in capsys.readouterr().err
    assert not (tmp_path / "s").exists()


def test_nan_actions_and_a_wrong_action_size_in_an_avoiding_dataset_are_refused(tmp_path, capsys, avoiding_data):
    with np.load(avoiding_data) as f:
        arrays = {k: f[k] for k in f.files}
    bad = dict(arrays, actions=arrays["actions"].copy())
    bad["actions"][7, 1] = np.nan
    np.savez(tmp_path / "avoiding-v0.npz", **bad)
    assert main(["train", "beso", "--dataset", str(tmp_path / "avoiding-v0.npz"), "--out", str(tmp_path / "r"),
                 "--steps", "5"]) == 2
    assert "'actions' has NaN or inf (first at row 7)" in capsys.readouterr().err
    wide = dict(arrays, actions=np.concatenate([arrays["actions"], arrays["actions"][:, :1]], 1))
    (tmp_path / "w").mkdir()
    np.savez(tmp_path / "w" / "avoiding-v0.npz", **wide)
    assert main(["train", "beso", "--dataset", str(tmp_path / "w" / "avoiding-v0.npz"), "--out",
                 str(tmp_path / "r"), "--steps", "5"]) == 2
    assert "actions of dimension 3, but the environment's are 2" in capsys.readouterr().err
    assert not (tmp_path / "r").exists()


def test_gcbc_on_the_bimodal_data_takes_the_mean():
    from ethogram.train import make_train_chunk

    config = gcbc.Config(actor_hidden_dims=(64, 64), batch_size=256, lr=1e-3)
    data = _bimodal()
    state = gcbc.init(jax.random.PRNGKey(0), Spec(2, 2), config)
    state, _ = jax.jit(make_train_chunk(gcbc, config, 500))(state, data, jax.random.PRNGKey(1))
    a = np.asarray(gcbc.act(state, jnp.zeros((10, 2)), jnp.zeros((10, 2)), config))[:, 0]
    assert np.abs(a).max() < 0.2  # the mean of +-0.8


def test_beso_answers_goal_prompts_through_the_prompt_interface_and_refuses_rewards(bimodal_beso):
    from ethogram import prompts

    config, state = bimodal_beso
    goal = np.zeros(2, np.float32)
    policy = prompts.answer(beso, config, state, prompts.Goal(goal), obs_dim=2)
    a = policy(np.zeros((6, 2), np.float32), None)
    assert a.shape == (6, 2) and np.isfinite(a).all()
    with pytest.raises(EthogramError, match="beso"):
        prompts.answer(beso, config, state, prompts.Reward(fn=lambda o, n: np.zeros(len(o))), obs_dim=2)


def test_beso_drives_the_search_with_another_runs_distance_and_alone_is_refused_with_the_fix(tmp_path, capsys,
                                                                                              navigate_small):
    from ethogram.search.run import load_search_run

    small = ["--eval-every", "0", "--quiet", "--set", "actor_hidden_dims=32,32", "--set", "batch_size=64"]
    assert main(["train", "beso", "--dataset", str(navigate_small), "--out", str(tmp_path / "beso"), "--steps",
                 "100", *small]) == 0
    assert main(["train", "gcivl", "--dataset", str(navigate_small), "--out", str(tmp_path / "gcivl"), "--steps",
                 "100", *small, "--set", "value_hidden_dims=32,32"]) == 0
    assert main(["search", str(navigate_small), "--controller", str(tmp_path / "beso"), "--out",
                 str(tmp_path / "alone"), "--quiet"]) == 2
    err = capsys.readouterr().err
    assert "cannot use agent 'beso'" in err and "--distance" in err and not (tmp_path / "alone").exists()
    assert main(["search", str(navigate_small), "--distance", str(tmp_path / "gcivl"), "--out",
                 str(tmp_path / "nodist"), "--quiet"]) == 2
    assert "give both" in capsys.readouterr().err
    run = tmp_path / "sns"
    assert main(["search", str(navigate_small), "--controller", str(tmp_path / "beso"), "--distance",
                 str(tmp_path / "gcivl"), "--out", str(run), "--nodes", "30", "--quiet"]) == 0
    cfg, g, ctrl, _ = load_search_run(run)
    assert cfg["controller_agent"] == "beso+gcivl" and ctrl.name == "beso+gcivl" and g.n >= 1
    assert main(["eval", str(run), "--episodes", "1", "--quiet"]) == 0
    assert json.loads((run / "eval.json").read_text())["mode"] == "learned"
