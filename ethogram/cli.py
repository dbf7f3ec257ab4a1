"""The `ethogram` command: collect, export, train, eval, report, search, repair, summarize, demo, reproduce, sweep.

Exit codes: 0 done; 2 a problem with the input or the environment, named with its fix (EthogramError, argparse);
70 an internal error (a bug: one line on stderr, the traceback in a file); 130 interrupted."""

from __future__ import annotations

import argparse
import dataclasses
import os
import sys
from pathlib import Path

from ethogram.errors import EthogramError


def _collect_name(args):
    """The dataset to collect: a name, or a maze file with --robot and --kind (envs/mazefile.py)."""
    from ethogram.envs.registry import parse_dataset_name

    if args.maze is None:
        extra = [f for f, v in (("--robot", args.robot), ("--kind", args.kind)) if v is not None]
        if extra:
            raise EthogramError(f"{' and '.join(extra)} go with --maze (a dataset name says its robot and kind).",
                                "ethogram collect --maze my_maze.txt --robot point --kind navigate --out data/my.npz")
        if not args.dataset:
            raise EthogramError("collect needs a dataset name, or --maze FILE.",
                                "ethogram collect pointmaze-medium-navigate (or: ethogram collect --maze my_maze.txt)")
        return parse_dataset_name(args.dataset)
    if args.dataset:
        raise EthogramError(f"give a dataset name ('{args.dataset}') or --maze FILE, not both.",
                            "ethogram collect --maze my_maze.txt --robot point --kind navigate --out data/my.npz")
    from ethogram.envs.mazefile import read_maze_file

    maze = read_maze_file(args.maze)
    return parse_dataset_name(f"{args.robot or 'point'}maze-{maze.name}-{args.kind or 'navigate'}", maze.text())


def cmd_collect(args) -> int:
    from ethogram.data.collect import collect_to_file, default_config, validate_collect_config

    name = _collect_name(args)
    if args.picture and not name.is_maze:
        raise EthogramError(f"--picture draws trajectories over a maze, and {name} has none.", "leave out --picture")
    cfg = default_config(name, seed=args.seed)
    changes = {k: v for k, v in (("episodes", args.episodes), ("episode_steps", args.episode_steps),
                                 ("noise", args.noise), ("expert", args.expert)) if v is not None}
    cfg = dataclasses.replace(cfg, **changes)
    validate_collect_config(cfg)
    out = args.out or f"data/{name}.npz"
    print(f"collecting {name}: {cfg.episodes} episodes of {cfg.episode_steps} steps -> {out}", flush=True)
    meta = collect_to_file(name, cfg, out, force=args.force, progress=not args.quiet)
    print(f"wrote {out} ({meta['transitions']} transitions, {meta['train_episodes']} episodes) and its -val file "
          f"in {meta['seconds']:.1f} s ({meta['env_steps_per_second']:.0f} env steps/s)")
    if args.picture:
        import numpy as np

        from ethogram.envs.registry import make_env
        from ethogram.report.plots import plot_dataset

        env = make_env(name.env, name.layout)
        with np.load(out, allow_pickle=False) as d:
            xy, terminals = env.obs_positions(d["observations"]), d["terminals"]
        plot_dataset(env.maze, xy, terminals, args.picture, title=str(name))
        print(f"wrote {args.picture}: every trajectory over the maze")
    return 0


def cmd_expert(args) -> int:
    import dataclasses

    from ethogram.envs.locomotor import SACConfig, config_of, evaluate_expert, read_record, train_expert

    base = SACConfig()
    if (Path(args.out) / "expert.json").exists() and not args.force:  # resuming: its own settings, --steps may grow
        base = config_of(read_record(args.out))
    c = dataclasses.replace(base, **{k: v for k, v in (("steps", args.steps), ("seed", args.seed),
                                                                ("envs", args.envs), ("chunk", args.chunk),
                                                                ("seed_steps", args.seed_steps),
                                                                ("save_every", args.save_every),
                                                                ("end_on_back", args.end_on_back or None))
                                 if v is not None})
    sizes = {k: v for k, v in (("actor_hidden_dims", args.nets), ("value_hidden_dims", args.nets)) if v}
    if sizes or args.batch:
        from ethogram.reproduce import parse_nets

        c = dataclasses.replace(c, **{k: parse_nets(v) for k, v in sizes.items()},
                                **({"batch_size": args.batch} if args.batch else {}))
    print(f"training the {args.robot} locomotion expert (SAC, {c.steps} environment steps, {c.envs} episode(s) x "
          f"{c.chunk} steps per round) -> {args.out}", flush=True)
    res = train_expert(args.out, c, force=args.force, progress=not args.quiet)
    print(f"trained: {res['steps']} steps in {res['seconds']:.0f} s ({res['steps_per_s']:.0f} steps/s)", flush=True)
    ev = evaluate_expert(args.out, episodes=args.eval_episodes, progress=not args.quiet)
    print(f"directional speed {ev['directional_speed_mean']:.3f} ± {ev['directional_speed_std']:.3f} m/s over "
          f"{ev['episodes']} episodes, {ev['fell']} fell, {ev['on_back']} on its back; "
          f"wrote {Path(args.out) / 'eval.json'}")
    return 0


def cmd_export(args) -> int:
    from ethogram.data.minari import export_minari

    print(f"exporting {args.dataset} -> Minari dataset {args.minari}", flush=True)
    res = export_minari(args.dataset, args.minari, force=args.force, progress=not args.quiet)
    print(f"wrote Minari dataset {res['name']} ({res['episodes']} episodes, {res['steps']} steps) at {res['path']}; "
          f"train on it with: ethogram train AGENT --dataset minari:{res['name']} --out RUN_DIR")
    return 0


def cmd_train(args) -> int:
    from ethogram.config import TrainConfig, parse_set_args
    from ethogram.rundir import prepare_run

    if args.resume:
        given = [flag for flag, v in (("AGENT", args.agent), ("--dataset", args.dataset), ("--out", args.out),
                                      ("--set", args.set), ("--seed", args.seed), ("--fuse", args.fuse),
                                      ("--log-every", args.log_every), ("--eval-every", args.eval_every),
                                      ("--eval-episodes", args.eval_episodes), ("--env", args.env),
                                      ("--drop-falls", args.drop_falls)) if v is not None]
        if given:
            raise EthogramError(f"--resume RUN_DIR continues a run with its saved config; it does not take "
                                f"{', '.join(given)} (only --steps to extend the run, --save-every, --force).",
                                f"run: ethogram train --resume {args.resume}")
        if args.save_every is None and not args.tensorboard and _report_finished(args.resume, args.steps):
            return 0
        from ethogram.train import train  # JAX loads here, once there is training to do

        res = train(args.resume, progress=not args.quiet, resume=True, save_every=args.save_every,
                    steps=args.steps, force=args.force, tensorboard=args.tensorboard or None)
        out = args.resume
    else:
        missing = [n for n, v in (("AGENT", args.agent), ("--dataset", args.dataset), ("--out", args.out)) if not v]
        if missing:
            raise EthogramError(f"train needs {', '.join(missing)}.",
                                "ethogram train AGENT --dataset PATH --out RUN_DIR (or --resume RUN_DIR)")
        d = TrainConfig()
        steps = d.steps if args.steps is None else args.steps

        def given(v, default):
            return default if v is None else v

        tc = TrainConfig(steps=steps, seed=given(args.seed, d.seed), fuse=given(args.fuse, d.fuse),
                         log_every=given(args.log_every, d.log_every), eval_every=given(args.eval_every, d.eval_every),
                         eval_episodes=given(args.eval_episodes, d.eval_episodes),
                         save_every=given(args.save_every, min(d.save_every, max(steps, 1))),
                         tensorboard=args.tensorboard, drop_falls=given(args.drop_falls, d.drop_falls))
        run = prepare_run(args.agent, args.dataset, args.out, tc, parse_set_args(args.set), force=args.force,
                          env=args.env, require_eval=args.eval_every is not None)
        print(f"training {run['agent']} on {run['dataset_name']} for {tc.steps} steps -> {args.out}")
        if run["env"] is None:
            print(f"note: '{run['dataset_name']}' comes from no environment ethogram simulates: the run trains, "
                  "with no evaluation (name its environment with --env if it has one)")
        if tc.tensorboard:
            print(f"TensorBoard: tensorboard --logdir {Path(args.out) / 'tensorboard'}")
        from ethogram.train import train

        res = train(args.out, progress=not args.quiet)
        out = args.out
    done = res["steps"] - res["resumed_from"]
    print(f"done: {res['steps']} steps ({done} in this call) in {res['seconds']:.1f} s "
          f"({done / max(res['seconds'], 1e-9):.1f} steps/s); evaluate with: ethogram eval {out}")
    return 0


def _report_finished(run_dir: str, steps: int | None) -> bool:
    """Say so, without loading JAX or the dataset, when resuming `run_dir` (to `steps`) has nothing to train."""
    from ethogram.rundir import finished_step

    done = finished_step(run_dir)
    if done is None or (steps is not None and steps != done):
        return False
    print(f"{run_dir} is finished: its checkpoint is at step {done} of {done}; nothing to train. Extend it with: "
          f"ethogram train --resume {run_dir} --steps {2 * done}; evaluate it with: ethogram eval {run_dir}")
    return True


def cmd_eval(args) -> int:
    from ethogram.config import parse_set_args
    from ethogram.evaluate.run import eval_command, eval_file

    settings = parse_set_args(args.set) or None
    where = "" if args.tasks == "published" else f", {args.tasks} tasks"
    print(f"evaluating {args.run_dir} ({args.prompt}{' with --plan' if args.plan else ''}{where}, {args.episodes} "
          f"episodes per task) -> {Path(args.run_dir) / eval_file(args.prompt, args.plan, settings, args.tasks)}",
          flush=True)
    _, text = eval_command(args.run_dir, args.prompt, episodes=args.episodes, seed=args.seed, plan=args.plan,
                           plan_bank=args.plan_bank, feature=args.feature, demo_method=args.demo_method,
                           progress=not args.quiet, settings=settings, tasks=args.tasks)
    print(text)
    from ethogram.report.html import write_report

    print(f"report: {write_report([args.run_dir], video=False if args.no_video else None)}")
    return 0


def cmd_report(args) -> int:
    from ethogram.report.html import write_report

    out = write_report(args.run_dirs, args.out, video=False if args.no_video else None, title=args.title)
    print(f"wrote {out} ({out.stat().st_size / 1e6:.1f} MB, self-contained: open it in any browser)")
    return 0


def cmd_search(args) -> int:
    from ethogram.config import parse_set_args
    from ethogram.search.run import search

    print(f"searching {args.target} -> {args.out}", flush=True)
    stats = search(args.target, args.out, controller=args.controller, steps=args.steps, seed=args.seed,
                   nodes=args.nodes, force=args.force, progress=not args.quiet, distance=args.distance,
                   practice=args.practice, settings=parse_set_args(args.set))
    print(f"sns ({stats['mode']}): graph of {stats['nodes']} nodes, {stats['edges']} edges in {stats['seconds']:.1f} s"
          f" -> {args.out}; evaluate with: ethogram eval {args.out}")
    for k, v in stats.items():
        if k.startswith("task"):
            print(f"  {k}: " + (f"no success within {v['steps']} env steps" if v["steps_to_first_success"] is None
                                else f"first success after {v['steps_to_first_success']} env steps "
                                     f"({v['seconds_to_first_success']} s)"))
    return 0


def cmd_repair(args) -> int:
    from ethogram.io import Lock, pending, recover

    path = Path(args.path)
    if not path.exists():
        raise EthogramError(f"'{path}' does not exist.", "give a run directory or a dataset file")
    if path.is_dir():
        from ethogram.rundir import repair

        done = repair(path)
    else:  # a dataset: its collection's files
        from ethogram.data.collect import val_path

        names = {path.name, val_path(path).name, path.with_suffix(".json").name} if path.suffix == ".npz" else None
        if names is None:
            raise EthogramError(f"'{path}' is neither a run directory nor an .npz dataset.")
        with Lock(path.with_name(f".{path.stem}.lock"), f"dataset '{path}'"):
            done = recover(path.parent, names)
    for line in done:
        print(line)
    left = pending(path if path.is_dir() else path.parent)
    print(f"{path}: {'nothing to repair' if not done else f'{len(done)} repairs'}"
          + (f"; {len(left)} other temporary files are left (other datasets' or in use)" if left else ""))
    return 0


def cmd_summarize(args) -> int:
    from ethogram.report.results import (
        aggregate,
        aggregate_prompts,
        is_prompt_eval,
        prompt_table,
        results_table,
        write_records,
    )
    from ethogram.report.tables import to_markdown

    if is_prompt_eval(args.eval_file):
        records = aggregate_prompts(args.run_dirs, args.command or "", args.eval_file)
        table = to_markdown(prompt_table(records))
    else:
        records = aggregate(args.run_dirs, command=args.command or "", eval_file=args.eval_file,
                            last_evals=args.last_evals)
        table = to_markdown(results_table(records))
    if args.json:
        write_records(records, args.json)
        print(f"wrote {args.json} ({len(records)} records)")
    print(table)
    return 0


def cmd_demo(args) -> int:
    from ethogram.quickstart import run_demo

    run_demo(Path(args.out), force=args.force, episodes=args.episodes, steps=args.steps, seed=args.seed,
             agent=args.agent, dataset=args.dataset, progress=not args.quiet,
             video=False if args.no_video else None, search=not args.no_search)
    return 0


def cmd_reproduce(args) -> int:
    from ethogram.config import parse_set_args
    from ethogram.reproduce import Grid, parse_nets, reproduce

    def names(text):
        return tuple(x.strip() for x in text.split(",") if x.strip())

    try:
        seeds = tuple(int(x) for x in names(args.seeds))
    except ValueError:
        raise EthogramError(f"--seeds must be comma-separated integers, got {args.seeds!r}.",
                            "e.g. --seeds 0,1,2") from None
    grid = Grid(agents=names(args.agents), datasets=names(args.datasets), seeds=seeds, steps=args.steps,
                hidden_dims=parse_nets(args.nets) if args.nets else None, batch_size=args.batch,
                sets=parse_set_args(args.set), eval_every=args.eval_every, eval_episodes=args.eval_episodes,
                dataset_episodes=args.dataset_episodes)
    command = "ethogram " + " ".join(sys.argv[1:]) if args.command_text is None else args.command_text
    res = reproduce(grid, out=args.out, data_dir=args.data_dir, jobs=args.jobs, json_path=args.json,
                    command=command, progress=not args.quiet)
    print(f"{res['finished']} of {res['runs']} runs evaluated; wrote {Path(args.out) / 'results.md'}, "
          f"{args.json or Path(args.out) / 'results.json'} and {Path(args.out) / 'success_vs_steps.png'}")
    if res.get("report"):
        print(f"report: {res['report']}")
    return 0


def cmd_sweep(args) -> int:
    from ethogram.sweep import points, read_spec, run_sweep, validate_sweep

    spec = read_spec(args.spec)
    if args.dry_run:
        validate_sweep(spec)
        pts = points(spec)
        print(f"{args.spec}: {len(spec.agents)} agent(s) x {len(spec.datasets)} dataset(s) x {len(pts)} "
              f"hyperparameter point(s) x {len(spec.seeds)} seed(s); {spec.budget()}")
        for p in pts:
            print("  " + (", ".join(f"{k}={v}" for k, v in p.items()) or "(no swept values)"))
        return 0
    command = "ethogram " + " ".join(sys.argv[1:]) if args.command_text is None else args.command_text
    res = run_sweep(spec, out=args.out, data_dir=args.data_dir, jobs=args.jobs, engine=args.engine,
                    json_path=args.json, command=command, progress=not args.quiet, ray_address=args.ray_address,
                    asha=args.asha)
    stopped = sum(v.startswith("stopped early") for v in res["done"].values())
    print(f"{res['finished']} of {res['runs']} runs evaluated{f', {stopped} stopped early by ASHA' if stopped else ''}"
          f"; wrote {Path(args.out) / 'results.md'}, {args.json or Path(args.out) / 'results.json'} and "
          f"{Path(args.out) / 'success_vs_steps.png'}")
    if res.get("report"):
        print(f"report: {res['report']}")
    return 0


def seed_type(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"seed must be an integer, got {text!r}") from None
    from ethogram.config import MAX_SEED

    if not 0 <= value <= MAX_SEED:
        raise argparse.ArgumentTypeError(f"seed must be in [0, 2**32 - 1], got {value}")
    return value


def eval_file_type(text: str) -> str:
    """An evaluation file's name, as `ethogram eval` names them (evaluate/run.py eval_file)."""
    import re

    if text in ("eval.json", "eval-plan.json", "eval-reward.json", "eval-demo.json", "eval-heldout.json",
                "eval-plan-heldout.json") or re.fullmatch(
            r"eval-(set|reward|demo)-[A-Za-z0-9._=,-]+\.json", text):
        return text
    raise argparse.ArgumentTypeError(f"'{text}' is not an evaluation file: use eval.json, eval-heldout.json, "
                                     "eval-plan.json, "
                                     "eval-reward.json, eval-reward-TASK.json, eval-reward-file-STEM.json, "
                                     "eval-demo*.json of the same forms, or eval-set-KEY=VALUE.json")


def finite_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if value != value or value in (float("inf"), float("-inf")):
        raise argparse.ArgumentTypeError(f"expected a finite number, got {text!r}")
    return value


class Parser(argparse.ArgumentParser):
    """argparse with ethogram's error format: 'error: ...' then the fix, exit code 2."""

    def error(self, message):
        print(f"error: {message}\n  fix: see '{self.prog} --help'", file=sys.stderr)
        print(self.format_usage().rstrip(), file=sys.stderr)
        raise SystemExit(2)


EXAMPLES = {
    "collect": """\
  ethogram collect pointmaze-medium-navigate                      # -> data/pointmaze-medium-navigate-v0.npz
  ethogram collect pointmaze-medium-stitch --episodes 300 --out data/stitch.npz
  ethogram collect --maze my_maze.txt --robot point --kind navigate --out data/my.npz
  ethogram collect antmaze-medium-navigate --picture data/antmaze-medium-navigate.png   # + every trajectory drawn""",
    "export": """\
  ethogram export data/pointmaze-medium-navigate-v0.npz --minari ethogram/pointmaze-medium-navigate-v0
  ethogram train gcivl --dataset minari:ethogram/pointmaze-medium-navigate-v0 --out runs/from-minari""",
    "train": """\
  ethogram train gcivl --dataset data/pointmaze-medium-navigate-v0.npz --out runs/gcivl --steps 20000
  ethogram train hilp --dataset data/pm.npz --out runs/hilp --set batch_size=256 --set lr=1e-3
  ethogram train --resume runs/gcivl                              # continue an interrupted run
  ethogram train --resume runs/gcivl --steps 40000                # extend a finished run to 40000 steps
  ethogram train gcbc --dataset my_arrays.npz --out runs/mine --eval-every 0  # any dataset (docs/datasets.md)
  ethogram train gcivl --dataset data/pm.npz --out runs/tb --tensorboard       # + TensorBoard event files""",
    "eval": """\
  ethogram eval runs/gcivl                                        # goals, OGBench's protocol -> eval.json
  ethogram eval runs/hilp --prompt reward:all                     # -> eval-reward.json, reward.png
  ethogram eval runs/hilp --prompt reward-file:labels.npz         # -> eval-reward-file-labels.json
  ethogram eval runs/hilp --prompt demo:demo1                     # -> eval-demo-demo1.json
  ethogram eval runs/hilp --plan --plan-bank 10000                # HILP-Plan -> eval-plan.json
  ethogram eval runs/beso --set sampling_steps=10                 # -> eval-set-sampling_steps=10.json""",
    "report": """\
  ethogram report runs/gcivl                                      # -> runs/gcivl/report.html
  ethogram report runs/gcivl runs/hiql --out compare.html --no-video""",
    "search": """\
  ethogram search pointmaze-medium --out runs/sns-online          # no data: search the maze online
  ethogram search data/pm.npz --controller runs/gcivl --out runs/sns
  ethogram search data/pm.npz --controller runs/beso --distance runs/gcivl --out runs/sns-beso""",
    "repair": """\
  ethogram repair runs/gcivl                                      # a run directory
  ethogram repair data/pointmaze-medium-navigate-v0.npz           # a dataset and its -val and .json files""",
    "summarize": """\
  ethogram summarize runs/gcivl-s0 runs/gcivl-s1 runs/gcivl-s2 --json results.json
  ethogram summarize runs/hilp-s* --eval-file eval-reward.json
  ethogram summarize runs/hilp-s* --eval-file eval-reward-file-labels.json""",
    "demo": """\
  ethogram demo                                                   # collect, train, evaluate, search -> runs/demo
  ethogram demo --agent hiql --out runs/demo-hiql --no-video --quiet""",
    "expert": """\
  ethogram expert ant --out experts/ant                           # OGBench's recipe: 400k steps, resumable
  ethogram expert ant --out experts/ant --steps 600000            # train an existing expert for longer
  ethogram expert ant --out experts/toy --steps 300 --seed-steps 100 --nets 16x2 --batch 16""",
    "sweep": """\
  ethogram sweep sweep.toml --out runs/sweep                      # local process pool, 2 workers
  ethogram sweep sweep.toml --dry-run                             # the trials it would run
  ethogram sweep sweep.toml --engine ray --asha --out runs/sweep  # Ray Tune, ASHA early stopping
  ethogram sweep sweep.toml --engine ray --ray-address auto --out /shared/runs/sweep   # a Ray cluster""",
    "reproduce": """\
  ethogram reproduce --agents gcivl,hiql --datasets pointmaze-medium-navigate --seeds 0,1,2
  ethogram reproduce --agents gcbc --datasets pointmaze-medium-stitch --steps 20000 --nets 256x2 --jobs 2""",
}


def add_command(sub, name: str, help_text: str):
    """A subcommand whose --help ends with its examples (EXAMPLES)."""
    return sub.add_parser(name, help=help_text, epilog=f"examples:\n{EXAMPLES[name]}" if name in EXAMPLES else None,
                          formatter_class=argparse.RawDescriptionHelpFormatter)


# The agents' names, as ethogram/agents/__init__.py registers them (a test keeps the two equal): the parser is built
# without importing the agents, so that commands which need no JAX (--help, --version, a finished resume) start fast.
AGENT_NAMES = ("gcbc", "gcivl", "gciql", "qrl", "crl", "hiql", "hilp", "beso")


def build_parser() -> argparse.ArgumentParser:
    from ethogram import __version__

    p = Parser(prog="ethogram", description="Learn goal-directed behaviours from reward-free "
                                "trajectories: collect datasets, train agents, evaluate them.")
    p.add_argument("--version", action="version", version=f"ethogram {__version__}")
    sub = p.add_subparsers(dest="command", required=True)

    c = add_command(sub, "collect", "collect an OGBench-layout dataset with the scripted expert")
    c.add_argument("dataset", nargs="?", help="e.g. pointmaze-medium-navigate (OGBench name, -v0 optional)")
    c.add_argument("--maze", metavar="FILE", help="a maze of your own: an ASCII layout (docs/mazes.md) instead of a "
                   "dataset name; the dataset is named ROBOTmaze-FILESTEM-KIND")
    c.add_argument("--robot", choices=("point", "pointvel"), help="with --maze: the robot (default point)")
    c.add_argument("--kind", choices=("navigate", "stitch"), help="with --maze: how the expert collects (default "
                   "navigate)")
    c.add_argument("--episodes", type=int, help="training episodes (default: OGBench's; +10%% go to the -val file)")
    c.add_argument("--episode-steps", type=int, help="stored steps per episode (default: OGBench's)")
    c.add_argument("--noise", type=finite_float, help="expert action noise (default OGBench's: 0.5 point; ant 0.2, "
                   "explore 1.0)")
    c.add_argument("--expert", metavar="DIR", help="antmaze: the ant's locomotion expert (default experts/ant; "
                   "`ethogram expert ant --out DIR` trains one)")
    c.add_argument("--seed", type=seed_type, default=0)
    c.add_argument("--out", help="output .npz (default data/<name>-v0.npz)")
    c.add_argument("--force", action="store_true", help="replace existing output files")
    c.add_argument("--picture", metavar="PNG", help="also draw every trajectory of the dataset over the maze")
    c.add_argument("--quiet", action="store_true", help="no progress bar")
    c.set_defaults(func=cmd_collect)

    t = add_command(sub, "train", "train an agent on a dataset into a run directory")
    t.add_argument("agent", nargs="?", help=f"{', '.join(AGENT_NAMES)} (sns: `ethogram search`)")
    t.add_argument("--dataset", help="a dataset .npz (one `ethogram collect` wrote, an OGBench file of any "
                   "environment, or your own arrays: docs/datasets.md), or minari:NAME (Minari's local storage)")
    t.add_argument("--env", help="the environment the dataset was collected in, when the dataset does not say "
                   "(e.g. pointmaze-medium): its runs can then be evaluated")
    t.add_argument("--tensorboard", action="store_true", help="also write TensorBoard event files to "
                   "RUN_DIR/tensorboard (needs tensorboardX: pip install 'ethogram[tensorboard]'; metrics.csv "
                   "is always written)")
    t.add_argument("--steps", type=int, default=None,
                   help="training steps (default 1000000); with --resume: extend the run to this many")
    t.add_argument("--seed", type=seed_type, default=None, help="default 0")
    t.add_argument("--out", help="run directory")
    t.add_argument("--resume", metavar="RUN_DIR", help="continue an interrupted run from its last checkpoint")
    t.add_argument("--set", action="append", metavar="KEY=VALUE",
                   help="override an agent config field, e.g. --set batch_size=256 (repeatable)")
    t.add_argument("--fuse", type=int, default=None, help="training steps per jitted call (default 100)")
    t.add_argument("--log-every", type=int, default=None, help="default 1000")
    t.add_argument("--eval-every", type=int, default=None, help="default 100000; 0 disables periodic evaluation")
    t.add_argument("--eval-episodes", type=int, default=None, help="default 50")
    t.add_argument("--drop-falls", type=int, default=None, metavar="STATES",
                   help="learn from each episode only up to STATES states before the robot (the ant) first falls "
                        "or lands on its back; default 0: every state, as OGBench trains")
    t.add_argument("--save-every", type=int, default=None,
                   help="checkpoint interval (default 100000; always at the end; --resume may change it)")
    t.add_argument("--force", action="store_true", help="replace an existing run directory's results; with --resume: "
                   "accept a dataset or settings that changed since the run started")
    t.add_argument("--quiet", action="store_true")
    t.set_defaults(func=cmd_train)

    x = add_command(sub, "export", "write a dataset to Minari's local storage (Dict observations: observation, "
                                     "achieved_goal, desired_goal)")
    x.add_argument("dataset", help="a dataset .npz")
    x.add_argument("--minari", required=True, metavar="NAME", help="the Minari dataset name, e.g. "
                   "ethogram/pointmaze-medium-navigate-v0 (needs: pip install 'ethogram[minari]')")
    x.add_argument("--force", action="store_true", help="replace a Minari dataset of that name")
    x.add_argument("--quiet", action="store_true")
    x.set_defaults(func=cmd_export)

    e = add_command(sub, "eval", "evaluate a run's answers to a prompt (default: goals, the OGBench protocol)")
    e.add_argument("run_dir")
    e.add_argument("--prompt", default="goal", help="goal (OGBench protocol, eval.json); reward:TASK|all "
                   "(reach-region, move-east, approach; eval-reward-TASK.json or eval-reward.json); "
                   "reward-file:PATH (.npz with observations, next_observations, rewards; scored by a regression "
                   "of the labels where it fits them; eval-reward-file-STEM.json); demo:TASK|all (demo1..demo3; "
                   "eval-demo-TASK.json or eval-demo.json); demo-file:PATH (.npz with observations; "
                   "eval-demo-file-STEM.json)")
    e.add_argument("--plan", action="store_true", help="goal prompts with HILP-Plan (eval-plan.json, agent hilp-plan)")
    e.add_argument("--tasks", default="published", choices=("published", "heldout"),
                   help="goal prompts: the maze's five published tasks (eval.json), or five held-out start/goal "
                        "pairs chosen far apart (eval-heldout.json), to check a design tuned on the published ones")
    e.add_argument("--plan-bank", type=int, default=50_000,
                   help="dataset states in HILP-Plan's bank (the paper: 50000; fewer is faster)")
    e.add_argument("--feature", default="auto", choices=("auto", "diff", "next"),
                   help="reward regression features: phi(s')-phi(s), phi(s')-mean, or auto (each task's own; "
                        "diff for reward files)")
    e.add_argument("--demo-method", default="track", choices=("track", "latent"),
                   help="demonstrations: goal-prompt along the demo (track) or one inferred latent")
    e.add_argument("--set", action="append", metavar="KEY=VALUE",
                   help="an act setting of the agent (BESO: sampler, sampling_steps, ddpm_steps, guidance), "
                        "evaluated without retraining into eval-set-KEY=VALUE.json (repeatable)")
    e.add_argument("--episodes", type=int, default=50, help="episodes per task (OGBench: 50)")
    e.add_argument("--seed", type=seed_type, default=0)
    e.add_argument("--quiet", action="store_true")
    e.add_argument("--no-video", action="store_true", help="write report.html without the rollout video")
    e.set_defaults(func=cmd_eval)

    h = add_command(sub, "report", "one self-contained HTML page (tables, curves, pictures, rollout videos) "
                                      "for one run or a group of runs")
    h.add_argument("run_dirs", nargs="+", metavar="RUN_DIR", help="evaluated run directories (ethogram eval)")
    h.add_argument("--out", help="the page (default: RUN_DIR/report.html for one run, report.html for several)")
    h.add_argument("--title", help="the page's title (default: agent and dataset, or the number of runs)")
    h.add_argument("--no-video", action="store_true",
                   help="leave out rollout videos (also: ETHOGRAM_REPORT_VIDEO=0); they take seconds per run")
    h.set_defaults(func=cmd_report)

    q = add_command(sub, "search", "behavioural search (SNS): a cognitive graph that plans, executes and mutates")
    q.add_argument("target", help="a maze (pointmaze-medium: no data, online search) or a dataset (name or .npz)")
    q.add_argument("--out", required=True, help="run directory (evaluate it with ethogram eval)")
    q.add_argument("--controller", help="a trained run (e.g. gcivl, hilp, qrl) driving each edge; its learned value "
                   "measures distances. Without it: straight-line controller (online search, or the x-y roadmap "
                   "reference)")
    q.add_argument("--distance", metavar="RUN_DIR", help="a trained run whose learned distance measures the graph "
                   "while --controller's policy drives the edges (for a controller that learns none, e.g. beso)")
    q.add_argument("--steps", type=int, default=20000, help="online search: env step budget per task")
    q.add_argument("--practice", default="published", choices=("published", "heldout"),
                   help="online search: the tasks it practises on (then evaluate it on the others with "
                        "ethogram eval --tasks ...)")
    q.add_argument("--nodes", type=int, default=500, help="with a dataset: at most this many graph nodes (from "
                   "--set pool=3 times as many sampled states)")
    q.add_argument("--set", action="append", metavar="KEY=VALUE",
                   help="override a search setting (SNSConfig), e.g. --set node_filter=0.5 --set mutate=false")
    q.add_argument("--seed", type=seed_type, default=0)
    q.add_argument("--force", action="store_true", help="replace an existing run directory")
    q.add_argument("--quiet", action="store_true")
    q.set_defaults(func=cmd_search)

    f = add_command(sub, "repair", "complete or undo what an interrupted command left in a run directory or "
                                      "beside a dataset")
    f.add_argument("path", help="a run directory, or a dataset .npz")
    f.set_defaults(func=cmd_repair)

    s = add_command(sub, "summarize", "aggregate evaluated runs over seeds into a results table (+ JSON)")
    s.add_argument("run_dirs", nargs="+")
    s.add_argument("--json", help="write the records to this JSON file (docs/results/*.json)")
    s.add_argument("--command", help="the command that produced the runs, stored in each record")
    s.add_argument("--eval-file", default="eval.json", type=eval_file_type,
                   help="which evaluation to aggregate: eval.json (goals), eval-heldout.json (goals on held-out "
                        "tasks), eval-plan.json (HILP-Plan), "
                        "eval-reward.json, eval-reward-TASK.json, eval-reward-file-STEM.json, eval-demo*.json, "
                        "or eval-set-....json (goals with act settings)")
    s.add_argument("--last-evals", type=int, default=1, metavar="K",
                   help="each seed's success: the mean of its last K evaluations (final + periodic ones before it; "
                        "OGBench's protocol: 3, at 800k, 900k and 1M steps). Default 1: the final one")
    s.set_defaults(func=cmd_summarize)

    d = add_command(sub, "demo", "collect, train, evaluate, search and write an HTML report, in minutes on 2 "
                                    "cores")
    d.add_argument("--out", default="runs/demo")
    d.add_argument("--agent", default="gcivl", help="gcivl (default), hiql, gcbc, gciql, qrl, crl, hilp, beso: "
                   "each with the small budget the demo gives it")
    d.add_argument("--dataset", default="pointmaze-medium-navigate",
                   help="any dataset name `ethogram collect` knows (default pointmaze-medium-navigate)")
    d.add_argument("--episodes", type=int, default=None, help="dataset episodes (default: 300 for a maze)")
    d.add_argument("--steps", type=int, default=None, help="training steps (default: the agent's demo budget)")
    d.add_argument("--seed", type=seed_type, default=0)
    d.add_argument("--force", action="store_true")
    d.add_argument("--quiet", action="store_true", help="no progress bars")
    d.add_argument("--no-video", action="store_true", help="a report without the rollout videos")
    d.add_argument("--no-search", action="store_true", help="leave out the behavioural search stage")
    d.set_defaults(func=cmd_demo)

    r = add_command(sub, "reproduce", "a grid agents x datasets x seeds beside the published numbers "
                                         "(parallel, resumable)")
    r.add_argument("--agents", required=True, help="comma-separated, e.g. gcivl,gciql,qrl,crl,hiql")
    r.add_argument("--datasets", required=True, help="comma-separated, e.g. pointmaze-medium-navigate")
    r.add_argument("--seeds", default="0,1,2", help="comma-separated (default 0,1,2)")
    r.add_argument("--steps", type=int, default=None, help="training steps (default: the published 1M)")
    r.add_argument("--nets", default=None, help="every MLP: WIDTHxDEPTH (256x2) or widths (256,256); default 512x3")
    r.add_argument("--batch", type=int, default=None, help="batch size (default: the published 1024)")
    r.add_argument("--set", action="append", metavar="KEY=VALUE",
                   help="extra config override for the agents that have the field (repeatable)")
    r.add_argument("--eval-every", type=int, default=None,
                   help="evaluation interval for the learning curves (default: steps/5, or 100k when published)")
    r.add_argument("--eval-episodes", type=int, default=50, help="episodes per task (OGBench: 50)")
    r.add_argument("--dataset-episodes", type=int, default=None,
                   help="episodes of a dataset that has to be collected (default: OGBench's)")
    r.add_argument("--jobs", type=int, default=2,
                   help="worker processes, one thread each, each pinned to a core of its own (default 2)")
    r.add_argument("--out", default="runs/reproduce", help="directory of the runs and the report")
    r.add_argument("--data-dir", default="data", help="where datasets are read from, or collected to")
    r.add_argument("--json", default=None, help="records file (default OUT/results.json), e.g. docs/results/x.json")
    r.add_argument("--quiet", action="store_true", help="no progress bar")
    r.add_argument("--command-text", default=None, help=argparse.SUPPRESS)
    r.set_defaults(func=cmd_reproduce)

    x = add_command(sub, "expert", "train a robot's locomotion expert (the ant: SAC on OGBench's directional task), "
                                   "resumable; then its directional speed")
    x.add_argument("robot", choices=("ant",))
    x.add_argument("--out", default="experts/ant", help="the expert directory (default experts/ant)")
    x.add_argument("--steps", type=int, default=None, help="environment steps (OGBench: 400000)")
    x.add_argument("--seed-steps", type=int, default=None, help="random-action steps first (OGBench: 10000)")
    x.add_argument("--end-on-back", action="store_true",
                   help="end a training episode when the ant lands on its back (OGBench's ant only ends one outside "
                        "its healthy torso height, which an ant on its back is not)")
    x.add_argument("--envs", type=int, default=None, help="episodes stepped together (default 1)")
    x.add_argument("--chunk", type=int, default=None, help="environment steps per round of fused updates (10)")
    x.add_argument("--nets", default=None, help="actor and critic sizes, e.g. 256x2 (OGBench's)")
    x.add_argument("--batch", type=int, default=None, help="batch size (OGBench: 256)")
    x.add_argument("--save-every", type=int, default=None, help="steps between saves (20000)")
    x.add_argument("--seed", type=seed_type, default=None)
    x.add_argument("--eval-episodes", type=int, default=50, help="episodes of the speed evaluation (50)")
    x.add_argument("--force", action="store_true", help="start again, replacing the expert in --out")
    x.add_argument("--quiet", action="store_true")
    x.set_defaults(func=cmd_expert)

    w = add_command(sub, "sweep", "agents x datasets x hyperparameters (grid, random) x seeds from a spec file, on "
                                  "a local pool or Ray Tune (resumable; docs/sweep.md)")
    w.add_argument("spec", help="a TOML or JSON sweep spec (docs/sweep.md)")
    w.add_argument("--out", default="runs/sweep", help="directory of the trials and the report")
    w.add_argument("--engine", default="local", choices=("local", "ray"),
                   help="local: a process pool here (one pinned core per worker); ray: Ray Tune (needs "
                        "pip install 'ethogram[ray]')")
    w.add_argument("--jobs", type=int, default=2, help="trials at a time (local; ray without --ray-address: the "
                   "local instance's CPUs)")
    w.add_argument("--ray-address", default=None, help="a running Ray cluster (auto, or ray://HOST:10001)")
    w.add_argument("--asha", action="store_true", help="ray: Tune's ASHA scheduler stops trials early on their "
                   "periodic evaluations")
    w.add_argument("--data-dir", default="data", help="where datasets are read from, or collected to")
    w.add_argument("--json", default=None, help="records file (default OUT/results.json)")
    w.add_argument("--dry-run", action="store_true", help="check the spec and list its hyperparameter points")
    w.add_argument("--quiet", action="store_true", help="no progress bar")
    w.add_argument("--command-text", default=None, help=argparse.SUPPRESS)
    w.set_defaults(func=cmd_sweep)
    return p


def main(argv: list[str] | None = None) -> int:
    os.environ.setdefault("MUJOCO_GL", "egl")
    try:
        args = build_parser().parse_args(argv)
    except SystemExit as e:  # argparse already printed usage and the error
        return int(e.code or 0)
    try:
        return args.func(args)
    except EthogramError as e:
        print(f"error: {e.problem}", file=sys.stderr)
        if e.fix:
            print(f"  fix: {e.fix}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted; finished files are kept", file=sys.stderr)
        return 130
    except Exception:  # the last line of defence: a bug, said in one line, its traceback kept in a file
        return report_bug(argv)


BUG_EXIT = 70  # EX_SOFTWARE: an internal error, distinct from 2 (a problem with the input, named and fixable)


def report_bug(argv) -> int:
    import tempfile
    import time
    import traceback

    from ethogram import __version__

    text = (f"ethogram {__version__}, python {sys.version.split()[0]}\ncommand: ethogram "
            f"{' '.join(argv if argv is not None else sys.argv[1:])}\n\n{traceback.format_exc()}")
    try:
        fd, path = tempfile.mkstemp(prefix=f"ethogram-crash-{time.strftime('%Y%m%d-%H%M%S')}-", suffix=".txt")
        with os.fdopen(fd, "w") as fh:
            fh.write(text)
        where = f"the traceback is in {path}"
    except OSError:
        where = "the traceback could not be saved"
    err = sys.exc_info()[1]
    print(f"error: internal error ({type(err).__name__}), a bug in ethogram, not in your input; {where} "
          "(please report it; files already written are kept)", file=sys.stderr)
    return BUG_EXIT


if __name__ == "__main__":
    sys.exit(main())
