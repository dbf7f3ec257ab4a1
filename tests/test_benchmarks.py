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
