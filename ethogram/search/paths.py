"""Shortest paths on a cognitive graph that changes every step: Generalized Adaptive A* toward fixed goals.

The search re-plans a handful of episodes per step, each from the node it is at to its goal's node, while the graph
mutates under it: failures make edges dearer (depression, habituation), reaches make them cheaper (potentiation),
inserted nodes bring hundreds of new edges. A Dijkstra over the whole graph per re-plan costs O(edges) each time,
tens of milliseconds at tens of thousands of nodes. Here each goal keeps a heuristic h, the cost-to-go as far as it
is known, and every plan is one A* search from the episode's node, exact on the current edge costs:

  h starts as the exact cost-to-go (one reverse Dijkstra from the goal, the first time the goal is planned for);
  dearer edges need nothing: h stays a consistent lower bound when costs only grow (Adaptive A*, Koenig and
      Likhachev 2005), so A* still returns a cheapest path, only expanding more nodes where the costs moved;
  cheaper and new edges are repaired before the search: where h[x] > cost(x -> y) + h[y] the lower bound is pushed
      down and propagated to x's predecessors in cost order (the consistency procedure of Generalized Adaptive A*,
      Sun, Koenig and Yeoh 2008); a new node starts at infinity (unreachable) and is lowered the same way;
  after a search every expanded node x learns h[x] = cost(path) - g(x), exact where the search went, so the next
      search from nearby expands little more than its path.

h finite means the goal is reachable (edges are never deleted): the search's bridge test reads it without a search.
Adjacency is two chains of edge ids (each node's out-edges, in-edges), extended in O(1) per new edge, so nothing is
rebuilt as the graph grows. The loops are compiled with numba.
"""

from __future__ import annotations

import numpy as np
from numba import njit

INF = np.inf


# ------------------------------------------------------------------------------------------ adjacency chains
@njit(cache=True)
def link(src, dst, e0, e1, out_head, out_next, in_head, in_next):  # pragma: no cover - compiled
    """Prepend edges e0..e1-1 to their source's out-chain and their destination's in-chain."""
    for e in range(e0, e1):
        out_next[e] = out_head[src[e]]
        out_head[src[e]] = e
        in_next[e] = in_head[dst[e]]
        in_head[dst[e]] = e


@njit(cache=True)
def chain(head, nxt, j):  # pragma: no cover - compiled
    """The edge ids on node j's chain."""
    k = 0
    e = head[j]
    while e >= 0:
        k += 1
        e = nxt[e]
    out = np.empty(k, np.int64)
    e = head[j]
    for i in range(k):
        out[i] = e
        e = nxt[e]
    return out


@njit(cache=True)
def grow_mask(near, hops, src, dst, out_head, out_next, in_head, in_next):  # pragma: no cover - compiled
    """Mark every node within `hops` edges (either direction) of the marked ones, breadth first."""
    queue = np.empty(len(near), np.int64)  # every node enters once: the frontiers, one after the other
    end = 0
    for x in range(len(near)):
        if near[x]:
            queue[end] = x
            end += 1
    start = 0
    for _ in range(hops):
        stop = end
        for q in range(start, stop):
            end = _mark_chain(queue[q], out_head, out_next, dst, near, queue, end)
            end = _mark_chain(queue[q], in_head, in_next, src, near, queue, end)
        start = stop


@njit(cache=True, inline="always")
def _mark_chain(x, head, nxt, far, near, queue, end):  # pragma: no cover - compiled
    """Mark and enqueue (at queue[end], end + 1, ...) the unmarked far ends of node x's chain; returns the new end."""
    e = head[x]
    while e >= 0:
        y = far[e]
        if not near[y]:
            near[y] = True
            queue[end] = y
            end += 1
        e = nxt[e]
    return end


# ------------------------------------------------------------------------------------------ a binary heap
@njit(cache=True, inline="always")
def _less(kf, kt, a, b):  # pragma: no cover - compiled
    return kf[a] < kf[b] or (kf[a] == kf[b] and kt[a] < kt[b])


@njit(cache=True)
def _push(kf, kt, kv, size, f, t, v):  # pragma: no cover - compiled
    """Push (f, t) -> v onto the heap of `size` entries (keys compared as (f, t)); returns the new size."""
    i = size
    kf[i], kt[i], kv[i] = f, t, v
    while i > 0:
        p = (i - 1) >> 1
        if _less(kf, kt, i, p):
            kf[i], kf[p] = kf[p], kf[i]
            kt[i], kt[p] = kt[p], kt[i]
            kv[i], kv[p] = kv[p], kv[i]
            i = p
        else:
            break
    return size + 1


@njit(cache=True)
def _pop(kf, kt, kv, size):  # pragma: no cover - compiled
    """Remove the smallest entry; returns (f, v, new size)."""
    f, v = kf[0], kv[0]
    size -= 1
    kf[0], kt[0], kv[0] = kf[size], kt[size], kv[size]
    i = 0
    while True:
        a, b = 2 * i + 1, 2 * i + 2
        s = i
        if a < size and _less(kf, kt, a, s):
            s = a
        if b < size and _less(kf, kt, b, s):
            s = b
        if s == i:
            break
        kf[i], kf[s] = kf[s], kf[i]
        kt[i], kt[s] = kt[s], kt[i]
        kv[i], kv[s] = kv[s], kv[i]
        i = s
    return f, v, size


@njit(cache=True, inline="always")
def _cost(e, length, weight, habit, hop, w_min):  # pragma: no cover - compiled
    """graph.edge_cost for one edge: length / weight + hop + habituation."""
    return np.float64(length[e]) / max(np.float64(weight[e]), w_min) + hop + np.float64(habit[e])


# ------------------------------------------------------------------------------------------ the three searches
@njit(cache=True)
def reverse_dijkstra(goal, h, src, in_head, in_next, length, weight, habit, hop, w_min,
                     kf, kt, kv):  # pragma: no cover - compiled
    """h[x] = the cheapest cost from x to `goal` (inf: none), over the in-chains from the goal."""
    h[:] = INF
    h[goal] = 0.0
    size = _push(kf, kt, kv, 0, 0.0, 0.0, goal)
    _lower_predecessors(h, size, src, in_head, in_next, length, weight, habit, hop, w_min, kf, kt, kv)


@njit(cache=True)
def _lower_predecessors(h, size, src, in_head, in_next, length, weight, habit, hop, w_min,
                        kf, kt, kv):  # pragma: no cover - compiled
    """Pop the heap (of `size` entries) in cost order; lower every predecessor w of a popped x to cost(w -> x) + h[x]
    where that is less, and push it. Returns the number of nodes settled."""
    settled = 0
    while size:
        f, x, size = _pop(kf, kt, kv, size)
        if f > h[x]:
            continue
        settled += 1
        e = in_head[x]
        while e >= 0:
            w = src[e]
            c = f + _cost(e, length, weight, habit, hop, w_min)
            if c < h[w]:
                h[w] = c
                size = _push(kf, kt, kv, size, c, 0.0, w)
            e = in_next[e]
    return settled


@njit(cache=True)
def repair(h, edges, src, dst, in_head, in_next, length, weight, habit, hop, w_min,
           kf, kt, kv):  # pragma: no cover - compiled
    """Make h consistent again after the edges `edges` got cheaper or were added: lower h[x] to cost(x -> y) + h[y]
    where that is less, and propagate to the predecessors in cost order. Returns the number of nodes lowered."""
    size = 0
    for e in edges:
        x, y = src[e], dst[e]
        c = h[y] + _cost(e, length, weight, habit, hop, w_min)
        if c < h[x]:
            h[x] = c
            size = _push(kf, kt, kv, size, c, 0.0, x)
    return _lower_predecessors(h, size, src, in_head, in_next, length, weight, habit, hop, w_min, kf, kt, kv)


@njit(cache=True)
def path_cost(edges, length, weight, habit, hop, w_min):  # pragma: no cover - compiled
    """The summed cost of the edges `edges` (a path)."""
    total = 0.0
    for e in edges:
        total += _cost(e, length, weight, habit, hop, w_min)
    return total


@njit(cache=True)
def astar(start, goal, h, shift, dst, out_head, out_next, length, weight, habit, hop, w_min, g, parent, closed,
          kf, kt, kv):  # pragma: no cover - compiled
    """A cheapest path start -> goal on the current costs, with the consistent heuristic max(0, h - shift) (ties to
    the deeper node). shift = 0: h is the goal's own, and every expanded x learns h[x] = cost - g(x); shift > 0: h
    belongs to a nearby goal a, shift bounds the cost goal -> a from above, and h is left as it is. Returns (path as
    node ids, its cost, nodes expanded); an empty path and inf where there is none. g, parent, closed: scratch arrays
    of the node count."""
    if not np.isfinite(h[start]):
        return np.empty(0, np.int64), INF, 0
    g[:] = INF
    closed[:] = False
    g[start] = 0.0
    parent[start] = -1
    size = _push(kf, kt, kv, 0, max(0.0, h[start] - shift), 0.0, start)
    expanded = np.empty(len(g), np.int64)
    k = 0
    found = False
    while size:
        _, x, size = _pop(kf, kt, kv, size)
        if closed[x]:
            continue
        closed[x] = True
        expanded[k] = x
        k += 1
        if x == goal:
            found = True
            break
        e = out_head[x]
        gx = g[x]
        while e >= 0:
            y = dst[e]
            if not closed[y] and np.isfinite(h[y]):
                c = gx + _cost(e, length, weight, habit, hop, w_min)
                if c < g[y]:
                    g[y] = c
                    parent[y] = x
                    size = _push(kf, kt, kv, size, c + max(0.0, h[y] - shift), -c, y)
            e = out_next[e]
    if not found:  # cannot happen with h finite and consistent; kept as a guard
        return np.empty(0, np.int64), INF, k
    total = g[goal]
    if shift == 0.0:
        for i in range(k):
            x = expanded[i]
            h[x] = total - g[x]
    steps = 1
    x = goal
    while parent[x] >= 0 and x != start:
        x = parent[x]
        steps += 1
    path = np.empty(steps, np.int64)
    x = goal
    for i in range(steps - 1, -1, -1):
        path[i] = x
        x = parent[x]
    return path, total, k


@njit(cache=True)
def reaching(goal, n, src, in_head, in_next):  # pragma: no cover - compiled
    """(n,) bool: the nodes from which `goal` can be reached (a walk back along the in-chains)."""
    seen = np.zeros(n, np.bool_)
    stack = np.empty(n, np.int64)
    seen[goal] = True
    stack[0] = goal
    size = 1
    while size:
        size -= 1
        size = _mark_chain(stack[size], in_head, in_next, src, seen, stack, size)
    return seen


def adjacency(g) -> dict[str, np.ndarray]:  # g: a graph.Graph
    """Each node's out-edges and in-edges as chains of edge ids: out_head[i] is i's latest out-edge, out_next[e] the
    one before e (-1 ends a chain); in_head / in_next the same for in-edges. Extended, never rebuilt, as nodes and
    edges are added."""
    a = g._adj
    if not a or len(a["out_head"]) < g.n:
        heads = {k: np.full(g.capacity, -1, np.int64) for k in ("out_head", "in_head")}
        for k in heads:
            if a:
                heads[k][: len(a[k])] = a[k]
        a |= heads
    if "out_next" not in a or len(a["out_next"]) < g.m:
        for k in ("out_next", "in_next"):
            new = np.full(len(g.src), -1, np.int64)
            if k in a:
                new[: len(a[k])] = a[k]
            a[k] = new
    done = a.get("linked", 0)
    if done < g.m:
        link(g.src, g.dst, done, g.m, a["out_head"], a["out_next"], a["in_head"], a["in_next"])
        a["linked"] = g.m
    return a


# ------------------------------------------------------------------------------------------ per-goal heuristics
class GoalPaths:
    """Cheapest paths to goal nodes on a graph that mutates between plans: one heuristic per anchor goal, kept across
    plans and repaired from the graph's log of cheapened edges and its new edges (see the module docstring).

    Goals near an anchor share its heuristic: with D the cost of a path goal -> anchor (found by A* at each plan, so
    it bounds the current cost from above), max(0, h_anchor - D) is a consistent lower bound on the cost to the goal
    (triangle inequality), so A* stays exact; it only expands more the larger D is. A goal with no anchor within
    `share` cost becomes an anchor (one reverse Dijkstra). Episodes whose goals differ by noise (each its own node)
    so cost a handful of Dijkstras, not one per episode."""

    def __init__(self, graph, hebb, share: float = 40.0):
        self.g, self.hebb, self.share = graph, hebb, share
        self.anchor: dict[int, int] = {}  # goal -> the anchor whose heuristic it uses (anchors map to themselves)
        self.to_anchor: dict[int, np.ndarray] = {}  # goal -> the edge ids of its path to its anchor
        self.h: dict[int, np.ndarray] = {}
        self.synced: dict[int, tuple[int, int]] = {}  # goal -> (position in graph.lowered, edges) h reflects
        self.stats = {"searches": 0, "expanded": 0, "lowered": 0, "dijkstras": 0, "shared": 0}
        self._scratch = (np.zeros(0), np.zeros(0, np.int64), np.zeros(0, bool))
        self._heap_arrays = (np.zeros(0), np.zeros(0), np.zeros(0, np.int64))

    def _heap(self, need: int):
        if len(self._heap_arrays[0]) < need:
            need = max(need, 2 * len(self._heap_arrays[0]))
            self._heap_arrays = (np.empty(need), np.empty(need), np.empty(need, np.int64))
        return self._heap_arrays

    def _costs(self):
        g, hb = self.g, self.hebb
        return g.length, g.weight, g.habit, float(hb.hop), float(hb.w_min)

    def heuristic(self, goal: int) -> np.ndarray:
        """(n,) the goal's consistent lower bound on the cost-to-go, synced with the graph (inf: unreachable)."""
        g = self.g
        adj = adjacency(g)
        h = self.h.get(goal)
        if h is None:
            h = np.full(g.capacity, np.inf)
            reverse_dijkstra(goal, h, g.src, adj["in_head"], adj["in_next"], *self._costs(), *self._heap(g.m + 2))
            self.stats["dijkstras"] += 1
        else:
            if len(h) < g.n:
                h = np.concatenate([h, np.full(g.capacity - len(h), np.inf)])
            pos, m0 = self.synced[goal]
            edges = np.concatenate([np.asarray(g.lowered[pos:], np.int64), np.arange(m0, g.m)])
            if len(edges):
                self.stats["lowered"] += repair(h, edges, g.src, g.dst, adj["in_head"], adj["in_next"],
                                                *self._costs(), *self._heap(g.m + len(edges) + 2))
        self.h[goal] = h
        self.synced[goal] = (len(g.lowered), g.m)
        return h[: g.n]

    def _search(self, start: int, goal: int, anchor: int, shift: float) -> tuple[np.ndarray, float]:
        g = self.g
        adj = adjacency(g)
        if len(self._scratch[0]) < g.n:
            cap = g.capacity
            self._scratch = (np.empty(cap), np.empty(cap, np.int64), np.empty(cap, bool))
        path, cost, expanded = astar(start, goal, self.h[anchor], shift, g.dst, adj["out_head"], adj["out_next"],
                                     *self._costs(), *self._scratch, *self._heap(g.m + 2))
        self.stats["searches"] += 1
        self.stats["expanded"] += int(expanded)
        return path, cost

    def _anchor_of(self, goal: int) -> tuple[int, float]:
        """The anchor whose heuristic serves the goal, and D: the current cost of a path goal -> anchor, an upper bound
        on the cheapest (0: the goal is its own anchor). The path is found once by A* and re-costed at every plan."""
        a = self.anchor.get(goal)
        if a is not None and a != goal:
            d = path_cost(self.to_anchor[goal], *self._costs())
            if d <= self.share:
                self.heuristic(a)
                return a, d
        if a is None:  # the anchor whose heuristic says it is nearest, if it is within `share`
            near = [(self.heuristic(b)[goal], b) for b in set(self.anchor.values())]
            a = min(near)[1] if near and min(near)[0] <= self.share else goal
        if a != goal:
            self.heuristic(a)
            path, d = self._search(goal, a, a, 0.0)
            if len(path) and d <= self.share:
                self.anchor[goal] = a
                hops = zip(path[:-1].tolist(), path[1:].tolist(), strict=True)
                self.to_anchor[goal] = np.array([self.g.index[xy] for xy in hops], np.int64)
                self.stats["shared"] += 1
                return a, float(d)
            a = goal  # the anchor drifted out of reach: the goal gets its own heuristic
        self.anchor[goal] = goal
        self.heuristic(goal)
        return goal, 0.0

    def path(self, start: int, goal: int) -> list[int] | None:
        """A cheapest path start -> goal (node ids, both included) on the current edge costs; None where there is
        none."""
        a, d = self._anchor_of(goal)
        path, _ = self._search(start, goal, a, d)
        return path.tolist() if len(path) else None

    def reaching(self, goal: int) -> np.ndarray:
        """(n,) bool: the nodes from which the goal can be reached."""
        adj = adjacency(self.g)
        return reaching(goal, self.g.n, self.g.src, adj["in_head"], adj["in_next"])

