"""Minari in and out (data/minari.py): npz -> Minari -> npz is lossless for every kind of dataset, Minari's own
reader sees goal-conditioned Dict observations, Minari datasets written by Minari itself train, and every bad
dataset is a clear error that writes nothing. Minari's local storage only (MINARI_DATASETS_PATH in tmp_path)."""

from __future__ import annotations

import json
import warnings

import numpy as np
import pytest
from helpers import collect_small, fails, npz_arrays

from ethogram.cli import main
from ethogram.data.minari import export_minari, minari_to_npz, read_minari
from ethogram.errors import EthogramError

minari = pytest.importorskip("minari")  # the dev extra installs it; without it test_bridges checks the message
gym = pytest.importorskip("gymnasium")

TINY = ["--steps", "20", "--fuse", "10", "--log-every", "10", "--set", "batch_size=16", "--quiet",
        "--set", "actor_hidden_dims=8"]


@pytest.fixture(autouse=True)
def storage(tmp_path, monkeypatch):
    """Minari's local storage of each test: a directory of its own."""
    root = tmp_path / "minari"
    monkeypatch.setenv("MINARI_DATASETS_PATH", str(root))
    return root


def random_episodes(n: int, t: int, obs_dim: int, action_dim: int, seed: int = 0) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    obs = np.cumsum(rng.normal(0, 0.1, (n * t, obs_dim)), axis=0).astype(np.float32)
    terminals = np.zeros(n * t, bool)
    terminals[t - 1::t] = True
    return {"observations": obs, "actions": rng.uniform(-1, 1, (n * t, action_dim)).astype(np.float32),
            "terminals": terminals}


def assert_same(ours: dict, back: dict) -> None:
    assert sorted(ours) == sorted(back)
    for k in ours:
        assert ours[k].dtype == back[k].dtype, (k, ours[k].dtype, back[k].dtype)
        assert ours[k].shape == back[k].shape and np.array_equal(ours[k], back[k]), k


def minari_dataset(name: str, episodes: list[dict], observation_space, action_space, env=None):
    """A dataset written by Minari's own API (not by ethogram), as a user would download one."""
    from minari.data_collector.episode_buffer import EpisodeBuffer

    buffers = [EpisodeBuffer(id=i, **ep) for i, ep in enumerate(episodes)]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return minari.create_dataset_from_buffers(name, buffers, env=env, observation_space=observation_space,
                                                  action_space=action_space, data_format="hdf5")


def goal_space(obs_dim: int, goal_dim: int = 2):
    box = gym.spaces.Box
    return gym.spaces.Dict({"observation": box(-np.inf, np.inf, (obs_dim,), np.float32),
                            "achieved_goal": box(-np.inf, np.inf, (goal_dim,), np.float32),
                            "desired_goal": box(-np.inf, np.inf, (goal_dim,), np.float32)})


def goal_episode(t: int, obs_dim: int, action_dim: int, seed: int, nan: bool = False) -> dict:
    rng = np.random.default_rng(seed)
    obs = np.cumsum(rng.normal(0, 0.1, (t + 1, obs_dim)), axis=0).astype(np.float32)
    if nan:
        obs[3, 0] = np.nan
    return {"observations": {"observation": obs, "achieved_goal": obs[:, :2],
                             "desired_goal": np.repeat(obs[-1:, :2], t + 1, axis=0)},
            "actions": rng.uniform(-1, 1, (t, action_dim)).astype(np.float32), "rewards": np.zeros(t),
            "terminations": np.zeros(t, bool), "truncations": np.arange(t) == t - 1}


# --------------------------------------------------------------------------------------------- lossless

@pytest.mark.parametrize("kind", ["pointmaze-medium-navigate", "pointvelmaze-medium-stitch", "avoiding"])
def test_npz_to_minari_to_npz_is_lossless(tmp_path, kind):
    """Every member of our collected files comes back with the same values and dtypes, and the dataset says
    its name and environment."""
    path = tmp_path / f"{kind}-v0.npz"
    meta = collect_small(kind, path, episodes=4, episode_steps=251 if kind == "avoiding" else 31)
    res = export_minari(path, f"test/{kind}-v0", progress=False)
    assert res["episodes"] == 4 and res["steps"] == meta["transitions"]
    back, meta = read_minari(f"test/{kind}-v0")
    assert_same(npz_arrays(path), back)
    assert meta["dataset"] == f"{kind}-v0" and meta["env"] == json.loads(path.with_suffix(".json").read_text())["env"]
    out = tmp_path / "back" / "again.npz"
    out.parent.mkdir()
    record = minari_to_npz(f"test/{kind}-v0", out)
    assert_same(npz_arrays(path), npz_arrays(out))
    assert record["schema_version"] == 1 and record["source"] == f"minari:test/{kind}-v0"


def test_minari_reads_our_export_as_a_goal_conditioned_dataset(tmp_path):
    """Minari's own reader: Dict observations, one action fewer than observations per episode, hindsight goals
    (the episode's final position), and recover_environment() makes our Gymnasium environment."""
    path = tmp_path / "pointmaze-medium-navigate-v0.npz"
    collect_small("pointmaze-medium-navigate", path, episodes=3, episode_steps=21)
    export_minari(path, "pm-v0", progress=False)
    ds = minari.load_dataset("pm-v0")
    assert ds.total_episodes == 3 and ds.total_steps == 60
    assert set(ds.observation_space.spaces) == {"observation", "achieved_goal", "desired_goal"}
    ep = next(ds.iterate_episodes())
    ours = npz_arrays(path)
    assert ep.observations["observation"].shape == (21, 2) and ep.actions.shape == (20, 2)
    np.testing.assert_array_equal(ep.observations["observation"], ours["observations"][:21])
    np.testing.assert_array_equal(ep.observations["achieved_goal"], ours["observations"][:21])
    np.testing.assert_array_equal(ep.observations["desired_goal"], np.repeat(ours["observations"][20:21], 21, 0))
    assert ep.truncations[-1] and not ep.truncations[:-1].any() and not ep.terminations.any()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        env = ds.recover_environment()
    assert env.spec.id == "ethogram/pointmaze-medium-v0"
    obs, _ = env.reset(seed=0, options={"task_id": 1})
    assert obs["observation"].shape == (2,)


def test_a_custom_maze_and_arrays_of_no_environment_round_trip(tmp_path):
    """A custom maze's layout travels in the Minari metadata (and training evaluates in that maze); arrays of no
    known environment export with the whole observation as the achieved goal."""
    maze = tmp_path / "loop.txt"
    maze.write_text("#######\n#.....#\n#.###.#\n#.....#\n#######\n")
    data = tmp_path / "loop.npz"
    assert main(["collect", "--maze", str(maze), "--episodes", "3", "--episode-steps", "21", "--out", str(data),
                 "--quiet"]) == 0
    export_minari(data, "loop-v0", progress=False)
    back, meta = read_minari("loop-v0")
    assert_same(npz_arrays(data), back)
    assert meta["env"] == "pointmaze-loop" and meta["maze_layout"].startswith("#######\n#.....#")
    own = tmp_path / "own.npz"
    np.savez(own, **random_episodes(3, 10, 5, 3))
    export_minari(own, "own-v0", progress=False)
    ep = next(minari.load_dataset("own-v0").iterate_episodes())
    np.testing.assert_array_equal(ep.observations["achieved_goal"], ep.observations["observation"])
    back, meta = read_minari("own-v0")
    assert_same(npz_arrays(own), back)
    assert meta["env"] is None


def test_force_replaces_a_dataset_and_an_interrupted_export_changes_nothing(tmp_path, monkeypatch, storage):
    """Without --force an existing name is refused; an export that fails half-way leaves the old dataset as it
    was and no partial one in Minari's listing; --force replaces it."""
    a, b = tmp_path / "a.npz", tmp_path / "b.npz"
    np.savez(a, **random_episodes(3, 10, 4, 2, seed=1))
    np.savez(b, **random_episodes(5, 10, 4, 2, seed=2))
    export_minari(a, "ns/data-v0", progress=False)
    with pytest.raises(EthogramError, match="already exists"):
        export_minari(b, "ns/data-v0", progress=False)
    from minari.dataset._storages import get_minari_storage

    def disk_full(self, episodes):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(get_minari_storage("hdf5"), "update_episodes", disk_full)  # the disk fills mid-way
    with pytest.raises(EthogramError, match="nothing was changed"):
        export_minari(b, "ns/data-v0", force=True, progress=False)
    monkeypatch.undo()
    monkeypatch.setenv("MINARI_DATASETS_PATH", str(storage))
    assert_same(npz_arrays(a), read_minari("ns/data-v0")[0])
    assert [p.name for p in storage.iterdir() if p.name.startswith(".")] == []
    assert sorted(minari.list_local_datasets()) == ["ns/data-v0"]
    export_minari(b, "ns/data-v0", force=True, progress=False)
    assert_same(npz_arrays(b), read_minari("ns/data-v0")[0])


# ------------------------------------------------------------------------------------- datasets of Minari

def test_a_goal_conditioned_dataset_written_by_minari_trains(tmp_path, capsys):
    """A dataset from Minari's own API (no ethogram metadata, no stored last action) trains; its last actions
    are zeros; with --env it is evaluated in that environment."""
    eps = [goal_episode(30, 2, 2, seed) for seed in range(4)]
    for ep in eps:  # positions inside pointmaze-medium's free cells
        for key in ("observation", "achieved_goal", "desired_goal"):
            ep["observations"][key] = (np.clip(ep["observations"][key], -1, 1)).astype(np.float32)
    minari_dataset("other/pm-v1", eps, goal_space(2), gym.spaces.Box(-1, 1, (2,), np.float32))
    arrays, meta = read_minari("other/pm-v1")
    assert arrays["observations"].shape == (4 * 31, 2) and arrays["terminals"].sum() == 4
    np.testing.assert_array_equal(arrays["actions"][30], np.zeros(2))
    np.testing.assert_array_equal(arrays["actions"][:30], eps[0]["actions"])
    assert meta["env"] is None and meta["dataset"] == "other/pm-v1"
    run = tmp_path / "run"
    assert main(["train", "gcbc", "--dataset", "minari:other/pm-v1", "--out", str(run), *TINY,
                 "--eval-every", "0"]) == 0
    assert json.loads((run / "config.json").read_text())["env"] is None
    run2 = tmp_path / "run2"
    assert main(["train", "gcbc", "--dataset", "minari:other/pm-v1", "--env", "pointmaze-medium", "--out",
                 str(run2), *TINY]) == 0
    assert json.loads((run2 / "config.json").read_text())["env"] == "pointmaze-medium"
    capsys.readouterr()


def test_bad_minari_datasets_are_clear_errors_that_write_nothing(tmp_path, capsys):
    """No goals, the wrong observation or action space, another environment, NaN, a newer schema, a damaged
    file, a name that is not there or not a Minari name: each refused, no run directory left behind."""
    act = gym.spaces.Box(-1, 1, (2,), np.float32)
    ep = goal_episode(10, 2, 2, 0)
    no_goal = {**ep, "observations": {"observation": ep["observations"]["observation"]}}
    minari_dataset("bad/nogoal-v0", [no_goal],
                   gym.spaces.Dict({"observation": gym.spaces.Box(-np.inf, np.inf, (2,), np.float32)}), act)
    minari_dataset("bad/box-v0", [{**ep, "observations": ep["observations"]["observation"]}],
                   gym.spaces.Box(-np.inf, np.inf, (2,), np.float32), act)
    image = {**ep, "observations": {"observation": np.zeros((11, 4, 4, 3), np.uint8),
                                    "achieved_goal": ep["observations"]["achieved_goal"],
                                    "desired_goal": ep["observations"]["desired_goal"]}}
    minari_dataset("bad/image-v0", [image], gym.spaces.Dict({
        "observation": gym.spaces.Box(0, 255, (4, 4, 3), np.uint8),
        "achieved_goal": goal_space(2).spaces["achieved_goal"], "desired_goal": goal_space(2).spaces["desired_goal"]}),
        act)
    minari_dataset("bad/discrete-v0", [{**ep, "actions": np.zeros(10, np.int64)}], goal_space(2),
                   gym.spaces.Discrete(4))
    minari_dataset("bad/nan-v0", [goal_episode(10, 2, 2, 0, nan=True)], goal_space(2), act)
    minari_dataset("bad/ant-v0", [goal_episode(10, 29, 8, 0)], goal_space(29), gym.spaces.Box(-1, 1, (8,), np.float32))
    own = tmp_path / "pointmaze-medium-navigate-v0.npz"
    collect_small("pointmaze-medium-navigate", own, episodes=2, episode_steps=11)
    export_minari(own, "bad/newer-v0", progress=False)
    meta_path = tmp_path / "minari" / "bad" / "newer-v0" / "data" / "metadata.json"
    meta = json.loads(meta_path.read_text())
    meta["ethogram"] = json.dumps({**json.loads(meta["ethogram"]), "schema_version": 2})
    meta_path.write_text(json.dumps(meta))
    export_minari(own, "bad/damaged-v0", progress=False)
    hdf5 = tmp_path / "minari" / "bad" / "damaged-v0" / "data" / "main_data.hdf5"
    hdf5.write_bytes(hdf5.read_bytes()[:200])
    export_minari(own, "bad/medium-v0", progress=False)
    cases = [("bad/nogoal-v0", [], "no goals"), ("bad/box-v0", [], "not a goal-conditioned Dict"),
             ("bad/image-v0", [], "not a flat Box"), ("bad/discrete-v0", [], "actions of space Discrete"),
             ("bad/nan-v0", [], "NaN"), ("bad/ant-v0", ["--env", "pointmaze-medium"], "dimension 29"),
             ("bad/medium-v0", ["--env", "pointmaze-large"], "collected in pointmaze-medium, not pointmaze-large"),
             ("bad/newer-v0", [], "schema_version 2"), ("bad/damaged-v0", [], "cannot be read"),
             ("bad/missing-v0", [], "local datasets: bad/"), ("not a name", [], "not a Minari dataset name")]
    for k, (name, extra, match) in enumerate(cases):
        out = tmp_path / f"run{k}"
        fails(capsys, "train", "gcbc", "--dataset", f"minari:{name}", *extra, "--out", out, *TINY,
              "--eval-every", "0", match=match)
        assert not out.exists(), name
    fails(capsys, "export", own, "--minari", "no-version", match="not a Minari dataset name")
    fails(capsys, "export", tmp_path / "missing.npz", "--minari", "m-v0", match="does not exist")
    assert not (tmp_path / "minari" / "m-v0").exists()
