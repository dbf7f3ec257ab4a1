"""Reward-free datasets collected by OGBench's scripted expert, all episodes at once, in any environment of
the registry (envs/base.py).

The expert (OGBench's data-generation procedure, data_gen_scripts/generate_locomaze.py): the navigator's subgoal
(the centre of the next cell on the BFS shortest path to the goal cell, envs/expert.py), the robot's locomotor
toward it (the point: the unit vector), plus Gaussian noise (sigma 0.5), clipped to [-1, 1].
`navigate`: start anywhere, goals drawn from vertex cells, a new goal whenever one is reached. `stitch`: the
goal is a cell exactly 4 BFS steps away; the agent stays there. Start and goal positions get uniform noise of
+-1. We differ in one respect: every random draw comes from one seeded numpy Generator, so the same seed gives
the same bytes (OGBench never seeds numpy).
"""

from __future__ import annotations

import math
import os
import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import numpy as np
from tqdm import tqdm

from ethogram import __version__
from ethogram.config import MAX_SEED
from ethogram.data.dataset import SCHEMA_VERSION
from ethogram.envs.expert import Navigator, unit_directions
from ethogram.envs.registry import ROBOTS, DatasetName, make_env
from ethogram.errors import EthogramError
from ethogram.io import FileSet, Lock, check_memory, check_writable_output, npz_bytes, recover

EXPERT_NOISE = 0.5
STITCH_STEPS = 4
EXPLORE_EVERY = 10  # explore: steps between new random directions

RESULTS_DIR = Path(__file__).resolve().parents[2] / "docs" / "results"  # in a source checkout


@dataclass(frozen=True)
class CollectConfig:
    """How a dataset is collected; defaults are OGBench's per dataset type and maze."""

    episodes: int
    episode_steps: int  # stored states per episode (OGBench stores 1001 for 1000 transitions)
    noise: float = EXPERT_NOISE
    seed: int = 0
    val_fraction: float = 0.1
    expert: str | None = None  # a learned locomotor's directory (the ant's); None: the robot's default


DEMO_NOISE = 0.1  # the avoiding demonstrator's action noise (in action units)


def default_config(name: DatasetName, seed: int = 0) -> CollectConfig:
    if not name.is_maze:  # a task's scripted demonstrations: variable length, at most the episode's 250 steps
        return CollectConfig(episodes=1000, episode_steps=251, noise=DEMO_NOISE, seed=seed)
    noise = ROBOTS[name.robot].noise.get(name.kind, EXPERT_NOISE)
    if name.kind == "stitch":
        return CollectConfig(episodes=5000, episode_steps=201, noise=noise, seed=seed)
    if name.kind == "explore":
        return CollectConfig(episodes=10000, episode_steps=501, noise=noise, seed=seed)
    if name.maze == "giant":
        return CollectConfig(episodes=500, episode_steps=2001, noise=noise, seed=seed)
    return CollectConfig(episodes=1000, episode_steps=1001, noise=noise, seed=seed)


def expert_dir(name: DatasetName, config: CollectConfig, log=None) -> Path | None:
    """The learned locomotor a dataset is collected with (None for a scripted one), or a clear error naming the one
    command that trains it. With no `--expert` and none trained in the robot's default directory, a source
    checkout's shipped expert (the one docs/results reports) is used, and `log` says so."""
    robot = ROBOTS[name.robot]
    if robot.expert is None:
        return None
    from ethogram.envs.locomotor import is_expert

    path = Path(config.expert or robot.expert)
    if is_expert(path):
        return path
    shipped = RESULTS_DIR / f"{robot.name}-expert"  # the expert whose quality docs/results reports
    has_shipped = is_expert(shipped)
    if config.expert is None and has_shipped:
        rel = os.path.relpath(shipped)
        shipped = shipped if rel.startswith("..") else Path(rel)
        (log or print)(f"note: {path} holds no {robot.name} expert; collecting with the one docs/results reports "
                       f"({shipped}). Train your own with: ethogram expert {robot.name} --out {path}")
        return shipped
    hint = (f"; or collect with the expert docs/results reports: --expert {os.path.relpath(shipped)}"
            if has_shipped else "")
    raise EthogramError(
        f"{name} is collected by the {robot.name}'s locomotion expert, and '{path}' holds none.",
        f"train it once (OGBench's 400k-step SAC recipe, about an hour on 2 cores; it resumes if "
        f"interrupted): ethogram expert {robot.name} --out {path}; or name another with --expert DIR{hint}")


def validate_collect_config(config: CollectConfig, env=None) -> None:
    """Every field in the range collection needs, and the arrays small enough for this machine (refused up front,
    with the estimate)."""
    for k, low in (("episodes", 1), ("episode_steps", 2)):
        v = getattr(config, k)
        if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < low:
            raise EthogramError(f"--{k.replace('_', '-')} must be at least {low} (got {v!r}).")
    if not isinstance(config.noise, (int, float)) or not math.isfinite(config.noise) or config.noise < 0:
        raise EthogramError(f"--noise must be >= 0 and finite (got {config.noise!r}).", "OGBench uses 0.5")
    if not isinstance(config.seed, (int, np.integer)) or not 0 <= config.seed <= MAX_SEED:
        raise EthogramError(f"--seed must be an integer in [0, 2**32 - 1] (got {config.seed!r}).")
    if not isinstance(config.val_fraction, (int, float)) or not 0 <= config.val_fraction < 1:
        raise EthogramError(f"val_fraction must be in [0, 1) (got {config.val_fraction!r}).")
    dims = 2 * (env.obs_dim + env.action_dim) if env is not None else 64
    steps = config.episodes * (1 + config.val_fraction) * config.episode_steps
    # the arrays, their flattened copies and the compressed files: about 3x the raw float32 data
    check_memory(int(steps * dims * 4 * 3), f"collecting {config.episodes} episodes of {config.episode_steps} "
                 "steps", "collect fewer episodes or shorter ones (--episodes, --episode-steps)")


def collect(name: DatasetName, config: CollectConfig, progress: bool = True,
            stats: dict | None = None) -> dict[str, np.ndarray]:
    """Run all episodes (training + validation) in one batch. Returns arrays of shape (episodes, T, ...); `stats`
    (a dict) receives how well the expert did: goals reached, and falls for a robot that can fall."""
    env = make_env(name.env, name.layout)
    validate_collect_config(config, env)
    locomotor = ROBOTS[name.robot].locomotor(expert_dir(name, config))
    maze = env.maze
    rng = np.random.default_rng(config.seed)
    n_val = int(config.episodes * config.val_fraction)
    b = config.episodes + n_val
    t_len = config.episode_steps

    free = maze.free_cells()
    vertices = maze.vertex_cells()
    navigator = Navigator(maze)  # any free cell can be a goal (stitch goals are not vertices)

    init_ij = np.array([free[k] for k in rng.integers(len(free), size=b)])
    if name.kind in ("navigate", "explore"):  # explore draws a goal as OGBench does, and never uses it
        goal_ij = np.array([vertices[k] for k in rng.integers(len(vertices), size=b)])
    elif name.kind == "stitch":
        goal_ij = np.empty_like(init_ij)
        for e in range(b):
            near = maze.cells_at_distance(tuple(init_ij[e]), STITCH_STEPS)
            goal_ij[e] = near[rng.integers(len(near))] if near else init_ij[e]
    else:
        raise EthogramError(f"dataset type '{name.kind}' is not collectable for {name.robot}maze yet.")
    goal_k = navigator.goal_index(goal_ij)
    xy = env.add_noise(maze.ij_to_xy(init_ij), rng)
    goal_xy = env.add_noise(maze.ij_to_xy(goal_ij), rng)
    state = env.reset(xy, rng)  # OGBench's reset noise on the velocities

    obs = np.empty((b, t_len, env.obs_dim), dtype=np.float32)
    actions = np.empty((b, t_len, env.action_dim), dtype=np.float32)
    qpos0, qvel0 = env.qpos_qvel(state)
    qpos_out = np.empty((b, t_len, qpos0.shape[1]), dtype=np.float32)
    qvel_out = np.empty((b, t_len, qvel0.shape[1]), dtype=np.float32)
    bar = tqdm(total=b * t_len, desc=f"collect {name}", unit="step", unit_scale=True,
               disable=not progress, mininterval=0.5)
    directions = np.zeros((b, 2))
    reached_goals = np.zeros(b, np.int64)
    fell = np.zeros(b, bool)
    fallen = getattr(env, "fallen", None)  # an optional hook of envs/base.py's contract
    for t in range(t_len):
        if name.kind == "explore":  # a random unit direction, redrawn every 10 steps
            if t % EXPLORE_EVERY == 0:
                d = rng.normal(size=(b, 2))
                directions = d / (np.linalg.norm(d, axis=-1, keepdims=True) + 1e-6)
        else:
            directions = unit_directions(env, state, navigator.subgoals(env.positions(state), goal_k))
        act = locomotor(env, state, directions)
        act = np.clip(act + rng.normal(0.0, config.noise, size=(b, env.action_dim)), -1.0, 1.0)
        obs[:, t] = env.observe(state)
        qpos_out[:, t], qvel_out[:, t] = env.qpos_qvel(state)
        actions[:, t] = act
        state = env.step(state, act, rng)
        if fallen is not None:
            fell |= fallen(state)
        if name.kind != "explore":
            reached = env.success(state, goal_xy)
            reached_goals += reached if name.kind == "navigate" else (reached & (reached_goals == 0))
        if name.kind == "navigate":
            if reached.any():
                idx = np.nonzero(reached)[0]
                new = rng.integers(len(vertices), size=len(idx))
                new_ij = np.array([vertices[k] for k in new])
                goal_k[idx] = navigator.goal_index(new_ij)
                goal_xy[idx] = env.add_noise(maze.ij_to_xy(new_ij), rng)
        bar.update(b)
    bar.close()
    if stats is not None and name.kind != "explore":
        stats["episodes_reaching_a_goal"] = round(float((reached_goals > 0).mean()), 4)
        stats["goals_reached_per_episode"] = round(float(reached_goals.mean()), 3)
    if stats is not None and fallen is not None:
        stats["episodes_fallen"] = round(float(fell.mean()), 4)
    terminals = np.zeros((b, t_len), dtype=bool)
    terminals[:, -1] = True
    return {"observations": obs, "actions": actions, "terminals": terminals, "qpos": qpos_out, "qvel": qvel_out}


def collect_demos(name: DatasetName, config: CollectConfig, progress: bool = True):
    """A task's scripted demonstrations (envs/avoiding.py), all at once: (train, val, extra metadata). Episodes
    end when the demonstrator crosses the finish line, so their lengths differ (`terminals` marks each end)."""
    from ethogram.envs import avoiding

    env = make_env(name.env, name.layout)
    validate_collect_config(config, env)
    rng = np.random.default_rng(config.seed)
    n_val = int(config.episodes * config.val_fraction)
    b = config.episodes + n_val
    with tqdm(total=b, desc=f"collect {name}", unit="episode", disable=not progress) as bar:
        obs, actions, length, beh, success = avoiding.demonstrate(env, b, config.noise, rng,
                                                                 steps=config.episode_steps - 1)
        bar.update(b)
    if not success.all():
        raise EthogramError(f"{int((~success).sum())} of {b} demonstrations failed with noise {config.noise}.",
                            "use less noise (--noise; default 0.1) or longer episodes (--episode-steps)")

    def flat(sel: slice) -> dict[str, np.ndarray]:
        """Episodes `sel`, each cut after the state that crossed the line, one after another."""
        n = length[sel] + 1
        keep = np.arange(obs.shape[1])[None] < n[:, None]  # (episodes, T + 1)
        o, a = obs[sel][keep], actions[sel][keep]
        term = np.zeros(len(o), dtype=bool)
        term[np.cumsum(n) - 1] = True
        qpos = env.obs_positions(o).astype(np.float32)  # metres
        starts = np.concatenate([[True], term[:-1]])
        vel = np.where(starts[:, None], 0.0, np.diff(qpos, axis=0, prepend=qpos[:1])).astype(np.float32)
        return {"observations": o, "actions": a, "terminals": term, "qpos": qpos, "qvel": vel}

    counts = np.bincount(beh[: config.episodes], minlength=env.n_behaviours)
    extra = {"behaviour_counts": [int(c) for c in counts],
             "behaviour_probs": [round(float(p), 6) for p in avoiding.behaviour_probs()],
             "mean_episode_length": round(float(length[: config.episodes].mean()), 2)}
    return flat(slice(0, config.episodes)), flat(slice(config.episodes, None)), extra, int(length.sum() + b)


def _flat(arrays: dict[str, np.ndarray], sl: slice) -> dict[str, np.ndarray]:
    return {k: np.ascontiguousarray(v[sl].reshape((-1,) + v.shape[2:])) for k, v in arrays.items()}


def val_path(path: Path) -> Path:
    return path.with_name(path.name[: -len(".npz")] + "-val.npz")


def collect_to_file(name: DatasetName, config: CollectConfig, out: str | Path, force: bool = False,
                    progress: bool = True, log=None) -> dict:
    """Collect and write `out` (training), `out-val.npz` (validation) and the JSON sidecar as one set (io.FileSet):
    the sidecar, written last, names each file's sha256, so a reader refuses files of two collections."""
    out = Path(out)
    if out.suffix != ".npz":
        raise EthogramError(f"output path '{out}' must end in .npz (the OGBench dataset layout).",
                            f"for example: --out data/{name}.npz")
    validate_collect_config(config)
    meta_path = out.with_suffix(".json")
    targets = [out, val_path(out), meta_path]
    for p in targets:
        check_writable_output(p, force)
    with Lock(out.with_name(f".{out.stem}.lock"), f"dataset '{out}'", log):
        for line in recover(out.parent, {p.name for p in targets}):
            (log or print)(f"note: {line}")
        start = time.perf_counter()
        n_train = config.episodes
        extra: dict = {}
        if name.is_maze:
            expert = expert_dir(name, config, log)
            if expert is not None:  # which expert walked the robot: its record names its weights' sha256
                from ethogram.envs.locomotor import read_record

                rec = read_record(expert, policy=True)
                extra["expert"] = {"dir": str(expert), "step": rec.get("step"), "files": rec.get("files", {})}
                config = replace(config, expert=str(expert))  # resolved once (and its note said once)
            stats: dict = {}
            arrays = collect(name, config, progress=progress, stats=stats)
            extra["expert_stats"] = stats
            train, val = _flat(arrays, slice(0, n_train)), _flat(arrays, slice(n_train, None))
            env_steps = arrays["observations"].shape[0] * arrays["observations"].shape[1]
        else:
            train, val, extra, env_steps = collect_demos(name, config, progress=progress)
        seconds = time.perf_counter() - start
        episodes = int(train["terminals"].sum()), int(val["terminals"].sum())
        meta = {
            "format": "ogbench-npz",
            "dataset": str(name),
            "env": name.env,
            "kind": name.kind,
            "collect_config": asdict(config),
            "train_episodes": n_train,
            "val_episodes": episodes[1],
            "transitions": int(len(train["terminals"]) - episodes[0]),
            **extra,
            "ethogram_version": __version__,
            "schema_version": SCHEMA_VERSION,
        }
        if name.layout is not None:  # a custom maze travels with its data (and with every run trained on it)
            meta["maze_layout"] = name.layout
        # An older collection's -val file never stays beside new data.
        with FileSet(meta_path, remove=() if meta["val_episodes"] else (val_path(out),)) as fs:
            fs.write(out, npz_bytes(train))
            if meta["val_episodes"] > 0:
                fs.write(val_path(out), npz_bytes(val))
            fs.commit(meta)
    return {**meta, "seconds": seconds, "env_steps_per_second": env_steps / seconds}
