"""One training loop for every agent: many jitted steps fused with lax.scan, data and goals on the device.

The run directory it reads and writes is described in rundir.py; evaluation is in evaluate/.
"""

from __future__ import annotations

import functools
import time
import types
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
from tqdm import tqdm

from ethogram import rundir
from ethogram.agents.base import hook, make_policy
from ethogram.data.dataset import Dataset, fall_cutter, read_dataset
from ethogram.data.goals import sample_batch
from ethogram.envs.registry import env_of
from ethogram.errors import EthogramError
from ethogram.evaluate.protocol import evaluate, periodic_seed


def make_train_chunk(agent: types.ModuleType, config, n_steps: int):
    """A jitted function running `n_steps` updates: (state, data, key) -> (state, mean metrics).

    The state's buffers are donated (updated in place); the dataset stays on the device and is only read.
    Batches come from `ethogram.data.goals.sample_batch`, or from the agent's own `sample_batch` hook; either
    way they are sampled inside jit.
    """
    custom_sampler = hook(agent, "sample_batch")

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


def _set_save_every(run_dir: Path, run: dict, save_every: int) -> dict:
    """A new checkpoint interval for a resumed run, accepted only when it keeps every chunk `fuse` steps long
    (each chunk's keys come from its first step, so then the results stay those of the uninterrupted run)."""
    old = rundir.train_config(run)
    if save_every < 1 or any(iv % old.fuse for iv in (save_every, old.save_every, old.log_every, old.eval_every)
                             if iv):
        raise EthogramError(f"--save-every {save_every} would change how '{run_dir}' is cut into chunks of "
                            f"{old.fuse} steps, and so its results.",
                            f"use a positive multiple of {old.fuse} (the run's fuse), or leave --save-every out")
    run["train_config"]["save_every"] = save_every
    rundir.write_config(run_dir, run)
    return run


def _set_steps(run_dir: Path, run: dict, steps: int, done: int) -> dict:
    """A new step budget for a resumed run: more steps extend it (a finished run too); fewer than it has done are
    refused."""
    if isinstance(steps, bool) or not isinstance(steps, int) or steps < 1:
        raise EthogramError(f"--steps must be a positive integer (got {steps!r}).")
    if steps < done:
        raise EthogramError(f"--steps {steps} is fewer than the {done} steps '{run_dir}' has already trained.",
                            f"give --steps of at least {done} to extend the run, or leave it out to finish it")
    run["train_config"]["steps"] = steps
    rundir.write_config(run_dir, run)
    return run


def train(run_dir: str | Path, progress: bool = True, log=print, resume: bool = False,
          save_every: int | None = None, steps: int | None = None, force: bool = False,
          tensorboard: bool | None = None) -> dict:
    """Train the run described by run_dir/config.json to its step budget.

    With `resume`, continue from the run's last checkpoint: the random keys of each chunk depend only on the seed
    and the step, so an interrupted and resumed run ends with the same metrics as an uninterrupted one. Resuming
    refuses a dataset or settings that changed since the run started, unless `force`. `save_every` replaces the
    run's checkpoint interval, `steps` its step budget (extending a finished run), `tensorboard` whether it also
    writes TensorBoard event files; each is recorded in config.json.
    The run directory is locked for the whole call.
    """
    run_dir = Path(run_dir)
    rundir.read_config(run_dir)  # "does not exist" / "not a run" before the lock
    with rundir.lock(run_dir, log=lambda m: log(m)):
        return _train(run_dir, progress, log, resume, save_every, steps, force, tensorboard)


def _train(run_dir: Path, progress, log, resume: bool, save_every: int | None, steps: int | None,
           force: bool, tensorboard: bool | None) -> dict:
    run, agent, config = rundir.load(run_dir)
    env = env_of(run)  # None: data of no environment ethogram simulates (no periodic evaluation: prepare_run)
    data, dataset_sha = read_dataset(run["dataset"], run["obs_dim"], run["action_dim"],
                                     transform=fall_cutter(env, int(run["train_config"].get("drop_falls", 0)),
                                                           run["dataset_name"], log))
    done = rundir.checkpoint_step(run_dir) if resume else 0
    if resume:
        for note in rundir.check_resume(run_dir, run, dataset_sha, force):
            log(f"note (--force): {note}")
    elif run.get("dataset_sha256") not in (None, dataset_sha):
        raise EthogramError(f"the dataset '{run['dataset']}' changed after '{run_dir}' was prepared.",
                            "prepare the run again (ethogram train ... --force)")
    if steps is not None and steps != run["train_config"]["steps"]:
        run = _set_steps(run_dir, run, steps, done)
    if save_every is not None and save_every != run["train_config"].get("save_every"):
        run = _set_save_every(run_dir, run, save_every)
    if tensorboard is not None and tensorboard != run["train_config"].get("tensorboard", False):
        run["train_config"]["tensorboard"] = tensorboard  # logging only: not one of the settings that decide results
        rundir.write_config(run_dir, run)
    tc = rundir.train_config(run)
    if tc.eval_every and env is None:
        raise EthogramError(f"'{run_dir}' evaluates every {tc.eval_every} steps, but its dataset comes from no "
                            "environment ethogram simulates.", "prepare the run again with --eval-every 0")
    if config.batch_size > data.size:
        log(f"note: batch_size {config.batch_size} exceeds the dataset's {data.size} transitions; "
            "sampling with replacement")
    base = jax.random.PRNGKey(tc.seed)
    state = agent.init(jax.random.fold_in(base, 0), rundir.spec_of(run), config)
    step = done
    metrics_csv = rundir.run_file(run_dir, rundir.METRICS)
    if step:
        stored = rundir.restore(run_dir, run, agent, config)
        state = jax.tree_util.tree_map(jnp.array, stored)
        log(f"resuming {run_dir} from step {step}")
    logs = rundir.MetricsLog(run_dir, tc.tensorboard, step)
    wall0 = rundir.last_value(metrics_csv, "wall_s", step) if step else 0.0  # the clock goes on where it stopped
    fuse = min(tc.fuse, tc.steps)
    chunks = {fuse: make_train_chunk(agent, config, fuse)}
    start, first = time.perf_counter(), step
    last_eval = None
    bar = tqdm(total=tc.steps, initial=step, desc=f"train {agent.NAME}", unit="step", disable=not progress,
               mininterval=1.0)
    window_t, window_steps = time.perf_counter(), 0

    def periodic_eval(state, step: int) -> dict:
        res, _ = evaluate(env, make_policy(agent, config, state, seed=tc.seed), tc.eval_episodes,
                          seed=periodic_seed(tc.seed, step), progress=progress)
        logs.evals({"step": step, "success": res["success"], **res["tasks"]})
        bar.write(f"step {step}: success {res['success']:.3f}")
        return res

    try:
        # An interruption between a checkpoint and its evaluation left that evaluation out of the learning curve:
        # the checkpoint is the state at that step, so the evaluation is made up first (the same result as if
        # there had been no interruption).
        if (step and tc.eval_every and step % tc.eval_every == 0 and step != tc.steps
                and step not in rundir.csv_steps(logs.evals_csv)):
            last_eval = periodic_eval(state, step)
        while step < tc.steps:
            # Chunks end exactly on every log / save / eval boundary.
            intervals = (tc.log_every, tc.save_every, tc.eval_every)
            n = min([fuse, tc.steps - step] + [iv - step % iv for iv in intervals if iv])
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
                logs.metrics({"step": step, "wall_s": round(wall0 + now - start, 3), "steps_per_s": round(sps, 2),
                              **{k: round(v, 6) for k, v in metrics.items()}})
                # each loss by its own name (value/loss -> value_loss, skill/critic_loss -> skill_critic_loss)
                bar.set_postfix(sps=f"{sps:.0f}", **{k.replace("/loss", "_loss").replace("/", "_"): f"{v:.3g}"
                                                     for k, v in metrics.items() if k.endswith("loss")})
            if step % tc.save_every == 0 or step == tc.steps:
                rundir.save_checkpoint(run_dir, state, step, run)
            if tc.eval_every and step % tc.eval_every == 0 and step != tc.steps:
                last_eval = periodic_eval(state, step)
    finally:
        logs.close()
    bar.close()
    return {"steps": step, "seconds": time.perf_counter() - start, "last_eval": last_eval, "resumed_from": first}
