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


def reward_table(result: dict) -> str:
    """Returns of the agent, a random policy and the scripted reference on each reward task."""
    rows = ["| reward task | agent | random | reference |", "|---|---|---|---|"]
    for name, r in result["tasks"].items():
        cells = [f"{r[k]['return_mean']:.1f} ± {r[k]['return_std']:.1f}" if k in r else "n/a"
                 for k in ("agent", "random", "reference")]
        rows.append(f"| {name} | " + " | ".join(cells) + " |")
    return "\n".join(rows)


def demo_table(result: dict) -> str:
    """Imitation fidelity of the agent and of a random policy on each demonstration."""
    rows = ["| demonstration | cells in order | mean distance | final distance | random: cells / mean distance |",
            "|---|---|---|---|---|"]
    for name, r in result["tasks"].items():
        rows.append(f"| {name} | {r['cells_in_order']['mean']:.2f} | {r['mean_distance']['mean']:.2f} | "
                    f"{r['final_distance']['mean']:.2f} | {r['random']['cells_in_order']['mean']:.2f} / "
                    f"{r['random']['mean_distance']['mean']:.2f} |")
    return "\n".join(rows)
