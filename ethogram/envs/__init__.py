"""Environments by name: OGBench locomaze mazes, batched for fast collection and evaluation (contract: base.py)."""

from ethogram.envs.registry import ROBOTS, DatasetName, known_envs, make_env, parse_dataset_name

__all__ = ["ROBOTS", "DatasetName", "known_envs", "make_env", "parse_dataset_name"]
