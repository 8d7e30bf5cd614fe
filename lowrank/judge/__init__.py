"""Judging results: the regression gate, the paired A/B verdicts, change points, speedups (statistics: lowrank.record.stats)."""
