"""An MP4 of one successful evaluation episode of a trained antmaze run, rendered by MuJoCo offscreen with the ant's
whole body (report/video.py body_frames): the run's policy on one of the maze's published tasks, deterministic
actions as in the OGBench protocol, the first of `--episodes` episodes that reaches the goal.

    MUJOCO_GL=egl python scripts/ant_video.py RUN_DIR --task 1 --out docs/results/antmaze/episode.mp4
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def main(argv: list[str] | None = None) -> int:
    import ethogram
    from ethogram.io import atomic_write_bytes, atomic_write_text
    from ethogram.report.video import FPS, body_frames, encode_mp4

    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("run_dir")
    ap.add_argument("--task", type=int, default=1)
    ap.add_argument("--episodes", type=int, default=10, help="episodes tried at once; the first success is shown")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--every", type=int, default=2, help="a frame every this many environment steps (20 per second)")
    ap.add_argument("--out", required=True)
    args = ap.parse_args(argv)
    policy = ethogram.load(args.run_dir)
    env = policy.env
    if getattr(env, "physics", None) is None:
        print(f"error: {args.run_dir} is not a run of a robot with a body (antmaze)", file=sys.stderr)
        return 2
    rng = np.random.default_rng(args.seed)
    state, goal = env.task_starts(np.full(args.episodes, args.task), rng)
    goal_obs = env.goal_observation(goal)
    qpos = [env.physics.qpos(state).copy()]
    done = np.zeros(args.episodes, bool)
    length = np.full(args.episodes, env.episode_steps)
    for t in range(env.episode_steps):
        actions = np.clip(np.asarray(policy.act(env.observe(state), goal_obs), np.float64), -1, 1)
        active = ~done
        state = state.copy()
        state[active] = env.step(state[active], actions[active], rng)
        qpos.append(env.physics.qpos(state).copy())
        reached = active & env.success(state, goal)
        length[reached] = t + 1
        done |= reached
        if done.any():
            break
    if not done.any():
        print(f"no episode of task {args.task} reached its goal in {env.episode_steps} steps; try another task or "
              "more --episodes", file=sys.stderr)
        return 1
    b = int(np.flatnonzero(done)[0])
    path = np.stack(qpos)[: length[b] + 1, b]
    frames = body_frames(env.model, path, goal[b], float(env.goal_tol), every=args.every)
    atomic_write_bytes(args.out, encode_mp4(frames))
    info = {"run": str(args.run_dir), "task": args.task, "episode_steps": int(length[b]), "frames": len(frames),
            "seconds": round(len(frames) / FPS, 1), "seed": args.seed,
            "every": args.every}
    atomic_write_text(Path(args.out).with_suffix(".json"), json.dumps(info, indent=1) + "\n")
    print(f"wrote {args.out}: task {args.task}, goal reached after {length[b]} steps, {len(frames)} frames")
    return 0


if __name__ == "__main__":
    sys.exit(main())
