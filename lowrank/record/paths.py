"""Where results live by default: every default folder of the suite and the tools, in one place.

Paths are relative to the working directory (a checkout's root when run by its scripts,
any folder for an installed package), so a user's runs and reports land beside where
they work. The committed references (``results/reference/``: the reference runs and
their report; ``results/baselines/``: the CI baseline) are never a default output of
any command: ``results/runs/``, ``results/report/`` and the other output folders are
git-ignored, so a user's run cannot overwrite what the project ships.

It sits in the record because the benchmark suite (which imports only the core and
the record) writes runs where the readers look for them.
"""

from pathlib import Path

RESULTS = Path("results")
RUNS = RESULTS / "runs"  # pytest benchmarks/ --benchmark-only writes one JSON per run here
REPORT = RESULTS / "report"  # lowrank-bench report / compare
HISTORY = RESULTS / "history"  # lowrank-bench history
AB = RESULTS / "ab"  # lowrank-bench ab: one new folder per A/B under it
EXPORT = RESULTS / "export"  # lowrank-bench export
CSV = RESULTS / "results.csv"  # lowrank-bench csv
BASELINES = RESULTS / "baselines"  # lowrank-bench baseline / gate: named baselines
REFERENCE = RESULTS / "reference"  # committed reference runs and their report (no command writes here)
MEASUREMENTS = RESULTS / "measurements"  # what the scripts measured on a real machine (scripts/measure_verdicts.py)
