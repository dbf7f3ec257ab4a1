"""`ethogram sweep`: specs (grid and random search), every bad spec a clear error before anything runs, trials
keyed by their whole configuration, the local engine, and Ray Tune on a local instance of 2 CPUs (ASHA
included)."""

from __future__ import annotations

import json
import sys

import helpers
import pytest

from ethogram.cli import main
from ethogram.errors import EthogramError
from ethogram.sweep import Range, Sweep, points, read_spec, spec_from_dict, validate_sweep

NAV = "pointmaze-medium-navigate"
TINY = {"steps": 40, "nets": "8x2", "batch": 16, "eval_every": 20, "eval_episodes": 1, "dataset_episodes": 6,
        "fuse": 10}


def fails(capsys, *argv, match: str) -> str:
    return helpers.fails(capsys, *argv, match=match, starts_with_error=False)


def write(path, text: str):
    path.write_text(text)
    return path


def test_a_spec_with_a_grid_and_random_ranges(tmp_path):
    spec = read_spec(write(tmp_path / "s.toml", f"""
agents = ["gcivl", "gcbc"]
datasets = ["{NAV}"]
seeds = [0, 1]
steps = 100
nets = "16x2"
[set]
discount = 0.98
[grid]
batch_size = [16, 32]
[random.lr]
low = 1e-4
high = 1e-2
log = true
[random.expectile]
low = 0.6
high = 0.95
"""))
    spec = Sweep(**{**spec.__dict__, "samples": 3})
    pts = points(spec)
    assert len(pts) == 2 * 3 and pts == points(spec)  # every grid point with each draw, the same every time
    assert {p["batch_size"] for p in pts} == {"16", "32"}
    assert all(1e-4 <= float(p["lr"]) <= 1e-2 and 0.6 <= float(p["expectile"]) <= 0.95 for p in pts)
    assert len({p["lr"] for p in pts}) == 3 and spec.sets == {"discount": "0.98"} and spec.hidden_dims == (16, 16)
    validate_sweep(spec)  # gcbc has no expectile: it runs without it
    assert Range(1, 10, integer=True).draw(__import__("numpy").random.default_rng(0)) in range(1, 11)
    assert read_spec(write(tmp_path / "s.json", json.dumps({"agents": ["gcbc"], "datasets": [NAV]}))).seeds == (0, 1, 2)


@pytest.mark.parametrize("spec, match", [
    ({"agents": ["sac"], "datasets": [NAV]}, "unknown agent 'sac'"),
    ({"agents": ["gcbc"], "datasets": ["pointmaze-tiny-navigate"]}, "unknown dataset"),
    ({"agents": ["gcbc"], "datasets": [NAV], "budget": 3}, "unknown key(s) budget"),
    ({"agents": ["gcbc"], "datasets": [NAV], "grid": {"expectile": [0.7]}}, "no agent of the sweep"),
    ({"agents": ["gcbc"], "datasets": [NAV], "grid": {"lr": []}}, "non-empty list"),
    ({"agents": ["gcbc"], "datasets": [NAV], "random": {"lr": {"low": 1e-2, "high": 1e-3}}}, "is empty"),
    ({"agents": ["gcbc"], "datasets": [NAV], "random": {"lr": {"low": 0, "high": 1e-3, "log": True}}}, "low > 0"),
    ({"agents": ["gcbc"], "datasets": [NAV], "random": {"lr": {"high": 1e-3}}}, "low and high"),
    ({"agents": ["gcbc"], "datasets": [NAV], "samples": 2}, "draws from no range"),
    ({"agents": ["gcbc"], "datasets": [NAV], "grid": {"batch_size": [0]}}, "batch_size"),
    ({"agents": ["gcbc"], "datasets": [NAV], "grid": {"lr": ["fast"]}}, "lr"),
    ({"agents": ["gcbc"], "datasets": [NAV], "seeds": [0, 0]}, "repeat a seed"),
    ({"agents": ["gcbc"], "datasets": [NAV], "seeds": []}, "non-empty list"),
])
def test_bad_specs_are_clear_errors_before_anything_runs(spec, match, tmp_path, capsys):
    path = write(tmp_path / "bad.json", json.dumps(spec))
    fails(capsys, "sweep", path, "--out", tmp_path / "out", "--data-dir", tmp_path / "data", match=match)
    assert not (tmp_path / "out").exists() and not (tmp_path / "data").exists()


def test_unreadable_specs_and_engine_options(tmp_path, capsys, monkeypatch):
    fails(capsys, "sweep", tmp_path / "none.toml", match="does not exist")
    fails(capsys, "sweep", write(tmp_path / "x.toml", "agents = [gcbc"), match="cannot be read")
    ok = write(tmp_path / "ok.json", json.dumps({"agents": ["gcbc"], "datasets": [NAV], **TINY}))
    fails(capsys, "sweep", ok, "--asha", "--out", tmp_path / "o", "--data-dir", tmp_path / "d",
          match="--engine ray")
    fails(capsys, "sweep", ok, "--engine", "dask", match="invalid choice")
    monkeypatch.setitem(sys.modules, "ray", None)  # as if the extra were not installed
    fails(capsys, "sweep", ok, "--engine", "ray", "--out", tmp_path / "o", "--data-dir", tmp_path / "d",
          match="pip install 'ethogram[ray]'")
    assert not (tmp_path / "o").exists() and not (tmp_path / "d").exists()
    with pytest.raises(EthogramError, match="swept values"):
        from ethogram.reproduce import reproduce

        reproduce(spec_from_dict({"agents": ["gcbc"], "datasets": [NAV], "grid": {"lr": [1e-3]}}), tmp_path / "r")


def test_a_local_sweep_keys_every_trial_by_its_configuration(tmp_path, capsys):
    spec = write(tmp_path / "s.json", json.dumps({"agents": ["gcbc"], "datasets": [NAV], "seeds": [0],
                                                  "grid": {"lr": [1e-3, 3e-3]}, **TINY}))
    assert main(["sweep", str(spec), "--dry-run"]) == 0
    assert "lr=0.001" in capsys.readouterr().out
    out = tmp_path / "out"
    argv = ["sweep", str(spec), "--out", str(out), "--data-dir", str(tmp_path / "data"), "--quiet",
            "--json", str(tmp_path / "r.json")]
    assert main(argv) == 0
    trials = sorted((out / NAV).glob("gcbc-*-s0"))
    assert len(trials) == 2 and all((t / "eval.json").exists() for t in trials)
    lrs = sorted(json.loads((t / "config.json").read_text())["agent_config"]["lr"] for t in trials)
    assert lrs == [1e-3, 3e-3]
    records = json.loads((tmp_path / "r.json").read_text())
    assert sorted(r["config"]["lr"] for r in records if r["metric"] == "success") == [1e-3, 3e-3]
    assert all(r["dataset_episodes"] == 6 for r in records)
    table = (out / "results.md").read_text()
    assert "| swept |" in table and "lr=0.001" in table and "lr=0.003" in table
    capsys.readouterr()
    assert main(argv) == 0  # resumable: finished trials are not run again
    assert "trained and evaluated" not in capsys.readouterr().out


def test_ray_tune_runs_the_same_trials_on_a_local_instance(tmp_path, capsys):
    """Ray Tune (2 CPUs, started and stopped here) trains and evaluates ordinary run directories; with ASHA the
    trials report their periodic evaluations and every trial ends finished or stopped early."""
    pytest.importorskip("ray.tune")
    spec = write(tmp_path / "s.json", json.dumps({"agents": ["gcbc"], "datasets": [NAV], "seeds": [0],
                                                  "grid": {"lr": [1e-3, 3e-3]}, **TINY}))
    out = tmp_path / "out"
    assert main(["sweep", str(spec), "--engine", "ray", "--asha", "--jobs", "2", "--out", str(out),
                 "--data-dir", str(tmp_path / "data"), "--quiet", "--json", str(tmp_path / "r.json")]) == 0
    printed = capsys.readouterr().out
    trials = sorted((out / NAV).glob("gcbc-*-s0"))
    assert len(trials) == 2
    finished = [t for t in trials if (t / "eval.json").exists()]
    stopped = [t for t in trials if not (t / "eval.json").exists()]
    assert finished and all((t / "evals.csv").exists() for t in trials)
    assert f"{len(finished)} of 2 runs evaluated" in printed
    assert all(json.loads((t / "checkpoint.json").read_text())["step"] >= 20 for t in stopped)
    records = json.loads((tmp_path / "r.json").read_text())
    assert {r["agent"] for r in records} == {"gcbc"}
    assert (out / "ray" / "tune").is_dir()  # Tune's own experiment directory, beside the trials
