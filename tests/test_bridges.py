"""Bridges through the `ethogram` command: datasets of any environment, --env, the npz schema's version, TensorBoard
event files, Minari in and out, and a maze written by hand through collect -> train -> eval -> search -> report."""

from __future__ import annotations

import json
import sys

import numpy as np
from helpers import fails, npz_arrays

from ethogram.cli import main

TINY = ["--steps", "40", "--fuse", "10", "--log-every", "20", "--set", "batch_size=16", "--quiet"]
TINY_NETS = ["--set", "actor_hidden_dims=8,8", "--set", "value_hidden_dims=8,8"]


def episodes(n: int, t: int, obs_dim: int, action_dim: int, seed: int = 0) -> dict[str, np.ndarray]:
    """Random-walk episodes in our stored layout (docs/datasets.md): t stored states each."""
    rng = np.random.default_rng(seed)
    actions = rng.uniform(-1, 1, (n, t, action_dim)).astype(np.float32)
    obs = np.cumsum(rng.normal(0, 0.1, (n, t, obs_dim)), axis=1).astype(np.float32)
    terminals = np.zeros((n, t), bool)
    terminals[:, -1] = True
    return {"observations": obs.reshape(n * t, obs_dim), "actions": actions.reshape(n * t, action_dim),
            "terminals": terminals.reshape(-1)}


# ------------------------------------------------------------------------------------- any dataset

def test_an_ogbench_file_of_another_environment_trains_without_evaluation(tmp_path, capsys):
    path = tmp_path / "humanoidmaze-large-navigate-v0.npz"
    np.savez_compressed(path, **episodes(6, 30, 29, 8))
    run = tmp_path / "run"
    assert main(["train", "gciql", "--dataset", str(path), "--out", str(run), *TINY, *TINY_NETS]) == 0
    out = capsys.readouterr().out
    assert "comes from no environment ethogram simulates" in out
    cfg = json.loads((run / "config.json").read_text())
    assert cfg["env"] is None and (cfg["obs_dim"], cfg["action_dim"]) == (29, 8)
    assert cfg["dataset_name"] == "humanoidmaze-large-navigate-v0"
    assert cfg["train_config"]["eval_every"] == 0
    assert json.loads((run / "checkpoint.json").read_text())["step"] == 40
    fails(capsys, "eval", run, "--episodes", "2", match="no environment ethogram simulates")
    assert not (run / "eval.json").exists()
    assert main(["report", str(run), "--no-video"]) == 0  # its config and learning curves
    assert "humanoidmaze-large-navigate-v0" in (run / "report.html").read_text()


def test_your_own_arrays_train_and_name_their_environment_with_env(tmp_path, capsys, navigate_small):
    own = tmp_path / "my_arrays.npz"
    np.savez(own, **episodes(5, 20, 5, 3))
    assert main(["train", "gcbc", "--dataset", str(own), "--out", str(tmp_path / "own"), *TINY,
                 "--set", "actor_hidden_dims=8"]) == 0
    assert json.loads((tmp_path / "own" / "config.json").read_text())["dataset_name"] == "my_arrays"
    # pointmaze data under a name that says nothing: --env says where it comes from, and the run evaluates
    mystery = tmp_path / "mystery.npz"
    np.savez(mystery, **npz_arrays(navigate_small))
    run = tmp_path / "run"
    assert main(["train", "gcbc", "--dataset", str(mystery), "--env", "pointmaze-medium", "--out", str(run), *TINY,
                 "--eval-every", "0", "--set", "actor_hidden_dims=8"]) == 0
    assert json.loads((run / "config.json").read_text())["env"] == "pointmaze-medium"
    assert main(["eval", str(run), "--episodes", "1", "--quiet", "--no-video"]) == 0
    capsys.readouterr()
    # the wrong environment for this data: its states lie in the large maze's walls, or a sidecar names another
    fails(capsys, "train", "gcbc", "--dataset", mystery, "--env", "avoiding", "--out", tmp_path / "r2", *TINY,
          match="is not an avoiding dataset")
    fails(capsys, "train", "gcbc", "--dataset", navigate_small, "--env", "pointmaze-large", "--out",
          tmp_path / "r3", *TINY, match="was collected in pointmaze-medium, not pointmaze-large")
    fails(capsys, "train", "gcbc", "--dataset", own, "--env", "pointmaze-medium", "--out", tmp_path / "r4", *TINY,
          match="dimension 5")
    assert not any((tmp_path / r).exists() for r in ("r2", "r3", "r4"))


def test_a_newer_schema_version_is_refused(tmp_path, capsys, navigate_small):
    data = tmp_path / "pointmaze-medium-navigate-v0.npz"
    data.write_bytes(navigate_small.read_bytes())
    meta = json.loads(navigate_small.with_suffix(".json").read_text())
    assert meta["schema_version"] == 1
    data.with_suffix(".json").write_text(json.dumps({**meta, "schema_version": 2}))
    err = fails(capsys, "train", "gcbc", "--dataset", data, "--out", tmp_path / "run", *TINY,
                match="schema_version 2, newer than the 1 this ethogram reads")
    assert "upgrade ethogram" in err and not (tmp_path / "run").exists()
    data.with_suffix(".json").write_text(json.dumps({**meta, "schema_version": "one"}))
    fails(capsys, "train", "gcbc", "--dataset", data, "--out", tmp_path / "run", *TINY, match="schema_version")


def test_a_misspelt_pointmaze_name_is_refused_not_guessed(tmp_path, capsys, navigate_small):
    path = tmp_path / "pointmaze-meduim-navigate-v0.npz"
    path.write_bytes(navigate_small.read_bytes())
    err = fails(capsys, "train", "gcbc", "--dataset", path, "--out", tmp_path / "run", *TINY,
                match="unknown dataset")
    assert "pointmaze-medium-navigate" in err


# -------------------------------------------------------------------------------------- TensorBoard

def scalars(logdir) -> dict[str, list[tuple[int, float]]]:
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    acc = EventAccumulator(str(logdir))
    acc.Reload()
    return {tag: [(e.step, e.value) for e in acc.Scalars(tag)] for tag in acc.Tags()["scalars"]}


def test_tensorboard_event_files_hold_the_csv_numbers(tmp_path, capsys, navigate_small, monkeypatch):
    # every writer in the same second, as on a fast machine: tensorboardX names its files by the second
    import tensorboardX.event_file_writer as efw

    monkeypatch.setattr(efw, "time", __import__("types").SimpleNamespace(time=lambda: 1_700_000_000.0))
    run = tmp_path / "run"
    assert main(["train", "gcbc", "--dataset", str(navigate_small), "--out", str(run), *TINY, "--tensorboard",
                 "--eval-every", "20", "--eval-episodes", "1", "--set", "actor_hidden_dims=8"]) == 0
    assert f"tensorboard --logdir {run / 'tensorboard'}" in capsys.readouterr().out
    got = scalars(run / "tensorboard")
    rows = list(__import__("csv").DictReader((run / "metrics.csv").open()))
    assert [s for s, _ in got["train/actor/loss"]] == [int(r["step"]) for r in rows] == [20, 40]
    assert np.allclose([v for _, v in got["train/actor/loss"]], [float(r["actor/loss"]) for r in rows])
    assert [s for s, _ in got["eval/success"]] == [20]
    assert "task5" in {t.split("/")[-1] for t in got}
    # extended on resume: the run goes on logging to the same directory, one point per step
    assert main(["train", "--resume", str(run), "--steps", "60", "--quiet"]) == 0
    steps = [s for s, _ in scalars(run / "tensorboard")["train/actor/loss"]]
    assert steps == [20, 40, 60]
    assert json.loads((run / "config.json").read_text())["train_config"]["tensorboard"] is True


def test_tensorboard_without_tensorboardx_is_a_clear_error(tmp_path, capsys, navigate_small, monkeypatch):
    monkeypatch.setitem(sys.modules, "tensorboardX", None)  # import fails as if it were not installed
    err = fails(capsys, "train", "gcbc", "--dataset", navigate_small, "--out", tmp_path / "run", *TINY,
                "--tensorboard", match="needs the tensorboardX package")
    assert "pip install 'ethogram[tensorboard]'" in err and not (tmp_path / "run").exists()


# ------------------------------------------------------------------------------------- a maze of your own

HAND_MAZE = """\
; a maze written by hand: two rooms joined by a corridor, and a dead end
##########
#....#...#
#.##.#.#.#
#.#......#
#.#.####.#
#...#....#
##########
"""


def test_a_maze_written_by_hand_runs_collect_train_eval_search_report(tmp_path, capsys, monkeypatch):
    import ogbench

    maze = tmp_path / "rooms.txt"
    maze.write_text(HAND_MAZE)
    data = tmp_path / "data" / "rooms.npz"
    assert main(["collect", "--maze", str(maze), "--robot", "point", "--kind", "navigate", "--out", str(data),
                 "--episodes", "20", "--episode-steps", "201", "--quiet"]) == 0
    assert "collecting pointmaze-rooms-navigate-v0" in capsys.readouterr().out
    meta = json.loads(data.with_suffix(".json").read_text())
    assert meta["dataset"] == "pointmaze-rooms-navigate-v0" and meta["env"] == "pointmaze-rooms"
    assert meta["maze_layout"].splitlines()[1] == "#....#...#"  # the layout travels with the data
    assert ogbench.load_dataset(str(data))["observations"].shape == (20 * 200, 2)

    run = tmp_path / "gcivl"
    assert main(["train", "gcivl", "--dataset", str(data), "--out", str(run), "--steps", "200", "--fuse", "50",
                 "--log-every", "100", "--eval-every", "0", "--set", "batch_size=64", *TINY_NETS, "--quiet"]) == 0
    cfg = json.loads((run / "config.json").read_text())
    assert cfg["env"] == "pointmaze-rooms" and cfg["maze_layout"] == meta["maze_layout"]
    maze.unlink()  # evaluation uses the layout stored in the run, not the file
    assert main(["eval", str(run), "--episodes", "2", "--quiet", "--no-video"]) == 0
    res = json.loads((run / "eval.json").read_text())
    assert sorted(res["tasks"]) == [f"task{k}" for k in range(1, 6)]

    sns = tmp_path / "sns"
    assert main(["search", str(data), "--controller", str(run), "--out", str(sns), "--nodes", "40", "--quiet"]) == 0
    assert json.loads((sns / "config.json").read_text())["maze_layout"] == meta["maze_layout"]
    assert main(["eval", str(sns), "--episodes", "2", "--quiet", "--no-video"]) == 0
    monkeypatch.setenv("ETHOGRAM_REPORT_VIDEO", "1")
    assert main(["report", str(run), str(sns), "--out", str(tmp_path / "report.html")]) == 0
    page = (tmp_path / "report.html").read_text()
    assert "pointmaze-rooms-navigate-v0" in page and "rendered by MuJoCo" in page
    capsys.readouterr()


def test_maze_file_errors_through_the_command(tmp_path, capsys):
    bad = tmp_path / "bad.txt"
    bad.write_text("#####\n#..#\n#####\n")
    fails(capsys, "collect", "--maze", bad, "--out", tmp_path / "d.npz", match="not rectangular")
    fails(capsys, "collect", "--maze", tmp_path / "missing.txt", "--out", tmp_path / "d.npz", match="does not exist")
    fails(capsys, "collect", "pointmaze-medium-navigate", "--maze", bad, "--out", tmp_path / "d.npz",
          match="not both")
    fails(capsys, "collect", "pointmaze-medium-navigate", "--kind", "stitch", "--out", tmp_path / "d.npz",
          match="go with --maze")
    medium = tmp_path / "medium.txt"
    medium.write_text("####\n#..#\n####\n")
    fails(capsys, "collect", "--maze", medium, "--out", tmp_path / "d.npz", match="rename")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bad.txt", "medium.txt"]


# ------------------------------------------------------------------------------------------- Minari

def test_minari_out_and_back_in_through_the_command(tmp_path, capsys, monkeypatch, navigate_small):
    monkeypatch.setenv("MINARI_DATASETS_PATH", str(tmp_path / "minari"))  # Minari's local storage only
    name = "ethogram/pointmaze-medium-navigate-v0"
    assert main(["export", str(navigate_small), "--minari", name, "--quiet"]) == 0
    assert f"--dataset minari:{name}" in capsys.readouterr().out
    fails(capsys, "export", navigate_small, "--minari", name, match=name)  # exists: refused without --force
    run = tmp_path / "run"
    assert main(["train", "gcbc", "--dataset", f"minari:{name}", "--out", str(run), *TINY,
                 "--set", "actor_hidden_dims=8"]) == 0
    cfg = json.loads((run / "config.json").read_text())
    assert cfg["dataset_source"] == f"minari:{name}" and cfg["env"] == "pointmaze-medium"
    assert cfg["dataset_name"] == "pointmaze-medium-navigate-v0" and cfg["train_config"]["eval_every"] > 0
    ours, back = npz_arrays(navigate_small), npz_arrays(run / "dataset.npz")  # npz -> Minari -> npz: lossless
    assert sorted(ours) == sorted(back)
    for k in ours:
        assert ours[k].dtype == back[k].dtype and np.array_equal(ours[k], back[k]), k
    assert main(["eval", str(run), "--episodes", "1", "--quiet", "--no-video"]) == 0
    capsys.readouterr()
    fails(capsys, "train", "gcbc", "--dataset", "minari:ethogram/none-v0", "--out", tmp_path / "r2", *TINY,
          match="none-v0")
    fails(capsys, "train", "gcbc", "--dataset", f"minari:{name}", "--env", "pointmaze-large", "--out",
          tmp_path / "r3", *TINY, match="pointmaze-large")
    assert not (tmp_path / "r2").exists() and not (tmp_path / "r3").exists()


def test_minari_without_the_extra_is_a_clear_error(tmp_path, capsys, monkeypatch, navigate_small):
    monkeypatch.setitem(sys.modules, "minari", None)
    err = fails(capsys, "export", navigate_small, "--minari", "ethogram/x-v0", match="Minari")
    assert "pip install 'ethogram[minari]'" in err
