"""The ant's locomotion expert: soft actor-critic (Haarnoja et al., 2018) on the directional task (envs/ant.py).

OGBench trains its antmaze data's low-level expert this way (data_gen_scripts/main_sac.py, impls/agents/sac.py);
this is our implementation of the same recipe, read top-down beside the paper:

  critic   two Q networks Q_k(s, a) (MLP 256-256, GELU), target y = r + gamma * mask * (min_k Qbar_k(s', a') -
           alpha * log pi(a' | s')), a' ~ pi(. | s'); loss (Q_k(s, a) - y)^2, both heads
  actor    tanh-squashed Gaussian with a state-dependent std (log std in [-5, 2], mean head init scale 0.01);
           loss E[alpha * log pi(a | s) - min_k Q_k(s, a)], a ~ pi(. | s)
  alpha    automatic entropy: loss alpha * (H - H_target), H_target = -0.5 * dim(A) = -4
  one Adam (lr 1e-4) over all three, batch 256, gamma 0.99, Polyak 0.005 on the critic's target,
  400k environment steps after 10k uniformly random ones, one update per environment step.

Ours fuses the updates: every round, `envs` episodes step `chunk` times with one policy and then `envs * chunk`
updates run as one jitted `lax.scan` over a replay buffer that lives on the device (rows written in place), so one
update per environment step is kept. A round acts with the policy from before the previous round's updates, so
that collecting need not wait for them: the collecting policy is at most two rounds old (OGBench: envs 1, chunk 1,
no lag; our default: envs 1, chunk 10, a policy at most 20 updates old). An expert directory (`ethogram expert
ant`) holds expert.safetensors (networks, optimiser, replay buffer, random state), expert.json (config, step, the task's
state; written last, it names the safetensors' sha256), metrics.csv and, after training, eval.json (mean
directional speed over 50 episodes). It resumes from its last save after any interruption. When training ends it
also writes policy.safetensors and policy.json: the actor alone (about 0.3 MB), all that collection needs; a
directory holding only those two files is a complete expert for `ethogram collect --expert DIR`.
"""

from __future__ import annotations

import dataclasses
import json
import time
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import NamedTuple

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import optax
from tqdm import tqdm

from ethogram.envs.ant import ACTION_DIM, OBS_DIM, AntPhysics, AntTask, fallen_qpos
from ethogram.errors import EthogramError
from ethogram.nets import MLP, dense, ensemble, polyak

ROBOT = "ant"
METRICS = ("critic_loss", "actor_loss", "alpha", "entropy", "q_mean")  # metrics.csv's update columns
FORMAT = "ethogram-locomotor-1"
POLICY_FORMAT = "ethogram-locomotor-policy-1"


@dataclass(frozen=True)
class SACConfig:
    """OGBench's SAC settings for the ant (impls/agents/sac.py, data_gen_scripts/commands.sh), and our fusion."""

    steps: int = 400_000  # environment steps (updates start after seed_steps, one per step)
    seed_steps: int = 10_000  # uniformly random actions first
    lr: float = 1e-4
    batch_size: int = 256
    actor_hidden_dims: tuple[int, ...] = (256, 256)
    value_hidden_dims: tuple[int, ...] = (256, 256)
    discount: float = 0.99
    tau: float = 0.005
    target_entropy_multiplier: float = 0.5  # H_target = -0.5 * dim(A)
    log_std_min: float = -5.0
    log_std_max: float = 2.0
    actor_final_scale: float = 0.01
    envs: int = 1  # episodes stepped together
    chunk: int = 10  # environment steps per round (then envs * chunk fused updates)
    save_every: int = 20_000
    seed: int = 0
    end_on_back: bool = False  # episodes also end when the ant lands on its back (envs/ant.py fallen_qpos), which
    # the healthy height range of Gym's and OGBench's ant misses; off: OGBench's task


def check_config(c: SACConfig) -> None:
    for name in ("steps", "batch_size", "envs", "chunk", "save_every"):
        if getattr(c, name) < 1:
            raise EthogramError(f"expert setting {name} must be at least 1 (got {getattr(c, name)}).")
    if c.seed_steps < 0 or c.lr <= 0 or not 0 < c.tau <= 1 or not 0 < c.discount <= 1:
        raise EthogramError("expert settings: seed_steps >= 0, lr > 0, 0 < tau <= 1 and 0 < discount <= 1.")


# ------------------------------------------------------------------------------------------------ networks

class Actor(nn.Module):
    """pi(a | s): tanh of a Gaussian whose mean and log std both depend on s; returns (mean, log_std)."""

    hidden_dims: tuple[int, ...]
    action_dim: int
    log_std_min: float
    log_std_max: float
    final_scale: float

    @nn.compact
    def __call__(self, obs):
        x = MLP(self.hidden_dims, activate_final=True)(obs)
        mean = dense(self.action_dim, scale=self.final_scale)(x)
        log_std = dense(self.action_dim, scale=self.final_scale)(x)
        return mean, jnp.clip(log_std, self.log_std_min, self.log_std_max)


class Critic(nn.Module):
    """Two independent Q heads Q_k(s, a) -> (2, batch)."""

    hidden_dims: tuple[int, ...]

    @nn.compact
    def __call__(self, obs, actions):
        return ensemble(2)((*self.hidden_dims, 1))(jnp.concatenate([obs, actions], -1))[..., 0]


def tanh_sample(mean, log_std, key):
    """a = tanh(u), u ~ N(mean, std^2), with log pi(a) (the change of variables through tanh, computed stably)."""
    u = mean + jnp.exp(log_std) * jax.random.normal(key, mean.shape)
    log_n = -0.5 * (((u - mean) / jnp.exp(log_std)) ** 2 + 2 * log_std + jnp.log(2 * jnp.pi))
    log_det = 2.0 * (jnp.log(2.0) - u - jax.nn.softplus(-2.0 * u))  # log(1 - tanh(u)^2)
    return jnp.tanh(u), (log_n - log_det).sum(-1)


class SACState(NamedTuple):
    params: dict  # {"actor", "critic", "log_alpha"}
    target: dict  # the critic's target parameters
    opt: optax.OptState
    key: jax.Array
    updates: jax.Array  # updates done


class Buffer(NamedTuple):
    """The replay buffer on the device: `size` valid rows of each array."""

    obs: jax.Array
    actions: jax.Array
    rewards: jax.Array
    masks: jax.Array
    next_obs: jax.Array
    size: jax.Array


def networks(c: SACConfig):
    return (Actor(c.actor_hidden_dims, ACTION_DIM, c.log_std_min, c.log_std_max, c.actor_final_scale),
            Critic(c.value_hidden_dims))


def init(c: SACConfig, capacity: int) -> tuple[SACState, Buffer]:
    actor, critic = networks(c)
    k_actor, k_critic, key = jax.random.split(jax.random.PRNGKey(c.seed), 3)
    obs, act = jnp.zeros((1, OBS_DIM)), jnp.zeros((1, ACTION_DIM))
    params = {"actor": actor.init(k_actor, obs), "critic": critic.init(k_critic, obs, act),
              "log_alpha": jnp.zeros(())}
    opt = optax.adam(c.lr).init(params)
    state = SACState(params, jax.tree_util.tree_map(jnp.copy, params["critic"]), opt, key, jnp.zeros((), jnp.int32))
    z = jnp.zeros
    buf = Buffer(z((capacity, OBS_DIM)), z((capacity, ACTION_DIM)), z((capacity,)), z((capacity,)),
                 z((capacity, OBS_DIM)), jnp.zeros((), jnp.int32))
    return state, buf


# ---------------------------------------------------------------------------------------------- the update

def make_update(c: SACConfig):
    """(state, buffer, n) -> (state, mean metrics): n SAC updates fused with lax.scan (n static per compile)."""
    actor, critic = networks(c)
    tx = optax.adam(c.lr)
    target_entropy = -c.target_entropy_multiplier * ACTION_DIM

    def loss_fn(params, target, batch, key):
        k_next, k_pi = jax.random.split(key)
        alpha = jnp.exp(params["log_alpha"])
        sg_alpha = jax.lax.stop_gradient(alpha)
        sg_actor = jax.lax.stop_gradient(params["actor"])
        sg_critic = jax.lax.stop_gradient(params["critic"])
        # critic
        next_a, next_logp = tanh_sample(*actor.apply(sg_actor, batch.next_obs), k_next)
        next_q = critic.apply(target, batch.next_obs, next_a).min(0)
        y = batch.rewards + c.discount * batch.masks * (next_q - sg_alpha * next_logp)
        q = critic.apply(params["critic"], batch.obs, batch.actions)
        critic_loss = jnp.square(q - jax.lax.stop_gradient(y)).mean()
        # actor
        a, logp = tanh_sample(*actor.apply(params["actor"], batch.obs), k_pi)
        actor_loss = (sg_alpha * logp - critic.apply(sg_critic, batch.obs, a).min(0)).mean()
        # temperature
        entropy = -jax.lax.stop_gradient(logp).mean()
        alpha_loss = alpha * (entropy - target_entropy)
        metrics = {"critic_loss": critic_loss, "actor_loss": actor_loss, "alpha": alpha, "entropy": entropy,
                   "q_mean": q.mean()}
        return critic_loss + actor_loss + alpha_loss, metrics

    def update(state: SACState, buf: Buffer, n: int):
        def one(state, _):  # the buffer is a constant of the loop, not part of its carry (never copied)
            key, k_idx, k_loss = jax.random.split(state.key, 3)
            idx = jax.random.randint(k_idx, (c.batch_size,), 0, jnp.maximum(buf.size, 1))
            batch = Buffer(buf.obs[idx], buf.actions[idx], buf.rewards[idx], buf.masks[idx], buf.next_obs[idx],
                           buf.size)
            grads, metrics = jax.grad(loss_fn, has_aux=True)(state.params, state.target, batch, k_loss)
            upd, opt = tx.update(grads, state.opt, state.params)
            params = optax.apply_updates(state.params, upd)
            target = polyak(params["critic"], state.target, c.tau)
            return SACState(params, target, opt, key, state.updates + 1), metrics

        state, metrics = jax.lax.scan(one, state, None, length=n)
        return state, jax.tree_util.tree_map(jnp.mean, metrics)

    return jax.jit(update, static_argnums=2)


@partial(jax.jit, donate_argnums=0)  # written in place: a copy of the whole buffer per round would cost more
def _add(buf: Buffer, obs, actions, rewards, masks, next_obs) -> Buffer:
    n = obs.shape[0]
    at = buf.size
    put = lambda arr, rows: jax.lax.dynamic_update_slice_in_dim(arr, rows.astype(arr.dtype), at, axis=0)
    return Buffer(put(buf.obs, obs), put(buf.actions, actions), put(buf.rewards, rewards), put(buf.masks, masks),
                  put(buf.next_obs, next_obs), buf.size + n)


def make_act(c: SACConfig):
    actor, _ = networks(c)

    @jax.jit
    def act(params, obs, key):
        """Exploration actions: samples of the tanh Gaussian."""
        return tanh_sample(*actor.apply(params, obs), key)[0]

    @jax.jit
    def act_deterministic(params, obs):
        """The expert's action: tanh of the mean (OGBench's collection samples at temperature 0)."""
        return jnp.tanh(actor.apply(params, obs)[0])

    return act, act_deterministic


# ------------------------------------------------------------------------------------------------ files

def _files(out: Path) -> tuple[Path, Path]:
    return out / "expert.safetensors", out / "expert.json"


def _save(out: Path, c: SACConfig, state: SACState, buf: Buffer, task: AntTask, step: int, seconds: float) -> None:
    from ethogram import checkpoint
    from ethogram.io import FileSet

    arrays = {"sac": state, "buffer": buf, "task": {"state": task.state, "z": task.z, "t": task.t,
                                                      "returns": task.returns}}
    record = {"format": FORMAT, "robot": ROBOT, "config": dataclasses.asdict(c), "step": step,
              "seconds": round(seconds, 1), "obs_dim": OBS_DIM, "action_dim": ACTION_DIM,
              "buffer_rows": int(buf.obs.shape[0]),
              "task_rng": task.rng.bit_generator.state, "episodes": len(task.finished),
              "falls": int(sum(f for _, _, f in task.finished))}
    weights, manifest = _files(out)
    with FileSet(manifest) as fs:
        fs.write(weights, checkpoint.encode(arrays))
        fs.commit(json.loads(json.dumps(record, default=int)))


def _policy_files(out: Path) -> tuple[Path, Path]:
    return out / "policy.safetensors", out / "policy.json"


def is_expert(out: str | Path) -> bool:
    """Whether `out` holds an expert: a training directory (expert.json) or an exported policy (policy.json)."""
    return any((Path(out) / f).is_file() for f in ("policy.json", "expert.json"))


def read_record(out: str | Path, policy: bool = False) -> dict:
    """An expert directory's record (expert.json; with `policy`, policy.json where the directory has one), every
    field a locomotor needs checked."""
    from ethogram.io import read_json

    out = Path(out)
    manifest = _files(out)[1]
    if policy and _policy_files(out)[1].is_file():
        manifest = _policy_files(out)[1]
    if not manifest.is_file():
        raise EthogramError(f"'{out}' is not a locomotion expert: it has no expert.json.",
                            "train one with: ethogram expert ant --out " + str(out))
    record = read_json(manifest, "expert record", "train the expert again: ethogram expert ant --out " + str(out))
    wanted = POLICY_FORMAT if manifest.name == "policy.json" else FORMAT
    if not isinstance(record, dict) or record.get("format") != wanted:
        raise EthogramError(f"'{manifest}' is not an expert record of this ethogram (format "
                            f"{record.get('format') if isinstance(record, dict) else None!r}).",
                            "train the expert again: ethogram expert ant --out " + str(out))
    if record.get("robot") != ROBOT or record.get("obs_dim") != OBS_DIM or record.get("action_dim") != ACTION_DIM:
        raise EthogramError(f"expert '{out}' is of robot {record.get('robot')!r} with observations of dimension "
                            f"{record.get('obs_dim')} and actions of {record.get('action_dim')}; the ant's are "
                            f"{OBS_DIM} and {ACTION_DIM}.", "use an ant expert: ethogram expert ant --out DIR")
    return record


def config_of(record: dict) -> SACConfig:
    try:
        d = dict(record["config"])
        for k in ("actor_hidden_dims", "value_hidden_dims"):
            d[k] = tuple(d[k])
        return SACConfig(**d)
    except (KeyError, TypeError) as e:
        raise EthogramError(f"the expert record's config is malformed ({e}).", "train the expert again") from None


def load(out: str | Path) -> tuple[SACConfig, SACState, Buffer, dict]:
    """(config, SAC state, replay buffer, record) of an expert directory; a clear error for a truncated or foreign
    file, which is never overwritten by reading it."""
    from ethogram import checkpoint
    from ethogram.io import verify

    out = Path(out)
    record = read_record(out)
    c = config_of(record)
    weights, manifest = _files(out)
    verify(manifest, f"train it again: ethogram expert ant --out {out} --force")
    state, buf = init(c, int(record.get("buffer_rows", c.steps)))
    template = {"sac": state, "buffer": buf, "task": {"state": np.zeros((c.envs, 30)), "z": np.zeros((c.envs, 2)),
                                                        "t": np.zeros(c.envs, np.int64), "returns": np.zeros(c.envs)}}
    arrays = checkpoint.load(weights, template, expected_sha256=record.get("files", {}).get(weights.name),
                             mismatch_fix=f"train it again: ethogram expert ant --out {out} --force")
    return c, SACState(*arrays["sac"]), Buffer(*arrays["buffer"]), {**record, "task_arrays": arrays["task"]}


def write_policy(out: str | Path, c: SACConfig, actor_params, step: int, source_files: dict | None = None) -> Path:
    """Write the actor alone (policy.safetensors + policy.json, the record last) into `out`."""
    from ethogram import checkpoint
    from ethogram.io import FileSet

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    weights, manifest = _policy_files(out)
    record = {"format": POLICY_FORMAT, "robot": ROBOT, "config": dataclasses.asdict(c), "step": int(step),
              "obs_dim": OBS_DIM, "action_dim": ACTION_DIM, "action": "tanh of the actor's mean",
              "trained_by": f"ethogram expert {ROBOT} (SAC, {int(step)} environment steps, seed {c.seed})",
              "expert_files": source_files or {}}
    with FileSet(manifest) as fs:
        fs.write(weights, checkpoint.encode({"actor": jax.device_get(actor_params)}))
        fs.commit(record)
    return out


def export_policy(out: str | Path, dest: str | Path | None = None) -> Path:
    """The actor of a trained expert directory as a policy directory (`dest`, default the expert's own)."""
    c, state, _, record = load(out)
    return write_policy(dest if dest is not None else out, c, state.params["actor"], int(record["step"]),
                        record.get("files", {}))


def load_policy(out: str | Path) -> tuple[SACConfig, dict, dict]:
    """(config, actor parameters, record) of an expert: its policy.json/policy.safetensors where it has them (the
    light reader), otherwise the actor of its full training state; a truncated or foreign file is refused."""
    from ethogram import checkpoint
    from ethogram.io import verify

    out = Path(out)
    weights, manifest = _policy_files(out)
    if not manifest.is_file():
        c, state, _, record = load(out)
        return c, state.params["actor"], record
    fix = f"export it again from its training directory, or train one: ethogram expert ant --out {out}"
    record = read_record(out, policy=True)
    c = config_of(record)
    verify(manifest, fix)
    actor, _ = networks(c)
    template = {"actor": actor.init(jax.random.PRNGKey(0), jnp.zeros((1, OBS_DIM)))}
    arrays = checkpoint.load(weights, template, expected_sha256=record.get("files", {}).get(weights.name),
                             mismatch_fix=fix)
    return c, arrays["actor"], record


# ------------------------------------------------------------------------------------------------ training

def train_expert(out: str | Path, c: SACConfig = SACConfig(), force: bool = False, progress: bool = True,
                 log=print) -> dict:
    """Train (or resume) the ant's locomotion expert in `out`; returns {steps, seconds, steps_per_s, ...}."""
    from ethogram.io import Lock

    check_config(c)
    out = Path(out)
    resume = (out / "expert.json").exists()
    if resume and force:
        for p in (*_files(out), out / "metrics.csv", out / "eval.json"):
            p.unlink(missing_ok=True)
        resume = False
    out.mkdir(parents=True, exist_ok=True)
    with Lock(out / ".expert.lock", f"expert '{out}'"):
        physics = AntPhysics(threads=1)
        task = AntTask(c.envs, c.seed, physics, end_on_back=c.end_on_back)
        if resume:
            saved_c, state, buf, record = load(out)
            if dataclasses.replace(saved_c, steps=c.steps) != c:
                raise EthogramError(f"expert '{out}' was started with other settings.",
                                    "resume it with its own settings (only --steps may change), or pass --force")
            if c.steps < int(record["step"]):
                raise EthogramError(f"expert '{out}' has trained {record['step']} steps already; --steps {c.steps} "
                                    "is fewer.", f"give --steps of at least {record['step']}")
            if c.steps > buf.obs.shape[0]:  # a longer budget: the replay buffer grows to hold every step
                grow = c.steps - buf.obs.shape[0]
                buf = Buffer(*(jnp.pad(a, [(0, grow)] + [(0, 0)] * (a.ndim - 1)) for a in buf[:-1]), buf.size)
            ta = record["task_arrays"]
            task.state, task.z, task.t, task.returns = (np.asarray(ta[k]) for k in ("state", "z", "t", "returns"))
            task.rng.bit_generator.state = record["task_rng"]
            step, seconds = int(record["step"]), float(record["seconds"])
            log(f"resuming {out} from step {step}")
        else:
            state, buf = init(c, c.steps)
            step, seconds = 0, 0.0
        update = make_update(c)
        act, _ = make_act(c)
        metrics_csv = out / "metrics.csv"
        key = jax.random.fold_in(jax.random.PRNGKey(c.seed), 7)
        bar = tqdm(total=c.steps, initial=step, desc="train ant expert", unit="step", disable=not progress,
                   mininterval=1.0, dynamic_ncols=True)
        t0, last_log = time.perf_counter(), step
        m = {}
        act_params = state.params["actor"]
        while step < c.steps:
            n_steps = min(c.chunk, -(-(c.steps - step) // c.envs))
            rng = np.random.default_rng([c.seed, step])  # this round's seed actions, the same after a resume
            rows = []
            for _ in range(n_steps):
                obs = task.observe()
                if step < c.seed_steps:
                    a = rng.uniform(-1, 1, (c.envs, ACTION_DIM))
                else:
                    a = np.asarray(act(act_params, obs, jax.random.fold_in(key, step)))
                tr = task.step(a)
                rows.append((tr.obs, a, tr.reward, (~tr.terminated).astype(np.float32), tr.next_obs))
                step += c.envs
            cat = [np.concatenate(x) for x in zip(*rows, strict=True)]
            buf = _add(buf, *cat)
            # one update per environment step i once the buffer holds seed_steps (OGBench: i >= seed_steps)
            n_updates = step - max(step - len(cat[0]), c.seed_steps - 1)
            # the next round acts with the policy from before these updates, so that its environment steps run on
            # the host while the updates run on the device (the same policy lag whatever the timing)
            act_params = state.params["actor"]
            if n_updates > 0:
                state, m = update(state, buf, n_updates)
            bar.update(len(cat[0]))
            if step - last_log >= 5000 or step >= c.steps:
                last_log = step
                done = task.finished[-20:]
                ret = float(np.mean([r for r, _, _ in done])) if done else float("nan")
                row = {"step": step, "wall_s": round(seconds + time.perf_counter() - t0, 1),
                       "episode_return": round(ret, 3), "episodes": len(task.finished),
                       "falls": int(sum(f for _, _, f in task.finished)),
                       **{k: round(float(m[k]), 5) if k in m else float("nan") for k in METRICS}}
                _append_csv(metrics_csv, row)
                bar.set_postfix(ret=f"{ret:.1f}", alpha=f"{float(m.get('alpha', 1.0)):.3f}")
            if step % c.save_every < c.envs * n_steps or step >= c.steps:
                _save(out, c, state, buf, task, step, seconds + time.perf_counter() - t0)
                act_params = state.params["actor"]  # as a resumed run starts: with the saved policy
        bar.close()
        physics.close()
        total = seconds + time.perf_counter() - t0
        write_policy(out, c, state.params["actor"], step, read_record(out).get("files", {}))
    return {"steps": step, "seconds": round(total, 1), "steps_per_s": round(step / max(total, 1e-9), 1),
            "episodes": len(task.finished)}


def _append_csv(path: Path, row: dict) -> None:
    import csv

    new = not path.exists()
    with path.open("a", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(row))
        if new:
            w.writeheader()
        w.writerow(row)


# ------------------------------------------------------------------------------------------------ quality

def evaluate_expert(out: str | Path, episodes: int = 50, seed: int = 0, progress: bool = True) -> dict:
    """Mean directional speed of the deterministic expert over `episodes` 1000-step episodes of the directional
    task (direction resampled every 100 steps), and how often it falls (an unhealthy state ends the episode)."""
    from ethogram.io import atomic_write_text

    out = Path(out)
    c, actor_params, _ = load_policy(out)
    _, act_det = make_act(c)
    physics = AntPhysics()
    task = AntTask(episodes, seed + 12345, physics)
    alive = np.ones(episodes, bool)
    on_back = np.zeros(episodes, bool)
    disp = np.zeros(episodes)
    length = np.zeros(episodes, int)
    for _ in tqdm(range(task.episode_steps), desc="evaluate ant expert", unit="step", disable=not progress,
                  mininterval=1.0):
        a = np.asarray(act_det(actor_params, task.observe()))
        tr = task.step(a)
        disp += np.where(alive, tr.reward, 0.0)
        length += alive
        on_back |= alive & fallen_qpos(physics.qpos(task.state))  # fallen yet not ended: on its back
        alive &= ~tr.terminated
    physics.close()
    dt = 5 * float(physics.model.opt.timestep)
    speed = disp / (length * dt)
    res = {"episodes": episodes, "seed": seed, "directional_speed_mean": round(float(speed.mean()), 4),
           "directional_speed_std": round(float(speed.std()), 4), "units": "m/s along the target direction",
           "fell": int((~alive).sum()), "on_back": int(on_back.sum()), "mean_episode_length": float(length.mean()),
           "displacement_per_step": round(float((disp / length).mean()), 5)}
    atomic_write_text(out / "eval.json", json.dumps(res, indent=2) + "\n")
    return res
