"""Bad inputs through the `ethogram` command: a non-zero exit, one 'error:' message, never a traceback."""

from __future__ import annotations

import json
import os
import shutil
import struct
import subprocess
import sys
import zipfile

import numpy as np
import pytest
from helpers import npz_arrays

from ethogram.cli import main

OGB_NAME = "pointmaze-medium-navigate-v0.npz"  # lets a file without a sidecar say which environment it is from
TINY_GCBC = ["--steps", "20", "--fuse", "10", "--set", "batch_size=16", "--set", "actor_hidden_dims=8",
             "--eval-every", "0", "--quiet"]


def fails(capsys, *argv: str, match: str | None = None) -> str:
    """Run the CLI in-process; it must return non-zero with a clean 'error:' message. Returns stderr."""
    code = main([str(a) for a in argv])
    err = capsys.readouterr().err
    assert code != 0
    assert err.startswith("error:"), err
    assert "Traceback" not in err
    if match is not None:
        assert match in err, err
    return err


def tree_bytes(directory) -> dict[str, bytes]:
    return {str(p.relative_to(directory)): p.read_bytes() for p in sorted(directory.rglob("*")) if p.is_file()}


@pytest.fixture
def good_arrays(navigate_small):
    return npz_arrays(navigate_small)


def write_dataset(tmp_path, arrays, name=OGB_NAME):
    path = tmp_path / name
    np.savez_compressed(path, **arrays)
    return path


def train_on(capsys, tmp_path, dataset, match):
    return fails(capsys, "train", "gcbc", "--dataset", dataset, "--out", tmp_path / "run", *TINY_GCBC, match=match)


# ------------------------------------------------------------------------------ names


def test_unknown_dataset_name(capsys, tmp_path):
    err = fails(capsys, "collect", "pointmaze-tiny-navigate", "--out", tmp_path / "d.npz", match="unknown dataset")
    assert "pointmaze-medium-navigate" in err  # the fix lists the known names
    assert not any(tmp_path.iterdir())


def test_antmaze_needs_a_locomotion_expert(capsys, tmp_path):
    fails(capsys, "collect", "antmaze-large-navigate-v0", "--out", tmp_path / "d.npz", "--expert", tmp_path / "no",
          match="ethogram expert ant --out")
    assert not (tmp_path / "d.npz").exists()


def test_unknown_agent(capsys, tmp_path, navigate_small):
    err = fails(capsys, "train", "sac", "--dataset", navigate_small, "--out", tmp_path / "run", *TINY_GCBC,
                match="unknown agent 'sac'")
    assert "gcbc" in err and "gcivl" in err
    assert not (tmp_path / "run").exists()


def test_periodic_evaluation_of_a_dataset_without_an_environment(capsys, tmp_path, good_arrays):
    path = write_dataset(tmp_path, good_arrays, name="mystery.npz")
    fails(capsys, "train", "gcbc", "--dataset", path, "--out", tmp_path / "run", *TINY_GCBC[:-3], "--eval-every",
          "10", match="comes from no environment ethogram simulates")
    assert not (tmp_path / "run").exists()


# ------------------------------------------------------------------------------ dataset files


def test_missing_dataset_file(capsys, tmp_path):
    train_on(capsys, tmp_path, tmp_path / OGB_NAME, "does not exist")


def test_missing_dataset_file_with_any_name_says_it_does_not_exist(capsys, tmp_path):
    train_on(capsys, tmp_path, tmp_path / "nowhere" / "mydata.npz", "does not exist")


def test_failed_train_leaves_no_run_directory_behind(capsys, tmp_path, navigate_small):
    train_on(capsys, tmp_path, tmp_path / OGB_NAME, "does not exist")
    assert main(["train", "gcbc", "--dataset", str(navigate_small), "--out", str(tmp_path / "run"),
                 *TINY_GCBC]) == 0


def test_dataset_is_a_directory(capsys, tmp_path):
    (tmp_path / OGB_NAME).mkdir()
    train_on(capsys, tmp_path, tmp_path / OGB_NAME, "is a directory")


def test_missing_key(capsys, tmp_path, good_arrays):
    del good_arrays["actions"]
    train_on(capsys, tmp_path, write_dataset(tmp_path, good_arrays), "missing the key(s) actions")


def test_integer_observations(capsys, tmp_path, good_arrays):
    good_arrays["observations"] = np.round(good_arrays["observations"]).astype(np.int32)
    train_on(capsys, tmp_path, write_dataset(tmp_path, good_arrays), "'observations' has dtype int32")


def test_string_arrays(capsys, tmp_path, good_arrays):
    good_arrays["actions"] = good_arrays["actions"].astype(str)
    train_on(capsys, tmp_path, write_dataset(tmp_path, good_arrays), "'actions' has dtype")


def test_string_terminals(capsys, tmp_path, good_arrays):
    good_arrays["terminals"] = np.where(good_arrays["terminals"], "yes", "no")
    train_on(capsys, tmp_path, write_dataset(tmp_path, good_arrays), "'terminals' has dtype")


def test_nan_observations(capsys, tmp_path, good_arrays):
    good_arrays["observations"][123, 0] = np.nan
    train_on(capsys, tmp_path, write_dataset(tmp_path, good_arrays), "NaN or inf (first at row 123)")


def test_mismatched_lengths(capsys, tmp_path, good_arrays):
    good_arrays["actions"] = good_arrays["actions"][:-10]
    train_on(capsys, tmp_path, write_dataset(tmp_path, good_arrays), "different lengths")


def test_truncated_npz(capsys, tmp_path, navigate_small):
    data = navigate_small.read_bytes()
    path = tmp_path / OGB_NAME
    path.write_bytes(data[: len(data) // 2])
    train_on(capsys, tmp_path, path, "truncated or corrupted")


def test_npz_with_a_bad_checksum(capsys, tmp_path, navigate_small):
    data = bytearray(navigate_small.read_bytes())
    entry = data.index(b"PK\x01\x02")  # first central-directory entry: observations.npy
    assert data[entry + 46:entry + 46 + 16] == b"observations.npy"
    data[entry + 16] ^= 0xFF  # its CRC-32 no longer matches the data
    path = tmp_path / OGB_NAME
    path.write_bytes(bytes(data))
    train_on(capsys, tmp_path, path, "not a readable .npz")


def test_npz_with_corrupted_compressed_data(capsys, tmp_path, navigate_small):
    data = bytearray(navigate_small.read_bytes())
    with zipfile.ZipFile(navigate_small) as zf:
        info = zf.getinfo("observations.npy")
    name_len, extra_len = struct.unpack("<HH", data[info.header_offset + 26:info.header_offset + 30])
    start = info.header_offset + 30 + name_len + extra_len
    data[start] = 0xFF  # deflate block type 3: reserved, invalid
    path = tmp_path / OGB_NAME
    path.write_bytes(bytes(data))
    train_on(capsys, tmp_path, path, "not a readable .npz")


def test_random_text_file(capsys, tmp_path):
    path = tmp_path / OGB_NAME
    path.write_text("observations,actions,terminals\n0.1,0.2,0\n" * 50)
    train_on(capsys, tmp_path, path, OGB_NAME)


def test_random_text_file_is_not_called_a_pickle(capsys, tmp_path):
    path = tmp_path / OGB_NAME
    path.write_text("observations,actions,terminals\n0.1,0.2,0\n" * 50)
    err = train_on(capsys, tmp_path, path, OGB_NAME)
    assert "pickle" not in err.lower() and "Python objects" not in err


def test_empty_file(capsys, tmp_path):
    (tmp_path / OGB_NAME).write_bytes(b"")
    train_on(capsys, tmp_path, tmp_path / OGB_NAME, "error:")


def test_npy_file_named_npz(capsys, tmp_path, good_arrays):
    path = tmp_path / OGB_NAME
    with path.open("wb") as f:
        np.save(f, good_arrays["observations"])
    train_on(capsys, tmp_path, path, "single .npy array")


class Canary:
    """Unpickling this object creates a directory: proof that a loader unpickled it."""

    def __init__(self, marker: str):
        self.marker = marker

    def __reduce__(self):
        return (os.mkdir, (self.marker,))


def test_pickled_object_array_is_refused_without_unpickling(capsys, tmp_path, good_arrays):
    marker = tmp_path / "unpickled"
    objects = np.empty(len(good_arrays["observations"]), dtype=object)
    objects[:] = [Canary(str(marker))] * len(objects)
    good_arrays["observations"] = objects
    path = tmp_path / OGB_NAME
    np.savez(path, **good_arrays)  # object arrays are stored as pickles
    err = train_on(capsys, tmp_path, path, "never loads pickles")
    assert "Python objects" in err
    assert not marker.exists()


def test_observation_dimension_mismatch(capsys, tmp_path, good_arrays):
    n = len(good_arrays["observations"])
    good_arrays["observations"] = np.concatenate([good_arrays["observations"], np.zeros((n, 1), np.float32)], 1)
    good_arrays.pop("qpos")
    train_on(capsys, tmp_path, write_dataset(tmp_path, good_arrays), "observations of dimension 3")


def test_action_dimension_mismatch(capsys, tmp_path, good_arrays):
    good_arrays["actions"] = np.zeros((len(good_arrays["actions"]), 8), np.float32)
    train_on(capsys, tmp_path, write_dataset(tmp_path, good_arrays), "actions of dimension 8")


def test_malformed_sidecar(capsys, tmp_path, navigate_small):
    path = tmp_path / "d.npz"
    shutil.copy(navigate_small, path)
    path.with_suffix(".json").write_text("{")
    train_on(capsys, tmp_path, path, "malformed")


# ------------------------------------------------------------------------------ numbers


@pytest.mark.parametrize(("flag", "value", "match"), [
    ("--episodes", "0", "--episodes must be at least 1"),
    ("--episodes", "-4", "--episodes must be at least 1 (got -4)"),
    ("--episode-steps", "1", "--episode-steps must be at least 2"),
    ("--episode-steps", "0", "--episode-steps must be at least 2"),
    ("--noise", "-0.1", "--noise must be >= 0"),
])
def test_collect_bad_numbers(capsys, tmp_path, flag, value, match):
    fails(capsys, "collect", "pointmaze-medium-navigate", "--out", tmp_path / "d.npz", flag, value, match=match)
    assert not any(tmp_path.iterdir())


def test_collect_negative_seed(capsys, tmp_path):
    fails(capsys, "collect", "pointmaze-medium-navigate", "--out", tmp_path / "d.npz", "--episodes", "2",
          "--episode-steps", "5", "--seed", "-1", "--quiet", match="seed")


@pytest.mark.parametrize(("args", "match"), [
    (["--steps", "0"], "--steps must be at least 1"),
    (["--steps", "-5"], "--steps must be at least 1"),
    (["--fuse", "0"], "fuse must be at least 1"),
    (["--eval-every", "-1"], "eval_every must be >= 0"),
    (["--eval-episodes", "0"], "eval_episodes must be at least 1"),
    (["--log-every", "0"], "log_every must be at least 1"),
])
def test_train_bad_numbers(capsys, tmp_path, navigate_small, args, match):
    fails(capsys, "train", "gcbc", "--dataset", navigate_small, "--out", tmp_path / "run", *TINY_GCBC, *args,
          match=match)
    assert not (tmp_path / "run").exists()


@pytest.mark.parametrize(("setting", "match"), [
    ("alpha=3", "unknown config field 'alpha'"),  # a GCIVL field, not a GCBC one
    ("batch_size=abc", "cannot set batch_size='abc': expected int"),
    ("batch_size=2.5", "expected int"),
    ("lr=fast", "expected float"),
    ("const_std=maybe", "expected bool"),
    ("actor_hidden_dims=0,64", "actor_hidden_dims"),
    ("actor_hidden_dims=", "actor_hidden_dims"),
    ("batch_size", "--set expects KEY=VALUE"),
    ("batch_size=0", "'batch_size' must be at least 1"),
    ("discount=1.5", "'discount' must be in (0, 1)"),
    ("lr=-1", "'lr' must be in (0, inf)"),
    ("lr=nan", "lr"),
    ("batch_size=100000000000", "GiB of memory"),
    ("value_p_curgoal=0.9", "invalid goal mixture"),
])
def test_bad_set(capsys, tmp_path, navigate_small, setting, match):
    fails(capsys, "train", "gcbc", "--dataset", navigate_small, "--out", tmp_path / "run", *TINY_GCBC,
          "--set", setting, match=match)
    assert not (tmp_path / "run").exists()


def test_unknown_field_lists_the_known_ones(capsys, tmp_path, navigate_small):
    err = fails(capsys, "train", "gcivl", "--dataset", navigate_small, "--out", tmp_path / "run", *TINY_GCBC,
                "--set", "expectiles=0.7")
    assert "expectile" in err and "batch_size" in err


# ------------------------------------------------------------------------------ output paths


def test_collect_output_exists_without_force(capsys, tmp_path):
    out = tmp_path / "d.npz"
    out.write_bytes(b"precious bytes")
    fails(capsys, "collect", "pointmaze-medium-navigate", "--out", out, "--episodes", "2", "--episode-steps", "5",
          match="already exists")
    assert out.read_bytes() == b"precious bytes"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["d.npz"]


def test_collect_output_is_a_directory(capsys, tmp_path):
    (tmp_path / "d.npz").mkdir()
    fails(capsys, "collect", "pointmaze-medium-navigate", "--out", tmp_path / "d.npz", match="is a directory")


def test_collect_output_must_be_npz(capsys, tmp_path):
    fails(capsys, "collect", "pointmaze-medium-navigate", "--out", tmp_path / "d.csv", match="must end in .npz")


def test_collect_into_unwritable_directory(capsys, tmp_path):
    blocker = tmp_path / "a_file"
    blocker.write_text("I am a file, not a directory")
    fails(capsys, "collect", "pointmaze-medium-navigate", "--out", blocker / "sub" / "d.npz", "--episodes", "2",
          "--episode-steps", "5", match="cannot write to directory")
    assert blocker.read_text() == "I am a file, not a directory"


def test_collect_into_read_only_directory(capsys, tmp_path):
    ro = tmp_path / "ro"
    ro.mkdir()
    ro.chmod(0o500)
    try:
        if os.access(ro, os.W_OK):
            pytest.skip("running with privileges that ignore directory permissions")
        fails(capsys, "collect", "pointmaze-medium-navigate", "--out", ro / "d.npz", "--episodes", "2",
              "--episode-steps", "5", match="cannot write to directory")
    finally:
        ro.chmod(0o700)


def test_train_into_unwritable_directory(capsys, tmp_path, navigate_small):
    blocker = tmp_path / "a_file"
    blocker.write_text("x")
    fails(capsys, "train", "gcbc", "--dataset", navigate_small, "--out", blocker / "run", *TINY_GCBC,
          match="cannot write to directory")
    fails(capsys, "train", "gcbc", "--dataset", navigate_small, "--out", blocker, *TINY_GCBC, match="is a file")
    assert blocker.read_text() == "x"


# ------------------------------------------------------------------------------ runs


@pytest.fixture(scope="module")
def tiny_gcbc_run(tmp_path_factory, navigate_small):
    run = tmp_path_factory.mktemp("tiny") / "run"
    assert main(["train", "gcbc", "--dataset", str(navigate_small), "--out", str(run), *TINY_GCBC]) == 0
    return run


@pytest.fixture
def run_copy(tiny_gcbc_run, tmp_path):
    return shutil.copytree(tiny_gcbc_run, tmp_path / "run")


def test_train_into_existing_run_without_force(capsys, run_copy, navigate_small):
    before = tree_bytes(run_copy)
    fails(capsys, "train", "gcbc", "--dataset", navigate_small, "--out", run_copy, *TINY_GCBC,
          match="already exists and is not empty")
    assert tree_bytes(run_copy) == before


def test_eval_missing_run_dir(capsys, tmp_path):
    fails(capsys, "eval", tmp_path / "no-such-run", "--episodes", "1", "--quiet", match="does not exist")


def test_eval_directory_that_is_not_a_run(capsys, tmp_path):
    fails(capsys, "eval", tmp_path, "--episodes", "1", "--quiet", match="no config.json")


def test_eval_run_without_checkpoint(capsys, run_copy):
    (run_copy / "checkpoint.safetensors").unlink()
    fails(capsys, "eval", run_copy, "--episodes", "1", "--quiet", match="checkpoint")
    assert not (run_copy / "eval.json").exists()


def test_eval_truncated_checkpoint(capsys, run_copy):
    ckpt = run_copy / "checkpoint.safetensors"
    ckpt.write_bytes(ckpt.read_bytes()[:100])
    fails(capsys, "eval", run_copy, "--episodes", "1", "--quiet", match="not a readable safetensors")


def test_eval_checkpoint_of_another_agent(capsys, run_copy):
    config = json.loads((run_copy / "config.json").read_text())
    config["agent"] = "gcivl"
    (run_copy / "config.json").write_text(json.dumps(config))
    fails(capsys, "eval", run_copy, "--episodes", "1", "--quiet", match="another agent")


def test_eval_checkpoint_of_another_network_size(capsys, run_copy):
    config = json.loads((run_copy / "config.json").read_text())
    config["agent_config"]["actor_hidden_dims"] = [16]
    (run_copy / "config.json").write_text(json.dumps(config))
    fails(capsys, "eval", run_copy, "--episodes", "1", "--quiet", match="another network size")


def test_eval_malformed_config(capsys, run_copy):
    (run_copy / "config.json").write_text("{\"agent\": ")
    fails(capsys, "eval", run_copy, "--episodes", "1", "--quiet", match="malformed")


def test_eval_zero_episodes(capsys, run_copy):
    fails(capsys, "eval", run_copy, "--episodes", "0", "--quiet", match="--episodes must be at least 1")


def test_eval_negative_seed(capsys, run_copy):
    fails(capsys, "eval", run_copy, "--episodes", "1", "--seed", "-1", "--quiet", match="seed")


# ------------------------------------------------------------------------------ as a real process


def run_process(*argv: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "JAX_PLATFORMS": "cpu"}
    return subprocess.run([sys.executable, "-m", "ethogram.cli", *map(str, argv)], capture_output=True, text=True,
                          timeout=120, env=env)


def test_process_unknown_dataset_exits_cleanly(tmp_path):
    proc = run_process("collect", "pointmaze-nowhere-navigate", "--out", tmp_path / "d.npz")
    assert proc.returncode == 2
    assert proc.stderr.startswith("error: unknown dataset 'pointmaze-nowhere-navigate'")
    assert "Traceback" not in proc.stderr
    assert "fix:" in proc.stderr


def test_process_truncated_dataset_exits_cleanly(tmp_path, navigate_small):
    data = navigate_small.read_bytes()
    (tmp_path / OGB_NAME).write_bytes(data[: len(data) // 2])
    proc = run_process("train", "gcbc", "--dataset", tmp_path / OGB_NAME, "--out", tmp_path / "run", *TINY_GCBC)
    assert proc.returncode != 0
    assert "error:" in proc.stderr and "Traceback" not in proc.stderr
    assert proc.stderr.startswith("error:")


@pytest.mark.parametrize("agent,setting,match", [
    ("gcivl", "expectile=1.5", "'expectile' must be in (0, 1)"),
    ("gcivl", "expectile=0", "'expectile' must be in (0, 1)"),
    ("hilp", "q_expectile=1", "'q_expectile' must be in (0, 1)"),
    ("gciql", "tau=-1", "'tau' must be in (0, 1]"),
    ("gciql", "tau=0", "'tau' must be in (0, 1]"),
    ("gcivl", "alpha=-3", "'alpha' must be in [0, inf)"),
    ("qrl", "eps=0", "'eps' must be in (0, inf)"),
    ("hiql", "subgoal_steps=0", "'subgoal_steps' must be at least 1"),
    ("gcivl", "value_p_curgoal=-0.5", "goal mixture"),
])
def test_algorithm_ranges_are_enforced(capsys, tmp_path, navigate_small, agent, setting, match):
    fails(capsys, "train", agent, "--dataset", navigate_small, "--out", tmp_path / "run", "--steps", "10",
          "--set", setting, match=match)
    assert not (tmp_path / "run").exists()


def test_algorithm_ranges_are_enforced_from_python(tmp_path, navigate_small):
    from ethogram.agents import gciql
    from ethogram.config import TrainConfig
    from ethogram.errors import EthogramError
    from ethogram.rundir import prepare_run

    with pytest.raises(EthogramError, match="'tau' must be in"):
        prepare_run("gciql", navigate_small, tmp_path / "run", TrainConfig(steps=10), gciql.Config(tau=1.5))
    with pytest.raises(EthogramError, match="seed must be in"):
        prepare_run("gciql", navigate_small, tmp_path / "run", TrainConfig(steps=10, seed=2**70))
    assert not (tmp_path / "run").exists()
