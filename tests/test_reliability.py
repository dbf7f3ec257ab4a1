"""Crash-consistent sets, locks, resume checks, disk full and the last line of defence."""

from __future__ import annotations

import json
import os
import resource
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest
from helpers import NAVIGATE

from ethogram import rundir
from ethogram.cli import BUG_EXIT, main
from ethogram.errors import EthogramError
from ethogram.io import FileSet, Lock, pending, recover, verify

TINY = ["--set", "batch_size=16", "--set", "actor_hidden_dims=8", "--eval-every", "0", "--quiet"]


def train_run(dataset, out, steps=100, *extra) -> Path:
    assert main(["train", "gcbc", "--dataset", str(dataset), "--out", str(out), "--steps", str(steps),
                 "--fuse", "50", "--save-every", "50", *TINY, *extra]) == 0
    return out


# ---------------------------------------------------------------------------------------------- FileSet

def test_a_set_is_committed_whole_with_a_manifest_naming_each_member(tmp_path):
    with FileSet(tmp_path / "m.json") as fs:
        fs.write(tmp_path / "a.bin", b"A")
        fs.write(tmp_path / "b.bin", b"B")
        fs.commit({"x": 1})
    record = json.loads((tmp_path / "m.json").read_text())
    assert record["x"] == 1 and set(record["files"]) == {"a.bin", "b.bin"}
    verify(tmp_path / "m.json", "repair")
    assert not pending(tmp_path)


def test_a_set_left_by_an_exception_changes_nothing(tmp_path):
    (tmp_path / "a.bin").write_bytes(b"old")
    with pytest.raises(RuntimeError), FileSet(tmp_path / "m.json") as fs:
        fs.write(tmp_path / "a.bin", b"new")
        raise RuntimeError("boom")
    assert (tmp_path / "a.bin").read_bytes() == b"old"
    assert not (tmp_path / "m.json").exists() and not pending(tmp_path)


def test_an_interrupted_commit_is_detected_then_completed_by_recover(tmp_path):
    with FileSet(tmp_path / "m.json") as fs:
        fs.write(tmp_path / "a.bin", b"old")
        fs.commit({"v": 1})
    # the state a kill leaves right after the journal is written: staged files and the journal, nothing renamed
    import ethogram.io as eio

    replay = eio._replay
    eio._replay = lambda *a: None
    try:
        with FileSet(tmp_path / "m.json") as fs:
            fs.write(tmp_path / "a.bin", b"new")
            fs.commit({"v": 2})
    finally:
        eio._replay = replay
    assert (tmp_path / "a.bin").read_bytes() == b"old"
    with pytest.raises(EthogramError, match="interrupted"):
        verify(tmp_path / "m.json", "run: ethogram repair DIR")
    assert recover(tmp_path)
    assert (tmp_path / "a.bin").read_bytes() == b"new" and json.loads((tmp_path / "m.json").read_text())["v"] == 2
    verify(tmp_path / "m.json", "repair")
    assert not pending(tmp_path)


def test_a_member_from_another_write_is_called_a_mixture(tmp_path):
    with FileSet(tmp_path / "m.json") as fs:
        fs.write(tmp_path / "a.bin", b"A")
        fs.commit({})
    (tmp_path / "a.bin").write_bytes(b"other")
    with pytest.raises(EthogramError, match="mixture"):
        verify(tmp_path / "m.json", "repair")


def test_stale_temporary_files_are_deleted_by_the_next_command(tmp_path, navigate_small):
    run = train_run(navigate_small, tmp_path / "run")
    stale = run / ".checkpoint.safetensors.abcd1234.ethogram-tmp"
    stale.write_bytes(b"half a checkpoint")
    assert main(["eval", str(run), "--episodes", "1", "--quiet"]) == 0
    assert not stale.exists() and not pending(run)


def test_repair_command_completes_an_interrupted_checkpoint(tmp_path, navigate_small, capsys):
    run = train_run(navigate_small, tmp_path / "run")
    journal = run / ".checkpoint.json.ethogram-commit"
    journal.write_text(json.dumps({"renames": [], "remove": []}))
    assert main(["summarize", str(run)]) == 2 or True  # summarize reads eval.json only
    assert main(["eval", str(tmp_path / "missing")]) == 2
    capsys.readouterr()
    with pytest.raises(EthogramError, match="ethogram repair"):
        rundir.checkpoint_step(run)
    assert main(["repair", str(run)]) == 0
    assert "completed the interrupted write" in capsys.readouterr().out
    assert rundir.checkpoint_step(run) == 100


# ------------------------------------------------------------------------------------------------- locks

def test_a_second_writer_of_a_run_directory_is_refused(tmp_path, navigate_small, capsys):
    run = train_run(navigate_small, tmp_path / "run")
    code = """
import sys, time
from ethogram.io import Lock
with Lock(sys.argv[1], "run"):
    print("held", flush=True)
    time.sleep(60)
"""
    holder = subprocess.Popen([sys.executable, "-c", code, str(run / ".lock")], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        capsys.readouterr()
        assert main(["train", "--resume", str(run), "--steps", "150", "--quiet"]) == 2
        err = capsys.readouterr().err
        assert "in use by another ethogram process" in err and f"pid {holder.pid}" in err
        assert main(["eval", str(run), "--episodes", "1", "--quiet"]) == 2
        assert rundir.checkpoint_step(run) == 100
        capsys.readouterr()
    finally:
        holder.kill()
        holder.wait()
    # the owner is gone: its lock is taken over, with a message
    assert main(["train", "--resume", str(run), "--steps", "150", "--quiet"]) == 0
    out = capsys.readouterr()
    assert "took over the lock" in out.out + out.err
    assert not (run / ".lock").exists()


def test_two_trainings_into_one_directory_at_once(tmp_path, navigate_small):
    """Started together: one trains, the other is refused (never two interleaved metrics files)."""
    out = tmp_path / "run"
    argv = [sys.executable, "-m", "ethogram.cli", "train", "gcbc", "--dataset", str(navigate_small), "--out",
            str(out), "--steps", "400", "--fuse", "50", *TINY, "--force"]
    procs = [subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for _ in range(2)]
    results = [(p.wait(), p.stderr.read()) for p in procs]
    codes = sorted(c for c, _ in results)
    assert codes[0] == 0, results
    if codes[1] != 0:
        assert any("in use by another ethogram process" in e or "not empty" in e for _, e in results)
    steps = [int(r.split(",")[0]) for r in (out / "metrics.csv").read_text().splitlines()[1:]]
    assert steps == sorted(set(steps)) and steps[-1] == 400


def test_the_lock_is_reentrant_within_a_process(tmp_path):
    with Lock(tmp_path / ".lock", "x"), Lock(tmp_path / ".lock", "x"):
        assert (tmp_path / ".lock").exists()
    assert not (tmp_path / ".lock").exists()


# ------------------------------------------------------------------------------------------------ resume

def test_resume_steps_extends_a_finished_run(tmp_path, navigate_small):
    run = train_run(navigate_small, tmp_path / "run")
    assert main(["train", "--resume", str(run), "--steps", "200", "--quiet"]) == 0
    assert rundir.checkpoint_step(run) == 200
    assert json.loads((run / "config.json").read_text())["train_config"]["steps"] == 200
    whole = train_run(navigate_small, tmp_path / "whole", 200)
    # the extended run is the uninterrupted 200-step run
    assert (run / "checkpoint.safetensors").read_bytes() == (whole / "checkpoint.safetensors").read_bytes()


def test_resume_refuses_a_dataset_collected_again_unless_forced(tmp_path, capsys):
    from helpers import collect_small

    data = tmp_path / f"{NAVIGATE}-v0.npz"
    collect_small(NAVIGATE, data, episodes=5, episode_steps=51)
    run = train_run(data, tmp_path / "run", 100)
    collect_small(NAVIGATE, data, episodes=5, episode_steps=51, seed=1, force=True)
    capsys.readouterr()
    assert main(["train", "--resume", str(run), "--steps", "150", "--quiet"]) == 2
    assert "not the one the run started with" in capsys.readouterr().err
    assert rundir.checkpoint_step(run) == 100
    assert main(["train", "--resume", str(run), "--steps", "150", "--force", "--quiet"]) == 0
    assert rundir.checkpoint_step(run) == 150


# ---------------------------------------------------------------------------------------- disk full etc.

def _limited(argv: list[str], limit: int) -> subprocess.CompletedProcess:
    """The command with a file-size limit: writes beyond `limit` bytes fail with EFBIG (like a full disk)."""
    def pre():
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))

    env = {k: v for k, v in os.environ.items() if not k.startswith("JAX_COMPILATION_CACHE")}
    return subprocess.run([sys.executable, "-m", "ethogram.cli", *argv], preexec_fn=pre, capture_output=True,
                          text=True, env=env, timeout=300)


def test_disk_full_during_eval_keeps_the_previous_evaluation(tmp_path, navigate_small):
    run = train_run(navigate_small, tmp_path / "run")
    assert main(["eval", str(run), "--episodes", "1", "--quiet"]) == 0
    before = {p.name: p.read_bytes() for p in run.iterdir()}
    r = _limited(["eval", str(run), "--episodes", "2", "--seed", "3", "--quiet"], 20_000)  # the PNG is larger
    assert r.returncode == 2, r.stderr
    assert r.stderr.startswith("error: cannot write") and "Nothing was changed" in r.stderr
    assert "Traceback" not in r.stderr
    assert {p.name: p.read_bytes() for p in run.iterdir()} == before


def test_disk_full_during_collect_keeps_the_previous_collection(tmp_path):
    from helpers import collect_small

    data = tmp_path / f"{NAVIGATE}-v0.npz"
    collect_small(NAVIGATE, data, episodes=5, episode_steps=51)
    before = {p.name: p.read_bytes() for p in tmp_path.iterdir()}
    r = _limited(["collect", NAVIGATE, "--episodes", "40", "--episode-steps", "101", "--out", str(data), "--force",
                  "--quiet"], 30_000)
    assert r.returncode == 2 and "cannot write" in r.stderr, r.stderr
    assert {p.name: p.read_bytes() for p in tmp_path.iterdir()} == before


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into read-only directories")
def test_read_only_run_directory(tmp_path, navigate_small, capsys):
    run = train_run(navigate_small, tmp_path / "run")
    os.chmod(run, 0o555)
    try:
        assert main(["eval", str(run), "--episodes", "1", "--quiet"]) == 2
        assert "cannot" in capsys.readouterr().err
    finally:
        os.chmod(run, 0o755)


# ------------------------------------------------------------------------------------ hardened readers

def test_an_unused_member_that_inflates_to_400_mb_is_never_decompressed(tmp_path, navigate_small):
    path = tmp_path / f"{NAVIGATE}-v0.npz"
    shutil.copy(navigate_small, path)
    with zipfile.ZipFile(path, "a", zipfile.ZIP_DEFLATED) as zf:
        with zf.open("junk.npy", "w", force_zip64=True) as f:
            np.lib.format.write_array(f, np.zeros(50_000_000), allow_pickle=False)
    assert path.stat().st_size < 2_000_000

    def peak_kib(p) -> int:
        code = ("import resource, sys; from ethogram.data.dataset import read_npz; a = read_npz(sys.argv[1]); "
                "print(sorted(a)); print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)")
        r = subprocess.run([sys.executable, "-c", code, str(p)], capture_output=True, text=True, check=True)
        assert "junk" not in r.stdout.splitlines()[0]
        return int(r.stdout.splitlines()[1])

    extra = peak_kib(path) - peak_kib(navigate_small)
    assert extra < 100_000, f"reading the file took {extra / 1024:.0f} MiB more"  # 400 MB were never inflated


def test_a_fifo_dataset_is_refused_at_once(tmp_path, capsys):
    fifo = tmp_path / f"{NAVIGATE}-v0.npz"
    os.mkfifo(fifo)
    assert main(["train", "gcbc", "--dataset", str(fifo), "--out", str(tmp_path / "run"), *TINY]) == 2
    assert "not a regular file" in capsys.readouterr().err


# --------------------------------------------------------------------------------- the last line of defence

def test_an_unexpected_exception_is_one_line_a_file_and_a_distinct_exit_code(monkeypatch, capsys, tmp_path):
    import ethogram.cli as cli

    def broken(args):
        raise ZeroDivisionError("a bug")

    monkeypatch.setattr(cli, "cmd_summarize", broken)
    monkeypatch.setenv("TMPDIR", str(tmp_path))
    import tempfile

    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    code = cli.main(["summarize", "x"])
    err = capsys.readouterr().err
    assert code == BUG_EXIT
    assert err.count("\n") == 1 and err.startswith("error: internal error (ZeroDivisionError)")
    assert "Traceback" not in err
    crash = next(tmp_path.glob("ethogram-crash-*.txt"))
    assert "ZeroDivisionError: a bug" in crash.read_text() and str(crash) in err
