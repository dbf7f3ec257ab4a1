"""The one video writer: evaluation rollouts replayed as an MP4.

One episode per evaluation task is replayed, all tasks in one clip, each in its task's colour (the colours of
rollouts.png), its goal drawn as a disc of the success radius and its path as a trail. Two renderers:
  mujoco  the environment's own MuJoCo model rendered offscreen (`MUJOCO_GL=egl`; OGBench's walls and floor), for
          an environment with a `model` (envs/base.py: pointmaze); the agent is placed at each recorded position
  drawn   a top view drawn with matplotlib (walls as in rollouts.png), for an environment without a model (the
          avoiding task) or where no offscreen renderer works; the report says which one it shows and why.
Frames are encoded with imageio-ffmpeg's own ffmpeg binary (H.264, yuv420p, which browsers play).
"""

from __future__ import annotations

import os
import tempfile
import time
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ethogram.io import atomic_write_bytes

FPS = 20
MAX_FRAMES = 60  # 3 s of video: enough to see every task's episode from start to end
TRAIL = 60  # segments of the path drawn behind each agent
WIDTH, HEIGHT = 480, 360  # even sizes (yuv420p)


@dataclass(frozen=True)
class VideoInfo:
    renderer: str  # "mujoco" or "drawn"
    note: str  # why this renderer (shown in the report)
    frames: int
    seconds: float  # duration of the clip
    render_seconds: float  # wall time to render and encode


def picks(task_ids: np.ndarray) -> np.ndarray:
    """The first episode of each task (not the best: the clip shows what the evaluation did)."""
    tasks = np.unique(task_ids)
    return np.array([int(np.flatnonzero(task_ids == k)[0]) for k in tasks])


def frame_times(lengths: np.ndarray, max_frames: int = MAX_FRAMES) -> np.ndarray:
    """Steps shown: evenly spaced over the longest episode, its last step included."""
    t_end = int(max(lengths.max(), 1))
    n = min(max_frames, t_end + 1)
    return np.unique(np.linspace(0, t_end, n).round().astype(int))


def _colour(k: int) -> np.ndarray:
    from matplotlib.colors import to_rgba

    from ethogram.report.plots import TASK_COLOURS

    return np.array(to_rgba(TASK_COLOURS[(k - 1) % len(TASK_COLOURS)]), dtype=np.float32)


def _add_geom(scene, kind, size, pos, rgba) -> None:
    """One more geom drawn into a MuJoCo scene (marks that are not part of the model), while there is room."""
    import mujoco

    if scene.ngeom < scene.maxgeom:
        geom = scene.geoms[scene.ngeom]
        mujoco.mjv_initGeom(geom, kind, np.asarray(size, float), np.asarray(pos, float), np.eye(3).ravel(),
                            np.asarray(rgba, np.float32))
        geom.specular, geom.emission = 0.0, 0.0  # the task colour, not the lamp's highlight
        scene.ngeom += 1


def _add_trail(scene, path: np.ndarray, rgba) -> None:
    """Capsules joining consecutive points of a path, just above the floor."""
    import mujoco

    for p0, p1 in zip(path[:-1], path[1:], strict=True):
        if scene.ngeom < scene.maxgeom and np.any(p0 != p1):
            geom = scene.geoms[scene.ngeom]
            # every field set first (mjv_connector sets only the pose and size: a slot's stale texture or mesh
            # ids crash the renderer)
            mujoco.mjv_initGeom(geom, mujoco.mjtGeom.mjGEOM_CAPSULE, np.zeros(3), np.zeros(3), np.eye(3).ravel(),
                                np.asarray(rgba, np.float32))
            mujoco.mjv_connector(geom, mujoco.mjtGeom.mjGEOM_CAPSULE, 0.12, np.array([p0[0], p0[1], 0.15]),
                                 np.array([p1[0], p1[1], 0.15]))
            geom.specular, geom.emission = 0.0, 0.0
            scene.ngeom += 1


def mujoco_frames(env, ro, chosen: np.ndarray, times: np.ndarray, radius: float) -> list[np.ndarray]:
    """Frames from the environment's MuJoCo model, camera above the maze; raises where no renderer works."""
    import mujoco

    model, maze = env.model, env.maze
    h, w = maze.shape
    lo = maze.ij_to_xy((0, 0)) - maze.unit / 2
    hi = maze.ij_to_xy((h - 1, w - 1)) + maze.unit / 2
    hidden = [i for i in range(model.ngeom) if model.geom_bodyid[i] != 0 or model.geom(i).name == "target"]
    saved = model.geom_rgba[hidden].copy()
    model.geom_rgba[hidden, 3] = 0.0  # the model's own ball and target: drawn below per episode instead
    try:
        renderer = mujoco.Renderer(model, HEIGHT, WIDTH, max_geom=2000)
        data = mujoco.MjData(model)
        mujoco.mj_forward(model, data)
        cam = mujoco.MjvCamera()
        cam.type = mujoco.mjtCamera.mjCAMERA_FREE
        cam.lookat[:] = [(lo[0] + hi[0]) / 2, (lo[1] + hi[1]) / 2, 0.0]
        cam.distance = 1.25 * max((hi[0] - lo[0]) * HEIGHT / WIDTH, hi[1] - lo[1])
        cam.azimuth, cam.elevation = 90.0, -85.0  # x to the right, y up: as in rollouts.png
        frames = []
        for t in times:
            renderer.update_scene(data, camera=cam)
            scene = renderer.scene
            scene.flags[mujoco.mjtRndFlag.mjRND_SHADOW] = 0  # shadows and reflections: most of a software
            scene.flags[mujoco.mjtRndFlag.mjRND_REFLECTION] = 0  # renderer's time, little of the picture
            for b in chosen:
                c = _colour(int(ro.task_ids[b]))
                g, p = ro.goals[b], ro.positions[b, t]
                _add_geom(scene, mujoco.mjtGeom.mjGEOM_CYLINDER, [radius, 0.02, 0], [g[0], g[1], 0.03], c)
                _add_trail(scene, ro.positions[b, np.unique(np.linspace(0, t, TRAIL).round().astype(int))], c)
                _add_geom(scene, mujoco.mjtGeom.mjGEOM_SPHERE, [0.5, 0, 0], [p[0], p[1], 0.5], c)
            frames.append(renderer.render().copy())
        renderer.close()
        return frames
    finally:
        model.geom_rgba[hidden] = saved


def drawn_frames(env, ro, chosen: np.ndarray, times: np.ndarray, radius: float) -> list[np.ndarray]:
    """Frames of a matplotlib top view: the maze (or the task's own drawing), trails and the agents."""
    import matplotlib.pyplot as plt

    from ethogram.report.plots import draw_maze

    fig, ax = plt.subplots(figsize=(WIDTH / 100, HEIGHT / 100), dpi=100)
    if env.maze is not None:
        draw_maze(ax, env.maze)
    else:
        env.draw(ax)
    lines, dots = [], []
    for b in chosen:
        c = _colour(int(ro.task_ids[b]))
        if env.maze is not None:  # a task without a maze has no goal disc (avoiding: a finish line)
            ax.add_patch(plt.Circle(ro.goals[b], radius, color=c, alpha=0.35, lw=0))
        lines.append(ax.plot([], [], color=c, lw=1.5)[0])
        dots.append(ax.plot([], [], "o", color=c, ms=8, mec="black", mew=0.6)[0])
    fig.subplots_adjust(0.01, 0.01, 0.99, 0.99)
    frames = []
    for t in times:
        for b, line, dot in zip(chosen, lines, dots, strict=True):
            p = ro.positions[b, : t + 1]
            line.set_data(p[:, 0], p[:, 1])
            dot.set_data([p[-1, 0]], [p[-1, 1]])
        fig.canvas.draw()
        frames.append(np.asarray(fig.canvas.buffer_rgba())[..., :3].copy())
    plt.close(fig)
    return frames


def encode_mp4(frames: list[np.ndarray], fps: int = FPS) -> bytes:
    """H.264 MP4 bytes through imageio-ffmpeg (its own ffmpeg binary from PyPI)."""
    import imageio_ffmpeg

    h, w = frames[0].shape[:2]
    fd, tmp = tempfile.mkstemp(suffix=".mp4")
    os.close(fd)
    try:
        with warnings.catch_warnings():
            # ffmpeg is a child process (fork and exec at once): JAX's warning about forking a threaded process
            # does not apply to it
            warnings.filterwarnings("ignore", message="os.fork")
            writer = imageio_ffmpeg.write_frames(tmp, (w, h), fps=fps, codec="libx264", pix_fmt_out="yuv420p",
                                                 macro_block_size=2, quality=7,
                                                 output_params=["-movflags", "+faststart"])
            writer.send(None)
            for f in frames:
                writer.send(np.ascontiguousarray(f, dtype=np.uint8))
            writer.close()
        return Path(tmp).read_bytes()
    finally:
        Path(tmp).unlink(missing_ok=True)


def _mujoco_in_child(env_name: str, ro, layout: str | None = None) -> tuple[list[np.ndarray] | None, str]:
    """MuJoCo frames rendered by a child process (`python -m ethogram.report.video`): Mesa's software OpenGL and
    XLA's LLVM in one process can crash it (a segmentation fault after training in the same process), and a
    crashed child costs only the video. Returns (frames, "") or (None, why it failed)."""
    import subprocess
    import sys

    from ethogram.evaluate.protocol import save_rollouts

    with tempfile.TemporaryDirectory(prefix="ethogram-video-") as tmp:
        src, out = Path(tmp) / "rollouts.npz", Path(tmp) / "frames.npy"
        save_rollouts(ro, src)
        maze = []
        if layout is not None:  # a custom maze: the child builds the same layout
            (Path(tmp) / "maze.txt").write_text(layout)
            maze = [str(Path(tmp) / "maze.txt")]
        env = {**os.environ, "MUJOCO_GL": os.environ.get("MUJOCO_GL", "egl")}
        try:
            with warnings.catch_warnings():  # fork and exec at once: JAX's fork warning does not apply
                warnings.filterwarnings("ignore", message="os.fork")
                done = subprocess.run([sys.executable, "-m", "ethogram.report.video", env_name, str(src),
                                       str(out), *maze], capture_output=True, text=True, timeout=600, env=env)
        except (OSError, subprocess.TimeoutExpired) as e:
            return None, f"{type(e).__name__}: {e}"
        if done.returncode != 0 or not out.is_file():
            last = (done.stderr.strip().splitlines() or [f"exit code {done.returncode}"])[-1]
            return None, f"exit code {done.returncode}: {last[:200]}"
        frames = np.load(out, allow_pickle=False)
    return list(frames), ""


def rollout_video(env, ro, path: str | Path, renderer: str = "auto", env_name: str | None = None) -> VideoInfo:
    """Write an MP4 of one episode per task of `ro` (evaluate/protocol.Rollouts) to `path`. MuJoCo renders in a
    child process (`_mujoco_in_child`) that makes the environment by its registry name (`env_name`, default
    `env.name`)."""
    start = time.perf_counter()
    chosen = picks(ro.task_ids)
    times = frame_times(ro.length[chosen])
    radius = float(getattr(env, "goal_tol", 1.0))
    frames, used, note = None, "drawn", ""
    gl = os.environ.get("MUJOCO_GL", "egl")
    if renderer in ("auto", "mujoco") and getattr(env, "model", None) is not None and env.maze is not None:
        env_name = env_name or getattr(env, "name", None)
        layout = getattr(env, "maze_file", None)
        layout = layout.text() if layout is not None else None
        frames, why = _mujoco_in_child(env_name, ro, layout) if env_name else (None, "the environment has no name")
        if frames is not None:
            used, note = "mujoco", f"rendered by MuJoCo offscreen (MUJOCO_GL={gl})"
        elif renderer == "mujoco":
            raise RuntimeError(f"MuJoCo's offscreen renderer failed: {why}")
        else:
            note = f"drawn top view: MuJoCo's offscreen renderer (MUJOCO_GL={gl}) failed here ({why})"
    elif renderer in ("auto", "mujoco"):
        note = "drawn top view: this environment has no MuJoCo model to render"
    else:
        note = "drawn top view (asked for)"
    if frames is None:
        frames = drawn_frames(env, ro, chosen, times, radius)
    atomic_write_bytes(path, encode_mp4(frames))
    return VideoInfo(used, note, len(frames), round(len(frames) / FPS, 2), round(time.perf_counter() - start, 2))


def body_frames(model, qpos: np.ndarray, goal: np.ndarray, radius: float, every: int = 5,
                distance: float = 14.0) -> list[np.ndarray]:
    """Frames of one episode of a robot with a body (the ant): the model posed at each `every`-th recorded qpos
    (T, nq), the camera following it from above and behind, the goal a disc of the success radius. Needs an
    offscreen renderer (`MUJOCO_GL=egl`)."""
    import mujoco

    renderer = mujoco.Renderer(model, HEIGHT, WIDTH, max_geom=2000)
    data = mujoco.MjData(model)
    cam = mujoco.MjvCamera()
    cam.type = mujoco.mjtCamera.mjCAMERA_FREE
    cam.distance, cam.azimuth, cam.elevation = distance, 90.0, -55.0
    frames = []
    idx = np.unique(np.r_[np.arange(0, len(qpos), every), len(qpos) - 1])
    for t in idx:
        data.qpos[:] = qpos[t]
        mujoco.mj_forward(model, data)
        cam.lookat[:] = [qpos[t, 0], qpos[t, 1], 0.0]
        renderer.update_scene(data, camera=cam)
        _add_geom(renderer.scene, mujoco.mjtGeom.mjGEOM_CYLINDER, [radius, 0.02, 0], [goal[0], goal[1], 0.03],
                  np.array([0.85, 0.15, 0.15, 0.8], np.float32))
        frames.append(renderer.render().copy())
    renderer.close()
    return frames


def _child(env_name: str, rollouts: str, out: str, layout: str | None = None) -> None:
    """The child of `_mujoco_in_child`: render the frames and save them as one uint8 array (`layout`: the path of
    a custom maze's canonical text)."""
    from ethogram.envs.registry import make_env
    from ethogram.evaluate.protocol import load_rollouts

    env = make_env(env_name, Path(layout).read_text() if layout else None)
    ro = load_rollouts(rollouts)
    chosen = picks(ro.task_ids)
    frames = mujoco_frames(env, ro, chosen, frame_times(ro.length[chosen]), float(getattr(env, "goal_tol", 1.0)))
    np.save(out, np.stack(frames))


if __name__ == "__main__":
    import sys

    _child(*sys.argv[1:5])
