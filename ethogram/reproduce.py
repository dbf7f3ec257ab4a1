"""Many runs: a grid agents x datasets x seeds, trained and evaluated in parallel worker processes.

`ethogram reproduce` is this module. Each run is an ordinary run directory `OUT/<dataset>/<agent>-s<seed>`
trained and evaluated by the `ethogram` CLI in a subprocess with one XLA thread, `jobs` at a time, each worker
on a core of its own (where there are enough cores). It is resumable: a run with an eval.json is skipped; a
run with a config.json continues with `train --resume` (from its last checkpoint) and is then evaluated.
Missing datasets are collected first with our collector.
At the end: OUT/results.md (ours, mean ± std over seeds, beside the published number), the records as JSON
(report/results.py) and OUT/success_vs_steps.png (success against training steps, mean ± std over seeds).
A progress bar counts the grid's runs as they finish (its ETA: the runs left at the pace of those done); each
run's own output goes to OUT/<dataset>/<agent>-s<seed>.log.
"""

from __future__ import annotations

import dataclasses
import os
import queue
import subprocess
import sys
import time
import typing
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field
from pathlib import Path

from tqdm import tqdm

from ethogram import rundir
from ethogram.agents import get_agent
from ethogram.agents.base import config_fields
from ethogram.envs.registry import parse_dataset_name
from ethogram.errors import EthogramError
from ethogram.io import atomic_write_text

# Single-threaded Eigen kernels. XLA's thunk runtime (jax 0.10) still starts a thread pool sized to the cores the
# process may use, so what bounds a worker to one core is its affinity (_run_pinned), not these flags.
WORKER_XLA_FLAGS = "--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1"
PUBLISHED_STEPS = 1_000_000


@dataclass(frozen=True)
class Grid:
    """What to run. `steps` None = the published protocol (1M steps, evaluations every 100k)."""

    agents: tuple[str, ...]
    datasets: tuple[str, ...]
    seeds: tuple[int, ...] = (0, 1, 2)
    steps: int | None = None
    hidden_dims: tuple[int, ...] | None = None  # every MLP of every agent; None = the published 512x3
    batch_size: int | None = None  # None = the published 1024
    sets: dict[str, str] = field(default_factory=dict)  # extra config overrides, applied where the field exists
    eval_every: int | None = None  # None: steps / 5 (reduced budget) or 100k (published)
    eval_episodes: int = 50
    dataset_episodes: int | None = None  # None = OGBench's dataset size
    fuse: int = 100

    @property
    def train_steps(self) -> int:
        return self.steps or PUBLISHED_STEPS

    @property
    def eval_interval(self) -> int:
        if self.eval_every is not None:
            return self.eval_every
        return 100_000 if self.steps is None else max(self.train_steps // 5, 1)

    def budget(self) -> str:
        if self.steps is None and self.hidden_dims is None and self.batch_size is None and not self.sets:
            return "published protocol (1M steps, 3x512 nets, batch 1024)"
        nets = "x".join(map(str, self.hidden_dims)) if self.hidden_dims else "each agent's default"
        extra = "".join(f", {k}={v}" for k, v in sorted(self.sets.items()))
        return f"reduced budget: {self.train_steps} steps, {nets} nets, batch {self.batch_size or 1024}{extra}"


def parse_nets(text: str) -> tuple[int, ...]:
    """'256x2' (width x depth) or '256,256' / '512x512x512' (the widths) -> (256, 256)."""
    t = text.strip().lower()
    try:
        if "," in t:
            dims = tuple(int(p) for p in t.split(",") if p.strip())
        else:
            parts = [int(p) for p in t.split("x")]
            dims = (parts[0],) * parts[1] if len(parts) == 2 and parts[1] <= 8 and parts[0] > 8 else tuple(parts)
    except ValueError:
        dims = ()
    if not dims or min(dims) < 1:
        raise EthogramError(f"cannot read --nets {text!r}.", "give WIDTHxDEPTH (256x2) or the widths (256,256)")
    return dims


def validate_grid(grid: Grid) -> None:
    """Clear errors for unknown agents or datasets and impossible settings, before anything runs."""
    if not grid.agents or not grid.datasets or not grid.seeds:
        raise EthogramError("reproduce needs at least one agent, one dataset and one seed.")
    for a in grid.agents:
        get_agent(a)
    for d in grid.datasets:
        parse_dataset_name(d)
    if min(grid.seeds) < 0:
        raise EthogramError(f"seeds must be >= 0 (got {min(grid.seeds)}).")
    if grid.steps is not None and grid.steps < 1:
        raise EthogramError(f"--steps must be at least 1 (got {grid.steps}).")
    if grid.batch_size is not None and grid.batch_size < 1:
        raise EthogramError(f"--batch must be at least 1 (got {grid.batch_size}).")
    if grid.eval_episodes < 1 or grid.eval_interval < 0:
        raise EthogramError("--eval-episodes must be >= 1 and --eval-every >= 0.")
    if grid.dataset_episodes is not None and grid.dataset_episodes < 1:
        raise EthogramError(f"--dataset-episodes must be at least 1 (got {grid.dataset_episodes}).")
    for key, lacking in skipped_sets(grid).items():
        if len(lacking) == len(grid.agents):
            raise EthogramError(f"--set {key}=...: no agent of the grid ({', '.join(grid.agents)}) has a field "
                                f"'{key}'.", "check the field name (ethogram train AGENT --set lists them on error)")
    for a in grid.agents:
        agent_sets(a, grid)  # refuses --nets for an agent without network-size fields


def net_fields(agent: str) -> list[str]:
    """An agent's network sizes: every tuple[int, ...] field of its config (actor_hidden_dims, value_hidden_dims,
    or whatever an agent names its networks)."""
    cls = get_agent(agent).Config
    hints = typing.get_type_hints(cls)
    return [f.name for f in dataclasses.fields(cls) if typing.get_origin(hints[f.name]) is tuple]


def agent_sets(agent: str, grid: Grid) -> list[str]:
    """`--set` arguments for one agent: --nets on every network-size field, --batch, then the extra overrides
    (those win). An override the agent lacks is left out for it (validate_grid refuses one no agent has and
    `reproduce` says which agents it skips)."""
    fields = config_fields(get_agent(agent))
    values: dict[str, str] = {}
    if grid.hidden_dims:
        nets = net_fields(agent)
        if not nets:
            raise EthogramError(f"--nets cannot apply to agent '{agent}': its config has no network-size field.",
                                "leave --nets out, or set its sizes with --set")
        values.update({k: ",".join(map(str, grid.hidden_dims)) for k in nets})
    if grid.batch_size:
        values["batch_size"] = str(grid.batch_size)
    values.update({k: v for k, v in grid.sets.items() if k in fields})
    return [x for k, v in values.items() for x in ("--set", f"{k}={v}")]


def skipped_sets(grid: Grid) -> dict[str, list[str]]:
    """--set key -> the agents of the grid that do not have it (and so run without it)."""
    return {k: [a for a in grid.agents if k not in config_fields(get_agent(a))] for k in grid.sets}


def dataset_path(data_dir: Path, name: str) -> Path:
    return data_dir / f"{parse_dataset_name(name)}.npz"


def ensure_dataset(data_dir: Path, name: str, episodes: int | None, log=print, progress: bool = False) -> Path:
    """The dataset file, collected with our collector (seed 0) if it is missing."""
    from ethogram.data.collect import collect_to_file, default_config

    path = dataset_path(data_dir, name)
    if not path.exists():
        parsed = parse_dataset_name(name)
        cfg = default_config(parsed, seed=0)
        if episodes is not None:
            cfg = dataclasses.replace(cfg, episodes=episodes)
        log(f"collecting {parsed} ({cfg.episodes} episodes) -> {path}")
        data_dir.mkdir(parents=True, exist_ok=True)
        collect_to_file(parsed, cfg, path, progress=progress)
    return path


@dataclass(frozen=True)
class Job:
    agent: str
    dataset: str
    seed: int
    run_dir: Path
    data: Path


def jobs_of(grid: Grid, out: Path, data_dir: Path) -> list[Job]:
    return [Job(get_agent(a).NAME, str(parse_dataset_name(d)).removesuffix("-v0"), s,
                out / str(parse_dataset_name(d)).removesuffix("-v0") / f"{get_agent(a).NAME}-s{s}",
                dataset_path(data_dir, d))
            for d in grid.datasets for a in grid.agents for s in grid.seeds]


def _cli(*args: str) -> list[str]:
    return [sys.executable, "-m", "ethogram.cli", *args]


def _check_same_settings(job: Job, grid: Grid) -> None:
    """A run directory left by an earlier call must have been started with the same budget."""
    cfg = rundir.read_config(job.run_dir)
    tc = cfg.get("train_config", {})
    if tc.get("steps") != grid.train_steps or tc.get("seed") != job.seed or cfg.get("agent") != job.agent:
        raise EthogramError(f"run '{job.run_dir}' exists with other settings (steps {tc.get('steps')}, "
                            f"seed {tc.get('seed')}, agent {cfg.get('agent')}).",
                            "use another --out, or delete that run directory")


def _run_pinned(cmd: list[str], fh, env: dict, cpu: int | None) -> int:
    """Run `cmd` to completion; with `cpu`, on that core alone.

    The affinity is set as soon as the child exists, before it starts any thread, so XLA sizes its thread pool
    to that one core and parallel runs never time-slice each other's threads."""
    proc = subprocess.Popen(cmd, stdout=fh, stderr=subprocess.STDOUT, env=env)
    if cpu is not None:
        try:
            os.sched_setaffinity(proc.pid, {cpu})
        except OSError:  # the child already exited, or the core went away: run unpinned
            pass
    return proc.wait()


def worker_cpus(jobs: int) -> list[int] | None:
    """One core per worker where the platform can pin and there are enough cores; else None (no pinning)."""
    if jobs < 2 or not hasattr(os, "sched_getaffinity"):
        return None
    cpus = sorted(os.sched_getaffinity(0))
    return cpus[:jobs] if len(cpus) >= jobs else None


def run_job(job: Job, grid: Grid, log=print, cpu: int | None = None) -> str:
    """Train (or resume) and evaluate one run in subprocesses, pinned to core `cpu` if given; returns what was
    done."""
    if (job.run_dir / "eval.json").exists():
        return "skipped (eval.json exists)"
    env = {**os.environ, "XLA_FLAGS": WORKER_XLA_FLAGS, "OMP_NUM_THREADS": "1", "MUJOCO_GL":
           os.environ.get("MUJOCO_GL", "egl")}
    job.run_dir.parent.mkdir(parents=True, exist_ok=True)
    logfile = job.run_dir.parent / f"{job.run_dir.name}.log"
    # A checkpoint at every evaluation: an interrupted run loses at most one interval when it is resumed.
    save_every = min(grid.eval_interval or grid.train_steps, grid.train_steps)
    if (job.run_dir / "config.json").exists():
        _check_same_settings(job, grid)
        train = _cli("train", "--resume", str(job.run_dir), "--quiet",
                     *(("--save-every", str(save_every)) if save_every % grid.fuse == 0 else ()))
        done = "resumed"
    else:
        train = _cli("train", job.agent, "--dataset", str(job.data), "--out", str(job.run_dir), "--force", "--quiet",
                     "--steps", str(grid.train_steps), "--seed", str(job.seed), "--fuse", str(grid.fuse),
                     "--eval-every", str(grid.eval_interval), "--eval-episodes", str(grid.eval_episodes),
                     "--log-every", str(min(1000, grid.train_steps)), "--save-every", str(save_every),
                     *agent_sets(job.agent, grid))
        done = "trained"
    # The final evaluation draws its episodes from the run's seed, as its periodic evaluations do (train.py), so
    # the last point of a run's learning curve is one more evaluation of the same kind, not another episode set.
    evaluate = _cli("eval", str(job.run_dir), "--episodes", str(grid.eval_episodes), "--seed", str(job.seed),
                    "--quiet")
    start = time.perf_counter()
    with logfile.open("a") as fh:
        for cmd in (train, evaluate):
            fh.write(f"$ {' '.join(cmd[1:])}\n")
            fh.flush()
            rc = _run_pinned(cmd, fh, env, cpu)
            if rc != 0:
                tail = logfile.read_text().strip().splitlines()[-3:]
                raise EthogramError(f"run {job.run_dir} failed (exit {rc}): {' | '.join(tail)}",
                                    f"see {logfile}; rerun reproduce to continue from the last checkpoint")
    log(f"  {job.agent} {job.dataset} seed {job.seed}: {done} and evaluated in {time.perf_counter() - start:.0f} s")
    return done


# ------------------------------------------------------------------------------------------------ reports

def reproduce(grid: Grid, out: str | Path = "runs/reproduce", data_dir: str | Path = "data", jobs: int = 2,
              json_path: str | Path | None = None, command: str = "", log=print, progress: bool = False) -> dict:
    """Run the grid (resumably) and write the table, the JSON records and the learning-curve plot; `progress`: a
    bar over the grid's runs (and over a missing dataset's collection)."""
    from ethogram.report.curves import plot_success_curves, success_curves
    from ethogram.report.results import aggregate, results_table, write_records
    from ethogram.report.tables import to_markdown

    validate_grid(grid)
    if jobs < 1:
        raise EthogramError(f"--jobs must be at least 1 (got {jobs}).")
    out, data_dir = Path(out), Path(data_dir)
    for d in grid.datasets:
        ensure_dataset(data_dir, d, grid.dataset_episodes, log, progress)
    todo = jobs_of(grid, out, data_dir)
    log(f"reproduce: {len(todo)} runs ({grid.budget()}), {jobs} at a time -> {out} (each run's output: "
        f"{out / '<dataset>' / '<agent>-s<seed>.log'})")
    for key, lacking in skipped_sets(grid).items():
        if lacking:
            log(f"note: --set {key} does not apply to {', '.join(lacking)} (no such field); they run without it")
    failures, done = [], {}
    cpus = worker_cpus(jobs)
    free = queue.SimpleQueue()
    for c in cpus or [None] * jobs:
        free.put(c)

    finished_before = sum((j.run_dir / "eval.json").exists() for j in todo)
    bar = tqdm(total=len(todo), initial=finished_before, desc="reproduce", unit="run", disable=not progress,
               dynamic_ncols=True)

    def say(message: str) -> None:  # above the bar, which is drawn again below it
        with tqdm.external_write_mode():
            log(message)

    def on_a_free_core(j: Job) -> str:
        cpu = free.get()
        try:
            return run_job(j, grid, say, cpu)
        finally:
            free.put(cpu)

    with ThreadPoolExecutor(max_workers=jobs) as pool:
        futures = {pool.submit(on_a_free_core, j): j for j in todo}
        for fut in as_completed(futures):
            j = futures[fut]
            try:
                done[j.run_dir] = fut.result()
            except EthogramError as e:
                failures.append(e.problem)
            if done.get(j.run_dir, "").startswith("skipped"):
                continue  # counted from the start
            bar.update(1)
    bar.close()
    finished = [j.run_dir for j in todo if (j.run_dir / "eval.json").exists()]
    result = {"runs": len(todo), "finished": len(finished), "done": {str(k): v for k, v in done.items()},
              "failures": failures}
    if finished:
        # The published protocol averages each seed's evaluations at 800k, 900k and 1M steps; a reduced budget
        # reports the final one.
        records = aggregate(finished, command=command, last_evals=3 if grid.steps is None else 1)
        per_seed = ("the mean of the evaluations at 800k, 900k and 1M steps" if grid.steps is None
                    else "the evaluation at the end of training")
        for r in records:
            r["budget"] = grid.budget()
        table = to_markdown(results_table(records))
        atomic_write_text(out / "results.md", f"# Results: {grid.budget()}\n\n"
                          f"Each seed: {per_seed} "
                          f"({grid.eval_episodes} episodes per task). Command: `{command}`\n\n{table}\n")
        write_records(records, json_path or out / "results.json")
        plot_success_curves(success_curves(finished), out / "success_vs_steps.png", grid.budget())
        from ethogram.report.html import preface_section, write_report

        preface = preface_section(f"Results: {grid.budget()}", [results_table(records)],
                                  f"Each seed: {per_seed} ({grid.eval_episodes} episodes per task); mean ± std over "
                                  f"the training seeds. Command: {command}")
        result["report"] = str(write_report(finished, out / "report.html", preface=preface, results=False,
                                            title=f"reproduce: {grid.budget()}"))
        log(table)
        result.update(records=records, table=table)
    if failures:
        raise EthogramError(f"{len(failures)} of {len(todo)} runs failed: " + "; ".join(failures),
                            "fix the cause and run the same command again: finished runs are kept")
    return result
