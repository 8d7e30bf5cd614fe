"""The noise probe (scripts/noise_probe.py): what it prints and what it refuses, never how noisy the machine is."""

import re
import subprocess
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "noise_probe.py"


def test_the_probe_prints_both_calls_with_their_blocks_and_the_small_calls_slow_mode_share():
    proc = subprocess.run([sys.executable, str(SCRIPT), "--seconds", "2"], capture_output=True, text=True,
                          timeout=120, check=False)
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert len(lines) == 2
    assert lines[0].startswith("noise probe: 1024x1024 float32 W@x, 1 thread, 1 s of the probe's 2, ")
    assert lines[1].startswith("noise probe: 4096x4096 float64 rank-4 B@(A@x), 1 thread, 1 s of the probe's 2, ")
    for line in lines:
        low, mid, high = (float(v) for v in re.search(r"medians ([\d.]+) / ([\d.]+) / ([\d.]+) us", line).groups())
        assert 0 < low <= mid <= high
    assert re.search(r"; \d+% of blocks in the slow mode \(>= 1.5x the fastest\)$", lines[1])


@pytest.mark.parametrize("seconds", ["0", "-5", "nan", "4000"])
def test_a_duration_outside_1_to_3600_seconds_is_refused_with_exit_2(seconds):
    proc = subprocess.run([sys.executable, str(SCRIPT), "--seconds", seconds], capture_output=True, text=True,
                          timeout=60, check=False)
    assert proc.returncode == 2
    assert f"--seconds {float(seconds)}: accepted 1 to 3600" in proc.stderr
    assert "Traceback" not in proc.stderr
