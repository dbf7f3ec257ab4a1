"""Shared fixtures: small datasets collected once per test session with our own collector.

JAX stays on the CPU and MuJoCo renders off screen, so the suite runs the same on any machine. Compiled XLA
programs are cached on disk and shared between the test processes: many tests train the same small networks
and compiling them would otherwise dominate the run time (programs are keyed by their HLO, so a cached
program computes exactly what a fresh one would).
"""

from __future__ import annotations

import os
import tempfile

os.environ["JAX_PLATFORMS"] = "cpu"  # deterministic, and the same on every machine
os.environ.setdefault("MUJOCO_GL", "egl")
os.environ.setdefault("JAX_COMPILATION_CACHE_DIR", os.path.join(tempfile.gettempdir(), "ethogram-tests-xla-cache"))
os.environ.setdefault("JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS", "0.5")
# `ethogram eval` writes report.html; its rollout video takes seconds to render, so pages in the suite leave it out
# except in tests/test_report.py, which renders and plays videos on purpose.
os.environ.setdefault("ETHOGRAM_REPORT_VIDEO", "0")

import pytest  # noqa: E402
from helpers import NAVIGATE, STITCH, collect_small  # noqa: E402


@pytest.fixture(scope="session")
def navigate_small(tmp_path_factory):
    """20 navigate episodes of 101 stored steps (2000 transitions): the path of the training file."""
    path = tmp_path_factory.mktemp("navigate_small") / f"{NAVIGATE}-v0.npz"
    collect_small(NAVIGATE, path, episodes=20, episode_steps=101)
    return path


@pytest.fixture(scope="session")
def stitch_small(tmp_path_factory):
    """60 stitch episodes of 201 stored steps (OGBench's stitch length): the path of the training file."""
    path = tmp_path_factory.mktemp("stitch_small") / f"{STITCH}-v0.npz"
    collect_small(STITCH, path, episodes=60, episode_steps=201)
    return path


@pytest.fixture(scope="session")
def navigate_long(tmp_path_factory):
    """50 navigate episodes of 1001 stored steps (OGBench's episode length): enough to learn something."""
    path = tmp_path_factory.mktemp("navigate_long") / f"{NAVIGATE}-v0.npz"
    collect_small(NAVIGATE, path, episodes=50, episode_steps=1001)
    return path
