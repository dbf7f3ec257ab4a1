"""Documentation that runs: every code block of README.md and docs/*.md is executed, at a tiny size.

What is run. Every fenced block labelled ```bash, ```sh or ```python. Blocks labelled with a language that is
shown, never run (```text, ```console, ```json, ...: output, file layouts) are skipped, and so is a block right
after the HTML comment `<!-- doc-test: skip REASON -->`, which must give its reason. A block without a language
fails `test_fences_say_their_language`: whether a block runs is always said in the document.

How. The blocks of one file run in order, in one temporary working directory (later blocks use what earlier ones
wrote: a dataset, a trained run), so a file is one test, named after it; a failure names the file, the line of the
block and the command. Shell lines are split like a shell does (`\\` continuations, `#` comments, `&&`, `*`
patterns) and
  - `ethogram ...` runs in this process through `ethogram.cli.main(argv)` (no Python and JAX start per line) and
    must exit 0;
  - `python ...` and a few file commands (`cmp`, `ls`, `cat`, ...) run as subprocesses in the directory;
  - SKIPPED_COMMANDS are skipped, each with its reason: setting up the environment, running this very suite, and
    `make demo` (the demo has its own tiny-size test in tests/test_cli_e2e.py);
  - anything else fails: a new kind of command is added here on purpose, not run by accident.
Python blocks are exec'd in one namespace per file (so later blocks see earlier names), with the temporary
directory as the working directory.

Sizes. Commands are written for a user at full size; only here are they made tiny, by rewriting the text:
  ethogram collect     --episodes N -> 10 (added when absent: the defaults are 500-5000 episodes; 10 leave one
                       episode for the -val file)
  ethogram train       --steps N -> 40 (added when absent: the default is 1M; with --resume -> 80, so that it still
                       extends the run), --eval-every N>0 -> 20 and --eval-episodes 4 (added), --save-every -> 20;
                       --set *_hidden_dims=... -> 32,32 and batch_size=... -> 32, both added when absent
  ethogram eval        --episodes N -> 4 (added when absent, default 50), --plan-bank N -> 200
  ethogram search      --steps N -> 40 (added), --nodes N -> 30 (added)
  ethogram reproduce   --agents, --datasets, --seeds -> their first entry (the grid's size), --steps -> 40,
                       --nets -> 32x2, --batch -> 32, --eval-every -> 20, --eval-episodes -> 4,
                       --dataset-episodes -> 4 (each added when absent)
  ethogram demo        --episodes 4 --steps 40 (added)
  python               steps=N -> 40, episodes=N -> 4, batch_size=N -> 32, *hidden_dims=(...) -> (32, 32),
                       plan_bank=N -> 200 (keyword arguments in the code's text)
Rollout videos (report.html, written by every `ethogram eval`) are rendered only for docs/report.md; elsewhere
ETHOGRAM_REPORT_VIDEO=0 leaves them out, since each takes seconds to render.
What a block computes at this size is meaningless; that it runs, with the files and names the document says, is
what is checked. Compiled XLA programs go to the suite's persistent cache (conftest.py), so the same tiny networks
in several files compile once.

`test_relative_links_exist` checks that every relative link and picture of these files names an existing file.
"""

from __future__ import annotations

import contextlib
import io
import os
import re
import shlex
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DOC_FILES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
RUN = {"bash": "shell", "sh": "shell", "shell": "shell", "python": "python", "py": "python"}
SHOWN = {"text", "console", "output", "json", "csv", "markdown", "md", "toml", "yaml", "diff"}
SKIP_MARK = re.compile(r"^\s*<!--\s*doc-test:\s*skip\b(?P<reason>.*?)-->\s*$")
FENCE = re.compile(r"^(?P<indent>\s*)```(?P<info>[^`]*)$")

# Shell commands that set up the environment or run this suite: skipped (the doc test runs inside it).
SKIPPED_COMMANDS = {
    ("source",): "activates the virtual environment the suite already runs in",
    ("make", "demo"): "the demo has its own test, at a tiny size (tests/test_cli_e2e.py: test_demo)",
    ("make", "test"): "runs the test suite this test is part of",
    ("make", "test-all"): "runs the test suite this test is part of",
    ("make", "lint"): "ruff, run by CI on its own",
    ("make", "bench"): "a benchmark, minutes long by design",
    ("pip",): "installs packages",
    ("python", "-m", "pip"): "installs packages",
}
# Pages whose commands a fast test already runs end to end: run by `make test-all` only (the fast suite's budget).
SLOW_DOCS = {"reproduce.md": "tests/test_reproduce.py", "sweep.md": "tests/test_sweep.py",
             "prompts.md": "tests/test_hilp.py, tests/test_api.py", "api.md": "tests/test_api.py"}
VIDEO_DOCS = {"report.md"}  # the pages whose reports render rollout videos; elsewhere ETHOGRAM_REPORT_VIDEO=0
FILE_COMMANDS = {"cmp", "diff", "ls", "cat", "head", "tail", "mkdir", "cp", "mv", "rm", "test", "du", "wc"}


# ------------------------------------------------------------------------------------------------ blocks

@dataclass(frozen=True)
class Block:
    path: Path
    line: int  # of the opening fence, 1-based
    lang: str  # "" when the fence names none
    code: str
    skip: str | None  # the reason given by <!-- doc-test: skip ... -->

    @property
    def kind(self) -> str | None:
        return RUN.get(self.lang)

    @property
    def where(self) -> str:
        return f"{self.path.relative_to(ROOT)}:{self.line}"


def blocks_of(path: Path) -> list[Block]:
    lines = path.read_text().splitlines()
    out, i = [], 0
    while i < len(lines):
        m = FENCE.match(lines[i])
        if not m:
            i += 1
            continue
        indent, info = len(m["indent"]), m["info"].strip()
        lang = info.split()[0].lower() if info else ""
        prev = next((x for x in reversed(lines[:i]) if x.strip()), "")
        skip = SKIP_MARK.match(prev)
        body, j = [], i + 1
        while j < len(lines) and not re.match(r"^\s*```\s*$", lines[j]):
            body.append(lines[j][indent:] if lines[j][:indent].strip() == "" else lines[j])
            j += 1
        out.append(Block(path, i + 1, lang, "\n".join(body) + "\n",
                         (skip["reason"].strip() or "(no reason given)") if skip else None))
        i = j + 1
    return out


def runnable(path: Path) -> list[Block]:
    return [b for b in blocks_of(path) if b.kind and not b.skip]


# ------------------------------------------------------------------------------------------------- sizes

TINY_NETS, TINY_BATCH, TINY_STEPS, TINY_EPISODES = "32,32", "32", 40, "4"


def _first(value: str) -> str:
    return value.split(",")[0]


def _set_values(args: list[str], fn) -> list[str]:
    out, it = [], iter(range(len(args)))
    for i in it:
        if args[i] == "--set" and i + 1 < len(args):
            out += ["--set", fn(args[i + 1])]
            next(it, None)
        else:
            out.append(args[i])
    return out


def _tiny_set(item: str) -> str:
    key, _, value = item.partition("=")
    if key.endswith("hidden_dims"):
        return f"{key}={TINY_NETS}"
    if key == "batch_size":
        return f"{key}={TINY_BATCH}"
    return item


# command -> {option: new value (a string, or a function of the old one)}, and the options added when absent
REWRITE = {
    "collect": ({"--episodes": "10"}, {"--episodes": "10"}),
    "train": ({"--steps": str(TINY_STEPS), "--eval-every": lambda v: "0" if v == "0" else "20", "--save-every": "20",
               "--eval-episodes": TINY_EPISODES}, {}),
    "eval": ({"--episodes": TINY_EPISODES, "--plan-bank": "200"}, {"--episodes": TINY_EPISODES}),
    "search": ({"--steps": str(TINY_STEPS), "--nodes": "30"}, {"--steps": str(TINY_STEPS), "--nodes": "30"}),
    "reproduce": ({"--agents": _first, "--datasets": _first, "--seeds": _first, "--steps": str(TINY_STEPS),
                   "--nets": "32x2", "--batch": TINY_BATCH, "--eval-every": "20", "--eval-episodes": TINY_EPISODES,
                   "--dataset-episodes": TINY_EPISODES},
                  {"--seeds": "0", "--steps": str(TINY_STEPS), "--nets": "32x2", "--batch": TINY_BATCH,
                   "--eval-every": "20", "--eval-episodes": TINY_EPISODES, "--dataset-episodes": TINY_EPISODES}),
    "demo": ({"--episodes": TINY_EPISODES, "--steps": str(TINY_STEPS)},
             {"--episodes": TINY_EPISODES, "--steps": str(TINY_STEPS)}),
}


def tiny_argv(argv: list[str]) -> list[str]:
    """An `ethogram` command line (without `ethogram`) at the doc test's size (the table in the module doc)."""
    if not argv or argv[0] not in REWRITE:
        return list(argv)
    command, args = argv[0], list(argv[1:])
    change, add = REWRITE[command]
    for i, a in enumerate(args[:-1]):
        if a in change:
            new = change[a]
            args[i + 1] = new(args[i + 1]) if callable(new) else new
    for option, value in add.items():
        if option not in args:
            args += [option, value]
    if command == "train":
        args = _set_values(args, _tiny_set)
        if "--resume" in args and "--steps" in args:  # extends the run: more than the 40 it was trained for
            args[args.index("--steps") + 1] = str(2 * TINY_STEPS)
        if "--eval-every" in args and args[args.index("--eval-every") + 1] != "0" and "--eval-episodes" not in args:
            args += ["--eval-episodes", TINY_EPISODES]  # periodic evaluations would run 50 episodes per task
        if "--resume" not in args:
            if "--steps" not in args:
                args += ["--steps", str(TINY_STEPS)]
            agent = next((a for a in args if not a.startswith("-")), None)
            given = {args[i + 1].partition("=")[0] for i, a in enumerate(args[:-1]) if a == "--set"}
            from ethogram.agents import AGENTS
            from ethogram.reproduce import net_fields

            if agent in AGENTS:
                for f in [*net_fields(agent), "batch_size"]:
                    if f not in given:
                        args += ["--set", _tiny_set(f"{f}=")]
    return [command, *args]


PY_SIZES = [
    (re.compile(r"\b(steps\s*=\s*)[\d_]+"), rf"\g<1>{TINY_STEPS}"),
    (re.compile(r"\b(episodes\s*=\s*)[\d_]+"), rf"\g<1>{TINY_EPISODES}"),
    (re.compile(r"\b(batch_size\s*=\s*)[\d_]+"), rf"\g<1>{TINY_BATCH}"),
    (re.compile(r"\b(plan_bank\s*=\s*)[\d_]+"), r"\g<1>200"),
    (re.compile(r"\b(\w*hidden_dims\s*=\s*)\([\d_,\s]+\)"), rf"\g<1>({TINY_NETS})"),
]


def tiny_python(code: str) -> str:
    for pattern, repl in PY_SIZES:
        code = pattern.sub(repl, code)
    return code


# ---------------------------------------------------------------------------------------------- running

def logical_lines(code: str) -> list[str]:
    out, cur = [], ""
    for line in code.splitlines():
        if line.rstrip().endswith("\\"):
            cur += line.rstrip()[:-1] + " "
            continue
        cur += line
        if cur.strip():
            out.append(cur)
        cur = ""
    return out + ([cur] if cur.strip() else [])


def commands_of(line: str) -> list[list[str]]:
    """A shell line's commands (split at `&&` and `;`), with `*` patterns expanded as the shell does."""
    import glob

    tokens = shlex.split(line, comments=True)
    commands, cur = [], []
    for t in tokens:
        if "*" in t and (matches := sorted(glob.glob(t))):
            cur += matches
            continue
        if t in ("&&", ";"):
            commands.append(cur)
            cur = []
        else:
            cur.append(t)
    return [c for c in [*commands, cur] if c]


def skipped(cmd: list[str]) -> str | None:
    name = [Path(cmd[0]).name if cmd[0].startswith(".venv/") else cmd[0], *cmd[1:]]
    for prefix, reason in SKIPPED_COMMANDS.items():
        if tuple(name[:len(prefix)]) == prefix:
            return reason
    return None


class DocRun:
    """Runs one file's blocks in order in `work`, recording what was run and skipped, and how long each took."""

    def __init__(self, work: Path):
        self.work, self.ns, self.log = work, {"__name__": "__doc__"}, []

    def note(self, where: str, text: str, what: str) -> None:
        self.log.append((where, text, what))
        print(f"  {where}  {what:>8}  {text[:110]}", flush=True)

    def ethogram(self, argv: list[str], where: str, text: str) -> None:
        from ethogram.cli import main

        argv = tiny_argv(argv)
        out, err = io.StringIO(), io.StringIO()
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            rc = main(argv)
        if rc != 0:
            crash = re.search(r"traceback is in (\S+?)(?: |\)|$)", err.getvalue())
            trace = Path(crash[1]).read_text() if crash and Path(crash[1]).exists() else ""
            pytest.fail(f"{where}: `{text}` (run as `ethogram {shlex.join(argv)}`) exited {rc}\n"
                        f"--- stdout\n{out.getvalue()[-3000:]}\n--- stderr\n{err.getvalue()[-3000:]}\n{trace}")

    def subprocess(self, cmd: list[str], where: str, text: str) -> None:
        env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}
        if cmd[0] in ("python", "python3") or cmd[0].endswith("/python"):
            cmd = [sys.executable, *cmd[1:]]
        res = subprocess.run(cmd, cwd=self.work, env=env, capture_output=True, text=True, timeout=600)
        if res.returncode != 0:
            pytest.fail(f"{where}: `{text}` exited {res.returncode}\n--- stdout\n{res.stdout[-3000:]}\n"
                        f"--- stderr\n{res.stderr[-3000:]}")

    def shell(self, block: Block) -> None:
        for n, line in enumerate(logical_lines(block.code)):
            where = f"{block.where} (line {n + 1} of the block)"
            for cmd in commands_of(line):
                text, t0 = shlex.join(cmd), time.perf_counter()
                env = {}
                while cmd and re.match(r"^[A-Za-z_][A-Za-z0-9_]*=", cmd[0]):  # VAR=value command
                    k, _, v = cmd.pop(0).partition("=")
                    env[k] = v
                if (reason := skipped(cmd)) is not None:
                    self.note(block.where, text, f"skipped: {reason}")
                    continue
                old = {k: os.environ.get(k) for k in env}
                os.environ.update(env)
                try:
                    if cmd[0] in ("ethogram", ".venv/bin/ethogram"):
                        self.ethogram(cmd[1:], where, text)
                    elif cmd[0] in ("python", "python3") or cmd[0].endswith("/python") or cmd[0] in FILE_COMMANDS:
                        self.subprocess(cmd, where, text)
                    else:
                        pytest.fail(f"{where}: the doc test does not know how to run `{text}`: add the command "
                                    "to tests/test_docs.py (run, or skip with a reason), or mark the block "
                                    "<!-- doc-test: skip REASON -->")
                finally:
                    for k, v in old.items():
                        os.environ.pop(k) if v is None else os.environ.__setitem__(k, v)
                self.note(block.where, text, f"{time.perf_counter() - t0:.1f} s")

    def python(self, block: Block) -> None:
        t0 = time.perf_counter()
        code = compile(tiny_python(block.code), block.where, "exec")
        try:
            exec(code, self.ns)  # noqa: S102 (the project's own documentation)
        except Exception as e:
            import traceback

            pytest.fail(f"{block.where}: the python block raised {type(e).__name__}: {e}\n"
                        f"{traceback.format_exc()[-4000:]}")
        self.note(block.where, "python block", f"{time.perf_counter() - t0:.1f} s")


# ------------------------------------------------------------------------------------------------- tests

def _doc_id(path: Path) -> str:
    return str(path.relative_to(ROOT))


@pytest.mark.parametrize("path", [pytest.param(p, marks=pytest.mark.slow) if p.name in SLOW_DOCS else p
                                  for p in DOC_FILES if runnable(p)], ids=_doc_id)
def test_doc_runs(path, tmp_path, monkeypatch):
    """The file's bash and python blocks, in order, in one directory, at the tiny size."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("MUJOCO_GL", os.environ.get("MUJOCO_GL", "egl"))
    if path.name not in VIDEO_DOCS:  # every `ethogram eval` writes report.html; its video takes seconds to render
        monkeypatch.setenv("ETHOGRAM_REPORT_VIDEO", "0")
    # Minari's local storage of a page that names none is the test's own, never the user's ~/.minari
    monkeypatch.setenv("MINARI_DATASETS_PATH", str(tmp_path / "minari-storage"))
    run = DocRun(tmp_path)
    print(f"\n{_doc_id(path)}:")
    t0 = time.perf_counter()
    environ = dict(os.environ)
    try:
        for block in runnable(path):
            (run.shell if block.kind == "shell" else run.python)(block)
    finally:  # a python block that sets a variable (os.environ[...] = ...) sets it for its page only
        os.environ.clear()
        os.environ.update(environ)
    print(f"{_doc_id(path)}: {time.perf_counter() - t0:.1f} s in all")


def test_fences_say_their_language():
    """Every fenced block says whether it runs: a language that is run, or one that is only shown."""
    bad = [f"{b.where} (```{b.lang})" for p in DOC_FILES for b in blocks_of(p)
           if b.lang not in RUN and b.lang not in SHOWN]
    assert not bad, "fenced blocks without a known language (use ```bash, ```python, or ```text for output): " + \
        ", ".join(bad)


LINK = re.compile(r"!?\[[^\]]*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")


def anchors(path: Path) -> set[str]:
    """The anchors GitHub gives a Markdown file's headings: lower case, punctuation dropped, spaces as '-',
    repeats numbered."""
    seen: dict[str, int] = {}
    text = re.sub(r"```.*?```", "", path.read_text(), flags=re.S)
    for heading in re.findall(r"^#{1,6}\s+(.*?)\s*#*\s*$", text, flags=re.M):
        slug = re.sub(r"[^\w\- ]", "", heading.lower()).replace(" ", "-")
        seen[slug] = seen.get(slug, -1) + 1
        if seen[slug]:
            seen[f"{slug}-{seen[slug]}"] = 0
    return set(seen)


def test_relative_links_exist():
    """Every relative link or picture in README.md and docs/*.md names a file (or folder) that exists, and a link
    to a heading of a Markdown file names one it has."""
    missing = []
    for path in DOC_FILES:
        text = re.sub(r"```.*?```", "", path.read_text(), flags=re.S)  # links inside code blocks are code
        for target in LINK.findall(text):
            if re.match(r"^[a-z][a-z0-9+.-]*:", target):
                continue  # a URL or a mail address
            file, _, anchor = target.partition("#")
            dest = path.parent / file if file else path
            if not dest.exists():
                missing.append(f"{_doc_id(path)}: {target}")
            elif anchor and dest.suffix == ".md" and anchor not in anchors(dest):
                missing.append(f"{_doc_id(path)}: {target} (no such heading)")
    assert not missing, "links to files or headings that do not exist: " + ", ".join(missing)


def test_tiny_sizes_rewrite_only_sizes():
    """The rewriting of sizes (module doc) keeps every name and path, and makes each size tiny."""
    argv = shlex.split("train gcivl --dataset data/x.npz --out runs/a --steps 100000 --set batch_size=512 "
                       "--set actor_hidden_dims=256,256,256 --set lr=2e-3 --eval-every 10000")
    assert tiny_argv(argv) == ["train", "gcivl", "--dataset", "data/x.npz", "--out", "runs/a", "--steps", "40",
                               "--set", "batch_size=32", "--set", "actor_hidden_dims=32,32", "--set", "lr=2e-3",
                               "--eval-every", "20", "--eval-episodes", "4", "--set", "value_hidden_dims=32,32"]
    assert tiny_argv(["train", "--resume", "runs/a", "--steps", "200000"]) == ["train", "--resume", "runs/a",
                                                                              "--steps", "80"]
    assert tiny_argv(["eval", "runs/a", "--prompt", "reward:all"]) == ["eval", "runs/a", "--prompt", "reward:all",
                                                                      "--episodes", "4"]
    assert tiny_argv(["collect", "avoiding"]) == ["collect", "avoiding", "--episodes", "10"]
    assert tiny_argv(["summarize", "runs/a", "--json", "r.json"]) == ["summarize", "runs/a", "--json", "r.json"]
    assert tiny_python("TrainConfig(steps=20_000), gcivl.Config(actor_hidden_dims=(256, 256), batch_size=512)") \
        == "TrainConfig(steps=40), gcivl.Config(actor_hidden_dims=(32,32), batch_size=32)"
    assert commands_of("ethogram eval r && ethogram eval r --set a=1  # note") == [
        ["ethogram", "eval", "r"], ["ethogram", "eval", "r", "--set", "a=1"]]


def test_generated_results_tables_match_their_records():
    """Every marked table of docs/results.md is the rendering of its records in docs/results/*.json
    (scripts/results_tables.py), so a table never says what its records do not."""
    res = subprocess.run([sys.executable, str(ROOT / "scripts" / "results_tables.py"), "--check"],
                         capture_output=True, text=True, timeout=120)
    assert res.returncode == 0, res.stdout + res.stderr
    assert "<!-- results-table:" in (ROOT / "docs" / "results.md").read_text()


def test_a_hand_edited_number_in_a_generated_table_is_caught(tmp_path):
    """The named tables (HILP, search, BESO) are generated too: changing one number by hand fails the check."""
    import shutil

    text = (ROOT / "docs" / "results.md").read_text()
    for name in ("hilp-goals", "search", "beso-settings"):
        assert f"<!-- results-table:{name} -->" in text
    shutil.copytree(ROOT / "docs" / "results", tmp_path / "results")
    start = text.index("<!-- results-table:hilp-goals -->")
    row = text.index("| pointmaze-medium-navigate |", start)
    end = text.index("\n", row)
    cells = text[row:end].split(" | ")
    cells[1] = "9.99 ± 0.00"  # the HILP (goal) cell, a number no record holds
    edited = text[:row] + " | ".join(cells) + text[end:]
    assert edited != text
    (tmp_path / "results.md").write_text(edited)
    script = [sys.executable, str(ROOT / "scripts" / "results_tables.py"), "--doc", str(tmp_path / "results.md")]
    assert subprocess.run([*script, "--check"], capture_output=True, timeout=120).returncode == 1
    assert subprocess.run(script, capture_output=True, timeout=120).returncode == 0
    assert (tmp_path / "results.md").read_text() == text
