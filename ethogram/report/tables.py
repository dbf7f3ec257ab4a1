"""Markdown tables of evaluation results."""

from __future__ import annotations


def success_table(result: dict, baseline: dict | None = None, baseline_name: str = "random policy") -> str:
    """Per-task success (and a baseline column) as a Markdown table."""
    head = "| task | success |" + (f" {baseline_name} |" if baseline else "")
    rows = [head, "|---|---|" + ("---|" if baseline else "")]
    for k, v in result["tasks"].items():
        rows.append(f"| {k} | {v:.2f} |" + (f" {baseline['tasks'][k]:.2f} |" if baseline else ""))
    rows.append(f"| **mean** | **{result['success']:.2f}** |" + (f" {baseline['success']:.2f} |" if baseline else ""))
    return "\n".join(rows)
