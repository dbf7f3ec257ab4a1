"""One 3x512 network's core product, 1024x512 @ 512x512, in float32 and with bf16 inputs and f32 accumulation
(`matmul=bfloat16`): the best of 5 x 50 calls each. Usage: .venv/bin/python benchmarks/bench_matmul.py"""

from __future__ import annotations

import os
import time

import jax
import jax.numpy as jnp


def best_ms(f, *args, n: int = 50) -> float:
    jax.block_until_ready(f(*args))
    best = float("inf")
    for _ in range(5):
        t = time.perf_counter()
        for _ in range(n):
            r = f(*args)
        jax.block_until_ready(r)
        best = min(best, (time.perf_counter() - t) / n)
    return best * 1e3


def main() -> None:
    x = jax.random.normal(jax.random.PRNGKey(0), (1024, 512))
    w = jax.random.normal(jax.random.PRNGKey(1), (512, 512))
    f32 = jax.jit(lambda x, w: x @ w)
    bf16 = jax.jit(lambda x, w: jnp.dot(x.astype(jnp.bfloat16), w.astype(jnp.bfloat16),
                                        preferred_element_type=jnp.float32))
    flop = 2 * 1024 * 512 * 512
    print(f"load average {os.getloadavg()[0]:.1f}")
    for name, f in (("float32", f32), ("bf16 inputs, f32 accumulation", bf16)):
        ms = best_ms(f, x, w)
        print(f"{name:30s} {ms:7.3f} ms  {flop / ms / 1e6:7.1f} GFLOP/s")


if __name__ == "__main__":
    main()
