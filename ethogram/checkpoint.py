"""Checkpoints: safetensors for the state's arrays, JSON for everything else. Never pickle.

A state pytree is flattened to {"params/actor/Dense_0/kernel": array, ...}. Loading rebuilds the tree
from a freshly initialised template of the same agent and config, so a checkpoint of another agent or
of another network size is caught by name and shape before anything is used.
"""

from __future__ import annotations

import hashlib
import json
import struct
from pathlib import Path

import jax
import numpy as np
from safetensors import SafetensorError
from safetensors.numpy import load as st_load
from safetensors.numpy import save as st_save

from ethogram.errors import EthogramError
from ethogram.io import atomic_write_bytes, memory_bytes, read_regular, sha256

MAX_HEADER = 100 << 20  # safetensors' own limit on the JSON header


def _key(path) -> str:
    parts = []
    for p in path:
        for attr in ("key", "idx", "name"):
            if hasattr(p, attr):
                parts.append(str(getattr(p, attr)))
                break
        else:
            parts.append(str(p))
    return "/".join(parts)


def flatten(tree) -> dict[str, np.ndarray]:
    leaves = jax.tree_util.tree_flatten_with_path(tree)[0]
    return {_key(path): np.asarray(leaf) for path, leaf in leaves}


FORMAT = "ethogram-checkpoint-1"  # bump when the state layout changes


def _digest(arrays: dict[str, np.ndarray]) -> str:
    h = hashlib.sha256()
    for k in sorted(arrays):
        h.update(k.encode())
        h.update(str(arrays[k].dtype).encode())
        h.update(np.ascontiguousarray(arrays[k]).tobytes())
    return h.hexdigest()


def encode(state) -> bytes:
    """The checkpoint file's bytes, with a sha256 of the arrays in the metadata so silent damage is caught on load.

    The metadata is one key holding sorted JSON: safetensors writes several keys in no fixed order, and the same
    state must give the same bytes."""
    arrays = flatten(state)
    meta = json.dumps({"format": FORMAT, "sha256": _digest(arrays)}, sort_keys=True)
    return st_save(arrays, metadata={"ethogram": meta})


def save(path: str | Path, state) -> None:
    """Write one checkpoint file atomically (a run directory commits it with its record: rundir.save_checkpoint)."""
    atomic_write_bytes(path, encode(state))


def _metadata(raw: bytes) -> dict:
    """The `ethogram` entry of a safetensors header, parsed from the bytes already read (bounded)."""
    if len(raw) < 8:
        raise ValueError("shorter than a safetensors header")
    (n,) = struct.unpack("<Q", raw[:8])
    if n > min(MAX_HEADER, len(raw) - 8):
        raise ValueError(f"header length {n} exceeds the file")
    header = json.loads(raw[8:8 + n])
    meta = header.get("__metadata__") if isinstance(header, dict) else None
    meta = json.loads(meta.get("ethogram", "{}")) if isinstance(meta, dict) else {}
    return meta if isinstance(meta, dict) else {}


def load(path: str | Path, template, expected_sha256: str | None = None, mismatch_fix: str | None = None):
    """Arrays from `path` arranged like `template`; a clear error if names or shapes disagree.

    `expected_sha256`: the file's digest as its checkpoint record names it (a file from another save is refused)."""
    path = Path(path)
    raw = read_regular(path, "checkpoint", memory_bytes() // 2,
                       "train first, or point to a run directory that has finished at least one checkpoint")
    try:
        meta = _metadata(raw)
        arrays = st_load(raw)
        stored = meta.get("sha256")
    except (SafetensorError, ValueError, RecursionError, UnicodeDecodeError, struct.error) as e:
        raise EthogramError(f"checkpoint '{path}' is not a readable safetensors file ({e}).",
                            "it may be truncated; use another checkpoint or train again") from None
    if meta.get("format") != FORMAT:
        raise EthogramError(f"checkpoint '{path}' has format {meta.get('format')!r}; this ethogram reads {FORMAT!r}. "
                            "It was written by another version of ethogram or another program.",
                            "evaluate it with the ethogram version that wrote it, or train again")
    if stored != _digest(arrays):
        raise EthogramError(f"checkpoint '{path}' is damaged: its contents do not match the checksum written "
                            "with it.", "use another checkpoint or train again")
    if expected_sha256 is not None and sha256(raw) != expected_sha256:  # whole, but not the recorded one
        raise EthogramError(f"checkpoint '{path}' is not the one its record (checkpoint.json) names: the two files "
                            "come from different saves.", mismatch_fix)
    leaves, treedef = jax.tree_util.tree_flatten_with_path(template)
    expected = {_key(p): np.shape(x) for p, x in leaves}
    missing = sorted(set(expected) - set(arrays))
    extra = sorted(set(arrays) - set(expected))
    if missing or extra:
        raise EthogramError(f"checkpoint '{path}' does not match this agent and config "
                            f"({len(missing)} arrays missing, {len(extra)} unexpected, e.g. "
                            f"{(missing or extra)[0]}); it is probably a checkpoint of another agent.",
                            "evaluate it with the run directory it was written in")
    for k, shape in expected.items():
        if arrays[k].shape != shape:
            raise EthogramError(f"checkpoint '{path}': array '{k}' has shape {arrays[k].shape}, expected {shape}; "
                                "it was written with another network size.",
                                "use the config.json saved beside it")
        if np.issubdtype(arrays[k].dtype, np.floating) and not np.isfinite(arrays[k]).all():
            raise EthogramError(f"checkpoint '{path}': array '{k}' holds NaN or inf.",
                                "use an earlier checkpoint")
    return jax.tree_util.tree_unflatten(treedef, [arrays[_key(p)] for p, _ in leaves])
