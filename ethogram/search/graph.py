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

Edges are a sparse list (parallel arrays `src`, `dst`, `length`, ... with a capacity that doubles, and an index
from (i, j) to the edge, and each node's out- and in-edges as chains of edge ids), so memory and the cost of a plan
grow with the edges, not with nodes squared. Plans toward one goal node come from ethogram.search.paths (A* on a
heuristic kept per goal, repaired from `lowered`, the log of edges made cheaper); plans toward several weighted
endpoints (exploring without data) from one Dijkstra per goal (scipy.sparse.csgraph).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from scipy.sparse import csr_matrix
from scipy.sparse.csgraph import dijkstra

from ethogram.search import paths as P

EDGE_FIELDS = {"src": np.int32, "dst": np.int32, "length": np.float32, "weight": np.float32, "tries": np.int32,
               "wins": np.int32, "habit": np.float32}
NODE_FIELDS = ("obs", "code", "visited", "dead", "goal_wins")


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
    """Nodes (arrays sized to a capacity; the first `n` are used) and edges (the first `m` of the edge arrays)."""

    obs: np.ndarray  # (cap, obs_dim) float32: the state each node stands for
    code: np.ndarray  # (cap, code_dim) complex64: its harmonic code
    visited: np.ndarray  # (cap,) bool: the agent has been there (or it is a dataset state); else a candidate
    dead: np.ndarray  # (cap,) bool: a candidate place given up (no way toward it): no hope, never re-proposed
    goal_wins: np.ndarray  # (cap,) int32: successes with this node as the goal's place
    src: np.ndarray  # (ecap,) int32: edge i -> j is (src, dst) = (i, j)
    dst: np.ndarray
    length: np.ndarray  # (ecap,) float32 steps
    weight: np.ndarray  # (ecap,) float32 Hebbian weights
    tries: np.ndarray  # (ecap,) int32
    wins: np.ndarray  # (ecap,) int32
    habit: np.ndarray  # (ecap,) float32
    n: int = 0
    m: int = 0
    version: int = 0  # bumped by every change of edges or weights (plans are cached per version)
    index: dict = field(default_factory=dict, repr=False)  # (i, j) -> edge id
    _csr: dict = field(default_factory=dict, repr=False)
    lowered: list = field(default_factory=list, repr=False)  # ids of edges made cheaper (potentiated), in order
    _adj: dict = field(default_factory=dict, repr=False)  # the adjacency chains, see `adjacency`

    @property
    def capacity(self) -> int:
        return len(self.obs)

    def edges(self) -> np.ndarray:
        """(E, 2) array of the existing edges (i, j)."""
        return np.stack([self.src[: self.m], self.dst[: self.m]], axis=1).astype(np.int64)


def empty(obs_dim: int, code_dim: int, capacity: int = 64) -> Graph:
    ecap = 8 * capacity
    return Graph(obs=np.zeros((capacity, obs_dim), np.float32), code=np.zeros((capacity, code_dim), np.complex64),
                 visited=np.zeros(capacity, bool), dead=np.zeros(capacity, bool),
                 goal_wins=np.zeros(capacity, np.int32),
                 **{k: np.zeros(ecap, t) for k, t in EDGE_FIELDS.items()})


def _grow(g: Graph, need: int) -> None:
    cap = g.capacity
    if need <= cap:
        return
    pad = [(0, max(need, 2 * cap) - cap)]
    for k in NODE_FIELDS:
        a = getattr(g, k)
        setattr(g, k, np.pad(a, pad + [(0, 0)] * (a.ndim - 1)))


def _grow_edges(g: Graph, need: int) -> None:
    cap = len(g.src)
    if need > cap:
        for k in EDGE_FIELDS:
            setattr(g, k, np.pad(getattr(g, k), (0, max(need, 2 * cap) - cap)))


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


def edge(g: Graph, i: int, j: int) -> int:
    """The id of edge i -> j, -1 when there is none."""
    return g.index.get((int(i), int(j)), -1)


def length_of(g: Graph, i: int, j: int) -> float:
    """Expected steps of edge i -> j (inf when there is none)."""
    e = edge(g, i, j)
    return float(g.length[e]) if e >= 0 else np.inf


def connect(g: Graph, i, j, length, weight) -> None:
    """Create edges i -> j (arrays broadcast) where none exists; existing edges keep their history."""
    i, j = np.broadcast_arrays(np.atleast_1d(np.asarray(i)), np.atleast_1d(np.asarray(j)))
    length = np.broadcast_to(np.asarray(length, np.float32), i.shape).ravel()
    weight = np.broadcast_to(np.asarray(weight, np.float32), i.shape).ravel()
    new = []
    for k, (a, b) in enumerate(zip(i.ravel().tolist(), j.ravel().tolist(), strict=True)):
        if a != b and (a, b) not in g.index:
            g.index[(a, b)] = g.m + len(new)
            new.append(k)
    if new:
        new = np.asarray(new)
        e = np.arange(g.m, g.m + len(new))
        _grow_edges(g, g.m + len(new))
        g.src[e], g.dst[e] = i.ravel()[new], j.ravel()[new]
        g.length[e] = np.maximum(length[new], 1.0)
        g.weight[e] = weight[new]
        g.m += len(new)
    g.version += 1


def potentiate(g: Graph, i: int, j: int, steps: float, cfg: HebbConfig) -> None:
    """i then j fired in sequence: strengthen i -> j and learn its length from the steps it took."""
    if edge(g, i, j) < 0:
        connect(g, i, j, steps, 0.5)
    e = edge(g, i, j)
    if e < 0:  # i == j: no edge to learn
        return
    g.weight[e] += cfg.eta * (1.0 - g.weight[e])
    k = g.wins[e]
    g.length[e] = max(1.0, (g.length[e] * k + steps) / (k + 1)) if k else max(1.0, steps)
    g.tries[e] += 1
    g.wins[e] += 1
    g.lowered.append(int(e))
    g.version += 1


def inputs(g: Graph, j: int) -> np.ndarray:
    """Ids of the edges into node j, in the order they were added."""
    a = P.adjacency(g)
    return P.chain(a["in_head"], a["in_next"], int(j))[::-1]


def weaken_inputs(g: Graph, j: int, factor: float, floor: float = 0.0) -> None:
    """Every input of node j: w *= factor (not below `floor`)."""
    e = inputs(g, j)
    g.weight[e] = np.maximum(floor, g.weight[e] * factor)
    g.version += 1


def depress(g: Graph, i: int, j: int, cfg: HebbConfig) -> None:
    """i fired and j did not follow: weaken i -> j."""
    e = edge(g, i, j)
    if e >= 0:
        w_ij = g.weight[e]
        if cfg.rho_hetero:  # heterosynaptic: j did not fire despite its drive, its other inputs weaken a little
            weaken_inputs(g, j, 1.0 - cfg.rho_hetero, cfg.w_min)
        g.weight[e] = max(cfg.w_min, w_ij * (1.0 - cfg.rho))
        g.tries[e] += 1
        g.version += 1


def habituate(g: Graph, path: list[int], cfg: HebbConfig) -> None:
    """A behaviour that was executed without improving gets dearer, so it is not simply repeated."""
    for a, b in zip(path[:-1], path[1:], strict=True):
        e = edge(g, a, b)
        if e >= 0:
            g.habit[e] += cfg.habit * g.length[e]
    g.version += 1


def edge_cost(g: Graph, cfg: HebbConfig) -> np.ndarray:
    """(m,) cost of each edge: length / weight + hop + habituation."""
    m = g.m
    return g.length[:m] / np.maximum(g.weight[:m], cfg.w_min) + cfg.hop + g.habit[:m]


def cost_to_go_many(g: Graph, cfg: HebbConfig, goal_costs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """For each row k of goal_costs (K, n): the cheapest cost from every node to a goal that node j reaches directly
    at cost goal_costs[k, j] (inf: not). Returns (cost (K, n), next (K, n)): next[k, j] is the node after j on its
    cheapest path, -1 when the next step is the goal itself (or there is no path). One Dijkstra call on the reversed
    graph from K virtual goal nodes (one per row)."""
    n = g.n
    goal_costs = np.atleast_2d(goal_costs)
    K = len(goal_costs)
    if g._csr.get("version") != g.version:  # the reversed edges, rebuilt only when the graph changed
        g._csr |= {"version": g.version, "coo": (g.dst[: g.m].astype(np.int64), g.src[: g.m].astype(np.int64),
                                                edge_cost(g, cfg).astype(np.float64))}
    r0, c0, v0 = g._csr["coo"]
    kk, jj = np.nonzero(np.isfinite(goal_costs))
    if n == 0 or len(kk) == 0:
        return np.full((K, n), np.inf), np.full((K, n), -1)
    # Virtual node n + k: reversed edges n + k -> j with cost goal_costs[k, j].
    rows = np.concatenate([r0, n + kk])
    cols = np.concatenate([c0, jj])
    vals = np.concatenate([v0, goal_costs[kk, jj] + cfg.hop])
    mat = csr_matrix((vals, (rows, cols)), shape=(n + K, n + K))
    dist, pred = dijkstra(mat, directed=True, indices=np.arange(n, n + K), return_predecessors=True)
    nxt = pred[:, :n].astype(np.int64)
    nxt[(nxt >= n) | (nxt < 0)] = -1
    return dist[:, :n], nxt


def cost_to_go(g: Graph, cfg: HebbConfig, goal_cost: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """`cost_to_go_many` for one goal: (cost (n,), next (n,))."""
    ctg, nxt = cost_to_go_many(g, cfg, np.asarray(goal_cost)[None])
    return ctg[0], nxt[0]


def path_from(start: int, nxt: np.ndarray, limit: int = 100_000) -> list[int]:
    """Nodes from `start` following `next` pointers until the goal (-1)."""
    path = [start]
    while nxt[path[-1]] >= 0 and len(path) < limit:
        path.append(int(nxt[path[-1]]))
    return path


def neighbourhood(g: Graph, seeds, hops: int) -> np.ndarray:
    """Nodes within `hops` edges (either direction) of the seed nodes, the seeds included: a walk over the adjacency
    chains, breadth first: O(the neighbourhood's edges), not O(the graph's)."""
    near = np.zeros(g.n, bool)
    seeds = np.asarray([s for s in np.atleast_1d(seeds) if 0 <= s < g.n], np.int64)
    near[seeds] = True
    a = P.adjacency(g)
    P.grow_mask(near, int(hops), g.src, g.dst, a["out_head"], a["out_next"], a["in_head"], a["in_next"])
    return np.nonzero(near)[0]


def dense_length(g: Graph, n: int | None = None) -> np.ndarray:
    """(n, n) edge lengths among the first n nodes, inf where there is no edge (for small graphs and tests)."""
    n = g.n if n is None else n
    out = np.full((n, n), np.inf, np.float32)
    m = g.m
    ok = (g.src[:m] < n) & (g.dst[:m] < n)
    out[g.src[:m][ok], g.dst[:m][ok]] = g.length[:m][ok]
    return out


def to_arrays(g: Graph) -> dict[str, np.ndarray]:
    """The used part of the graph as plain arrays (for an npz file): nodes, then the edge list."""
    n, m = g.n, g.m
    return {**{k: getattr(g, k)[:n] for k in NODE_FIELDS}, **{k: getattr(g, k)[:m] for k in EDGE_FIELDS}}


def from_arrays(a: dict[str, np.ndarray]) -> Graph:
    n = len(a["obs"])
    g = empty(a["obs"].shape[1], a["code"].shape[1], capacity=max(n, 1))
    for k in NODE_FIELDS:
        getattr(g, k)[:n] = a[k]
    g.n = n
    if "src" in a:
        edges = {k: np.asarray(a[k]) for k in EDGE_FIELDS}
    else:  # the dense layout: (n, n) matrices, inf length where there is no edge
        i, j = np.nonzero(np.isfinite(a["length"]))
        edges = {"src": i, "dst": j, **{k: np.asarray(a[k])[i, j] for k in EDGE_FIELDS if k not in ("src", "dst")}}
    m = len(edges["src"])
    if any(len(v) != m for v in edges.values()) or (m and (edges["src"].max() >= n or edges["dst"].max() >= n
                                                           or min(edges["src"].min(), edges["dst"].min()) < 0)):
        raise ValueError("edge arrays of different lengths or naming nodes that do not exist")
    _grow_edges(g, m)
    for k, t in EDGE_FIELDS.items():
        getattr(g, k)[:m] = edges[k].astype(t)
    g.m = m
    g.index = {(a_, b_): e for e, (a_, b_) in enumerate(zip(g.src[:m].tolist(), g.dst[:m].tolist(), strict=True))}
    if len(g.index) != m:
        raise ValueError("an edge is listed twice")
    g.version = 1
    return g


def warm_up() -> None:
    """Run every compiled loop of the graph and its planner (search.paths) once, on a three-node graph: numba
    compiles, or loads its cache, on first use."""
    g = empty(1, 1, capacity=4)
    add_nodes(g, np.zeros((3, 1)), np.zeros((3, 1)), visited=True)
    connect(g, [0, 1, 2], [1, 2, 0], [1.0, 1.0, 1.0], 1.0)
    paths = P.GoalPaths(g, HebbConfig())
    paths.path(0, 2)
    potentiate(g, 0, 1, 1.0, HebbConfig())
    paths.path(1, 0)  # a shared anchor (a repair, a shifted search)
    paths.reaching(2)
    neighbourhood(g, [0], 2)
    inputs(g, 1)
