"""Training speed of every agent at the reference size, beside OGBench's reference implementation in the same run.

For each agent: ethogram's fused, jitted chunk (`ethogram.train.make_train_chunk`, 100 steps per call, batches
sampled on the device) and, right after it, the public OGBench implementation (GCDataset / HGCDataset.sample
in numpy + Agent.update, one jitted call per step, as impls/main.py does) on the same data (our collector,
pointmaze-medium-navigate, 100 episodes x 1001 steps), the same network sizes and batch size. Measuring the two
back to back per agent keeps them under the same machine load. Compile time is excluded on both sides.

Usage (from the repository root):
  .venv/bin/python -m benchmarks.bench_agents --ref-ogbench /tmp/ogbench_ref/impls --ref-python /tmp/refvenv/bin/python
  .venv/bin/python -m benchmarks.bench_agents --quick      # smoke test: tiny sizes
Options: --agents gcbc,gcivl,gciql,qrl,crl,hiql  --hidden 512,512,512  --batch 1024  --out PATH
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import sys
import tempfile
import time
from pathlib import Path

import jax

from benchmarks import ogbench_reference
from benchmarks.common import REPO, collect_flat, machine_info, sized_config, time_train_chunk, to_device
from ethogram.agents import get_agent
from ethogram.train import make_train_chunk

ALL = ("gcbc", "gcivl", "gciql", "qrl", "crl", "hiql")
MODES = {
    "full": dict(episodes=100, episode_steps=1001, fuse=100, min_chunks=3, min_s=20.0, ref_min_steps=30,
                 ref_min_s=20.0),
    "quick": dict(episodes=10, episode_steps=201, fuse=2, min_chunks=2, min_s=0.3, ref_min_steps=4, ref_min_s=0.3),
}


def ours(name: str, hidden: tuple[int, ...], batch: int, data, mode: dict, seed: int, matmul: str) -> dict:
    agent = get_agent(name)
    config = sized_config(agent, hidden, batch, matmul=matmul)
    r, state = time_train_chunk(agent, config, data, mode["fuse"], mode["min_chunks"], mode["min_s"], seed)
    one = make_train_chunk(agent, config, 1).lower(state, data, jax.random.PRNGKey(seed)).compile().cost_analysis()
    return {"steps_per_s": round(r["steps_per_s"], 3), "chunks_timed": r["chunks_timed"],
            "flops_per_step": float((one[0] if isinstance(one, list) else one)["flops"]),
            "steps_per_chunk": mode["fuse"], "seconds_per_chunk_min": round(r["seconds_per_chunk_min"], 4),
            "first_call_s": round(r["first_call_s"], 2), "finite": r["finite"]}


def matmul_peak(batch: int, width: int, seconds: float = 3.0) -> dict[str, float]:
    """The machine's matrix-product throughput (GFLOP/s) at the networks' shape: (batch, width) @ (width, width),
    float32 and bfloat16 inputs (f32 accumulation). No training step can run its matmuls faster than this."""
    import jax.numpy as jnp

    out = {}
    for dtype in ("float32", "bfloat16"):
        a, b = jnp.ones((batch, width), dtype), jnp.ones((width, width), dtype)
        f = jax.jit(lambda a, b: jnp.dot(a, b, preferred_element_type=jnp.float32).sum())
        f(a, b).block_until_ready()
        n, t = 0, time.perf_counter()
        while time.perf_counter() - t < seconds:
            f(a, b).block_until_ready()
            n += 1
        out[dtype] = round(2 * batch * width * width * n / (time.perf_counter() - t) / 1e9, 1)
    return out


def utilisation(rec: dict, peak: float) -> None:
    """Achieved GFLOP/s (XLA's FLOP count x steps/s) and its fraction of the float32 matmul peak, in place."""
    for r in [*rec["ethogram"].values(), rec["ogbench"]]:
        if r.get("flops_per_step") and r.get("steps_per_s"):
            r["gflop_per_s"] = round(r["flops_per_step"] * r["steps_per_s"] / 1e9, 1)
            r["fraction_of_f32_peak"] = round(r["gflop_per_s"] / peak, 3)


def reference(name: str, impls: Path, py: str, dataset: Path, hidden, batch, mode: dict, seed: int,
              timeout_s: int) -> dict:
    return ogbench_reference.time_updates(
        impls=impls, python=py, dataset=dataset, agent=name, hidden=hidden, batch_size=batch,
        overrides=ogbench_reference.POINTMAZE_OVERRIDES.get(name, {}), seed=seed, min_steps=mode["ref_min_steps"],
        min_s=mode["ref_min_s"], group=5, timeout_s=timeout_s)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--agents", default=",".join(ALL))
    p.add_argument("--hidden", default=None, help="every MLP's hidden widths (default 512,512,512; quick: 64,64)")
    p.add_argument("--batch", type=int, default=None, help="batch size (default 1024; quick: 256)")
    p.add_argument("--matmul", default="float32,bfloat16",
                   help="ethogram matmul precisions to time, comma-separated (default float32,bfloat16)")
    p.add_argument("--quick", action="store_true", help="smoke mode: tiny dataset and timings")
    p.add_argument("--ref-ogbench", default=None, metavar="DIR", help="OGBench's impls/ directory")
    p.add_argument("--ref-python", default=None, metavar="PY", help="interpreter for the reference")
    p.add_argument("--ref-timeout", type=int, default=900)
    p.add_argument("--fuse", type=int, default=None, help="steps per timed chunk (default 100; quick: 2)")
    p.add_argument("--min-s", type=float, default=None, help="seconds timed per measurement at least (default 20)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", default=None, help="JSON (default benchmarks/results/agents[-quick].json)")
    args = p.parse_args(argv)

    mode_name = "quick" if args.quick else "full"
    mode = dict(MODES[mode_name])
    if args.fuse:
        mode["fuse"] = args.fuse
    if args.min_s is not None:
        mode["min_s"] = mode["ref_min_s"] = args.min_s
    hidden = tuple(int(x) for x in (args.hidden or ("64,64" if args.quick else "512,512,512")).split(","))
    args.batch = args.batch or (256 if args.quick else 1024)
    matmuls = [m.strip() for m in args.matmul.split(",") if m.strip()]
    names = [get_agent(a.strip()).NAME for a in args.agents.split(",") if a.strip()]
    out = Path(args.out or REPO / "benchmarks" / "results" / f"agents{'-quick' if args.quick else ''}.json")
    report = {"benchmark": "agents", "mode": mode_name,
              "started": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
              "machine": machine_info(), "settings": {**mode, "hidden_dims": list(hidden), "batch_size": args.batch,
                                                      "agents": names, "seed": args.seed, "matmuls": matmuls,
                                                      "xla_flags": os.environ.get("XLA_FLAGS", "")},
              "results": []}
    report["matmul_peak_gflop_per_s"] = matmul_peak(args.batch, max(hidden), 1.0 if args.quick else 3.0)
    peak = report["matmul_peak_gflop_per_s"]["float32"]
    flat = collect_flat(mode["episodes"], mode["episode_steps"], args.seed)
    data = to_device(flat)
    print(f"agents benchmark ({mode_name}): {'x'.join(map(str, hidden))} nets, batch {args.batch}, "
          f"{data.size} transitions; load {report['machine']['load_average_at_start']}; matmul peak GFLOP/s "
          f"{report['matmul_peak_gflop_per_s']}", flush=True)
    impls, py, why = ogbench_reference.resolve(args.ref_ogbench, args.ref_python)
    with tempfile.TemporaryDirectory(prefix="bench_agents_") as tmp:
        dataset = ogbench_reference.write_dataset(flat, Path(tmp) / "dataset.npz") if py else None
        for name in names:
            rec = {"agent": name, "hidden_dims": list(hidden), "batch_size": args.batch,
                   "load_before": list(os.getloadavg()),
                   "ethogram": {m: ours(name, hidden, args.batch, data, mode, args.seed, m) for m in matmuls}}
            if py:
                rec["ogbench"] = reference(name, impls, py, dataset, hidden, args.batch, mode, args.seed,
                                           args.ref_timeout)
                if rec["ogbench"]["status"] == "ok":
                    rec["ratio"] = {m: round(r["steps_per_s"] / rec["ogbench"]["steps_per_s"], 3)
                                    for m, r in rec["ethogram"].items()}
            else:
                rec["ogbench"] = {"status": "skipped", "reason": why}
            utilisation(rec, peak)
            rec["load_after"] = list(os.getloadavg())
            report["results"].append(rec)
            theirs = rec["ogbench"].get("steps_per_s")
            mine = "  ".join(f"{m} {r['steps_per_s']:8.2f}" for m, r in rec["ethogram"].items())
            use = "  ".join(f"{k} {r.get('fraction_of_f32_peak', '-')}" for k, r in
                            [*rec["ethogram"].items(), ("OGBench", rec["ogbench"])])
            print(f"  {name:6s} ours steps/s: {mine}   OGBench {theirs if theirs is not None else '-':>8}   "
                  f"ratio {rec.get('ratio', '-')}   "
                  f"fraction of f32 matmul peak: {use}", flush=True)
            out.parent.mkdir(parents=True, exist_ok=True)
            out.write_text(json.dumps(report, indent=2) + "\n")  # after every agent: a long run keeps its records
    report["load_average_at_end"] = list(os.getloadavg())
    out.write_text(json.dumps(report, indent=2) + "\n")
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
