"""lowrank-bench's benchmark suite (pytest-benchmark). Run: pytest benchmarks/ --benchmark-only."""
