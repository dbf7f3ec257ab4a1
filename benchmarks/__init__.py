"""Speed and faithfulness benchmarks of ethogram; run each from the repository root as a module:

  .venv/bin/python -m benchmarks.bench_foundation --quick
  .venv/bin/python -m benchmarks.bench_agents --quick
  .venv/bin/python -m benchmarks.reference_learning --agent gciql ...

`common` holds what the scripts share (machine description, sized configurations, data, timing);
`ogbench_reference` is the one driver of the public OGBench implementation (benchmarks/README.md).
"""
