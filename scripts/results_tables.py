"""docs/results.md's generated tables, rendered from their records in docs/results/*.json.

    python scripts/results_tables.py            # rewrite every marked table from its records
    python scripts/results_tables.py --check    # exit 1 if a table differs from its records (tests/test_docs.py)

A table between `<!-- results-table:NAME.json -->` and `<!-- /results-table:NAME.json -->` is the rendering of
docs/results/NAME.json: records of `ethogram summarize` / `sweep` / `reproduce` as report/results.py's results
table, held-out records (scripts/heldout_records.py) as published-versus-held-out pairs. Nothing between the
markers is written by hand.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DOC = ROOT / "docs" / "results.md"
MARK = re.compile(r"(<!-- results-table:(?P<name>[\w.-]+\.json) -->\n)(?P<body>.*?)(<!-- /results-table:(?P=name) -->)",
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


def regenerate(text: str, results_dir: Path) -> str:
    def one(m: re.Match) -> str:
        records = json.loads((results_dir / m["name"]).read_text())
        return m.group(1) + render(m["name"], records) + m.group(4)

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
