"""The scripted-expert collector: reproducible bytes, OGBench's file layout, and data that looks like an expert's."""

from __future__ import annotations

import json

import numpy as np
import ogbench
import pytest
from helpers import NAVIGATE, STITCH, collect_small, episodes_of, npz_arrays

from ethogram.data.collect import CollectConfig, collect_to_file, default_config, val_path
from ethogram.envs.registry import make_env, parse_dataset_name
from ethogram.errors import EthogramError


def sidecar(path):
    return path.with_suffix(".json")


def all_bytes(path) -> dict[str, bytes]:
    """The training file, the -val file and the JSON sidecar, byte for byte."""
    return {p.name: p.read_bytes() for p in (path, val_path(path), sidecar(path))}


# ------------------------------------------------------------------------------ reproducibility


@pytest.mark.parametrize("name", [NAVIGATE, STITCH])
def test_same_seed_gives_identical_bytes(tmp_path, name):
    a, b = tmp_path / "a" / "d.npz", tmp_path / "b" / "d.npz"
    collect_small(name, a, episodes=10, episode_steps=51, seed=7)
    collect_small(name, b, episodes=10, episode_steps=51, seed=7)
    assert all_bytes(a) == all_bytes(b)


@pytest.mark.parametrize("name", [NAVIGATE, STITCH])
def test_different_seeds_give_different_data(tmp_path, name):
    a, b = tmp_path / "a.npz", tmp_path / "b.npz"
    collect_small(name, a, episodes=10, episode_steps=51, seed=0)
    collect_small(name, b, episodes=10, episode_steps=51, seed=1)
    assert a.read_bytes() != b.read_bytes()
    assert not np.array_equal(npz_arrays(a)["observations"], npz_arrays(b)["observations"])


# ------------------------------------------------------------------------------ file layout


def test_files_load_with_ogbench_with_the_right_shapes(navigate_small):
    ds = ogbench.load_dataset(str(navigate_small), add_info=True)
    n = 20 * 100  # 20 episodes of 101 stored steps = 100 transitions each
    assert ds["observations"].shape == (n, 2)
    assert ds["next_observations"].shape == (n, 2)
    assert ds["actions"].shape == (n, 2)
    assert ds["terminals"].shape == (n,)
    assert ds["terminals"].sum() == 20
    assert ds["qpos"].shape == ds["qvel"].shape == (n, 2)
    val = ogbench.load_dataset(str(val_path(navigate_small)))
    assert val["observations"].shape == (2 * 100, 2)


def test_stored_arrays_follow_ogbench_layout(navigate_small):
    arrays = npz_arrays(navigate_small)
    assert set(arrays) == {"observations", "actions", "terminals", "qpos", "qvel"}
    assert arrays["observations"].dtype == np.float32 and arrays["observations"].shape == (20 * 101, 2)
    assert arrays["actions"].dtype == np.float32 and arrays["actions"].shape == (20 * 101, 2)
    assert arrays["terminals"].dtype == bool
    # terminal exactly at the last stored step of each episode
    expected = np.zeros((20, 101), dtype=bool)
    expected[:, -1] = True
    np.testing.assert_array_equal(arrays["terminals"], expected.ravel())
    np.testing.assert_array_equal(arrays["qpos"], arrays["observations"])
    assert np.isfinite(arrays["qvel"]).all()


def test_val_file_holds_ten_percent_of_the_episodes(navigate_small, stitch_small):
    for path, episodes, steps in ((navigate_small, 20, 101), (stitch_small, 60, 201)):
        val = npz_arrays(val_path(path))
        assert val["terminals"].sum() == episodes // 10
        assert val["observations"].shape == (episodes // 10 * steps, 2)
        train = npz_arrays(path)
        # validation episodes are new episodes, not copies of training ones
        starts = {tuple(e[0]) for e in episodes_of(train)}
        assert not starts & {tuple(e[0]) for e in episodes_of(val)}


def test_sidecar_describes_the_collection(stitch_small):
    meta = json.loads(sidecar(stitch_small).read_text())
    assert meta["dataset"] == "pointmaze-medium-stitch-v0"
    assert meta["env"] == "pointmaze-medium" and meta["kind"] == "stitch"
    assert meta["train_episodes"] == 60 and meta["val_episodes"] == 6
    assert meta["transitions"] == 60 * 200
    assert meta["collect_config"]["episode_steps"] == 201 and meta["collect_config"]["noise"] == 0.5
    assert "seconds" not in meta  # timings would break byte-for-byte reproducibility


def test_default_configs_are_ogbenchs():
    assert default_config(parse_dataset_name("pointmaze-medium-navigate")) == CollectConfig(1000, 1001)
    assert default_config(parse_dataset_name("pointmaze-large-navigate")) == CollectConfig(1000, 1001)
    assert default_config(parse_dataset_name("pointmaze-giant-navigate")) == CollectConfig(500, 2001)
    assert default_config(parse_dataset_name("pointmaze-giant-stitch")) == CollectConfig(5000, 201)
    assert default_config(parse_dataset_name("pointmaze-medium-stitch"), seed=3).seed == 3
    assert CollectConfig(1, 2).noise == 0.5 and CollectConfig(1, 2).val_fraction == 0.1


# ------------------------------------------------------------------------------ what the data looks like


def test_actions_are_in_range_and_noisy(navigate_small):
    act = npz_arrays(navigate_small)["actions"]
    assert act.min() >= -1.0 and act.max() <= 1.0
    assert (np.abs(act) == 1.0).mean() > 0.05  # clipping happens: unit direction plus sigma 0.5 noise
    assert act.std() > 0.3


def test_transitions_follow_the_environment_dynamics(navigate_small):
    arrays = npz_arrays(navigate_small)
    env = make_env("pointmaze-medium")
    idx = np.nonzero(~arrays["terminals"])[0]
    nxt = env.positions(env.step(env.reset(arrays["observations"][idx].astype(np.float64)), arrays["actions"][idx]))
    np.testing.assert_allclose(nxt, arrays["observations"][idx + 1], atol=1e-4)


def test_positions_stay_inside_free_cells(navigate_small):
    maze = make_env("pointmaze-medium").maze
    cells = maze.xy_to_ij(npz_arrays(navigate_small)["observations"])
    assert (maze.layout[cells[:, 0], cells[:, 1]] == 0).all()


def test_navigate_data_covers_the_maze(navigate_small):
    maze = make_env("pointmaze-medium").maze
    visited = {tuple(c) for c in maze.xy_to_ij(npz_arrays(navigate_small)["observations"])}
    assert len(visited) >= 0.8 * len(maze.free_cells())


def test_episodes_start_near_cell_centres(navigate_small):
    maze = make_env("pointmaze-medium").maze
    starts = np.array([e[0] for e in episodes_of(npz_arrays(navigate_small))])
    offset = starts - maze.ij_to_xy(maze.xy_to_ij(starts))
    assert np.abs(offset).max() <= 1.0 + 1e-5


def test_expert_moves_purposefully_unlike_a_random_policy(navigate_small):
    """Net displacement over an episode: the expert travels along corridors, a random policy jitters."""
    env = make_env("pointmaze-medium")
    episodes = episodes_of(npz_arrays(navigate_small))
    expert = np.mean([np.linalg.norm(e[-1] - e[0]) for e in episodes])
    rng = np.random.default_rng(0)
    xy = start = np.array([e[0] for e in episodes], dtype=np.float64)
    for _ in range(len(episodes[0]) - 1):
        xy = env.positions(env.step(env.reset(xy), rng.uniform(-1, 1, size=xy.shape)))
    random = np.linalg.norm(xy - start, axis=1).mean()
    assert expert > 5.0
    assert expert > 4 * random


def test_stitch_episodes_end_four_bfs_steps_from_their_start(stitch_small):
    """OGBench's stitch goal is a cell exactly 4 BFS steps away; with noise 0.5 the expert gets there and
    hovers within 200 steps."""
    maze = make_env("pointmaze-medium").maze
    episodes = episodes_of(npz_arrays(stitch_small))
    steps = [maze.shortest_path_steps(tuple(maze.xy_to_ij(e[0])), tuple(maze.xy_to_ij(e[-1]))) for e in episodes]
    assert np.mean(np.array(steps) == 4) >= 0.85, np.bincount(steps)
    # the goal is drawn among the cells 4 steps away: the same start cell leads to different end cells
    pairs = {(tuple(maze.xy_to_ij(e[0])), tuple(maze.xy_to_ij(e[-1]))) for e in episodes}
    assert len(pairs) > len({start for start, _ in pairs}) + 5
    # ... and it gets there early, then stays: the last quarter of each episode is near the end cell.
    for e in episodes:
        end_centre = maze.ij_to_xy(maze.xy_to_ij(e[-1]))
        assert np.median(np.linalg.norm(e[-50:] - end_centre, axis=1)) < 2.0


def test_stitch_episodes_are_short_hops_and_navigate_ones_are_not(navigate_small, stitch_small):
    maze = make_env("pointmaze-medium").maze

    def cells_per_episode(path):
        return np.mean([len({tuple(c) for c in maze.xy_to_ij(e)}) for e in episodes_of(npz_arrays(path))])

    # stitch: the start cell, 3 cells between and the goal cell (plus a little wandering from the noise)
    assert 4.5 <= cells_per_episode(stitch_small) <= 7
    # navigate: 100 steps at up to 0.2 per step cross about 5 cells, with goals drawn anywhere
    assert cells_per_episode(navigate_small) > 3


# ------------------------------------------------------------------------------ output files


def test_collect_refuses_existing_output_and_leaves_it_untouched(tmp_path):
    out = tmp_path / "d.npz"
    collect_small(NAVIGATE, out, episodes=10, episode_steps=21, seed=0)
    before = all_bytes(out)
    with pytest.raises(EthogramError, match="already exists"):
        collect_small(NAVIGATE, out, episodes=10, episode_steps=21, seed=1)
    assert all_bytes(out) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["d-val.npz", "d.json", "d.npz"]  # no temp files left


def test_collect_refuses_when_only_the_val_file_exists(tmp_path):
    out = tmp_path / "d.npz"
    val_path(out).write_bytes(b"precious")
    with pytest.raises(EthogramError, match="already exists"):
        collect_small(NAVIGATE, out, episodes=10, episode_steps=21)
    assert val_path(out).read_bytes() == b"precious"
    assert not out.exists()


def test_force_replaces_existing_output(tmp_path):
    out, fresh = tmp_path / "d.npz", tmp_path / "fresh" / "d.npz"
    collect_small(NAVIGATE, out, episodes=10, episode_steps=21, seed=0)
    before = all_bytes(out)
    collect_small(NAVIGATE, out, episodes=10, episode_steps=21, seed=1, force=True)
    collect_small(NAVIGATE, fresh, episodes=10, episode_steps=21, seed=1)
    after = all_bytes(out)
    assert after["d.npz"] != before["d.npz"]
    assert after == all_bytes(fresh)


def test_force_does_not_leave_a_stale_val_file(tmp_path):
    out = tmp_path / "d.npz"
    collect_small(NAVIGATE, out, episodes=20, episode_steps=21, seed=0)
    old_val = val_path(out).read_bytes()
    meta = collect_small(NAVIGATE, out, episodes=5, episode_steps=21, seed=1, force=True)
    assert meta["val_episodes"] == 0
    assert not val_path(out).exists() or val_path(out).read_bytes() != old_val


def test_output_must_be_an_npz_path(tmp_path):
    name = parse_dataset_name(NAVIGATE)
    with pytest.raises(EthogramError, match=r"\.npz"):
        collect_to_file(name, CollectConfig(2, 5), tmp_path / "d.h5", progress=False)
    assert not any(tmp_path.iterdir())


def test_collect_rejects_empty_configs(tmp_path):
    name = parse_dataset_name(NAVIGATE)
    for cfg in (CollectConfig(0, 10), CollectConfig(-3, 10), CollectConfig(2, 1)):
        with pytest.raises(EthogramError, match="at least"):
            collect_to_file(name, cfg, tmp_path / "d.npz", progress=False)
    assert not any(tmp_path.iterdir())


def test_collect_draws_every_trajectory_over_the_maze(tmp_path, capsys):
    from ethogram.cli import main
    from tests.helpers import fails

    out, png = tmp_path / "d.npz", tmp_path / "d.png"
    assert main(["collect", "pointmaze-medium-stitch", "--episodes", "6", "--episode-steps", "21", "--out", str(out),
                 "--picture", str(png), "--quiet"]) == 0
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and "every trajectory" in capsys.readouterr().out
    fails(capsys, "collect", "avoiding", "--episodes", "4", "--out", tmp_path / "a.npz", "--picture",
          tmp_path / "a.png", match="has none")
    assert not (tmp_path / "a.npz").exists() and not (tmp_path / "a.png").exists()
