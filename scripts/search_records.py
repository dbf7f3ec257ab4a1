"""docs/results/search.json from search run directories and adaptation experiments, and their tables.

    python scripts/search_records.py RUN_DIR... --adapt ADAPT_JSON... --out FILE --command CMD
"""

from __future__ import annotations

import argparse
import json

from ethogram.io import atomic_write_text
from ethogram.report.search import adaptation_records, run_records, search_tables
from ethogram.report.tables import to_markdown


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("run_dirs", nargs="*")
    p.add_argument("--adapt", nargs="*", default=[])
    p.add_argument("--out", required=True)
    p.add_argument("--command", default="")
    a = p.parse_args(argv)
    records = run_records(a.run_dirs, a.command) + adaptation_records(a.adapt, a.command)
    atomic_write_text(a.out, json.dumps(records, indent=2) + "\n")
    print("\n\n".join(to_markdown(t) for t in search_tables(records)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
