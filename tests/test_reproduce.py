"""`ethogram reproduce`: a grid of runs in worker processes, resumable, reported beside the published numbers."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from ethogram.cli import main
from ethogram.errors import EthogramError
from ethogram.reproduce import Grid, agent_sets, parse_nets, validate_grid

TINY = ["--steps", "100", "--nets", "16x2", "--batch", "32", "--eval-every", "50", "--eval-episodes", "1",
        "--dataset-episodes", "10", "--jobs", "2"]


@pytest.mark.parametrize("args, message", [
    (["--agents", "gcivl,sac", "--datasets", "pointmaze-medium-navigate"], "unknown agent 'sac'"),
    (["--agents", "gcivl", "--datasets", "pointmaze-tiny-navigate"], "unknown dataset 'pointmaze-tiny-navigate'"),
    (["--agents", "gcivl", "--datasets", "antmaze-large-sideways"], "unknown dataset 'antmaze-large-sideways'"),
    (["--agents", "gcivl", "--datasets", "pointmaze-medium-navigate", "--seeds", "0,x"], "--seeds"),
    (["--agents", "gcivl", "--datasets", "pointmaze-medium-navigate", "--nets", "wide"], "--nets"),
    (["--agents", "gcivl", "--datasets", "pointmaze-medium-navigate", "--jobs", "0"], "--jobs"),
    (["--agents", "", "--datasets", "pointmaze-medium-navigate"], "at least one agent"),
])
def test_bad_grids_are_clear_errors_before_anything_runs(args, message, tmp_path, capsys):
    assert main(["reproduce", *args, "--out", str(tmp_path / "out"), "--data-dir", str(tmp_path / "data")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and message in err
    assert not (tmp_path / "out").exists() and not (tmp_path / "data").exists()


def test_nets_and_overrides_apply_to_the_fields_each_agent_has():
    assert parse_nets("256x2") == (256, 256) and parse_nets("256,256,256") == (256,) * 3
    assert parse_nets("512x512x512") == (512,) * 3
    grid = Grid(("gcbc", "qrl"), ("pointmaze-medium-navigate",), hidden_dims=(64, 64), batch_size=128,
                sets={"latent_dim": "64"})
    assert agent_sets("gcbc", grid) == ["--set", "actor_hidden_dims=64,64", "--set", "batch_size=128"]
    assert set(agent_sets("qrl", grid)[1::2]) == {"latent_dim=64", "actor_hidden_dims=64,64",
                                                  "value_hidden_dims=64,64", "batch_size=128"}
    assert Grid(("gcbc",), ("pointmaze-medium-navigate",)).eval_interval == 100_000
    with pytest.raises(EthogramError, match="unknown agent"):
        validate_grid(Grid(("nope",), ("pointmaze-medium-navigate",)))


def test_reproduce_end_to_end_then_resume(tmp_path, capsys, monkeypatch):
    out, data = tmp_path / "runs", tmp_path / "data"
    argv = ["reproduce", "--agents", "gcbc", "--datasets", "pointmaze-medium-navigate", "--seeds", "0,1",
            *TINY, "--out", str(out), "--data-dir", str(data), "--json", str(tmp_path / "records.json")]
    assert main(argv) == 0
    first = capsys.readouterr()  # a bar over the grid's runs, and where each run's output goes
    assert "reproduce: 100%" in first.err.replace("\r", "\n") and "2/2" in first.err
    assert "<agent>-<key>-s<seed>.log" in first.out
    # collected because it was missing, named by its size (10 episodes, not OGBench's 1000)
    assert (data / "pointmaze-medium-navigate-v0-10ep.npz").exists()
    # every run is keyed by its whole configuration: <agent>-<key>-s<seed>, one key for both seeds
    runs = [next((out / "pointmaze-medium-navigate").glob(f"gcbc-*-s{s}")) for s in (0, 1)]
    assert len({r.name.rsplit("-", 1)[0] for r in runs}) == 1
    for run in runs:
        assert (run / "eval.json").exists() and (run / "evals.csv").exists()
        cfg = json.loads((run / "config.json").read_text())
        assert cfg["agent_config"]["actor_hidden_dims"] == [16, 16] and cfg["agent_config"]["batch_size"] == 32
        assert cfg["train_config"]["steps"] == 100
        assert cfg["train_config"]["save_every"] == 50  # a checkpoint at every evaluation
        # the final evaluation's episodes come from the run's seed, like its periodic evaluations
        assert json.loads((run / "eval.json").read_text())["eval_seed"] == cfg["train_config"]["seed"]
    (record,) = json.loads((tmp_path / "records.json").read_text())
    assert record["agent"] == "gcbc" and record["seeds"] == [0, 1] and record["train_steps"] == 100
    assert "reduced budget: 100 steps" in record["budget_text"]
    table = (out / "results.md").read_text()
    assert "| pointmaze-medium-navigate | gcbc |" in table and "0.09 ± 0.06" in table  # the published number
    assert (out / "success_vs_steps.png").read_bytes().startswith(b"\x89PNG")
    page = (out / "report.html").read_text()  # the grid's HTML report: its table, then every run's section
    assert "reduced budget: 100 steps" in page and "0.09 ± 0.06" in page and page.count("<h2>gcbc on") == 2

    # The published protocol's averaging of the last evaluations: final + the periodic one at step 50.
    import csv

    want = []
    for run in runs:
        with (run / "evals.csv").open() as f:
            (row,) = list(csv.DictReader(f))
        assert int(row["step"]) == 50
        want.append((float(row["success"]) + json.loads((run / "eval.json").read_text())["success"]) / 2)
    averaged = tmp_path / "averaged.json"
    assert main(["summarize", *map(str, runs), "--last-evals", "2", "--json", str(averaged)]) == 0
    (rec2,) = json.loads(averaged.read_text())
    assert rec2["evals_averaged"] == 2 and rec2["mean"] == pytest.approx(sum(want) / 2, abs=1e-4)
    assert main(["summarize", *map(str, runs), "--last-evals", "0"]) == 2
    assert "--last-evals" in capsys.readouterr().err

    # Resumable: finished runs are skipped; a run without its eval.json is continued and evaluated.
    (runs[1] / "eval.json").unlink()
    before = (runs[0] / "eval.json").read_bytes()
    capsys.readouterr()
    assert main([*argv, "--quiet"]) == 0
    printed, bars = capsys.readouterr()
    assert "seed 1: resumed and evaluated" in printed and "seed 0:" not in printed
    assert "reproduce:" not in bars
    assert (runs[0] / "eval.json").read_bytes() == before and (runs[1] / "eval.json").exists()

    # The budget tables (scripts/budget_table.py): steps -> minutes through a rates file, two configurations.
    import importlib.util

    spec = importlib.util.spec_from_file_location("budget_table", Path(__file__).parents[1] / "scripts" /
                                                  "budget_table.py")
    budget_table = importlib.util.module_from_spec(spec)
    monkeypatch.setitem(sys.modules, "budget_table", budget_table)  # its dataclass looks itself up there
    spec.loader.exec_module(budget_table)
    rates = tmp_path / "rates.json"
    rates.write_text(json.dumps({"results": [{"agent": "gcbc", "ethogram": {"float32": {"steps_per_s": 1.0}}}]}))
    slow = tmp_path / "slow.json"  # another machine: 0.5 steps/s, so only the step-50 evaluation fits in 2 minutes
    slow.write_text(json.dumps({"results": [{"agent": "gcbc", "ethogram": {"float32": {"steps_per_s": 0.5}}}]}))
    configs = [f"{name}={out}:{rates}" for name in ("a", "b")]
    main_json, cfg_json, png = tmp_path / "budget.json", tmp_path / "configs.json", tmp_path / "curves.png"
    doc = tmp_path / "results.md"
    doc.write_text("intro\n<!-- budget-table:main -->\nold\n<!-- /budget-table:main -->\nmiddle\n"
                   "<!-- budget-table:configs -->\n<!-- /budget-table:configs -->\nend\n")
    ledger = tmp_path / "ledger.json"
    table_args = ["--json", str(main_json), "--configs-json", str(cfg_json), "--plot", str(png), "--minutes", "2",
                  "--ledger", str(ledger), "--docs", str(doc), "--machine", f"slow={slow}"]
    assert budget_table.main([*(x for c in configs for x in ("--config", c)), *table_args]) == 0
    text = doc.read_text()
    assert "old" not in text and text.startswith("intro\n") and text.endswith("end\n")
    assert "| pointmaze-medium-navigate | gcbc | b |" in text.split("middle")[1]
    (rec,) = json.loads(main_json.read_text())
    assert rec["train_steps"] == 100 and rec["minutes_on_2_cores"] == pytest.approx(100 / 60, abs=0.01)
    (other,) = rec["other_machines"]
    assert other["machine"] == "slow" and other["train_steps"] == 50 and other["minutes_on_2_cores"] == 1.67
    assert f"| {other['mean']:.2f} ± {other['std']:.2f} (50) |" in doc.read_text()
    assert {r["configuration"] for r in json.loads(cfg_json.read_text())} == {"a", "b"}
    assert png.read_bytes().startswith(b"\x89PNG")
    # Every finished run is in the committed ledger, so the tables outlive the (git-ignored) run directories;
    # an aggregate (a curve without per-seed entries) fills a key only the per-seed entries do not (the
    # large-stitch row below).
    entries = json.loads(ledger.read_text())["runs"]
    assert sorted((e["configuration"], e["seed"]) for e in entries) == [("a", 0), ("a", 1), ("b", 0), ("b", 1)]
    assert all(set(e["success"]) == {"50", "100"} and e["dataset"] == "pointmaze-medium-navigate" for e in entries)
    tables = doc.read_text()
    data = json.loads(ledger.read_text())
    data["aggregates"] = [{"configuration": c, "dataset": ds, "agent": "gcbc", "seeds": [0, 1, 2], "steps": [50, 100],
                           "success_mean": [0.5, 0.25], "success_std": [0.1, 0.05], "config": {}}
                          for c, ds in (("a", "pointmaze-medium-navigate"), ("a", "pointmaze-large-stitch"))]
    ledger.write_text(json.dumps(data))
    empty = tmp_path / "moved-away"
    assert budget_table.main([*(x for n in ("a", "b") for x in ("--config", f"{n}={empty}:{rates}")),
                              *table_args]) == 0
    text = doc.read_text()
    assert "| pointmaze-large-stitch | gcbc | 0.25 ± 0.05 | 100 (1.7 min) | 0.50 ± 0.10 (50) | 3 |" in text
    for line in tables.splitlines():  # the per-seed rows are unchanged without their run directories
        assert line in text
    # What a grid script still has to run: the cells' seeds in neither the ledger nor an aggregate.
    capsys.readouterr()
    cells = "pointmaze-medium-navigate,pointmaze-large-stitch,pointmaze-giant-stitch"
    assert budget_table.main(["--config", f"a={empty}:{rates}", "--ledger", str(ledger), "--todo",
                              f"a:{cells}:gcbc:0,1,2"]) == 0
    assert capsys.readouterr().out.splitlines() == ["pointmaze-medium-navigate gcbc 2",
                                                    "pointmaze-giant-stitch gcbc 0,1,2"]
    names = ["pointmaze-large-stitch", "pointmaze-medium-stitch", "my-maze", "pointmaze-large-navigate",
             "pointmaze-medium-navigate"]
    assert sorted(names, key=budget_table.dataset_order) == [
        "pointmaze-medium-navigate", "pointmaze-medium-stitch", "pointmaze-large-navigate", "pointmaze-large-stitch",
        "my-maze"]

    # The same output directory with another budget makes new trials (another key): the old runs are neither
    # reused nor mixed into the new table.
    old = sorted(p.name for p in (out / "pointmaze-medium-navigate").iterdir())
    other = [a if a != "100" else "200" for a in argv]
    assert main([*other, "--quiet"]) == 0
    capsys.readouterr()
    new = sorted(p.name for p in (out / "pointmaze-medium-navigate").glob("gcbc-*-s[01]"))
    assert len(new) == 4 and set(old) <= {p.name for p in (out / "pointmaze-medium-navigate").iterdir()}
    (rec3,) = json.loads((tmp_path / "records.json").read_text())
    assert rec3["train_steps"] == 200 and rec3["seeds"] == [0, 1]


@pytest.mark.skipif(not hasattr(__import__("os"), "sched_setaffinity"), reason="no CPU affinity on this platform")
def test_parallel_workers_each_run_on_a_core_of_their_own(tmp_path):
    import os

    from ethogram.reproduce import _run_pinned, worker_cpus

    cpus = sorted(os.sched_getaffinity(0))
    assert worker_cpus(1) is None  # one run at a time keeps every core for XLA's thread pool
    assert worker_cpus(len(cpus) + 1) is None  # more workers than cores: no pinning rather than sharing a core
    if len(cpus) >= 2:
        assert worker_cpus(2) == cpus[:2]
    # The child sees one core from its first line on, so XLA (started later) sizes its thread pool to it.
    log = tmp_path / "child.log"
    with log.open("w") as fh:
        rc = _run_pinned([sys.executable, "-c", "import os; print(sorted(os.sched_getaffinity(0)))"], fh,
                         dict(os.environ), cpus[-1])
    assert rc == 0 and log.read_text().strip() == str([cpus[-1]])
