"""Local controllers for the edges of the cognitive graph, and the notion of "how far" each brings with it.

A controller answers two questions, both batched over rows:
  act(obs, goals)      -> actions that move from obs toward goals (goals must be close: one edge),
  distance(obs, goals) -> estimated steps from obs to goals.
`StraightLine` heads straight for the goal and measures Euclidean x-y distance at the point's top speed: the
no-data mode (the agent's own path-integrated position) and the raw-coordinate reference roadmap.
`Learned` wraps a trained goal-conditioned agent: its `act` drives each edge and what it learned gives the
distance (never the observations' coordinates): `agents.base.steps_to_goal`, i.e. the agent's `distance` hook
(QRL's quasimetric) or its value V(s, g) turned into steps by inverting V = -(1 - gamma^k) / (1 - gamma)
(GCIVL, GCIQL, HIQL, and HILP's -||phi(s) - phi(g)||).
`Paired` drives each edge with one trained agent and measures with another: an imitation policy that learns no
distance (BESO) with the value of a GCIVL / GCIQL / HIQL / QRL / HILP run trained on the same environment, or the
best goal reacher (HIQL) with the distance of a metric embedding (HILP's phi).
An agent whose value is a metric of an embedding (its `metric_embedding` hook) gives `pairwise`: the distances of
all m x n pairs from m + n network calls, which is what lets a graph be built over tens of thousands of states.
"""

from __future__ import annotations

import types
from dataclasses import dataclass
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np

from ethogram import rundir
from ethogram.agents.base import hook, steps_to_goal, value_to_steps
from ethogram.envs.pointmaze import POINT_SPEED
from ethogram.errors import EthogramError


class StraightLine:
    """Straight toward the goal at full speed; distance = x-y distance / speed (steps)."""

    name = "straight-line"
    learned = False
    unit = POINT_SPEED  # x-y distance per step: turns step counts into positions for candidate places

    def act(self, obs: np.ndarray, goals: np.ndarray) -> np.ndarray:
        d = np.asarray(goals, np.float64) - np.asarray(obs, np.float64)
        norm = np.linalg.norm(d, axis=-1, keepdims=True)
        return d / np.maximum(norm, POINT_SPEED)

    act_subgoal = act  # straight lines are short-range already
    short_range = True

    def distance(self, obs: np.ndarray, goals: np.ndarray) -> np.ndarray:
        return np.linalg.norm(np.asarray(goals, np.float64) - np.asarray(obs, np.float64), axis=-1) / POINT_SPEED

    def embed(self, obs: np.ndarray) -> np.ndarray:
        """Metric coordinates for the harmonic code: the x-y position itself (path integration)."""
        return np.asarray(obs, np.float64)


@dataclass
class Learned:
    """A trained goal-conditioned agent as an edge controller; distances come from what it learned."""

    agent: types.ModuleType
    config: object
    state: dict
    name: str = "learned"
    learned = True
    chunk: int = 65536

    def __post_init__(self):
        agent, config = self.agent, self.config
        self._act = jax.jit(lambda s, o, g: agent.act(s, o, g, config))
        hop = hook(agent, "act_subgoal")
        self._hop = None if hop is None else jax.jit(lambda s, o, g: hop(s, o, g, config))
        self._dist = jax.jit(lambda s, o, g: steps_to_goal(agent, s, o, g, config))
        embed = hook(agent, "metric_embedding")
        self._embed = None if embed is None else jax.jit(lambda s, o: embed(s, o, config))
        def steps(za, zb):  # ||a - b||^2 = |a|^2 + |b|^2 - 2 a.b: no (m, n, dim) intermediate; centred for precision
            c = jnp.mean(zb, axis=0)
            za, zb = za - c, zb - c
            sq = jnp.sum(za ** 2, -1)[:, None] + jnp.sum(zb ** 2, -1)[None] - 2.0 * za @ zb.T
            return value_to_steps(-jnp.sqrt(jnp.maximum(sq, 0.0)), config.discount)
        self._steps = jax.jit(steps)
        probe = jnp.zeros((1, self.state["spec"].obs_dim), jnp.float32)
        try:  # an agent without a value or a distance says so now, not in the middle of the search
            jax.eval_shape(lambda s: steps_to_goal(agent, s, probe, probe, config), self.state)
        except EthogramError as e:
            raise EthogramError(f"the search cannot use agent '{agent.NAME}' as its controller: {e.problem}",
                                e.fix) from None

    def act(self, obs, goals) -> np.ndarray:
        return np.asarray(self._act(self.state, jnp.asarray(obs, jnp.float32), jnp.asarray(goals, jnp.float32)))

    @property
    def short_range(self) -> bool:
        """Whether the agent has a short-range policy (`act_subgoal`) for `hop_policy`."""
        return self._hop is not None

    def act_subgoal(self, obs, goals) -> np.ndarray:
        """The agent's short-range policy toward nearby goals (the `act_subgoal` hook: HIQL's low level)."""
        if self._hop is None:
            raise EthogramError(f"agent '{self.agent.NAME}' has no short-range policy for hop_policy=true "
                                "(only HIQL's low level is one).", "drop --set hop_policy=true, or use a HIQL run")
        return np.asarray(self._hop(self.state, jnp.asarray(obs, jnp.float32), jnp.asarray(goals, jnp.float32)))

    def _chunked(self, fn, *arrays: np.ndarray) -> list[np.ndarray]:
        """fn(state, *chunks) over row chunks, each padded to a power of two (a few shapes: no recompilation per
        batch size), padding cut off again."""
        out = []
        for k in range(0, len(arrays[0]), self.chunk):
            parts = [a[k: k + self.chunk] for a in arrays]
            n = len(parts[0])
            pad = ((0, max(256, 1 << (n - 1).bit_length()) - n), (0, 0))
            out.append(np.asarray(fn(self.state, *(jnp.asarray(np.pad(p, pad)) for p in parts)))[:n])
        return out

    def distance(self, obs, goals) -> np.ndarray:
        obs, goals = np.broadcast_arrays(np.asarray(obs, np.float32), np.asarray(goals, np.float32))
        out = self._chunked(self._dist, obs, goals)
        return np.concatenate(out) if out else np.zeros(0)

    @property
    def metric(self) -> bool:
        """Whether distances come from an embedding of each state (`embedding`, `steps_between`, `pairwise`)."""
        return self._embed is not None

    def embedding(self, obs) -> np.ndarray:
        """z(s) of the agent's metric embedding, (n, dim)."""
        out = self._chunked(self._embed, np.asarray(obs, np.float32))
        return np.concatenate(out) if out else np.zeros((0, 1), np.float32)

    def steps_between(self, za: np.ndarray, zb: np.ndarray) -> np.ndarray:
        """(m, n) steps between embedded states, in blocks of rows. Both sides are padded to a power of two (a graph
        that grows by one node would otherwise compile a new shape for every query); the padding is cut off."""
        za, zb = np.asarray(za, np.float32), np.asarray(zb, np.float32)
        m, n = len(za), len(zb)
        if not m or not n:
            return np.zeros((m, n), np.float32)
        nb = max(256, 1 << (n - 1).bit_length())
        zb = jnp.asarray(np.pad(zb, ((0, nb - n), (0, 0)), mode="edge"))  # edge rows: the centring barely moves
        rows = max(1, (1 << 22) // nb)
        out = []
        for k in range(0, m, rows):
            blk = za[k: k + rows]
            pad = (1 << (len(blk) - 1).bit_length()) - len(blk)
            out.append(np.asarray(self._steps(jnp.asarray(np.pad(blk, ((0, pad), (0, 0)))), zb))[: len(blk), :n])
        return np.concatenate(out)

    def pairwise(self, a, b) -> np.ndarray:
        """D[i, j] = distance(a[i], b[j]) from one embedding per state."""
        return self.steps_between(self.embedding(a), self.embedding(b))


def distance_matrix(ctrl, a: np.ndarray, b: np.ndarray, rows_per_call: int | None = None) -> np.ndarray:
    """D[i, j] = ctrl.distance(a[i], b[j]) for all pairs: from the controller's metric embedding when it has one,
    else in chunks of rows of pairs."""
    a, b = np.asarray(a, np.float32), np.asarray(b, np.float32)
    if getattr(ctrl, "metric", False):
        return ctrl.pairwise(a, b).astype(np.float32)
    rows = rows_per_call or max(1, 65536 // max(len(b), 1))
    out = np.empty((len(a), len(b)), np.float32)
    for k in range(0, len(a), rows):
        blk = a[k: k + rows]
        out[k: k + len(blk)] = ctrl.distance(np.repeat(blk, len(b), axis=0), np.tile(b, (len(blk), 1))).reshape(
            len(blk), len(b))
    return out


@dataclass
class Paired:
    """Edges driven by one agent's act (sampling with a fresh key per call), distances from another controller."""

    agent: types.ModuleType
    config: object
    state: dict
    measure: Learned
    seed: int = 0
    learned = True

    def __post_init__(self):
        agent, config = self.agent, self.config
        self.name = f"{agent.NAME}+{self.measure.name}"
        base = jax.random.PRNGKey(self.seed)
        self._act = jax.jit(lambda s, o, g, t: agent.act(s, o, g, config, jax.random.fold_in(base, t)))
        self._calls = 0

    def act(self, obs, goals) -> np.ndarray:
        self._calls += 1
        return np.asarray(self._act(self.state, jnp.asarray(obs, jnp.float32), jnp.asarray(goals, jnp.float32),
                                    np.int32(self._calls)))

    short_range = False  # its act samples a whole policy; the searcher refuses hop_policy for it

    def distance(self, obs, goals) -> np.ndarray:
        return self.measure.distance(obs, goals)

    @property
    def metric(self) -> bool:
        return self.measure.metric

    def embedding(self, obs) -> np.ndarray:
        return self.measure.embedding(obs)

    def steps_between(self, za, zb) -> np.ndarray:
        return self.measure.steps_between(za, zb)

    def pairwise(self, a, b) -> np.ndarray:
        return self.measure.pairwise(a, b)


def _load_run(run_dir: Path, role: str):
    if not run_dir.is_dir():
        raise EthogramError(f"{role} run '{run_dir}' does not exist.",
                            "train one first, e.g. ethogram train gcivl --dataset ... --out RUN_DIR")
    run, agent, config = rundir.load(run_dir)
    if not rundir.run_file(run_dir, rundir.CHECKPOINT).exists():
        raise EthogramError(f"{role} run '{run_dir}' has no checkpoint.",
                            f"train it: ethogram train --resume {run_dir}")
    return run, agent, config, rundir.restore(run_dir, run, agent, config)


def controller_from_run(run_dir: str | Path, distance_run: str | Path | None = None) -> Learned | Paired:
    """A learned controller from a trained run directory (clear errors when it is missing or unusable); with
    `distance_run`, the run's act paired with the other run's distance (both of the same environment)."""
    run, agent, config, state = _load_run(Path(run_dir), "controller")
    state = jax.tree_util.tree_map(jnp.asarray, state)
    if distance_run is None:
        return Learned(agent, config, state, name=run["agent"])
    other, d_agent, d_config, d_state = _load_run(Path(distance_run), "distance")
    if other["env"] != run["env"] or other["obs_dim"] != run["obs_dim"]:
        raise EthogramError(f"the controller run '{run_dir}' is of {run['env']} and the distance run "
                            f"'{distance_run}' of {other['env']}.", "pair two runs of the same environment")
    measure = Learned(d_agent, d_config, jax.tree_util.tree_map(jnp.asarray, d_state), name=other["agent"])
    return Paired(agent, config, state, measure)
