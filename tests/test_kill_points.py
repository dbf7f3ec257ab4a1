"""Fault injection: the process is SIGKILLed at each successive rename, fsync and unlink of collect, train and eval.

strace stops the command at the N-th of those system calls (`-e inject=...:signal=SIGKILL:when=N`): a rename is
where a file or a set changes, an fsync is where a staged file is complete, an unlink is where a journal or a
replaced file goes. After each kill the harness checks that what a reader sees is the old set or the new one (or
an unfinished commit it is told how to repair), that the next command repairs what is left, and that its result
is bit-exact with an uninterrupted command. The fast suite tries a few renames of each command; `-m slow` tries
every kill point.
"""

from __future__ import annotations

import csv
import io
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from ethogram.errors import EthogramError
from ethogram.io import pending, verify

STRACE = shutil.which("strace")
pytestmark = pytest.mark.skipif(STRACE is None, reason="strace is not installed (apt install strace)")
SYSCALLS = "rename,renameat,renameat2,fsync,fdatasync,unlink,unlinkat"
NAME = "pointmaze-medium-navigate-v0"
TINY = ["--set", "batch_size=32", "--set", "actor_hidden_dims=16"]


def env() -> dict:
    e = {k: v for k, v in os.environ.items() if not k.startswith("JAX_COMPILATION_CACHE")}
    e["JAX_PLATFORMS"] = "cpu"
    return e


KILLED = (-9, 128 + 9)  # the process itself, or strace reporting it


def ethogram(argv: list[str], cwd: Path, kill_at: tuple[str, int] | None = None, count: Path | None = None):
    """Run `ethogram argv`; `count`: under strace, logging the traced calls; `kill_at` = (syscall, N): SIGKILLed on
    entering the N-th call of that syscall (strace counts each syscall separately)."""
    cmd = [sys.executable, "-m", "ethogram.cli", *argv]
    if kill_at is not None or count is not None:
        trace = [STRACE, "-f", "-qq", "-e", f"trace={SYSCALLS}", "-o", str(count or os.devnull)]
        if kill_at is not None:
            trace += ["-e", f"inject={kill_at[0]}:signal=SIGKILL:when={kill_at[1]}"]
        cmd = trace + cmd
    return subprocess.run(cmd, cwd=cwd, env=env(), capture_output=True, text=True, timeout=300)


CALL = re.compile(r"^\d+\s+(\w+)\(")


def kill_points(argv: list[str], cwd: Path, tmp: Path) -> list[tuple[str, int]]:
    """Every (syscall, N) the command makes among SYSCALLS, in a complete run in a copy of `cwd`."""
    work = tmp / "count"
    shutil.copytree(cwd, work, symlinks=True)
    log = tmp / "strace.txt"
    assert ethogram(argv, work, count=log).returncode == 0
    counts: dict[str, int] = {}
    for line in log.read_text().splitlines():
        m = CALL.match(line)
        if m and m.group(1) in SYSCALLS.split(","):
            counts[m.group(1)] = counts.get(m.group(1), 0) + 1
    shutil.rmtree(work)
    return [(name, k) for name, n in sorted(counts.items()) for k in range(1, n + 1)]


@pytest.fixture(params=["fast", pytest.param("all", marks=pytest.mark.slow)])
def mode(request) -> str:
    return request.param


def chosen(points: list, mode: str, at_most: int) -> list:
    """Every kill point in the slow suite; in the fast one, at most `at_most` renames, evenly spread (a rename is
    where a file or a set changes)."""
    if mode == "all":
        return points
    renames = [p for p in points if p[0].startswith("rename")]
    idx = np.unique(np.linspace(0, len(renames) - 1, min(at_most, len(renames))).round().astype(int))
    return [renames[i] for i in idx]


def tree(d: Path) -> dict[str, bytes]:
    return {str(p.relative_to(d)): p.read_bytes() for p in sorted(d.rglob("*")) if p.is_file()}


def without_timing(text: str) -> list[dict]:
    return [{k: v for k, v in r.items() if k not in ("wall_s", "steps_per_s")}
            for r in csv.DictReader(io.StringIO(text))]


# ------------------------------------------------------------------------------------------------- collect

def collect_argv(seed: int) -> list[str]:
    return ["collect", "pointmaze-medium-navigate", "--episodes", "10", "--episode-steps", "51", "--seed", str(seed),
            "--out", f"d/{NAME}.npz", "--force", "--quiet"]


def test_kill_at_every_write_of_collect(tmp_path, mode):
    """collect --force over an older collection: after a kill the files are the old collection or the new one
    (or an unfinished commit that readers refuse, naming the repair); the next collect ends with the bytes of an
    uninterrupted one."""
    from ethogram.data.dataset import read_npz

    base = tmp_path / "base"
    base.mkdir()
    assert ethogram(collect_argv(0), base).returncode == 0
    old = tree(base / "d")
    ref = tmp_path / "ref"
    shutil.copytree(base, ref)
    assert ethogram(collect_argv(1), ref).returncode == 0
    new = tree(ref / "d")
    assert new != old
    n = kill_points(collect_argv(1), base, tmp_path)
    assert len(n) >= 6
    for k in chosen(n, mode, 3):
        ws = tmp_path / f"k{k[0]}{k[1]}"
        shutil.copytree(base, ws)
        r = ethogram(collect_argv(1), ws, kill_at=k)
        assert r.returncode in KILLED, (k, r.returncode, r.stderr[-500:])
        d = ws / "d"
        visible = {name: data for name, data in tree(d).items() if not name.startswith(".")}
        try:
            arrays = read_npz(d / f"{NAME}.npz")
            verify(d / f"{NAME}.json", "repair")
            assert visible in (old, new), f"kill point {k}: a mixture was accepted"
            assert arrays["observations"].shape[1] == 2
        except EthogramError as e:
            assert pending(d), f"kill point {k}: refused without anything to repair: {e}"
            assert "repair" in str(e)
        r = ethogram(collect_argv(1), ws)  # the next command repairs, then writes
        assert r.returncode == 0, r.stderr
        assert tree(d) == new, f"kill point {k}: the next collect is not the uninterrupted one"
    print(f"collect ({mode}): {len(chosen(n, mode, 3))} of {len(n)} kill points tried")


# --------------------------------------------------------------------------------------------------- train

@pytest.fixture(scope="module")
def prepared(tmp_path_factory, navigate_small):
    """A prepared (not yet trained) run: 200 steps, a checkpoint every 100."""
    from ethogram.config import TrainConfig, parse_set_args
    from ethogram.rundir import prepare_run

    base = tmp_path_factory.mktemp("prepared")
    shutil.copy(navigate_small, base / f"{NAME}.npz")
    tc = TrainConfig(steps=200, fuse=100, log_every=100, save_every=100, eval_every=0, eval_episodes=1)
    prepare_run("gcbc", base / f"{NAME}.npz", base / "run", tc, parse_set_args([s for s in TINY if s != "--set"]))
    ref = tmp_path_factory.mktemp("prepared_ref")
    shutil.copytree(base, ref / "w")
    assert ethogram(["train", "--resume", "run", "--quiet"], ref / "w").returncode == 0
    return base, ref / "w"


def test_kill_at_every_write_of_train(prepared, tmp_path, mode):
    """train, killed at each write; then `train --resume` repairs and continues: the final checkpoint is
    byte-identical and metrics.csv equal (less its clock) to the uninterrupted run's."""
    from ethogram import rundir

    base, ref = prepared
    want_ckpt = (ref / "run" / "checkpoint.safetensors").read_bytes()
    want_metrics = without_timing((ref / "run" / "metrics.csv").read_text())
    argv = ["train", "--resume", "run", "--quiet"]
    n = kill_points(argv, base, tmp_path)
    assert len(n) >= 10
    for k in chosen(n, mode, 2):
        ws = tmp_path / f"k{k[0]}{k[1]}"
        shutil.copytree(base, ws)
        r = ethogram(argv, ws, kill_at=k)
        assert r.returncode in KILLED, (k, r.returncode, r.stderr[-500:])
        run = ws / "run"
        try:  # what a reader sees: a whole checkpoint pair, or an unfinished commit it is told how to repair
            step = rundir.checkpoint_step(run)
            if step:
                loaded = rundir.load(run)
                rundir.restore(run, *loaded)
        except EthogramError as e:
            assert pending(run) and "repair" in str(e), f"kill point {k}: {e}"
        r = ethogram(argv, ws)
        assert r.returncode == 0, (k, r.stderr[-800:])
        assert (run / "checkpoint.safetensors").read_bytes() == want_ckpt, f"kill point {k}: checkpoint differs"
        assert without_timing((run / "metrics.csv").read_text()) == want_metrics, f"kill point {k}: metrics"
        assert not pending(run) and not (run / ".lock").exists()
    print(f"train ({mode}): {len(chosen(n, mode, 2))} of {len(n)} kill points tried")


# ---------------------------------------------------------------------------------------------------- eval

@pytest.mark.slow  # eval's writes are FileSet pairs like train's, which the fast suite kills; all of them here
def test_kill_at_every_write_of_eval(prepared, tmp_path, mode):
    """eval over an earlier evaluation: eval.json and rollouts.png are always a pair (the old or the new one);
    the next eval repairs and writes the same record as an uninterrupted one."""
    _, ref = prepared
    base = tmp_path / "base"
    shutil.copytree(ref, base)
    assert ethogram(["eval", "run", "--episodes", "1", "--quiet"], base).returncode == 0
    old = tree(base / "run")
    argv = ["eval", "run", "--episodes", "2", "--seed", "5", "--quiet"]
    done = tmp_path / "done"
    shutil.copytree(base, done)
    assert ethogram(argv, done).returncode == 0

    def record(run: Path) -> dict:
        import json

        ev = json.loads((run / "eval.json").read_text())
        return {k: v for k, v in ev.items() if k not in ("seconds", "files")}

    want = record(done / "run")
    n = kill_points(argv, base, tmp_path)
    assert len(n) >= 5
    for k in chosen(n, mode, 2):
        ws = tmp_path / f"k{k[0]}{k[1]}"
        shutil.copytree(base, ws)
        r = ethogram(argv, ws, kill_at=k)
        assert r.returncode in KILLED, (k, r.returncode, r.stderr[-500:])
        run = ws / "run"
        try:
            verify(run / "eval.json", "repair")
            ev = record(run)
            assert ev == record(base / "run") or ev == want
            if ev == record(base / "run"):
                assert {p: b for p, b in tree(run).items() if not p.startswith(".")} == old
        except EthogramError as e:
            assert pending(run), f"kill point {k}: {e}"
        r = ethogram(argv, ws)
        assert r.returncode == 0, (k, r.stderr[-800:])
        verify(run / "eval.json", "repair")
        assert record(run) == want
        assert not pending(run)
    print(f"eval ({mode}): {len(chosen(n, mode, 2))} of {len(n)} kill points tried")
