"""A committed ledger of evaluated search runs (like scripts/run_ledger.py for trained agents): a grid of search
runs can be finished across machines, and its records rebuilt from the ledger alone.

    python scripts/search_ledger.py add LEDGER LABEL RUN_DIR     # record one evaluated search run under LABEL
    python scripts/search_ledger.py has LEDGER LABEL             # exit 0 if LABEL is recorded, 1 if not
    python scripts/search_ledger.py records LEDGER --json OUT --command CMD   # report/search.py's records
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
    from ethogram.report.search import ledger_entry, records_from_runs

    if args.cmd == "add":
        entries = read(args.ledger)
        entries[args.label] = ledger_entry(args.run_dir)
        atomic_write_text(args.ledger, json.dumps(dict(sorted(entries.items())), indent=1) + "\n")
        print(f"{args.ledger}: {args.label} success {entries[args.label]['eval']['success']:.3f}")
        return 0
    from ethogram.errors import EthogramError

    runs = [(e["config"], e["eval"], e["search"]) for e in read(args.ledger).values()]
    try:
        recs = records_from_runs(runs, args.command)
    except EthogramError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    atomic_write_text(args.json, json.dumps(recs, indent=2) + "\n")
    print(f"wrote {args.json} ({len(recs)} records from {len(runs)} runs)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
