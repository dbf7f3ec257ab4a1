"""The Python object API (ethogram/api.py): collect, train, load, act, answer, evaluate, and its errors."""

from __future__ import annotations

import importlib
import json
import shutil

import numpy as np
import pytest

import ethogram
from ethogram.errors import EthogramError

TINY = {"batch_size": 64, "actor_hidden_dims": (32, 32)}


@pytest.fixture(scope="module")
def trained(navigate_small, tmp_path_factory):
    out = tmp_path_factory.mktemp("api") / "gcbc"
    return ethogram.train("gcbc", navigate_small, out, steps=100, progress=False, **TINY)


def test_collect_and_train_return_what_the_cli_makes(tmp_path):
    data = ethogram.collect("pointmaze-medium-navigate", out=tmp_path / "pm.npz", episodes=10, episode_steps=51,
                            progress=False)
    assert data.path.is_file() and data.val_path.is_file() and data.meta["transitions"] == 500
    policy = ethogram.train("gcbc", data, tmp_path / "run", steps=50, progress=False, **TINY)
    assert isinstance(policy, ethogram.Policy) and policy.config.actor_hidden_dims == (32, 32)
    cfg = json.loads((tmp_path / "run" / "config.json").read_text())
    assert cfg["train_config"]["steps"] == 50 and (tmp_path / "run" / "checkpoint.safetensors").is_file()
    with pytest.raises(EthogramError, match="no_such_field"):
        ethogram.train("gcbc", data, tmp_path / "run2", steps=10, no_such_field=1)
    assert not (tmp_path / "run2" / "checkpoint.json").exists()


def test_act_is_batched_numpy_and_matches_the_evaluated_policy(trained):
    obs = np.array([[0.0, 0.0], [8.0, 8.0], [12.0, 0.0]], dtype=np.float32)
    goals = np.array([[20.0, 20.0], [0.0, 16.0], [0.0, 0.0]], dtype=np.float32)
    a = trained.act(obs, goals)
    assert isinstance(a, np.ndarray) and a.shape == (3, 2) and np.isfinite(a).all()
    assert np.allclose(trained.act(obs[1], goals[1]), a[1], atol=1e-6)  # one observation -> one action
    assert np.allclose(trained.act(obs, goals[:1]), trained.act(obs, np.repeat(goals[:1], 3, 0)), atol=1e-6)
    assert np.allclose(ethogram.load(trained.run_dir).act(obs, goals), a, atol=1e-6)  # deterministic (GCBC)


def test_evaluate_follows_the_protocol(trained):
    res = trained.evaluate(episodes=2)
    assert set(res["tasks"]) == {f"task{k}" for k in range(1, 6)} and 0.0 <= res["success"] <= 1.0
    assert res["episodes_per_task"] == 2 and not (trained.run_dir / "eval.json").exists()  # returned, not written


def test_answer_refuses_a_prompt_the_agent_cannot_answer(trained):
    with pytest.raises(EthogramError, match="hilp"):
        trained.answer(ethogram.Reward(fn=lambda o, n: n[:, 0]))
    policy = trained.answer(ethogram.Goal())
    assert policy(np.zeros((2, 2), np.float32), np.ones((2, 2), np.float32)).shape == (2, 2)


def test_hilp_answers_reward_and_demonstration_prompts(navigate_small, tmp_path):
    policy = ethogram.train("hilp", navigate_small, tmp_path / "hilp", steps=50, progress=False, batch_size=64,
                            actor_hidden_dims=(32, 32), value_hidden_dims=(32, 32))
    obs = np.zeros((4, 2), np.float32)
    east = policy.answer(ethogram.Reward(fn=lambda o, n: n[:, 0] - o[:, 0], samples=500))
    assert east(obs, obs).shape == (4, 2)
    demo = policy.answer(ethogram.Demonstration(np.linspace([0, 0], [8, 0], 30).astype(np.float32)))
    assert demo(obs, obs).shape == (4, 2)


def test_bad_inputs_are_clear_errors(trained, tmp_path):
    with pytest.raises(EthogramError, match=r"shape \(N, 2\)"):
        trained.act(np.zeros((2, 3)), np.zeros((2, 3)))
    with pytest.raises(EthogramError, match="NaN"):
        trained.act(np.array([[np.nan, 0.0]]), np.zeros((1, 2)))
    with pytest.raises(EthogramError, match="different sizes"):
        trained.act(np.zeros((3, 2)), np.zeros((2, 2)))
    with pytest.raises(EthogramError, match="episodes"):
        trained.evaluate(episodes=0)
    with pytest.raises(EthogramError, match="not a run directory"):
        ethogram.load(tmp_path)
    with pytest.raises(EthogramError, match="does not exist"):
        ethogram.load(tmp_path / "missing")
    broken = tmp_path / "broken"
    shutil.copytree(trained.run_dir, broken)
    data = bytearray((broken / "checkpoint.safetensors").read_bytes())
    data[-10:] = b"\x00" * 10
    (broken / "checkpoint.safetensors").write_bytes(bytes(data))
    with pytest.raises(EthogramError, match="checkpoint"):
        ethogram.load(broken)
    (broken / "config.json").write_text("[1, 2")
    with pytest.raises(EthogramError, match="config"):
        ethogram.load(broken)
    assert sorted(p.name for p in broken.iterdir()) == sorted(p.name for p in trained.run_dir.iterdir())


def test_train_stays_the_api_function_beside_the_training_module():
    module = importlib.import_module("ethogram.train")
    import ethogram.train  # noqa: F401  (binding the submodule must not replace the function)

    assert callable(ethogram.train) and ethogram.train is not module and ethogram.train.__module__ == "ethogram.api"
    assert hasattr(module, "make_train_chunk")
    assert ethogram.__version__ and "load" in dir(ethogram)
