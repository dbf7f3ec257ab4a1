"""Load an OGBench-layout npz (ours or OGBench's), validate every array, and keep it on the device.

File layout: `observations` (N, obs_dim), `actions` (N, action_dim), `terminals` (N,) with 1 at the
last stored state of each episode; optional `qpos`, `qvel`. Like `ogbench.load_dataset`, the N stored
states become N - episodes transitions (s, a, s'): the last state of an episode has no action.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from ethogram.envs.registry import DatasetName, parse_dataset_name
from ethogram.errors import EthogramError

REQUIRED = ("observations", "actions", "terminals")
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


def read_npz(path: str | Path) -> dict[str, np.ndarray]:
    """The arrays of an npz file, with a clear error for anything that is not one. Never unpickles."""
    path = Path(path)
    if path.is_symlink() and not path.exists():
        raise EthogramError(f"dataset path '{path}' is a broken symbolic link or a link loop.",
                            "point it at a real .npz file")
    if not path.exists():
        raise EthogramError(f"dataset file '{path}' does not exist.",
                            f"collect one with: ethogram collect pointmaze-medium-navigate --out {path}")
    if path.is_dir():
        raise EthogramError(f"dataset path '{path}' is a directory, not an .npz file.")
    with path.open("rb") as fh:
        magic = fh.read(6)
    if magic[:4] != b"PK\x03\x04":
        if magic == b"\x93NUMPY":
            raise EthogramError(f"'{path}' is a single .npy array, not an .npz dataset.",
                                "save the dataset with np.savez(path, observations=..., actions=..., terminals=...)")
        if magic[:2] == b"PK" or len(magic) < 4:
            raise EthogramError(f"'{path}' is not a readable .npz file; it may be truncated or corrupted.",
                                "collect it again with ethogram collect")
        raise EthogramError(f"'{path}' is not an .npz file (it does not start like a zip archive).",
                            "give the path of an OGBench-layout .npz dataset")
    try:
        with np.load(path, allow_pickle=False) as f:
            arrays = {k: f[k] for k in f.files}
        for k, v in arrays.items():
            if not isinstance(v, np.ndarray):  # numpy hands back the raw bytes of a member that is not .npy
                raise EthogramError(f"'{path}': member '{k}' is not an .npy array (raw bytes).",
                                    "save every array with np.savez, or collect the dataset again")
        return arrays
    except EthogramError:
        raise
    except ValueError as e:
        if "pickle" in str(e).lower():
            raise EthogramError(f"'{path}' holds Python objects (pickled arrays); ethogram never loads pickles.",
                                "save plain numeric arrays") from None
        raise EthogramError(f"'{path}' could not be read as an .npz dataset: {e}.",
                            "it may be corrupted; collect it again with ethogram collect") from None
    except Exception as e:  # zipfile.BadZipFile, zlib.error, EOFError, tokenize errors from the npy header, ...
        # A damaged archive can fail anywhere inside numpy's reader (zip, zlib, the npy header parser):
        # whatever the failure, the file is unreadable and nothing from it is used.
        raise EthogramError(f"'{path}' is not a readable .npz file ({type(e).__name__}: {e}); it may be "
                            "truncated or corrupted.", "collect it again with ethogram collect") from None


def validate_arrays(arrays: dict[str, np.ndarray], source: str, obs_dim: int | None = None,
                    action_dim: int | None = None) -> None:
    """Check keys, dtypes, shapes, episode boundaries and finiteness; raise a clear error on the first fault."""
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


def dataset_name_of(path: str | Path) -> DatasetName:
    """The dataset's name: from our JSON sidecar, else from an OGBench file name."""
    path = Path(path)
    meta = path.with_suffix(".json")
    if path.name.endswith("-val.npz"):
        meta = path.with_name(path.name[: -len("-val.npz")] + ".json")
    if meta.exists():
        try:
            return parse_dataset_name(json.loads(meta.read_text())["dataset"])
        except (json.JSONDecodeError, KeyError, TypeError):
            raise EthogramError(f"dataset metadata '{meta}' is malformed.",
                                "delete it and name the file after its dataset, e.g. "
                                "pointmaze-medium-navigate-v0.npz") from None
    try:
        return parse_dataset_name(path.name)
    except EthogramError:
        raise EthogramError(f"cannot tell which environment dataset '{path}' comes from: it has no "
                            f"{meta.name} beside it and its file name is not an OGBench dataset name.",
                            "name it like pointmaze-medium-navigate-v0.npz, or collect it with ethogram "
                            "collect") from None


def load_dataset(path: str | Path, obs_dim: int | None = None, action_dim: int | None = None) -> Dataset:
    """Read, validate and move a dataset to the default device."""
    arrays = read_npz(path)
    validate_arrays(arrays, str(path), obs_dim, action_dim)
    tr = to_transitions(arrays)
    return Dataset(**{k: jnp.asarray(v) for k, v in tr.items()})
