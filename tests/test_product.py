"""What a new user meets first: the command's help, version, messages, progress bars and the files each command
writes, checked through the command line on tiny real data."""

from __future__ import annotations

import argparse
import io
import json
import shutil
import subprocess
import sys

import numpy as np
import pytest

from ethogram import __version__, rundir
from ethogram.agents import AGENTS
from ethogram.cli import AGENT_NAMES, build_parser, main
from ethogram.envs import tasks
from ethogram.envs.registry import make_env
from ethogram.evaluate import metrics
from ethogram.evaluate.prompts import LabelledReward, file_reward_task
from ethogram.evaluate.run import eval_file, prompt_picture
from ethogram.report.curves import plot_run, step_label


def subcommands() -> list[str]:
    parser = build_parser()
    actions = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    return list(actions[0].choices)


def test_version(capsys):
    assert main(["--version"]) == 0
    assert capsys.readouterr().out.strip() == f"ethogram {__version__}"


@pytest.mark.parametrize("command", subcommands())
def test_every_command_help_ends_with_examples(command, capsys):
    assert main([command, "--help"]) == 0
    out = capsys.readouterr().out
    assert "\nexamples:\n" in out, command
    examples = out.split("\nexamples:\n", 1)[1].splitlines()
    assert any(line.strip().startswith(f"ethogram {command}") for line in examples), command


def test_the_commands_with_examples_are_all_there():
    assert {"collect", "train", "eval", "search", "repair", "summarize", "demo", "reproduce"} <= set(subcommands())


# ------------------------------------------------------------------ reward files and per-prompt evaluation files

def labels(path, rewards_of, n=2000, seed=0):
    """A reward file: random transitions over the maze labelled by `rewards_of(obs, next_obs)`."""
    rng = np.random.default_rng(seed)
    obs = rng.uniform(-1, 21, size=(n, 2)).astype(np.float32)
    nxt = obs + rng.uniform(-0.2, 0.2, size=(n, 2)).astype(np.float32)
    np.savez(path, observations=obs, next_observations=nxt, rewards=rewards_of(obs, nxt))
    return path


def test_a_labelled_reward_recovers_the_reward_it_was_labelled_with():
    env = make_env("pointmaze-medium")
    rng = np.random.default_rng(1)
    paths = np.cumsum(rng.uniform(-0.2, 0.2, size=(4, 60, 2)), axis=1) + 10.0  # inside the labelled square
    for name, features in (("move-east", "displacement"), ("approach", "position")):
        task = tasks.reward_tasks(env)[name]
        obs = rng.uniform(-1, 21, size=(4000, 2))
        nxt = obs + rng.uniform(-0.2, 0.2, size=(4000, 2))
        labelled = file_reward_task(env, "labels.npz", obs, nxt, task.reward(obs, nxt))
        fitted = labelled.reward
        assert fitted.scored and fitted.fit["features"] == features and fitted.fit["held_out_r2"] > 0.9, name
        true, estimate = metrics.episode_returns(task, paths), metrics.episode_returns(labelled, paths)
        assert np.allclose(estimate, true, rtol=0.2, atol=0.5), name
        assert fitted.coverage(paths) > 0.8 and fitted.coverage(10 * paths + 100.0) < 0.1  # steps or places unseen
    noise = LabelledReward(obs, nxt, rng.normal(size=len(obs)))
    assert not noise.scored and "R^2" in noise.fit["why"]
    assert not LabelledReward(obs[:5], nxt[:5], np.arange(5.0)).scored


@pytest.fixture(scope="module")
def hilp_tiny(tmp_path_factory, navigate_small):
    """600 steps of a tiny HILP: enough for its reward prompts to be answered (not answered well)."""
    run = tmp_path_factory.mktemp("hilp_tiny") / "run"
    assert main(["train", "hilp", "--dataset", str(navigate_small), "--out", str(run), "--steps", "600",
                 "--eval-every", "0", "--quiet", "--set", "batch_size=64", "--set", "actor_hidden_dims=32",
                 "--set", "value_hidden_dims=32", "--set", "latent_dim=8", "--set", "lr=2e-3",
                 "--set", "tau=0.05"]) == 0
    return run


def test_reward_prompts_each_keep_their_own_files(hilp_tiny, tmp_path, capsys):
    run = hilp_tiny
    east = labels(tmp_path / "east.npz", lambda o, n: n[:, 0] - o[:, 0])
    noise = labels(tmp_path / "noise.npz", lambda o, n: np.random.default_rng(2).normal(size=len(o)))
    for spec in ("reward:move-east", f"reward-file:{east}", f"reward-file:{noise}"):
        assert main(["eval", str(run), "--prompt", spec, "--episodes", "3", "--quiet", "--no-video"]) == 0
    out = capsys.readouterr().out
    names = {"move-east": "eval-reward-move-east.json", "east": "eval-reward-file-east.json",
             "noise": "eval-reward-file-noise.json"}
    ev = {k: json.loads((run / v).read_text()) for k, v in names.items()}
    for picture in ("reward-move-east.png", "reward-file-east.png", "reward-file-noise.png"):
        assert (run / picture).read_bytes().startswith(b"\x89PNG")
    assert not (run / "eval-reward.json").exists()

    # The labels of move-east score the same random policy (same starts, same seed) as move-east itself.
    truth, scored = ev["move-east"]["tasks"]["move-east"], ev["east"]["tasks"]["east.npz"]
    assert scored["scored"] and scored["scoring"]["held_out_r2"] > 0.9
    assert scored["random"]["return_mean"] == pytest.approx(truth["random"]["return_mean"], rel=0.2, abs=0.5)
    assert set(scored["scoring"]["coverage"]) == {"agent", "random"}
    assert "held-out R^2" in out

    # Labels that nothing about the maze explains: answered, drawn, and plainly not scored.
    unscored = ev["noise"]["tasks"]["noise.npz"]
    assert unscored["scored"] is False and "agent" not in unscored and "random" not in unscored
    assert "noise.npz: answered but not scored" in out and "0.0 ± 0.0" not in out

    # summarize reads every one of them; train --force removes every one of them.
    for name in names.values():
        assert main(["summarize", str(run), "--eval-file", name]) == 0
    table = capsys.readouterr().out
    assert "east.npz" in table and "move-east" in table
    assert main(["summarize", str(run), "--eval-file", "eval-reward-../x.json"]) == 2
    copy = tmp_path / "copy"
    shutil.copytree(run, copy)
    rundir.create(copy, force=True)
    assert not [p.name for p in copy.iterdir() if p.name.startswith(("eval", "reward", "rollouts"))]


def test_each_prompt_spec_names_its_files():
    assert [eval_file(s) for s in ("goal", "reward:all", "reward:approach", "reward-file:a/b c.npz", "demo:all",
                                   "demo:demo2", "demo-file:/x/my demo.npz")] == [
        "eval.json", "eval-reward.json", "eval-reward-approach.json", "eval-reward-file-b_c.json", "eval-demo.json",
        "eval-demo-demo2.json", "eval-demo-file-my_demo.json"]
    assert prompt_picture("reward-file:a/b c.npz") == "reward-file-b_c.png" and prompt_picture("demo:all") == "demo.png"


# ------------------------------------------------------------------------------------------ resuming a run

TINY = ["--set", "batch_size=32", "--set", "actor_hidden_dims=16", "--set", "value_hidden_dims=16"]


def tiny_train(dataset, out, steps=40, *extra):
    argv = ["train", "gcivl", "--dataset", str(dataset), "--out", str(out), "--steps", str(steps), "--fuse", "20",
            "--log-every", "20", "--eval-every", "0", "--quiet", *TINY, *extra]
    assert main(argv) == 0
    return out


def test_the_parser_names_every_agent():
    assert set(AGENT_NAMES) == set(AGENTS)


def test_a_finished_run_is_extended_with_steps(navigate_small, tmp_path, capsys):
    run = tiny_train(navigate_small, tmp_path / "run")
    assert rundir.checkpoint_step(run) == 40
    assert main(["train", "--resume", str(run), "--steps", "80", "--quiet"]) == 0
    assert "80 steps (40 in this call)" in capsys.readouterr().out
    assert rundir.checkpoint_step(run) == 80 and rundir.read_config(run)["train_config"]["steps"] == 80
    assert [int(r["step"]) for r in rundir.csv_rows(run / "metrics.csv")] == [20, 40, 60, 80]
    assert main(["train", "--resume", str(run), "--steps", "60", "--quiet"]) == 2
    assert "fewer than the 80 steps" in capsys.readouterr().err


def test_resuming_a_finished_run_says_so_without_loading_jax(navigate_small, tmp_path):
    run = tiny_train(navigate_small, tmp_path / "run")
    before = (run / "checkpoint.safetensors").read_bytes()
    code = ("import sys; from ethogram.cli import main; rc = main(['train', '--resume', sys.argv[1]]); "
            "print('jax loaded:', 'jax' in sys.modules); sys.exit(rc)")
    proc = subprocess.run([sys.executable, "-c", code, str(run)], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert "is finished" in proc.stdout and f"--resume {run} --steps 80" in proc.stdout
    assert "jax loaded: False" in proc.stdout
    assert (run / "checkpoint.safetensors").read_bytes() == before


# ------------------------------------------------------------------------------------------------ search runs

@pytest.fixture(scope="module")
def search_run(tmp_path_factory):
    """An online search of pointmaze-medium with a budget of 3000 env steps per task, and its stderr."""
    run = tmp_path_factory.mktemp("search") / "run"
    with pytest.MonkeyPatch.context() as mp:
        err = io.StringIO()
        mp.setattr(sys, "stderr", err)
        assert main(["search", "pointmaze-medium", "--out", str(run), "--steps", "3000"]) == 0
    return run, err.getvalue()


def test_the_search_bar_ends_at_what_the_search_did(search_run):
    _, err = search_run
    last = err.replace("\r", "\n").strip().splitlines()[-1]
    assert "100%" in last and "15.0k/15.0k" in last and "task 5 (5/5)" in last


def test_eval_plan_of_a_search_run_is_refused_and_writes_nothing(search_run, capsys):
    run, _ = search_run
    before = {p.name: p.read_bytes() for p in run.iterdir()}
    assert main(["eval", str(run), "--plan", "--episodes", "1", "--quiet"]) == 2
    err = capsys.readouterr().err
    assert "is a search run" in err and f"without --plan: ethogram eval {run}" in err
    assert {p.name: p.read_bytes() for p in run.iterdir()} == before


# --------------------------------------------------------------------------------------------- progress bars

def test_the_training_bar_names_each_loss(navigate_small, tmp_path, capsys):
    argv = ["train", "gcivl", "--dataset", str(navigate_small), "--out", str(tmp_path / "run"), "--steps", "40",
            "--fuse", "20", "--log-every", "20", "--eval-every", "0", *TINY]
    assert main(argv) == 0
    err = capsys.readouterr().err
    assert "value_loss=" in err and "actor_loss=" in err and " loss=" not in err


# ------------------------------------------------------------------------------------------------- pictures

def test_the_learning_curve_ends_with_the_final_evaluation(navigate_small, tmp_path):
    run = tiny_train(navigate_small, tmp_path / "run", 40, "--eval-every", "20", "--eval-episodes", "1")
    assert main(["eval", str(run), "--episodes", "1", "--quiet", "--no-video"]) == 0
    final = json.loads((run / "eval.json").read_text())
    points = plot_run(run, tmp_path / "curve.png")
    assert sorted(points) == [20, 40] and points[40] == final["success"]
    assert (tmp_path / "curve.png").read_bytes().startswith(b"\x89PNG")
    assert [step_label(x) for x in (800, 20_000, 1_500_000)] == ["800", "20k", "1.5M"]


@pytest.mark.parametrize("command", ["collect", "train", "eval", "search", "demo", "reproduce"])
def test_every_command_with_a_bar_has_quiet(command, capsys):
    assert main([command, "--help"]) == 0
    assert "--quiet" in capsys.readouterr().out


def test_collect_says_where_it_writes_first_and_quiet_turns_its_bar_off(tmp_path, capsys):
    out = tmp_path / "d.npz"
    base = ["collect", "pointmaze-medium-navigate", "--episodes", "2", "--episode-steps", "11", "--out", str(out)]
    assert main(base) == 0
    printed, bar = capsys.readouterr()
    assert printed.splitlines()[0] == f"collecting pointmaze-medium-navigate-v0: 2 episodes of 11 steps -> {out}"
    assert "100%" in bar
    assert main([*base, "--force", "--quiet"]) == 0
    assert capsys.readouterr().err == ""


def test_eval_says_where_it_writes_first(navigate_small, tmp_path, capsys):
    run = tiny_train(navigate_small, tmp_path / "run", 20)
    capsys.readouterr()
    assert main(["eval", str(run), "--episodes", "1", "--no-video"]) == 0
    printed, bar = capsys.readouterr()
    assert printed.splitlines()[0] == f"evaluating {run} (goal, 1 episodes per task) -> {run / 'eval.json'}"
    assert "evaluate" in bar and "100%" in bar
