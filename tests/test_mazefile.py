"""Mazes of your own (envs/mazefile.py): the format and every refused layout, the canonical text's round trip,
evaluation tasks chosen far apart, a custom model whose physics equals the published maze's, and a layout that
travels with its dataset."""

from __future__ import annotations

import json

import numpy as np
import pytest

from ethogram.envs.mazefile import N_TASKS, Task, far_apart_tasks, parse_maze, read_maze_file
from ethogram.envs.registry import make_env
from ethogram.errors import EthogramError

ROOMS = """\
; two rooms and a corridor
##########
#A...#..b#
#.##.#.#.#
#.#......#
#.#.##.#.#
#a..#...B#
##########
"""


def grid_of(env) -> str:
    return "\n".join("".join("#" if c else "." for c in row) for row in env.maze.layout) + "\n"


def test_the_format_marks_and_task_lines():
    """Letters give tasks 1.. in order; task lines give the same; the rest of five are chosen; canonical text
    parses back to the same maze."""
    m = parse_maze(ROOMS, "rooms.txt", "rooms")
    assert m.layout.shape == (7, 10) and m.marked and len(m.tasks) == N_TASKS
    assert m.tasks[:2] == (Task((1, 1), (5, 1)), Task((5, 8), (1, 8)))
    lines = parse_maze(ROOMS.replace("A", ".").replace("a", ".").replace("B", ".").replace("b", ".")
                       + "task 1 1 5 1\ntask 5 8 1 8\n", "x", "rooms")
    assert lines == m
    again = parse_maze(m.text(), "text", "rooms")
    assert again == m and again.text() == m.text() and again.marked
    for t in m.tasks:
        assert m.layout[t.init_ij] == 0 and m.layout[t.goal_ij] == 0 and t.init_ij != t.goal_ij
    unmarked = parse_maze(ROOMS.translate(str.maketrans("AaBb", "....")), "x", "rooms")
    assert not unmarked.marked and len(set(unmarked.tasks)) == N_TASKS


@pytest.mark.parametrize("text, match", [
    ("#####\n#..#\n#####\n", "not rectangular"),
    ("#####\n#.x.#\n#####\n", "unknown character 'x' at line 2, column 3"),
    ("#####\n#....\n#####\n", "not enclosed by walls"),
    ("#####\n#.###\n#####\n", "1 free cell"),
    ("#######\n#..#..#\n#######\n", "not connected: 2 separate areas"),
    ("#####\n#A.a#\n#####\ntask 1 1 1 3\n", "both with letters and with task lines"),
    ("#####\n#...#\n#####\ntask 0 0 1 1\n", "task 1's start cell (0, 0) is a wall"),
    ("#####\n#...#\n#####\ntask 1 1 1 1\n", "the same cell"),
    ("#####\n#...#\n#####\ntask 1 1 9 9\n", "outside the 3 x 5 grid"),
    ("#####\n#...#\n#####\ntask 1 1 x 3\n", "is not a task line"),
    ("#####\n#A.A#\n#####\n", "marks two cells"),
    ("#####\n#A..#\n#####\n", "task 1 has a start but no goal"),
    ("#####\n#B.b#\n#####\n", "numbered [2]"),
    ("#####\n#...#\n#####\n" + "task 1 1 1 3\n" * 6, "6 tasks"),
    ("#####\n#...#\n#####\ntask 1 1 1 3\n#####\n", "after the task lines"),
    ("; only a comment\n", "no grid"),
    ("#" * 66 + "\n" + "#" + "." * 64 + "#\n" + "#" * 66 + "\n", "at most 64 x 64"),
])
def test_every_bad_layout_is_a_clear_error(text, match):
    with pytest.raises(EthogramError, match=match.replace("[", r"\[").replace("]", r"\]").replace("(", r"\(")
                       .replace(")", r"\)")) as e:
        parse_maze(text, "bad.txt", "bad")
    assert "bad.txt" in str(e.value) and e.value.fix


def test_reading_a_maze_file(tmp_path):
    """Its name is the file's stem; published names, odd names, missing files and non-UTF-8 bytes are refused."""
    path = tmp_path / "my-rooms.txt"
    path.write_text(ROOMS)
    assert read_maze_file(path).name == "my_rooms"
    for name, match in (("giant.txt", "rename"), ("a b.txt", "letters, digits")):
        (tmp_path / name).write_text(ROOMS)
        with pytest.raises(EthogramError, match=match):
            read_maze_file(tmp_path / name)
    with pytest.raises(EthogramError, match="does not exist"):
        read_maze_file(tmp_path / "missing.txt")
    (tmp_path / "latin.txt").write_bytes(b"#####\n#.\xe9.#\n#####\n")
    with pytest.raises(EthogramError, match="not UTF-8"):
        read_maze_file(tmp_path / "latin.txt")


@pytest.mark.parametrize("maze", ["medium", "large", "giant"])
def test_far_apart_tasks_are_long_spread_and_avoid_the_published_ones(maze):
    """Chosen tasks are deterministic, distinct, never a published task, each at least as long as the median
    free-cell pair, and use more distinct cells than any two tasks would."""
    env = make_env(f"pointmaze-{maze}")
    published = tuple(Task(t.init_ij, t.goal_ij) for t in env.tasks)
    tasks = far_apart_tasks(env.maze, 5, avoid=published)
    assert tasks == far_apart_tasks(env.maze, 5, avoid=published)
    pairs = {(t.init_ij, t.goal_ij) for t in tasks}
    assert len(pairs) == 5
    assert not pairs & {(t.init_ij, t.goal_ij) for t in published}
    assert not pairs & {(t.goal_ij, t.init_ij) for t in published}
    free = env.maze.free_cells()
    lengths = [env.maze.bfs(a)[b] for a in free for b in free if a != b]
    for t in tasks:
        assert env.maze.bfs(t.init_ij)[t.goal_ij] >= np.median(lengths)
    assert len({c for t in tasks for c in (t.init_ij, t.goal_ij)}) > 4


def test_a_tiny_maze_repeats_its_few_pairs():
    m = parse_maze("####\n#..#\n####\n", "x", "tiny")
    assert {(t.init_ij, t.goal_ij) for t in m.tasks} <= {((1, 1), (1, 2)), ((1, 2), (1, 1))}
    assert len(m.tasks) == N_TASKS


@pytest.mark.parametrize("robot", ["pointmaze", "pointvelmaze"])
def test_a_custom_copy_of_a_published_maze_steps_identically(robot):
    """OGBench's wall builder on our layout gives the same physics as the published model."""
    published = make_env(f"{robot}-medium")
    custom = make_env(f"{robot}-mymedium", layout=parse_maze(grid_of(published), "x", "mymedium").text())
    rng = np.random.default_rng(0)
    starts = np.stack([published.maze.ij_to_xy(c) for c in published.maze.free_cells()])
    s1, s2 = published.reset(starts), custom.reset(starts)
    heading = rng.uniform(-1, 1, (len(starts), 2))  # each point pushes one way, into walls and along them
    for _ in range(200):
        a = np.clip(heading + rng.normal(0, 0.5, heading.shape), -1, 1)
        s1, s2 = published.step(s1, a), custom.step(s2, a)
    np.testing.assert_array_equal(s1, s2)
    assert np.abs(s1[:, :2] - starts).max() > 4  # the points moved through the maze


def test_the_layout_travels_with_the_dataset(tmp_path):
    """The sidecar stores the canonical text; the dataset is named after the file; the environment built from
    the stored text has the file's tasks."""
    from ethogram.cli import main
    from ethogram.data.dataset import dataset_info

    path = tmp_path / "rooms.txt"
    path.write_text(ROOMS)
    out = tmp_path / "d.npz"
    assert main(["collect", "--maze", str(path), "--kind", "stitch", "--robot", "pointvel", "--episodes", "4",
                 "--out", str(out), "--quiet"]) == 0
    record = json.loads(out.with_suffix(".json").read_text())
    assert record["dataset"] == "pointvelmaze-rooms-stitch-v0" and record["env"] == "pointvelmaze-rooms"
    assert record["maze_layout"] == read_maze_file(path).text()
    info = dataset_info(out)
    env = make_env(info.env, layout=info.layout)
    assert [(t.init_ij, t.goal_ij) for t in env.tasks][:2] == [((1, 1), (5, 1)), ((5, 8), (1, 8))]
    assert env.obs_dim == 4
