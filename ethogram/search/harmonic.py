"""A grid-cell-like harmonic code: phasors exp(i Ω z) over modules of wave vectors at geometric scales.

Entorhinal grid cells fire on hexagonal lattices whose periods grow by a roughly constant ratio from one
module to the next. We mimic that: module m has `directions` wave vectors 60° apart (hexagonal for 3), all
of length 2π / (base_scale * ratio**m), with a module-specific rotation. A state with metric coordinates z
gets the code h(z) = exp(i Ω z) (unit-modulus complex numbers). The mean of Re(h(a) conj(h(b))) is a kernel
of a - b: 1 at the same place, falling off over about `base_scale`, and small far away because the modules'
periods are incommensurate. The search uses it as a place memory: "have I been here?" (novelty) and "which
node is this?" (recognition), without storing or comparing raw coordinates directly.

What z is depends on the mode: the agent's path-integrated position in the no-data mode, a learned embedding
(landmark MDS of learned steps-to-go, or a learned φ) when a learned controller is given.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class HarmonicConfig:
    modules: int = 6
    directions: int = 3  # 3 wave vectors 60° apart: a hexagonal grid-cell lattice
    base_scale: float = 3.0  # period of the finest module, in the units of z
    ratio: float = 1.42  # period ratio between consecutive modules (grid modules: about √2)
    seed: int = 0  # module rotations (and directions when dim > 2)

    def scales(self) -> np.ndarray:
        return self.base_scale * self.ratio ** np.arange(self.modules)


def wave_vectors(config: HarmonicConfig, dim: int) -> np.ndarray:
    """Ω, shape (modules * directions, dim): per module, `directions` vectors of length 2π / scale."""
    rng = np.random.default_rng(config.seed)
    out = []
    for scale in config.scales():
        if dim == 2:
            phase = rng.uniform(0, np.pi)
            angles = phase + np.pi * np.arange(config.directions) / config.directions
            units = np.stack([np.cos(angles), np.sin(angles)], axis=-1)
        else:
            units = rng.normal(size=(config.directions, dim))
            units /= np.linalg.norm(units, axis=-1, keepdims=True)
        out.append(units * (2 * np.pi / scale))
    return np.concatenate(out, axis=0)


def encode(z: np.ndarray, omega: np.ndarray) -> np.ndarray:
    """h(z) = exp(i Ω z): (..., dim) -> (..., modules * directions) complex64."""
    return np.exp(1j * (np.asarray(z, dtype=np.float64) @ omega.T)).astype(np.complex64)


def similarity(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Kernel between codes: mean_k Re(a_k conj(b_k)); broadcasts over leading axes. 1 = same place."""
    return np.real(a * np.conj(b)).mean(axis=-1)


def recognise(code: np.ndarray, codes: np.ndarray, threshold: float) -> tuple[int, float]:
    """(index, similarity) of the most similar stored code, index -1 when none reaches `threshold`."""
    if len(codes) == 0:
        return -1, 0.0
    sims = similarity(codes, code[None])
    k = int(np.argmax(sims))
    return (k if sims[k] >= threshold else -1), float(sims[k])
