"""The benchmark scripts run and write what benchmarks/README.md says they write (smoke tests, not timings)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


@pytest.mark.slow
def test_bench_agents_quick_writes_rates_flops_and_the_matmul_peak(tmp_path):
    out = tmp_path / "agents.json"
    r = subprocess.run([sys.executable, str(REPO / "benchmarks" / "bench_agents.py"), "--quick", "--agents", "gcbc,qrl",
                        "--matmul", "float32", "--out", str(out)], capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr[-2000:]
    report = json.loads(out.read_text())
    assert report["matmul_peak_gflop_per_s"]["float32"] > 0
    for rec in report["results"]:
        ours = rec["ethogram"]["float32"]
        assert ours["steps_per_s"] > 0 and ours["flops_per_step"] > 0 and ours["finite"]
        assert rec["ogbench"]["status"] == "skipped"


def test_reference_learning_uses_the_published_dataset_settings_and_flags_any_mismatch():
    sys.path.insert(0, str(REPO / "benchmarks"))
    try:
        import reference_learning as ref
    finally:
        sys.path.pop(0)
    # Stitch datasets: half-random actor goals, as OGBench's hyperparameters.sh runs them; pointmaze alphas kept.
    assert ref.reference_overrides("hiql", "pointmaze-large-stitch") == {"actor_p_trajgoal": 0.5,
                                                                         "actor_p_randomgoal": 0.5}
    assert ref.reference_overrides("gciql", "pointmaze-medium-navigate") == {"alpha": 0.003}
    assert ref.reference_overrides("crl", "pointmaze-medium-stitch")["alpha"] == 0.03
    theirs = {"actor_p_randomgoal": 0.0, "actor_hidden_dims": [256, 256], "agent_name": "hiql"}
    ours = {"actor_p_randomgoal": 0.5, "actor_hidden_dims": (256, 256), "matmul": "float32"}
    assert ref.config_mismatches(theirs, ours) == {"actor_p_randomgoal": (0.0, 0.5)}
    assert ref.config_mismatches(theirs, {**ours, "actor_p_randomgoal": 0.0}) == {}
