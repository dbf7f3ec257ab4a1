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


DEEP = "[" * 100_000 + "]" * 100_000


def json_case(relpath: str, content, argv):
    """A case that replaces the JSON file `relpath` of the workspace by `content` (text, or a function of the
    parsed file returning the new object) and runs `argv`."""

    def make(ws: Path) -> list[str]:
        path = ws / relpath
        if callable(content):
            path.write_text(json.dumps(content(json.loads(path.read_text()))))
        else:
            path.write_text(content)
        return [a.format(ws=ws) for a in argv]

    return make


def fifo_case(relpath: str, argv):
    """A FIFO where a file belongs: the command must refuse it at once, not wait for a writer forever."""

    def make(ws: Path) -> list[str]:
        path = ws / relpath
        path.unlink(missing_ok=True)
        os.mkfifo(path)
        return [a.format(ws=ws) for a in argv]

    return make


def dir_case(relpath: str, argv):
    def make(ws: Path) -> list[str]:
        path = ws / relpath
        path.unlink(missing_ok=True)
        path.mkdir()
        return [a.format(ws=ws) for a in argv]

    return make


def raw_npz_case(members: dict[str, bytes], declared: dict[str, int] | None = None):
    """A dataset whose zip members are given as raw bytes (then trained on); `declared` overrides the uncompressed
    size that the zip directory states for a member (a zip bomb's lie)."""

    def make(ws: Path) -> list[str]:
        import io as _io
        import zipfile

        buf = _io.BytesIO()
        with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
            for name, data in members.items():
                zf.writestr(name, data)
        data = bytearray(buf.getvalue())
        for name, size in (declared or {}).items():  # patch the central directory's uncompressed size
            entry = data.index(b"PK\x01\x02")
            while data[entry + 46:entry + 46 + len(name)] != name.encode():
                entry = data.index(b"PK\x01\x02", entry + 4)
            data[entry + 24:entry + 28] = size.to_bytes(4, "little")
        path = ws / "bad" / "pointmaze-medium-navigate-v0.npz"
        path.parent.mkdir()
        path.write_bytes(bytes(data))
        return ["train", "gcbc", "--dataset", str(path), "--out", str(ws / "new-run"), "--steps", "10", *TINY]

    return make


def npy(arr: np.ndarray) -> bytes:
    import io as _io

    b = _io.BytesIO()
    np.lib.format.write_array(b, arr, allow_pickle=False)
    return b.getvalue()


def good_members() -> dict[str, bytes]:
    obs = np.zeros((20, 2), np.float32)
    term = np.zeros(20, bool)
    term[[9, 19]] = True
    return {"observations.npy": npy(obs), "actions.npy": npy(np.zeros((20, 2), np.float32)),
            "terminals.npy": npy(term)}


def npy_header(descr: str, shape: tuple) -> bytes:
    """A version 1.0 .npy header alone (no data)."""
    header = f"{{'descr': '{descr}', 'fortran_order': False, 'shape': {shape}, }}".encode()
    header += b" " * (-(len(header) + 11) % 64) + b"\n"
    return b"\x93NUMPY\x01\x00" + len(header).to_bytes(2, "little") + header


def huge_header() -> bytes:
    header = b"{'descr': '<f4', 'fortran_order': False, 'shape': (20, 2), 'pad': '" + b" " * 20_000 + b"'}"
    header += b" " * (-(len(header) + 11) % 64) + b"\n"
    return b"\x93NUMPY\x02\x00" + len(header).to_bytes(4, "little") + header + bytes(160)


def sidecar_case(change):
    """Our own collection beside the dataset (a sidecar naming the file's sha256), changed by `change(ws)`."""

    def make(ws: Path) -> list[str]:
        from ethogram.io import sha256

        data = ws / "pointmaze-medium-navigate-v0.npz"
        side = {"format": "ogbench-npz", "dataset": "pointmaze-medium-navigate-v0",
                "files": {data.name: sha256(data.read_bytes())}}
        (ws / "pointmaze-medium-navigate-v0.json").write_text(json.dumps(side))
        change(ws)
        return ["train", "gcbc", "--dataset", str(data), "--out", str(ws / "new-run"), "--steps", "10", *TINY]

    return make


def mixed_collection(ws: Path) -> None:
    """The training file of another collection put beside this collection's sidecar."""
    a = arrays(ws)
    a["observations"] = a["observations"] + np.float32(0.01)
    np.savez(ws / "pointmaze-medium-navigate-v0.npz", **a)


def unfinished_commit(ws: Path) -> None:
    (ws / ".pointmaze-medium-navigate-v0.json.ethogram-commit").write_text(
        json.dumps({"renames": [], "remove": []}))


def resumable_on_own_copy(ws: Path) -> None:
    """run2: a run trained (in this workspace) on the workspace's own dataset file."""
    assert main(["train", "gcbc", "--dataset", str(ws / "pointmaze-medium-navigate-v0.npz"), "--out",
                 str(ws / "run2"), "--steps", "100", "--eval-every", "0", "--quiet", *TINY]) == 0


def other_checkpoint(ws: Path) -> None:
    """checkpoint.safetensors of another save (a whole file, with its own checksum) beside this record."""
    rewrite_checkpoint(ws / "run" / "checkpoint.safetensors", nan_free_change)


def nan_free_change(a):
    k = next(k for k in sorted(a) if np.issubdtype(a[k].dtype, np.floating) and a[k].size)
    a[k] = a[k].copy()
    a[k].flat[0] += 1.0
    return a


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
    # JSON files of every kind: malformed, of the wrong type, a directory, a FIFO, nested 100,000 deep
    "config nested 100000 deep": json_case("run/config.json", DEEP, ["eval", "{ws}/run", "--episodes", "1"]),
    "config is a FIFO": fifo_case("run/config.json", ["eval", "{ws}/run", "--episodes", "1"]),
    "config is a directory": dir_case("run/config.json", ["eval", "{ws}/run", "--episodes", "1"]),
    "config not UTF-8": lambda ws: ((ws / "run" / "config.json").write_bytes(b'{"agent": "\xff\xfe"}'),
                                    ["eval", str(ws / "run")])[1],
    "config with NaN literal": json_case("run/config.json", '{"agent": "gcbc", "x": NaN}', ["eval", "{ws}/run"]),
    "config steps a string": json_case("run/config.json", lambda c: {**c, "train_config": {
        **c["train_config"], "steps": "100"}}, ["eval", "{ws}/run"]),
    "config dataset a number": json_case("run/config.json", lambda c: {**c, "dataset": 5}, ["eval", "{ws}/run"]),
    "config dataset_sha256 not a digest": json_case("run/config.json", lambda c: {**c, "dataset_sha256": "abc"},
                                                    ["eval", "{ws}/run"]),
    "checkpoint record a list": json_case("run/checkpoint.json", "[1, 2]", ["eval", "{ws}/run"]),
    "checkpoint record step a string": json_case("run/checkpoint.json", lambda r: {**r, "step": "100"},
                                                 ["eval", "{ws}/run"]),
    "checkpoint record negative step": json_case("run/checkpoint.json", lambda r: {**r, "step": -1},
                                                 ["eval", "{ws}/run"]),
    "checkpoint record bad digest": json_case("run/checkpoint.json", lambda r: {**r, "files": {
        "checkpoint.safetensors": "xyz"}}, ["eval", "{ws}/run"]),
    "checkpoint record nested deep": json_case("run/checkpoint.json", DEEP, ["eval", "{ws}/run"]),
    "checkpoint record is a FIFO": fifo_case("run/checkpoint.json", ["eval", "{ws}/run"]),
    "checkpoint is a FIFO": fifo_case("run/checkpoint.safetensors", ["eval", "{ws}/run"]),
    "checkpoint of another save": lambda ws: (other_checkpoint(ws), ["eval", str(ws / "run")])[1],
    "checkpoint header length beyond the file": checkpoint_case(lambda p: p.write_bytes(
        (2**40).to_bytes(8, "little") + p.read_bytes()[8:])),
    "eval record a list": json_case("run/eval.json", "[]", ["summarize", "{ws}/run"]),
    "eval record success a string": json_case("run/eval.json", lambda e: {**e, "success": "0.5"},
                                              ["summarize", "{ws}/run"]),
    "eval record success above 1": json_case("run/eval.json", lambda e: {**e, "success": 3.0},
                                             ["summarize", "{ws}/run"]),
    "eval record tasks a list": json_case("run/eval.json", lambda e: {**e, "tasks": [1]}, ["summarize", "{ws}/run"]),
    "eval record nested deep": json_case("run/eval.json", DEEP, ["summarize", "{ws}/run"]),
    "eval record is a directory": dir_case("run/eval.json", ["summarize", "{ws}/run"]),
    "eval picture of another evaluation": lambda ws: ((ws / "run" / "rollouts.png").write_bytes(b"\x89PNG other"),
                                                      ["summarize", str(ws / "run")])[1],
    # datasets: FIFOs, sidecars, mixtures, npz members
    "dataset is a FIFO": fifo_case("pointmaze-medium-navigate-v0.npz", ["train", "gcbc", "--dataset", DATA,
                                                                         "--out", "{ws}/x"]),
    "sidecar is a list": sidecar_case(lambda ws: (ws / "pointmaze-medium-navigate-v0.json").write_text("[]")),
    "sidecar nested deep": sidecar_case(lambda ws: (ws / "pointmaze-medium-navigate-v0.json").write_text(DEEP)),
    "sidecar dataset a number": sidecar_case(lambda ws: (ws / "pointmaze-medium-navigate-v0.json").write_text(
        '{"dataset": 7}')),
    "sidecar is a FIFO": sidecar_case(lambda ws: ((ws / "pointmaze-medium-navigate-v0.json").unlink(),
                                                  os.mkfifo(ws / "pointmaze-medium-navigate-v0.json"))),
    "dataset of another collection than its sidecar": sidecar_case(mixed_collection),
    "dataset collection interrupted": sidecar_case(unfinished_commit),
    "npz member not an npy array": raw_npz_case({**good_members(), "notes.txt": b"hello"}),
    "npz member in a subdirectory": raw_npz_case({**good_members(), "x/observations.npy": npy(np.zeros(3))}),
    "npz npy header beyond numpy's limit": raw_npz_case({**good_members(), "observations.npy": huge_header()}),
    "npz npy bad magic": raw_npz_case({**good_members(), "observations.npy": b"NOTNUMPY" + bytes(100)}),
    "npz member size lies (zip bomb)": raw_npz_case({**good_members(), "junk.npy": npy(np.zeros(10, np.float32))},
                                                    declared={"junk.npy": 2**31}),
    "npz member claims terabytes": raw_npz_case({**good_members(), "big.npy": npy_header("<f8", (10**11,))}),
    "npz object dtype in an unused member": raw_npz_case({**good_members(), "extra.npy": npy_header("|O", (1,))}),
    # prompt files bounded
    "demo file of 200000 states": prompt_file_case("demo", lambda a: set_(a, "observations", np.zeros(
        (200_000, 2), np.float32))),
    "reward file of 2000000 transitions": prompt_file_case("reward", lambda a: [set_(a, k, np.zeros(
        (2_000_000,) + v.shape[1:], np.float32)) for k, v in list(a.items())] and None),
    "demo file is a FIFO": lambda ws: (os.mkfifo(ws / "fifo.npz"), ["eval", str(ws / "hilp"), "--prompt",
                                                                    f"demo-file:{ws / 'fifo.npz'}"])[1],
    # arguments: finite, in range, sized for the machine
    "collect NaN noise": argv_case("collect", "pointmaze-medium-navigate", "--noise", "nan", "--out", "{ws}/c.npz"),
    "collect inf noise": argv_case("collect", "pointmaze-medium-navigate", "--noise", "inf", "--out", "{ws}/c.npz"),
    "collect seed 2**70": argv_case("collect", "pointmaze-medium-navigate", "--seed", str(2**70), "--out",
                                    "{ws}/c.npz"),
    "collect 10**12 episodes": argv_case("collect", "pointmaze-medium-navigate", "--episodes", str(10**12),
                                         "--out", "{ws}/c.npz"),
    "collect 10**9 steps per episode": argv_case("collect", "pointmaze-medium-navigate", "--episodes", "1000",
                                                 "--episode-steps", str(10**9), "--out", "{ws}/c.npz"),
    "train save-every 0": argv_case("train", "gcbc", "--dataset", DATA, "--out", "{ws}/x", "--save-every", "0"),
    "train seed 2**70": argv_case("train", "gcbc", "--dataset", DATA, "--out", "{ws}/x", "--seed", str(2**70)),
    "train expectile 1.5": argv_case("train", "gcivl", "--dataset", DATA, "--out", "{ws}/x",
                                     "--set", "expectile=1.5"),
    "train tau -1": argv_case("train", "gciql", "--dataset", DATA, "--out", "{ws}/x", "--set", "tau=-1"),
    "train lr inf": argv_case("train", "gcbc", "--dataset", DATA, "--out", "{ws}/x", "--set", "lr=inf"),
    "train lr 0": argv_case("train", "gcbc", "--dataset", DATA, "--out", "{ws}/x", "--set", "lr=0"),
    "train batch beyond memory": argv_case("train", "gcbc", "--dataset", DATA, "--out", "{ws}/x",
                                           "--set", "batch_size=10000000000"),
    "train eval-episodes beyond memory": argv_case("train", "gcbc", "--dataset", DATA, "--out", "{ws}/x",
                                                   "--eval-episodes", str(10**12)),
    "eval 10**12 episodes": argv_case("eval", "{ws}/run", "--episodes", str(10**12)),
    "eval seed 2**70": argv_case("eval", "{ws}/run", "--seed", str(2**70)),
    "resume with --seed": argv_case("train", "--resume", "{ws}/run", "--seed", "3"),
    "resume with --eval-every": argv_case("train", "--resume", "{ws}/run", "--eval-every", "50"),
    "resume with fewer steps than done": argv_case("train", "--resume", "{ws}/run", "--steps", "50"),
    "resume on a dataset collected again": lambda ws: (resumable_on_own_copy(ws), mixed_collection(ws),
                                                       ["train", "--resume", str(ws / "run2"), "--steps", "200"])[2],
    "resume after config.json was edited": json_case("run/config.json", lambda c: {**c, "agent_config": {
        **c["agent_config"], "lr": 0.001}}, ["train", "--resume", "{ws}/run", "--steps", "200"]),
    "search 0 steps": argv_case("search", "pointmaze-medium", "--out", "{ws}/s", "--steps", "0"),
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
