"""An interrupted training run resumes from its last checkpoint and ends exactly where an uninterrupted one does."""

from __future__ import annotations

import importlib
import json
import os
import signal
import subprocess
import sys
import time

from test_train_eval import SMALL_GCIVL, losses, train

from ethogram.cli import main

STEPS, SAVE = 3000, 300


def argv(dataset, out):
    return ["train", "gcivl", "--dataset", str(dataset), "--out", str(out), "--steps", str(STEPS), "--seed", "4",
            "--fuse", "100", "--log-every", "100", "--save-every", str(SAVE), "--eval-every", "0", "--quiet",
            *SMALL_GCIVL]


def test_sigkill_then_resume_gives_the_same_metrics(navigate_small, tmp_path, capsys):
    reference = train(navigate_small, tmp_path / "reference", steps=STEPS, seed=4,
                      extra=["--save-every", str(SAVE)])

    run = tmp_path / "killed"
    proc = subprocess.Popen([sys.executable, "-m", "ethogram.cli", *argv(navigate_small, run)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=dict(os.environ))
    ckpt = run / "checkpoint.json"
    deadline = time.time() + 120
    while time.time() < deadline and proc.poll() is None:
        if ckpt.exists() and json.loads(ckpt.read_text() or "{}").get("step", 0) >= SAVE:
            break
        time.sleep(0.05)
    assert proc.poll() is None, "training finished before it could be interrupted; make the run longer"
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    killed_at = json.loads(ckpt.read_text())["step"]
    assert SAVE <= killed_at < STEPS

    # A new checkpoint interval on resume (a multiple of the fuse) keeps the chunks, so the results.
    assert main(["train", "--resume", str(run), "--quiet", "--save-every", "150"]) != 0
    assert "chunks of 100 steps" in capsys.readouterr().err
    assert main(["train", "--resume", str(run), "--quiet", "--save-every", "600"]) == 0
    assert json.loads((run / "config.json").read_text())["train_config"]["save_every"] == 600
    assert json.loads(ckpt.read_text())["step"] == STEPS
    assert losses(run) == losses(reference)
    assert (run / "checkpoint.safetensors").read_bytes() == (reference / "checkpoint.safetensors").read_bytes()
    assert not [p.name for p in run.iterdir() if p.name.endswith(".ethogram-tmp")]


def test_resume_of_a_finished_run_does_nothing(navigate_small, tmp_path):
    run = train(navigate_small, tmp_path / "run", steps=200)
    before = (run / "checkpoint.safetensors").read_bytes()
    assert main(["train", "--resume", str(run), "--quiet"]) == 0
    assert (run / "checkpoint.safetensors").read_bytes() == before
    assert [int(r["step"]) for r in losses(run)] == [100, 200]


def test_resume_refuses_other_arguments(navigate_small, tmp_path, capsys):
    assert main(["train", "gcivl", "--resume", str(tmp_path), "--quiet"]) != 0
    assert capsys.readouterr().err.startswith("error:")
    assert main(["train", "--resume", str(tmp_path / "missing"), "--quiet"]) != 0
    assert "does not exist" in capsys.readouterr().err


def test_train_without_agent_or_dataset_is_a_clear_error(capsys):
    assert main(["train", "--out", "x"]) != 0
    err = capsys.readouterr().err
    assert err.startswith("error:") and "AGENT" in err and "--dataset" in err


def test_an_evaluation_cut_off_by_an_interruption_is_made_up_on_resume(navigate_small, tmp_path, monkeypatch):
    # Killed after the checkpoint at step 100 was written but before its periodic evaluation was: the resumed
    # run evaluates step 100 first, so its learning curve equals the uninterrupted run's.
    train_module = importlib.import_module("ethogram.train")  # the module (ethogram.train is the API function)

    def args(out):
        return ["train", "gcivl", "--dataset", str(navigate_small), "--out", str(out), "--steps", "200", "--seed",
                "1", "--fuse", "100", "--log-every", "100", "--save-every", "100", "--eval-every", "100",
                "--eval-episodes", "1", "--quiet", *SMALL_GCIVL]

    reference, run = tmp_path / "reference", tmp_path / "run"
    assert main(args(reference)) == 0
    evaluate = train_module.evaluate

    def interrupted(*a, **k):
        raise KeyboardInterrupt

    monkeypatch.setattr(train_module, "evaluate", interrupted)
    assert main(args(run)) == 130
    assert json.loads((run / "checkpoint.json").read_text())["step"] == 100 and not (run / "evals.csv").exists()
    monkeypatch.setattr(train_module, "evaluate", evaluate)
    assert main(["train", "--resume", str(run), "--quiet"]) == 0
    assert (run / "evals.csv").read_text() == (reference / "evals.csv").read_text()
    assert (run / "checkpoint.safetensors").read_bytes() == (reference / "checkpoint.safetensors").read_bytes()
