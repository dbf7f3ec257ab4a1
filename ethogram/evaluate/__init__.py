"""Evaluation: the published protocol (protocol.py), the metrics (metrics.py), prompt evaluations (prompts.py) and
`ethogram eval` of a run directory (run.py)."""

from ethogram.evaluate.protocol import Rollouts, evaluate, random_policy, rollout, run_episodes

__all__ = ["Rollouts", "evaluate", "random_policy", "rollout", "run_episodes"]
