"""The Gymnasium environments (envs/gym.py): Gymnasium's own checker on every registered id, registration on
`import gymnasium` in either order, the same physics as the batched environments (teleports included), episodes
(reward, termination, truncation, goal rewards, seeding, tasks), rendering, and a clear error for each bad input."""

from __future__ import annotations

import copy
import re
import subprocess
import sys
import warnings
from pathlib import Path

import gymnasium
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env

import ethogram  # noqa: F401  (registers the ethogram/... ids)
from ethogram.envs.gym import EthogramEnv, gym_id, make_batched, register_envs, registered_names
from ethogram.envs.registry import ROBOTS, known_envs, make_env
from ethogram.errors import EthogramError

ROOT = Path(__file__).resolve().parents[1]
# A loop of corridors: task 1 from A (cell (1, 1), x-y (0, 0)) to a (cell (1, 5), x-y (16, 0)), the rest chosen.
CORRIDOR = "; a loop of corridors\n#######\n#A...a#\n#.###.#\n#.....#\n#######\n"
PHYSICS = ["pointmaze-medium", "pointmaze-large", "pointmaze-giant", "pointmaze-teleport", "pointvelmaze-medium"]


@pytest.fixture(scope="module")
def corridor(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("mazes") / "corridor.txt"
    path.write_text(CORRIDOR)
    return path


def make(name: str, maze_file: Path | None = None, **kwargs) -> gymnasium.Env:
    """gymnasium.make of an ethogram environment; a custom maze's with `maze_file`."""
    if name.endswith("-custom"):
        kwargs["maze_file"] = str(maze_file)
    return gymnasium.make(gym_id(name), **kwargs)


def drive(env, action, steps: int) -> list[tuple]:
    """(obs, reward, terminated, truncated, info) of `steps` steps with the same action."""
    return [env.step(np.asarray(action, dtype=np.float32)) for _ in range(steps)]


# ------------------------------------------------------------------------------------------ Gymnasium's checker


@pytest.mark.parametrize("name", registered_names())
def test_check_env_passes_on_every_registered_id(name, corridor):
    """Gymnasium's env checker passes without a warning (warnings are errors here) on every registered id, the
    custom mazes with a maze file; the observations of a random rollout stay in the observation space."""
    env = make(name, corridor)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        if name.startswith("antmaze"):  # the ant's joint velocities are unbounded, as in OGBench's own space
            warnings.filterwarnings("ignore", ".*A Box observation space (minimum|maximum) value is")
        check_env(env.unwrapped)
    env.action_space.seed(0)
    obs, _ = env.reset(seed=0)
    for _ in range(50):
        assert env.observation_space.contains(obs), obs
        obs, reward, terminated, truncated, info = env.step(env.action_space.sample())
        assert reward in (0.0, 1.0) and terminated == info["success"] and not truncated
    env.close()


# ---------------------------------------------------------------------------------------------- registration

IMPORT_ETHOGRAM_FIRST = """
import sys
import ethogram
loaded = sorted(m for m in sys.modules if m.split(".")[0] in ("gymnasium", "jax"))
assert not loaded, f"import ethogram imported {loaded[:5]}"
import gymnasium
env = gymnasium.make("ethogram/pointmaze-medium-v0")
obs, info = env.reset(seed=0, options={"task_id": 1})
print("ok", env.spec.id, obs["observation"].shape)
"""
IMPORT_GYMNASIUM_FIRST = """
import gymnasium
assert "ethogram/pointmaze-medium-v0" not in gymnasium.registry
import ethogram
env = gymnasium.make("ethogram/pointmaze-medium-v0")
obs, info = env.reset(seed=0, options={"task_id": 1})
print("ok", env.spec.id, obs["observation"].shape)
"""


@pytest.mark.parametrize("script", [IMPORT_ETHOGRAM_FIRST, IMPORT_GYMNASIUM_FIRST], ids=["ethogram-first",
                                                                                      "gymnasium-first"])
def test_import_ethogram_registers_the_ids_in_either_order(script):
    """In a fresh interpreter, `import ethogram` imports neither gymnasium nor jax, and
    `gymnasium.make("ethogram/pointmaze-medium-v0")` works whether gymnasium is imported after ethogram or before."""
    done = subprocess.run([sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "ok ethogram/pointmaze-medium-v0 (2,)" in done.stdout


def test_every_known_env_is_registered():
    """Every environment of the registry, and each robot's custom maze, is registered with ethogram's entry point;
    registering again changes nothing."""
    expected = [gym_id(n) for n in known_envs()] + [gym_id(f"{r}maze-custom") for r in ROBOTS
                                                      if ROBOTS[r].custom_mazes]
    assert gym_id("antmaze-medium") in expected and gym_id("antmaze-custom") not in expected
    for env_id in expected:
        assert env_id in gymnasium.registry, env_id
        assert gymnasium.spec(env_id).entry_point == "ethogram.envs.gym:EthogramEnv"
    specs = {env_id: gymnasium.spec(env_id) for env_id in expected}
    assert register_envs() == expected
    assert all(gymnasium.spec(env_id) is spec for env_id, spec in specs.items())


def test_max_episode_steps_equal_each_environments_episode_steps(corridor):
    """The TimeLimit of every registered id is its batched environment's `episode_steps` (the evaluation
    episode's length: 1000 for a maze, 250 for avoiding), custom mazes included."""
    for name in registered_names():
        batched = make_batched(name, corridor if name.endswith("-custom") else None)
        assert gymnasium.spec(gym_id(name)).max_episode_steps == batched.episode_steps, name
    assert gymnasium.spec(gym_id("avoiding")).max_episode_steps == 250
    env = make("pointmaze-custom", corridor)
    assert env.spec.max_episode_steps == 1000
    env.close()


# ---------------------------------------------------------------------------------------------------- physics


@pytest.mark.parametrize("name", PHYSICS)
def test_gym_steps_equal_batched_steps(name):
    """The Gymnasium env and the batched env (make_env), stepped from the same state with the same 300 random
    actions (the batched one with a copy of the Gymnasium env's np_random), hold exactly the same states and
    observations."""
    env = make(name)
    batched = make_env(name)
    obs, _ = env.reset(seed=3, options={"task_id": 2})
    state = env.unwrapped.state[None]
    np.testing.assert_array_equal(obs["observation"], batched.observe(state)[0])
    rng = copy.deepcopy(env.unwrapped.np_random)
    actions = np.random.default_rng(0).uniform(-1.0, 1.0, size=(300, 2)).astype(np.float32)
    start = batched.positions(state)[0]
    for a in actions:
        obs, *_ = env.step(a)
        state = batched.step(state, a[None], rng)
        np.testing.assert_array_equal(env.unwrapped.state, state[0])
        np.testing.assert_array_equal(obs["observation"], batched.observe(state)[0])
        np.testing.assert_array_equal(obs["achieved_goal"], batched.positions(state)[0].astype(np.float32))
    assert np.linalg.norm(batched.positions(state)[0] - start) > 0.5, "the point never moved"
    env.close()


def test_teleports_equal_batched_teleports():
    """Started on each inbound teleport of the teleport maze, the point jumps to an exit on its first step, and the
    Gymnasium env and the batched env (with a copy of np_random) draw the same exits and hold the same states over
    100 random steps; different seeds reach different exits."""
    env = make("pointmaze-teleport")
    batched = make_env("pointmaze-teleport")
    exits = set()
    actions = np.random.default_rng(1).uniform(-1.0, 1.0, size=(100, 2)).astype(np.float32)
    for seed in range(6):
        tin = batched.teleport_in[seed % len(batched.teleport_in)]
        env.reset(seed=seed, options={"start": tin})
        state = env.unwrapped.state[None]
        rng = copy.deepcopy(env.unwrapped.np_random)
        for t, a in enumerate(actions):
            env.step(a)
            state = batched.step(state, a[None], rng)
            np.testing.assert_array_equal(env.unwrapped.state, state[0])
            if t == 0:
                xy = env.unwrapped.state[:2]
                assert np.linalg.norm(xy - tin) > 1.0, "the first step did not teleport"  # a step moves <= 0.29
                hit = np.flatnonzero((batched.teleport_out == xy).all(axis=1))
                assert len(hit) == 1, f"{xy} is no teleport exit"
                exits.add(int(hit[0]))
    assert len(exits) > 1, "every seed drew the same exit"
    env.close()


# -------------------------------------------------------------------------------------------------- episodes


@pytest.mark.parametrize("name", ["pointmaze-custom", "pointvelmaze-custom"])
def test_reaching_the_goal_rewards_one_and_terminates(name, corridor):
    """Driven along the corridor from task 1's start cell to its goal cell, the point gets reward 0 and no
    termination while farther than 1.0 from the goal, and reward 1.0, terminated and info['success'] on the first
    step within 1.0."""
    env = make(name, corridor)
    maze = env.unwrapped.batched.maze
    start, goal = maze.ij_to_xy((1, 1)), maze.ij_to_xy((1, 5))
    obs, info = env.reset(seed=0, options={"start": start, "goal": goal})
    np.testing.assert_array_equal(obs["desired_goal"], goal.astype(np.float32))
    assert not info["success"]
    for t in range(1, 100):
        obs, reward, terminated, truncated, info = env.step(np.array([1.0, 0.0], dtype=np.float32))
        near = np.linalg.norm(env.unwrapped.state[:2] - goal) <= 1.0
        assert (reward, terminated, info["success"]) == ((1.0, True, True) if near else (0.0, False, False)), t
        assert not truncated
        if terminated:
            break
    assert terminated and 70 <= t <= 80, f"the goal 16 away was reached at step {t}"
    env.close()


@pytest.mark.parametrize("name, steps", [("pointmaze-custom", 1000), ("avoiding", 250)])
def test_truncated_after_max_episode_steps(name, steps, corridor):
    """With random actions and a far goal, gymnasium.make's TimeLimit truncates the episode exactly at the
    environment's episode length (1000 steps for a maze, 250 for avoiding), never before."""
    env = make(name, corridor)
    env.action_space.seed(0)
    options = {"start": (0.0, 0.0), "goal": (16.0, 8.0)} if name.endswith("-custom") else {"task_id": 1}
    env.reset(seed=0, options=options)
    for t in range(1, steps + 1):
        _, _, terminated, truncated, _ = env.step(env.action_space.sample())
        assert not terminated, f"random actions reached the goal at step {t}"
        assert truncated == (t == steps), t
    env.close()


@pytest.mark.parametrize("name", ["pointmaze-custom", "pointvelmaze-custom"])
def test_compute_reward_agrees_with_success(name, corridor):
    """compute_reward over the (N, 2) achieved and desired goals of an episode that passes through its goal is
    info['success'] as 1.0 / 0.0 (float32), with one goal broadcast too; over (N, M) pairs of goals it is 1.0
    exactly within 1.0 of the goal."""
    env = make(name, corridor).unwrapped
    maze = env.batched.maze
    goal = maze.ij_to_xy((1, 3))
    env.reset(seed=0, options={"start": maze.ij_to_xy((1, 1)), "goal": goal})
    achieved, desired, success = [], [], []
    for _ in range(70):  # past the goal and on into the corridor's end
        obs, reward, terminated, _, info = env.step(np.array([1.0, 0.0]))
        achieved.append(obs["achieved_goal"])
        desired.append(obs["desired_goal"])
        success.append(info["success"])
        assert reward == float(info["success"]) and terminated == info["success"]
    achieved, desired, success = np.array(achieved), np.array(desired), np.array(success)
    assert 0 < success.sum() < len(success)
    rewards = env.compute_reward(achieved, desired, [{}] * len(achieved))
    assert rewards.dtype == np.float32 and rewards.shape == (70,)
    np.testing.assert_array_equal(rewards, success.astype(np.float32))
    np.testing.assert_array_equal(env.compute_reward(achieved, goal, None), success.astype(np.float32))
    np.testing.assert_array_equal(env.compute_terminated(achieved, desired, None), success)
    goals = np.random.default_rng(0).uniform(-2.0, 18.0, size=(40, 2))
    pairs = env.compute_reward(achieved[:, None], goals[None], None)
    near = np.linalg.norm(achieved[:, None].astype(np.float64) - goals[None], axis=-1) <= 1.0
    assert pairs.shape == (70, 40) and near.any()
    np.testing.assert_array_equal(pairs, near.astype(np.float32))
    assert not env.compute_truncated(achieved, desired, None).any()


@pytest.mark.parametrize("name", ["pointmaze-medium", "pointvelmaze-large", "avoiding"])
def test_reset_with_the_same_seed_gives_the_same_episode(name):
    """reset(seed=s) twice gives the same observation, info and state; another seed a different one."""
    env = make(name)
    first = env.reset(seed=11)
    state = env.unwrapped.state
    second = env.reset(seed=11)
    for key in first[0]:
        np.testing.assert_array_equal(first[0][key], second[0][key])
    assert first[1]["task_id"] == second[1]["task_id"]
    np.testing.assert_array_equal(first[1]["goal_observation"], second[1]["goal_observation"])
    np.testing.assert_array_equal(state, env.unwrapped.state)
    other = env.reset(seed=12)
    assert not np.array_equal(other[0]["observation"], first[0]["observation"])
    env.close()


@pytest.mark.parametrize("name", ["pointmaze-medium", "pointvelmaze-teleport"])
def test_task_ids_give_the_published_tasks(name):
    """options task_id k (1..5) starts and aims the episode at task k's start and goal cells with OGBench's noise:
    within 1.0 of each cell's centre on each axis, and not at the centre itself; info names the task and gives
    the goal as an agent observes it."""
    env = make(name)
    batched = env.unwrapped.batched
    maze = batched.maze
    assert len(batched.tasks) == 5
    for k in range(1, 6):
        for seed in range(3):
            obs, info = env.reset(seed=seed, options={"task_id": k})
            goal_off = obs["desired_goal"] - maze.ij_to_xy(batched.tasks[k - 1].goal_ij)
            start_off = obs["achieved_goal"] - maze.ij_to_xy(batched.tasks[k - 1].init_ij)
            assert np.abs(goal_off).max() <= 1.0 + 1e-5 and np.abs(start_off).max() <= 1.0 + 1e-5, (k, seed)
            assert np.abs(goal_off).min() > 0 and np.abs(start_off).min() > 0, "no task noise"
            assert info["task_id"] == k
            np.testing.assert_array_equal(info["goal_observation"],
                                          batched.goal_observation(env.unwrapped.goal[None])[0])
    env.close()


def test_avoiding_tasks_and_goal_rewards():
    """The avoiding env's four tasks aim at their published goals on the finish line, the start is D3IL's within
    its 1 cm noise, and compute_reward is 1.0 past the finish line whatever the goal."""
    from ethogram.envs.avoiding import FINISH_Y, GOALS, START

    env = make("avoiding").unwrapped
    for k in range(1, 5):
        obs, info = env.reset(seed=k, options={"task_id": k})
        np.testing.assert_array_equal(env.goal, GOALS[k - 1])
        assert np.abs(env.state[:2] - START).max() <= 0.01 and info["task_id"] == k
    achieved = np.array([[0.5, FINISH_Y - 0.01], [0.3, FINISH_Y + 0.01], [0.7, 0.4]])
    np.testing.assert_array_equal(env.compute_reward(achieved, GOALS[0], None), [0.0, 1.0, 1.0])


# -------------------------------------------------------------------------------------------------- rendering


def test_render_gives_mujoco_frames_that_follow_the_point_and_goal():
    """render_mode='rgb_array' gives (480, 480, 3) uint8 MuJoCo frames, the same twice for the same state, changed
    when the point moves and when the goal moves; a larger frame than OGBench's framebuffer renders too;
    without a render mode render() is None."""
    env = make("pointmaze-medium", render_mode="rgb_array")
    maze = env.unwrapped.batched.maze
    start, goal = maze.ij_to_xy((1, 1)), maze.ij_to_xy((6, 6))
    env.reset(seed=0, options={"start": start, "goal": goal})
    frame = env.render()
    assert frame.shape == (480, 480, 3) and frame.dtype == np.uint8 and frame.std() > 10
    np.testing.assert_array_equal(env.render(), frame)
    drive(env, [1.0, 0.0], 10)  # cell (1, 2) to the right is free
    assert np.linalg.norm(env.unwrapped.state[:2] - start) > 1.5
    moved = env.render()
    assert (moved != frame).any(axis=-1).sum() > 50, "the frame did not follow the point"
    env.unwrapped.reset(seed=0, options={"start": start, "goal": maze.ij_to_xy((1, 6))})
    assert (env.render() != frame).any(axis=-1).sum() > 50, "the frame did not follow the goal"
    env.close()
    wide = make("pointmaze-medium", render_mode="rgb_array", width=800, height=600)
    wide.reset(seed=0)
    assert wide.render().shape == (600, 800, 3)
    wide.close()
    plain = make("pointmaze-medium")
    plain.reset(seed=0)
    assert plain.render() is None


def test_avoiding_renders_a_drawn_frame(corridor):
    """The avoiding task, which MuJoCo does not simulate, renders its drawn table as a (480, 480, 3) uint8 frame
    that changes when the point moves; Gymnasium's checker passes with rendering on it and on a custom maze."""
    env = make("avoiding", render_mode="rgb_array")
    env.reset(seed=0, options={"task_id": 1})
    frame = env.render()
    assert frame.shape == (480, 480, 3) and frame.dtype == np.uint8 and frame.std() > 5
    drive(env, [0.0, 1.0], 10)
    assert (env.render() != frame).any(axis=-1).sum() > 20, "the frame did not follow the point"
    env.close()
    for name in ("avoiding", "pointmaze-custom"):
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            check_env(make(name, corridor, render_mode="rgb_array").unwrapped)


# ------------------------------------------------------------------------------------------------- bad input


def test_step_render_and_state_before_reset_are_clear_errors():
    """step(), render(), the state and the goal before the first reset() are an EthogramError saying to reset
    first (the env itself: gymnasium.make's OrderEnforcing wrapper refuses the first two before it)."""
    env = make("pointmaze-medium", render_mode="rgb_array").unwrapped
    for call in (lambda: env.step(np.zeros(2, dtype=np.float32)), env.render, lambda: env.state, lambda: env.goal):
        with pytest.raises(EthogramError, match="no episode yet") as e:
            call()
        assert "reset()" in e.value.fix


@pytest.mark.parametrize("action, match", [
    (np.zeros(3), r"shape \(3,\).*takes one of shape \(2,\)"),
    (np.zeros((1, 2)), r"shape \(1, 2\)"),
    (np.array([np.nan, 0.0]), "not finite"),
    (np.array([0.0, np.inf]), "not finite"),
    ("left", "not an array of numbers"),
])
def test_bad_actions_are_clear_errors(action, match):
    """An action of the wrong shape (a batch included), NaN or infinite, or not numbers is an EthogramError that
    names the problem; the episode goes on unchanged."""
    env = make("pointmaze-medium").unwrapped
    env.reset(seed=0)
    state = env.state
    with pytest.raises(EthogramError, match=match):
        env.step(action)
    np.testing.assert_array_equal(env.state, state)
    env.step(np.array([5.0, -5.0]))  # out of range: clipped, not refused
    np.testing.assert_allclose(env.state[:2], state[:2] + 0.2 * np.array([1.0, -1.0]), atol=0.05)


@pytest.mark.parametrize("options, match", [
    ({"task": 1}, r"unknown reset option\(s\) \['task'\]"),
    ({"task_id": 0}, "unknown task_id 0"),
    ({"task_id": 6}, "unknown task_id 6"),
    ({"task_id": "1"}, "unknown task_id '1'"),
    ({"task_id": 1.0}, "unknown task_id 1.0"),
    ({"task_id": True}, "unknown task_id True"),
    ({"start": (-4.0, -4.0)}, r"start \(-4.0, -4.0\) lies in a wall"),
    ({"goal": (100.0, 0.0)}, r"goal \(100.0, 0.0\) lies outside"),
    ({"goal": (np.nan, 0.0)}, "goal option .* is not an x-y position"),
    ({"start": (1.0, 2.0, 3.0)}, "start option .* is not an x-y position"),
])
def test_bad_reset_options_are_clear_errors(options, match):
    """An unknown option, a task_id that is not 1..5, a start inside a wall, a goal outside the maze and a
    position that is not x-y are each an EthogramError naming the problem."""
    env = make("pointmaze-medium")
    with pytest.raises(EthogramError, match=match):
        env.reset(seed=0, options=options)


def test_avoiding_has_four_tasks():
    """The avoiding env refuses task_id 5 (it has four tasks) and a start off its table."""
    env = make("avoiding")
    with pytest.raises(EthogramError, match="unknown task_id 5") as e:
        env.reset(options={"task_id": 5})
    assert "1 to 4" in e.value.fix
    with pytest.raises(EthogramError, match="lies outside"):
        env.reset(options={"start": (2.0, 0.0)})


def test_maze_file_mistakes_are_clear_errors(corridor, tmp_path):
    """A custom env without a maze file, a published env given one (its fix names a registered custom id), and a
    maze file that is not rectangular or does not exist are each an EthogramError through gymnasium.make."""
    for name in ("pointmaze-custom", "pointvelmaze-custom"):
        with pytest.raises(EthogramError, match="needs the maze file"):
            gymnasium.make(gym_id(name))
    for name in ("pointmaze-medium", "pointvelmaze-giant", "avoiding"):
        with pytest.raises(EthogramError, match="is a published environment") as e:
            gymnasium.make(gym_id(name), maze_file=str(corridor))
        suggested = re.search(r"ethogram/[\w-]+-v0", e.value.fix).group(0)
        assert suggested.endswith("-custom-v0") and suggested in gymnasium.registry, e.value.fix
    ragged = tmp_path / "ragged.txt"
    ragged.write_text("#######\n#A...a#\n#.###.\n#######\n")
    with pytest.raises(EthogramError, match="not rectangular: line 3"):
        gymnasium.make(gym_id("pointmaze-custom"), maze_file=str(ragged))
    with pytest.raises(EthogramError, match="maze file"):
        gymnasium.make(gym_id("pointmaze-custom"), maze_file=str(tmp_path / "missing.txt"))


def test_bad_render_mode_is_a_clear_error():
    """A render mode other than rgb_array is an EthogramError naming it, directly and through gymnasium.make."""
    with pytest.raises(EthogramError, match="render_mode 'human' is not one of"):
        EthogramEnv("pointmaze-medium", render_mode="human")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # gymnasium.make warns about the mode before the env refuses it
        with pytest.raises(EthogramError, match="render_mode 'bogus'"):
            gymnasium.make(gym_id("avoiding"), render_mode="bogus")


def test_goals_of_the_wrong_shape_are_a_clear_error():
    """compute_reward with goals that are not x-y positions is an EthogramError naming their shape."""
    env = make("pointmaze-medium").unwrapped
    with pytest.raises(EthogramError, match=r"goals of shape \(4, 3\)"):
        env.compute_reward(np.zeros((4, 3)), np.zeros((4, 3)), None)
