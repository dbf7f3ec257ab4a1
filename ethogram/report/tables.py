"""Tables as rows: every table ethogram shows is a `Table` (column names, rows of cells), rendered by one function
per format (`to_markdown`, `to_html`)."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Table:
    columns: tuple[str, ...]
    rows: list[tuple] = field(default_factory=list)
    bold_last: bool = False  # the last row is a summary (a mean)


def to_markdown(table: Table) -> str:
    def row(cells, bold=False):
        cells = [f"**{c}**" if bold else str(c) for c in cells]
        return "| " + " | ".join(cells) + " |"

    out = [row(table.columns), "|" + "---|" * len(table.columns)]
    for i, r in enumerate(table.rows):
        out.append(row(r, table.bold_last and i == len(table.rows) - 1))
    return "\n".join(out)


def to_html(table: Table) -> str:
    """The same rows as an HTML <table> (cells escaped; a summary last row in bold)."""
    from html import escape

    head = "".join(f"<th>{escape(str(c))}</th>" for c in table.columns)
    body = []
    for i, r in enumerate(table.rows):
        cls = ' class="summary"' if table.bold_last and i == len(table.rows) - 1 else ""
        body.append(f"<tr{cls}>" + "".join(f"<td>{escape(str(c))}</td>" for c in r) + "</tr>")
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"


def success_table(result: dict, baseline: dict | None = None, baseline_name: str = "random policy") -> Table:
    """Per-task success (and a baseline column)."""
    columns = ("task", "success") + ((baseline_name,) if baseline else ())
    rows = [(k, f"{v:.2f}") + ((f"{baseline['tasks'][k]:.2f}",) if baseline else ())
            for k, v in result["tasks"].items()]
    rows.append(("mean", f"{result['success']:.2f}") + ((f"{baseline['success']:.2f}",) if baseline else ()))
    return Table(columns, rows, bold_last=True)


def metrics_text(result: dict) -> str:
    """'success 0.92, diversity 0.81, score 0.90': every metric of an evaluation."""
    return ", ".join(f"{k} {v:.2f}" for k, v in result["metrics"].items())


def reward_table(result: dict) -> Table:
    """Returns of the agent, a random policy and the scripted reference on each reward task (a reward file whose
    labels the regression does not fit: 'not scored', evaluate/prompts.py)."""
    rows = [(name, *(("not scored" if not r.get("scored", True) else
                      f"{r[k]['return_mean']:.1f} ± {r[k]['return_std']:.1f}" if k in r else "n/a")
                     for k in ("agent", "random", "reference")))
            for name, r in result["tasks"].items()]
    return Table(("reward task", "agent", "random", "reference"), rows)


def imitation_table(result: dict) -> Table:
    """Imitation fidelity of the agent and of a random policy on each demonstration."""
    rows = [(name, f"{r['cells_in_order']['mean']:.2f}", f"{r['mean_distance']['mean']:.2f}",
             f"{r['final_distance']['mean']:.2f}",
             f"{r['random']['cells_in_order']['mean']:.2f} / {r['random']['mean_distance']['mean']:.2f}")
            for name, r in result["tasks"].items()]
    return Table(("demonstration", "cells in order", "mean distance", "final distance",
                  "random: cells / mean distance"), rows)
