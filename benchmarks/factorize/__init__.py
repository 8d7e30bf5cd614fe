"""The factorization suite's grid and operands (its benchmark: ``benchmarks/bench_factorize.py``)."""
