"""The matvec suite's grid and operands (its benchmark: ``benchmarks/bench_matvec.py``)."""
