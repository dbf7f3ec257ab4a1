"""A cognitive graph from a dataset: nodes are dataset states, edges and their lengths come from the controller.

With a learned controller nothing here looks at the observations' coordinates: which states are "the same
place" (node pruning), which pairs are linked (edges within `link` steps), and where a node sits in the
harmonic code (Isomap of the learned distances) all come from `ctrl.distance`, the learned steps-to-go.
With `StraightLine` the same code builds the raw x-y roadmap reference.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.sparse import csr_matrix
from scipy.sparse.csgraph import dijkstra

from ethogram.errors import EthogramError
from ethogram.search import graph as G
from ethogram.search.controllers import distance_matrix
from ethogram.search.harmonic import encode, wave_vectors
from ethogram.search.sns import SNSConfig


@dataclass(frozen=True)
class LandmarkEmbedding:
    """Isomap of the graph's learned geodesic distances, by de Silva-Tenenbaum landmark MDS: classical MDS over L
    landmark nodes, every other node and every new state placed from its geodesic distances to the landmarks."""

    geodesic: np.ndarray  # (n, L) steps through learned edges (symmetrised) from each node to each landmark
    pinv: np.ndarray  # (dim, L): v_k / sqrt(lambda_k)
    mean_sq: np.ndarray  # (L,) mean squared geodesic distance to each landmark
    link: float

    def place(self, geo: np.ndarray) -> np.ndarray:
        """Coordinates from geodesic distances to the landmarks, (m, L) -> (m, dim)."""
        return -0.5 * ((geo ** 2) - self.mean_sq[None]) @ self.pinv.T

    def from_distances(self, d_to_nodes: np.ndarray) -> np.ndarray:
        """Embed states from their learned distances to the nodes (rows of (m, n)): through the nodes within
        `link` (always at least the nearest one) to the landmarks."""
        d = np.atleast_2d(d_to_nodes)
        geo = np.empty((len(d), self.geodesic.shape[1]), np.float32)
        for r, row in enumerate(d):
            near = np.nonzero(row <= self.link)[0]
            near = near if len(near) else np.array([int(np.argmin(row))])
            geo[r] = np.min(row[near, None] + self.geodesic[near], axis=0)
        return self.place(geo)


def landmark_embedding(n: int, src: np.ndarray, dst: np.ndarray, length: np.ndarray, link: float, dim: int = 8,
                       landmarks: int = 1000) -> tuple[LandmarkEmbedding, np.ndarray]:
    """(embedding, node coordinates (n, dim)) from the edges i -> j of the given lengths. The first `landmarks`
    nodes are the landmarks (a graph's nodes are in random order); with n <= landmarks this is exact Isomap."""
    lm = np.arange(min(n, landmarks))
    geo = dijkstra(_undirected(n, src, dst, length), directed=False, indices=lm).T  # (n, L)
    finite = np.isfinite(geo)
    geo = np.where(finite, geo, geo[finite].max() * 1.5 if finite.any() else 0.0)  # disconnected parts: far
    sq = geo[lm] ** 2  # (L, L)
    L = len(lm)
    j = np.eye(L) - 1.0 / L
    b = -0.5 * j @ sq @ j
    vals, vecs = np.linalg.eigh(b)
    order = np.argsort(vals)[::-1][:dim]
    vals, vecs = np.maximum(vals[order], 1e-9), vecs[:, order]
    emb = LandmarkEmbedding(geo.astype(np.float32), (vecs / np.sqrt(vals)).T, sq.mean(axis=0), link)
    return emb, emb.place(geo)


def _undirected(n: int, src: np.ndarray, dst: np.ndarray, length: np.ndarray) -> csr_matrix:
    """The edges as an undirected graph, each pair weighted by the shorter of its directions."""
    i = np.concatenate([src, dst]).astype(np.int64)
    j = np.concatenate([dst, src]).astype(np.int64)
    w = np.concatenate([length, length]).astype(np.float64)
    order = np.lexsort((w, j, i))  # per (i, j), the shortest first
    i, j, w = i[order], j[order], w[order]
    first = np.ones(len(i), bool)
    first[1:] = (i[1:] != i[:-1]) | (j[1:] != j[:-1])
    return csr_matrix((w[first], (i[first], j[first])), shape=(n, n))


def progressing(observations: np.ndarray, terminals: np.ndarray | None, ctrl, idx: np.ndarray, span: int,
                ratio: float) -> np.ndarray:
    """The states of `idx` that make progress: the learned distance to the state `span` steps later in the same
    episode is at least ratio x span. A fallen or stuck ant barely moves, and a node there is a place no edge leads
    out of. States within `span` of their episode's end have no later state and are dropped."""
    ends = np.nonzero(terminals)[0] if terminals is not None else np.array([len(observations) - 1])
    end_of = ends[np.minimum(np.searchsorted(ends, idx), len(ends) - 1)]  # the last index of each state's episode
    idx = idx[idx + span <= end_of]
    d = ctrl.distance(observations[idx], observations[idx + span])
    return idx[d >= ratio * span]


def _cover(ctrl, pool: np.ndarray, novelty: float, n_nodes: int, chunk: int = 256):
    """Greedy cover, in pool order: a state is a new node unless a kept one is within `novelty` (symmetrised learned
    steps); it stops at `n_nodes`. Returns the kept indices and `block(rows) -> (len(rows), k)`: the learned steps
    from those kept nodes to every kept node. With a metric embedding one row is computed per kept node; otherwise
    the candidates are taken a chunk at a time and measured against the nodes kept so far, so the network is called
    for about (candidates x nodes) pairs, not for the whole pool squared."""
    if getattr(ctrl, "metric", False):
        z = ctrl.embedding(pool)
        keep: list[int] = []
        covered = np.zeros(len(pool), bool)
        for i in range(len(pool)):
            if not covered[i]:
                keep.append(i)
                covered |= ctrl.steps_between(z[i: i + 1], z)[0] < novelty  # a metric: already symmetric
                if len(keep) == n_nodes:
                    break
        zk = z[np.asarray(keep)]
        return np.asarray(keep), lambda rows: ctrl.steps_between(zk[rows], zk)
    keep = []
    d = np.zeros((0, 0), np.float32)  # d[a, b]: steps from kept node a to kept node b
    for start in range(0, len(pool), chunk):
        c = np.arange(start, min(len(pool), start + chunk))
        k = len(keep)
        to_k = distance_matrix(ctrl, pool[c], pool[keep]) if k else np.zeros((len(c), 0), np.float32)
        from_k = distance_matrix(ctrl, pool[keep], pool[c]) if k else np.zeros((0, len(c)), np.float32)
        cc = distance_matrix(ctrl, pool[c], pool[c])
        near_kept = (np.minimum(to_k, from_k.T) < novelty).any(axis=1)
        new: list[int] = []
        for t in range(len(c)):
            if near_kept[t] or (new and (np.minimum(cc[t, new], cc[new, t]) < novelty).any()):
                continue
            new.append(t)
            if k + len(new) == n_nodes:
                break
        a = np.asarray(new, int)
        grown = np.empty((k + len(a), k + len(a)), np.float32)
        grown[:k, :k], grown[:k, k:], grown[k:, :k], grown[k:, k:] = d, from_k[:, a], to_k[a], cc[np.ix_(a, a)]
        d, keep = grown, keep + [int(x) for x in c[a]]
        if len(keep) == n_nodes:
            break
    return np.asarray(keep), lambda rows: d[rows]


def _link(block, k: int, link: float, max_out: int, rows: int = 2048) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Edges (src, dst, length) from each node to the nodes within `link` learned steps, at most the `max_out`
    nearest: computed a block of rows at a time, so no (k, k) matrix is held."""
    out = []
    for a in range(0, k, rows):
        r = np.arange(a, min(k, a + rows))
        d = np.array(block(r), np.float32)
        d[np.arange(len(r)), r] = np.inf
        d = np.where(d <= link, d, np.inf)
        if max_out and k > max_out:  # only the nearest out-edges: fewer spurious long links
            kth = np.partition(d, max_out - 1, axis=1)[:, max_out - 1]
            d = np.where(d <= kth[:, None], d, np.inf)
        i, j = np.nonzero(np.isfinite(d))
        out.append((r[i], j, d[i, j]))
    return tuple(np.concatenate(x) for x in zip(*out, strict=True))


def graph_from_dataset(observations: np.ndarray, ctrl, cfg: SNSConfig, n_nodes: int, seed: int = 0,
                       progress: bool = False, terminals: np.ndarray | None = None
                       ) -> tuple[G.Graph, LandmarkEmbedding | None]:
    """Sample dataset states (`cfg.pool` per node; with `cfg.node_filter`, only states that make progress), keep
    those that are new places (learned distance), link them by learned steps."""
    if n_nodes < 2:
        raise EthogramError(f"the graph needs at least 2 nodes (got {n_nodes}).", "pass --nodes 1000 or so")
    rng = np.random.default_rng(seed)
    m = min(len(observations), cfg.pool * n_nodes)
    if cfg.node_filter > 0:  # filter twice the states needed, then sample the pool from those that pass
        idx = rng.choice(len(observations), min(len(observations), 2 * m), replace=False)
        idx = progressing(observations, terminals, ctrl, idx, cfg.filter_span, cfg.node_filter)
        if len(idx) < 2:
            raise EthogramError(f"no dataset state passes node_filter={cfg.node_filter} (learned progress over "
                                f"{cfg.filter_span} steps).", "lower it, e.g. --set node_filter=0.25, or set it to 0")
        idx = idx[:m]
    else:
        idx = rng.choice(len(observations), m, replace=False)
    pool = observations[idx]
    keep, block = _cover(ctrl, pool, cfg.novelty, n_nodes)
    nodes = pool[keep]
    n = len(nodes)
    src, dst, length = _link(block, n, cfg.link, cfg.max_out)
    emb = None
    if getattr(ctrl, "learned", False):
        emb, z = landmark_embedding(n, src, dst, length, cfg.link)
    else:
        z = ctrl.embed(nodes)
    omega = wave_vectors(cfg.harmonic, z.shape[1])
    g = G.empty(nodes.shape[1], len(omega), capacity=n)
    G.add_nodes(g, nodes, encode(z, omega), visited=True)
    G.connect(g, src, dst, length, 1.0)
    return g, emb
