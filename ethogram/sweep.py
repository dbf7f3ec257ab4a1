"""Sweeps: agents x datasets x hyperparameter values (a grid, and random draws from declared ranges) x seeds.

`ethogram sweep SPEC.toml` and `ethogram reproduce` are this module. Every trial is an ordinary run directory,
`OUT/<dataset>/<agent>-<key>-s<seed>`, where `key` is a digest of the trial's whole configuration (agent, every
override, budget, evaluation settings and the dataset file's content): a sweep rerun into the same OUT with another
budget or another dataset makes new trials and never reuses old ones. Trials are trained and evaluated by the
`ethogram` CLI in subprocesses, each on one XLA thread, resumable (a trial with its eval.json is done; one with a
config.json continues with `train --resume`).

Engines:
  local (default)  a process pool on this machine, each worker pinned to a core of its own
  ray              Ray Tune (`pip install 'ethogram[ray]'`): the same trials as Tune trials, one CPU each, on a
                   local Ray instance or a cluster (`--ray-address`); with `asha`, Tune's ASHA scheduler stops
                   trials early on their periodic evaluations (a stopped trial keeps its run directory and its
                   learning curve, and has no eval.json)
At the end: OUT/results.md and the JSON records (report/results.py: one record per configuration over seeds,
beside the published number), OUT/success_vs_steps.png and OUT/report.html. docs/sweep.md shows a spec.
"""

from __future__ import annotations

import dataclasses
import hashlib
import itertools
import json
import math
import os
import queue
import subprocess
import sys
import time
import typing
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from tqdm import tqdm

from ethogram.agents import get_agent
from ethogram.agents.base import config_fields
from ethogram.envs.registry import parse_dataset_name
from ethogram.errors import EthogramError
from ethogram.io import atomic_write_text

# Single-threaded Eigen kernels. XLA's thunk runtime (jax 0.10) still starts a thread pool sized to the cores the
# process may use, so what bounds a worker to one core is its affinity (_run_pinned), not these flags.
WORKER_XLA_FLAGS = "--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1"
PUBLISHED_STEPS = 1_000_000
ENGINES = ("local", "ray")
RAY_EXTRA = "pip install 'ethogram[ray]'"


@dataclass(frozen=True)
class Range:
    """A hyperparameter's range for random search: uniform in [low, high], or log-uniform with `log`; `integer`
    rounds a draw to the nearest integer."""

    low: float
    high: float
    log: bool = False
    integer: bool = False

    def draw(self, rng: np.random.Generator) -> float | int:
        if self.log:
            v = float(np.exp(rng.uniform(np.log(self.low), np.log(self.high))))
        else:
            v = float(rng.uniform(self.low, self.high))
        return int(round(v)) if self.integer else float(f"{v:.6g}")


@dataclass(frozen=True)
class Sweep:
    """What to run. `steps` None = the published protocol (1M steps, evaluations every 100k). `sets`: overrides
    for every trial; `grid`: field -> values, every combination; `ranges` with `samples`: that many random draws
    (seeded by `search_seed`), each combined with every grid point."""

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
    grid: dict[str, tuple] = field(default_factory=dict)
    ranges: dict[str, Range] = field(default_factory=dict)
    samples: int = 0
    search_seed: int = 0

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


# ------------------------------------------------------------------------------------------- spec files

SPEC_KEYS = {"agents", "datasets", "seeds", "steps", "nets", "batch", "set", "grid", "random", "samples",
             "search_seed", "eval_every", "eval_episodes", "dataset_episodes", "fuse"}
RANGE_KEYS = {"low", "high", "log", "integer"}


def _text(v) -> str:
    """A value as `--set` text: lists as comma-separated, booleans lower case."""
    if isinstance(v, bool):
        return str(v).lower()
    if isinstance(v, list | tuple):
        return ",".join(_text(x) for x in v)
    return str(v)


def read_spec(path: str | Path) -> Sweep:
    """A sweep spec from a TOML or JSON file (docs/sweep.md), every key checked."""
    path = Path(path)
    if not path.is_file():
        raise EthogramError(f"sweep spec '{path}' does not exist.", "write one as docs/sweep.md shows")
    try:
        if path.suffix == ".json":
            raw = json.loads(path.read_text())
        else:
            import tomllib

            raw = tomllib.loads(path.read_text())
    except (ValueError, UnicodeDecodeError) as e:
        raise EthogramError(f"sweep spec '{path}' cannot be read: {e}.", "fix its syntax (TOML or JSON)") from None
    if not isinstance(raw, dict):
        raise EthogramError(f"sweep spec '{path}' is not a table of keys.", "write one as docs/sweep.md shows")
    return spec_from_dict(raw, str(path))


def spec_from_dict(raw: dict, where: str = "sweep spec") -> Sweep:
    unknown = sorted(set(raw) - SPEC_KEYS)
    if unknown:
        raise EthogramError(f"{where}: unknown key(s) {', '.join(unknown)}.",
                            f"the keys are {', '.join(sorted(SPEC_KEYS))}")

    def names(key: str, required: bool = True) -> tuple[str, ...]:
        v = raw.get(key)
        if v is None and not required:
            return ()
        if isinstance(v, str):
            v = [x.strip() for x in v.split(",") if x.strip()]
        if not isinstance(v, list) or not all(isinstance(x, str) for x in v):
            raise EthogramError(f"{where}: '{key}' must be a list of names.", f'e.g. {key} = ["..."]')
        return tuple(v)

    seeds = raw.get("seeds", [0, 1, 2])
    if not isinstance(seeds, list) or not seeds or not all(isinstance(s, int) and not isinstance(s, bool)
                                                             for s in seeds):
        raise EthogramError(f"{where}: 'seeds' must be a non-empty list of integers.", "e.g. seeds = [0, 1, 2]")
    grid = raw.get("grid", {})
    if not isinstance(grid, dict):
        raise EthogramError(f"{where}: 'grid' must be a table of field = [values].", "e.g. [grid] lr = [3e-4, 1e-3]")
    for k, vs in grid.items():
        if not isinstance(vs, list) or not vs:
            raise EthogramError(f"{where}: grid.{k} must be a non-empty list of values.", f"e.g. {k} = [1, 2]")
    ranges = {}
    for k, r in (raw.get("random") or {}).items():
        if not isinstance(r, dict) or not {"low", "high"} <= set(r) or set(r) - RANGE_KEYS:
            raise EthogramError(f"{where}: random.{k} must be a table with low and high (and optionally log, "
                                "integer).", f"e.g. [random.{k}] low = 1.0, high = 10.0, log = true")
        try:
            ranges[k] = Range(float(r["low"]), float(r["high"]), bool(r.get("log", False)),
                              bool(r.get("integer", False)))
        except (TypeError, ValueError):
            raise EthogramError(f"{where}: random.{k}'s low and high must be numbers.") from None
    nets = raw.get("nets")
    sets = raw.get("set", {})
    if not isinstance(sets, dict):
        raise EthogramError(f"{where}: 'set' must be a table of field = value.", "e.g. [set] lr = 1e-3")
    ints = {}
    for key in ("steps", "batch", "samples", "search_seed", "eval_every", "eval_episodes", "dataset_episodes",
                "fuse"):
        v = raw.get(key)
        if v is not None and (not isinstance(v, int) or isinstance(v, bool)):
            raise EthogramError(f"{where}: '{key}' must be an integer (got {v!r}).")
        ints[key] = v
    return Sweep(agents=names("agents"), datasets=names("datasets"), seeds=tuple(seeds), steps=ints["steps"],
                 hidden_dims=parse_nets(_text(nets)) if nets is not None else None, batch_size=ints["batch"],
                 sets={k: _text(v) for k, v in sets.items()},
                 grid={k: tuple(vs) for k, vs in grid.items()}, ranges=ranges,
                 samples=ints["samples"] if ints["samples"] is not None else (1 if ranges else 0),
                 search_seed=ints["search_seed"] or 0, eval_every=ints["eval_every"],
                 eval_episodes=ints["eval_episodes"] if ints["eval_episodes"] is not None else 50,
                 dataset_episodes=ints["dataset_episodes"], fuse=ints["fuse"] or 100)


# ------------------------------------------------------------------------------------------- validation

def net_fields(agent: str) -> list[str]:
    """An agent's network sizes: every tuple[int, ...] field of its config (actor_hidden_dims, value_hidden_dims,
    or whatever an agent names its networks)."""
    cls = get_agent(agent).Config
    hints = typing.get_type_hints(cls)
    return [f.name for f in dataclasses.fields(cls) if typing.get_origin(hints[f.name]) is tuple]


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


def points(spec: Sweep) -> list[dict[str, str]]:
    """Every hyperparameter point of the sweep (field -> `--set` text): the grid's combinations, each with
    `samples` random draws from the ranges (one point, {}, when there is neither)."""
    keys = sorted(spec.grid)
    combos = [dict(zip(keys, vs, strict=True)) for vs in itertools.product(*(spec.grid[k] for k in keys))]
    out = []
    rng = np.random.default_rng(spec.search_seed)
    draws = [{k: spec.ranges[k].draw(rng) for k in sorted(spec.ranges)} for _ in range(spec.samples)] or [{}]
    for c in combos:
        for d in draws:
            out.append({k: _text(v) for k, v in {**c, **d}.items()})
    return out


def agent_sets(agent: str, spec: Sweep, point: dict[str, str] | None = None) -> list[str]:
    """`--set` arguments for one agent: --nets on every network-size field, --batch, the spec's overrides, then
    the point's values (those win). A field the agent lacks is left out for it (validate_sweep refuses one no agent
    has, and says which agents run without it)."""
    fields = config_fields(get_agent(agent))
    values: dict[str, str] = {}
    if spec.hidden_dims:
        nets = net_fields(agent)
        if not nets:
            raise EthogramError(f"--nets cannot apply to agent '{agent}': its config has no network-size field.",
                                "leave --nets out, or set its sizes with --set")
        values.update({k: ",".join(map(str, spec.hidden_dims)) for k in nets})
    if spec.batch_size:
        values["batch_size"] = str(spec.batch_size)
    values.update({k: v for k, v in spec.sets.items() if k in fields})
    values.update({k: v for k, v in (point or {}).items() if k in fields})
    return [x for k, v in values.items() for x in ("--set", f"{k}={v}")]


def skipped_sets(spec: Sweep) -> dict[str, list[str]]:
    """Override or swept field -> the agents of the sweep that do not have it (and so run without it)."""
    keys = [*spec.sets, *spec.grid, *spec.ranges]
    return {k: [a for a in spec.agents if k not in config_fields(get_agent(a))] for k in keys}


def validate_sweep(spec: Sweep) -> None:
    """Clear errors for unknown agents, datasets or fields, empty or impossible ranges and values an agent's
    config refuses, before anything runs."""
    from ethogram.config import apply_overrides, parse_set_args, validate_agent_config

    if not spec.agents or not spec.datasets or not spec.seeds:
        raise EthogramError("a sweep needs at least one agent, one dataset and one seed.")
    for a in spec.agents:
        get_agent(a)
    for d in spec.datasets:
        parse_dataset_name(d)
    if min(spec.seeds) < 0:
        raise EthogramError(f"seeds must be >= 0 (got {min(spec.seeds)}).")
    if len(set(spec.seeds)) != len(spec.seeds):
        raise EthogramError(f"seeds {list(spec.seeds)} repeat a seed; each seed is one trial.")
    if spec.steps is not None and spec.steps < 1:
        raise EthogramError(f"--steps must be at least 1 (got {spec.steps}).")
    if spec.batch_size is not None and spec.batch_size < 1:
        raise EthogramError(f"--batch must be at least 1 (got {spec.batch_size}).")
    if spec.eval_episodes < 1 or spec.eval_interval < 0:
        raise EthogramError("--eval-episodes must be >= 1 and --eval-every >= 0.")
    if spec.dataset_episodes is not None and spec.dataset_episodes < 1:
        raise EthogramError(f"--dataset-episodes must be at least 1 (got {spec.dataset_episodes}).")
    if spec.fuse < 1:
        raise EthogramError(f"fuse must be at least 1 (got {spec.fuse}).")
    for k, r in spec.ranges.items():
        if not (math.isfinite(r.low) and math.isfinite(r.high)) or r.low >= r.high:
            raise EthogramError(f"random.{k}: the range [{r.low}, {r.high}] is empty.", "give low < high")
        if r.log and r.low <= 0:
            raise EthogramError(f"random.{k}: a log range needs low > 0 (got {r.low}).")
    if spec.ranges and spec.samples < 1:
        raise EthogramError("random ranges are declared but samples is 0.", "set samples = N (draws)")
    if spec.samples and not spec.ranges:
        raise EthogramError(f"samples = {spec.samples} draws from no range.", "declare [random.FIELD] ranges")
    both = sorted(set(spec.grid) & set(spec.ranges))
    if both:
        raise EthogramError(f"field(s) {', '.join(both)} are both in grid and random.", "sweep each field one way")
    for key, lacking in skipped_sets(spec).items():
        if len(lacking) == len(spec.agents):
            raise EthogramError(f"'{key}': no agent of the sweep ({', '.join(spec.agents)}) has a field '{key}'.",
                                "check the field name (ethogram train AGENT --set lists them on error)")
    for a in spec.agents:
        agent = get_agent(a)
        for p in points(spec):
            sets = parse_set_args(agent_sets(a, spec, p)[1::2])
            config = apply_overrides(agent.Config(), sets)  # every value checked against the field's type
            validate_agent_config(config)


# --------------------------------------------------------------------------------------------- trials

def dataset_path(data_dir: Path, name: str, episodes: int | None = None) -> Path:
    """Where a sweep's dataset lives: data/<name>.npz at OGBench's size, data/<name>-<N>ep.npz at another."""
    from ethogram.data.collect import default_config

    parsed = parse_dataset_name(name)
    if episodes is None or episodes == default_config(parsed).episodes:
        return data_dir / f"{parsed}.npz"
    return data_dir / f"{parsed}-{episodes}ep.npz"


def ensure_dataset(data_dir: Path, name: str, episodes: int | None, log=print, progress: bool = False) -> Path:
    """The dataset file, collected with our collector (seed 0) if it is missing; an existing file of another size
    than asked is refused (its size is part of what every result of it means)."""
    from ethogram.data.collect import collect_to_file, default_config
    from ethogram.io import read_json

    path = dataset_path(data_dir, name, episodes)
    parsed = parse_dataset_name(name)
    cfg = default_config(parsed, seed=0)
    if episodes is not None:
        cfg = dataclasses.replace(cfg, episodes=episodes)
    if path.exists():
        meta = path.with_suffix(".json")
        have = read_json(meta, "dataset sidecar").get("train_episodes") if meta.is_file() else None
        if have is not None and have != cfg.episodes:
            raise EthogramError(f"dataset '{path}' has {have} episodes, not the {cfg.episodes} this sweep asks for.",
                                f"collect it again (ethogram collect {parsed} --episodes {cfg.episodes} --out {path} "
                                "--force), or use another --data-dir")
        return path
    log(f"collecting {parsed} ({cfg.episodes} episodes) -> {path}")
    data_dir.mkdir(parents=True, exist_ok=True)
    collect_to_file(parsed, cfg, path, progress=progress)
    return path


@dataclass(frozen=True)
class Trial:
    agent: str
    dataset: str
    seed: int
    point: tuple[tuple[str, str], ...]  # the swept values (field, --set text)
    sets: tuple[str, ...]  # every --set argument of its training
    key: str  # digest of the whole configuration but the seed
    run_dir: Path
    data: Path


def trial_key(agent: str, data_sha: str, sets: list[str], spec: Sweep) -> str:
    """The digest that names a trial's configuration: agent, every override, budget, evaluation settings and the
    dataset's content (not the seed: the seeds of one configuration share it)."""
    body = {"agent": agent, "dataset_sha256": data_sha, "sets": sorted(sets[1::2]), "steps": spec.train_steps,
            "eval_every": spec.eval_interval, "eval_episodes": spec.eval_episodes, "fuse": spec.fuse}
    return hashlib.sha256(json.dumps(body, sort_keys=True).encode()).hexdigest()


def trials_of(spec: Sweep, out: Path, data: dict[str, Path]) -> list[Trial]:
    """Every trial of the sweep, datasets already on disk (their content is part of each trial's key). A point an
    agent lacks the fields of is one trial for it, not several identical ones."""
    from ethogram.io import file_sha256

    shas = {d: file_sha256(p) for d, p in data.items()}
    out_trials: dict[Path, Trial] = {}
    for d in spec.datasets:
        ds = str(parse_dataset_name(d)).removesuffix("-v0")
        for a in spec.agents:
            name = get_agent(a).NAME
            fields = config_fields(get_agent(a))
            for p in points(spec):
                point = tuple(sorted((k, v) for k, v in p.items() if k in fields))
                sets = agent_sets(name, spec, p)
                key = trial_key(name, shas[d], sets, spec)
                for s in spec.seeds:
                    run = out / ds / f"{name}-{key[:8]}-s{s}"
                    out_trials.setdefault(run, Trial(name, ds, s, point, tuple(sets), key, run, data[d]))
    return list(out_trials.values())


def _cli(*args: str) -> list[str]:
    return [sys.executable, "-m", "ethogram.cli", *args]


def _worker_env() -> dict:
    return {**os.environ, "XLA_FLAGS": WORKER_XLA_FLAGS, "OMP_NUM_THREADS": "1",
            "MUJOCO_GL": os.environ.get("MUJOCO_GL", "egl")}


def train_cmd(t: Trial, spec: Sweep) -> tuple[list[str], str]:
    """The training command of a trial (a new run, or the resumption of an interrupted one) and what it does."""
    save_every = min(spec.eval_interval or spec.train_steps, spec.train_steps)  # a checkpoint at every evaluation
    if (t.run_dir / "config.json").exists():
        return _cli("train", "--resume", str(t.run_dir), "--quiet",
                    *(("--save-every", str(save_every)) if save_every % spec.fuse == 0 else ())), "resumed"
    return _cli("train", t.agent, "--dataset", str(t.data), "--out", str(t.run_dir), "--force", "--quiet",
                "--steps", str(spec.train_steps), "--seed", str(t.seed), "--fuse", str(spec.fuse),
                "--eval-every", str(spec.eval_interval), "--eval-episodes", str(spec.eval_episodes),
                "--log-every", str(min(1000, spec.train_steps)), "--save-every", str(save_every),
                *t.sets), "trained"


def eval_cmd(t: Trial, spec: Sweep) -> list[str]:
    # The final evaluation draws its episodes from the run's seed, so the last point of a learning curve is one
    # more evaluation of the same kind.
    return _cli("eval", str(t.run_dir), "--episodes", str(spec.eval_episodes), "--seed", str(t.seed), "--quiet",
                "--no-video")


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


def _failed(t: Trial, rc: int, logfile: Path) -> EthogramError:
    tail = logfile.read_text().strip().splitlines()[-3:] if logfile.exists() else []
    return EthogramError(f"run {t.run_dir} failed (exit {rc}): {' | '.join(tail)}",
                         f"see {logfile}; run the same command again to continue from the last checkpoint")


def run_trial(t: Trial, spec: Sweep, log=print, cpu: int | None = None) -> str:
    """Train (or resume) and evaluate one trial in subprocesses, pinned to core `cpu` if given."""
    if (t.run_dir / "eval.json").exists():
        return "skipped (eval.json exists)"
    t.run_dir.parent.mkdir(parents=True, exist_ok=True)
    logfile = t.run_dir.parent / f"{t.run_dir.name}.log"
    train, done = train_cmd(t, spec)
    start = time.perf_counter()
    with logfile.open("a") as fh:
        for cmd in (train, eval_cmd(t, spec)):
            fh.write(f"$ {' '.join(cmd[1:])}\n")
            fh.flush()
            rc = _run_pinned(cmd, fh, _worker_env(), cpu)
            if rc != 0:
                raise _failed(t, rc, logfile)
    what = " ".join(f"{k}={v}" for k, v in t.point)
    log(f"  {t.agent} {t.dataset}{' ' + what if what else ''} seed {t.seed}: {done} and evaluated in "
        f"{time.perf_counter() - start:.0f} s")
    return done


def run_local(todo: list[Trial], spec: Sweep, jobs: int, log=print, progress: bool = False,
              desc: str = "sweep") -> tuple[dict, list]:
    """The local engine: `jobs` workers, each on a core of its own. Returns (what each trial did, failures)."""
    failures, done = [], {}
    cpus = worker_cpus(jobs)
    free = queue.SimpleQueue()
    for c in cpus or [None] * jobs:
        free.put(c)
    finished_before = sum((t.run_dir / "eval.json").exists() for t in todo)
    bar = tqdm(total=len(todo), initial=finished_before, desc=desc, unit="run", disable=not progress,
               dynamic_ncols=True)

    def say(message: str) -> None:  # above the bar, which is drawn again below it
        with tqdm.external_write_mode():
            log(message)

    def on_a_free_core(t: Trial) -> str:
        cpu = free.get()
        try:
            return run_trial(t, spec, say, cpu)
        finally:
            free.put(cpu)

    with ThreadPoolExecutor(max_workers=jobs) as pool:
        futures = {pool.submit(on_a_free_core, t): t for t in todo}
        for fut in as_completed(futures):
            t = futures[fut]
            try:
                done[t.run_dir] = fut.result()
            except EthogramError as e:
                failures.append(e.problem)
            if done.get(t.run_dir, "").startswith("skipped"):
                continue  # counted from the start
            bar.update(1)
    bar.close()
    return done, failures


# ------------------------------------------------------------------------------------------------ Ray Tune

def check_ray():
    """The ray package (with Tune), or a clear error saying which extra installs it."""
    try:
        import ray
        from ray import tune  # noqa: F401
    except ImportError:
        raise EthogramError("--engine ray needs Ray Tune, which is not installed (an optional extra of ethogram).",
                            f"install it with: {RAY_EXTRA}, or use --engine local") from None
    return ray


def _periodic_rows(run_dir: Path, seen: set[int]) -> list[tuple[int, float]]:
    from ethogram import rundir

    path = run_dir / "evals.csv"
    if not path.exists():
        return []
    try:
        rows = [(int(float(r["step"])), float(r["success"])) for r in rundir.csv_rows(path)]
    except (ValueError, KeyError, TypeError, EthogramError):
        return []  # a row being written: read again at the next poll
    return [(s, v) for s, v in sorted(rows) if s not in seen]


def _tune_trainable(todo: list[Trial], spec: Sweep):
    """A Tune function trainable: trial `config["index"]` trains in a subprocess while its periodic evaluations
    are reported as they appear in evals.csv (so ASHA can stop it), then is evaluated. Stopping it (ASHA, or the
    end of the experiment) stops its subprocess; its run directory stays resumable."""
    from ray import tune

    def trainable(config):
        t = todo[config["index"]]
        if (t.run_dir / "eval.json").exists():
            from ethogram import rundir

            tune.report({"success": float(rundir.read_eval(t.run_dir)["success"]), "step": spec.train_steps,
                         "final": 1})
            return
        t.run_dir.parent.mkdir(parents=True, exist_ok=True)
        logfile = t.run_dir.parent / f"{t.run_dir.name}.log"
        train, _ = train_cmd(t, spec)
        seen: set[int] = set()
        with logfile.open("a") as fh:
            fh.write(f"$ {' '.join(train[1:])}\n")
            fh.flush()
            proc = subprocess.Popen(train, stdout=fh, stderr=subprocess.STDOUT, env=_worker_env())
            try:
                while True:
                    rc = proc.poll()
                    for step, success in _periodic_rows(t.run_dir, seen):
                        seen.add(step)
                        tune.report({"success": success, "step": step, "final": 0})
                    if rc is not None:
                        break
                    time.sleep(0.5)
            finally:
                if proc.poll() is None:
                    proc.kill()
                    proc.wait()
            if rc != 0:
                raise _failed(t, rc, logfile)
            cmd = eval_cmd(t, spec)
            fh.write(f"$ {' '.join(cmd[1:])}\n")
            fh.flush()
            rc = subprocess.call(cmd, stdout=fh, stderr=subprocess.STDOUT, env=_worker_env())
        if rc != 0:
            raise _failed(t, rc, logfile)
        from ethogram import rundir

        tune.report({"success": float(rundir.read_eval(t.run_dir)["success"]), "step": spec.train_steps,
                     "final": 1})

    return trainable


def run_ray(todo: list[Trial], spec: Sweep, out: Path, jobs: int, address: str | None = None, asha: bool = False,
            log=print) -> tuple[dict, list]:
    """The Ray Tune engine: every trial a Tune trial of one CPU; on `address` (a running cluster: "auto", or
    "ray://HOST:10001") or a local instance of `jobs` CPUs. With `asha`, ASHA stops trials early on their periodic
    evaluations (grace period: one evaluation interval)."""
    ray = check_ray()
    from ray import tune

    started = False
    if not ray.is_initialized():
        kwargs = {"address": address} if address else {"num_cpus": jobs}
        ray.init(include_dashboard=False, log_to_driver=False, configure_logging=False, **kwargs)
        started = True
    scheduler = None
    if asha:
        if not spec.eval_interval or spec.eval_interval >= spec.train_steps:
            raise EthogramError("ASHA stops trials on their periodic evaluations, and this sweep has none before "
                                "the last step.", "set eval_every below steps, or run without --asha")
        from ray.tune.schedulers import ASHAScheduler

        scheduler = ASHAScheduler(time_attr="step", metric="success", mode="max", max_t=spec.train_steps,
                                  grace_period=spec.eval_interval, reduction_factor=2)
    tuner = tune.Tuner(
        tune.with_resources(_tune_trainable(todo, spec), {"cpu": 1}),
        param_space={"index": tune.grid_search(list(range(len(todo))))},
        tune_config=tune.TuneConfig(scheduler=scheduler, num_samples=1,
                                    max_concurrent_trials=None if address else jobs),
        run_config=tune.RunConfig(name="tune", storage_path=str((out / "ray").resolve()), verbose=0))
    try:
        grid = tuner.fit()
    finally:
        if started:
            ray.shutdown()
    done, failures = {}, []
    for res in grid:
        t = todo[res.config["index"]]
        if res.error is not None:
            failures.append(f"run {t.run_dir}: {str(res.error).strip().splitlines()[-1][:300]}")
        elif (t.run_dir / "eval.json").exists():
            done[t.run_dir] = "trained and evaluated (ray)"
        else:
            step = (res.metrics or {}).get("step")
            done[t.run_dir] = f"stopped early by ASHA at step {step}"
            log(f"  {t.agent} {t.dataset} seed {t.seed}: stopped early by ASHA at step {step}")
    return done, failures


# ------------------------------------------------------------------------------------------------ the sweep

def run_sweep(spec: Sweep, out: str | Path = "runs/sweep", data_dir: str | Path = "data", jobs: int = 2,
              engine: str = "local", json_path: str | Path | None = None, command: str = "", log=print,
              progress: bool = False, ray_address: str | None = None, asha: bool = False,
              title: str = "sweep") -> dict:
    """Run the sweep (resumably) and write its table, JSON records, learning curves and report."""
    from ethogram.report.curves import plot_success_curves, success_curves
    from ethogram.report.results import aggregate, results_table, write_records
    from ethogram.report.tables import to_markdown

    validate_sweep(spec)
    if engine not in ENGINES:
        raise EthogramError(f"unknown engine '{engine}'.", f"--engine is one of: {', '.join(ENGINES)}")
    if engine == "ray":
        check_ray()  # before any dataset is collected
    if asha and engine != "ray":
        raise EthogramError("--asha is Ray Tune's scheduler.", "add --engine ray")
    if jobs < 1:
        raise EthogramError(f"--jobs must be at least 1 (got {jobs}).")
    out, data_dir = Path(out), Path(data_dir)
    data = {d: ensure_dataset(data_dir, d, spec.dataset_episodes, log, progress) for d in spec.datasets}
    todo = trials_of(spec, out, data)
    log(f"{title}: {len(todo)} runs ({spec.budget()}; {len(points(spec))} hyperparameter point(s)), engine "
        f"{engine}, {jobs} at a time -> {out} (each run's output: {out / '<dataset>' / '<agent>-<key>-s<seed>.log'})")
    for key, lacking in skipped_sets(spec).items():
        if lacking:
            log(f"note: {key} does not apply to {', '.join(lacking)} (no such field); they run without it")
    if engine == "local":
        done, failures = run_local(todo, spec, jobs, log, progress, title)
    else:
        done, failures = run_ray(todo, spec, out, jobs, ray_address, asha, log)
    finished = [t.run_dir for t in todo if (t.run_dir / "eval.json").exists()]
    result = {"runs": len(todo), "finished": len(finished), "done": {str(k): v for k, v in done.items()},
              "failures": failures, "trials": [str(t.run_dir) for t in todo]}
    if finished:
        # The published protocol averages each seed's evaluations at 800k, 900k and 1M steps; a reduced budget
        # reports the final one.
        records = aggregate(finished, command=command, last_evals=3 if spec.steps is None else 1)
        per_seed = ("the mean of the evaluations at 800k, 900k and 1M steps" if spec.steps is None
                    else "the evaluation at the end of training")
        for r in records:
            r["budget_text"] = spec.budget()
        swept = sorted({*spec.grid, *spec.ranges})
        table = to_markdown(results_table(records, swept))
        atomic_write_text(out / "results.md", f"# Results: {spec.budget()}\n\n"
                          f"Each seed: {per_seed} ({spec.eval_episodes} episodes per task); mean ± std over the "
                          f"training seeds, IQM with a 95 % stratified-bootstrap interval. Command: `{command}`\n\n"
                          f"{table}\n")
        write_records(records, json_path or out / "results.json")
        plot_success_curves(success_curves(finished), out / "success_vs_steps.png", spec.budget())
        from ethogram.report.html import preface_section, write_report

        preface = preface_section(f"Results: {spec.budget()}", [results_table(records, swept)],
                                  f"Each seed: {per_seed} ({spec.eval_episodes} episodes per task); mean ± std over "
                                  f"the training seeds. Command: {command}")
        result["report"] = str(write_report(finished, out / "report.html", preface=preface, results=False,
                                            title=f"{title}: {spec.budget()}"))
        log(table)
        result.update(records=records, table=table)
    if failures:
        raise EthogramError(f"{len(failures)} of {len(todo)} runs failed: " + "; ".join(failures),
                            "fix the cause and run the same command again: finished runs are kept")
    return result
