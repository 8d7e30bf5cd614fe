"""Results tooling: load benchmark JSON, derive tables, plot, report and gate.

Submodules import pandas and matplotlib; this package's ``__init__`` imports
neither, so ``import lowrank.analysis.schema`` stays cheap for the benchmark suite.
"""
