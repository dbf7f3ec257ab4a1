"""Mazes of your own, drawn in ASCII: the file format, its checks, and the evaluation tasks of a maze.

A maze file has one line per row of cells and one character per cell:

    ; comment lines start with ';'
    ##########
    #A...#..b#
    #.##.#.#.#
    #.#......#
    #.#.####.#
    #a..#...B#
    ##########
    task 1 1 5 1        (optional, instead of letters: task START_ROW START_COL GOAL_ROW GOAL_COL)

`#` is a wall and `.` a free cell. A letter marks a free cell as an evaluation task's start (`A`..`E`: tasks 1..5)
or its goal (`a`..`e`); `task` lines give the same as 0-based cell indices. Row 0 is the first line of the grid,
as OGBench writes its layouts (`maze_map`): cell (i, j) has its centre at (x, y) = (4 j - 4, 4 i - 4), so the first
line is the bottom row (smallest y) in a top view. The maze must be enclosed by walls, its free cells connected.

Without marked tasks, five are chosen (`far_apart_tasks`): each task's start and goal far apart along the maze's
shortest path, the tasks spread over the maze. The same function chooses held-out tasks on the published mazes
(`avoid` = their five tasks).

A maze's canonical text (`MazeFile.text()`: the grid and its five task lines) is what a dataset's sidecar and every
run trained on it store, so that evaluation builds the same maze (envs/registry.py: make_env(name, layout)).
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ethogram.envs.maze import PUBLISHED as MAZES
from ethogram.envs.maze import Maze
from ethogram.errors import EthogramError

N_TASKS = 5
MAX_CELLS = 64  # rows and columns at most: the MuJoCo model and the BFS tables grow with the maze
MAX_BYTES = 1 << 20
STARTS, GOALS = "ABCDE", "abcde"
SPREAD = 2.0  # weight of an endpoint's distance from the endpoints already used: tasks over the whole maze
ALLOWED = "'#' (wall), '.' (free), A-E (task 1-5 start), a-e (task 1-5 goal)"


@dataclass(frozen=True)
class Task:
    """An evaluation task: start cell and goal cell (the same fields as envs/pointmaze.Task)."""

    init_ij: tuple[int, int]
    goal_ij: tuple[int, int]


@dataclass(frozen=True, eq=False)
class MazeFile:
    """A parsed maze file: its name (from the file), layout (1 = wall), five evaluation tasks, and whether the
    file marked them."""

    name: str
    layout: np.ndarray
    tasks: tuple[Task, ...]
    marked: bool

    def text(self) -> str:
        """The canonical text: the grid, then one `task` line per task (parse_maze(text) gives the same maze)."""
        rows = ["".join("#" if c else "." for c in row) for row in self.layout]
        lines = [f"task {t.init_ij[0]} {t.init_ij[1]} {t.goal_ij[0]} {t.goal_ij[1]}" for t in self.tasks]
        return "\n".join(rows + lines) + "\n"

    def __eq__(self, other) -> bool:
        return isinstance(other, MazeFile) and self.text() == other.text()

    def __hash__(self) -> int:
        return hash(self.text())


def _fail(source: str, problem: str, fix: str | None = None) -> EthogramError:
    return EthogramError(f"maze file '{source}': {problem}", fix or "fix the maze file (docs/mazes.md)")


def _task_line(line: str, number: int, source: str, shape: tuple[int, int]) -> Task:
    parts = line.split()
    try:
        a, b, c, d = (int(v) for v in parts[1:])
    except ValueError:
        raise _fail(source, f"line {number} '{line}' is not a task line.",
                    "write: task START_ROW START_COL GOAL_ROW GOAL_COL (0-based cell indices)") from None
    for what, (i, j) in (("start", (a, b)), ("goal", (c, d))):
        if not (0 <= i < shape[0] and 0 <= j < shape[1]):
            raise _fail(source, f"line {number}: the task's {what} cell ({i}, {j}) is outside the {shape[0]} x "
                        f"{shape[1]} grid.", "row and column indices start at 0 (row 0 is the first line)")
    return Task((a, b), (c, d))


def parse_maze(text: str, source: str, name: str) -> MazeFile:
    """A maze file's text -> MazeFile, or an EthogramError naming the line or cell at fault."""
    grid: list[tuple[int, str]] = []
    task_lines: list[tuple[int, str]] = []
    for number, raw in enumerate(text.splitlines(), 1):
        line = raw.rstrip("\r\n").rstrip()
        if not line or line.lstrip().startswith(";"):
            continue
        if line.split()[0] == "task":
            task_lines.append((number, line.strip()))
        elif task_lines:
            raise _fail(source, f"line {number} '{line}' comes after the task lines.",
                        "write the whole grid first, then the task lines")
        else:
            grid.append((number, line))
    if not grid:
        raise _fail(source, "it has no grid (no line of '#' and '.').")
    width = len(grid[0][1])
    for number, line in grid:
        if len(line) != width:
            raise _fail(source, f"the maze is not rectangular: line {number} has {len(line)} cells, the first "
                        f"row {width}.", "give every row the same number of characters")
        for col, ch in enumerate(line):
            if ch not in "#." + STARTS + GOALS:
                raise _fail(source, f"unknown character {ch!r} at line {number}, column {col + 1}.",
                            f"use only {ALLOWED}")
    shape = (len(grid), width)
    if max(shape) > MAX_CELLS:
        raise _fail(source, f"the maze is {shape[0]} x {shape[1]} cells; at most {MAX_CELLS} x {MAX_CELLS} are "
                    "supported.")
    layout = np.array([[1 if ch == "#" else 0 for ch in line] for _, line in grid], dtype=np.int8)
    for i, j in itertools.product(range(shape[0]), range(shape[1])):
        if (i in (0, shape[0] - 1) or j in (0, shape[1] - 1)) and layout[i, j] == 0:
            raise _fail(source, f"the maze is not enclosed by walls: cell ({i}, {j}) on its border (line "
                        f"{grid[i][0]}, column {j + 1}) is free.", "surround the maze with '#'")
    free = [tuple(c) for c in np.argwhere(layout == 0)]
    if len(free) < 2:
        raise _fail(source, f"the maze has {len(free)} free cell(s); it needs at least 2.")
    maze = Maze(layout)
    _check_connected(maze, free, source, grid)
    marks = _marks(grid, source)
    if marks and task_lines:
        raise _fail(source, "it marks tasks both with letters and with task lines.", "use one or the other")
    tasks = [_task_line(line, number, source, shape) for number, line in task_lines] or marks
    if len(tasks) > N_TASKS:
        raise _fail(source, f"it gives {len(tasks)} tasks; a maze has at most {N_TASKS} evaluation tasks.")
    for k, t in enumerate(tasks, 1):
        for what, (i, j) in (("start", t.init_ij), ("goal", t.goal_ij)):
            if layout[i, j] == 1:
                raise _fail(source, f"task {k}'s {what} cell ({i}, {j}) is a wall.", "put it on a free cell ('.')")
        if t.init_ij == t.goal_ij:
            raise _fail(source, f"task {k}'s start and goal are the same cell {t.init_ij}.")
    marked = bool(tasks)
    if len(tasks) < N_TASKS:  # fewer marked than five: the rest are chosen, far from the marked ones
        tasks = list(tasks) + list(far_apart_tasks(maze, N_TASKS - len(tasks), avoid=tuple(tasks)))
    return MazeFile(name, layout, tuple(tasks), marked)


def _check_connected(maze: Maze, free: list, source: str, grid: list) -> None:
    reach = maze.bfs(free[0]) >= 0
    apart = [c for c in free if not reach[c]]
    if apart:
        components, seen = 1, reach.copy()
        for c in apart:
            if not seen[c]:
                components += 1
                seen |= maze.bfs(c) >= 0
        i, j = apart[0]
        raise _fail(source, f"its free cells are not connected: {components} separate areas (cell ({i}, {j}), line "
                    f"{grid[i][0]}, column {j + 1}, cannot be reached from cell {free[0]}).",
                    "open a passage between the areas, or wall off the unreachable cells")


def _marks(grid: list, source: str) -> list[Task]:
    starts: dict[int, tuple[int, int]] = {}
    goals: dict[int, tuple[int, int]] = {}
    for i, (number, line) in enumerate(grid):
        for j, ch in enumerate(line):
            for letters, table in ((STARTS, starts), (GOALS, goals)):
                if ch in letters:
                    k = letters.index(ch) + 1
                    if k in table:
                        raise _fail(source, f"{ch!r} marks two cells ({table[k]} and {(i, j)}, line {number}).",
                                    "mark each task's start and goal once")
                    table[k] = (i, j)
    for k in sorted(set(starts) | set(goals)):
        if k not in starts or k not in goals:
            has, lacks = ("start", "goal") if k in starts else ("goal", "start")
            letter = (GOALS if lacks == "goal" else STARTS)[k - 1]
            raise _fail(source, f"task {k} has a {has} but no {lacks}.", f"mark its {lacks} with {letter!r}")
    if sorted(starts) != list(range(1, len(starts) + 1)):
        raise _fail(source, f"tasks are numbered {sorted(starts)}; they must be 1..{len(starts)} (A, B, ...).")
    return [Task(starts[k], goals[k]) for k in sorted(starts)]


def read_maze_file(path: str | Path) -> MazeFile:
    """Read and check a maze file; its name (the dataset's and environment's) is the file's stem."""
    from ethogram.io import read_regular

    path = Path(path)
    raw = read_regular(path, "maze file", MAX_BYTES, "give the path of a text file drawn as in docs/mazes.md")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as e:
        raise _fail(str(path), f"it is not UTF-8 text (byte {e.start}).") from None
    name = path.stem.replace("-", "_")
    if name in MAZES:
        raise _fail(str(path), f"its name '{name}' is a published maze's: a custom maze must never be taken for one.",
                    f"rename the file, e.g. my_{name}.txt")
    if not name or not all(c.isalnum() or c == "_" for c in name):
        raise _fail(str(path), f"its name '{path.stem}' must be letters, digits, '-' and '_' (it names the dataset).",
                    "rename the file")
    return parse_maze(text, str(path), name)


# ---------------------------------------------------------------------------------------- choosing tasks

def far_apart_tasks(maze: Maze, n: int = N_TASKS, avoid: tuple = ()) -> tuple[Task, ...]:
    """`n` evaluation tasks, chosen deterministically: each the pair of free cells with the longest shortest path
    plus a bonus for endpoints far from those already used (the endpoints of `avoid` count as used, and its tasks
    are never chosen again). Ties go to the first pair in row-major order. Where fewer distinct pairs exist than
    asked, pairs repeat in order."""
    free = [tuple(c) for c in maze.free_cells()]
    index = {c: k for k, c in enumerate(free)}
    rows, cols = (np.array(v) for v in zip(*free, strict=True))
    dist = np.stack([maze.bfs(c)[rows, cols] for c in free]).astype(np.float64)  # (F, F) shortest path lengths
    allowed = ~np.eye(len(free), dtype=bool)
    used = [index[tuple(e)] for t in avoid for e in (t.init_ij, t.goal_ij) if tuple(e) in index]
    for t in avoid:
        if tuple(t.init_ij) in index and tuple(t.goal_ij) in index:
            a, b = index[tuple(t.init_ij)], index[tuple(t.goal_ij)]
            allowed[a, b] = allowed[b, a] = False
    chosen: list[Task] = []
    distinct = 0
    while len(chosen) < n:
        if not allowed.any():  # every pair is taken: repeat the chosen ones in order
            chosen.append(chosen[(len(chosen) - distinct) % distinct] if distinct else Task(free[0], free[-1]))
            continue
        # spread(a, b) = min over used cells u of min(d(u, a), d(u, b)) = min(m[a], m[b]) with m = min_u d(u, .)
        m = dist[used].min(axis=0) if used else np.zeros(len(free))
        score = np.where(allowed, dist + SPREAD * np.minimum(m[:, None], m[None, :]), -np.inf)
        a, b = np.unravel_index(int(np.argmax(score)), score.shape)  # the first maximum in row-major order
        chosen.append(Task(free[a], free[b]))
        distinct += 1
        allowed[a, b] = allowed[b, a] = False
        used.extend((a, b))
    return tuple(chosen)
