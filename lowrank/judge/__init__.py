"""Judging results: statistics, the regression gate, the paired A/B verdicts, change points, speedups."""
