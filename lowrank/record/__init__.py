"""What a result is: the schema, the suites' records, the merging of worker passes, the plausibility rule.

The bottom of the tooling: the benchmark suite (the writer) and every reader import
this package, and it imports nothing of the tooling above it, so what is written and
what is read are declared once. Nothing here imports pandas or matplotlib.
"""
