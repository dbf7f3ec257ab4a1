"""`ethogram reproduce`: the published table, as a sweep (sweep.py) with no hyperparameters swept.

A grid agents x datasets x seeds at the published protocol (1M steps, 3x512 nets, batch 1024, evaluations every
100k, each seed the mean of its evaluations at 800k, 900k and 1M steps) or at a reduced budget (`--steps`,
`--nets`, `--batch`), every run an ordinary run directory keyed by its whole configuration, trained and evaluated
by sweep.py's local engine, with OUT/results.md beside OGBench's published numbers.
"""

from __future__ import annotations

from pathlib import Path

from ethogram.errors import EthogramError
from ethogram.sweep import (  # noqa: F401  (the names reproduce's callers use)
    PUBLISHED_STEPS,
    Sweep,
    _run_pinned,
    agent_sets,
    net_fields,
    parse_nets,
    run_sweep,
    skipped_sets,
    validate_sweep,
    worker_cpus,
)

Grid = Sweep  # a reproduce grid is a sweep without swept values
validate_grid = validate_sweep


def reproduce(grid: Grid, out: str | Path = "runs/reproduce", data_dir: str | Path = "data", jobs: int = 2,
              json_path: str | Path | None = None, command: str = "", log=print, progress: bool = False) -> dict:
    """Run the grid (resumably) on the local engine and write the table beside the published numbers, the JSON
    records, the learning curves and the report (sweep.run_sweep)."""
    if grid.grid or grid.ranges:
        raise EthogramError("reproduce runs the published configurations; swept values are a sweep's.",
                            "use ethogram sweep SPEC.toml")
    return run_sweep(grid, out=out, data_dir=data_dir, jobs=jobs, engine="local", json_path=json_path,
                     command=command, log=log, progress=progress, title="reproduce")
