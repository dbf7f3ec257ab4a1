"""Every file and argument ethogram reads, damaged one way at a time.

Each case builds a damaged input inside a copy of a good workspace (a dataset, a trained and evaluated run), runs
one `ethogram` command on it, and checks: non-zero exit, a message that starts with 'error:' and has no traceback,
and every file that existed before is byte-for-byte unchanged, with no new file left behind.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from pathlib import Path

import numpy as np
import pytest
from safetensors.numpy import load as st_load
from safetensors.numpy import save as st_save

from ethogram.checkpoint import _digest
from ethogram.cli import main

TINY = ["--set", "batch_size=32", "--set", "actor_hidden_dims=16"]


@pytest.fixture(scope="module")
def good(tmp_path_factory, navigate_small):
    """A workspace with a good dataset (data.npz, OGBench layout), an evaluated GCBC run (run/), a HILP run that
    answers every prompt (hilp/), and good prompt files (reward.npz, demo.npz)."""
    root = tmp_path_factory.mktemp("good")
    shutil.copy(navigate_small, root / "pointmaze-medium-navigate-v0.npz")
    assert main(["train", "gcbc", "--dataset", str(root / "pointmaze-medium-navigate-v0.npz"), "--out",
                 str(root / "run"), "--steps", "100", "--eval-every", "0", "--quiet", *TINY]) == 0
    assert main(["eval", str(root / "run"), "--episodes", "1", "--quiet"]) == 0
    assert main(["train", "hilp", "--dataset", str(root / "pointmaze-medium-navigate-v0.npz"), "--out",
                 str(root / "hilp"), "--steps", "20", "--eval-every", "0", "--quiet", *TINY,
                 "--set", "value_hidden_dims=16", "--set", "latent_dim=4"]) == 0
    rng = np.random.default_rng(0)
    obs = rng.uniform(0, 20, size=(50, 2)).astype(np.float32)
    np.savez(root / "reward.npz", observations=obs, next_observations=obs + 0.1, rewards=np.ones(50, np.float32))
    np.savez(root / "demo.npz", observations=obs)
    return root


def arrays(ws: Path) -> dict[str, np.ndarray]:
    with np.load(ws / "pointmaze-medium-navigate-v0.npz", allow_pickle=False) as f:
        return {k: f[k] for k in f.files}


def dataset_case(change):
    """A case that rewrites the dataset with `change(arrays)` and trains on it."""

    def make(ws: Path) -> list[str]:
        a = arrays(ws)
        change(a)
        path = ws / "bad" / "pointmaze-medium-navigate-v0.npz"
        path.parent.mkdir()
        np.savez(path, **a)
        return ["train", "gcbc", "--dataset", str(path), "--out", str(ws / "new-run"), "--steps", "10", *TINY]

    return make


def file_case(content: bytes):
    def make(ws: Path) -> list[str]:
        path = ws / "pointmaze-medium-navigate-v0.npz"
        path.write_bytes(content(path.read_bytes()) if callable(content) else content)
        return ["train", "gcbc", "--dataset", str(path), "--out", str(ws / "new-run"), "--steps", "10", *TINY]

    return make


def config_case(change):
    """A case that edits run/config.json with `change(config)` and evaluates the run."""

    def make(ws: Path) -> list[str]:
        path = ws / "run" / "config.json"
        cfg = json.loads(path.read_text())
        new = change(cfg)
        path.write_text(new if isinstance(new, str) else json.dumps(cfg if new is None else new))
        return ["eval", str(ws / "run"), "--episodes", "1", "--quiet"]

    return make


def checkpoint_case(change):
    def make(ws: Path) -> list[str]:
        path = ws / "run" / "checkpoint.safetensors"
        change(path)
        return ["eval", str(ws / "run"), "--episodes", "1", "--quiet"]

    return make


def set_(d: dict, key: str, value):
    d[key] = value


def rewrite_checkpoint(path: Path, fn, fmt="ethogram-checkpoint-1", digest=True):
    a = fn(st_load(path.read_bytes()))
    meta = ({"format": fmt} if fmt else {}) | ({"sha256": _digest(a)} if digest else {})
    path.write_bytes(st_save(a, metadata={"ethogram": json.dumps(meta)} if meta else None))


def nan_first(a):
    k = next(k for k in sorted(a) if np.issubdtype(a[k].dtype, np.floating))
    a[k] = a[k].copy()
    a[k].flat[0] = np.nan
    return a


def symlink(target: str):
    def change(path: Path):
        path.unlink()
        os.symlink(target, path)
    return change


def prompt_file_case(kind: str, change):
    """A case that rewrites a good prompt file (reward.npz or demo.npz) with `change(arrays)` and evaluates the HILP
    run on it; `change` may return bytes for the whole file."""

    def make(ws: Path) -> list[str]:
        path = ws / f"{kind}.npz"
        with np.load(path, allow_pickle=False) as f:
            a = {k: f[k] for k in f.files}
        new = change(a)
        if isinstance(new, bytes):
            path.write_bytes(new)
        else:
            np.savez(path, **a)
        spec = "reward-file" if kind == "reward" else "demo-file"
        return ["eval", str(ws / "hilp"), "--prompt", f"{spec}:{path}", "--episodes", "1", "--quiet"]

    return make


def argv_case(*argv):
    return lambda ws: [a.format(ws=ws) for a in argv]


DATA = "{ws}/pointmaze-medium-navigate-v0.npz"
CASES = {
    # dataset files
    "truncated npz": file_case(lambda b: b[: len(b) // 2]),
    "npz cut to 10 bytes": file_case(lambda b: b[:10]),
    "empty file": file_case(b""),
    "text file": file_case(b"x,y\n1,2\n"),
    "random bytes": file_case(bytes(range(256)) * 8),
    "missing observations": dataset_case(lambda a: a.pop("observations")),
    "missing terminals": dataset_case(lambda a: a.pop("terminals")),
    "integer observations": dataset_case(lambda a: set_(a, "observations", a["observations"].astype(np.int64))),
    "string actions": dataset_case(lambda a: set_(a, "actions", a["actions"].astype(str))),
    "1-D observations": dataset_case(lambda a: set_(a, "observations", a["observations"][:, 0])),
    "3-D observations": dataset_case(lambda a: set_(a, "observations", a["observations"][:, :, None])),
    "NaN observation": dataset_case(lambda a: a["observations"].__setitem__((5, 0), np.nan)),
    "inf action": dataset_case(lambda a: a["actions"].__setitem__((7, 1), np.inf)),
    "absurd observation": dataset_case(lambda a: a["observations"].__setitem__((3, 1), 1e20)),
    "terminal value 2": dataset_case(lambda a: set_(a, "terminals", a["terminals"].astype(np.int8) * 2)),
    "last step not terminal": dataset_case(lambda a: a["terminals"].__setitem__(-1, False)),
    "one-step episode": dataset_case(lambda a: a["terminals"].__setitem__(slice(-2, None), True)),
    "actions shorter": dataset_case(lambda a: set_(a, "actions", a["actions"][:-3])),
    "qpos shorter": dataset_case(lambda a: set_(a, "qpos", a["qpos"][:-1])),
    "observation dimension 3": dataset_case(lambda a: set_(a, "observations", np.pad(a["observations"],
                                                                                      ((0, 0), (0, 1))))),
    "action dimension 3": dataset_case(lambda a: set_(a, "actions", np.pad(a["actions"], ((0, 0), (0, 1))))),
    "zero rows": dataset_case(lambda a: [set_(a, k, v[:0]) for k, v in list(a.items())]),
    "pickled object array": dataset_case(lambda a: set_(a, "observations", np.array(
        [None] * len(a["observations"]), dtype=object))),
    "dataset path is a directory": argv_case("train", "gcbc", "--dataset", "{ws}/run", "--out", "{ws}/x"),
    "dataset symlink loop": lambda ws: (os.symlink(ws / "loop.npz", ws / "loop.npz"),
                                        ["train", "gcbc", "--dataset", str(ws / "loop.npz"), "--out",
                                         str(ws / "x")])[1],
    # run directories and their config.json
    "config not JSON": config_case(lambda c: "{not json"),
    "config is a list": config_case(lambda c: [1, 2]),
    "config unknown agent": config_case(lambda c: set_(c, "agent", "dqn")),
    "config unknown field": config_case(lambda c: c["agent_config"].__setitem__("warp_drive", 1)),
    "config wrong type": config_case(lambda c: c["agent_config"].__setitem__("batch_size", "abc")),
    "config zero hidden width": config_case(lambda c: c["agent_config"].__setitem__("actor_hidden_dims", [0])),
    "config negative obs_dim": config_case(lambda c: set_(c, "obs_dim", -2)),
    "config negative steps": config_case(lambda c: c["train_config"].__setitem__("steps", -5)),
    "config NaN learning rate": config_case(lambda c: c["agent_config"].__setitem__("lr", float("nan"))),
    "config of another agent": config_case(lambda c: (set_(c, "agent", "gcivl"),
                                                      c["agent_config"].__setitem__("lr", 3e-4))[0]),
    "config symlink loop": lambda ws: ((ws / "run" / "config.json").unlink(),
                                       os.symlink(ws / "run" / "config.json", ws / "run" / "config.json"),
                                       ["eval", str(ws / "run")])[2],
    # checkpoints
    "checkpoint truncated": checkpoint_case(lambda p: p.write_bytes(p.read_bytes()[:100])),
    "checkpoint random bytes": checkpoint_case(lambda p: p.write_bytes(os.urandom(4096))),
    "checkpoint missing": checkpoint_case(lambda p: p.unlink()),
    "checkpoint of another version": checkpoint_case(lambda p: rewrite_checkpoint(p, lambda a: a,
                                                                                  fmt="ethogram-checkpoint-0")),
    "checkpoint from another program": checkpoint_case(lambda p: rewrite_checkpoint(p, lambda a: a, fmt=None,
                                                                                    digest=False)),
    "checkpoint with NaN": checkpoint_case(lambda p: rewrite_checkpoint(p, nan_first)),
    "checkpoint bit flip": checkpoint_case(lambda p: p.write_bytes(p.read_bytes()[:-9] + b"\x13" +
                                                                   p.read_bytes()[-8:])),
    "checkpoint missing an array": checkpoint_case(lambda p: rewrite_checkpoint(
        p, lambda a: {k: v for k, v in a.items() if k != sorted(a)[0]})),
    "checkpoint link escapes the run": checkpoint_case(symlink("/etc/hostname")),
    "resume with a malformed checkpoint.json": lambda ws: ((ws / "run" / "checkpoint.json").write_text("{"),
                                                           ["train", "--resume", str(ws / "run")])[1],
    # command-line arguments
    "collect negative episodes": argv_case("collect", "pointmaze-medium-navigate", "--episodes", "-3",
                                           "--out", "{ws}/c.npz"),
    "collect negative noise": argv_case("collect", "pointmaze-medium-navigate", "--noise", "-1", "--out",
                                        "{ws}/c.npz"),
    "collect unknown dataset": argv_case("collect", "pointmaze-huge-navigate", "--out", "{ws}/c.npz"),
    "collect existing output": argv_case("collect", "pointmaze-medium-navigate", "--episodes", "2",
                                         "--out", DATA),
    "collect out under a file": argv_case("collect", "pointmaze-medium-navigate", "--out",
                                          DATA + "/sub/c.npz"),
    "collect out without .npz": argv_case("collect", "pointmaze-medium-navigate", "--out", "{ws}/c.txt"),
    "train discount above 1": argv_case("train", "gcbc", "--dataset", DATA, "--out", "{ws}/x",
                                        "--set", "discount=1.5"),
    "train goal mixture not summing to 1": argv_case("train", "gcivl", "--dataset", DATA, "--out", "{ws}/x",
                                                     "--set", "value_p_curgoal=0.9"),
    "train batch size 0": argv_case("train", "gcbc", "--dataset", DATA, "--out", "{ws}/x",
                                    "--set", "batch_size=0"),
    "train out is a file": argv_case("train", "gcbc", "--dataset", DATA, "--out", DATA),
    "train into an existing run": argv_case("train", "gcbc", "--dataset", DATA, "--out", "{ws}/run"),
    "eval negative episodes": argv_case("eval", "{ws}/run", "--episodes", "-1"),
    "eval a dataset path": argv_case("eval", DATA),
    # prompt files (eval --prompt reward-file:PATH / demo-file:PATH) and prompt arguments
    "reward file truncated": prompt_file_case("reward", lambda a: (Path(os.devnull), b"PK\x03\x04" + b"\0" * 20)[1]),
    "reward file without rewards": prompt_file_case("reward", lambda a: (a.pop("rewards"), None)[1]),
    "reward file NaN reward": prompt_file_case("reward", lambda a: a["rewards"].__setitem__(3, np.nan)),
    "reward file rewards too short": prompt_file_case("reward", lambda a: set_(a, "rewards", a["rewards"][:-1])),
    "reward file 2-D rewards": prompt_file_case("reward", lambda a: set_(a, "rewards", a["rewards"][:, None])),
    "reward file 3-D states": prompt_file_case("reward", lambda a: set_(a, "observations", np.pad(
        a["observations"], ((0, 0), (0, 1))))),
    "reward file constant states": prompt_file_case("reward", lambda a: (set_(a, "observations",
                                                                              a["observations"] * 0),
                                                                         set_(a, "next_observations",
                                                                              a["observations"] * 0))[0]),
    "demo file empty": prompt_file_case("demo", lambda a: set_(a, "observations", a["observations"][:0])),
    "demo file one step": prompt_file_case("demo", lambda a: set_(a, "observations", a["observations"][:1])),
    "demo file NaN": prompt_file_case("demo", lambda a: a["observations"].__setitem__((2, 0), np.nan)),
    "demo file 1-D": prompt_file_case("demo", lambda a: set_(a, "observations", a["observations"][:, 0])),
    "demo file pickled objects": prompt_file_case("demo", lambda a: set_(a, "observations", np.array(
        [None] * 5, dtype=object))),
    "demo file missing": argv_case("eval", "{ws}/hilp", "--prompt", "demo-file:{ws}/nope.npz"),
    "reward prompt to a GCBC run": argv_case("eval", "{ws}/run", "--prompt", "reward:move-east"),
    "plan with a GCBC run": argv_case("eval", "{ws}/run", "--plan"),
    "plan bank of 0": argv_case("eval", "{ws}/hilp", "--plan", "--plan-bank", "0"),
    "unknown prompt": argv_case("eval", "{ws}/hilp", "--prompt", "sing"),
    "unknown reward task": argv_case("eval", "{ws}/hilp", "--prompt", "reward:fly"),
    "summarize reward prompts never run": argv_case("summarize", "{ws}/hilp", "--eval-file", "eval-reward.json"),
    "summarize a run without eval": lambda ws: ((ws / "run" / "eval.json").unlink(),
                                                ["summarize", str(ws / "run")])[1],
}


def snapshot(root: Path) -> dict[str, str]:
    out = {}
    for p in sorted(root.rglob("*")):
        if p.is_symlink():
            out[str(p)] = "link:" + os.readlink(p)
        elif p.is_file():
            out[str(p)] = hashlib.sha256(p.read_bytes()).hexdigest()
        else:
            out[str(p)] = "dir"
    return out


@pytest.mark.parametrize("case", sorted(CASES))
def test_damaged_input_is_refused_and_nothing_is_touched(case, good, tmp_path, capsys):
    ws = tmp_path / "ws"
    shutil.copytree(good, ws, symlinks=True)
    argv = CASES[case](ws)
    before = snapshot(ws)
    code = main(argv)
    err = capsys.readouterr().err
    assert code != 0, f"{case}: exit code 0"
    assert err.startswith("error:"), f"{case}: {err}"
    assert "Traceback" not in err
    assert snapshot(ws) == before, f"{case}: files changed"


def test_there_are_at_least_thirty_kinds_of_damage():
    assert len(CASES) >= 30
    print(f"{len(CASES)} kinds of damage")
