"""The ant's locomotion expert (envs/ant.py, envs/locomotor.py, `ethogram expert ant`): OGBench's physics and
directional task, the SAC update, resumption that gives the same expert as an uninterrupted run, and every bad
expert file a clear error. A tiny expert (a few hundred SAC steps) is enough here; the real one takes minutes."""

from __future__ import annotations

import json

import gymnasium
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from ethogram.cli import main
from ethogram.envs.ant import EPISODE_STEPS, AntPhysics, AntTask
from ethogram.envs.locomotor import SACConfig, load, tanh_sample, train_expert
from ethogram.errors import EthogramError

TINY = SACConfig(steps=600, seed_steps=200, batch_size=32, actor_hidden_dims=(16, 16), value_hidden_dims=(16, 16),
                 save_every=200)


def test_the_physics_is_ogbench_online_ant():
    import ogbench.online_locomotion  # noqa: F401  (registers online-ant-v0)

    env = gymnasium.make("online-ant-v0").unwrapped
    env.reset(seed=3)
    ph = AntPhysics(threads=1)
    rng = np.random.default_rng(0)
    for _ in range(150):  # every step from OGBench's own state (contacts amplify round-off over many steps)
        state = ph.state_of(env.data.qpos[None].copy(), env.data.qvel[None].copy())
        a = rng.uniform(-1, 1, 8)
        ob, *_ = env.step(a)
        state = ph.step(state, a[None])
        np.testing.assert_allclose(ph.proprio(state)[0], ob, atol=1e-9)
    ph.close()


def test_the_directional_task():
    """Reward = x-y displacement along z; z is redrawn every 100 steps; a fallen ant ends its episode; episodes
    are truncated at 1000 steps and start again."""
    task = AntTask(4, seed=0)
    rng = np.random.default_rng(1)
    z0 = task.z.copy()
    for t in range(1, 101):
        xy = task.physics.qpos(task.state)[:, :2].copy()
        z = task.z.copy()
        tr = task.step(rng.uniform(-1, 1, (4, 8)))
        if not tr.terminated.any():
            moved = task.physics.qpos(task.state)[:, :2] - xy
            np.testing.assert_allclose(tr.reward, np.einsum("bi,bi->b", moved, z), rtol=1e-5, atol=1e-7)
        assert np.allclose(np.linalg.norm(task.z, axis=1), 1)
        if t < 100:
            assert np.array_equal(task.z[~tr.terminated], z0[~tr.terminated])
    assert not np.allclose(task.z, z0)  # redrawn at step 100
    assert np.array_equal(tr.next_obs[:, -2:], task.z.astype(np.float32))
    task.state[0, 1 + 2] = 2.0  # torso above the healthy range (thrown up): unhealthy
    tr = task.step(np.zeros((4, 8)))
    assert tr.terminated[0] and task.t[0] == 0 and task.finished[-1][2]
    task.t[1] = EPISODE_STEPS - 1
    tr = task.step(np.zeros((4, 8)))
    assert tr.truncated[1] and not tr.terminated[1] and task.t[1] == 0


def test_an_ant_on_its_back_ends_its_episode_only_with_end_on_back():
    """OGBench's task keeps an ant on its back going (its torso height is healthy); `end_on_back` ends it there."""
    for end_on_back in (False, True):
        task = AntTask(2, seed=0, end_on_back=end_on_back)
        task.state[0, 1 + 2] = 0.3  # torso resting low, upside down: half a turn about x
        task.state[0, 1 + 3: 1 + 7] = [0.0, 1.0, 0.0, 0.0]
        tr = task.step(np.zeros((2, 8)))
        assert tr.terminated[0] == end_on_back and not tr.terminated[1]


def test_tanh_gaussian_log_probability():
    """log pi(a) of the squashed Gaussian equals the density through the change of variables."""
    mean, log_std = jnp.array([[0.3, -1.2]]), jnp.array([[-0.5, 0.2]])
    a, logp = tanh_sample(mean, log_std, jax.random.PRNGKey(0))
    u = np.arctanh(np.asarray(a, np.float64))
    std = np.exp(np.asarray(log_std, np.float64))
    log_n = -0.5 * ((u - np.asarray(mean)) / std) ** 2 - np.log(std) - 0.5 * np.log(2 * np.pi)
    expected = (log_n - np.log(1 - np.tanh(u) ** 2)).sum()
    assert float(logp[0]) == pytest.approx(expected, rel=1e-4)


def test_a_tiny_expert_trains_and_a_resumed_one_is_the_same(tmp_path):
    """The losses stay finite and the critic learns; training interrupted after a save and resumed with a larger
    budget gives exactly the parameters of one uninterrupted run."""
    whole, parts = tmp_path / "whole", tmp_path / "parts"
    train_expert(whole, TINY, progress=False)
    train_expert(parts, SACConfig(**{**TINY.__dict__, "steps": 400}), progress=False)
    train_expert(parts, TINY, progress=False)
    _, a, buf_a, rec_a = load(whole)
    _, b, buf_b, rec_b = load(parts)
    assert rec_a["step"] == rec_b["step"] == 600 and int(buf_a.size) == int(buf_b.size) == 600
    for x, y in zip(jax.tree_util.tree_leaves(a.params), jax.tree_util.tree_leaves(b.params), strict=True):
        np.testing.assert_array_equal(np.asarray(x), np.asarray(y))
    rows = (whole / "metrics.csv").read_text().splitlines()
    assert rows[0].startswith("step,wall_s,episode_return") and all("nan" not in r.split(",")[5] for r in rows[1:])
    assert int(a.updates) == 600 - 200 + 1  # one update per environment step i >= seed_steps (OGBench's count)


def test_the_command_and_bad_expert_files(tmp_path, capsys):
    out = tmp_path / "ant"
    assert main(["expert", "ant", "--out", str(out), "--steps", "300", "--seed-steps", "100", "--nets", "16x2",
                 "--batch", "16", "--save-every", "100", "--eval-episodes", "2", "--quiet"]) == 0
    printed = capsys.readouterr().out
    ev = json.loads((out / "eval.json").read_text())
    assert "directional speed" in printed and ev["episodes"] == 2 and np.isfinite(ev["directional_speed_mean"])
    weights, record = out / "expert.safetensors", out / "expert.json"
    good_w, good_r = weights.read_bytes(), record.read_text()

    def refused(match):
        with pytest.raises(EthogramError, match=match):
            load(out)

    weights.write_bytes(good_w[: len(good_w) // 2])  # truncated
    refused("expert.safetensors")
    assert weights.read_bytes() == good_w[: len(good_w) // 2]  # reading never rewrites it
    weights.write_bytes(good_w)
    record.write_text(json.dumps({**json.loads(good_r), "robot": "humanoid", "obs_dim": 69}))
    refused("robot 'humanoid'")
    record.write_text(json.dumps({**json.loads(good_r), "format": "something-else"}))
    refused("not an expert record")
    record.write_text(good_r)
    with pytest.raises(EthogramError, match="no expert.json"):
        load(tmp_path / "missing")
    capsys.readouterr()
    assert main(["expert", "ant", "--out", str(out), "--steps", "300", "--batch", "32", "--quiet"]) == 2
    assert "other settings" in capsys.readouterr().err
    assert weights.read_bytes() == good_w  # a refused resume changes nothing
