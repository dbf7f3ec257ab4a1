"""How well a trained run's learned distance (the search's metric) tracks real steps on its dataset.

    python scripts/distance_calibration.py RUN_DIR --dataset data/antmaze-large-navigate-v0.npz --out JSON

Two probes, both over dataset states (x-y is read here only to judge the learned distance, never by the search):
  along trajectories  the median learned steps from a state to the state k steps later in its episode, for several k;
  same place          the learned steps between two states of different moments less than 0.5 apart in x-y: what a
                      full-state goal's posture adds, i.e. how far from `reach` an agent that arrived stays.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from ethogram.data.dataset import read_npz  # noqa: E402
from ethogram.search.controllers import controller_from_run  # noqa: E402


def calibration(ctrl, obs: np.ndarray, terminals: np.ndarray, offsets=(1, 3, 8, 32, 128, 256), states: int = 3000,
                seed: int = 0) -> dict:
    rng = np.random.default_rng(seed)
    ends = np.nonzero(terminals)[0]
    out = {"along_trajectories": {}, "same_place": {}}
    for k in offsets:
        idx = rng.choice(len(obs) - k, 4 * states, replace=False)
        end_of = ends[np.minimum(np.searchsorted(ends, idx), len(ends) - 1)]
        idx = idx[idx + k <= end_of][:states]
        d = ctrl.distance(obs[idx], obs[idx + k])
        out["along_trajectories"][str(k)] = {"median": round(float(np.median(d)), 2),
                                             "quartiles": [round(float(q), 2) for q in np.percentile(d, [25, 75])],
                                             "pairs": int(len(idx))}
    idx = rng.choice(len(obs), states, replace=False)
    s = obs[idx]
    dxy = np.linalg.norm(s[:, None, :2] - s[None, :, :2], axis=-1)
    for lo, hi in ((0.0, 0.5), (0.5, 1.0), (1.0, 2.0), (2.0, 4.0)):
        i, j = np.nonzero((dxy >= lo) & (dxy < hi) & ~np.eye(len(s), dtype=bool))
        pick = rng.choice(len(i), min(len(i), 30000), replace=False)
        d = ctrl.distance(s[i[pick]], s[j[pick]])
        out["same_place"][f"xy in [{lo}, {hi})"] = {
            "median": round(float(np.median(d)), 2),
            "quartiles": [round(float(q), 2) for q in np.percentile(d, [25, 75])],
            "within_3": round(float((d <= 3).mean()), 3), "within_6": round(float((d <= 6).mean()), 3),
            "pairs": int(len(pick))}
    return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("run_dir")
    ap.add_argument("--dataset", required=True)
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--seed", type=int, default=0)
    a = ap.parse_args(argv)
    arrays = read_npz(Path(a.dataset))
    obs = np.asarray(arrays["observations"], np.float32)
    ctrl = controller_from_run(a.run_dir)
    res = {"run": a.run_dir, "agent": ctrl.name, "dataset": Path(a.dataset).stem, "seed": a.seed,
           **calibration(ctrl, obs, np.asarray(arrays["terminals"]), seed=a.seed),
           "command": "python scripts/distance_calibration.py " + " ".join(argv or sys.argv[1:])}
    a.out.parent.mkdir(parents=True, exist_ok=True)
    a.out.write_text(json.dumps(res, indent=1) + "\n")
    print(json.dumps(res, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
