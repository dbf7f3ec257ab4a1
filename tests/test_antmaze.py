"""The batched antmaze (envs/antmaze.py): OGBench's model and physics, its task starts and goal observations."""

from __future__ import annotations

import gymnasium
import numpy as np
import pytest

from ethogram.envs.antmaze import AntMaze
from ethogram.errors import EthogramError


@pytest.mark.parametrize("maze", ["medium", "teleport"])
def test_the_physics_and_observation_are_ogbench_antmaze(maze):
    import ogbench.locomaze  # noqa: F401  (registers antmaze-*-v0)

    env = gymnasium.make(f"antmaze-{maze}-v0").unwrapped
    env.reset(seed=0, options={"task_id": 1})
    am = AntMaze(maze)
    assert [(t.init_ij, t.goal_ij) for t in am.tasks] == [(tuple(t["init_ij"]), tuple(t["goal_ij"]))
                                                          for t in env.task_infos]
    rng = np.random.default_rng(0)
    for _ in range(200):  # every step from OGBench's own state (the ant's contacts amplify round-off over time)
        state = am.physics.state_of(env.data.qpos[None].copy(), env.data.qvel[None].copy())
        a = rng.uniform(-1, 1, 8)
        ob, *_ = env.step(a)
        state = am.step(state, a[None], np.random.default_rng(0))
        if maze == "medium":  # the teleport maze draws its exits from another generator than OGBench's
            np.testing.assert_allclose(am.observe(state)[0], ob, atol=1e-5)
            # one step from the same state: equal up to round-off, which differs with the CPU's SIMD paths in MuJoCo
            # (2e-8 in the torso quaternion on an AMD EPYC with AVX-512, below 1e-9 on other machines)
            np.testing.assert_allclose(am.physics.qpos(state)[0], env.data.qpos, atol=1e-6)
    assert am.observe(state).shape == (1, 29) and am.obs_positions(am.observe(state)).shape == (1, 2)


def test_task_starts_goals_and_success():
    am = AntMaze("large")
    ids = np.repeat(np.arange(1, 6), 20)
    state, goals = am.task_starts(ids, np.random.default_rng(0))
    cells = am.maze.ij_to_xy(np.array([am.tasks[k - 1].init_ij for k in ids]))
    goal_cells = am.maze.ij_to_xy(np.array([am.tasks[k - 1].goal_ij for k in ids]))
    assert np.abs(am.positions(state) - cells).max() <= 1.0 and np.abs(goals - goal_cells).max() <= 1.0
    go = am.goal_observation(goals)
    np.testing.assert_allclose(go[:, :2], goals, atol=1e-5)
    assert np.array_equal(go, am.goal_observation(goals))  # a fixed draw without an rng
    assert am.success(am.reset(goals + 0.3), goals).all() and not am.success(am.reset(goals + 0.4), goals).any()
    assert am.reached(go, go).all() and am.proprio(state).shape == (100, 27)


def test_a_custom_layout_is_for_the_point():
    with pytest.raises(EthogramError, match="point robot"):
        AntMaze("medium", maze_file=object())


# ------------------------------------------------------------------------------------------- collection

@pytest.fixture(scope="module")
def toy_expert(tmp_path_factory):
    """A tiny ant expert (a few hundred SAC steps): it walks badly, but it is a real trained locomotor."""
    from ethogram.envs.locomotor import SACConfig, train_expert

    out = tmp_path_factory.mktemp("expert") / "toy"
    train_expert(out, SACConfig(steps=300, seed_steps=100, batch_size=16, actor_hidden_dims=(16, 16),
                                value_hidden_dims=(16, 16), save_every=10**6), progress=False, log=lambda *_: None)
    return out


def collect_argv(name, out, expert, *extra):
    return ["collect", name, "--episodes", "4", "--episode-steps", "31", "--out", str(out), "--expert", str(expert),
            "--quiet", *extra]


@pytest.mark.parametrize("kind", ["navigate", "stitch", "explore"])
def test_antmaze_datasets_are_collected_by_the_expert(kind, toy_expert, tmp_path, capsys):
    import json

    import ogbench

    from ethogram.cli import main

    a, b = tmp_path / "a" / f"antmaze-medium-{kind}-v0.npz", tmp_path / "b" / f"antmaze-medium-{kind}-v0.npz"
    for out in (a, b):
        assert main(collect_argv(f"antmaze-medium-{kind}", out, toy_expert)) == 0
    assert a.read_bytes() == b.read_bytes()  # same seed, same expert: the same bytes
    d = ogbench.load_dataset(str(a))
    assert d["observations"].shape == (120, 29) and d["actions"].shape == (120, 8)
    raw = np.load(a)
    np.testing.assert_array_equal(raw["qpos"], raw["observations"][:, :15])
    np.testing.assert_array_equal(raw["qvel"], raw["observations"][:, 15:])
    assert np.abs(raw["actions"]).max() <= 1.0
    meta = json.loads(a.with_suffix(".json").read_text())
    assert meta["collect_config"]["noise"] == (1.0 if kind == "explore" else 0.2)  # OGBench's per kind
    assert meta["expert"]["step"] == 300 and "policy.safetensors" in meta["expert"]["files"]
    stats = meta["expert_stats"]  # how the expert did: falls always, goals except while exploring
    assert 0 <= stats["episodes_fallen"] <= 1
    assert ("episodes_reaching_a_goal" in stats) == (kind != "explore")


def test_the_expert_drives_the_ant_along_the_navigator_directions(toy_expert):
    """The collector's locomotor is the expert's deterministic action on (joints without x-y, unit direction)."""
    import jax.numpy as jnp

    from ethogram.envs.expert import ant_locomotor
    from ethogram.envs.locomotor import load, networks

    am = AntMaze("medium")
    state = am.reset(np.array([[4.0, 4.0], [8.0, 4.0]]), np.random.default_rng(0))
    directions = np.array([[1.0, 0.0], [0.0, -1.0]])
    got = ant_locomotor(toy_expert)(am, state, directions)
    c, sac, _, _ = load(toy_expert)
    mean, _ = networks(c)[0].apply(sac.params["actor"], jnp.asarray(np.concatenate([am.proprio(state), directions],
                                                                                     1), jnp.float32))
    np.testing.assert_allclose(got, np.tanh(np.asarray(mean)), atol=1e-6)


def test_collect_without_an_expert_names_the_command_that_trains_it(tmp_path, capsys):
    from tests.helpers import fails

    err = fails(capsys, *collect_argv("antmaze-medium-navigate", tmp_path / "d.npz", tmp_path / "none"),
                match="locomotion expert")
    assert f"ethogram expert ant --out {tmp_path / 'none'}" in err
    assert not (tmp_path / "d.npz").exists()


def test_a_truncated_or_foreign_expert_is_refused_and_nothing_is_written(toy_expert, tmp_path, capsys):
    import json
    import shutil

    from tests.helpers import fails

    out = tmp_path / "d.npz"
    for weights in ("policy.safetensors", "expert.safetensors"):  # the exported policy, and a training directory
        bad = tmp_path / f"truncated-{weights}"
        shutil.copytree(toy_expert, bad)
        if weights == "expert.safetensors":
            for f in ("policy.json", "policy.safetensors"):
                (bad / f).unlink()
        w = bad / weights
        w.write_bytes(w.read_bytes()[: w.stat().st_size // 2])
        fails(capsys, *collect_argv("antmaze-medium-navigate", out, bad), match=str(bad))
        assert w.stat().st_size < (toy_expert / weights).stat().st_size  # the bad file is left as it was
    for record in ("policy.json", "expert.json"):
        foreign = tmp_path / f"foreign-{record}"
        shutil.copytree(toy_expert, foreign)
        if record == "expert.json":
            for f in ("policy.json", "policy.safetensors"):
                (foreign / f).unlink()
        rec = json.loads((foreign / record).read_text())
        (foreign / record).write_text(json.dumps({**rec, "obs_dim": 31, "robot": "humanoid"}))
        fails(capsys, *collect_argv("antmaze-medium-navigate", out, foreign), match="robot 'humanoid'")
    assert not out.exists() and not out.with_suffix(".json").exists()


def test_the_exported_policy_alone_collects_the_same_bytes(toy_expert, tmp_path):
    """policy.json + policy.safetensors (the actor alone) walk the ant exactly as the training directory does."""
    import shutil

    from ethogram.cli import main
    from ethogram.envs.locomotor import export_policy

    policy = tmp_path / "policy"
    export_policy(toy_expert, policy)
    assert sorted(p.name for p in policy.iterdir()) == ["policy.json", "policy.safetensors"]
    assert (policy / "policy.safetensors").stat().st_size < (toy_expert / "expert.safetensors").stat().st_size / 10
    full = tmp_path / "full"
    shutil.copytree(toy_expert, full)
    for f in ("policy.json", "policy.safetensors"):
        (full / f).unlink()
    a, b = tmp_path / "a" / "antmaze-medium-navigate-v0.npz", tmp_path / "b" / "antmaze-medium-navigate-v0.npz"
    assert main(collect_argv("antmaze-medium-navigate", a, policy)) == 0
    assert main(collect_argv("antmaze-medium-navigate", b, full)) == 0
    assert a.read_bytes() == b.read_bytes()


def test_a_clean_clone_collects_with_the_shipped_expert_and_says_so(tmp_path, capsys, monkeypatch):
    """No --expert and nothing in experts/ant: the expert docs/results reports walks the ant, the output says so,
    and the bytes are those of naming it with --expert."""
    import json

    from ethogram.cli import main
    from ethogram.data.collect import RESULTS_DIR

    shipped = RESULTS_DIR / "ant-expert"
    monkeypatch.chdir(tmp_path)
    argv = collect_argv("antmaze-medium-navigate", tmp_path / "a.npz", shipped)
    default = [a for i, a in enumerate(argv) if a != "--expert" and (i == 0 or argv[i - 1] != "--expert")]
    assert main(default) == 0
    out = capsys.readouterr().out
    assert "experts/ant holds no ant expert" in out and "ethogram expert ant --out experts/ant" in out
    sidecar = json.loads((tmp_path / "a.json").read_text())
    assert sidecar["expert"]["files"] == json.loads((shipped / "policy.json").read_text())["files"]
    assert main(argv[:argv.index("--out") + 1] + [str(tmp_path / "b.npz")] + argv[argv.index("--out") + 2:]) == 0
    assert (tmp_path / "a.npz").read_bytes() == (tmp_path / "b.npz").read_bytes()


def test_antmaze_data_and_pointmaze_environments_do_not_mix(toy_expert, tmp_path, capsys):
    from ethogram.cli import main
    from tests.helpers import fails

    ant = tmp_path / "antmaze-medium-navigate-v0.npz"
    assert main(collect_argv("antmaze-medium-navigate", ant, toy_expert)) == 0
    point = tmp_path / "pointmaze-medium-navigate-v0.npz"
    assert main(["collect", "pointmaze-medium-navigate", "--episodes", "4", "--episode-steps", "31", "--out",
                 str(point), "--quiet"]) == 0
    capsys.readouterr()
    tiny = ["--steps", "4", "--fuse", "2", "--set", "batch_size=8", "--set", "actor_hidden_dims=8", "--quiet"]
    fails(capsys, "train", "gcbc", "--dataset", ant, "--env", "pointmaze-medium", "--out", tmp_path / "r1", *tiny,
          match="collected in antmaze-medium, not pointmaze-medium")
    fails(capsys, "train", "gcbc", "--dataset", point, "--env", "antmaze-medium", "--out", tmp_path / "r2", *tiny,
          match="collected in pointmaze-medium, not antmaze-medium")
    # the same arrays without their sidecar: the observation sizes disagree
    import shutil

    for src, env, k in ((ant, "pointmaze-medium", "r3"), (point, "antmaze-medium", "r4")):
        bare = tmp_path / f"bare-{k}.npz"
        shutil.copy(src, bare)
        fails(capsys, "train", "gcbc", "--dataset", bare, "--env", env, "--out", tmp_path / k, *tiny,
              match="observation")
    # pointmaze arrays under an antmaze name (no sidecar): refused by their observation size, naming the file
    renamed = tmp_path / "renamed" / "antmaze-large-navigate-v0.npz"
    renamed.parent.mkdir()
    shutil.copy(point, renamed)
    err = fails(capsys, "train", "gcbc", "--dataset", renamed, "--out", tmp_path / "r5", *tiny, match="observation")
    assert "antmaze-large-navigate-v0.npz" in err and "29" in err
    assert not any((tmp_path / k).exists() for k in ("r1", "r2", "r3", "r4", "r5"))
    # on its own environment it trains, with the published antmaze settings
    ok = tmp_path / "ok"
    assert main(["train", "gciql", "--dataset", str(ant), "--out", str(ok), *tiny, "--eval-every", "0"]) == 0
    import json

    cfg = json.loads((ok / "config.json").read_text())
    assert cfg["env"] == "antmaze-medium" and cfg["agent_config"]["alpha"] == 0.3


def test_an_ant_on_its_back_has_fallen_though_its_torso_is_at_a_healthy_height():
    """Gym's healthy range [0.2, 1.0] misses an ant on its back (torso at about 0.27): `fallen` reads the torso's
    up axis from the quaternion too, for simulator states and stored observations alike."""
    from ethogram.envs.ant import fallen_qpos

    upright, back = np.zeros(15), np.zeros(15)
    upright[2:7] = [0.55, 1.0, 0.0, 0.0, 0.0]
    back[2:7] = [0.27, 0.0, 1.0, 0.0, 0.0]  # half a turn about x
    tilted, low, nan = upright.copy(), upright.copy(), upright.copy()
    tilted[3:7] = [np.cos(np.pi / 6), np.sin(np.pi / 6), 0.0, 0.0]  # 60 degrees: still upright
    low[2], nan[0] = 0.1, np.nan
    np.testing.assert_array_equal(fallen_qpos(np.stack([upright, back, tilted, low, nan])),
                                  [False, True, False, True, True])
    env = AntMaze("medium")
    obs = np.concatenate([np.stack([upright, back]), np.zeros((2, 14))], axis=1)
    np.testing.assert_array_equal(env.fallen_observation(obs), [False, True])


def test_drop_falls_trains_on_each_episode_up_to_its_first_fall(tmp_path, capsys):
    """`ethogram train --drop-falls N` learns from each episode only up to N states before the ant first falls,
    says how much it cut, and is refused for a robot that cannot fall, before anything is written."""
    import json

    from ethogram.cli import main
    from ethogram.data.collect import RESULTS_DIR
    from ethogram.data.dataset import cut_falls
    from tests.helpers import fails

    arrays = {"observations": np.arange(20.0)[:, None], "actions": np.zeros((20, 1)),
              "terminals": np.zeros(20, np.int8), "qpos": np.arange(20.0)[:, None]}
    arrays["terminals"][[7, 13, 19]] = 1  # episodes 0-7, 8-13, 14-19
    fallen = np.zeros(20, bool)
    fallen[[5, 6, 9, 18]] = True  # episode 1 falls at 5, episode 2 at its second state, episode 3 at 18
    out, counts = cut_falls(arrays, fallen, margin=2)
    np.testing.assert_array_equal(out["observations"][:, 0], [0, 1, 2, 14, 15])  # 2 states before each fall
    np.testing.assert_array_equal(out["terminals"], [0, 0, 1, 0, 1])
    np.testing.assert_array_equal(out["qpos"], out["observations"])
    assert counts == {"episodes": 3, "episodes_cut": 3, "episodes_dropped": 1, "states": 20, "states_kept": 5}

    ant = tmp_path / "antmaze-medium-navigate-v0.npz"
    argv = collect_argv("antmaze-medium-navigate", ant, RESULTS_DIR / "ant-expert")  # the expert our data comes from
    argv[argv.index("--episode-steps") + 1] = "600"
    assert main(argv) == 0
    raw = np.load(ant)
    from ethogram.envs.ant import fallen_qpos

    falls = fallen_qpos(raw["qpos"]).reshape(4, 600)
    assert 0 < falls.any(1).sum() < 4  # the expert ends up on its back in some of these seeded episodes
    import importlib.util

    spec = importlib.util.spec_from_file_location("dataset_falls", RESULTS_DIR.parents[1] / "scripts" /
                                                  "dataset_falls.py")
    script = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(script)
    record = script.falls([ant])  # what scripts/dataset_falls.py reports for docs/results/antmaze-falls.json
    assert record["episodes"] == 4 and record["episodes_fallen"] == falls.any(1).mean()
    assert record["states_fallen"] == round(falls.mean(), 4)
    tiny = ["--steps", "4", "--fuse", "2", "--set", "batch_size=8", "--set", "actor_hidden_dims=8", "--quiet",
            "--eval-every", "0"]
    capsys.readouterr()
    assert main(["train", "gcbc", "--dataset", str(ant), "--out", str(tmp_path / "run"), "--drop-falls", "10",
                 *tiny]) == 0
    out = capsys.readouterr().out
    kept = sum(600 if not f.any() else max(0, int(np.argmax(f)) - 10) for f in falls)
    kept -= sum(1 for f in falls if f.any() and 0 < int(np.argmax(f)) - 10 < 2)  # a one-state stub goes
    assert f"drop_falls=10: {int(falls.any(1).sum())} of 4 episodes cut" in out and f"{kept} of 2400 states" in out
    assert json.loads((tmp_path / "run" / "config.json").read_text())["train_config"]["drop_falls"] == 10
    point = tmp_path / "pointmaze-medium-navigate-v0.npz"
    assert main(["collect", "pointmaze-medium-navigate", "--episodes", "4", "--episode-steps", "31", "--out",
                 str(point), "--quiet"]) == 0
    fails(capsys, "train", "gcbc", "--dataset", point, "--out", tmp_path / "r2", "--drop-falls", "10", *tiny,
          match="--drop-falls needs a robot that can fall")
    assert not (tmp_path / "r2").exists()
    fails(capsys, "train", "gcbc", "--dataset", ant, "--out", tmp_path / "r3", "--drop-falls", "-1", *tiny,
          match="--drop-falls must be in")
