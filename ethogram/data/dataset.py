"""Load an OGBench-layout npz (one `ethogram collect` wrote, or an OGBench pointmaze file), validate every array,
and keep it on the device.

File layout: `observations` (N, obs_dim), `actions` (N, action_dim), `terminals` (N,) with 1 at the
last stored state of each episode; optional `qpos`, `qvel`. Like `ogbench.load_dataset`, the N stored
states become N - episodes transitions (s, a, s'): the last state of an episode has no action.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from ethogram.envs.registry import DatasetName, parse_dataset_name
from ethogram.errors import EthogramError
from ethogram.io import pending, read_json, read_npz_arrays, sha256, verify

REQUIRED = ("observations", "actions", "terminals")
KEYS = (*REQUIRED, "qpos", "qvel")  # the members read; any other is inspected but never decompressed
MAX_ABS = 1e6  # no state or action of a maze is anywhere near this


class Dataset(NamedTuple):
    """Transitions on the device. `final_idx[i]` is the last transition of i's episode."""

    observations: jax.Array
    next_observations: jax.Array
    actions: jax.Array
    final_idx: jax.Array

    @property
    def size(self) -> int:
        return int(self.observations.shape[0])


def sidecar_of(path: str | Path) -> Path:
    """The JSON sidecar our collector writes beside a dataset (shared by its -val file)."""
    path = Path(path)
    if path.name.endswith("-val.npz"):
        return path.with_name(path.name[: -len("-val.npz")] + ".json")
    return path.with_suffix(".json")


def read_dataset_file(path: str | Path, keys: tuple[str, ...] | None = KEYS, max_rows: int | None = None,
                      what: str = "dataset file") -> tuple[dict[str, np.ndarray], str]:
    """(arrays, sha256 of the file) of an npz, through the hardened reader (io.read_npz_arrays): a regular file,
    every member an .npy array of plain numbers whose size its header accounts for, nothing decompressed beyond
    `keys`. A file our collector wrote is checked against its sidecar, which names the sha256 of each member of
    the collection: a file from another collection is refused. Never unpickles."""
    path = Path(path)
    if path.is_symlink() and not path.exists():
        raise EthogramError(f"{what} '{path}' is a broken symbolic link or a link loop.",
                            "point it at a real .npz file")
    fix = "collect it again with ethogram collect"
    if not path.exists():
        raise EthogramError(f"{what} '{path}' does not exist.",
                            f"collect one with: ethogram collect pointmaze-medium-navigate --out {path}"
                            if what == "dataset file" else None)
    if path.is_dir():
        raise EthogramError(f"{what.replace(' file', '')} path '{path}' is a directory, not an .npz file.")
    arrays, raw = read_npz_arrays(path, what, fix, keys=keys, max_rows=max_rows)
    sidecar = sidecar_of(path)
    if what == "dataset file" and (sidecar.exists() or pending(path.parent, {sidecar.name})):
        if sidecar.is_file():  # a newer layout is refused before anything else of it is trusted
            record = read_json(sidecar, "dataset metadata", "collect the dataset again")
            if isinstance(record, dict):
                check_schema(record, sidecar)
        verify(sidecar, f"collect it again: ethogram collect ... --out {path.with_name(sidecar.stem + '.npz')} "
               "--force (or ethogram repair " + str(path.parent) + " if the collection was interrupted)",
               data={path.name: raw})
    return arrays, sha256(raw)


def read_npz(path: str | Path, keys: tuple[str, ...] | None = KEYS, max_rows: int | None = None,
             what: str = "dataset file") -> dict[str, np.ndarray]:
    """The arrays of an npz file (see read_dataset_file)."""
    return read_dataset_file(path, keys, max_rows, what)[0]


def validate_arrays(arrays: dict[str, np.ndarray], source: str, obs_dim: int | None = None,
                    action_dim: int | None = None, env=None) -> None:
    """Check keys, dtypes, shapes, episode boundaries and finiteness; raise a clear error on the first fault.
    With `env`: its dimensions, and its own test that the data can come from it (`check_dataset`, envs/base.py)."""
    if env is not None:
        obs_dim, action_dim = env.obs_dim, env.action_dim
    missing = [k for k in REQUIRED if k not in arrays]
    if missing:
        raise EthogramError(f"dataset '{source}' is missing the key(s) {', '.join(missing)}.",
                            f"an OGBench dataset holds {', '.join(REQUIRED)} (and optionally qpos, qvel)")
    obs, act, term = arrays["observations"], arrays["actions"], arrays["terminals"]
    for key, arr in (("observations", obs), ("actions", act)):
        if not (np.issubdtype(arr.dtype, np.floating) or (key == "observations" and arr.dtype == np.uint8)):
            raise EthogramError(f"dataset '{source}': '{key}' has dtype {arr.dtype}; expected floating point.")
        if arr.ndim != 2:
            raise EthogramError(f"dataset '{source}': '{key}' has shape {arr.shape}; expected (N, dim).")
    if not (term.dtype == bool or np.issubdtype(term.dtype, np.integer) or np.issubdtype(term.dtype, np.floating)):
        raise EthogramError(f"dataset '{source}': 'terminals' has dtype {term.dtype}; expected bool.")
    if term.ndim != 1:
        raise EthogramError(f"dataset '{source}': 'terminals' has shape {term.shape}; expected (N,).")
    n = obs.shape[0]
    lengths = {k: arrays[k].shape[0] for k in ("observations", "actions", "terminals", "qpos", "qvel")
               if k in arrays}
    if len(set(lengths.values())) != 1:
        raise EthogramError(f"dataset '{source}': arrays have different lengths {lengths}.",
                            "every array must have one row per stored step")
    if n < 2:
        raise EthogramError(f"dataset '{source}' has {n} stored steps; it needs at least one transition.")
    if not np.isin(term, (0, 1)).all():
        raise EthogramError(f"dataset '{source}': 'terminals' must be 0/1.")
    term = term.astype(bool)
    if not term[-1]:
        raise EthogramError(f"dataset '{source}': the last step is not marked terminal, so the last episode "
                            "never ends.", "set terminals[-1] = 1")
    ends = np.nonzero(term)[0]
    starts = np.concatenate([[0], ends[:-1] + 1])
    if (ends - starts < 1).any():
        bad = int(starts[np.argmax(ends - starts < 1)])
        raise EthogramError(f"dataset '{source}': the episode starting at step {bad} has a single stored step "
                            "(two terminals in a row), so it has no transition.")
    for key in ("observations", "actions"):
        arr = arrays[key]
        if np.issubdtype(arr.dtype, np.floating) and not np.isfinite(arr).all():
            row = int(np.argwhere(~np.isfinite(arr))[0, 0])
            raise EthogramError(f"dataset '{source}': '{key}' has NaN or inf (first at row {row}).",
                                "remove or repair those steps")
    for key in ("observations", "actions"):
        arr = arrays[key]
        if np.issubdtype(arr.dtype, np.floating) and arr.size and np.abs(arr).max() > MAX_ABS:
            raise EthogramError(f"dataset '{source}': '{key}' has absurd values (|x| up to {np.abs(arr).max():.3g}, "
                                f"limit {MAX_ABS:g}).", "check the units and the file")
    if obs_dim is not None and obs.shape[1] != obs_dim:
        raise EthogramError(f"dataset '{source}' has observations of dimension {obs.shape[1]}, but the "
                            f"environment's are {obs_dim}.", "use a dataset collected in this environment")
    if action_dim is not None and act.shape[1] != action_dim:
        raise EthogramError(f"dataset '{source}' has actions of dimension {act.shape[1]}, but the "
                            f"environment's are {action_dim}.", "use a dataset collected in this environment")
    check = getattr(env, "check_dataset", None)
    if check is not None:
        check(arrays, source)


def to_transitions(arrays: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Stored states -> transitions, exactly as ogbench.load_dataset (non-compact) does."""
    term = arrays["terminals"].astype(bool)
    keep = ~term
    next_keep = np.concatenate([[False], keep[:-1]])
    new_term = np.concatenate([term[1:], [True]])[keep]
    ends = np.nonzero(new_term)[0]
    final_idx = ends[np.searchsorted(ends, np.arange(len(new_term)))]
    return {
        "observations": arrays["observations"][keep].astype(np.float32),
        "next_observations": arrays["observations"][next_keep].astype(np.float32),
        "actions": arrays["actions"][keep].astype(np.float32),
        "final_idx": final_idx.astype(np.int32),
    }


def cut_falls(arrays: dict[str, np.ndarray], fallen: np.ndarray, margin: int) -> tuple[dict[str, np.ndarray], dict]:
    """Each episode up to `margin` states before the first one in which the robot has fallen (`fallen`: (N,) bool
    per stored state, the env's `fallen_observation`), the rest dropped: a robot on its back lies still for the rest
    of its episode, and the steps that tipped it are not behaviour to learn. An episode with fewer than two states
    left goes. Returns (arrays with every per-state key cut alike, counts of what was cut)."""
    term = arrays["terminals"].astype(bool)
    ends = np.nonzero(term)[0]
    starts = np.concatenate([[0], ends[:-1] + 1])
    keep = np.zeros(len(term), bool)
    last = np.zeros(len(term), bool)
    cut = dropped = 0
    for a, b in zip(starts, ends, strict=True):
        hits = np.nonzero(fallen[a:b + 1])[0]
        stop = b if len(hits) == 0 else a + hits[0] - margin - 1
        cut += len(hits) > 0
        if stop - a + 1 < 2:
            dropped += 1
            continue
        keep[a:stop + 1] = True
        last[stop] = True
    out = {k: v[keep] for k, v in arrays.items() if isinstance(v, np.ndarray) and len(v) == len(term)}
    out["terminals"] = last[keep].astype(arrays["terminals"].dtype)
    return out, {"episodes": len(ends), "episodes_cut": int(cut), "episodes_dropped": int(dropped),
                 "states": len(term), "states_kept": int(keep.sum())}


def fall_cutter(env, margin: int, name: str, log=print):
    """`cut_falls` as a transform of a dataset's arrays for training (`drop_falls`), None when margin is 0. Needs a
    robot whose environment says from an observation whether it has fallen (`fallen_observation`, envs/base.py)."""
    if not margin:
        return None
    fallen = getattr(env, "fallen_observation", None)  # optional in the environment contract
    if fallen is None:
        raise EthogramError(f"--drop-falls needs a robot that can fall (the ant); '{name}' is not of one.",
                            "train without --drop-falls")

    def cut(arrays):
        out, counts = cut_falls(arrays, fallen(arrays["observations"]), margin)
        log(f"drop_falls={margin}: {counts['episodes_cut']} of {counts['episodes']} episodes cut before a fall "
            f"({counts['episodes_dropped']} dropped), {counts['states_kept']} of {counts['states']} states kept")
        if counts["states_kept"] < 2:
            raise EthogramError(f"--drop-falls {margin} leaves no data: the robot falls early in every episode.",
                                "give a smaller --drop-falls, or train without it")
        return out
    return cut


SCHEMA_VERSION = 1  # of the npz layout above and its JSON sidecar (docs/datasets.md); a newer one is refused
OGBENCH_KINDS = ("navigate", "stitch", "explore", "play", "noisy")  # the last part of OGBench's dataset names


@dataclass(frozen=True)
class DatasetInfo:
    """What a dataset file is: its name, the environment it comes from (None: none that ethogram simulates; it
    trains, evaluation needs an environment), how it was collected (the published per-dataset settings follow
    from kind, maze and robot: agents.dataset_overrides) and a custom maze's layout (envs/mazefile.py)."""

    name: str
    env: str | None
    kind: str = ""
    maze: str = ""
    robot: str = ""
    layout: str | None = None

    def __str__(self) -> str:
        return self.name

    @classmethod
    def of(cls, name: DatasetName) -> DatasetInfo:
        return cls(str(name), name.env, name.kind, name.maze, name.robot, name.layout)


def _guess(name: str) -> DatasetInfo:
    """A dataset named by its file alone: a name ethogram simulates, an OGBench name of another environment
    (`antmaze-large-navigate-v0`: its kind, maze and robot still choose the published settings), or any name."""
    from ethogram.envs.registry import ROBOTS

    try:
        return DatasetInfo.of(parse_dataset_name(name))
    except EthogramError:
        parts = name.removesuffix(".npz").removesuffix("-val").removesuffix("-v0").split("-")
        if parts[0].endswith("maze") and parts[0][: -len("maze")] in ROBOTS:
            raise  # a name of a robot ethogram simulates, but not one of its datasets: a typo, say which exist
    stem = name.removesuffix(".npz").removesuffix("-val")
    parts = stem.removesuffix("-v0").split("-")
    if len(parts) >= 3 and parts[-1] in OGBENCH_KINDS:
        robot = parts[0][: -len("maze")] if parts[0].endswith("maze") else ""
        return DatasetInfo(stem if stem.endswith("-v0") else f"{stem}-v0", None, parts[-1], parts[1], robot)
    return DatasetInfo(stem, None)


def check_schema(record: dict, source: str | Path) -> None:
    """Refuse a sidecar written for a newer layout than this ethogram reads."""
    version = record.get("schema_version", 1)
    if isinstance(version, bool) or not isinstance(version, int) or version < 1:
        raise EthogramError(f"dataset metadata '{source}' has schema_version {version!r}; expected a positive "
                            "integer.", "fix the sidecar (docs/datasets.md) or collect the dataset again")
    if version > SCHEMA_VERSION:
        raise EthogramError(f"dataset metadata '{source}' has schema_version {version}, newer than the "
                            f"{SCHEMA_VERSION} this ethogram reads: the file was written by a newer ethogram.",
                            "upgrade ethogram (pip install -U ethogram), or collect the dataset again with this one")


def dataset_info(path: str | Path, env: str | None = None) -> DatasetInfo:
    """What the dataset at `path` is: from our JSON sidecar, else from its file name (any name is accepted: a
    dataset of an unknown environment trains without evaluation). `env` names the environment the data was
    collected in, for data that does not say; data that names another environment is refused."""
    from ethogram.envs.registry import parse_env_name

    path = Path(path)
    meta = sidecar_of(path)
    if meta.exists() or meta.is_symlink():
        fix = "delete it and name the file after its dataset, e.g. pointmaze-medium-navigate-v0.npz"
        record = read_json(meta, "dataset metadata", fix)
        if not isinstance(record, dict) or not isinstance(record.get("dataset"), str):
            raise EthogramError(f"dataset metadata '{meta}' is malformed: it has no 'dataset' name.", fix)
        check_schema(record, meta)
        layout = record.get("maze_layout")
        if layout is not None and not isinstance(layout, str):
            raise EthogramError(f"dataset metadata '{meta}' is malformed: 'maze_layout' must be text.", fix)
        if "env" in record and record["env"] is None:
            info = dataclasses.replace(_guess(record["dataset"]), name=record["dataset"], env=None)
        elif layout is not None:
            info = DatasetInfo.of(parse_dataset_name(record["dataset"], layout))
        else:
            info = _guess(record["dataset"])
            if info.env is None and record.get("env"):  # e.g. a Minari dataset exported from one of our envs
                info = dataclasses.replace(info, env=record["env"])
    else:
        info = _guess(path.name)
    if info.env is not None and info.layout is None:
        parse_env_name(info.env)  # an environment this ethogram knows
    if env is not None:
        robot, maze = parse_env_name(env)
        wanted = f"{robot}maze-{maze}" if maze else robot
        if info.env is not None and info.env != wanted:
            raise EthogramError(f"dataset '{path}' was collected in {info.env}, not {wanted} (--env).",
                                f"leave --env out, or give --env {info.env}")
        if info.env is None:
            info = dataclasses.replace(info, env=wanted)
    return info


def dataset_name_of(path: str | Path) -> DatasetName:
    """The name of a dataset of an environment ethogram simulates (collection and the search need one)."""
    info = dataset_info(path)
    if info.env is None:
        raise EthogramError(f"dataset '{path}' comes from no environment ethogram simulates (it has no sidecar "
                            "naming one, and its file name is not one of ethogram's dataset names).",
                            "name it like pointmaze-medium-navigate-v0.npz, or collect it with ethogram collect")
    return parse_dataset_name(f"{info.env}-{info.kind}" if info.maze else info.env, info.layout)


def read_dataset(path: str | Path, obs_dim: int | None = None, action_dim: int | None = None,
                 transform=None) -> tuple[Dataset, str]:
    """(dataset on the default device, sha256 of its file): read, validated, `transform(arrays) -> arrays` applied
    (train.py: `drop_falls`), turned into transitions."""
    arrays, digest = read_dataset_file(path, KEYS)
    validate_arrays(arrays, str(path), obs_dim, action_dim)
    if transform is not None:
        arrays = transform(arrays)
    tr = to_transitions(arrays)
    return Dataset(**{k: jnp.asarray(v) for k, v in tr.items()}), digest


def load_dataset(path: str | Path, obs_dim: int | None = None, action_dim: int | None = None) -> Dataset:
    """Read, validate and move a dataset to the default device."""
    return read_dataset(path, obs_dim, action_dim)[0]
