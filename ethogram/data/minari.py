"""Minari in and out: our npz datasets as Minari goal-conditioned datasets, and Minari datasets as training data.

Minari (the Farama Foundation's offline-RL dataset format) keeps datasets in a local storage directory
(`MINARI_DATASETS_PATH`, default ~/.minari/datasets); nothing here touches the network. The optional extra
`pip install 'ethogram[minari]'` installs it; docs/minari.md shows both directions.

Out (`export_minari`): each episode of T stored states becomes a Minari episode of T observations and T - 1
actions, with Dict observations as Minari's goal-conditioned datasets (D4RL's pointmaze, antmaze) have them:
`observation` (our observation), `achieved_goal` (the x-y position of an environment ethogram simulates, else the
whole observation: a goal is a state) and `desired_goal` (the episode's final achieved goal: hindsight, since our
data are reward-free and store no goals). Rewards are 0, terminations False, the last step truncated. What Minari's
layout has no place for travels in the episode's infos (`action`: every stored action, the last included;
`qpos`, `qvel`) and in the dataset's metadata (`ethogram`: our dataset name, environment, custom maze layout,
schema version and the npz's sha256), so npz -> Minari -> npz gives back the same arrays, dtypes included.

In (`read_minari`, `minari_to_npz`): any Minari dataset whose observations are such a Dict (a Box `observation`
and a `desired_goal`) and whose actions are a Box. Our observations are the `observation` entries; the last stored
action of an episode is its `infos["action"]` where the dataset has it, else zeros (it is never trained on:
ogbench.load_dataset drops it too).
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import tempfile
import warnings
from pathlib import Path
from typing import Any

import numpy as np

from ethogram.errors import EthogramError

EXTRA = "pip install 'ethogram[minari]'"
META_KEY = "ethogram"  # our record in a Minari dataset's metadata (a JSON string)
OBS, ACHIEVED, DESIRED = "observation", "achieved_goal", "desired_goal"
ACTION_INFO = "action"
NAME_EXAMPLE = "ethogram/pointmaze-medium-navigate-v0"


def _minari():
    """The minari package, or a clear error saying which extra installs it."""
    try:
        import minari
    except ImportError:
        raise EthogramError("Minari is not installed (it is an optional extra of ethogram).",
                            f"install it with: {EXTRA}") from None
    return minari


def storage_root() -> Path:
    """Minari's local storage directory (MINARI_DATASETS_PATH, or ~/.minari/datasets)."""
    _minari()
    from minari.storage.datasets_root_dir import get_dataset_path

    return Path(get_dataset_path()).resolve()


def _check_name(name: str) -> tuple[str | None, str, int]:
    from minari.dataset.minari_dataset import parse_dataset_id

    try:
        return parse_dataset_id(name)
    except (ValueError, TypeError):
        raise EthogramError(f"'{name}' is not a Minari dataset name.",
                            f"Minari names are (namespace/)name-vVERSION, e.g. {NAME_EXAMPLE}") from None


def local_datasets() -> list[str]:
    """The names of the datasets in Minari's local storage."""
    minari = _minari()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return sorted(minari.list_local_datasets())


# -------------------------------------------------------------------------------------------------- out

def _episodes(terminals: np.ndarray) -> list[tuple[int, int]]:
    """(first, last) stored step of each episode."""
    ends = np.nonzero(np.asarray(terminals).astype(bool))[0]
    starts = np.concatenate([[0], ends[:-1] + 1])
    return [(int(s), int(e)) for s, e in zip(starts, ends, strict=True)]


def _spaces(obs_dim: int, goal_dim: int, action_dim: int, obs_dtype):
    import gymnasium

    box = gymnasium.spaces.Box
    return (gymnasium.spaces.Dict({OBS: box(-np.inf, np.inf, (obs_dim,), obs_dtype),
                                   ACHIEVED: box(-np.inf, np.inf, (goal_dim,), np.float32),
                                   DESIRED: box(-np.inf, np.inf, (goal_dim,), np.float32)}),
            box(-1.0, 1.0, (action_dim,), np.float32))


def _env_spec(env_name: str | None, layout: str | None):
    """The Gymnasium spec of our environment (Minari's `recover_environment` then makes it), where one is
    registered; a custom maze's needs its maze file, which the dataset's metadata holds as text instead."""
    if env_name is None or layout is not None:
        return None
    import gymnasium

    from ethogram.envs.gym import gym_id, register_envs

    register_envs()
    with contextlib.suppress(Exception):
        return gymnasium.spec(gym_id(env_name))
    return None


def export_minari(dataset_path: str | Path, name: str, force: bool = False, progress: bool = True) -> dict:
    """Write the npz dataset at `dataset_path` to Minari's local storage as dataset `name`, all or nothing: it is
    built beside the storage's datasets and moved into place when complete (with `force`, replacing a dataset of
    that name). Returns {name, episodes, steps, path}."""
    minari = _minari()
    from minari.data_collector.episode_buffer import EpisodeBuffer
    from minari.dataset.minari_storage import MinariStorage
    from tqdm.auto import tqdm

    from ethogram import __version__
    from ethogram.data.dataset import SCHEMA_VERSION, dataset_info, read_dataset_file, validate_arrays
    from ethogram.envs.registry import env_of

    namespace, _, _ = _check_name(name)
    root = storage_root()
    final = root / name
    if final.exists() and not force:
        raise EthogramError(f"Minari dataset '{name}' already exists at {final}; refusing to replace it.",
                            "choose another --minari name (or a new version, -v1), or pass --force to replace it")
    arrays, digest = read_dataset_file(dataset_path)
    info = dataset_info(dataset_path)
    env = env_of({"env": info.env, "maze_layout": info.layout})
    validate_arrays(arrays, str(dataset_path), env=env)
    obs, act = arrays["observations"], arrays["actions"]
    goals = env.obs_positions(obs) if env is not None else obs
    goals = np.asarray(goals, dtype=np.float32)
    obs_space, act_space = _spaces(obs.shape[1], goals.shape[1], act.shape[1], obs.dtype)
    spans = _episodes(arrays["terminals"])
    record = {"dataset": info.name, "env": info.env, "maze_layout": info.layout, "schema_version": SCHEMA_VERSION,
              "sha256": digest, "obs_dtype": str(obs.dtype), "action_dtype": str(act.dtype),
              "terminals_dtype": str(arrays["terminals"].dtype),
              "infos": [k for k in ("qpos", "qvel") if k in arrays],
              **{f"{k}_dtype": str(arrays[k].dtype) for k in ("qpos", "qvel") if k in arrays}}
    stage = Path(tempfile.mkdtemp(prefix=".ethogram-export-", dir=root))  # hidden: Minari lists no hidden dirs
    try:
        storage = MinariStorage.new(stage / "data", observation_space=obs_space, action_space=act_space,
                                    env_spec=_env_spec(info.env, info.layout), data_format="hdf5")
        storage.update_metadata({
            "dataset_id": name, "minari_version": minari.__version__, "author": {"ethogram"},
            "algorithm_name": f"ethogram {__version__}: {info.kind or 'user'} data",
            "description": f"{info.name} exported by ethogram {__version__} (reward-free; desired_goal is each "
                           "episode's final achieved_goal)",
            META_KEY: json.dumps(record)})
        chunk = 100
        bar = tqdm(total=len(spans), desc="export", unit="episode", disable=not progress, leave=False)
        for k in range(0, len(spans), chunk):
            buffers = []
            for i, (s, e) in enumerate(spans[k:k + chunk], k):
                t = e - s + 1
                infos: dict[str, Any] = {ACTION_INFO: act[s:e + 1]}
                infos.update({key: arrays[key][s:e + 1] for key in ("qpos", "qvel") if key in arrays})
                buffers.append(EpisodeBuffer(
                    id=i, observations={OBS: obs[s:e + 1], ACHIEVED: goals[s:e + 1],
                                        DESIRED: np.repeat(goals[e:e + 1], t, axis=0)},
                    actions=act[s:e].astype(np.float32), rewards=np.zeros(t - 1),
                    terminations=np.zeros(t - 1, dtype=bool),
                    truncations=np.arange(t - 1) == t - 2, infos=infos))
            storage.update_episodes(buffers)
            bar.update(len(buffers))
        bar.close()
        _install(stage, final, namespace)
    except OSError as e:
        raise EthogramError(f"could not write Minari dataset '{name}' under {root}: {e}.",
                            "free some space or choose another MINARI_DATASETS_PATH; nothing was changed") from None
    finally:
        shutil.rmtree(stage, ignore_errors=True)
    return {"name": name, "episodes": len(spans), "steps": int(sum(e - s for s, e in spans)), "path": str(final)}


def _install(stage: Path, final: Path, namespace: str | None) -> None:
    """Move a complete staged dataset into place (replacing one of that name: the old one is moved aside first,
    then deleted)."""
    if namespace is not None:
        from minari.namespace import create_namespace, list_local_namespaces

        if namespace not in list_local_namespaces():
            create_namespace(namespace)
    final.parent.mkdir(parents=True, exist_ok=True)
    old = None
    if final.exists():
        old = final.with_name(f".{final.name}.replaced-{os.getpid()}")
        os.replace(final, old)
    os.replace(stage, final)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


# --------------------------------------------------------------------------------------------------- in

def _not_found(name: str) -> EthogramError:
    have = local_datasets()
    listed = ", ".join(have[:20]) + (" ..." if len(have) > 20 else "") if have else "none"
    return EthogramError(f"Minari dataset '{name}' is not in Minari's local storage ({storage_root()}; local "
                         f"datasets: {listed}).",
                         "export one with: ethogram export DATASET.npz --minari NAME, set MINARI_DATASETS_PATH to "
                         "where yours are, or download it first with Minari's own `minari download NAME`")


def _load(name: str):
    minari = _minari()
    _check_name(name)
    if not (storage_root() / name / "data").is_dir():
        raise _not_found(name)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return minari.load_dataset(name)
    except Exception as e:  # a damaged or foreign directory: Minari's own error is kept in the message
        raise EthogramError(f"Minari dataset '{name}' cannot be read ({type(e).__name__}: {e}).",
                            "export it again, or check the directory under " + str(storage_root())) from None


def _record(ds, name: str) -> dict:
    raw = ds.storage.metadata.get(META_KEY)
    if raw is None:
        return {}
    try:
        record = json.loads(raw)
    except (TypeError, ValueError):
        record = None
    if not isinstance(record, dict):
        raise EthogramError(f"Minari dataset '{name}': its '{META_KEY}' metadata is not a JSON object.",
                            "export it again with ethogram export")
    from ethogram.data.dataset import check_schema

    check_schema(record, f"minari:{name}")
    return record


def _check_spaces(ds, name: str) -> None:
    import gymnasium

    sp, act = ds.observation_space, ds.action_space
    if not isinstance(sp, gymnasium.spaces.Dict):
        raise EthogramError(f"Minari dataset '{name}' has observations of space {sp}, not a goal-conditioned Dict "
                            f"of {OBS}, {DESIRED} and {ACHIEVED}.",
                            "ethogram trains on goal-conditioned datasets (Minari's pointmaze and antmaze have that "
                            "layout); for your own arrays write an npz as docs/datasets.md shows")
    if DESIRED not in sp.spaces:
        raise EthogramError(f"Minari dataset '{name}' has no goals: its observations hold {sorted(sp.spaces)}, "
                            f"without '{DESIRED}'.",
                            f"use a goal-conditioned dataset (observations {OBS}, {DESIRED}, {ACHIEVED})")
    o = sp.spaces.get(OBS)
    if not isinstance(o, gymnasium.spaces.Box) or len(o.shape) != 1:
        raise EthogramError(f"Minari dataset '{name}': its '{OBS}' space is {o}, not a flat Box of numbers.",
                            "ethogram's agents read vectors of state; images and nested observations are not read")
    if not isinstance(act, gymnasium.spaces.Box) or len(act.shape) != 1:
        raise EthogramError(f"Minari dataset '{name}' has actions of space {act}, not a flat Box.",
                            "ethogram's agents act with continuous vectors")


def _recorded_env(ds, record: dict) -> str | None:
    """The ethogram environment a dataset names: our metadata's, else its Gymnasium spec if it is one of ours."""
    if "env" in record:
        return record["env"]
    spec = getattr(ds, "spec", None)
    env_id = getattr(getattr(spec, "env_spec", None), "id", None) or ""
    if env_id.startswith("ethogram/") and env_id.endswith("-v0"):
        return env_id[len("ethogram/"):-len("-v0")]
    return None


def read_minari(name: str, env: str | None = None) -> tuple[dict[str, np.ndarray], dict]:
    """(arrays in our npz layout, what the dataset is: {dataset, env, maze_layout, source, minari_env_id}) of the
    Minari dataset `name`. `env` names the environment it was collected in, for a dataset that does not say; a
    dataset that names another is refused."""
    from ethogram.envs.registry import parse_env_name

    ds = _load(name)
    record = _record(ds, name)
    _check_spaces(ds, name)
    recorded = _recorded_env(ds, record)
    if env is not None:
        robot, maze = parse_env_name(env)
        wanted = f"{robot}maze-{maze}" if maze else robot
        if recorded is not None and recorded != wanted:
            raise EthogramError(f"Minari dataset '{name}' was collected in {recorded}, not {wanted} (--env).",
                                f"leave --env out, or give --env {recorded}")
        recorded = recorded or wanted
    if ds.total_episodes == 0:
        raise EthogramError(f"Minari dataset '{name}' has no episodes.", "export or collect one with data in it")
    cols: dict[str, list] = {"observations": [], "actions": [], "terminals": []}
    extra = record.get("infos", [])
    for key in extra:
        cols[key] = []
    try:
        for ep in ds.iterate_episodes():
            o = np.asarray(ep.observations[OBS])
            a = np.asarray(ep.actions)
            infos = ep.infos or {}
            last = infos.get(ACTION_INFO)
            if last is not None and len(last) == len(o):
                a = np.asarray(last)
            else:
                a = np.concatenate([a.reshape(len(a), -1), np.zeros((1, a.reshape(len(a), -1).shape[1]), a.dtype)])
            if len(a) != len(o):
                raise EthogramError(f"Minari dataset '{name}': episode {ep.id} has {len(o)} observations and "
                                    f"{len(ep.actions)} actions; a Minari episode has one observation more than "
                                    "actions.", "export it again")
            cols["observations"].append(o)
            cols["actions"].append(a)
            cols["terminals"].append(np.arange(len(o)) == len(o) - 1)
            for key in extra:
                cols[key].append(np.asarray(infos[key]))
    except EthogramError:
        raise
    except Exception as e:
        raise EthogramError(f"Minari dataset '{name}' cannot be read ({type(e).__name__}: {e}).",
                            "export it again") from None
    arrays = {k: np.concatenate(v) for k, v in cols.items()}
    for key, field in (("observations", "obs_dtype"), ("actions", "action_dtype"),
                       ("terminals", "terminals_dtype"), ("qpos", "qpos_dtype"), ("qvel", "qvel_dtype")):
        if key in arrays and field in record:
            arrays[key] = arrays[key].astype(record[field], copy=False)
    if "terminals_dtype" not in record:
        arrays["terminals"] = arrays["terminals"].astype(bool)
    spec = getattr(ds, "spec", None)
    meta = {"dataset": record.get("dataset") or name, "env": recorded, "maze_layout": record.get("maze_layout"),
            "source": f"minari:{name}", "minari_env_id": getattr(getattr(spec, "env_spec", None), "id", None)}
    return arrays, meta


def minari_to_npz(name: str, out: str | Path, force: bool = False, env: str | None = None,
                  read: tuple[dict, dict] | None = None) -> dict:
    """Write the Minari dataset `name` as an npz in our layout with its JSON sidecar (one io.FileSet: the npz and
    the sidecar naming its sha256 appear together or not at all). `read`: its `read_minari` result when the caller
    has it already. Returns the sidecar's record."""
    from ethogram import __version__
    from ethogram.data.dataset import SCHEMA_VERSION, validate_arrays
    from ethogram.io import FileSet, check_writable_output, npz_bytes

    out = Path(out)
    meta_path = out.with_suffix(".json")
    for p in (out, meta_path):
        check_writable_output(p, force)
    arrays, meta = read if read is not None else read_minari(name, env)
    validate_arrays(arrays, meta["source"])
    record = {"format": "ogbench-npz", "dataset": meta["dataset"], "env": meta["env"],
              "source": meta["source"], "minari_env_id": meta["minari_env_id"],
              "transitions": int(len(arrays["terminals"]) - arrays["terminals"].astype(bool).sum()),
              "ethogram_version": __version__, "schema_version": SCHEMA_VERSION}
    if meta["maze_layout"] is not None:
        record["maze_layout"] = meta["maze_layout"]
    with FileSet(meta_path) as fs:
        fs.write(out, npz_bytes(arrays))
        fs.commit(record)
    return record
