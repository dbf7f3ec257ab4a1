"""docs/results.md's generated tables, rendered from their records in docs/results/*.json.

    python scripts/results_tables.py            # rewrite every marked table from its records
    python scripts/results_tables.py --check    # exit 1 if a table differs from its records (tests/test_docs.py)

A table between `<!-- results-table:NAME.json -->` and `<!-- /results-table:NAME.json -->` is the rendering of
docs/results/NAME.json: records of `ethogram summarize` / `sweep` / `reproduce` as report/results.py's results
table, held-out records (scripts/heldout_records.py) as published-versus-held-out pairs. A marker naming a table
of TABLES below (`<!-- results-table:hilp-goals -->`) is that table's rendering of the records it reads. Nothing
between the markers is written by hand.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
DOC = ROOT / "docs" / "results.md"
MARK = re.compile(r"(<!-- results-table:(?P<name>[\w.-]+) -->\n)(?P<body>.*?)(<!-- /results-table:(?P=name) -->)",
                  re.S)


def render(name: str, records: list[dict]) -> str:
    sys.path.insert(0, str(ROOT))
    if name.startswith("heldout"):
        sys.path.insert(0, str(ROOT / "scripts"))
        from heldout_records import table

        return table(records) + "\n"
    from ethogram.report.results import results_table
    from ethogram.report.tables import to_markdown

    return to_markdown(results_table([r for r in records if r.get("metric", "success") == "success"])) + "\n"


# ------------------------------------------------------------------------------------------ named tables

MAZE_ORDER = [f"pointmaze-{m}-{k}" for m in ("medium", "large", "giant") for k in ("navigate", "stitch")]


def _num(x: float) -> str:
    """A number at a precision that suits its size (0.48, 114.4, -3057)."""
    return f"{x:.0f}" if abs(x) >= 1000 else f"{x:.1f}" if abs(x) >= 100 else f"{x:.2f}"


def _pm(r: dict | None, fmt=None) -> str:
    """mean ± std, both at the precision `_num` gives the mean (or with `fmt`)."""
    if r is None:
        return "n/a"
    if fmt is None:
        d = len(_num(r["mean"]).partition(".")[2])
        fmt = lambda x: f"{x:.{d}f}"  # noqa: E731
    return f"{fmt(r['mean'])} ± {fmt(r['std'])}"


def _md(header: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    return "\n".join(lines + ["| " + " | ".join(r) + " |" for r in rows]) + "\n"


def _index(records: list[dict], *keys: str) -> dict:
    out = {}
    for r in records:
        k = tuple(r.get(x) for x in keys)
        if k in out:
            raise ValueError(f"two records for {dict(zip(keys, k, strict=True))}")
        out[k] = r
    return out


def _published(agent: str, dataset: str) -> dict | None:
    sys.path.insert(0, str(ROOT))
    from ethogram.report.published import published

    p = published(agent, dataset)
    return None if p is None else {"mean": p[0], "std": p[1]}


def hilp_goals(load) -> str:
    goal, plan = _index(load("hilp.json"), "dataset"), _index(load("hilp-plan.json"), "dataset")
    rows = [[d, _pm(goal.get((d,))), _pm(plan.get((d,))), _pm(_published("gcivl", d)), _pm(_published("hiql", d))]
            for d in MAZE_ORDER if (d,) in goal]
    return _md(["dataset", "HILP (goal)", "HILP-Plan", "published GCIVL", "published HIQL"], rows)


REWARD_TASKS = {"reach-region": "steps in region", "move-east": "net x travelled", "approach": "−distance / 4, summed"}


def hilp_reward(load) -> str:
    recs = _index(load("hilp-reward.json"), "dataset", "task", "metric")
    rows = []
    for d in sorted({k[0] for k in recs}, key=MAZE_ORDER.index):
        for task, what in REWARD_TASKS.items():
            if (d, task, "return/agent") in recs:
                rows.append([d.removeprefix("pointmaze-"), f"{task} ({what})", _pm(recs[d, task, "return/agent"]),
                             _num(recs[d, task, "return/random"]["mean"]),
                             _num(recs[d, task, "return/reference"]["mean"])])
    return _md(["dataset", "task", "HILP zero-shot (± over seeds)", "random policy", "scripted reference"], rows)


def hilp_demo(load) -> str:
    recs = _index(load("hilp-demo.json"), "dataset", "task", "metric")
    rows = []
    for d in sorted({k[0] for k in recs}, key=MAZE_ORDER.index):
        demos = sorted({k[1] for k in recs if k[0] == d})

        def cell(m, fmt, d=d, demos=demos):
            return " / ".join(fmt(recs[d, t, m]["mean"]) for t in demos)

        dist = lambda x: f"{x:.2f}" if x < 10 else f"{x:.1f}"  # noqa: E731
        rows.append([d.removeprefix("pointmaze-"), " / ".join(demos),
                     cell("cells_in_order/agent", lambda x: f"{x:.2f}"),
                     cell("cells_in_order/random", lambda x: f"{x:.2f}"),
                     cell("mean_distance/agent", dist), cell("mean_distance/random", dist)])
    return _md(["dataset", "demo", "cells in order: HILP", "random", "mean distance: HILP", "random"], rows)


def _search_label(r: dict) -> str:
    if r.get("mode") == "online":
        return "sns (online)"
    ctrl = r.get("controller")
    return f"{r['agent']} ({r['mode']}{', ' + ctrl if ctrl else ''})"


def search_main(load) -> str:
    recs = [r for r in load("search.json") if "mode" in r]
    by = _index(recs, "dataset", "agent", "mode", "controller", "metric")
    keys = sorted({k[:4] for k in by}, key=lambda k: (k[2] != "online", k[0], k[1], str(k[3])))
    whole = lambda x: f"{x:.0f}"  # noqa: E731
    rows = []
    for k in keys:
        def m(name, k=k):
            return by.get((*k, name))

        first, secs = m("steps_to_first_success (mean over tasks)"), m("seconds_to_first_success (mean over tasks)")
        rows.append([k[0], _search_label(by[(*k, "success")]), _pm(m("success")), _pm(m("graph_nodes"), whole),
                     _pm(m("eval_episode_length"), whole),
                     f"{_pm(first, whole)} ({first['tasks_solved']})" if first else "0 (graph from data)",
                     _pm(secs, lambda x: f"{x:.1f}") if secs else "n/a", str(len(m("success")["seeds"]))])
    return _md(["dataset", "agent (mode, controller)", "success", "graph nodes", "eval episode length",
                "env steps to first success (tasks solved)", "seconds to first success", "seeds"], rows)


def search_adapt(load) -> str:
    recs = [r for r in load("search.json") if r["metric"].startswith("steps_to_resolve")]
    order = {"sns-mutate": 0, "sns-frozen": 1, "sns-fresh": 2}
    recs.sort(key=lambda r: (r["dataset"], order.get(r["agent"], 9), r["agent"]))
    rows = [[r["dataset"], r["agent"], _pm(r, lambda x: f"{x:.0f}"), r["unsolved"], str(r["budget"]),
             str(len(r["seeds"]))] for r in recs]
    return _md(["maze", "agent", "env steps to re-solve (mean over tasks)", "not re-solved", "budget", "seeds"], rows)


def _beso_rows(recs: dict, agents: list[tuple[str, str]]) -> list[list[str]]:
    return [[label, _pm(recs.get((a, "success"))), _pm(recs.get((a, "diversity"))), _pm(recs.get((a, "score")))]
            for a, label in agents if (a, "success") in recs]


def beso_avoiding(load) -> str:
    recs = {**_index(load("beso-avoiding.json"), "agent", "metric"),
            **_index(load("beso-settings.json"), "agent", "metric")}
    return _md(["policy", "success", "diversity", "score (0.8·success + 0.2·diversity)"],
               _beso_rows(recs, [("beso", "BESO, 3 DDIM steps (default)"),
                                 ("beso[sampler=ddpm]", "BESO weights, DDPM 25 steps"), ("gcbc", "GCBC")]))


BESO_SETTINGS = [("beso[sampling_steps=1]", "DDIM, 1 step"), ("beso[sampling_steps=3]", "DDIM, 3 steps"),
                 ("beso[sampling_steps=10]", "DDIM, 10 steps"),
                 ("beso[sampler=euler_ancestral]", "Euler-ancestral, 3 steps"),
                 ("beso[sampler=ddpm]", "DDPM, 25 steps"),
                 ("beso[guidance=0.0]", "guidance 0 (goal-free: D3IL's protocol)"),
                 ("beso[guidance=1.0]", "guidance 1 (conditional, default)"), ("beso[guidance=1.5]", "guidance 1.5"),
                 ("beso[guidance=2.0]", "guidance 2"), ("beso[guidance=3.0]", "guidance 3")]


def beso_settings(load) -> str:
    return _md(["setting", "success", "diversity", "score"],
               _beso_rows(_index(load("beso-settings.json"), "agent", "metric"), BESO_SETTINGS))


def beso_pointmaze(load) -> str:
    beso = _index(load("beso-pointmaze.json"), "dataset")
    gcbc = _index([r for r in load("budget.json") if r["agent"] == "gcbc" and r.get("configuration") == "2x256/b512"],
                  "dataset")
    rows = [[d, _pm(beso[(d,)]), _pm(gcbc.get((d,))), _pm(_published("gcbc", d)), _pm(_published("gcivl", d))]
            for d in sorted({k[0] for k in beso}, key=MAZE_ORDER.index)]
    steps = lambda recs: "/".join(f"{s // 1000}k" for s in sorted({r["train_steps"] for r in recs.values()}))  # noqa: E731
    return _md(["dataset", f"BESO ({steps(beso)} steps)", f"GCBC, ours ({steps(gcbc)} steps)", "GCBC, published",
                "GCIVL, published"], rows)


def beso_speed(load) -> str:
    bench = json.loads((ROOT / "benchmarks" / "results" / "beso.json").read_text())
    names = {"ddim": "DDIM", "ddpm": "DDPM"}
    rows = [[f"{names.get(r['sampler'], r['sampler'])}, {r['steps']} step{'s' if r['steps'] > 1 else ''}"
             f"{' (default)' if (r['sampler'], r['steps']) == ('ddim', 3) else ''}", f"{r['ms_per_call']:.2f}",
             f"{1000 * r['ms_per_action']:.1f}"] for r in bench["sampling"]]
    return _md(["sampler", f"ms per call of {bench['batch']}", "µs per action"], rows)


def antmaze_datasets(load) -> str:
    """The collected antmaze datasets (scripts/dataset_records.py): size, how the expert did, what it cost."""
    rows = []
    for r in load("antmaze-datasets.json"):
        st = r.get("expert_stats") or {}
        def pct(k, st=st):
            return f"{100 * st[k]:.1f} %" if k in st else "n/a"

        rows.append([r["dataset"], f"{r['episodes']} x {r['episode_steps']}", str(r["transitions"]),
                     pct("episodes_reaching_a_goal"), str(st.get("goals_reached_per_episode", "n/a")),
                     pct("episodes_fallen"), f"{r['seconds']:.0f}", str(r["env_steps_per_second"])])
    return _md(["dataset", "episodes x stored steps", "transitions", "episodes reaching a goal", "goals per episode",
                "episodes in which the ant fell", "collection (s, with -val)", "env steps/s"], rows)


def ant_expert(load) -> str:
    """The ant's locomotion expert (docs/results/ant-expert): its speed evaluation and what training it cost."""
    ev, rec = load("ant-expert/eval.json"), load("ant-expert/record.json")
    return _md(["environment steps", "training (s, 2 cores)", "training episodes (fell)",
                f"directional speed, {ev['episodes']} episodes (m/s)", "evaluation episodes in which the ant fell"],
               [[str(rec["step"]), f"{rec['seconds']:.0f}", f"{rec['episodes']} ({rec['falls']})",
                 f"{ev['directional_speed_mean']:.3f} ± {ev['directional_speed_std']:.3f}",
                 f"{ev['fell']} of {ev['episodes']}"]])


def antmaze_pilot(load) -> str:
    """The budget pilot (docs/results/antmaze-pilot): success of the periodic evaluations by training step, one row
    per agent piloted (each AGENT-evals.csv)."""
    curves = {}
    for name in load.names("antmaze-pilot/*-evals.csv"):
        agent = name.split("/")[-1].removesuffix("-evals.csv")
        curves[agent] = {int(r["step"]): float(r["success"]) for r in load.csv(name)}
    steps = sorted(set().union(*curves.values()))
    return _md(["agent", *(f"{s // 1000}k steps" for s in steps)],
               [[a.upper(), *(f"{c[s]:.2f}" if s in c else "-" for s in steps)] for a, c in curves.items()])


GAS = {"antmaze-giant-navigate": 0.776, "antmaze-giant-stitch": 0.883, "antmaze-large-stitch": 0.963,
       "antmaze-medium-stitch": 0.981}  # GAS (arXiv 2506.07744), 8 seeds, as ../shared/REFERENCE.md section 6 gives


def antmaze_search(load) -> str:
    """The search agent on antmaze (scripts/antmaze_search.sh): success with its cost, beside our HIQL alone on the
    same seeds (the controller it drives, docs/results/antmaze-runs.json), published HIQL and GAS; and on the
    held-out tasks, beside the same HIQL runs there."""
    recs = load("antmaze-search.json")
    by = _index(recs, "dataset", "agent", "settings", "metric")
    runs = list(load("antmaze-runs.json").values())
    rows = []
    for dataset, agent, settings in sorted({(r["dataset"], r["agent"], r.get("settings")) for r in recs},
                                           key=lambda k: (k[0], str(k[2]), len(k[1]))):
        def m(name, dataset=dataset, agent=agent, settings=settings):
            return by.get((dataset, agent, settings, name))

        ok = m("success")
        seeds = ok["seeds"]
        alone = [r["success"] for r in runs
                 if r["agent"] == "hiql" and r["dataset"] == dataset and r["seed"] in seeds]
        hiql = (f"{np.mean(alone):.2f} ± {np.std(alone):.2f}" if len(alone) == len(seeds) else "n/a")
        pub = _published("hiql", dataset)
        whole, tenth = (lambda x: f"{x:.0f}"), (lambda x: f"{x:.1f}")  # noqa: E731
        nodes = f"{_pm(m('graph_nodes'), whole)} → {_pm(m('graph_nodes_after'), whole)}"
        ms = f"{_pm(m('search_ms_per_step'), whole)} ({_pm(m('plan_ms_per_step'), tenth)})"
        held, held_alone = m("success_heldout"), m("controller_success_heldout")
        rows.append([dataset, agent, settings or "defaults", _pm(ok), " / ".join(f"{t:.2f}" for t in ok["tasks"]),
                     ", ".join(map(str, seeds)), nodes, _pm(m("replans_per_episode"), tenth), ms,
                     _pm(m("graph_build_seconds"), whole), hiql, _pm(pub),
                     f"{GAS[dataset]:.3f}" if dataset in GAS else "n/a",
                     _pm(held) if held else "not run", _pm(held_alone) if held_alone else "not run"])
    return _md(["dataset", "agent", "settings", "success (mean ± std over seeds)", "per task", "seeds",
                "graph nodes (built → after evaluation)", "re-plans per episode",
                "ms per step, 250 episodes (planning alone)", "graph build (s)", "our HIQL alone, same seeds",
                "HIQL published", "GAS published", "held-out tasks: success", "held-out: our HIQL alone"], rows)


TABLES = {"ant-expert": ant_expert, "antmaze-search": antmaze_search, "antmaze-pilot": antmaze_pilot,
          "antmaze-datasets": antmaze_datasets,
          "hilp-goals": hilp_goals, "hilp-reward": hilp_reward, "hilp-demo": hilp_demo, "search": search_main,
          "search-adapt": search_adapt, "beso-avoiding": beso_avoiding, "beso-settings": beso_settings,
          "beso-pointmaze": beso_pointmaze, "beso-speed": beso_speed}


class Records:
    """The records under one results directory: `load(name)` reads a JSON record, `load.csv(name)` a CSV's rows,
    `load.names(pattern)` the names matching a glob, sorted."""

    def __init__(self, root: Path):
        self.root = Path(root)

    def __call__(self, name: str):
        return json.loads((self.root / name).read_text())

    def csv(self, name: str) -> list[dict]:
        import csv

        with open(self.root / name, newline="") as f:
            return list(csv.DictReader(f))

    def names(self, pattern: str) -> list[str]:
        return sorted(p.relative_to(self.root).as_posix() for p in self.root.glob(pattern))


def regenerate(text: str, results_dir: Path) -> str:
    load = Records(results_dir)

    def one(m: re.Match) -> str:
        if m["name"] in TABLES:
            return m.group(1) + TABLES[m["name"]](load) + m.group(4)
        return m.group(1) + render(m["name"], load(m["name"])) + m.group(4)

    return MARK.sub(one, text)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--doc", default=str(DOC))
    ap.add_argument("--check", action="store_true", help="only compare; exit 1 on a difference")
    args = ap.parse_args(argv)
    doc = Path(args.doc)
    text = doc.read_text()
    new = regenerate(text, doc.parent / "results")
    if args.check:
        if new != text:
            print(f"{doc}: a generated table differs from its records; run python scripts/results_tables.py")
            return 1
        return 0
    if new != text:
        doc.write_text(new)
        print(f"rewrote the generated tables of {doc}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
