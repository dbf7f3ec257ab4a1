"""The benchmark scripts run and write what benchmarks/README.md says they write (smoke tests, not timings).

They are modules of the `benchmarks` package, run from the repository root (`python -m benchmarks.NAME`).
"""

from __future__ import annotations

import importlib
import json
import subprocess
import sys
from pathlib import Path

import jax
import pytest

REPO = Path(__file__).resolve().parents[1]


def benchmark_module(name: str, monkeypatch):
    """benchmarks.NAME imported as `python -m` from the repository root would import it."""
    monkeypatch.syspath_prepend(str(REPO))
    return importlib.import_module(f"benchmarks.{name}")


@pytest.mark.slow
def test_bench_agents_quick_writes_rates_flops_and_the_matmul_peak(tmp_path):
    out = tmp_path / "agents.json"
    r = subprocess.run([sys.executable, "-m", "benchmarks.bench_agents", "--quick", "--agents", "gcbc,qrl",
                        "--matmul", "float32", "--out", str(out)], capture_output=True, text=True, timeout=600,
                       cwd=REPO)
    assert r.returncode == 0, r.stderr[-2000:]
    report = json.loads(out.read_text())
    assert report["matmul_peak_gflop_per_s"]["float32"] > 0
    assert "cpu_model" in report["machine"] and "cpu_flags" in report["machine"]
    for rec in report["results"]:
        ours = rec["ethogram"]["float32"]
        assert ours["steps_per_s"] > 0 and ours["flops_per_step"] > 0 and ours["finite"]
        assert rec["ogbench"]["status"] == "skipped"


def test_reference_learning_uses_the_published_dataset_settings_and_flags_any_mismatch(monkeypatch):
    ref = benchmark_module("reference_learning", monkeypatch)
    # Stitch datasets: half-random actor goals, as OGBench's hyperparameters.sh runs them; pointmaze alphas kept.
    assert ref.reference_overrides("hiql", "pointmaze-large-stitch") == {"actor_p_trajgoal": 0.5,
                                                                         "actor_p_randomgoal": 0.5}
    assert ref.reference_overrides("gciql", "pointmaze-medium-navigate") == {"alpha": 0.003}
    assert ref.reference_overrides("crl", "pointmaze-medium-stitch")["alpha"] == 0.03
    # Antmaze: OGBench's get_config() alphas (no pointmaze ones), giant mazes' discount.
    assert ref.reference_overrides("gciql", "antmaze-medium-navigate") == {"alpha": 0.3}
    assert ref.reference_overrides("hiql", "antmaze-giant-navigate") == {"discount": 0.995}
    theirs = {"actor_p_randomgoal": 0.0, "actor_hidden_dims": [256, 256], "agent_name": "hiql"}
    ours = {"actor_p_randomgoal": 0.5, "actor_hidden_dims": (256, 256), "matmul": "float32"}
    assert ref.config_mismatches(theirs, ours) == {"actor_p_randomgoal": (0.0, 0.5)}
    assert ref.config_mismatches(theirs, {**ours, "actor_p_randomgoal": 0.0}) == {}


def test_the_reference_runs_with_impls_on_its_pythonpath_and_reports_a_missing_checkout(tmp_path, monkeypatch):
    ogb = benchmark_module("ogbench_reference", monkeypatch)
    assert "sys.path" not in ogb.SETUP  # impls/ reaches the subprocess through PYTHONPATH only
    assert "not OGBench's impls/" in ogb.check_impls(tmp_path)
    impls, py, why = ogb.resolve(tmp_path, sys.executable)
    assert impls is None and py is None and "not OGBench's impls/" in why
    # A stand-in impls/: the snippet sees it on PYTHONPATH, from a working directory elsewhere.
    (tmp_path / "probe_module.py").write_text("VALUE = 7\n")
    monkeypatch.setattr(ogb, "SETUP", "import json, sys\nargs = json.loads(sys.argv[1])\n")
    r = ogb.run("import probe_module\njson.dump({'value': probe_module.VALUE}, open(args['out'], 'w'))\n", {},
                impls=tmp_path, python=sys.executable, timeout_s=120)
    assert r == {"status": "ok", "value": 7}


def test_init_agent_and_the_published_overrides_work_with_either_ethogram_api(monkeypatch):
    common = benchmark_module("common", monkeypatch)
    from ethogram.agents import get_agent

    agent = get_agent("gcbc")
    state = common.init_agent(agent, jax.random.PRNGKey(0), 2, 2, common.sized_config(agent, (8,), 4))
    assert "params" in state
    assert common.published_overrides("gcivl", "stitch", "medium", "point") == {"actor_p_trajgoal": 0.5,
                                                                                "actor_p_randomgoal": 0.5}
    assert common.published_overrides("gcivl", "navigate", "giant", "point") == {"discount": 0.995}


@pytest.mark.slow
def test_bench_beso_quick_writes_every_sampler(tmp_path):
    out = tmp_path / "beso.json"
    r = subprocess.run([sys.executable, "-m", "benchmarks.bench_beso", "--quick", "--out", str(out)],
                       capture_output=True, text=True, timeout=600, cwd=REPO)
    assert r.returncode == 0, r.stderr
    res = json.loads(out.read_text())
    assert [(s["sampler"], s["steps"]) for s in res["sampling"]] == [("ddim", 1), ("ddim", 3), ("ddim", 10),
                                                                    ("ddpm", 25)]
    assert all(s["ms_per_call"] > 0 for s in res["sampling"]) and res["train"]["steps_per_s"] > 0


def test_bench_search_quick_times_build_search_and_the_dense_reference(tmp_path, navigate_small):
    """A HILP run (a metric embedding) trained for a few steps; the benchmark builds two graphs over the dataset and
    runs the search agent in the maze for a few steps at each size."""
    from ethogram.cli import main

    ctrl = tmp_path / "hilp"
    assert main(["train", "hilp", "--dataset", str(navigate_small), "--out", str(ctrl), "--steps", "200",
                 "--eval-every", "0", "--quiet", "--set", "batch_size=64", "--set", "value_hidden_dims=32,32",
                 "--set", "actor_hidden_dims=32,32"]) == 0
    out = tmp_path / "search.json"
    r = subprocess.run([sys.executable, "-m", "benchmarks.bench_search", "--quick", "--dataset", str(navigate_small),
                        "--controller", str(ctrl), "--out", str(out),
                        "--planners", "astar,dijkstra,astar:insert_out=4;plan_share=10"],
                       capture_output=True, text=True, timeout=600, cwd=REPO)
    assert r.returncode == 0, r.stderr[-2000:]
    res = json.loads(out.read_text())
    assert res["metric_embedding"] and res["controller_agent"] == "hilp" and len(res["results"]) == 2
    for rec in res["results"]:
        assert 2 <= rec["nodes"] <= rec["nodes_asked"] and rec["edges"] > 0 and rec["build_s"] > 0
        assert rec["reference_dense_ms_per_plan"] is not None
        assert [r["planner"] for r in rec["runs"]] == ["astar", "dijkstra", "astar:insert_out=4;plan_share=10"]
        assert rec["runs"][2]["settings"] == {"insert_out": "4", "plan_share": "10"}
        for run in rec["runs"]:
            assert run["steps"] == 10 and run["search_ms_per_step"] >= run["plan_ms_per_step"] >= 0
            assert run["nodes_after"] >= rec["nodes"] and run["match_ms_per_step"] >= 0
        assert rec["runs"][0]["astar"]["searches"] > 0
