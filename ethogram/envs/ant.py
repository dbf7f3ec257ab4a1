"""OGBench's directional ant locomotion task (`online-ant-v0` wrapped by its `GymXYWrapper`), batched.

The task the ant's locomotion expert learns (envs/locomotor.py): an ant (OGBench's online-locomotion model: the
quadruped with restricted joint ranges, 8 torques in [-1, 1], 10 Hz control) is rewarded by its displacement along
a target direction z, a unit vector drawn at reset and every 100 steps, which the observation carries. One step is
OGBench's: ctrl = action, five MuJoCo steps (`mujoco.rollout` for the whole batch). Observation (29): qpos without
x-y (13), qvel (14), z (2). Reward: (xy' - xy) . z of qpos's x-y. An episode terminates when the ant is unhealthy
(torso height outside [0.2, 1.0], or a non-finite state) and is truncated after 1000 steps. An ant on its back
rests at a height of about 0.27 and is healthy by that test; with `end_on_back` (the expert's `--end-on-back`) its
episode ends there too (`fallen_qpos`).
Reset: the model's initial qpos plus uniform noise of +-0.1, initial qvel plus N(0, 0.1^2) noise.

The simulator state is (B, 1 + nq + nv) = (B, 30): MuJoCo's time, qpos (15), qvel (14); directions, step counts
and episode returns are the task's own (`AntTask`), kept beside it.
"""

from __future__ import annotations

from dataclasses import dataclass

import mujoco
import numpy as np
from mujoco import rollout

FRAME_SKIP = 5
RESET_NOISE = 0.1
HEALTHY_Z = (0.2, 1.0)
RESAMPLE_INTERVAL = 100  # steps between direction draws (OGBench's GymXYWrapper)
EPISODE_STEPS = 1000  # online-ant-v0's TimeLimit
OBS_DIM = 29
ACTION_DIM = 8


def ant_model() -> mujoco.MjModel:
    """OGBench's online-locomotion ant model (the same file its AntEnv loads)."""
    from ogbench.online_locomotion.ant import AntEnv

    return mujoco.MjModel.from_xml_path(AntEnv.xml_file)


def unit(v: np.ndarray) -> np.ndarray:
    return v / np.linalg.norm(v, axis=-1, keepdims=True)


class AntPhysics:
    """The ant's batched physics: reset states, step them, observe them (qpos without x-y, qvel)."""

    def __init__(self, model: mujoco.MjModel | None = None, threads: int | None = None):
        from ethogram.envs.pointmaze import usable_cpus

        self.model = model if model is not None else ant_model()
        self.nq, self.nv, self.nu = self.model.nq, self.model.nv, self.model.nu
        self._spec = mujoco.mjtState.mjSTATE_FULLPHYSICS
        self._nstate = mujoco.mj_stateSize(self.model, self._spec)
        assert self._nstate == 1 + self.nq + self.nv + self.model.na, "an ant without activations or plugins"
        self._nthread = threads or max(1, min(usable_cpus(), 8))
        self._datas = [mujoco.MjData(self.model) for _ in range(self._nthread)]
        self._runner = rollout.Rollout(nthread=self._nthread)
        data = mujoco.MjData(self.model)
        self.init_qpos, self.init_qvel = data.qpos.copy(), data.qvel.copy()

    def close(self) -> None:
        self._runner.close()

    def state_of(self, qpos: np.ndarray, qvel: np.ndarray) -> np.ndarray:
        b = len(qpos)
        state = np.zeros((b, self._nstate))
        state[:, 1:1 + self.nq] = qpos
        state[:, 1 + self.nq:1 + self.nq + self.nv] = qvel
        return state

    def reset(self, b: int, rng: np.random.Generator, xy: np.ndarray | None = None) -> np.ndarray:
        """`b` states at the model's initial pose with OGBench's reset noise (at `xy` when given)."""
        qpos = self.init_qpos + rng.uniform(-RESET_NOISE, RESET_NOISE, (b, self.nq))
        qvel = self.init_qvel + RESET_NOISE * rng.standard_normal((b, self.nv))
        if xy is not None:
            qpos[:, :2] = xy
        return self.state_of(qpos, qvel)

    def step(self, state: np.ndarray, actions: np.ndarray) -> np.ndarray:
        """ctrl = action, five MuJoCo steps, for every row."""
        control = np.repeat(np.clip(np.asarray(actions, np.float64), -1, 1)[:, None, :], FRAME_SKIP, axis=1)
        out, _ = self._runner.rollout(self.model, self._datas, np.asarray(state, np.float64), control,
                                      nstep=FRAME_SKIP)
        return out[:, -1].copy()

    def qpos(self, state: np.ndarray) -> np.ndarray:
        return np.asarray(state)[:, 1:1 + self.nq]

    def qvel(self, state: np.ndarray) -> np.ndarray:
        return np.asarray(state)[:, 1 + self.nq:1 + self.nq + self.nv]

    def proprio(self, state: np.ndarray) -> np.ndarray:
        """What the locomotor sees of the ant: qpos without x-y, then qvel (27)."""
        return np.concatenate([self.qpos(state)[:, 2:], self.qvel(state)], axis=1)

    def healthy(self, state: np.ndarray) -> np.ndarray:
        z = self.qpos(state)[:, 2]
        return np.isfinite(state).all(axis=1) & (z >= HEALTHY_Z[0]) & (z <= HEALTHY_Z[1])


def fallen_qpos(qpos: np.ndarray) -> np.ndarray:
    """(N,) whether an ant at these qpos (N, >= 7) has fallen: torso height outside the healthy range, or the torso
    upside down (its up axis, 1 - 2 (qx^2 + qy^2) of the quaternion qpos[3:7], pointing down). An ant on its back
    rests at a height of about 0.27, inside the healthy range that ends the Gym Ant's episodes, and cannot get up."""
    qpos = np.asarray(qpos, np.float64)
    z, qx, qy = qpos[:, 2], qpos[:, 4], qpos[:, 5]
    return ~np.isfinite(qpos).all(axis=1) | (z < HEALTHY_Z[0]) | (z > HEALTHY_Z[1]) | (1 - 2 * (qx ** 2 + qy ** 2) < 0)


@dataclass
class Transition:
    obs: np.ndarray  # (B, 29) before the step
    next_obs: np.ndarray  # (B, 29) after it (the direction it was rewarded for)
    reward: np.ndarray  # (B,)
    terminated: np.ndarray  # (B,) unhealthy after the step
    truncated: np.ndarray  # (B,) the episode's last step


class AntTask:
    """B independent episodes of the directional task; `step(actions)` returns the transitions and resets the
    episodes that ended (their next observation is then the terminal one; `obs` is the new episode's)."""

    obs_dim, action_dim, episode_steps = OBS_DIM, ACTION_DIM, EPISODE_STEPS

    def __init__(self, b: int, seed: int, physics: AntPhysics | None = None, end_on_back: bool = False):
        self.physics = physics or AntPhysics()
        self.end_on_back = end_on_back
        self.b = b
        self.rng = np.random.default_rng(seed)
        self.state = self.physics.reset(b, self.rng)
        self.z = unit(self.rng.standard_normal((b, 2)))
        self.t = np.zeros(b, dtype=np.int64)
        self.returns = np.zeros(b)
        self.finished: list[tuple[float, int, bool]] = []  # (return, length, fell) of each ended episode

    def observe(self) -> np.ndarray:
        return np.concatenate([self.physics.proprio(self.state), self.z], axis=1).astype(np.float32)

    def step(self, actions: np.ndarray) -> Transition:
        obs = self.observe()
        xy = self.physics.qpos(self.state)[:, :2].copy()
        self.state = self.physics.step(self.state, actions)
        reward = np.einsum("bi,bi->b", self.physics.qpos(self.state)[:, :2] - xy, self.z)
        reward = np.nan_to_num(reward, nan=0.0, posinf=0.0, neginf=0.0)
        self.t += 1
        self.returns += reward
        terminated = ~self.physics.healthy(self.state)
        if self.end_on_back:
            terminated |= fallen_qpos(self.physics.qpos(self.state))
        truncated = (self.t >= EPISODE_STEPS) & ~terminated
        resample = (self.t % RESAMPLE_INTERVAL == 0)[:, None]
        self.z = np.where(resample, unit(self.rng.standard_normal((self.b, 2))), self.z)
        next_obs = np.nan_to_num(self.observe())
        done = terminated | truncated
        if done.any():
            for i in np.nonzero(done)[0]:
                self.finished.append((float(self.returns[i]), int(self.t[i]), bool(terminated[i])))
            n = int(done.sum())
            self.state[done] = self.physics.reset(n, self.rng)
            self.z[done] = unit(self.rng.standard_normal((n, 2)))
            self.t[done] = 0
            self.returns[done] = 0.0
        return Transition(obs, next_obs, reward.astype(np.float32), terminated, truncated)
