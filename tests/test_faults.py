"""SIGKILL at random moments during collection, evaluation and checkpoint writing: no file is ever half-written."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import numpy as np
import ogbench
import pytest
from test_train_eval import train

from ethogram.data.dataset import load_dataset


def run_and_kill(argv: list[str], delay: float, after=None) -> int:
    """Run an ethogram command and SIGKILL it `delay` seconds after start (or after file `after` appears)."""
    proc = subprocess.Popen([sys.executable, "-m", "ethogram.cli", *argv], stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, env=dict(os.environ))
    deadline = time.time() + 120
    while after is not None and not after.exists() and proc.poll() is None and time.time() < deadline:
        time.sleep(0.02)
    time.sleep(delay)
    if proc.poll() is None:
        os.kill(proc.pid, signal.SIGKILL)
    return proc.wait()


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_kill_during_collection_leaves_old_or_new_files(tmp_path, seed):
    rng = np.random.default_rng(seed)
    out = tmp_path / "pointmaze-medium-navigate-v0.npz"
    killed = 0
    for _ in range(3):
        code = run_and_kill(["collect", "pointmaze-medium-navigate", "--episodes", "400", "--episode-steps", "301",
                             "--out", str(out), "--force", "--quiet"], float(rng.uniform(1.0, 5.0)))
        killed += code == -signal.SIGKILL
        for path in (out, out.with_name("pointmaze-medium-navigate-v0-val.npz")):
            if path.exists():  # whatever exists is whole: it loads and validates
                assert ogbench.load_dataset(str(path))["observations"].shape[1] == 2
                load_dataset(path, 2, 2)
        if out.with_suffix(".json").exists():
            json.loads(out.with_suffix(".json").read_text())
    assert killed >= 1


def test_kill_during_evaluation_keeps_the_previous_eval_json(navigate_small, tmp_path):
    run = train(navigate_small, tmp_path / "run", steps=100)
    assert subprocess.run([sys.executable, "-m", "ethogram.cli", "eval", str(run), "--episodes", "1", "--quiet"],
                          capture_output=True).returncode == 0
    before = (run / "eval.json").read_bytes()
    for delay in (1.5, 3.0, 4.5):
        run_and_kill(["eval", str(run), "--episodes", "20", "--seed", "5", "--quiet"], delay)
        now = (run / "eval.json").read_bytes()
        assert now == before or json.loads(now)["episodes_per_task"] == 20
    assert (run / "checkpoint.safetensors").exists()


def test_kill_during_training_leaves_a_loadable_checkpoint(navigate_small, tmp_path):
    from test_train_eval import SMALL_GCIVL

    from ethogram import rundir

    run = tmp_path / "run"
    for k, delay in enumerate((0.05, 0.3, 0.7)):
        argv = ["train", "gcivl", "--dataset", str(navigate_small), "--out", str(run), "--steps", "100000",
                "--save-every", "100", "--log-every", "100", "--eval-every", "0", "--quiet", *SMALL_GCIVL]
        argv = argv + (["--force"] if k == 0 else [])
        if k > 0:
            argv = ["train", "--resume", str(run), "--quiet"]
        run_and_kill(argv, delay, after=run / "checkpoint.json")
        if (run / "checkpoint.json").exists():
            r, agent, config = rundir.load(run)
            rundir.restore(run, r, agent, config)  # loads, checksum and shapes verified
    assert json.loads((run / "checkpoint.json").read_text())["step"] >= 100


WRITER = """
import sys, numpy as np
from ethogram import checkpoint
path = sys.argv[1]
states = [{"params": {"w": np.full((1500, 1000), float(v), np.float32), "b": np.arange(1000.0) + v}} for v in (1, 2)]
k = 0
while True:
    checkpoint.save(path, states[k % 2])
    k += 1
"""


@pytest.mark.parametrize("seed", [0, 1])
def test_kill_during_checkpoint_writing_leaves_the_old_or_the_new_checkpoint(tmp_path, seed):
    """A process saving 6 MB checkpoints back to back, SIGKILLed at 8 random moments: the file on disk is always a
    whole checkpoint (checksum verified), one of the two states being written."""
    from ethogram import checkpoint

    rng = np.random.default_rng(seed)
    path = tmp_path / "checkpoint.safetensors"
    template = {"params": {"w": np.zeros((1500, 1000), np.float32), "b": np.zeros(1000)}}
    kills = 0
    for _ in range(8):
        proc = subprocess.Popen([sys.executable, "-c", WRITER, str(path)], stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL)
        deadline = time.time() + 60
        while not path.exists() and proc.poll() is None and time.time() < deadline:
            time.sleep(0.01)
        time.sleep(float(rng.uniform(0.0, 0.5)))
        os.kill(proc.pid, signal.SIGKILL)
        kills += proc.wait() == -signal.SIGKILL
        state = checkpoint.load(path, template)  # raises on any damage
        v = float(state["params"]["w"][0, 0])
        assert v in (1.0, 2.0) and np.all(state["params"]["w"] == v) and np.all(state["params"]["b"] ==
                                                                               np.arange(1000.0) + v)
    assert kills == 8
