"""A run directory: the one place that creates, reads and writes one.

  config.json                agent, agent config, train config, dataset, environment (a search run: its mode)
  metrics.csv                training metrics (mean over each fused chunk), wall time and steps/s
  evals.csv                  periodic evaluations (success overall and per task)
  checkpoint.safetensors     latest state (params, targets, optimiser), committed with checkpoint.json: its step,
                             the sha256 of the file and of the run's settings (io.FileSet)
  eval*.json, *.png          evaluations (ethogram/evaluate/run.py), each JSON committed with its pictures
  .lock                      while a command writes into the run (io.Lock); deleted when it ends

Training (train.py), evaluation (evaluate/) and the search (search/) all read runs through this module.
"""

from __future__ import annotations

import contextlib
import csv
import hashlib
import json
import sys
from collections.abc import Mapping
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING, Annotated, Any, NotRequired

from pydantic import Field, StringConstraints, TypeAdapter
from typing_extensions import TypedDict  # pydantic reads TypedDicts from here before Python 3.12

from ethogram.config import (
    TrainConfig,
    apply_overrides,
    config_from_dict,
    to_dict,
    validate_agent_config,
    validate_train_config,
)
from ethogram.errors import EthogramError
from ethogram.io import (
    JOURNAL_SUFFIX,
    FileSet,
    Lock,
    atomic_write_bytes,
    atomic_write_text,
    check_writable_dir,
    json_bytes,
    read_json,
    read_regular,
    recover,
    verify,
    write_error,
)

CONFIG = "config.json"
CHECKPOINT = "checkpoint.safetensors"
CHECKPOINT_RECORD = "checkpoint.json"
METRICS = "metrics.csv"
EVALS = "evals.csv"
LOCK = ".lock"
TRAINING_FILES = (METRICS, EVALS, "eval.json", CHECKPOINT, CHECKPOINT_RECORD)
# Evaluations of an earlier training, removed with it (--force): every eval-*.json, its pictures and rollouts
# (each prompt spec has files of its own: evaluate/run.py).
EVAL_GLOBS = ("eval-*.json", "rollouts*.png", "rollouts*.npz", "reward*.png", "demo*.png")
MAX_CSV_BYTES = 256 << 20

if TYPE_CHECKING:  # JAX and the agents load on first use: reading a run's files needs neither
    from ethogram.agents.base import Spec


def run_file(run_dir: str | Path, name: str) -> Path:
    """A file of the run directory; refuses one that is a link leading outside it."""
    run_dir = Path(run_dir)
    path = run_dir / name
    try:
        real = path.resolve(strict=False)
        inside = real.is_relative_to(run_dir.resolve())
    except (OSError, RuntimeError):  # symlink loop
        raise EthogramError(f"'{path}' is a symbolic link loop.", "delete it") from None
    if not inside:
        raise EthogramError(f"'{path}' leads outside its run directory (to '{real}'); refusing to use it.",
                            "replace the link by the file itself")
    return path


# ------------------------------------------------------------------------------------------- creating

def create(out: str | Path, force: bool = False, stale: tuple[str, ...] = TRAINING_FILES) -> Path:
    """An empty (or, with `force`, emptied of `stale` results) writable run directory."""
    out = Path(out)
    if out.exists():
        _refuse_existing(out, force)
    check_writable_dir(out)
    if force:
        for name in stale:
            (out / name).unlink(missing_ok=True)
        if stale == TRAINING_FILES:
            for pattern in EVAL_GLOBS:
                for p in out.glob(pattern):
                    p.unlink(missing_ok=True)
    return out


def write_config(run_dir: str | Path, run: dict) -> None:
    atomic_write_bytes(run_file(run_dir, CONFIG), json_bytes(run))


@contextlib.contextmanager
def lock(run_dir: str | Path, log=None):
    """Hold the run directory for one writer; finish or clean up what an interrupted command left first."""
    run_dir = Path(run_dir)
    with Lock(run_dir / LOCK, f"run directory '{run_dir}'", log):
        for line in recover(run_dir):
            (log or _stderr)(f"note: {run_dir}: {line}")
        yield


def _stderr(msg: str) -> None:
    print(msg, file=sys.stderr)


def repair(run_dir: str | Path, log=None) -> list[str]:
    """What `ethogram repair RUN_DIR` does: complete or undo interrupted writes (under the lock)."""
    run_dir = Path(run_dir)
    done: list[str] = []
    with Lock(run_dir / LOCK, f"run directory '{run_dir}'", log):
        done = recover(run_dir)
    return done


def repair_fix(run_dir: str | Path) -> str:
    return f"run: ethogram repair {run_dir} (train --resume and eval repair it too)"


def settings_sha256(run: dict) -> str:
    """A digest of everything that decides a run's results: the run description less what resuming may change
    (the step budget and the checkpoint interval)."""
    tc = {k: v for k, v in run.get("train_config", {}).items() if k not in ("steps", "save_every", "tensorboard")}
    return hashlib.sha256(json.dumps({**run, "train_config": tc}, sort_keys=True).encode()).hexdigest()


# -------------------------------------------------------------------------------------------- reading

def read_config(run_dir: str | Path) -> dict:
    """config.json of any run (learned agent or search) as a JSON object with an agent name."""
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise EthogramError(f"run directory '{run_dir}' does not exist.", "train one with ethogram train")
    path = run_file(run_dir, CONFIG)
    if not path.exists() and not path.is_symlink():
        raise EthogramError(f"'{run_dir}' is not a run directory: it has no {CONFIG}.")
    run = read_json(path, "run config", "train the run again")
    if not isinstance(run, dict) or not isinstance(run.get("agent"), str):
        raise EthogramError(f"'{path}' is malformed (TypeError: expected an object with an 'agent' name).",
                            "train the run again")
    return run


def is_search_run(run_dir: str | Path) -> bool:
    try:
        return read_config(run_dir).get("agent") == "sns"
    except EthogramError:
        return False


def load(run_dir: str | Path) -> tuple[dict, ModuleType, object]:
    """(run description, agent module, agent config) of a trained run, every field checked."""
    from ethogram.agents import get_agent

    run = read_config(run_dir)
    path = Path(run_dir) / CONFIG
    try:
        agent = get_agent(run["agent"])
        config = config_from_dict(agent.Config, run["agent_config"])
        validate_agent_config(config)
        validate_train_config(config_from_dict(TrainConfig, run["train_config"]))
        for k in ("obs_dim", "action_dim"):
            if not isinstance(run[k], int) or isinstance(run[k], bool) or run[k] < 1:
                raise TypeError(f"'{k}' must be a positive integer")
        if not isinstance(run["env"], str | None) or not isinstance(run["dataset"], str):
            raise TypeError("'env' must be a string or null and 'dataset' a string")
        if not isinstance(run.get("maze_layout"), str | None):
            raise TypeError("'maze_layout' must be a string")
        sha = run.get("dataset_sha256")
        if sha is not None and not (isinstance(sha, str) and len(sha) == 64):
            raise TypeError("'dataset_sha256' must be a sha256 hex digest")
    except (KeyError, TypeError, AttributeError) as e:
        raise EthogramError(f"'{path}' is malformed ({type(e).__name__}: {e}).", "train the run again") from None
    except EthogramError as e:
        raise EthogramError(f"'{path}': {e.problem}", e.fix or "train the run again") from None
    return run, agent, config


def train_config(run: dict) -> TrainConfig:
    return config_from_dict(TrainConfig, run["train_config"])


def spec_of(run: dict) -> Spec:
    from ethogram.agents.base import Spec

    return Spec(run["obs_dim"], run["action_dim"])


def restore(run_dir: str | Path, run: dict, agent: ModuleType, config):
    """The run's latest checkpoint, arranged like a fresh state of its agent and config."""
    import jax

    from ethogram import checkpoint

    template = agent.init(jax.random.PRNGKey(0), spec_of(run), config)
    record = checkpoint_record(run_dir) or {}
    expected = (record.get("files") or {}).get(CHECKPOINT)
    return checkpoint.load(run_file(run_dir, CHECKPOINT), template, expected,
                           f"restore the pair from a backup, or delete both and train again ({CHECKPOINT} and "
                           f"{CHECKPOINT_RECORD} in {run_dir})")


Digest = Annotated[str, StringConstraints(pattern=r"^[0-9a-f]{64}$")]


class CheckpointRecord(TypedDict):
    """checkpoint.json. Written by save_checkpoint; runs saved before sets had manifests have only `step`."""

    step: Annotated[int, Field(ge=0)]
    files: NotRequired[dict[str, Digest]]
    settings_sha256: NotRequired[Digest]


_RECORD = TypeAdapter(CheckpointRecord)

Rate = Annotated[float, Field(ge=0.0, le=1.0)]


class GoalEval(TypedDict):
    """eval.json / eval-plan.json (evaluate/protocol.py), the fields the reports read."""

    success: Rate
    tasks: dict[str, Rate]
    episodes_per_task: Annotated[int, Field(ge=1)]
    train_step: NotRequired[int | None]
    dataset: str


class PromptEval(TypedDict):
    """eval-reward*.json / eval-demo*.json (evaluate/run.py)."""

    tasks: dict[str, dict]
    prompt: str
    dataset: str


EVAL_SCHEMAS = {"eval.json": TypeAdapter(GoalEval), "eval-plan.json": TypeAdapter(GoalEval),
                "eval-reward.json": TypeAdapter(PromptEval), "eval-demo.json": TypeAdapter(PromptEval)}


def eval_schema(name: str):
    """The schema of an evaluation file named by its prompt spec: eval-set-* (goals), eval-reward-*, eval-demo-*."""
    for prefix, known in (("eval-set-", "eval.json"), ("eval-reward-", "eval-reward.json"),
                          ("eval-demo-", "eval-demo.json")):
        if name.startswith(prefix):
            return EVAL_SCHEMAS[known]
    return None


def read_eval(run_dir: str | Path, name: str = "eval.json", fix: str | None = None) -> dict:
    """An evaluation record of a run, checked: whole (its set with the pictures; io.verify) and typed."""
    run_dir = Path(run_dir)
    path = run_file(run_dir, name)
    fix = fix or f"evaluate it again: ethogram eval {run_dir}"
    if not path.exists() and not path.is_symlink():
        raise EthogramError(f"run '{run_dir}' has no {name}.", fix)
    verify(path, repair_fix(run_dir))
    schema = EVAL_SCHEMAS.get(name) or eval_schema(name)
    return read_json(path, "evaluation record", fix, schema=schema)


def checkpoint_record(run_dir: str | Path) -> dict | None:
    """checkpoint.json, checked (None when the run has no checkpoint yet): the one reader of it.

    An unfinished write of the pair is refused with the command that completes it."""
    run_dir = Path(run_dir)
    path = run_file(run_dir, CHECKPOINT_RECORD)
    verify_fix = repair_fix(run_dir)
    if (run_dir / f".{CHECKPOINT_RECORD}{JOURNAL_SUFFIX}").exists():
        raise EthogramError(f"the last checkpoint of '{run_dir}' was being written when its command was stopped.",
                            verify_fix)
    if not path.exists() or not run_file(run_dir, CHECKPOINT).exists():
        return None
    return read_json(path, "checkpoint record", f"delete it and {CHECKPOINT} to start over, or train again",
                     schema=_RECORD)


def checkpoint_step(run_dir: str | Path) -> int:
    """The step of the run's checkpoint (0 when it has none)."""
    record = checkpoint_record(run_dir)
    return 0 if record is None else record["step"]


def finished_step(run_dir: str | Path) -> int | None:
    """The step budget of a run whose checkpoint has reached it, else None (training left to do). Reads config.json
    and checkpoint.json alone (under the lock, after completing an interrupted write): no JAX, no dataset."""
    run = read_config(run_dir)
    steps = run.get("train_config", {}).get("steps") if isinstance(run.get("train_config"), dict) else None
    if not isinstance(steps, int) or isinstance(steps, bool) or steps < 1:
        return None  # a malformed config: the full resume names the problem
    with lock(run_dir):
        done = checkpoint_step(run_dir)
    return steps if done >= steps else None


def save_checkpoint(run_dir: str | Path, state, step: int, run: dict | None = None) -> None:
    """The checkpoint and its record, committed as one set: a kill at any point leaves the old pair or the new."""
    from ethogram import checkpoint

    run_dir = Path(run_dir)
    with FileSet(run_file(run_dir, CHECKPOINT_RECORD)) as fs:
        fs.write(run_file(run_dir, CHECKPOINT), checkpoint.encode(state))
        record = {"step": step}
        if run is not None:
            record["settings_sha256"] = settings_sha256(run)
        fs.commit(record)


def check_resume(run_dir: str | Path, run: dict, dataset_sha256: str, force: bool) -> list[str]:
    """Resume refuses inputs that changed since the run started: the dataset's bytes (config.json's
    dataset_sha256) and the run's settings (the checkpoint record's settings_sha256). With `force` the changes
    are accepted and returned as notes."""
    problems = []
    want = run.get("dataset_sha256")
    if want is not None and want != dataset_sha256:
        problems.append(f"the dataset '{run['dataset']}' is not the one the run started with (its sha256 was "
                        f"{want[:12]}..., now {dataset_sha256[:12]}...): it was collected again or replaced")
    record = checkpoint_record(run_dir) or {}
    if record.get("settings_sha256") not in (None, settings_sha256(run)):
        problems.append(f"'{Path(run_dir) / CONFIG}' was edited since the checkpoint was written: the settings "
                        "that decide the results differ")
    if problems and not force:
        raise EthogramError("cannot resume: " + "; ".join(problems) + ".",
                            "restore the original inputs, or pass --force to resume with the changed ones")
    return problems


# ------------------------------------------------------------------------------------------------ CSV

TENSORBOARD = "tensorboard"  # RUN_DIR/tensorboard: TensorBoard event files, with train_config.tensorboard


def check_tensorboard() -> None:
    """Refuse --tensorboard up front where tensorboardX is missing."""
    try:
        import tensorboardX  # noqa: F401
    except ImportError:
        raise EthogramError("--tensorboard needs the tensorboardX package, which is not installed.",
                            "pip install 'ethogram[tensorboard]' (or train without --tensorboard: metrics.csv "
                            "has the same numbers)") from None


class MetricsLog:
    """Where training logs: metrics.csv and evals.csv always; with `tensorboard`, the same numbers as TensorBoard
    scalars (train/NAME, eval/success, eval/taskK) in RUN_DIR/tensorboard. A resumed run purges the events logged
    after its checkpoint, as it truncates the CSV rows."""

    def __init__(self, run_dir: Path, tensorboard: bool, step: int):
        self.metrics_csv, self.evals_csv = run_file(run_dir, METRICS), run_file(run_dir, EVALS)
        for path in (self.metrics_csv, self.evals_csv):
            truncate_csv(path, step) if step else path.unlink(missing_ok=True)
        self.writer = None
        if tensorboard:
            check_tensorboard()
            from tensorboardX import SummaryWriter

            logdir = run_file(run_dir, TENSORBOARD)
            if not step and logdir.is_dir():  # a fresh start: the events of an earlier training go
                for p in logdir.glob("events.out.tfevents.*"):
                    p.unlink()
            # tensorboardX names its file by the second and host only: a resume within the same second would
            # overwrite the earlier events, so each start adds its step, zero-padded to sort in training order
            self.writer = SummaryWriter(str(logdir), purge_step=step + 1 if step else None, flush_secs=10,
                                        filename_suffix=f".step{step:012d}")

    def metrics(self, row: dict) -> None:
        append_csv(self.metrics_csv, row)
        if self.writer is not None:
            for k, v in row.items():
                if k != "step":
                    self.writer.add_scalar(f"train/{k}", v, row["step"])

    def evals(self, row: dict) -> None:
        append_csv(self.evals_csv, row)
        if self.writer is not None:
            for k, v in row.items():
                if k != "step":
                    self.writer.add_scalar(f"eval/{k}", v, row["step"])

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
            self.writer = None


def append_csv(path: Path, row: dict) -> None:
    """One row (with the header first in a new file); every line ends in LF."""
    new = not path.exists()
    try:
        with path.open("a", newline="") as f:
            w = csv.DictWriter(f, fieldnames=list(row), lineterminator="\n")
            if new:
                w.writeheader()
            w.writerow(row)
    except OSError as e:  # a full disk: the last checkpoint is kept; resume drops a cut row
        raise write_error(path, e, "The last checkpoint is kept; `ethogram train --resume` drops a row cut "
                          "short.") from None


def csv_text(path: Path) -> str:
    """A run's CSV file through the hardened reader ('' when absent)."""
    if not path.exists() and not path.is_symlink():
        return ""
    raw = read_regular(path, "metrics file", MAX_CSV_BYTES, "delete it, or train the run again")
    return raw.decode("utf-8", errors="replace")


def csv_rows(path: Path) -> list[dict]:
    import io as _io

    return list(csv.DictReader(_io.StringIO(csv_text(path), newline="")))


def csv_steps(path: Path) -> set[int]:
    """The steps of a run's CSV rows (none if the file does not exist)."""
    return {int(r["step"]) for r in csv_rows(path) if str(r.get("step", "")).isdigit()}


def truncate_csv(path: Path, last_step: int) -> None:
    """Keep the header and the complete rows up to `last_step` (rows logged after the checkpoint are redone).

    Line endings are normalised to LF (files written before used CRLF)."""
    if not path.exists():
        return
    lines = csv_text(path).splitlines(keepends=True)
    keep = [lines[0].rstrip("\r\n") + "\n"] if lines else []
    for line in lines[1:]:
        head = line.split(",", 1)[0]
        if line.endswith("\n") and head.isdigit() and int(head) <= last_step:
            keep.append(line.rstrip("\r\n") + "\n")
    atomic_write_text(path, "".join(keep))


def last_value(path: Path, column: str, step: int) -> float:
    """`column` of the row logged at `step` (0.0 when there is none): where a resumed run's clock continues."""
    for r in reversed(csv_rows(path)):
        if r.get("step") == str(step):
            try:
                return float(r[column])
            except (KeyError, TypeError, ValueError):
                return 0.0
    return 0.0


# --------------------------------------------------------------------------------------- a training run

MINARI = "minari:"  # `--dataset minari:NAME`: a dataset in Minari's local storage, copied into the run
RUN_DATASET = "dataset.npz"  # where a run keeps a dataset it copied in (from Minari)


def prepare_run(agent_name: str, dataset_path: str | Path, out: str | Path, train_cfg: TrainConfig,
                overrides: Mapping[str, Any] | object | None = None, force: bool = False,
                env: str | None = None, require_eval: bool = True) -> dict:
    """Validate everything and write config.json; returns the run description. Nothing is trained yet.

    `dataset_path`: an .npz file (ours, OGBench's, or the user's arrays in our schema: docs/datasets.md), or
    `minari:NAME`, a dataset in Minari's local storage, copied into the run as dataset.npz. `env`: the environment
    the data was collected in, for data that does not say; without one, the run trains but cannot be evaluated
    (with `require_eval` False, the train config's periodic evaluation is then turned off instead of refused).
    `overrides`: agent config fields as `--set` strings or typed values ({"actor_hidden_dims": (64, 64)}), or a
    whole config object of the agent (`gcivl.Config(batch_size=256)`), used as it is."""
    from ethogram import __version__
    from ethogram.agents import dataset_overrides, get_agent
    from ethogram.agents.base import AgentConfig
    from ethogram.data.dataset import dataset_info, fall_cutter, read_dataset_file, validate_arrays
    from ethogram.envs.registry import env_of

    agent = get_agent(agent_name)
    if not isinstance(train_cfg, TrainConfig):
        raise EthogramError(f"train_cfg must be a TrainConfig, got {type(train_cfg).__name__}.")
    validate_train_config(train_cfg)
    if train_cfg.tensorboard:
        check_tensorboard()
    out = Path(out)
    if out.exists():
        _refuse_existing(out, force)
    source = str(dataset_path)
    if source.startswith(MINARI):  # fail before anything is written
        from ethogram.data.minari import read_minari

        arrays, meta = read_minari(source[len(MINARI):], env)
        info = _minari_info(meta, env)
        dataset_sha = None
    else:
        arrays, dataset_sha = read_dataset_file(dataset_path)
        info = dataset_info(dataset_path, env)
    env_obj = env_of({"env": info.env, "maze_layout": info.layout})
    validate_arrays(arrays, source, env=env_obj)
    obs_dim, action_dim = int(arrays["observations"].shape[1]), int(arrays["actions"].shape[1])
    episodes = int(arrays["terminals"].astype(bool).sum())
    size = {"dataset_episodes": episodes, "dataset_transitions": int(len(arrays["terminals"])) - episodes}
    read = (arrays, meta) if dataset_sha is None else None  # a Minari dataset: written into the run as read
    del arrays
    fall_cutter(env_obj, train_cfg.drop_falls, source)  # a robot that cannot fall is refused before any write
    if env_obj is None and train_cfg.eval_every and not require_eval:
        import dataclasses

        train_cfg = dataclasses.replace(train_cfg, eval_every=0)
    if env_obj is None and train_cfg.eval_every:
        raise EthogramError(f"dataset '{source}' comes from no environment ethogram simulates, so training cannot "
                            f"evaluate it every {train_cfg.eval_every} steps.",
                            "train with --eval-every 0, or name the environment it was collected in with --env")
    if train_cfg.eval_every:
        from ethogram.evaluate.protocol import check_episodes

        check_episodes(train_cfg.eval_episodes, train_cfg.seed)  # periodic evaluations fit in memory
    if isinstance(overrides, AgentConfig):
        if not isinstance(overrides, agent.Config):
            raise EthogramError(f"the config given is a {type(overrides).__module__}.{type(overrides).__name__}, "
                                f"not a config of agent '{agent.NAME}'.", f"pass {agent.__name__}.Config(...)")
        config = apply_overrides(overrides, {})  # validated like any other
    else:
        config = apply_overrides(agent.Config(), dataset_overrides(agent.NAME, info.kind, info.maze,
                                                                   info.robot or "point"))
        config = apply_overrides(config, overrides or {})
    validate_agent_config(config)
    run = {
        "agent": agent.NAME,
        "agent_config": to_dict(config),
        "train_config": to_dict(train_cfg),
        "dataset": str((out / RUN_DATASET).resolve()) if dataset_sha is None else str(Path(dataset_path).resolve()),
        "dataset_name": info.name,
        "dataset_sha256": dataset_sha,
        "env": info.env,
        "obs_dim": obs_dim,
        "action_dim": action_dim,
        **size,  # what a results record says of the data, beside its content hash
        "ethogram_version": __version__,
    }
    if info.layout is not None:
        run["maze_layout"] = info.layout
    if dataset_sha is None:
        run["dataset_source"] = source
    made = not out.exists()
    check_writable_dir(out)
    try:
        with lock(out):
            create(out, force=force)
            if dataset_sha is None:
                from ethogram.data.minari import minari_to_npz

                minari_to_npz(source[len(MINARI):], out / RUN_DATASET, force=True, read=read)
                run["dataset_sha256"] = read_dataset_file(out / RUN_DATASET)[1]
            write_config(out, run)
    except BaseException:
        if made and out.is_dir() and not any(out.iterdir()):
            out.rmdir()  # a refused command leaves nothing behind
        raise
    return run


def _minari_info(meta: dict, env: str | None):
    """What a Minari dataset is (data/minari.py's read_minari record), as data/dataset.py's DatasetInfo."""
    import dataclasses

    from ethogram.data.dataset import DatasetInfo, _guess
    from ethogram.envs.registry import parse_dataset_name

    if meta.get("maze_layout"):
        return DatasetInfo.of(parse_dataset_name(meta["dataset"], meta["maze_layout"]))
    info = _guess(meta["dataset"])
    recorded = meta.get("env") or info.env
    return dataclasses.replace(info, name=meta["dataset"], env=recorded or env)


def _refuse_existing(out: Path, force: bool) -> None:
    if not out.is_dir():
        raise EthogramError(f"run directory '{out}' exists and is a file.", "choose another --out")
    if any(p.name != LOCK for p in out.iterdir()) and not force:
        raise EthogramError(f"run directory '{out}' already exists and is not empty; refusing to overwrite it.",
                            "choose another --out, or pass --force to replace the run")
