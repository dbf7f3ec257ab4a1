"""Results records that can be trusted (report/results.py, `ethogram summarize`): one record per whole
configuration, never a run counted twice, never runs evaluated differently or trained on different data merged,
never a silent average of fewer evaluations than asked; each record says what makes it comparable and what its
± covers, with rliable's IQM and bootstrap intervals beside mean ± std."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
from helpers import collect_small, fails

from ethogram.cli import main
from ethogram.report.results import aggregate, interval_estimates, iqm, trial_key

TINY = ["--steps", "40", "--fuse", "10", "--log-every", "20", "--set", "batch_size=16", "--quiet",
        "--set", "actor_hidden_dims=8,8", "--eval-every", "20", "--eval-episodes", "1"]


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """Three seeds of one tiny configuration on a 12-episode pointmaze-medium-navigate file, each evaluated with 2
    episodes per task, and a fourth run on another file of the same name."""
    root = tmp_path_factory.mktemp("records")
    data = root / "a" / "pointmaze-medium-navigate-v0.npz"
    collect_small("pointmaze-medium-navigate", data, episodes=12, episode_steps=51)
    other = root / "b" / "pointmaze-medium-navigate-v0.npz"
    collect_small("pointmaze-medium-navigate", other, episodes=8, episode_steps=51, seed=1)
    dirs = []
    for seed in (0, 1, 2):
        run = root / f"gcbc-s{seed}"
        assert main(["train", "gcbc", "--dataset", str(data), "--out", str(run), "--seed", str(seed), *TINY]) == 0
        assert main(["eval", str(run), "--episodes", "2", "--quiet", "--no-video"]) == 0
        dirs.append(run)
    odd = root / "gcbc-other-data"
    assert main(["train", "gcbc", "--dataset", str(other), "--out", str(odd), *TINY]) == 0
    assert main(["eval", str(odd), "--episodes", "2", "--quiet", "--no-video"]) == 0
    return root, dirs, odd


def test_how_often_a_run_saved_does_not_split_its_seeds():
    """Checkpoint and log intervals that keep every chunk `fuse` steps long change nothing that is learned, so
    seeds saved every 10k and every 40k steps are one configuration; an interval that cuts chunks differently,
    and anything else that differs, is another."""
    def cfg(**tc):
        base = {"steps": 40000, "seed": 0, "fuse": 100, "log_every": 1000, "eval_every": 0, "save_every": 40000}
        return {"agent": "hiql", "agent_config": {"batch_size": 256}, "train_config": {**base, **tc},
                "dataset_sha256": "ab", "env": "antmaze-medium"}
    assert trial_key(cfg()) == trial_key(cfg(seed=1, save_every=10000, log_every=500))
    assert trial_key(cfg()) == trial_key(cfg(drop_falls=0))  # a setting that is off: as before it existed
    assert trial_key(cfg()) != trial_key(cfg(drop_falls=25))
    assert trial_key(cfg()) != trial_key(cfg(save_every=10050))
    assert trial_key(cfg()) != trial_key(cfg(steps=20000))
    assert trial_key(cfg()) != trial_key(cfg(eval_every=10000))


def test_iqm_and_stratified_bootstrap_intervals():
    scores = np.array([[0.0, 1.0, 0.5, 0.5], [1.0, 1.0, 0.5, 0.0], [0.5, 0.5, 0.5, 1.0]])
    flat = np.sort(scores.ravel())
    assert iqm(scores) == pytest.approx(flat[3:9].mean())
    est = interval_estimates(scores)
    assert est == interval_estimates(scores)  # seeded: the same intervals every time
    assert est["iqm_ci95"][0] <= est["iqm"] <= est["iqm_ci95"][1]
    assert est["mean_ci95"][0] <= scores.mean() <= est["mean_ci95"][1]
    assert interval_estimates(np.ones((3, 5)))["iqm_ci95"] == [1.0, 1.0]
    assert interval_estimates(scores[:1]) is None  # one seed: no interval over seeds


def test_a_record_says_what_makes_it_comparable(runs, capsys, tmp_path):
    _, dirs, _ = runs
    out = tmp_path / "records.json"
    assert main(["summarize", *map(str, dirs), "--json", str(out), "--command", "test"]) == 0
    table = capsys.readouterr().out
    (rec,) = json.loads(out.read_text())
    assert rec["seeds"] == [0, 1, 2] and rec["eval_episodes_per_task"] == 2 and rec["task_set"] == "published"
    assert rec["dataset_episodes"] == 12 and rec["dataset_transitions"] == 12 * 50
    assert len(rec["dataset_sha256"]) == 64 and rec["budget"] == {"steps": 40, "batch_size": 16, "nets": [8, 8]}
    assert rec["eval_seeds"] == [0] and "3 training seed(s)" in rec["std_covers"]
    assert "5 tasks x 2 episodes" in rec["std_covers"]
    assert rec["iqm_ci95"][0] <= rec["iqm"] <= rec["iqm_ci95"][1] and "bootstrap" in rec["ci"]
    assert "| 12 ep (OGBench 1000) |" in table and "published, 2/task" in table
    # --last-evals 2: the final evaluation and the one periodic evaluation before it
    assert main(["summarize", *map(str, dirs), "--last-evals", "2", "--json", str(out)]) == 0
    (two,) = json.loads(out.read_text())
    assert two["evals_averaged"] == 2 and "averaged over its last 2 evaluations" in two["std_covers"]


def test_summaries_that_cannot_be_trusted_are_refused(runs, capsys, tmp_path):
    root, dirs, odd = runs
    out = tmp_path / "records.json"
    fails(capsys, "summarize", dirs[0], dirs[0], dirs[0], "--json", out, match="is given 3 times")
    copy = tmp_path / "gcbc-s0-copy"
    shutil.copytree(dirs[0], copy)
    fails(capsys, "summarize", dirs[0], copy, "--json", out, match="with the same seed 0")
    fails(capsys, "summarize", *dirs, odd, "--json", out, match="two different datasets named")
    fails(capsys, "summarize", *dirs, "--last-evals", "3", "--json", out, match="has 1 periodic evaluation")
    assert not out.exists()  # nothing written by a refused summary
    again = tmp_path / "gcbc-s2-five"
    shutil.copytree(dirs[2], again)
    assert main(["eval", str(again), "--episodes", "3", "--quiet", "--no-video"]) == 0
    capsys.readouterr()
    fails(capsys, "summarize", dirs[0], dirs[1], again, match="different episodes per task (2 and 3)")
    # held-out evaluations are their own records, never merged with the published ones
    for d in dirs:
        assert main(["eval", str(d), "--tasks", "heldout", "--episodes", "2", "--quiet", "--no-video"]) == 0
    capsys.readouterr()
    (held,) = aggregate(dirs, command="", eval_file="eval-heldout.json")
    assert held["task_set"] == "heldout" and held["seeds"] == [0, 1, 2]
    assert main(["summarize", *map(str, dirs), "--eval-file", "eval-heldout.json"]) == 0
    assert "| n/a |" in capsys.readouterr().out  # no published number beside a held-out row


def test_ours_is_compared_with_the_published_number_two_sided():
    from ethogram.report.results import versus_published

    assert versus_published(0.60, 0.63, 0.06) == "within one published std"
    assert versus_published(0.69, 0.63, 0.06) == "within one published std"
    assert versus_published(0.82, 0.29, 0.07) == "above (7.6 stds)"
    assert versus_published(0.40, 0.63, 0.06) == "below (3.8 stds)"
    assert versus_published(0.05, 0.0, 0.0) == "above" and versus_published(0.0, 0.0, 0.0).startswith("within")
