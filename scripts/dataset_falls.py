"""How often the ant has fallen in stored antmaze datasets, read from their observations (envs/ant.py fallen_qpos:
on its back, or the torso outside the healthy height range), over the training file and its -val file.

    python scripts/dataset_falls.py data/antmaze-*-v0.npz --json docs/results/antmaze-falls.json

Per dataset: episodes in which the ant fell at some stored state, the share of stored states after a fall, and the
median step of the first fall. An ant on its back rests at a torso height of about 0.27, inside the healthy range
that collection's `episodes_fallen` counted before it read the torso's orientation too.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from ethogram.data.dataset import read_npz  # noqa: E402
from ethogram.envs.ant import fallen_qpos  # noqa: E402
from ethogram.io import atomic_write_text  # noqa: E402


def falls(paths: list[Path]) -> dict:
    episodes = fell = states = fallen_states = 0
    first = []
    for p in paths:
        arrays = read_npz(p)
        fallen = fallen_qpos(arrays["observations"][:, :15])
        ends = np.nonzero(arrays["terminals"].astype(bool))[0]
        for a, b in zip(np.r_[0, ends[:-1] + 1], ends, strict=True):
            hit = np.nonzero(fallen[a:b + 1])[0]
            episodes += 1
            if len(hit):
                fell += 1
                first.append(int(hit[0]))
        states += len(fallen)
        fallen_states += int(fallen.sum())
    return {"episodes": episodes, "episodes_fallen": round(fell / episodes, 4),
            "states_fallen": round(fallen_states / states, 4),
            "first_fall_step_median": float(np.median(first)) if first else None}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("datasets", nargs="+", type=Path, help="training files NAME-v0.npz (NAME-v0-val.npz is added)")
    ap.add_argument("--json", type=Path)
    a = ap.parse_args(argv)
    out = []
    for p in sorted(a.datasets):
        if p.name.endswith("-val.npz"):
            continue
        val = p.with_name(p.name.replace(".npz", "-val.npz"))
        rec = {"dataset": p.name.removesuffix("-v0.npz"), **falls([p] + ([val] if val.exists() else []))}
        print(json.dumps(rec), flush=True)
        out.append(rec)
    if a.json:
        names = " ".join(str(p) for p in sorted(a.datasets) if not p.name.endswith("-val.npz"))
        cmd = f"python scripts/dataset_falls.py {names}"
        atomic_write_text(a.json, json.dumps({"command": cmd, "datasets": out}, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
