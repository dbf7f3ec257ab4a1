"""The cognitive graph: nodes are states with a harmonic code, directed edges carry Hebbian weights.

Edge i -> j means "the local controller, started at node i and asked for node j, gets there". It stores
  length  expected steps (measured after each traversal; a learned or a prior guess before),
  weight  a Hebbian weight w in (0, 1]: potentiated when i and j fire in sequence (the agent was at i,
          aimed at j and reached it), w += eta (1 - w); depressed when i fired and j did not follow
          (no progress, timeout, collision), w *= 1 - rho,
  tries / wins  the success statistics,
  habit   habituation: extra cost added to edges of a behaviour that was executed without improving.
A behaviour is a path; its cost is the sum of length / w + hop + habit over its edges, so the search prefers
short, reliable, simple (few-edge) behaviours, and every failure makes the failed behaviour dearer than
the next-simplest one: executing the cheapest path and mutating the graph enumerates behaviours in order.

Arrays are dense (N x N) with a capacity that doubles: N is at most a few thousand here.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from scipy.sparse import csr_matrix
from scipy.sparse.csgraph import dijkstra


@dataclass(frozen=True)
class HebbConfig:
    eta: float = 0.5  # potentiation rate
    rho: float = 0.7  # depression: w *= 1 - rho after a failure
    rho_hetero: float = 0.3  # and every other input of the node that was not reached: w *= 1 - rho_hetero
    hop: float = 2.0  # fixed cost per edge (in steps): fewer, longer edges are simpler
    habit: float = 0.5  # habituation added per unproductive use, as a fraction of the edge length
    w_min: float = 1e-3


@dataclass
class Graph:
    """Nodes and edges of the cognitive graph (arrays sized to `capacity`; the first `n` are used)."""

    obs: np.ndarray  # (cap, obs_dim) float32: the state each node stands for
    code: np.ndarray  # (cap, code_dim) complex64: its harmonic code
    visited: np.ndarray  # (cap,) bool: the agent has been there (or it is a dataset state); else a candidate
    dead: np.ndarray  # (cap,) bool: a candidate place given up (no way toward it): no hope, never re-proposed
    goal_wins: np.ndarray  # (cap,) int32: successes with this node as the goal's place
    length: np.ndarray  # (cap, cap) float32 steps, inf = no edge
    weight: np.ndarray  # (cap, cap) float32 Hebbian weights
    tries: np.ndarray  # (cap, cap) int32
    wins: np.ndarray  # (cap, cap) int32
    habit: np.ndarray  # (cap, cap) float32
    n: int = 0
    version: int = 0  # bumped by every change of edges or weights (plans are cached per version)
    _csr: dict = field(default_factory=dict, repr=False)

    @property
    def capacity(self) -> int:
        return len(self.obs)

    def edges(self) -> np.ndarray:
        """(E, 2) array of the existing edges."""
        return np.argwhere(np.isfinite(self.length[: self.n, : self.n]))


def empty(obs_dim: int, code_dim: int, capacity: int = 64) -> Graph:
    return Graph(obs=np.zeros((capacity, obs_dim), np.float32), code=np.zeros((capacity, code_dim), np.complex64),
                 visited=np.zeros(capacity, bool), dead=np.zeros(capacity, bool),
                 goal_wins=np.zeros(capacity, np.int32),
                 length=np.full((capacity, capacity), np.inf, np.float32),
                 weight=np.zeros((capacity, capacity), np.float32), tries=np.zeros((capacity, capacity), np.int32),
                 wins=np.zeros((capacity, capacity), np.int32), habit=np.zeros((capacity, capacity), np.float32))


def _grow(g: Graph, need: int) -> None:
    cap = g.capacity
    if need <= cap:
        return
    new = max(need, 2 * cap)
    pad1 = [(0, new - cap)]
    g.obs = np.pad(g.obs, pad1 + [(0, 0)])
    g.code = np.pad(g.code, pad1 + [(0, 0)])
    g.visited = np.pad(g.visited, pad1)
    g.dead = np.pad(g.dead, pad1)
    g.goal_wins = np.pad(g.goal_wins, pad1)
    pad2 = [(0, new - cap), (0, new - cap)]
    g.length = np.pad(g.length, pad2, constant_values=np.inf)
    for k in ("weight", "tries", "wins", "habit"):
        setattr(g, k, np.pad(getattr(g, k), pad2))


def add_nodes(g: Graph, obs: np.ndarray, code: np.ndarray, visited) -> np.ndarray:
    """Append nodes; returns their indices."""
    obs = np.atleast_2d(obs)
    k = len(obs)
    _grow(g, g.n + k)
    idx = np.arange(g.n, g.n + k)
    g.obs[idx] = obs
    g.code[idx] = np.atleast_2d(code)
    g.visited[idx] = visited
    g.n += k
    g.version += 1
    return idx


def connect(g: Graph, i, j, length, weight) -> None:
    """Create edges i -> j (arrays broadcast) where none exists; existing edges keep their history."""
    i, j = np.broadcast_arrays(np.asarray(i), np.asarray(j))
    length = np.broadcast_to(np.asarray(length, np.float32), i.shape)
    weight = np.broadcast_to(np.asarray(weight, np.float32), i.shape)
    new = ~np.isfinite(g.length[i, j]) & (i != j)
    g.length[i[new], j[new]] = np.maximum(length[new], 1.0)
    g.weight[i[new], j[new]] = weight[new]
    g.version += 1


def potentiate(g: Graph, i: int, j: int, steps: float, cfg: HebbConfig) -> None:
    """i then j fired in sequence: strengthen i -> j and learn its length from the steps it took."""
    if not np.isfinite(g.length[i, j]):
        connect(g, i, j, steps, 0.5)
    g.weight[i, j] += cfg.eta * (1.0 - g.weight[i, j])
    k = g.wins[i, j]
    g.length[i, j] = max(1.0, (g.length[i, j] * k + steps) / (k + 1)) if k else max(1.0, steps)
    g.tries[i, j] += 1
    g.wins[i, j] += 1
    g.version += 1


def depress(g: Graph, i: int, j: int, cfg: HebbConfig) -> None:
    """i fired and j did not follow: weaken i -> j."""
    if np.isfinite(g.length[i, j]):
        w_ij = g.weight[i, j]
        if cfg.rho_hetero:  # heterosynaptic: j did not fire despite its drive, its other inputs weaken a little
            col = g.weight[: g.n, j]
            g.weight[: g.n, j] = np.where(col > 0, np.maximum(cfg.w_min, col * (1.0 - cfg.rho_hetero)), col)
        g.weight[i, j] = max(cfg.w_min, w_ij * (1.0 - cfg.rho))
        g.tries[i, j] += 1
        g.version += 1


def habituate(g: Graph, path: list[int], cfg: HebbConfig) -> None:
    """A behaviour that was executed without improving gets dearer, so it is not simply repeated."""
    for a, b in zip(path[:-1], path[1:], strict=True):
        if np.isfinite(g.length[a, b]):
            g.habit[a, b] += cfg.habit * g.length[a, b]
    g.version += 1


def edge_cost(g: Graph, cfg: HebbConfig) -> np.ndarray:
    """(n, n) cost of each edge: length / weight + hop + habituation (inf where there is none)."""
    n = g.n
    with np.errstate(divide="ignore", invalid="ignore"):
        c = g.length[:n, :n] / np.maximum(g.weight[:n, :n], cfg.w_min) + cfg.hop + g.habit[:n, :n]
    return np.where(np.isfinite(g.length[:n, :n]), c, np.inf)


def reversed_csr(g: Graph, cfg: HebbConfig) -> csr_matrix:
    """The transposed cost matrix as a sparse graph, cached until the graph changes."""
    if g._csr.get("version") != g.version:
        c = edge_cost(g, cfg).T
        rows, cols = np.nonzero(np.isfinite(c))
        g._csr = {"version": g.version, "csr": csr_matrix((c[rows, cols], (rows, cols)), shape=c.shape),
                  "coo": (rows, cols, c[rows, cols])}
    return g._csr["csr"]


def cost_to_go(g: Graph, cfg: HebbConfig, goal_cost: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Cheapest cost from every node to a goal that node j reaches directly at cost goal_cost[j] (inf: not).

    Returns (cost (n,), next (n,)): next[j] is the node after j on its cheapest path, -1 when the next step
    is the goal itself (or there is no path). One Dijkstra on the reversed graph from a virtual goal node.
    """
    n = g.n
    reversed_csr(g, cfg)
    r0, c0, v0 = g._csr["coo"]
    finite = np.nonzero(np.isfinite(goal_cost))[0]
    if n == 0 or len(finite) == 0:
        return np.full(n, np.inf), np.full(n, -1)
    # Virtual node n: reversed edges n -> j with cost goal_cost[j].
    rows = np.concatenate([r0, np.full(len(finite), n)])
    cols = np.concatenate([c0, finite])
    vals = np.concatenate([v0, goal_cost[finite] + cfg.hop])
    m = csr_matrix((vals, (rows, cols)), shape=(n + 1, n + 1))
    dist, pred = dijkstra(m, directed=True, indices=n, return_predecessors=True)
    nxt = pred[:n].astype(np.int64)
    nxt[nxt == n] = -1
    nxt[nxt < 0] = -1
    return dist[:n], nxt


def path_from(start: int, nxt: np.ndarray, limit: int = 100_000) -> list[int]:
    """Nodes from `start` following `next` pointers until the goal (-1)."""
    path = [start]
    while nxt[path[-1]] >= 0 and len(path) < limit:
        path.append(int(nxt[path[-1]]))
    return path


def to_arrays(g: Graph) -> dict[str, np.ndarray]:
    """The used part of the graph as plain arrays (for an npz file)."""
    n = g.n
    return {"obs": g.obs[:n], "code": g.code[:n], "visited": g.visited[:n], "dead": g.dead[:n],
            "goal_wins": g.goal_wins[:n],
            "length": g.length[:n, :n], "weight": g.weight[:n, :n], "tries": g.tries[:n, :n],
            "wins": g.wins[:n, :n], "habit": g.habit[:n, :n]}


def from_arrays(a: dict[str, np.ndarray]) -> Graph:
    n = len(a["obs"])
    g = empty(a["obs"].shape[1], a["code"].shape[1], capacity=max(n, 1))
    g.obs[:n], g.code[:n], g.visited[:n], g.dead[:n] = a["obs"], a["code"], a["visited"], a["dead"]
    g.goal_wins[:n] = a["goal_wins"]
    for k in ("length", "weight", "tries", "wins", "habit"):
        getattr(g, k)[:n, :n] = a[k]
    g.n = n
    g.version = 1
    return g
