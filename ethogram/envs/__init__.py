"""Environments by name: OGBench locomaze mazes, batched for fast collection and evaluation."""

from ethogram.envs.registry import DatasetName, known_envs, make_env, parse_dataset_name

__all__ = ["DatasetName", "known_envs", "make_env", "parse_dataset_name"]
