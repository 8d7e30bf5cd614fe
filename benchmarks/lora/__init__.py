"""The LoRA suite's grid and operands (its benchmark: ``benchmarks/bench_lora.py``)."""
