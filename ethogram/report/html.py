"""`ethogram report`: one self-contained HTML page for one run or a group of runs.

Everything the page shows is read from the run directories (config.json, the evaluation records and their
pictures, metrics.csv / evals.csv, rollouts.npz) and embedded in the page itself (PNG and MP4 as data URIs, CSS
inline, no script), so the file can be mailed or opened offline. Sections: the results table over seeds beside
the published number (a group), then per run its config and dataset, the success per task of each evaluation
with its metrics (diversity, D3IL's score), reward and imitation tables of prompt evaluations, the learning
curves, every picture of the run (rollouts over the maze, the search graph, prompt panels) and a rollout video
(report/video.py: MuJoCo offscreen, or a drawn top view, which the page says).

Every input is read and checked before anything is written: a directory that is not a run, a run with no
evaluation yet, or a damaged file is a clear error and no page is written.
"""

from __future__ import annotations

import base64
import html
import json
import os
import platform
import tempfile
import time
from pathlib import Path

from ethogram import rundir
from ethogram.errors import EthogramError
from ethogram.io import atomic_write_text, read_json

VIDEO_ENV = "ETHOGRAM_REPORT_VIDEO"  # "0": pages without rollout videos (rendering takes seconds per run)
MAX_VIDEOS = 12  # a group report renders one video per (agent, dataset), at most this many

CSS = """
body { font-family: system-ui, -apple-system, "Segoe UI", sans-serif; margin: 2em auto; max-width: 1100px;
       color: #222; line-height: 1.45; padding: 0 1em; }
h1 { font-size: 1.6em; } h2 { border-bottom: 1px solid #ccc; padding-bottom: .2em; margin-top: 2em; }
h3 { font-size: 1.05em; margin-top: 1.4em; }
table { border-collapse: collapse; margin: .6em 0; font-size: .92em; }
th, td { border: 1px solid #d0d0d0; padding: .25em .6em; text-align: left; }
th { background: #f0f0f0; } tr.summary td { font-weight: bold; }
figure { margin: .5em 0; } .media { display: flex; flex-wrap: wrap; gap: 1em; align-items: flex-start; }
figure img { max-width: 560px; width: 100%; border: 1px solid #ddd; } figure video { border: 1px solid #ddd; }
figcaption { font-size: .85em; color: #555; max-width: 480px; }
.note { color: #555; font-size: .9em; } code { background: #f4f4f4; padding: 0 .2em; }
details summary { cursor: pointer; color: #335; }
"""


def _esc(x) -> str:
    return html.escape(str(x))


def _data_uri(data: bytes, mime: str) -> str:
    return f"data:{mime};base64,{base64.b64encode(data).decode('ascii')}"


def _img(data: bytes, caption: str, alt: str) -> str:
    return (f'<figure><img src="{_data_uri(data, "image/png")}" alt="{_esc(alt)}">'
            f"<figcaption>{_esc(caption)}</figcaption></figure>")


def _kv_table(items: dict) -> str:
    rows = "".join(f"<tr><th>{_esc(k)}</th><td>{_esc(_fmt(v))}</td></tr>" for k, v in items.items())
    return f"<table>{rows}</table>"


def _fmt(v) -> str:
    if isinstance(v, (list, tuple)):
        return ", ".join(str(x) for x in v)
    if isinstance(v, float):
        return f"{v:.4g}"
    return str(v)


def cpu_name() -> str:
    """The machine's CPU model and core count ("Intel Xeon ..., 2 cores"), as reports name machines."""
    name = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                name = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return f"{name}, {cores} cores"


# --- reading the runs (everything checked before anything is written) ---------------------------------------

def eval_files(run_dir: Path) -> list[str]:
    """Evaluation records of a run: eval.json first, then the others (eval-plan, eval-set-*, prompts) by name."""
    names = sorted(p.name for p in run_dir.glob("eval*.json") if p.name.startswith(("eval.", "eval-")))
    return sorted(names, key=lambda n: n != "eval.json")


def read_run(run_dir: str | Path) -> dict:
    """A run's config and evaluations, each record verified against its set (its pictures' sha256)."""
    run_dir = Path(run_dir)
    cfg = rundir.read_config(run_dir)
    names = eval_files(run_dir)
    if not names and "env" in cfg and cfg["env"] is None:
        pass  # data of no environment ethogram simulates: its report is its config and learning curves
    elif not names:
        raise EthogramError(f"run '{run_dir}' has no evaluation yet: a report shows evaluations.",
                            f"evaluate it first: ethogram eval {run_dir}")
    evals = {n: rundir.read_eval(run_dir, n) for n in names}
    pictures = {}
    for p in sorted(run_dir.glob("*.png")):
        pictures[p.name] = rundir.run_file(run_dir, p.name).read_bytes()
    rollouts = None
    if "eval.json" in evals and (run_dir / "rollouts.npz").exists():  # a member of eval.json's set, verified above
        from ethogram.evaluate.protocol import load_rollouts

        rollouts = load_rollouts(rundir.run_file(run_dir, "rollouts.npz"))
    dataset_meta = None
    ds = cfg.get("dataset")
    if isinstance(ds, str) and ds.endswith(".npz") and Path(ds).with_suffix(".json").is_file():
        try:
            dataset_meta = read_json(Path(ds).with_suffix(".json"), "dataset sidecar")
        except EthogramError:
            dataset_meta = None  # the dataset's own problem: shown as "no sidecar", the run is still reported
    return {"dir": run_dir, "config": cfg, "evals": evals, "pictures": pictures, "rollouts": rollouts,
            "dataset_meta": dataset_meta if isinstance(dataset_meta, dict) else None}


# --- sections ------------------------------------------------------------------------------------------------

def _results_section(runs: list[dict]) -> str:
    """The results table over seeds, beside the published number (runs with a goal evaluation, eval.json)."""
    from ethogram.report.results import aggregate, results_table
    from ethogram.report.tables import to_html

    dirs = [r["dir"] for r in runs if "eval.json" in r["evals"] and r["config"].get("agent") != "sns"]
    parts = []
    if dirs:
        try:
            parts.append(to_html(results_table(aggregate(dirs, command="ethogram report"))))
        except EthogramError as e:
            parts.append(f'<p class="note">no table over seeds: {_esc(e.problem)}</p>')
    sns = [r for r in runs if r["config"].get("agent") == "sns" and "eval.json" in r["evals"]]
    if sns:
        from ethogram.report.tables import Table

        rows = [(r["evals"]["eval.json"].get("dataset", ""), "sns", r["evals"]["eval.json"].get("mode", ""),
                 f"{r['evals']['eval.json']['success']:.2f}", r["config"].get("train_config", {}).get("seed", ""))
                for r in sns]
        parts.append(to_html(Table(("dataset", "agent", "mode", "success", "seed"), rows)))
    if not parts:
        return ""
    return ("<h2>Results</h2><p class=\"note\">Mean ± std over the seeds given (training seeds; each seed "
            "evaluated once with OGBench's protocol). Published: OGBench, 3x512 nets, batch 1024, 1M steps, "
            "8 seeds.</p>" + "".join(parts))


def _config_section(run: dict) -> str:
    cfg = run["config"]
    tc = cfg.get("train_config", {}) if isinstance(cfg.get("train_config"), dict) else {}
    head = {"agent": cfg.get("agent"), "dataset": cfg.get("dataset_name"), "dataset file": cfg.get("dataset"),
            "environment": cfg.get("env"), **{f"train {k}": v for k, v in tc.items()}}
    meta = run["dataset_meta"]
    if meta:
        head.update({f"dataset {k}": meta[k] for k in ("transitions", "train_episodes", "episode_steps", "seed",
                                                       "noise", "kind") if k in meta})
    out = "<h3>Config and dataset</h3>" + _kv_table({k: v for k, v in head.items() if v is not None})
    agent_cfg = cfg.get("agent_config") or cfg.get("sns_config")
    if isinstance(agent_cfg, dict):
        out += f"<details><summary>agent config ({len(agent_cfg)} fields)</summary>{_kv_table(agent_cfg)}</details>"
    return out


def _eval_section(name: str, ev: dict) -> str:
    from ethogram.report.published import published
    from ethogram.report.tables import imitation_table, reward_table, success_table, to_html

    if ev.get("prompt") == "reward":
        from ethogram.evaluate.run import scoring_text

        title, body = "reward prompts (returns)", to_html(reward_table(ev))
        lines = [scoring_text(k, v) for k, v in ev.get("tasks", {}).items() if isinstance(v, dict) and "scored" in v]
        body += "".join(f'<p class="note">{_esc(line)}</p>' for line in lines)
    elif ev.get("prompt") == "demonstration":
        title, body = f"demonstration prompts ({ev.get('method', '')})", to_html(imitation_table(ev))
    else:
        title = f"goal prompts: {ev.get('agent', '')}, {ev.get('episodes_per_task', '?')} episodes per task"
        body = to_html(success_table(ev))
        metrics = {k: v for k, v in (ev.get("metrics") or {}).items() if k != "success"}
        if metrics:
            body += "<p>" + ", ".join(f"{_esc(k)} <b>{v:.2f}</b>" for k, v in metrics.items()) + "</p>"
        if ev.get("behaviour_counts"):
            body += f"<p class=\"note\">behaviours taken: {_esc(json.dumps(ev['behaviour_counts']))}</p>"
        pub = published(str(ev.get("agent", "")), str(ev.get("dataset", "")))
        if pub:
            body += (f"<p>published {_esc(ev.get('agent'))} on {_esc(ev.get('dataset'))}: <b>{pub[0]:.2f} ± "
                     f"{pub[1]:.2f}</b> (OGBench, 8 seeds, 1M steps)</p>")
    step = ev.get("train_step")
    return (f"<h3>{_esc(name)}: {_esc(title)}</h3>"
            + (f'<p class="note">at training step {_esc(step)}</p>' if step else "") + body)


def _curves(run: dict, tmp: Path) -> str:
    d = run["dir"]
    if not (d / rundir.METRICS).exists():
        return ""
    from ethogram.report.curves import plot_run

    path = tmp / f"{abs(hash(str(d)))}-curve.png"
    plot_run(d, path)
    return "<h3>Learning curves</h3>" + _img(path.read_bytes(), "losses (metrics.csv) and success at each "
                                              "evaluation (evals.csv and the final eval.json)", "learning curves")


def _video(run: dict, tmp: Path) -> str:
    if run["rollouts"] is None:
        return ('<p class="note">no rollout video: this evaluation kept no rollouts.npz; evaluate the run again '
                f"(<code>ethogram eval {_esc(run['dir'])}</code>) to record them.</p>")
    from ethogram.envs.registry import env_of
    from ethogram.report.video import rollout_video

    env = env_of(run["config"])
    path = tmp / f"{abs(hash(str(run['dir'])))}.mp4"
    info = rollout_video(env, run["rollouts"], path, env_name=run["config"]["env"])
    caption = (f"one episode of each task (the first of the evaluation in eval.json), colour = task as in the "
               f"rollouts picture, disc = goal of success radius; {info.note}; {info.frames} frames")
    return ("<figure><video controls muted loop autoplay playsinline preload=\"auto\" "
            f'width="480" src="{_data_uri(path.read_bytes(), "video/mp4")}"></video>'
            f"<figcaption>{_esc(caption)}</figcaption></figure>")


def _run_section(run: dict, tmp: Path, video: bool) -> str:
    cfg = run["config"]
    parts = [f"<h2>{_esc(cfg.get('agent'))} on {_esc(cfg.get('dataset_name'))} "
             f"<span class=\"note\">({_esc(run['dir'])})</span></h2>"]
    boxes = [_config_section(run), *(_eval_section(n, ev) for n, ev in run["evals"].items())]
    parts.append('<div class="media">' + "".join(f"<div>{b}</div>" for b in boxes) + "</div>")
    parts.append(_curves(run, tmp))
    shown = {k: v for k, v in run["pictures"].items() if k != "learning_curve.png"}
    media = "".join(_img(data, name, name) for name, data in shown.items())
    if video:
        media += _video(run, tmp)
    elif run["rollouts"] is not None:
        media += f'<p class="note">rollout video left out ({VIDEO_ENV}=0 or --no-video).</p>'
    if media:
        parts.append(f"<h3>Pictures{' and rollout video' if video and run['rollouts'] is not None else ''}</h3>"
                     f'<div class="media">{media}</div>')
    return "\n".join(p for p in parts if p)


def render_page(runs: list[dict], video: bool = True, title: str | None = None, preface: str = "",
                results: bool = True) -> str:
    from ethogram import __version__

    with tempfile.TemporaryDirectory(prefix="ethogram-report-") as tmp:
        seen, sections = set(), []
        for run in runs:
            key = (run["config"].get("agent"), run["config"].get("dataset_name"))
            show_video = video and key not in seen and len(seen) < MAX_VIDEOS
            seen.add(key)
            sections.append(_run_section(run, Path(tmp), show_video))
        table = _results_section(runs) if results else ""
    if title is None:
        first = runs[0]["config"]
        title = (f"{first.get('agent')} on {first.get('dataset_name')}" if len(runs) == 1
                 else f"{len(runs)} runs")
    stamp = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>ethogram report: {_esc(title)}</title><style>{CSS}</style></head>
<body>
<h1>ethogram report: {_esc(title)}</h1>
<p class="note">ethogram {_esc(__version__)}, written {stamp} on {_esc(cpu_name())}; runs:
{", ".join(f"<code>{_esc(r['dir'])}</code>" for r in runs)}</p>
{preface}
{table}
{"".join(sections)}
</body></html>
"""


def video_enabled(video: bool | None) -> bool:
    return (os.environ.get(VIDEO_ENV, "1") != "0") if video is None else video


def preface_section(heading: str, tables: list, notes: str = "") -> str:
    """A section above the runs' own (the demo's agent beside a random policy): report/tables.Table rows."""
    from ethogram.report.tables import to_html

    return (f"<h2>{_esc(heading)}</h2>" + "".join(to_html(t) for t in tables)
            + (f'<p class="note">{_esc(notes)}</p>' if notes else ""))


def write_report(run_dirs: list[str | Path], out: str | Path | None = None, video: bool | None = None,
                 title: str | None = None, preface: str = "", results: bool = True) -> Path:
    """Write the HTML page for `run_dirs` to `out` (default: RUN/report.html for one run, report.html for
    several) and return its path. All runs are read and checked first: an error writes nothing. `preface`:
    HTML placed above the results (`preface_section`); `results=False` leaves out the table over seeds (a caller
    whose preface holds its own, as `reproduce` does with OGBench's averaging of the last evaluations)."""
    if not run_dirs:
        raise EthogramError("report needs at least one run directory.", "ethogram report RUN_DIR [RUN_DIR ...]")
    runs = [read_run(d) for d in run_dirs]
    out = Path(out) if out is not None else (Path(run_dirs[0]) / "report.html" if len(run_dirs) == 1
                                             else Path("report.html"))
    if out.is_dir():
        raise EthogramError(f"--out '{out}' is a directory.", "give a file name, e.g. --out report.html")
    if not out.parent.exists():
        raise EthogramError(f"the directory of --out '{out}' does not exist.", "create it, or choose another --out")
    page = render_page(runs, video=video_enabled(video), title=title, preface=preface, results=results)
    atomic_write_text(out, page)
    return out
