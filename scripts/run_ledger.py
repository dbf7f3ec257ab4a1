"""A committed ledger of evaluated runs, so that a grid can be finished by separate invocations (run directories are
git-ignored and need not survive) and its records rebuilt from the ledger alone.

    python scripts/run_ledger.py add LEDGER LABEL RUN_DIR     # record one evaluated run under LABEL (replaces LABEL)
    python scripts/run_ledger.py has LEDGER LABEL             # exit 0 if LABEL is recorded, 1 if not
    python scripts/run_ledger.py records LEDGER --json OUT --command CMD   # the records of `ethogram summarize`

An entry is report/results.py's `run_result` of the run (agent, dataset with its size and sha256, seed, budget,
evaluation settings, per-task success, trial key), so the records are exactly those `ethogram summarize` would
write from the run directories, with the same refusals (one seed twice, evaluations that differ). A search run
(agent sns) is kept as report/search.py's `ledger_entry` (its config, eval and search records) and a ledger of
search runs gives report/search.py's records.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from ethogram.io import atomic_write_text  # noqa: E402


def read(ledger: Path) -> dict[str, dict]:
    return json.loads(ledger.read_text()) if ledger.exists() else {}


def _is_search(entry: dict) -> bool:
    return "search" in entry and "eval" in entry


def add(ledger: Path, label: str, run_dir: str) -> dict:
    from ethogram import rundir
    from ethogram.report.results import run_result
    from ethogram.report.search import ledger_entry

    entries = read(ledger)
    if rundir.read_config(Path(run_dir)).get("agent") == "sns":
        entries[label] = ledger_entry(run_dir)
    else:
        entries[label] = {**run_result(run_dir), "run_dir": label}
    atomic_write_text(ledger, json.dumps(dict(sorted(entries.items())), indent=1) + "\n")
    return entries[label]


def records(ledger: Path, command: str) -> list[dict]:
    from ethogram.errors import EthogramError
    from ethogram.report.results import aggregate_results
    from ethogram.report.search import records_from_runs

    entries = list(read(ledger).values())
    kinds = {_is_search(e) for e in entries}
    if len(kinds) > 1:
        raise EthogramError(f"{ledger} holds both search runs and trained agents' runs.", "keep one ledger for each")
    if kinds == {True}:
        return records_from_runs([(e["config"], e["eval"], e["search"], e.get("heldout")) for e in entries], command)
    return aggregate_results(entries, command)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    a = sub.add_parser("add")
    a.add_argument("ledger", type=Path)
    a.add_argument("label")
    a.add_argument("run_dir")
    h = sub.add_parser("has")
    h.add_argument("ledger", type=Path)
    h.add_argument("label")
    r = sub.add_parser("records")
    r.add_argument("ledger", type=Path)
    r.add_argument("--json", type=Path, required=True)
    r.add_argument("--command", default="")
    args = ap.parse_args(argv)
    if args.cmd == "has":
        return 0 if args.label in read(args.ledger) else 1
    if args.cmd == "add":
        e = add(args.ledger, args.label, args.run_dir)
        success = e["eval"]["success"] if _is_search(e) else e["success"]
        print(f"{args.ledger}: {args.label} success {success:.3f}")
        return 0
    from ethogram.errors import EthogramError
    from ethogram.report.results import write_records

    try:
        recs = records(args.ledger, args.command)
    except EthogramError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    write_records(recs, args.json)
    print(f"wrote {args.json} ({len(recs)} records from {len(read(args.ledger))} runs)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
