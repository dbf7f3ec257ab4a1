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
    """Isomap of the graph's learned geodesic distances, with de Silva-Tenenbaum landmark MDS for new states."""

    geodesic: np.ndarray  # (n, n) steps through learned edges (symmetrised)
    pinv: np.ndarray  # (dim, n): v_k / sqrt(lambda_k)
    mean_sq: np.ndarray  # (n,) mean squared geodesic distance to each node
    link: float

    def from_distances(self, d_to_nodes: np.ndarray) -> np.ndarray:
        """Embed states from their learned distances to the nodes (rows of (m, n))."""
        d = np.atleast_2d(d_to_nodes)
        near = np.where(d <= self.link, d, np.inf)
        nearest = np.argmin(d, axis=1)
        near[np.arange(len(d)), nearest] = d[np.arange(len(d)), nearest]  # always one anchor
        geo = np.min(near[:, :, None] + self.geodesic[None], axis=1) if len(self.geodesic) <= 1500 else \
            np.stack([np.min(row[:, None] + self.geodesic, axis=0) for row in near])
        return -0.5 * ((geo ** 2) - self.mean_sq[None]) @ self.pinv.T


def landmark_embedding(length: np.ndarray, link: float, dim: int = 8) -> tuple[LandmarkEmbedding, np.ndarray]:
    """(embedding, node coordinates (n, dim)) from the edge lengths (inf = no edge)."""
    n = len(length)
    sym = np.minimum(length, length.T)
    rows, cols = np.nonzero(np.isfinite(sym))
    geo = dijkstra(csr_matrix((sym[rows, cols], (rows, cols)), shape=(n, n)), directed=False)
    finite = np.isfinite(geo)
    geo = np.where(finite, geo, geo[finite].max() * 1.5 if finite.any() else 0.0)  # disconnected parts: far
    sq = geo ** 2
    j = np.eye(n) - 1.0 / n
    b = -0.5 * j @ sq @ j
    vals, vecs = np.linalg.eigh(b)
    order = np.argsort(vals)[::-1][:dim]
    vals, vecs = np.maximum(vals[order], 1e-9), vecs[:, order]
    coords = vecs * np.sqrt(vals)
    emb = LandmarkEmbedding(geo.astype(np.float32), (vecs / np.sqrt(vals)).T, sq.mean(axis=0), link)
    return emb, coords


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


def _cover(ctrl, pool: np.ndarray, novelty: float, n_nodes: int) -> tuple[list[int], np.ndarray]:
    """Greedy cover: a state is a new node unless a kept one is within `novelty` (symmetrised learned steps).
    Returns the kept indices and their (k, k) distances. With a metric embedding one row is computed per kept
    node; otherwise the pool's whole distance matrix."""
    if getattr(ctrl, "metric", False):
        z = ctrl.embedding(pool)
        row = lambda i: ctrl.steps_between(z[i: i + 1], z)[0]  # noqa: E731  (a metric: already symmetric)
        among = lambda keep: ctrl.steps_between(z[keep], z[keep])  # noqa: E731
    else:
        d = distance_matrix(ctrl, pool, pool)
        sym = np.minimum(d, d.T)
        row = lambda i: sym[i]  # noqa: E731
        among = lambda keep: d[np.ix_(keep, keep)]  # noqa: E731
    keep: list[int] = []
    covered = np.zeros(len(pool), bool)
    for i in range(len(pool)):
        if not covered[i]:
            keep.append(i)
            covered |= row(i) < novelty
            if len(keep) == n_nodes:
                break
    return keep, among(keep)


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
    keep, d = _cover(ctrl, pool, cfg.novelty, n_nodes)
    nodes = pool[keep]
    n = len(nodes)
    length = np.where(d <= cfg.link, d, np.inf)
    np.fill_diagonal(length, np.inf)
    if cfg.max_out and n > cfg.max_out:  # only the nearest out-edges: fewer spurious long links
        kth = np.partition(np.where(np.isfinite(length), length, np.inf), cfg.max_out - 1, axis=1)[:, cfg.max_out - 1]
        length = np.where(length <= kth[:, None], length, np.inf)
    emb = None
    if getattr(ctrl, "learned", False):
        emb, z = landmark_embedding(length, cfg.link)
    else:
        z = ctrl.embed(nodes)
    omega = wave_vectors(cfg.harmonic, z.shape[1])
    g = G.empty(nodes.shape[1], len(omega), capacity=n)
    G.add_nodes(g, nodes, encode(z, omega), visited=True)
    i, j = np.nonzero(np.isfinite(length))
    G.connect(g, i, j, length[i, j], 1.0)
    return g, emb
