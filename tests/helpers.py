"""Helpers shared by the test modules (plain functions; the fixtures live in conftest.py)."""

from __future__ import annotations

import dataclasses

import numpy as np

from ethogram.data.collect import collect_to_file, default_config
from ethogram.envs.registry import parse_dataset_name

NAVIGATE = "pointmaze-medium-navigate"
STITCH = "pointmaze-medium-stitch"


def collect_small(name: str, out, episodes: int, episode_steps: int, seed: int = 0, force: bool = False) -> dict:
    """Collect `episodes` (+10% validation) episodes of `episode_steps` stored steps into `out`."""
    parsed = parse_dataset_name(name)
    cfg = dataclasses.replace(default_config(parsed, seed=seed), episodes=episodes, episode_steps=episode_steps)
    return collect_to_file(parsed, cfg, out, force=force, progress=False)


def npz_arrays(path) -> dict[str, np.ndarray]:
    """Every array of an .npz file, read without pickles."""
    with np.load(path, allow_pickle=False) as f:
        return {k: f[k] for k in f.files}


def episodes_of(arrays: dict[str, np.ndarray], key: str = "observations") -> list[np.ndarray]:
    """Split a stored array into its episodes using `terminals`."""
    ends = np.nonzero(arrays["terminals"])[0]
    return np.split(arrays[key], ends[:-1] + 1)


def fails(capsys, *argv, match: str, starts_with_error: bool = True) -> str:
    """Run `ethogram ARGV...`; it must exit 2 with a message holding `match` and no traceback (an EthogramError's
    message starts with "error:"; argparse's with its usage, hence `starts_with_error=False`)."""
    from ethogram.cli import main

    code = main([str(a) for a in argv])
    err = capsys.readouterr().err
    assert code == 2 and "Traceback" not in err, err
    assert not starts_with_error or err.startswith("error:"), err
    assert match in err, err
    return err
