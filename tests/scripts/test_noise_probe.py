"""The noise probe (scripts/noise_probe.py): what it prints and what it refuses, never how noisy the machine is."""

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "noise_probe.py"


@pytest.mark.parametrize(("flags", "layout"), [([], "B column-major, the library's product"), (["--row-major-b"], "B row-major, @")])
def test_the_probe_prints_both_calls_with_their_blocks_and_the_small_calls_slow_mode_share(flags, layout):
    proc = subprocess.run([sys.executable, str(SCRIPT), "--seconds", "2", *flags], capture_output=True, text=True,
                          timeout=120, check=False)
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert len(lines) == 2
    assert lines[0].startswith("noise probe: 1024x1024 float32 W@x, 1 thread, 1 s of the probe's 2, ")
    assert lines[1].startswith(f"noise probe: 4096x4096 float64 rank-4 B@(A@x) ({layout}), 1 thread, 1 s of the "
                               "probe's 2, ")
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


@pytest.mark.skipif(len(os.sched_getaffinity(0)) < 2, reason="--alternate-cpus needs 2 usable CPUs; this process has 1")
def test_alternating_cpus_adds_a_line_per_cpu_for_the_small_call():
    proc = subprocess.run([sys.executable, str(SCRIPT), "--seconds", "4", "--alternate-cpus"], capture_output=True,
                          text=True, timeout=120, check=False)
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    cpus = sorted(os.sched_getaffinity(0))[:4]  # 4 s of 1 s block pairs visit at most 4 CPUs
    assert len(lines) == 2 + len(cpus)
    for cpu, line in zip(cpus, lines[2:]):
        assert re.fullmatch(rf"noise probe: rank-4 B@\(A@x\) on CPU {cpu}: \d+ blocks, fastest [\d.]+ us, \d+% in the "
                            r"slow mode \(>= 1.5x the fastest block on any CPU\)", line), line


def test_alternating_cpus_on_one_usable_cpu_is_refused_with_exit_2():
    one = min(os.sched_getaffinity(0))
    code = (f"import os, runpy, sys; os.sched_setaffinity(0, {{{one}}}); "
            f"sys.argv = [{str(SCRIPT)!r}, '--alternate-cpus', '--seconds', '1']; "
            f"runpy.run_path({str(SCRIPT)!r}, run_name='__main__')")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=False)
    assert proc.returncode == 2
    assert f"--alternate-cpus: this process may run on 1 CPU ([{one}]); it needs 2 or more" in proc.stderr
    assert "Traceback" not in proc.stderr
