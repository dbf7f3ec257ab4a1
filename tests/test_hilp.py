"""HILP and prompts: the Hilbert value, the latent policy, zero-shot goal / reward / demonstration answers, planning."""

from __future__ import annotations

import dataclasses
import json

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from ethogram import prompts, rundir
from ethogram.agents import hilp
from ethogram.agents.base import Spec
from ethogram.cli import main
from ethogram.data.dataset import load_dataset
from ethogram.envs import tasks
from ethogram.envs.registry import make_env
from ethogram.errors import EthogramError
from ethogram.evaluate import evaluate, random_policy

TINY = dataclasses.replace(hilp.Config(), value_hidden_dims=(32, 32), actor_hidden_dims=(32, 32), latent_dim=8,
                           batch_size=64)
# A small HILP that learns in seconds: faster learning rate and target updates than the published defaults.
FAST = ["--set", "batch_size=256", "--set", "actor_hidden_dims=64,64", "--set", "value_hidden_dims=64,64",
        "--set", "lr=2e-3", "--set", "tau=0.05"]


@pytest.fixture(scope="module")
def hilp_run(tmp_path_factory, navigate_long):
    """4000 steps of a small HILP on 50 navigate episodes of 1001 steps."""
    run = tmp_path_factory.mktemp("hilp") / "run"
    argv = ["train", "hilp", "--dataset", str(navigate_long), "--out", str(run), "--steps", "4000",
            "--eval-every", "0", "--quiet", *FAST]
    assert main(argv) == 0
    return run


def loaded(run):
    run_info, agent, config = rundir.load(run)
    env = make_env(run_info["env"])
    return agent, config, rundir.restore(run, run_info, agent, config), env, load_dataset(run_info["dataset"], 2, 2)


# ------------------------------------------------------------------------------------------ the algorithm

def test_published_defaults():
    c = hilp.Config()
    assert (c.latent_dim, c.expectile, c.q_expectile, c.alpha, c.discount, c.tau, c.lr, c.batch_size) == \
        (32, 0.95, 0.9, 10.0, 0.99, 0.005, 3e-4, 1024)
    assert c.value_hidden_dims == c.actor_hidden_dims == (512, 512, 512) and c.layer_norm and not c.const_std
    assert (c.value_p_curgoal, c.value_p_trajgoal, c.value_p_randomgoal, c.value_geom_sample) == (0, 0.625, 0.375, True)


def test_hilbert_value_is_minus_a_distance():
    a = jnp.array([[0.0, 0.0], [3.0, 4.0]])
    b = jnp.array([[0.0, 0.0], [0.0, 0.0]])
    v = hilp.hilbert_value(a, b)
    assert v[1] == pytest.approx(-5.0) and v[0] == pytest.approx(-1e-3)  # -sqrt(max(0, 1e-6))
    g = jax.grad(lambda x: hilp.hilbert_value(x, b[:1]).sum())(a[:1])
    assert np.isfinite(np.asarray(g)).all()  # finite at s = g


def test_latents_are_fresh_unit_vectors():
    z1 = hilp.sample_latents(jax.random.PRNGKey(0), 1000, 32)
    z2 = hilp.sample_latents(jax.random.PRNGKey(1), 1000, 32)
    assert np.allclose(np.linalg.norm(z1, axis=-1), 1.0, atol=1e-5)
    assert abs(float(jnp.mean(z1))) < 0.01 and not np.allclose(z1, z2)


def test_update_trains_every_network_and_the_skill_reward_is_stopped(navigate_small):
    data = load_dataset(navigate_small, 2, 2)
    from ethogram.data.goals import sample_batch

    state = hilp.init(jax.random.PRNGKey(0), Spec(2, 2), TINY)
    batch = sample_batch(jax.random.PRNGKey(1), data, 64, TINY.value_mix, TINY.actor_mix, TINY.discount)
    z = hilp.sample_latents(jax.random.PRNGKey(2), 64, TINY.latent_dim)
    # The skill losses alone give phi no gradient: phi is frozen for the intrinsic reward.
    phi_all = hilp.phi_net(TINY).apply({"params": state["params"]["phi"]}, batch["observations"])[0]
    phi_next = hilp.phi_net(TINY).apply({"params": state["params"]["phi"]}, batch["next_observations"])[0]
    grads = jax.grad(lambda p: hilp.skill_losses(p, state["target_params"], batch, z, phi_all, phi_next, TINY, 2)[0])(
        state["params"])
    assert all(float(jnp.abs(x).max()) == 0 for x in jax.tree_util.tree_leaves(grads["phi"]))
    new, metrics = jax.jit(lambda s, b, k: hilp.update(s, b, k, TINY))(state, batch, jax.random.PRNGKey(3))
    for name in ("phi", "critic", "value", "actor"):
        before, after = jax.tree_util.tree_leaves(state["params"][name]), jax.tree_util.tree_leaves(new["params"][name])
        assert any(not np.allclose(a, b) for a, b in zip(before, after, strict=True)), name
    assert set(new["target_params"]) == {"phi", "critic"}
    assert all(np.isfinite(float(v)) for v in metrics.values())


def test_phi_learns_temporal_distances(hilp_run):
    """States further along a trajectory are further away in phi: V(s, g) falls with the steps between them."""
    agent, config, state, env, data = loaded(hilp_run)
    obs = np.asarray(data.observations[:1000])  # the first episode
    phi = np.asarray(agent.phi(state, jnp.asarray(obs), config))
    dist = np.linalg.norm(phi[100:101] - phi[100:400], axis=-1)  # from step 100 to the next 300 states
    near, far = dist[5:20].mean(), dist[150:300].mean()
    assert far > 2 * near


def test_plan_is_a_minimax_midpoint():
    bank = jnp.array([[float(i), 0.0] for i in range(11)])  # points 0..10 on a line
    sub = hilp.plan(jnp.array([[0.0, 0.0]]), jnp.array([[10.0, 0.0]]), bank, recursions=1, k=1)
    assert np.allclose(sub, [[5.0, 0.0]])
    sub2 = hilp.plan(jnp.array([[0.0, 0.0]]), jnp.array([[10.0, 0.0]]), bank, recursions=2, k=1)
    assert float(sub2[0, 0]) in (2.0, 3.0)  # the midpoint of 0 and 5


# --------------------------------------------------------------------------------------------- prompts

def test_reward_regression_recovers_the_latent():
    rng = np.random.default_rng(0)
    phi_s, phi_next = rng.normal(size=(500, 8)), rng.normal(size=(500, 8))
    z_true = rng.normal(size=8)
    z_true /= np.linalg.norm(z_true)
    r = 3.0 * (phi_next - phi_s) @ z_true
    assert np.allclose(prompts.infer_latent(phi_s, phi_next, r, "diff", ridge=0.0), z_true, atol=1e-5)
    assert np.allclose(prompts.infer_latent(phi_s, phi_next, r, "diff"), z_true, atol=0.05)
    r_state = 2.0 * phi_next @ z_true + 7.0
    assert np.allclose(prompts.infer_latent(phi_s, phi_next, r_state, "next"), z_true, atol=0.05)


def test_the_ridge_ignores_directions_phi_does_not_use():
    """A feature that barely varies gets a huge least-squares weight from noise; the ridge keeps z on the feature
    that explains the reward."""
    rng = np.random.default_rng(1)
    used = rng.normal(size=(2000, 1)) * 10
    unused = rng.normal(size=(2000, 1)) * 1e-3
    f = np.concatenate([used, unused], axis=1)
    r = used[:, 0] + rng.normal(size=2000) * 0.5
    plain = prompts.infer_latent(np.zeros_like(f), f, r, "diff", ridge=0.0)
    ridged = prompts.infer_latent(np.zeros_like(f), f, r, "diff")
    assert abs(plain[1]) > 0.5 and abs(ridged[0]) > 0.99


def test_hilp_reaches_goals_more_often_than_random(hilp_run):
    assert main(["eval", str(hilp_run), "--episodes", "10", "--quiet"]) == 0
    res = json.loads((hilp_run / "eval.json").read_text())
    random, _ = evaluate(make_env("pointmaze-medium"), random_policy(2), 10)
    assert res["agent"] == "hilp" and res["success"] >= random["success"] + 0.2


def test_hilp_plan_from_the_cli(hilp_run):
    assert main(["eval", str(hilp_run), "--plan", "--episodes", "4", "--quiet"]) == 0
    res = json.loads((hilp_run / "eval-plan.json").read_text())
    assert res["agent"] == "hilp-plan" and 0 <= res["success"] <= 1
    assert (hilp_run / "rollouts-plan.png").read_bytes().startswith(b"\x89PNG")


def test_reward_prompts_beat_random_on_every_task(hilp_run):
    assert main(["eval", str(hilp_run), "--prompt", "reward:all", "--episodes", "10", "--quiet"]) == 0
    res = json.loads((hilp_run / "eval-reward.json").read_text())
    assert set(res["tasks"]) == {"reach-region", "move-east", "approach"}
    for name, r in res["tasks"].items():
        assert r["reference"]["return_mean"] > r["random"]["return_mean"], name
        assert r["agent"]["return_mean"] > r["random"]["return_mean"], name
        assert np.linalg.norm(r["z"]) == pytest.approx(1.0, abs=1e-4)
    assert (hilp_run / "reward.png").read_bytes().startswith(b"\x89PNG")


def test_demonstrations_are_imitated_better_than_random(hilp_run):
    assert main(["eval", str(hilp_run), "--prompt", "demo:all", "--episodes", "5", "--quiet"]) == 0
    res = json.loads((hilp_run / "eval-demo.json").read_text())
    assert set(res["tasks"]) == {"demo1", "demo2", "demo3"}
    for name, r in res["tasks"].items():
        assert r["mean_distance"]["mean"] < r["random"]["mean_distance"]["mean"] / 2, name
        assert r["cells_in_order"]["mean"] > r["random"]["cells_in_order"]["mean"], name
    assert (hilp_run / "demo.png").read_bytes().startswith(b"\x89PNG")


def test_prompt_files_from_the_cli(hilp_run, tmp_path):
    env = make_env("pointmaze-medium")
    demo = tasks.demo_tasks(env)["demo3"].observations
    np.savez(tmp_path / "demo.npz", observations=demo)
    assert main(["eval", str(hilp_run), "--prompt", f"demo-file:{tmp_path / 'demo.npz'}", "--episodes", "2",
                 "--quiet"]) == 0
    assert "demo" in json.loads((hilp_run / "eval-demo-file-demo.json").read_text())["tasks"]
    rng = np.random.default_rng(0)
    obs = rng.uniform(-1, 21, size=(500, 2)).astype(np.float32)
    nxt = obs + rng.uniform(-0.2, 0.2, size=(500, 2)).astype(np.float32)
    np.savez(tmp_path / "labels.npz", observations=obs, next_observations=nxt, rewards=nxt[:, 0] - obs[:, 0])
    assert main(["eval", str(hilp_run), "--prompt", f"reward-file:{tmp_path / 'labels.npz'}", "--episodes", "2",
                 "--quiet"]) == 0
    res = json.loads((hilp_run / "eval-reward-file-labels.json").read_text())
    assert list(res["tasks"]) == ["labels.npz"] and res["tasks"]["labels.npz"]["feature"] == "diff"
    assert res["tasks"]["labels.npz"]["scored"] and (hilp_run / "reward-file-labels.png").exists()


def test_demo_tracking_pointer_never_goes_back(hilp_run):
    agent, config, state, env, data = loaded(hilp_run)
    demo = tasks.demo_tasks(env)["demo1"].observations
    policy = prompts.answer(agent, config, state, prompts.Demonstration(demo), 2, data)
    obs = np.repeat(demo[:1], 3, axis=0)
    a1 = policy(obs, obs)
    assert a1.shape == (3, 2) and np.isfinite(a1).all()
    with pytest.raises(EthogramError, match="fixed batch"):
        policy(obs[:2], obs[:2])


# ------------------------------------------------------------------------------------------- bad input

def test_goal_of_the_wrong_shape(hilp_run):
    agent, config, state, env, data = loaded(hilp_run)
    with pytest.raises(EthogramError, match=r"goal must have shape \(2,\)"):
        prompts.answer(agent, config, state, prompts.Goal(np.zeros(3)), 2, data)
    with pytest.raises(EthogramError, match="NaN"):
        prompts.answer(agent, config, state, prompts.Goal(np.array([np.nan, 0.0])), 2, data)
    policy = prompts.answer(agent, config, state, prompts.Goal(), 2, data)
    with pytest.raises(EthogramError, match="do not match"):
        policy(np.zeros((4, 2), np.float32), np.zeros((3, 2), np.float32))


@pytest.mark.parametrize("fn, match", [
    (lambda o, n: np.full(len(o), np.nan), "NaN"),
    (lambda o, n: np.zeros((len(o), 2)), "must have shape"),
    (lambda o, n: np.zeros(3), "must have shape"),
    (lambda o, n: 1 / 0, "raised ZeroDivisionError"),
])
def test_bad_reward_functions(hilp_run, fn, match):
    agent, config, state, env, data = loaded(hilp_run)
    with pytest.raises(EthogramError, match=match):
        prompts.answer(agent, config, state, prompts.Reward(fn=fn), 2, data)


def test_bad_labelled_transitions(hilp_run):
    agent, config, state, env, data = loaded(hilp_run)
    ok = np.zeros((10, 2), np.float32)
    with pytest.raises(EthogramError, match="either a reward function or labelled"):
        prompts.answer(agent, config, state, prompts.Reward(), 2, data)
    with pytest.raises(EthogramError, match=r"shape \(N, 2\)"):
        prompts.answer(agent, config, state, prompts.Reward(observations=np.zeros((10, 3)), next_observations=ok,
                                                            rewards=np.zeros(10)), 2, data)
    with pytest.raises(EthogramError, match="NaN"):
        prompts.answer(agent, config, state, prompts.Reward(observations=ok, next_observations=ok,
                                                            rewards=np.full(10, np.inf)), 2, data)
    with pytest.raises(EthogramError, match="unknown reward feature"):
        prompts.answer(agent, config, state, prompts.Reward(observations=ok, next_observations=ok + 1,
                                                            rewards=np.arange(10.0), feature="raw"), 2, data)
    with pytest.raises(EthogramError, match="not explained"):
        prompts.answer(agent, config, state, prompts.Reward(observations=ok, next_observations=ok,
                                                            rewards=np.zeros(10)), 2, data)


@pytest.mark.parametrize("demo, match", [
    (np.zeros((0, 2)), "at least 2"),
    (np.zeros((1, 2)), "at least 2"),
    (np.zeros((5, 3)), r"shape \(N, 2\)"),
    (np.zeros(5), r"shape \(N, 2\)"),
    (np.array([[0.0, 0.0], [np.nan, 1.0]]), "NaN"),
])
def test_bad_demonstrations(hilp_run, demo, match):
    agent, config, state, env, data = loaded(hilp_run)
    with pytest.raises(EthogramError, match=match):
        prompts.answer(agent, config, state, prompts.Demonstration(demo), 2, data)


def test_agents_that_cannot_answer_a_prompt(navigate_small, tmp_path, capsys):
    run = tmp_path / "gcivl"
    assert main(["train", "gcivl", "--dataset", str(navigate_small), "--out", str(run), "--steps", "100",
                 "--eval-every", "0", "--quiet", "--set", "batch_size=32", "--set", "actor_hidden_dims=16",
                 "--set", "value_hidden_dims=16"]) == 0
    capsys.readouterr()
    for argv, match in ((["--prompt", "reward:move-east"], "cannot answer a reward prompt"),
                        (["--prompt", "demo:demo1"], "cannot answer a demonstration prompt"),
                        (["--plan"], "has no planner")):
        assert main(["eval", str(run), *argv, "--quiet"]) == 2
        err = capsys.readouterr().err
        assert match in err and "hilp" in err
    assert not (run / "eval-reward.json").exists() and not (run / "eval-demo.json").exists()


@pytest.mark.parametrize("argv, match", [
    (["--prompt", "dance"], "unknown prompt"),
    (["--prompt", "reward:"], "unknown prompt"),
    (["--prompt", "goal:3"], "unknown prompt"),
    (["--prompt", "reward:fly"], "unknown reward task"),
    (["--prompt", "demo:demo9"], "unknown demonstration task"),
    (["--prompt", "reward:all", "--plan"], "goal prompts only"),
    (["--prompt", "demo-file:/nonexistent/demo.npz"], "does not exist"),
])
def test_bad_prompt_arguments(hilp_run, capsys, argv, match):
    before = {p.name: p.read_bytes() for p in hilp_run.iterdir() if p.is_file()}
    assert main(["eval", str(hilp_run), *argv, "--episodes", "1", "--quiet"]) == 2
    assert match in capsys.readouterr().err
    assert {p.name: p.read_bytes() for p in hilp_run.iterdir() if p.is_file()} == before


def test_prompt_file_missing_arrays(hilp_run, tmp_path, capsys):
    np.savez(tmp_path / "r.npz", observations=np.zeros((4, 2)))
    assert main(["eval", str(hilp_run), "--prompt", f"reward-file:{tmp_path / 'r.npz'}", "--quiet"]) == 2
    assert "lacks the array(s) next_observations, rewards" in capsys.readouterr().err


def test_checkpoint_of_another_agent_is_refused(hilp_run, navigate_small, tmp_path, capsys):
    other = tmp_path / "gcivl"
    assert main(["train", "gcivl", "--dataset", str(navigate_small), "--out", str(other), "--steps", "100",
                 "--eval-every", "0", "--quiet", "--set", "batch_size=32", "--set", "actor_hidden_dims=16",
                 "--set", "value_hidden_dims=16"]) == 0
    import shutil

    victim = tmp_path / "hilp"
    shutil.copytree(hilp_run, victim)
    shutil.copy(other / "checkpoint.safetensors", victim / "checkpoint.safetensors")
    capsys.readouterr()
    assert main(["eval", str(victim), "--episodes", "1", "--quiet"]) == 2
    assert "checkpoint" in capsys.readouterr().err
