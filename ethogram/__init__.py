"""ethogram: learn a repertoire of goal-directed behaviours from reward-free trajectories."""

__version__ = "0.1.0"
