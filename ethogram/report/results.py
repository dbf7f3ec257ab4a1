"""Results records: run directories -> {agent, dataset, metric, mean, std, seeds, ...} and Markdown tables.

Every table in docs/results.md has a machine-readable twin in docs/results/*.json made by these functions.
"""

from __future__ import annotations

import hashlib
import json
from collections import defaultdict
from pathlib import Path

import numpy as np

from ethogram import rundir
from ethogram.errors import EthogramError
from ethogram.io import atomic_write_text
from ethogram.report.published import published
from ethogram.report.tables import Table


def run_evaluations(run_dir: str | Path) -> dict[int, float]:
    """Success at every evaluated training step of a run: the periodic evaluations (evals.csv) and the final one
    (eval.json, when it exists)."""
    run_dir = Path(run_dir)
    out: dict[int, float] = {}
    try:
        out = {int(r["step"]): float(r["success"]) for r in rundir.csv_rows(run_dir / "evals.csv")}
    except (ValueError, KeyError, TypeError) as e:
        raise EthogramError(f"run '{run_dir}' has a malformed evals.csv ({e}).") from None
    if (run_dir / "eval.json").exists():
        ev = rundir.read_eval(run_dir)
        step = ev.get("train_step") or rundir.read_config(run_dir)["train_config"]["steps"]
        out[int(step)] = float(ev["success"])
    return out


def _periodic(run_dir: Path, final_step: int, k: int) -> list[dict]:
    """The last k - 1 periodic evaluations before `final_step` (evals.csv rows: step, success, task1..), oldest
    first; a clear error when the run has fewer than asked."""
    if k <= 1:
        return []
    path = run_dir / "evals.csv"
    try:
        rows = [{key: float(v) for key, v in r.items()} for r in rundir.csv_rows(path)] if path.exists() else []
    except (ValueError, KeyError, TypeError, AttributeError) as e:
        raise EthogramError(f"run '{run_dir}' has a malformed evals.csv ({e}).") from None
    rows = sorted((r for r in rows if r["step"] < final_step), key=lambda r: r["step"])[-(k - 1):]
    if len(rows) < k - 1:
        raise EthogramError(f"--last-evals {k} averages the final evaluation and the {k - 1} periodic ones before "
                            f"it, but run '{run_dir}' has {len(rows)} periodic evaluation(s) before step "
                            f"{final_step}.", f"use --last-evals {len(rows) + 1} (or train with --eval-every so that "
                            f"{k - 1} evaluations fall before the last step)")
    return rows


OFF_BY_DEFAULT = ("drop_falls",)  # training settings whose falsy value is what a run without them did


def trial_key(cfg: dict) -> str:
    """A digest of a run's whole configuration but its seed: the agent, its config, the training config and the
    dataset's content. Runs with the same key differ only by seed, so they are one record over seeds. How often a
    run logged and saved is left out when it is a multiple of `fuse`: the training is then cut into the same
    chunks and learns the same (train.py refuses a resumed --save-every that is not). Settings that are off
    (`drop_falls` 0) count as absent, so runs from before a setting existed group with those after."""
    tc = dict(cfg.get("train_config", {}))
    fuse = tc.get("fuse") or 1
    tc = {k: v for k, v in tc.items() if k not in ("seed", "tensorboard")
          and not (k in ("log_every", "save_every") and isinstance(v, int) and v % fuse == 0)
          and not (k in OFF_BY_DEFAULT and not v)}
    key = {"agent": cfg.get("agent"), "agent_config": cfg.get("agent_config"), "train_config": tc,
           "dataset_sha256": cfg.get("dataset_sha256"), "env": cfg.get("env"), "maze_layout": cfg.get("maze_layout")}
    return hashlib.sha256(json.dumps(key, sort_keys=True).encode()).hexdigest()


def dataset_size(cfg: dict) -> tuple[int | None, int | None]:
    """(episodes, transitions) of a run's dataset: recorded in config.json, else read from the dataset's sidecar."""
    if cfg.get("dataset_episodes") is not None:
        return cfg["dataset_episodes"], cfg.get("dataset_transitions")
    try:
        from ethogram.io import read_json

        meta = read_json(Path(cfg["dataset"]).with_suffix(".json"), "dataset sidecar")
        return meta.get("train_episodes"), meta.get("transitions")
    except (EthogramError, KeyError, TypeError, AttributeError):
        return None, None


def run_result(run_dir: str | Path, eval_file: str = "eval.json", last_evals: int = 1) -> dict:
    """One run's record. `last_evals` = k > 1: success is the mean of the final evaluation and the k - 1
    periodic ones before it (OGBench's protocol: k = 3, the evaluations at 800k, 900k and 1M steps); a run with
    fewer evaluations than that is an error, never a silent mean of fewer."""
    run_dir = Path(run_dir)
    ev = rundir.read_eval(run_dir, eval_file, f"train and evaluate it first: ethogram eval {run_dir}")
    cfg = rundir.read_config(run_dir)
    try:
        c = cfg["agent_config"]
        out = {"agent": ev.get("agent", cfg["agent"]), "dataset": cfg["dataset_name"].removesuffix("-v0"),
               "seed": cfg["train_config"]["seed"],
               "train_steps": ev.get("train_step") or cfg["train_config"]["steps"],
               # act settings of `ethogram eval --set` (BESO's sampler, steps, guidance) are part of the config
               "config": {**c, **(ev.get("act_settings") or {})},
               "episodes": ev["episodes_per_task"],
               "task_set": ev.get("task_set", "published"), "eval_seed": ev.get("eval_seed"),
               "task_success": [float(v) for v in ev.get("tasks", {}).values()],
               "budget": {"steps": cfg["train_config"]["steps"], "batch_size": c.get("batch_size"),
                          "nets": c.get("actor_hidden_dims") or c.get("value_hidden_dims")},
               "dataset_sha256": cfg.get("dataset_sha256"),
               # Evaluations name their metrics; files written before that hold success alone.
               "metrics": dict(ev.get("metrics") or {"success": ev["success"]})}
    except (KeyError, TypeError, AttributeError, ValueError) as e:
        raise EthogramError(f"run '{run_dir}' has an incomplete config.json or eval.json (missing {e}).",
                            f"evaluate it again: ethogram eval {run_dir}") from None
    out["dataset_episodes"], out["dataset_transitions"] = dataset_size(cfg)
    out["trial_key"] = trial_key({**cfg, "agent_config": out["config"]})
    earlier = _periodic(run_dir, int(out["train_steps"]), last_evals)  # periodic evaluations record success
    out["evals_averaged"] = 1 + len(earlier)
    if "success" in out["metrics"]:
        out["metrics"]["success"] = float(np.mean([*(r["success"] for r in earlier), out["metrics"]["success"]]))
        n = len(out["task_success"])
        if earlier and n and all(f"task{k}" in r for r in earlier for k in range(1, n + 1)):
            out["task_success"] = [float(np.mean([*(r[f"task{k + 1}"] for r in earlier), v]))
                                   for k, v in enumerate(out["task_success"])]
    out["success"] = out["metrics"].get("success")
    return out


# ------------------------------------------------------------------------------------- intervals (rliable)

BOOTSTRAP_RESAMPLES = 2000


def iqm(scores: np.ndarray) -> float:
    """Interquartile mean of all (seed, task) scores: the mean of the middle 50 % (rliable's IQM)."""
    from scipy.stats import trim_mean

    return float(trim_mean(np.asarray(scores, dtype=np.float64).ravel(), 0.25))


def interval_estimates(scores: np.ndarray, seed: int = 0) -> dict | None:
    """IQM and mean of a (seeds, tasks) score matrix with 95 % percentile intervals from rliable's stratified
    bootstrap (seeds resampled with replacement within each task), or None for a single seed."""
    scores = np.asarray(scores, dtype=np.float64)
    if scores.ndim != 2 or scores.shape[0] < 2 or scores.shape[1] < 1:
        return None
    n, t = scores.shape
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, n, size=(BOOTSTRAP_RESAMPLES, n, t))
    resampled = scores[idx, np.arange(t)[None, None, :]]  # (B, n, t)
    flat = resampled.reshape(BOOTSTRAP_RESAMPLES, -1)
    srt = np.sort(flat, axis=1)
    cut = int(np.floor(0.25 * flat.shape[1]))
    iqms = srt[:, cut:flat.shape[1] - cut].mean(axis=1)
    means = flat.mean(axis=1)

    def ci(v):
        return [round(float(np.percentile(v, 2.5)), 4), round(float(np.percentile(v, 97.5)), 4)]

    return {"iqm": round(iqm(scores), 4), "iqm_ci95": ci(iqms), "mean_ci95": ci(means),
            "ci": f"95 % percentile bootstrap, {BOOTSTRAP_RESAMPLES} resamples of the seeds within each task"}


# ------------------------------------------------------------------------------------------- records

def _comparable(group: list[dict]) -> None:
    """The runs of one record share their evaluation settings; a clear error names two that do not."""
    for field, what in (("episodes", "episodes per task"), ("task_set", "task set")):
        values = {r[field] for r in group}
        if len(values) > 1:
            a = next(r for r in group if r[field] == sorted(values, key=str)[0])
            b = next(r for r in group if r[field] != a[field])
            raise EthogramError(f"runs '{a['run_dir']}' and '{b['run_dir']}' ({a['agent']} on {a['dataset']}) were "
                                f"evaluated with different {what} ({a[field]} and {b[field]}), so they cannot be "
                                "averaged into one record.", "evaluate them alike (ethogram eval RUN --episodes N), "
                                "or summarize them separately")
    seeds = [r["seed"] for r in group]
    for s in sorted(set(seeds)):
        same = [r["run_dir"] for r in group if r["seed"] == s]
        if len(same) > 1:
            raise EthogramError(f"runs {', '.join(repr(d) for d in same)} are the same configuration with the same "
                                f"seed {s}: one seed would count {len(same)} times.",
                                "summarize one run per seed (or train the others with other --seed values)")


def _one_dataset_per_name(results: list[dict]) -> None:
    """Runs of one agent and dataset name must have trained on the same data, or the record's name would lie."""
    seen: dict[tuple, dict] = {}
    for r in results:
        key = (r["agent"], r["dataset"], r["train_steps"], json.dumps(r["config"], sort_keys=True))
        other = seen.setdefault(key, r)
        if other["dataset_sha256"] != r["dataset_sha256"]:
            raise EthogramError(f"runs '{other['run_dir']}' and '{r['run_dir']}' train {r['agent']} on two different "
                                f"datasets named {r['dataset']} ({other['dataset_episodes']} and "
                                f"{r['dataset_episodes']} episodes; contents {str(other['dataset_sha256'])[:12]} and "
                                f"{str(r['dataset_sha256'])[:12]}), so they cannot be compared.",
                                "summarize the runs of each dataset separately, or train them on the same file")


def covers(n_seeds: int, tasks: int, episodes: int, evals: int) -> str:
    """What a record's ± covers, in words."""
    each = f"{tasks} tasks x {episodes} episodes" + (f", averaged over its last {evals} evaluations" if evals > 1
                                                      else "")
    return (f"std (ddof 0) over {n_seeds} training seed(s): each seed's value is its mean over {each}; the "
            "episodes' noise is inside each seed's value")


def aggregate(run_dirs: list[str | Path], command: str, eval_file: str = "eval.json",
              last_evals: int = 1) -> list[dict]:
    """One record per configuration (every field but the seed, the dataset's content included: `trial_key`) and
    metric: mean and std (ddof 0) over seeds, IQM with bootstrap intervals, and everything that makes it
    comparable (dataset size and hash, budget, evaluation settings, seeds, what the ± covers).

    Refused with a clear error: a run given twice, two runs of one configuration with the same seed, runs of one
    record evaluated differently, and two datasets under one name.
    `eval_file` picks the evaluation: eval.json (goal prompts), eval-heldout.json, eval-plan.json (HILP-Plan).
    `last_evals`: each seed's success averages its last evaluations (see `run_result`).
    """
    if last_evals < 1:
        raise EthogramError(f"--last-evals must be at least 1 (got {last_evals}).")
    paths = [Path(d).resolve() for d in run_dirs]
    for p in sorted(set(paths)):
        if paths.count(p) > 1:
            raise EthogramError(f"run '{p}' is given {paths.count(p)} times; each run counts once.",
                                "pass each run directory once")
    results = []
    for d in run_dirs:
        r = run_result(d, eval_file, last_evals)
        r["run_dir"] = str(d)
        results.append(r)
    return aggregate_results(results, command)


def aggregate_results(results: list[dict], command: str) -> list[dict]:
    """`aggregate` of run results already read (`run_result`; e.g. a committed ledger of runs whose directories
    are gone), with the same refusals."""
    _one_dataset_per_name(results)
    groups: dict[str, list[dict]] = defaultdict(list)
    for r in results:
        groups[r["trial_key"]].append(r)
    records = []
    for rs in groups.values():
        _comparable(rs)
        r0 = rs[0]
        names = [m for m in r0["metrics"] if all(m in r["metrics"] for r in rs)]
        for metric in names:
            s = np.array([float(r["metrics"][metric]) for r in rs])
            evals = min(r["evals_averaged"] for r in rs) if metric == "success" else 1
            rec = {"agent": r0["agent"], "dataset": r0["dataset"], "metric": metric,
                   "mean": round(float(s.mean()), 4), "std": round(float(s.std()), 4),
                   "seeds": sorted(r["seed"] for r in rs), "train_steps": r0["train_steps"],
                   "eval_episodes_per_task": r0["episodes"], "task_set": r0["task_set"],
                   "eval_seeds": sorted({r["eval_seed"] for r in rs if r["eval_seed"] is not None}),
                   "evals_averaged": evals,
                   "dataset_episodes": r0["dataset_episodes"], "dataset_transitions": r0["dataset_transitions"],
                   "dataset_sha256": r0["dataset_sha256"], "budget": r0["budget"],
                   "std_covers": covers(len(rs), len(r0["task_success"]) or 1, r0["episodes"], evals),
                   "trial_key": r0["trial_key"][:16], "config": r0["config"], "command": command}
            if metric == "success" and all(len(r["task_success"]) == len(r0["task_success"]) for r in rs):
                est = interval_estimates(np.array([r["task_success"] for r in rs]))
                if est:
                    rec.update(est)
            records.append(rec)
    return sorted(records, key=lambda r: (r["dataset"], r["agent"], r["metric"] != "success", r["metric"]))


def _data_text(r: dict) -> str:
    """A record's dataset size, beside OGBench's for that dataset where it differs ('100 ep (OGBench 1000)')."""
    if r.get("dataset_episodes") is None:
        return "?"
    text = f"{r['dataset_episodes']} ep"
    try:
        from ethogram.data.collect import default_config
        from ethogram.envs.registry import parse_dataset_name

        full = default_config(parse_dataset_name(r["dataset"])).episodes
    except (EthogramError, TypeError, ValueError):
        return text
    return text if full == r["dataset_episodes"] else f"{text} (OGBench {full})"


def results_table(records: list[dict], swept: list[str] | tuple = ()) -> Table:
    """One row per record: ours (mean ± std over seeds, IQM with its 95 % interval) beside the published number,
    with the dataset's size and the evaluation that made it; `swept`: config fields shown in a column of their own
    (a sweep's hyperparameters)."""
    rows = []
    for r in records:
        pub = (published(r["agent"], r["dataset"])
               if r.get("metric", "success") == "success" and r.get("task_set", "published") == "published" else None)
        c = r["config"]
        nets = "x".join(str(x) for x in c.get("actor_hidden_dims", [])) + f" / {c.get('batch_size')}"
        iqm_text = f"{r['iqm']:.2f} [{r['iqm_ci95'][0]:.2f}, {r['iqm_ci95'][1]:.2f}]" if "iqm" in r else "n/a"
        data = _data_text(r)
        ev = f"{r.get('task_set', 'published')}, {r.get('eval_episodes_per_task', '?')}/task"
        if r.get("evals_averaged", 1) > 1:
            ev += f", last {r['evals_averaged']}"
        point = (", ".join(f"{k}={c[k]}" for k in swept if k in c) or "-",) if swept else ()
        rows.append((r["dataset"], r["agent"], *point, r.get("metric", "success"),
                     f"{r['mean']:.2f} ± {r['std']:.2f}", iqm_text, len(r["seeds"]), r["train_steps"], nets, data,
                     ev, f"{pub[0]:.2f} ± {pub[1]:.2f}" if pub else "n/a",
                     versus_published(r["mean"], *pub) if pub else "n/a"))
    return Table(("dataset", "agent", *(("swept",) if swept else ()), "metric", "ours (mean ± std over seeds)",
                  "IQM [95% CI]", "seeds", "train steps", "nets / batch", "data", "evaluation",
                  "published (OGBench's data, 1M steps, 8 seeds)", "ours vs published"), rows)


def versus_published(mean: float, pub_mean: float, pub_std: float) -> str:
    """Two-sided: 'within one published std' of the published mean, or 'above' / 'below' it (by how many stds)."""
    gap = mean - pub_mean
    if abs(gap) <= pub_std + 1e-9:
        return "within one published std"
    side = "above" if gap > 0 else "below"
    return f"{side} ({abs(gap) / pub_std:.1f} stds)" if pub_std > 0 else side


def write_records(records: list[dict], path: str | Path) -> None:
    atomic_write_text(path, json.dumps(records, indent=2) + "\n")


def is_prompt_eval(eval_file: str) -> bool:
    """Whether an evaluation file holds reward or demonstration prompts (eval-reward*.json, eval-demo*.json)."""
    return is_reward_eval(eval_file) or eval_file.startswith("eval-demo")


def is_reward_eval(eval_file: str) -> bool:
    return eval_file.startswith("eval-reward")


def aggregate_prompts(run_dirs: list[str | Path], command: str, eval_file: str) -> list[dict]:
    """Records of reward prompts (eval-reward*.json: returns of the agent, random and the reference per task) or
    demonstration prompts (eval-demo*.json: fidelity of the agent and random per demonstration), over seeds. A
    reward file's task that was answered but not scored (evaluate/prompts.py) has no returns to aggregate."""
    groups: dict[tuple, list[float]] = defaultdict(list)
    seeds: dict[tuple, list[int]] = defaultdict(list)
    meta: dict[tuple, dict] = {}
    for d in run_dirs:
        d = Path(d)
        try:
            cfg = rundir.read_config(d)
            ev = rundir.read_eval(d, eval_file, f"evaluate it first: ethogram eval {d} --prompt "
                                  f"{'reward:all' if is_reward_eval(eval_file) else 'demo:all'}")
            tasks = ev["tasks"]
        except (KeyError, TypeError) as e:
            raise EthogramError(f"run '{d}' has a malformed {eval_file} ({e}).") from None
        dataset = cfg["dataset_name"].removesuffix("-v0")
        for task, r in tasks.items():
            if is_reward_eval(eval_file):
                values = {f"return/{who}": r[who]["return_mean"]
                          for who in ("agent", "random", "reference") if who in r and r.get("scored", True)}
            else:
                values = {f"{m}/{who}": (r[m] if who == "agent" else r["random"][m])["mean"]
                          for m in ("cells_in_order", "mean_distance", "final_distance") for who in ("agent", "random")}
            for metric, v in values.items():
                key = (cfg["agent"], dataset, task, metric, ev.get("train_step"))
                groups[key].append(float(v))
                seeds[key].append(cfg["train_config"]["seed"])
                meta[key] = {"config": cfg["agent_config"], "episodes": r.get("episodes"),
                             "feature": r.get("feature"), "method": ev.get("method")}
    records = []
    for key, vs in groups.items():
        agent, dataset, task, metric, step = key
        rec = {"agent": agent, "dataset": dataset, "task": task, "metric": metric,
               "mean": round(float(np.mean(vs)), 4), "std": round(float(np.std(vs)), 4),
               "seeds": sorted(seeds[key]), "train_steps": step, "episodes": meta[key]["episodes"]}
        rec.update({k: meta[key][k] for k in ("feature", "method") if meta[key][k]})
        records.append({**rec, "config": meta[key]["config"], "command": command})
    return sorted(records, key=lambda r: (r["dataset"], r["task"], r["metric"]))


def prompt_table(records: list[dict]) -> Table:
    """One row per (dataset, task): the agent beside random (and the scripted reference for rewards)."""
    rows: dict[tuple, dict] = defaultdict(dict)
    for r in records:
        rows[(r["dataset"], r["task"])][r["metric"]] = f"{r['mean']:.2f} ± {r['std']:.2f}"
    metrics = sorted({r["metric"] for r in records}, key=lambda m: (m.split("/")[0], m.split("/")[1] != "agent"))
    return Table(("dataset", "task", *metrics),
                 [(dataset, task, *(v.get(m, "n/a") for m in metrics)) for (dataset, task), v in sorted(rows.items())])
