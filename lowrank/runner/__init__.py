"""Running the benchmark suite: the one launcher of ``pytest benchmarks/`` in subprocesses, and the A/B rounds."""
