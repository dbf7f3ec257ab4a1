"""Fuzzing the dataset and checkpoint loaders: damaged bytes give our own clear error or a valid load, nothing else.

Fast run: 300 inputs per loader. Long run: `pytest -m slow tests/test_fuzz.py` (5000 inputs per loader).
"""

from __future__ import annotations

import jax
import numpy as np
import pytest

from ethogram import checkpoint
from ethogram.agents import gcbc
from ethogram.agents.base import Spec
from ethogram.data.dataset import load_dataset
from ethogram.errors import EthogramError


def mutate(data: bytes, rng: np.random.Generator) -> bytes:
    b = bytearray(data)
    kind = rng.integers(4)
    if kind == 0:  # truncate
        return bytes(b[: rng.integers(0, len(b))])
    if kind == 1:  # flip bytes
        for i in rng.integers(0, len(b), size=rng.integers(1, 20)):
            b[i] = rng.integers(256)
        return bytes(b)
    if kind == 2:  # overwrite a run with garbage
        i = rng.integers(0, len(b))
        n = int(rng.integers(1, 200))
        b[i: i + n] = rng.integers(0, 256, size=n, dtype=np.uint8).tobytes()
        return bytes(b)
    i = rng.integers(0, len(b))  # duplicate a slice
    return bytes(b[:i] + b[i // 2: i] + b[i:])


def fuzz_dataset(path, tmp_path, count: int, seed: int) -> dict[str, int]:
    good = path.read_bytes()
    rng = np.random.default_rng(seed)
    outcomes = {"error": 0, "loaded": 0}
    for k in range(count):
        target = tmp_path / f"pointmaze-medium-navigate-{k}-v0.npz"
        target.write_bytes(mutate(good, rng))
        target = target.rename(tmp_path / "pointmaze-medium-navigate-v0.npz")
        try:
            load_dataset(target, 2, 2)
            outcomes["loaded"] += 1
        except EthogramError:
            outcomes["error"] += 1
    return outcomes


def fuzz_checkpoint(tmp_path, count: int, seed: int) -> dict[str, int]:
    cfg = gcbc.Config(actor_hidden_dims=(8,))
    state = gcbc.init(jax.random.PRNGKey(0), Spec(2, 2), cfg)
    path = tmp_path / "checkpoint.safetensors"
    checkpoint.save(path, state)
    good = path.read_bytes()
    rng = np.random.default_rng(seed)
    outcomes = {"error": 0, "loaded": 0}
    for _ in range(count):
        path.write_bytes(mutate(good, rng))
        try:
            checkpoint.load(path, state)
            outcomes["loaded"] += 1
        except EthogramError:
            outcomes["error"] += 1
    return outcomes


def test_fuzz_loaders(navigate_small, tmp_path):
    d = fuzz_dataset(navigate_small, tmp_path, 300, seed=0)
    c = fuzz_checkpoint(tmp_path, 300, seed=0)
    assert d["error"] > 100 and c["error"] > 100  # most damage is caught, none escapes as another exception


@pytest.mark.slow
def test_fuzz_loaders_long(navigate_small, tmp_path):
    d = fuzz_dataset(navigate_small, tmp_path, 5000, seed=1)
    c = fuzz_checkpoint(tmp_path, 5000, seed=1)
    print(f"dataset loader: {d}; checkpoint loader: {c}")
    assert sum(d.values()) == 5000 and sum(c.values()) == 5000
