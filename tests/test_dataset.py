"""Loading datasets: ours and OGBench-written files give exactly what ogbench.load_dataset gives."""

from __future__ import annotations

import json

import numpy as np
import ogbench
import pytest
from helpers import npz_arrays

from ethogram.data.dataset import dataset_name_of, load_dataset, read_npz, to_transitions, validate_arrays
from ethogram.errors import EthogramError


def assert_same_as_ogbench(path):
    ours = load_dataset(path, obs_dim=2, action_dim=2)
    ref = ogbench.load_dataset(str(path))
    for key in ("observations", "next_observations", "actions"):
        got = np.asarray(getattr(ours, key))
        assert got.dtype == np.float32
        np.testing.assert_array_equal(got, ref[key])
    # final_idx[i] = the first transition j >= i that OGBench marks terminal
    term = ref["terminals"].astype(bool)
    ends = np.nonzero(term)[0]
    expected = ends[np.searchsorted(ends, np.arange(len(term)))]
    np.testing.assert_array_equal(np.asarray(ours.final_idx), expected)
    assert ours.size == len(term)
    final = np.asarray(ours.final_idx)
    assert term[final].all() and (final >= np.arange(len(final))).all()
    return ours


def ogbench_style_file(path, lengths, seed=0, terminals_dtype=bool):
    """Write an .npz as OGBench's generator does (np.savez_compressed; qpos, qvel) with episodes of `lengths`
    stored steps."""
    rng = np.random.default_rng(seed)
    n = sum(lengths)
    obs = rng.uniform(-2, 22, size=(n, 2)).astype(np.float32)
    term = np.zeros(n, dtype=terminals_dtype)
    term[np.cumsum(lengths) - 1] = 1
    np.savez_compressed(path, observations=obs, actions=rng.uniform(-1, 1, size=(n, 2)).astype(np.float32),
                        terminals=term, qpos=obs, qvel=np.zeros_like(obs))
    return path


def test_our_files_load_like_ogbench(navigate_small, stitch_small):
    ours = assert_same_as_ogbench(navigate_small)
    assert ours.size == 2000
    assert_same_as_ogbench(stitch_small)


def test_ogbench_written_file_loads_like_ogbench(tmp_path):
    path = ogbench_style_file(tmp_path / "pointmaze-medium-navigate-v0.npz", [1001, 7, 2, 50, 1001])
    data = assert_same_as_ogbench(path)
    assert data.size == 1000 + 6 + 1 + 49 + 1000
    assert np.asarray(data.final_idx)[1000:1006].tolist() == [1005] * 6
    assert int(data.final_idx[1006]) == 1006  # a two-step episode has one transition


def test_float_terminals_load_like_ogbench(tmp_path):
    path = ogbench_style_file(tmp_path / "pointmaze-large-stitch-v0.npz", [20, 30], terminals_dtype=np.float32)
    assert_same_as_ogbench(path)


def test_next_observations_are_the_next_stored_step(navigate_small):
    arrays = npz_arrays(navigate_small)
    tr = to_transitions(arrays)
    keep = np.nonzero(~arrays["terminals"])[0]
    np.testing.assert_array_equal(tr["observations"], arrays["observations"][keep])
    np.testing.assert_array_equal(tr["next_observations"], arrays["observations"][keep + 1])
    np.testing.assert_array_equal(tr["actions"], arrays["actions"][keep])


def test_dataset_name_from_sidecar_or_file_name(tmp_path, navigate_small, stitch_small):
    assert str(dataset_name_of(navigate_small)) == "pointmaze-medium-navigate-v0"
    assert str(dataset_name_of(navigate_small.with_name(navigate_small.stem + "-val.npz"))) == \
        "pointmaze-medium-navigate-v0"
    # the sidecar wins over the file name
    renamed = tmp_path / "pointmaze-giant-navigate-v0.npz"
    renamed.write_bytes(stitch_small.read_bytes())
    renamed.with_suffix(".json").write_text(stitch_small.with_suffix(".json").read_text())
    assert str(dataset_name_of(renamed)) == "pointmaze-medium-stitch-v0"
    # an OGBench file has no sidecar: its name says what it is
    assert str(dataset_name_of(tmp_path / "pointmaze-large-stitch-v0-val.npz")) == "pointmaze-large-stitch-v0"


def test_dataset_name_errors(tmp_path):
    with pytest.raises(EthogramError, match="comes from no environment ethogram simulates"):
        dataset_name_of(tmp_path / "mydata.npz")
    bad = tmp_path / "d.npz"
    bad.with_suffix(".json").write_text("{not json")
    with pytest.raises(EthogramError, match="malformed"):
        dataset_name_of(bad)
    bad.with_suffix(".json").write_text(json.dumps({"dataset": "pointmaze-tiny-navigate"}))
    with pytest.raises(EthogramError, match="unknown dataset"):
        dataset_name_of(bad)


def test_uint8_observations_are_accepted(tmp_path):
    arrays = {"observations": np.zeros((4, 3), np.uint8), "actions": np.zeros((4, 2), np.float32),
              "terminals": np.array([0, 1, 0, 1], bool)}
    validate_arrays(arrays, "x")
    assert to_transitions(arrays)["observations"].dtype == np.float32


def test_read_npz_refuses_a_plain_npy(tmp_path):
    path = tmp_path / "d.npz"
    with path.open("wb") as f:
        np.save(f, np.zeros((3, 2)))
    with pytest.raises(EthogramError, match="single .npy array"):
        read_npz(path)


def test_read_npz_refuses_a_directory(tmp_path):
    with pytest.raises(EthogramError, match="directory"):
        read_npz(tmp_path)


def good_arrays(n_episodes=3, length=5):
    n = n_episodes * length
    term = np.zeros(n, bool)
    term[length - 1::length] = True
    return {"observations": np.zeros((n, 2), np.float32), "actions": np.zeros((n, 2), np.float32),
            "terminals": term}


@pytest.mark.parametrize(("change", "message"), [
    (lambda a: a.pop("terminals"), "missing the key"),
    (lambda a: a.update(observations=a["observations"].astype(np.int64)), "dtype int64"),
    (lambda a: a.update(actions=a["actions"].astype(np.uint8)), "dtype uint8"),
    (lambda a: a.update(observations=a["observations"].astype(str)), "expected floating point"),
    (lambda a: a.update(terminals=a["terminals"].astype(str)), "'terminals' has dtype"),
    (lambda a: a.update(observations=a["observations"][:, 0]), "expected \\(N, dim\\)"),
    (lambda a: a.update(terminals=a["terminals"][:, None]), "expected \\(N,\\)"),
    (lambda a: a.update(actions=a["actions"][:-1]), "different lengths"),
    (lambda a: a.update(qpos=np.zeros((3, 2))), "different lengths"),
    (lambda a: a["terminals"].__setitem__(-1, False), "last step is not marked terminal"),
    (lambda a: a.update(terminals=a["terminals"].astype(np.int8) * 2), "must be 0/1"),
    (lambda a: a["terminals"].__setitem__(5, True), "single stored step"),
    (lambda a: a["terminals"].__setitem__(0, True), "single stored step"),
    (lambda a: a["observations"].__setitem__((7, 1), np.nan), "NaN or inf \\(first at row 7\\)"),
    (lambda a: a["actions"].__setitem__((2, 0), np.inf), "'actions' has NaN or inf"),
    (lambda a: a.update(observations=np.zeros((15, 3), np.float32)), "dimension 3"),
    (lambda a: a.update(actions=np.zeros((15, 8), np.float32)), "actions of dimension 8"),
    (lambda a: a.update(observations=a["observations"][:1], actions=a["actions"][:1],
                        terminals=np.array([True])), "needs at least one transition"),
])
def test_validate_arrays_names_the_fault(change, message):
    arrays = good_arrays()
    validate_arrays(arrays, "x", obs_dim=2, action_dim=2)
    change(arrays)
    with pytest.raises(EthogramError, match=message):
        validate_arrays(arrays, "x", obs_dim=2, action_dim=2)


def test_load_dataset_checks_dimensions(tmp_path, navigate_small):
    with pytest.raises(EthogramError, match="dimension 2"):
        load_dataset(navigate_small, obs_dim=29)
    load_dataset(navigate_small)  # without an environment any dimension is fine
