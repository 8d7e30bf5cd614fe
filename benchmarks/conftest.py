"""The suite's pytest plugin (``benchmarks/harness/plugin.py``): profile, threads, calibration, result files."""

from benchmarks.harness.plugin import *  # noqa: F403 (pytest finds the plugin's hooks and fixture here)
