"""One training loop for every agent: many jitted steps fused with lax.scan, data and goals on the device.

A run is a directory:
  config.json                agent, agent config, train config, dataset, environment
  metrics.csv                training metrics (mean over each fused chunk) and steps/s
  evals.csv                  periodic evaluations (success overall and per task)
  checkpoint.safetensors     latest state (params, targets, optimiser) + checkpoint.json (its step)
"""

from __future__ import annotations

import csv
import dataclasses
import functools
import json
import time
import types
import typing
from dataclasses import asdict, dataclass
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
from tqdm import tqdm

from ethogram import __version__, checkpoint
from ethogram.agents import dataset_overrides, get_agent
from ethogram.data.dataset import Dataset, dataset_name_of, load_dataset, read_npz, validate_arrays
from ethogram.data.goals import sample_batch
from ethogram.envs.registry import make_env
from ethogram.errors import EthogramError
from ethogram.evaluate import evaluate
from ethogram.io import atomic_write_text, check_writable_dir


@dataclass(frozen=True)
class TrainConfig:
    steps: int = 1_000_000
    seed: int = 0
    fuse: int = 100  # training steps per jitted call
    log_every: int = 1000
    eval_every: int = 100_000  # 0: no periodic evaluation (run `ethogram eval` after training)
    eval_episodes: int = 50
    save_every: int = 100_000


# ----------------------------------------------------------------------------------------------- configs

def _parse_value(name: str, text: str, annotation: str):
    t = annotation.replace(" ", "")
    try:
        if t == "bool":
            if text.lower() in ("1", "true", "yes", "on"):
                return True
            if text.lower() in ("0", "false", "no", "off"):
                return False
            raise ValueError
        if t == "int":
            return int(text)
        if t == "float":
            return float(text)
        if t.startswith("tuple[int"):
            parts = [p for p in text.strip("()[] ").split(",") if p.strip()]
            values = tuple(int(p) for p in parts)
            if not values or min(values) < 1:
                raise ValueError
            return values
        if t == "str":
            return text
    except ValueError:
        pass
    raise EthogramError(f"cannot set {name}={text!r}: expected {annotation}.",
                        "for example --set batch_size=256 --set actor_hidden_dims=256,256")


def apply_overrides(config, overrides: dict[str, str]):
    """Replace fields of a frozen dataclass config from 'key' -> 'text value' pairs, by each field's type."""
    fields = {f.name: f for f in dataclasses.fields(config)}
    values = {}
    for key, text in overrides.items():
        if key not in fields:
            raise EthogramError(f"unknown config field '{key}' for {type(config).__module__.split('.')[-1]}.",
                                f"known fields: {', '.join(sorted(fields))}")
        values[key] = _parse_value(key, text, str(fields[key].type))
    return dataclasses.replace(config, **values)


def _check_type(name: str, value, hint):
    """The JSON value for a config field, checked against the field's type (bool, int, float, tuple[int, ...])."""
    if typing.get_origin(hint) is tuple:
        if not isinstance(value, list | tuple) or not value or \
                not all(isinstance(x, int) and not isinstance(x, bool) and x >= 1 for x in value):
            raise EthogramError(f"config field '{name}' must be a non-empty list of positive integers, got {value!r}.")
        return tuple(value)
    if hint is bool:
        ok = isinstance(value, bool)
    elif hint is int:
        ok = isinstance(value, int) and not isinstance(value, bool)
    elif hint is float:
        ok = isinstance(value, int | float) and not isinstance(value, bool) and np.isfinite(value)
        value = float(value) if ok else value
    else:
        ok = isinstance(value, hint)
    if not ok:
        raise EthogramError(f"config field '{name}' must be {getattr(hint, '__name__', hint)}, got {value!r}.")
    return value


def config_from_dict(cls, data: dict):
    """A config dataclass from saved JSON; unknown fields and wrong types are clear errors."""
    if not isinstance(data, dict):
        raise EthogramError(f"a saved {cls.__name__} must be a JSON object, got {type(data).__name__}.")
    hints = typing.get_type_hints(cls)
    unknown = sorted(set(data) - set(hints))
    if unknown:
        raise EthogramError(f"unknown config field(s) {', '.join(unknown)} for {cls.__module__}.{cls.__name__}; "
                            "the run was written by another version or edited by hand.")
    return cls(**{k: _check_type(k, v, hints[k]) for k, v in data.items()})


def validate_train_config(tc: TrainConfig) -> None:
    if tc.steps < 1:
        raise EthogramError(f"--steps must be at least 1 (got {tc.steps}).")
    for k in ("fuse", "log_every", "eval_episodes", "save_every"):
        if getattr(tc, k) < 1:
            raise EthogramError(f"{k} must be at least 1 (got {getattr(tc, k)}).")
    if tc.eval_every < 0:
        raise EthogramError(f"eval_every must be >= 0 (got {tc.eval_every}).")
    if tc.seed < 0:
        raise EthogramError(f"seed must be >= 0 (got {tc.seed}).")


def validate_agent_config(config) -> None:
    try:
        config.value_mix, config.actor_mix  # noqa: B018 (validates the goal mixtures)
    except ValueError as e:
        raise EthogramError(f"invalid goal mixture: {e}.") from None
    if config.batch_size < 1 or config.lr <= 0 or not 0 < config.discount < 1:
        raise EthogramError("batch_size must be >= 1, lr > 0 and 0 < discount < 1.")


def parse_set_args(items: list[str] | None) -> dict[str, str]:
    out = {}
    for item in items or []:
        if "=" not in item:
            raise EthogramError(f"--set expects KEY=VALUE, got {item!r}.", "for example --set batch_size=256")
        k, v = item.split("=", 1)
        out[k.strip()] = v.strip()
    return out


# ------------------------------------------------------------------------------------------ the loop

def make_train_chunk(agent: types.ModuleType, config, n_steps: int):
    """A jitted function running `n_steps` updates: (state, data, key) -> (state, mean metrics).

    The state's buffers are donated (updated in place); the dataset stays on the device and is only read.
    Batches come from `ethogram.data.goals.sample_batch`, or from the agent's own module-level
    `sample_batch(key, data, config)` when it defines one; either way they are sampled inside jit.
    """
    custom_sampler = getattr(agent, "sample_batch", None)

    @functools.partial(jax.jit, donate_argnums=0)
    def chunk(state, data: Dataset, key):
        def one_step(state, key):
            k_batch, k_update = jax.random.split(key)
            if custom_sampler is not None:  # an agent with its own batch layout (e.g. HIQL's subgoals)
                batch = custom_sampler(k_batch, data, config)
            else:
                batch = sample_batch(k_batch, data, config.batch_size, config.value_mix, config.actor_mix,
                                     config.discount)
            return agent.update(state, batch, k_update, config)

        state, metrics = jax.lax.scan(one_step, state, jax.random.split(key, n_steps))
        metrics = jax.tree_util.tree_map(jnp.mean, metrics)
        finite = jnp.all(jnp.stack([jnp.all(jnp.isfinite(x)) for x in jax.tree_util.tree_leaves(state["params"])]))
        return state, {**metrics, "finite": finite}

    return chunk


def make_policy(agent: types.ModuleType, config, state, act=None):
    """(obs, goals) -> actions as numpy, jitted; `act(state, obs, goals)` defaults to the agent's own act."""
    jitted = jax.jit(act or (lambda s, o, g: agent.act(s, o, g, config)))
    return lambda obs, goals: np.asarray(jitted(state, jnp.asarray(obs), jnp.asarray(goals)))


def _append_csv(path: Path, row: dict) -> None:
    new = not path.exists()
    with path.open("a", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(row))
        if new:
            w.writeheader()
        w.writerow(row)


def prepare_run(agent_name: str, dataset_path: str | Path, out: str | Path, train_cfg: TrainConfig,
                overrides: dict[str, str] | None = None, force: bool = False) -> dict:
    """Validate everything and write config.json; returns the run description. Nothing is trained yet."""
    agent = get_agent(agent_name)
    validate_train_config(train_cfg)
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise EthogramError(f"run directory '{out}' exists and is a file.", "choose another --out")
    if out.is_dir() and any(out.iterdir()) and not force:
        raise EthogramError(f"run directory '{out}' already exists and is not empty; refusing to overwrite it.",
                            "choose another --out, or pass --force to replace the run")
    arrays = read_npz(dataset_path)  # fail before anything is written
    name = dataset_name_of(dataset_path)
    env = make_env(name.env)
    validate_arrays(arrays, str(dataset_path), env.obs_dim, env.action_dim)
    del arrays
    config = dataclasses.replace(agent.Config(), **dataset_overrides(agent.NAME, name.kind, name.maze, name.loco))
    config = apply_overrides(config, overrides or {})
    validate_agent_config(config)
    check_writable_dir(out)
    if force:
        for stale in ("metrics.csv", "evals.csv", "eval.json", "checkpoint.safetensors", "checkpoint.json"):
            (out / stale).unlink(missing_ok=True)
    run = {
        "agent": agent.NAME,
        "agent_config": asdict(config),
        "train_config": asdict(train_cfg),
        "dataset": str(Path(dataset_path).resolve()),
        "dataset_name": str(name),
        "env": name.env,
        "obs_dim": env.obs_dim,
        "action_dim": env.action_dim,
        "ethogram_version": __version__,
    }
    atomic_write_text(out / "config.json", json.dumps(run, indent=2) + "\n")
    return run


def load_run(run_dir: str | Path):
    """(run description, agent module, agent config) from a run directory's config.json."""
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise EthogramError(f"run directory '{run_dir}' does not exist.", "train one with ethogram train")
    path = run_file(run_dir, "config.json")
    if not path.exists():
        raise EthogramError(f"'{run_dir}' is not a run directory: it has no config.json.")
    try:
        run = json.loads(path.read_text())
        if not isinstance(run, dict) or not isinstance(run.get("agent"), str):
            raise TypeError("expected an object with an 'agent' name")
        agent = get_agent(run["agent"])
        config = config_from_dict(agent.Config, run["agent_config"])
        validate_agent_config(config)
        validate_train_config(config_from_dict(TrainConfig, run["train_config"]))
        for k in ("obs_dim", "action_dim"):
            if not isinstance(run[k], int) or run[k] < 1:
                raise TypeError(f"'{k}' must be a positive integer")
        if not isinstance(run["env"], str) or not isinstance(run["dataset"], str):
            raise TypeError("'env' and 'dataset' must be strings")
    except (json.JSONDecodeError, UnicodeDecodeError, KeyError, TypeError, AttributeError) as e:
        raise EthogramError(f"'{path}' is malformed ({type(e).__name__}: {e}).", "train the run again") from None
    except EthogramError as e:
        raise EthogramError(f"'{path}': {e.problem}", e.fix or "train the run again") from None
    return run, agent, config


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


def restore_state(run_dir: str | Path, run: dict, agent, config):
    template = agent.init(jax.random.PRNGKey(0), run["obs_dim"], run["action_dim"], config)
    return checkpoint.load(run_file(run_dir, "checkpoint.safetensors"), template)


def _csv_steps(path: Path) -> set[int]:
    """The steps of a run's CSV rows (none if the file does not exist)."""
    if not path.exists():
        return set()
    with path.open(newline="") as f:
        return {int(r["step"]) for r in csv.DictReader(f)}


def _truncate_csv(path: Path, last_step: int) -> None:
    """Keep the header and the complete rows up to `last_step` (rows logged after the checkpoint are redone)."""
    if not path.exists():
        return
    lines = path.read_text().splitlines(keepends=True)
    keep = lines[:1]
    for line in lines[1:]:
        head = line.split(",", 1)[0]
        if line.endswith("\n") and head.isdigit() and int(head) <= last_step:
            keep.append(line)
    atomic_write_text(path, "".join(keep))


def checkpoint_step(run_dir: Path) -> int:
    path = run_dir / "checkpoint.json"
    if not path.exists() or not (run_dir / "checkpoint.safetensors").exists():
        return 0
    try:
        return int(json.loads(path.read_text())["step"])
    except (json.JSONDecodeError, KeyError, TypeError, ValueError):
        raise EthogramError(f"'{path}' is malformed.", "delete it (and checkpoint.safetensors) to start over") from None


def train(run_dir: str | Path, progress: bool = True, log=print, resume: bool = False,
          save_every: int | None = None) -> dict:
    """Train the run described by run_dir/config.json to its step budget.

    With `resume`, continue from the run's last checkpoint: the random keys of each chunk depend only on the seed
    and the step, so an interrupted and resumed run ends with the same metrics as an uninterrupted one.
    `save_every` replaces the run's checkpoint interval (recorded in config.json). Chunks end on every interval,
    and each chunk's keys come from its first step, so only an interval that keeps every chunk `fuse` steps long
    is accepted: then the results stay those of the uninterrupted run.
    """
    run_dir = Path(run_dir)
    run, agent, config = load_run(run_dir)
    if save_every is not None and save_every != run["train_config"].get("save_every"):
        old = config_from_dict(TrainConfig, run["train_config"])
        if save_every < 1 or any(iv % old.fuse for iv in (save_every, old.save_every, old.log_every, old.eval_every)
                                 if iv):
            raise EthogramError(f"--save-every {save_every} would change how '{run_dir}' is cut into chunks of "
                                f"{old.fuse} steps, and so its results.",
                                f"use a positive multiple of {old.fuse} (the run's fuse), or leave --save-every out")
        run["train_config"]["save_every"] = save_every
        atomic_write_text(run_file(run_dir, "config.json"), json.dumps(run, indent=2) + "\n")
    tc = config_from_dict(TrainConfig, run["train_config"])
    env = make_env(run["env"])
    data = load_dataset(run["dataset"], env.obs_dim, env.action_dim)
    if config.batch_size > data.size:
        log(f"note: batch_size {config.batch_size} exceeds the dataset's {data.size} transitions; "
            "sampling with replacement")
    base = jax.random.PRNGKey(tc.seed)
    state = agent.init(jax.random.fold_in(base, 0), env.obs_dim, env.action_dim, config)
    step = checkpoint_step(run_dir) if resume else 0
    if step:
        state = jax.tree_util.tree_map(jnp.array, checkpoint.load(run_file(run_dir, "checkpoint.safetensors"), state))
        log(f"resuming {run_dir} from step {step}")
    for name in ("metrics.csv", "evals.csv"):
        _truncate_csv(run_dir / name, step) if step else (run_dir / name).unlink(missing_ok=True)
    fuse = min(tc.fuse, tc.steps)
    chunks = {fuse: make_train_chunk(agent, config, fuse)}
    start, first = time.perf_counter(), step
    last_eval = None
    bar = tqdm(total=tc.steps, initial=step, desc=f"train {agent.NAME}", unit="step", disable=not progress,
               mininterval=1.0)
    window_t, window_steps = time.perf_counter(), 0

    def periodic_eval(state, step: int) -> dict:
        res, _ = evaluate(env, make_policy(agent, config, state), tc.eval_episodes, seed=tc.seed)
        _append_csv(run_dir / "evals.csv", {"step": step, "success": res["success"], **res["tasks"]})
        bar.write(f"step {step}: success {res['success']:.3f}")
        return res

    # An interruption between a checkpoint and its evaluation left that evaluation out of the learning curve:
    # the checkpoint is the state at that step, so the evaluation is made up first (the same result as if
    # there had been no interruption).
    if (step and tc.eval_every and step % tc.eval_every == 0 and step != tc.steps
            and step not in _csv_steps(run_dir / "evals.csv")):
        last_eval = periodic_eval(state, step)
    while step < tc.steps:
        # Chunks end exactly on every log / save / eval boundary.
        n = min([fuse, tc.steps - step] + [iv - step % iv for iv in (tc.log_every, tc.save_every, tc.eval_every) if iv])
        if n not in chunks:
            chunks[n] = make_train_chunk(agent, config, n)
        new_state, metrics = chunks[n](state, data, jax.random.fold_in(jax.random.fold_in(base, 1), step))
        metrics = {k: float(v) for k, v in metrics.items()}
        if not metrics.pop("finite") or not all(np.isfinite(v) for v in metrics.values()):
            bar.close()
            raise EthogramError(f"training diverged at step {step + n}: NaN or inf in the parameters or losses. "
                                "The last good checkpoint is kept.",
                                "lower the learning rate (--set lr=...) or check the dataset")
        state, step = new_state, step + n
        window_steps += n
        bar.update(n)
        if step % tc.log_every == 0 or step == tc.steps:
            now = time.perf_counter()
            sps = window_steps / max(now - window_t, 1e-9)
            window_t, window_steps = now, 0
            _append_csv(run_dir / "metrics.csv", {"step": step, "wall_s": round(now - start, 3),
                                                  "steps_per_s": round(sps, 2),
                                                  **{k: round(v, 6) for k, v in metrics.items()}})
            shown = {k.split("/")[-1]: f"{v:.3g}" for k, v in metrics.items() if k.endswith("loss")}
            bar.set_postfix(sps=f"{sps:.0f}", **shown)
        if step % tc.save_every == 0 or step == tc.steps:
            checkpoint.save(run_dir / "checkpoint.safetensors", state)
            atomic_write_text(run_dir / "checkpoint.json", json.dumps({"step": step}) + "\n")
        if tc.eval_every and step % tc.eval_every == 0 and step != tc.steps:
            last_eval = periodic_eval(state, step)
    bar.close()
    return {"steps": step, "seconds": time.perf_counter() - start, "last_eval": last_eval, "resumed_from": first}


def evaluate_run(run_dir: str | Path, episodes: int = 50, seed: int = 0, progress: bool = True):
    """Evaluate a run's latest checkpoint with the OGBench protocol; writes run_dir/eval.json."""
    if episodes < 1:
        raise EthogramError(f"--episodes must be at least 1 (got {episodes}).")
    run_dir = Path(run_dir)
    run, agent, config = load_run(run_dir)
    check_writable_dir(run_dir)
    state = restore_state(run_dir, run, agent, config)
    env = make_env(run["env"])
    res, ro = evaluate(env, make_policy(agent, config, state), episodes, seed=seed, progress=progress)
    res = {"agent": run["agent"], "dataset": run["dataset_name"], "env": run["env"], "train_step": _ckpt_step(run_dir),
           **res}
    atomic_write_text(run_dir / "eval.json", json.dumps(res, indent=2) + "\n")
    return res, ro, env


# --------------------------------------------------------------------------------------------- prompts

PROMPT_SPECS = "goal | reward:TASK | reward:all | reward-file:PATH | demo:TASK | demo:all | demo-file:PATH"


def _read_prompt_file(path: str, keys: tuple[str, ...]) -> dict[str, np.ndarray]:
    arrays = read_npz(path)
    missing = [k for k in keys if k not in arrays]
    if missing:
        raise EthogramError(f"'{path}' lacks the array(s) {', '.join(missing)}.",
                            f"save it with np.savez(path, {', '.join(f'{k}=...' for k in keys)})")
    return arrays


def evaluate_prompt_run(run_dir: str | Path, spec: str = "goal", episodes: int = 50, seed: int = 0,
                        plan: bool = False, plan_bank: int = 50_000, feature: str = "auto",
                        demo_method: str = "track",
                        progress: bool = True) -> tuple[dict, dict, object]:
    """Evaluate a run's answers to a prompt; writes eval.json (goal), eval-plan.json, eval-reward.json or
    eval-demo.json. Returns (result, paths for pictures, env)."""
    from ethogram import prompts
    from ethogram.envs import tasks as maze_tasks
    from ethogram.evaluate import evaluate_demo, evaluate_reward, random_policy

    kind, _, arg = spec.partition(":")
    if kind not in ("goal", "reward", "reward-file", "demo", "demo-file") or (kind != "goal" and not arg) \
            or (kind == "goal" and arg):
        raise EthogramError(f"unknown prompt '{spec}'.", f"use one of: {PROMPT_SPECS}")
    if plan and kind != "goal":
        raise EthogramError("--plan applies to goal prompts only.")
    if kind == "goal" and not plan:
        return _goal_eval(run_dir, episodes, seed, progress)
    if episodes < 1:
        raise EthogramError(f"--episodes must be at least 1 (got {episodes}).")
    run_dir = Path(run_dir)
    run, agent, config = load_run(run_dir)
    check_writable_dir(run_dir)
    env = make_env(run["env"])
    prompts.check_kind(agent, {"goal": "goal", "reward": "reward", "reward-file": "reward", "demo": "demonstration",
                               "demo-file": "demonstration"}[kind], plan)  # before any slow work
    state = restore_state(run_dir, run, agent, config)
    data = load_dataset(run["dataset"], env.obs_dim, env.action_dim)
    obs_dim = env.obs_dim
    head = {"agent": run["agent"], "dataset": run["dataset_name"], "env": run["env"], "train_step": _ckpt_step(run_dir)}
    start = time.perf_counter()

    if kind == "goal":  # HILP-Plan
        if plan_bank < 1:
            raise EthogramError(f"--plan-bank must be at least 1 (got {plan_bank}).")
        policy = prompts.answer(agent, config, state, prompts.Goal(plan=True, plan_bank=plan_bank), obs_dim, data)
        res, ro = evaluate(env, policy, episodes, seed=seed, progress=progress)
        res = {**head, **res, "agent": f"{run['agent']}-plan", "plan_bank": min(plan_bank, data.size)}
        atomic_write_text(run_dir / "eval-plan.json", json.dumps(res, indent=2) + "\n")
        return res, {"rollouts": ro}, env

    if kind in ("reward", "reward-file"):
        if kind == "reward":
            names = list(maze_tasks.reward_tasks(env)) if arg == "all" else [arg]
            chosen = [maze_tasks.get_reward_task(env, n) for n in names]
        else:
            a = _read_prompt_file(arg, ("observations", "next_observations", "rewards"))
            chosen = [None]
        results, paths = {}, {}
        for task in chosen:
            if task is None:
                prompt = prompts.Reward(observations=a["observations"], next_observations=a["next_observations"],
                                        rewards=a["rewards"], feature="diff" if feature == "auto" else feature)
            else:
                prompt = prompts.Reward(fn=task.reward, feature=task.feature if feature == "auto" else feature)
            z = prompts.reward_latent(agent, config, state, prompt, obs_dim, data, seed)
            policies = {"agent": prompts.latent_policy(agent, config, state, z),
                        "random": random_policy(env.action_dim, seed)}
            if task is None:
                task = maze_tasks.RewardTask(Path(arg).name, f"labelled transitions from {arg}",
                                             lambda o, n: np.zeros(len(o)), np.zeros(2))
            else:
                policies["reference"] = maze_tasks.reference_policy(env, task.target_xy)
            r, p = evaluate_reward(env, policies, task, episodes, seed, progress=progress)
            r["z"] = [round(float(v), 6) for v in z]
            r["feature"] = prompt.feature
            results[task.name], paths[task.name] = r, p
        res = {**head, "prompt": "reward", "feature": feature, "tasks": results,
               "seconds": round(time.perf_counter() - start, 3)}
        atomic_write_text(run_dir / "eval-reward.json", json.dumps(res, indent=2) + "\n")
        return res, paths, env

    # Demonstrations.
    if kind == "demo":
        all_demos = maze_tasks.demo_tasks(env)
        if arg != "all" and arg not in all_demos:
            raise EthogramError(f"unknown demonstration task '{arg}'.", f"known: {', '.join(all_demos)} (or 'all')")
        demos = list(all_demos.values()) if arg == "all" else [all_demos[arg]]
    else:
        a = _read_prompt_file(arg, ("observations",))
        obs = prompts._obs_array(a["observations"], f"the demonstration in '{arg}'", obs_dim, min_len=2)
        demos = [maze_tasks.DemoTask(Path(arg).stem, tuple(maze_tasks.cell_sequence(env.maze, obs[:, :2])), obs)]
    results, paths = {}, {}
    for demo in demos:
        policy = prompts.answer(agent, config, state, prompts.Demonstration(demo.observations, method=demo_method),
                                obs_dim, data, seed)
        r, p = evaluate_demo(env, policy, demo, episodes, seed, progress=progress)
        r_rand, _ = evaluate_demo(env, random_policy(env.action_dim, seed), demo, episodes, seed)
        r["random"] = {k: r_rand[k] for k in ("cells_in_order", "mean_distance", "final_distance")}
        results[demo.name], paths[demo.name] = r, {"agent": p, "demo": demo.observations}
    res = {**head, "prompt": "demonstration", "method": demo_method, "tasks": results,
           "seconds": round(time.perf_counter() - start, 3)}
    atomic_write_text(run_dir / "eval-demo.json", json.dumps(res, indent=2) + "\n")
    return res, paths, env


def _ckpt_step(run_dir: Path):
    step_file = run_dir / "checkpoint.json"
    return json.loads(step_file.read_text()).get("step") if step_file.exists() else None


def _goal_eval(run_dir, episodes, seed, progress):
    res, ro, env = evaluate_run(run_dir, episodes, seed, progress)
    return res, {"rollouts": ro}, env
