"""The search agent, `sns`, behind the same prompt interface as the learned agents.

    from ethogram import prompts
    from ethogram.search import agent as sns

    config, state = sns.load("runs/sns-medium")           # a directory written by `ethogram search`
    policy = prompts.answer(sns, config, state, prompts.Goal(observation=goal), obs_dim=2)
    actions = policy(observations, goals)                  # (B, obs_dim) -> (B, action_dim)

It answers goal prompts only, through the `goal_policy` hook of the agent contract (agents/base.py): a reward or a
demonstration prompt is refused like for any agent that cannot answer it. Unlike a learned agent its policy is
stateful: the Searcher plans on the graph, follows edges with its local controller and keeps mutating the graph
while it acts (`state["searcher"].events` counts what it did).
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

from ethogram.envs.registry import env_of
from ethogram.search.run import load_search_run, make_searcher
from ethogram.search.sns import Searcher, SNSConfig

NAME = "sns"
PROMPTS = ("goal",)


def load(run_dir: str | Path) -> tuple[SNSConfig, dict]:
    """(config, state) of a search run: state holds the run description, graph, controller, env and Searcher."""
    run, graph, ctrl, config = load_search_run(run_dir)
    env = env_of(run)
    if run["mode"] == "online":  # many episodes at once: plan again only when a behaviour ends or fails
        config = dataclasses.replace(config, replan_on_reach=False)
    searcher = make_searcher(graph, ctrl, config, env, run["mode"])
    return config, {"run": run, "graph": graph, "ctrl": ctrl, "env": env, "searcher": searcher}


def goal_policy(config: SNSConfig, state: dict) -> Searcher:
    """The policy (obs, goals) -> actions that answers goal prompts: the run's Searcher."""
    del config
    return state["searcher"]
