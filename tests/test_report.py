"""`ethogram report`: the HTML page opened in a real headless Chromium, its rollout video, and its bad inputs.

The browser is Debian's `chromium` (`make browser` installs it; this module tries the same when it runs as root),
driven by Playwright; where neither can be had the browser test is skipped with the reason.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess

import numpy as np
import pytest

from ethogram.cli import main
from ethogram.envs.registry import make_env
from ethogram.evaluate.protocol import Rollouts, load_rollouts, save_rollouts
from ethogram.report.html import VIDEO_ENV
from ethogram.report.video import rollout_video

CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]


def chromium() -> str:
    """Path of a Chromium binary, installed from Debian's packages when missing and possible; else skip."""
    for name in ("chromium", "chromium-browser"):
        if shutil.which(name):
            return shutil.which(name)
    if os.geteuid() == 0 and shutil.which("apt-get"):
        for cmd in (["apt-get", "install", "-y", "-q", "chromium"], ["apt-get", "update", "-q"],
                    ["apt-get", "install", "-y", "-q", "chromium"]):
            done = subprocess.run(cmd, capture_output=True, timeout=900, env={**os.environ,
                                                                               "DEBIAN_FRONTEND": "noninteractive"})
            if cmd[1] == "install" and done.returncode == 0 and shutil.which("chromium"):
                return shutil.which("chromium")
    pytest.skip("no Chromium here and it could not be installed (run `make browser`, or apt-get install chromium)")


def open_page(path, screenshot=None) -> dict:
    """Load a page in headless Chromium: console errors, tables, images (decoded?) and videos (duration)."""
    sync_api = pytest.importorskip("playwright.sync_api", reason="playwright (the dev extra) is not installed")
    exe = chromium()
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=exe, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1200, "height": 900})
            errors = []
            page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
            page.on("pageerror", lambda e: errors.append(str(e)))
            page.on("requestfailed", lambda r: errors.append(f"request failed: {r.url[:80]}"))
            page.goto(path.resolve().as_uri())
            page.wait_for_load_state("load")
            page.wait_for_function("[...document.querySelectorAll('video')].every(v => v.readyState >= 1 || v.error)",
                                   timeout=20_000)
            seen = page.evaluate("""() => ({
                tables: document.querySelectorAll('table').length,
                images: [...document.images].map(i => ({complete: i.complete, width: i.naturalWidth, alt: i.alt})),
                videos: [...document.querySelectorAll('video')].map(v => ({duration: v.duration,
                                                                           error: v.error && v.error.code})),
                text: document.body.innerText})""")
            if screenshot is not None:
                page.screenshot(path=str(screenshot), full_page=True)
        finally:
            browser.close()
    return {**seen, "errors": errors}


def train_and_eval(data, run, seed=0):
    assert main(["train", "gcbc", "--dataset", str(data), "--out", str(run), "--steps", "200", "--fuse", "50",
                 "--eval-every", "100", "--eval-episodes", "1", "--seed", str(seed), "--set", "batch_size=64",
                 "--set", "actor_hidden_dims=32,32", "--quiet"]) == 0
    assert main(["eval", str(run), "--episodes", "2", "--quiet"]) == 0


@pytest.fixture(scope="module")
def evaluated(navigate_small, tmp_path_factory):
    """Two tiny GCBC runs (seeds 0 and 1) evaluated with `ethogram eval` (which writes report.html too)."""
    root = tmp_path_factory.mktemp("report")
    runs = [root / f"gcbc-{s}" for s in (0, 1)]
    for s, run in enumerate(runs):
        train_and_eval(navigate_small, run, seed=s)
    return runs


def test_eval_writes_a_report_and_the_rollouts_it_replays(evaluated):
    run = evaluated[0]
    assert (run / "report.html").is_file() and (run / "rollouts.npz").is_file()
    ro = load_rollouts(run / "rollouts.npz")
    ev = json.loads((run / "eval.json").read_text())
    assert ro.positions.shape == (10, 1001, 2) and ro.task_ids.tolist() == [1, 1, 2, 2, 3, 3, 4, 4, 5, 5]
    assert "rollouts.npz" in ev["files"]  # a member of eval.json's set
    assert np.isclose(ro.success.mean(), ev["success"])


def test_report_in_headless_chromium(evaluated, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv(VIDEO_ENV, "1")
    page = tmp_path / "report.html"
    assert main(["report", *map(str, evaluated), "--out", str(page)]) == 0
    assert "wrote" in capsys.readouterr().out
    seen = open_page(page, screenshot=tmp_path / "report.png")
    assert seen["errors"] == []
    assert seen["tables"] >= 5  # the results table, then per run: config, success per task
    assert len(seen["images"]) >= 4 and all(i["complete"] and i["width"] > 0 for i in seen["images"])
    assert len(seen["videos"]) == 1  # one per (agent, dataset)
    assert seen["videos"][0]["error"] is None and seen["videos"][0]["duration"] > 0
    text = seen["text"]
    assert "gcbc" in text and "published" in text and "rendered by MuJoCo offscreen" in text
    assert "0.09 ± 0.06" in text  # the published GCBC number on pointmaze-medium-navigate beside ours
    assert (tmp_path / "report.png").stat().st_size > 10_000


def test_report_without_video_says_so(evaluated, tmp_path):
    page = tmp_path / "r.html"
    assert main(["report", str(evaluated[0]), "--out", str(page), "--no-video"]) == 0
    html = page.read_text()
    assert "<video" not in html and "rollout video left out" in html and "data:image/png;base64," in html


def test_rollout_video_renderers(tmp_path):
    """MuJoCo's offscreen render for pointmaze, a drawn top view for the avoiding task (no MuJoCo model)."""
    import imageio_ffmpeg

    rng = np.random.default_rng(0)
    for name, renderer in (("pointmaze-medium", "mujoco"), ("avoiding", "drawn")):
        env = make_env(name)
        state, goals = env.task_starts(np.arange(1, len(env.tasks) + 1), rng)
        steps = [env.positions(state)]
        for _ in range(30):
            state = env.step(state, rng.uniform(-1, 1, (len(state), env.action_dim)), rng)
            steps.append(env.positions(state))
        b = len(state)
        ro = Rollouts(np.arange(1, b + 1), np.stack(steps, 1), goals, np.zeros(b, bool), np.full(b, 30))
        info = rollout_video(env, ro, tmp_path / f"{name}.mp4")
        assert info.renderer == renderer and info.frames == 31, info
        meta = next(imageio_ffmpeg.read_frames(str(tmp_path / f"{name}.mp4")))
        assert meta["codec"] == "h264" and meta["duration"] > 0


# --- bad input: a clear error, exit 2, nothing written ---------------------------------------------------------

def test_report_of_a_directory_that_is_not_a_run(tmp_path, capsys):
    (tmp_path / "x").mkdir()
    assert main(["report", str(tmp_path / "x"), "--out", str(tmp_path / "r.html")]) == 2
    assert "not a run directory" in capsys.readouterr().err
    assert main(["report", str(tmp_path / "missing")]) == 2
    assert not (tmp_path / "r.html").exists() and not (tmp_path / "x" / "report.html").exists()


def test_report_of_a_run_not_evaluated_names_the_command(navigate_small, tmp_path, capsys):
    run = tmp_path / "run"
    assert main(["train", "gcbc", "--dataset", str(navigate_small), "--out", str(run), "--steps", "50", "--fuse",
                 "50", "--eval-every", "0", "--set", "batch_size=64", "--set", "actor_hidden_dims=32,32",
                 "--quiet"]) == 0
    assert main(["report", str(run)]) == 2
    err = capsys.readouterr().err
    assert "no evaluation yet" in err and f"ethogram eval {run}" in err
    assert not (run / "report.html").exists()


def test_report_refuses_damaged_files_and_writes_nothing(evaluated, tmp_path, capsys):
    run = tmp_path / "damaged"
    shutil.copytree(evaluated[1], run)
    (run / "report.html").unlink()
    (run / "rollouts.png").write_bytes(b"\x89PNG not a picture")  # no longer the picture eval.json names
    assert main(["report", str(run)]) == 2
    assert "rollouts.png" in capsys.readouterr().err
    assert not (run / "report.html").exists()
    shutil.copytree(evaluated[1], tmp_path / "bad-json")
    (tmp_path / "bad-json" / "eval.json").write_text('{"agent": "gcbc", "success": ')
    assert main(["report", str(tmp_path / "bad-json"), "--out", str(tmp_path / "out.html")]) == 2
    assert not (tmp_path / "out.html").exists()
    assert main(["report", str(evaluated[0]), "--out", str(tmp_path / "no" / "such" / "dir.html")]) == 2


def test_rollouts_file_of_another_kind_is_refused(tmp_path):
    from ethogram.errors import EthogramError

    np.savez(tmp_path / "x.npz", task_ids=np.ones(3), positions=np.zeros((2, 5, 2)))
    with pytest.raises(EthogramError, match="not a rollouts file"):
        load_rollouts(tmp_path / "x.npz")
    ro = Rollouts(np.array([1, 2]), np.zeros((2, 4, 2)), np.zeros((2, 2)), np.array([True, False]), np.array([3, 3]))
    save_rollouts(ro, tmp_path / "r.npz")
    back = load_rollouts(tmp_path / "r.npz")
    assert back.task_ids.tolist() == [1, 2] and back.success.tolist() == [True, False]


def test_report_of_a_search_run_shows_its_graph(tmp_path):
    run = tmp_path / "sns"
    assert main(["search", "pointmaze-medium", "--out", str(run), "--steps", "3000", "--quiet"]) == 0
    assert main(["eval", str(run), "--episodes", "1", "--quiet"]) == 0
    assert main(["report", str(run), "--out", str(tmp_path / "r.html"), "--no-video"]) == 0
    page = (tmp_path / "r.html").read_text()
    assert "sns on pointmaze-medium" in page and "graph.png" in page and "online" in page


def test_report_shows_prompt_evaluations(navigate_small, tmp_path):
    run = tmp_path / "hilp"
    assert main(["train", "hilp", "--dataset", str(navigate_small), "--out", str(run), "--steps", "50", "--fuse",
                 "50", "--eval-every", "0", "--set", "batch_size=64", "--set", "actor_hidden_dims=32,32",
                 "--set", "value_hidden_dims=32,32", "--quiet"]) == 0
    with np.load(navigate_small) as f:
        obs = f["observations"][:1000]
    np.savez(tmp_path / "labels.npz", observations=obs[:-1], next_observations=obs[1:],
             rewards=obs[1:, 0] - obs[:-1, 0])
    for prompt in ("reward:move-east", "demo:demo1", f"reward-file:{tmp_path / 'labels.npz'}"):
        assert main(["eval", str(run), "--prompt", prompt, "--episodes", "1", "--quiet"]) == 0
    assert main(["report", str(run), "--no-video"]) == 0
    page = (run / "report.html").read_text()
    assert "reward prompts (returns)" in page and "move-east" in page
    assert "labels.npz: returns estimated by" in page or "labels.npz: answered but not scored" in page
    assert "demonstration prompts" in page and "cells in order" in page
