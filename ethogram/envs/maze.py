"""Maze geometry shared by every locomaze: cells, coordinates and BFS shortest paths.

OGBench's convention: cell (i, j) has its centre at (x, y) = (unit * j - 4, unit * i - 4), unit 4;
1 marks a wall. Everything here is plain numpy and vectorised over batches of positions.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field

import numpy as np

MOVES = ((-1, 0), (0, -1), (1, 0), (0, 1))  # OGBench's neighbour order (ties go to the first)
PUBLISHED = ("medium", "large", "giant", "teleport")  # OGBench's locomaze layouts (envs/registry.py: MAZES)


@dataclass(frozen=True, eq=False)
class Maze:
    """A grid maze: `layout[i, j] == 1` is a wall. Positions are continuous (x, y)."""

    layout: np.ndarray
    unit: float = 4.0
    offset: float = 4.0
    _dist: dict = field(default_factory=dict, repr=False)

    def __post_init__(self):
        layout = np.asarray(self.layout)
        if layout.ndim != 2 or not np.isin(layout, (0, 1)).all():
            raise ValueError("a maze layout is a 2-D array of 0 (free) and 1 (wall)")
        if not (layout[0] == 1).all() or not (layout[-1] == 1).all() or not (layout[:, 0] == 1).all() \
                or not (layout[:, -1] == 1).all():
            raise ValueError("a maze layout must be enclosed by walls")
        object.__setattr__(self, "layout", layout.astype(np.int8))

    @property
    def shape(self) -> tuple[int, int]:
        return self.layout.shape

    def free_cells(self) -> list[tuple[int, int]]:
        """Free cells in row-major order."""
        return [(int(i), int(j)) for i, j in zip(*np.nonzero(self.layout == 0), strict=True)]

    def vertex_cells(self) -> list[tuple[int, int]]:
        """Free cells that are not straight corridor cells (OGBench's navigate goals)."""
        m = self.layout
        out = []
        for i, j in self.free_cells():
            vertical = m[i - 1, j] == 0 and m[i + 1, j] == 0 and m[i, j - 1] == 1 and m[i, j + 1] == 1
            horizontal = m[i, j - 1] == 0 and m[i, j + 1] == 0 and m[i - 1, j] == 1 and m[i + 1, j] == 1
            if not (vertical or horizontal):
                out.append((i, j))
        return out

    def ij_to_xy(self, ij) -> np.ndarray:
        ij = np.asarray(ij, dtype=np.float64)
        return np.stack([ij[..., 1] * self.unit - self.offset, ij[..., 0] * self.unit - self.offset], axis=-1)

    def xy_to_ij(self, xy) -> np.ndarray:
        """Cell of each position (int array (..., 2)), as OGBench computes it."""
        xy = np.asarray(xy, dtype=np.float64)
        i = np.floor((xy[..., 1] + self.offset + 0.5 * self.unit) / self.unit).astype(np.int64)
        j = np.floor((xy[..., 0] + self.offset + 0.5 * self.unit) / self.unit).astype(np.int64)
        return np.stack([np.clip(i, 0, self.shape[0] - 1), np.clip(j, 0, self.shape[1] - 1)], axis=-1)

    def bfs(self, source: tuple[int, int]) -> np.ndarray:
        """Steps from `source` to every cell through free cells; -1 where unreachable or a wall."""
        key = tuple(source)
        if key not in self._dist:
            dist = np.full(self.shape, -1, dtype=np.int64)
            dist[key] = 0
            queue = deque([key])
            while queue:
                i, j = queue.popleft()
                for di, dj in MOVES:
                    ni, nj = i + di, j + dj
                    if 0 <= ni < self.shape[0] and 0 <= nj < self.shape[1] and self.layout[ni, nj] == 0 \
                            and dist[ni, nj] == -1:
                        dist[ni, nj] = dist[i, j] + 1
                        queue.append((ni, nj))
            self._dist[key] = dist
        return self._dist[key]

    def next_cell_table(self, goal: tuple[int, int]) -> np.ndarray:
        """For every cell, the neighbour one BFS step closer to `goal` (itself at the goal): (H, W, 2).

        This is OGBench's oracle subgoal, precomputed once per goal cell instead of a BFS every step.
        """
        dist = self.bfs(goal)
        h, w = self.shape
        table = np.stack(np.meshgrid(np.arange(h), np.arange(w), indexing="ij"), axis=-1)
        for i in range(1, h - 1):
            for j in range(1, w - 1):
                best = (i, j)
                for di, dj in MOVES:
                    ni, nj = i + di, j + dj
                    if self.layout[ni, nj] == 0 and dist[ni, nj] < dist[best]:
                        best = (ni, nj)
                table[i, j] = best
        return table

    def cells_at_distance(self, source: tuple[int, int], steps: int) -> list[tuple[int, int]]:
        dist = self.bfs(source)
        return [(int(i), int(j)) for i, j in zip(*np.nonzero(dist == steps), strict=True)]

    def shortest_path_steps(self, a: tuple[int, int], b: tuple[int, int]) -> int:
        return int(self.bfs(tuple(b))[tuple(a)])
