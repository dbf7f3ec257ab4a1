"""Every `ethogram` command once, end to end, the way a user runs them."""

from __future__ import annotations

import json

import numpy as np
import ogbench
import pytest

from ethogram.cli import build_parser, main
from ethogram.config import TrainConfig


def test_collect_train_eval(tmp_path, capsys):
    data = tmp_path / "data" / "pm.npz"
    assert main(["collect", "pointmaze-medium-navigate-v0", "--episodes", "10", "--episode-steps", "101",
                 "--seed", "3", "--out", str(data), "--quiet"]) == 0
    out = capsys.readouterr().out
    assert f"wrote {data} (1000 transitions, 10 episodes)" in out
    assert ogbench.load_dataset(str(data))["observations"].shape == (1000, 2)
    assert json.loads(data.with_suffix(".json").read_text())["collect_config"]["seed"] == 3
    assert (tmp_path / "data" / "pm-val.npz").exists()

    run = tmp_path / "run"
    assert main(["train", "gcbc", "--dataset", str(data), "--out", str(run), "--steps", "200", "--fuse", "50",
                 "--log-every", "100", "--eval-every", "0", "--quiet", "--set", "batch_size=32",
                 "--set", "actor_hidden_dims=16"]) == 0
    out = capsys.readouterr().out
    assert "training gcbc on pointmaze-medium-navigate-v0 for 200 steps" in out
    assert f"ethogram eval {run}" in out
    assert json.loads((run / "checkpoint.json").read_text())["step"] == 200

    assert main(["eval", str(run), "--episodes", "2", "--seed", "1", "--quiet"]) == 0
    out = capsys.readouterr().out
    res = json.loads((run / "eval.json").read_text())
    assert "| task1 |" in out and "| task5 |" in out and f"{res['success']:.2f}" in out
    assert res["episodes_per_task"] == 2 and res["eval_seed"] == 1
    assert (run / "rollouts.png").read_bytes().startswith(b"\x89PNG")

    # summarize: the evaluated run becomes a results record with the published number beside it
    records_path = tmp_path / "results" / "r.json"
    assert main(["summarize", str(run), "--json", str(records_path), "--command", "the command"]) == 0
    out = capsys.readouterr().out
    (record,) = json.loads(records_path.read_text())
    assert {k: record[k] for k in ("agent", "dataset", "metric", "seeds", "train_steps", "command")} == {
        "agent": "gcbc", "dataset": "pointmaze-medium-navigate", "metric": "success", "seeds": [0],
        "train_steps": 200, "command": "the command"}
    assert record["mean"] == pytest.approx(res["success"]) and record["std"] == 0.0
    assert record["config"]["actor_hidden_dims"] == [16]
    assert "0.09 ± 0.06" in out  # published GCBC on pointmaze-medium-navigate


def test_summarize_a_run_without_eval_is_a_clear_error(tmp_path, capsys):
    (tmp_path / "run").mkdir()
    (tmp_path / "run" / "config.json").write_text("{}")
    assert main(["summarize", str(tmp_path / "run")]) != 0
    err = capsys.readouterr().err
    assert err.startswith("error:") and "eval.json" in err


def test_collect_defaults_to_ogbench_sizes_and_data_dir():
    args = build_parser().parse_args(["collect", "pointmaze-large-stitch"])
    assert args.episodes is None and args.episode_steps is None and args.out is None and args.seed == 0
    args = build_parser().parse_args(["train", "gcivl", "--dataset", "x.npz", "--out", "r"])
    # unset flags stay None, so that `--resume` can refuse the ones given; cmd_train fills TrainConfig's defaults
    assert (args.steps, args.eval_every, args.eval_episodes, args.fuse) == (None, None, None, None)
    d = TrainConfig()
    assert (d.steps, d.eval_every, d.eval_episodes, d.fuse) == (1_000_000, 100_000, 50, 100)


def run_demo_cli(out, capsys, eval_episodes: int) -> dict:
    assert main(["demo", "--out", str(out), "--episodes", "3", "--steps", "50"]) == 0
    stdout = capsys.readouterr().out
    assert "[5/5] writing the report" in stdout and f"report: {out / 'report.html'}" in stdout
    summary = json.loads((out / "summary.json").read_text())
    assert summary["episodes"] == 3 and summary["train_steps"] == 50 and summary["agent"] == "gcivl"
    assert 0.0 <= summary["success"] <= 1.0 and 0.0 <= summary["random_success"] <= 1.0
    assert summary["success"] == summary["search_success"] and 0.0 <= summary["agent_success"] <= 1.0
    assert "report.html" in json.loads((out / "summary.json").read_text())["files"]  # one set
    report = (out / "report.html").read_text()
    assert "search over gcivl" in report and "random" in report and "0.63 ± 0.06" in report  # published GCIVL
    assert (out / "search" / "graph.png").is_file() and "sns on pointmaze-medium-navigate" in report
    run = out / "run"
    for name in ("config.json", "metrics.csv", "checkpoint.safetensors", "eval.json", "rollouts.png",
                 "rollouts.npz"):
        assert (run / name).exists(), name
    assert json.loads((run / "eval.json").read_text())["episodes_per_task"] == eval_episodes
    data = list((out / "data").glob("*.npz"))
    assert data and np.load(data[0])["terminals"].sum() == 3
    return summary


def test_demo(tmp_path, capsys, monkeypatch):
    """The whole demo pipeline with a tiny dataset, 50 training steps and 2 evaluation episodes per task."""
    import ethogram.quickstart

    monkeypatch.setattr(ethogram.quickstart, "EVAL_EPISODES", 2)
    monkeypatch.setattr(ethogram.quickstart, "RANDOM_EPISODES", 2)
    out = tmp_path / "demo"
    run_demo_cli(out, capsys, eval_episodes=2)

    # a second demo into the same directory is refused and changes nothing
    before = {p: p.read_bytes() for p in out.rglob("*") if p.is_file()}
    assert main(["demo", "--out", str(out), "--episodes", "3", "--steps", "50"]) != 0
    err = capsys.readouterr().err
    assert err.startswith("error:") and "Traceback" not in err and "--force" in err
    assert {p: p.read_bytes() for p in out.rglob("*") if p.is_file()} == before


@pytest.mark.slow
def test_demo_with_the_full_evaluation_protocol(tmp_path, capsys):
    """Unpatched: 5 tasks x 50 episodes for the agent and for the random policy (about a minute)."""
    run_demo_cli(tmp_path / "demo", capsys, eval_episodes=50)
    assert main(["demo", "--out", str(tmp_path / "demo"), "--episodes", "3", "--steps", "50", "--force"]) == 0


def test_demo_with_another_agent_and_dataset(tmp_path, capsys, monkeypatch):
    """`--agent gcbc --dataset avoiding`: no learned distance and no maze, so no search stage (four stages)."""
    import ethogram.quickstart

    monkeypatch.setattr(ethogram.quickstart, "EVAL_EPISODES", 2)
    monkeypatch.setattr(ethogram.quickstart, "RANDOM_EPISODES", 2)
    out = tmp_path / "demo"
    assert main(["demo", "--out", str(out), "--agent", "gcbc", "--dataset", "avoiding", "--episodes", "20",
                 "--steps", "50", "--quiet", "--no-video"]) == 0
    stdout = capsys.readouterr().out
    assert "[4/4] writing the report" in stdout and "behavioural search" not in stdout
    summary = json.loads((out / "summary.json").read_text())
    assert summary["agent"] == "gcbc" and summary["search_success"] is None and not (out / "search").exists()
    assert "gcbc on avoiding-v0" in (out / "report.html").read_text()
    assert main(["demo", "--out", str(tmp_path / "other"), "--agent", "sns"]) == 2
    assert "no budget for agent 'sns'" in capsys.readouterr().err and not (tmp_path / "other").exists()


@pytest.mark.parametrize("args", [["--episodes", "0"], ["--steps", "0"], ["--episodes", "-2"]])
def test_demo_rejects_empty_sizes(tmp_path, capsys, args):
    assert main(["demo", "--out", str(tmp_path / "demo"), *args]) != 0
    err = capsys.readouterr().err
    assert err.startswith("error:") and "Traceback" not in err
    assert not (tmp_path / "demo").exists() or not any((tmp_path / "demo").iterdir())


def test_cli_without_a_command_shows_usage(capsys):
    assert main([]) != 0
    err = capsys.readouterr().err
    assert err.startswith("error:")
    assert "usage: ethogram" in err
