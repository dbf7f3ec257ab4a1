"""Datasets: collectors, validated loading, and hindsight goal relabelling inside jit."""
