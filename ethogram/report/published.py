"""Published OGBench success rates (%, mean and std over 8 seeds; Park et al. 2024, the OGBench paper's tables)."""

from __future__ import annotations

AGENTS = ("gcbc", "gcivl", "gciql", "qrl", "crl", "hiql")
_TABLE = """
pointmaze-medium-navigate 9 6 63 6 53 8 82 5 29 7 79 5
pointmaze-large-navigate 29 6 45 5 34 3 86 9 39 7 58 5
pointmaze-giant-navigate 1 2 0 0 0 0 68 7 27 10 46 9
pointmaze-medium-stitch 23 18 70 14 21 9 80 12 0 1 74 6
pointmaze-large-stitch 7 5 12 6 31 2 84 15 0 0 13 6
pointmaze-giant-stitch 0 0 0 0 0 0 50 8 0 0 0 0
antmaze-medium-navigate 29 4 72 8 71 4 88 3 95 1 96 1
antmaze-large-navigate 24 2 16 5 34 4 75 6 83 4 91 2
antmaze-giant-navigate 0 0 0 0 0 0 14 3 16 3 65 5
antmaze-medium-stitch 45 11 44 6 29 6 59 7 53 6 94 1
antmaze-large-stitch 3 3 18 2 7 2 18 2 11 2 67 5
antmaze-giant-stitch 0 0 0 0 0 0 0 0 0 0 2 2
"""


def _parse() -> dict[tuple[str, str], tuple[float, float]]:
    out = {}
    for line in _TABLE.strip().splitlines():
        name, *nums = line.split()
        for k, agent in enumerate(AGENTS):
            out[(agent, name)] = (float(nums[2 * k]) / 100, float(nums[2 * k + 1]) / 100)
    return out


PUBLISHED: dict[tuple[str, str], tuple[float, float]] = _parse()


def published(agent: str, dataset: str) -> tuple[float, float] | None:
    """(mean, std) success as a fraction, or None; `dataset` with or without '-v0'."""
    return PUBLISHED.get((agent, dataset.removesuffix("-v0")))
