"""Learning curves: a run's losses and periodic success, and success against training steps over seeds.

Used by `ethogram demo` (one run), `ethogram reproduce` (a grid) and the scripts; pictures are written by
report/plots.py's `save_png`, the one PNG writer.
"""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from matplotlib.ticker import FuncFormatter, MaxNLocator  # noqa: E402

from ethogram import rundir  # noqa: E402
from ethogram.report.plots import save_png  # noqa: E402
from ethogram.report.published import published  # noqa: E402
from ethogram.report.results import run_evaluations  # noqa: E402


def plot_run(run_dir: str | Path, path: str | Path,
             losses: tuple[str, ...] = ("value/loss", "actor/loss")) -> dict[int, float]:
    """One run: its losses (metrics.csv, log scale) and its success at every evaluation: the periodic ones
    (evals.csv) and the final one (eval.json), which is marked. Returns the success drawn at each step."""
    run_dir = Path(run_dir)
    rows = rundir.csv_rows(rundir.run_file(run_dir, rundir.METRICS))
    fig, axes = plt.subplots(1, 2, figsize=(9, 3.2), dpi=110)
    steps = [int(r["step"]) for r in rows]
    for key in losses:
        if rows and key in rows[0]:
            axes[0].plot(steps, [float(r[key]) for r in rows], label=key)
    axes[0].set_yscale("log")
    axes[0].set_ylabel("loss (log scale)")
    if axes[0].has_data():
        axes[0].legend(fontsize=8)
    axes[0].set_title("losses", fontsize=9)
    evals = run_evaluations(run_dir)
    if evals:
        order = sorted(evals)
        axes[1].plot(order, [evals[s] for s in order], "o-", ms=4, label="evaluations")
    if (run_dir / "eval.json").exists():
        final = rundir.read_eval(run_dir)
        step = final.get("train_step") or rundir.read_config(run_dir)["train_config"]["steps"]
        axes[1].plot([step], [final["success"]], "*", ms=13, color="C3", mec="black", mew=0.6,
                     label=f"final (eval.json): {final['success']:.2f}")
        axes[1].legend(fontsize=8, loc="best")
    axes[1].set_ylim(-0.02, 1.02)
    axes[1].set_ylabel("success rate")
    axes[1].set_title("success (periodic evaluations and the final one)", fontsize=9)
    for ax in axes:
        ax.set_xlabel("training step")
        ax.xaxis.set_major_locator(MaxNLocator(nbins=5, integer=True))
        ax.xaxis.set_major_formatter(FuncFormatter(lambda x, _: step_label(x)))
        ax.grid(alpha=0.3)
    save_png(fig, path, tight_bbox=False)
    return evals


def step_label(x: float) -> str:
    """A training step as a short tick label: 800, 20k, 1.5M."""
    for scale, suffix in ((1e6, "M"), (1e3, "k")):
        if abs(x) >= scale:
            return f"{x / scale:.3g}{suffix}"
    return f"{x:.0f}"


def success_curves(run_dirs: list[Path]) -> dict[tuple[str, str], dict[int, list[float]]]:
    """(dataset, agent) -> {training step: [success of each seed]} from evals.csv plus the final eval.json."""
    curves: dict[tuple[str, str], dict[int, list[float]]] = defaultdict(lambda: defaultdict(list))
    for d in run_dirs:
        cfg = rundir.read_config(d)
        key = (cfg["dataset_name"].removesuffix("-v0"), cfg["agent"])
        for step, success in run_evaluations(d).items():
            curves[key][step].append(success)
    return curves


def plot_success_curves(curves, path: str | Path, title: str) -> None:
    """One panel per dataset, one line per agent: success (mean ± std over seeds) against training steps."""
    datasets = sorted({d for d, _ in curves})
    fig, axes = plt.subplots(1, len(datasets), figsize=(5 * len(datasets), 3.8), squeeze=False)
    for ax, ds in zip(axes[0], datasets, strict=True):
        for (d, agent), points in sorted(curves.items()):
            if d != ds:
                continue
            steps = np.array(sorted(points))
            mean = np.array([np.mean(points[s]) for s in steps])
            std = np.array([np.std(points[s]) for s in steps])
            ax.plot(steps, mean, marker="o", ms=3, label=agent)
            ax.fill_between(steps, mean - std, mean + std, alpha=0.2)
        ax.set_title(ds, fontsize=10)
        ax.set_xlabel("training steps")
        ax.set_ylabel("success (mean ± std over seeds)")
        ax.set_ylim(-0.02, 1.02)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    fig.suptitle(title, fontsize=9)
    save_png(fig, path, dpi=110, tight_bbox=False)


def plot_budget_grid(curves: dict, path: str | Path, minutes: float, datasets: list[str], agents: list[str]) -> None:
    """One panel per (dataset, agent): success (mean ± std over seeds) against training minutes for each
    configuration, beside the published band; `curves[(dataset, agent)] = [(configuration, minutes, mean, std)]`."""
    keys = [(d, a) for d in datasets for a in agents if (d, a) in curves]
    fig, axes = plt.subplots(len(datasets), len(agents), figsize=(3.6 * len(agents), 3.0 * len(datasets)),
                             squeeze=False)
    names = list(dict.fromkeys(c[0] for k in keys for c in curves[k]))  # one colour per configuration everywhere
    for ds, agent in keys:
        ax = axes[datasets.index(ds), agents.index(agent)]
        for name, mins, mean, std in curves[(ds, agent)]:
            color = f"C{names.index(name)}"
            ax.plot(mins, mean, marker="o", ms=3, label=name, color=color)
            ax.fill_between(mins, mean - std, mean + std, color=color, alpha=0.2)
        pub = published(agent, ds)
        if pub:
            ax.axhspan(pub[0] - pub[1], pub[0] + pub[1], color="k", alpha=0.08)
            ax.axhline(pub[0], color="k", ls="--", lw=1, label="published (1M steps)")
        ax.axvline(minutes, color="grey", ls=":", lw=1)
        ax.set_xscale("log")
        ax.set_xlim(0.05, 60)
        ax.set_ylim(-0.02, 1.02)
        ax.set_title(f"{agent.upper()}, {ds.removeprefix('pointmaze-')}", fontsize=10)
        ax.set_xlabel("training minutes on 2 CPU cores")
        ax.set_ylabel("success")
    for ax in axes.flat:
        if not ax.has_data():
            ax.axis("off")
    handles = {}
    for ax in axes.flat:
        for h, label in zip(*ax.get_legend_handles_labels(), strict=True):
            handles.setdefault(label, h)
    handles = dict(sorted(handles.items(), key=lambda kv: names.index(kv[0]) if kv[0] in names else len(names)))
    fig.legend(handles.values(), handles.keys(), loc="lower center", ncol=len(handles), fontsize=8)
    save_png(fig, path, dpi=110, tight_bbox=False, rect=(0, 0.05, 1, 1))
